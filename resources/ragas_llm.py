"""ragas' LLM interface over `LlmSettings`, with structured output a small local model can keep.

Kept apart from `resources.llm` so that loading the Dagster definitions does not import ragas.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field

from langchain_core.outputs import Generation, LLMResult
from ragas.llms import BaseRagasLLM

from dream_assets.lib.hashing import content_hash
from resources.llm import LlmSettings

# ragas states the output schema in every structured prompt, on one line, after this phrase
# (`PydanticPrompt._generate_output_signature`, ragas 0.4).
_SCHEMA_IN_PROMPT = re.compile(r"JSON Schema:\n(\{.*\})Do not use single quotes")
# A prompt's type, for `StructuredRagasLLM._llama_for`: ragas' instruction opens every prompt.
_PROMPT_TYPE_CHARS = 200
# Each instance holds its own repacked weights (about 1 GB for Qwen 1.5B Q4) and KV cache; ragas'
# metrics use at most 3 prompt types each (with the fix-format one), judged one metric at a time.
_MAX_PROMPT_TYPES = 3


def bounded_schema(schema: dict, max_chars: int) -> dict:
    """Returns a copy of a JSON schema in which every string without a `maxLength` gets
    `max_chars`, so constrained decoding always closes the JSON within the token budget."""
    if isinstance(schema, list):
        return [bounded_schema(item, max_chars) for item in schema]
    if not isinstance(schema, dict):
        return schema
    copy = {key: bounded_schema(value, max_chars) for key, value in schema.items()}
    if copy.get("type") == "string" and "maxLength" not in copy:
        copy["maxLength"] = max_chars
    if copy.get("type") == "array" and "minItems" not in copy:
        copy["minItems"] = 1
    return copy


@dataclass
class StructuredRagasLLM(BaseRagasLLM):
    """A ragas LLM over `LlmSettings` that answers ragas' structured prompts with valid JSON.

    For a bundled model (llama.cpp) the JSON schema that ragas writes into the prompt is turned
    into a grammar (llama.cpp's JSON-schema-to-GBNF, `pattern` and `maxLength` included), so
    even a 135M-parameter model returns JSON of the right shape; strings without a bound are
    capped at `max_string_chars`. ragas' prompts end in `Output:`, a continuation, so a bundled
    model gets them as a plain completion whatever its chat template (measured: SmolLM2 in its
    chat format copied ragas' in-prompt example far more often). An OpenAI-compatible endpoint
    gets the prompt as a user message (ragas' own fix-the-format retry then applies).

    Sampling: temperature `temperature` (0 is greedy, hence deterministic) with seed `seed`;
    ragas' own temperature choice is overridden so that retries change it on purpose.
    Responses are cached in `response_cache` (a `diskcache.Cache`, safe across processes) under the hash
    of (model identity, prompt, temperature, seed, token and string budgets). ragas' own
    `cacher` is not used: its key leaves out the model and the seed. `calls` counts requests
    that reached the model, `requests` every request, cache hits included.
    """

    settings: LlmSettings | None = None
    temperature: float = 0.0
    seed: int = 0
    max_string_chars: int = 400
    response_cache: object = field(default=None, repr=False)
    calls: int = 0
    requests: int = 0
    _client: object = field(default=None, repr=False)
    _llamas: dict = field(default_factory=dict, repr=False)

    def get_temperature(self, n: int) -> float:  # noqa: D102 - see the class docstring
        return self.temperature

    def is_finished(self, response: LLMResult) -> bool:  # noqa: D102 - output is budget-bounded
        return True

    def generate_text(self, prompt, n=1, temperature=None, stop=None, callbacks=None) -> LLMResult:  # noqa: D102
        return self._cached(prompt.to_string(), stop)

    async def agenerate_text(self, prompt, n=1, temperature=None, stop=None, callbacks=None) -> LLMResult:  # noqa: D102
        return self._cached(prompt.to_string(), stop)

    def _cached(self, text: str, stop: list[str] | None) -> LLMResult:
        self.requests += 1
        settings = self.settings
        identity = settings.model_dump(mode="json", include={"provider", "model", "api_base", "max_tokens"})
        key = content_hash([identity, text, self.temperature, self.seed, self.max_string_chars, stop], length=64)
        if self.response_cache is not None and key in self.response_cache:
            content, usage = self.response_cache[key]
        else:
            content, usage = self._complete(text, stop)
            if self.response_cache is not None:
                self.response_cache[key] = (content, usage)
        return LLMResult(generations=[[Generation(text=content)]], llm_output={"token_usage": usage})

    def _complete(self, text: str, stop: list[str] | None) -> tuple[str, dict]:
        settings = self.settings
        self.calls += 1
        common = {"temperature": self.temperature, "max_tokens": settings.max_tokens, "seed": self.seed}
        if settings.provider == "llama_cpp":
            from llama_cpp import LlamaGrammar

            match = _SCHEMA_IN_PROMPT.search(text)
            if match:
                schema = bounded_schema(json.loads(match.group(1)), self.max_string_chars)
                common["grammar"] = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
            llama, formatted = self._llama_for(text)
            raw = llama.create_completion(formatted(text), stop=stop or [], **common)
            return raw["choices"][0]["text"], dict(raw.get("usage", {}))
        import openai

        if self._client is None:
            self._client = openai.OpenAI(
                base_url=settings.api_base,
                api_key=settings.api_key or os.environ.get(settings.api_key_env, "none"),
                timeout=settings.timeout_s,
                max_retries=0,  # ragas retries with backoff (`RunConfig`)
            )
        response = self._client.chat.completions.create(
            model=settings.model, messages=[{"role": "user", "content": text}], stop=stop, **common
        )
        usage = response.usage.model_dump() if response.usage else {}
        return response.choices[0].message.content or "", usage

    def _llama_for(self, text: str):
        """(model, prompt formatter) kept for `text`'s prompt type: the formatter renders an
        instruct model's GGUF chat template once built (ragas' prompt as the user turn), else
        passes the prompt through. The llama.cpp model is the one kept for the prompt type (its
        first `_PROMPT_TYPE_CHARS` characters: ragas' instruction), so that each instance's KV cache still holds the
        instruction and examples the next prompt of its type starts with, and llama.cpp
        evaluates only the new tail (measured: 766 of a faithfulness prompt's 1,252 tokens are
        shared). Each instance holds its own KV cache and llama.cpp's CPU-repacked weights, so
        at most `_MAX_PROMPT_TYPES` are kept, the least recently used one closed first."""
        from llama_cpp import Llama

        settings = self.settings
        key = text[:_PROMPT_TYPE_CHARS]
        kept = self._llamas.pop(key, None)
        if kept is None:
            if len(self._llamas) >= _MAX_PROMPT_TYPES:
                self._llamas.pop(next(iter(self._llamas)))[0].close()
            llama = Llama(
                settings.model,
                n_ctx=settings.context_window,
                n_threads=settings.n_threads,
                n_threads_batch=settings.n_threads,
                seed=0,
                verbose=False,
            )
            if settings.chat_template == "gguf":  # an instruct model: ragas' prompt as its user turn
                from resources.llm import gguf_user_turn

                kept = (llama, gguf_user_turn(llama))
            else:
                kept = (llama, lambda prompt: prompt)
        self._llamas[key] = kept  # most recently used last
        return kept


def make_ragas_llm(
    settings: LlmSettings,
    cache_dir: str | None = None,
    temperature: float = 0.0,
    seed: int = 0,
    max_retries: int = 2,
    max_wait_s: float = 10.0,
    max_string_chars: int = 400,
) -> StructuredRagasLLM:
    """Builds the ragas LLM for `settings` (inside the process that calls it).

    Args:
        settings: from `LlmProvider.settings_for`.
        cache_dir: directory of the response cache (`diskcache`, shared by processes on one
            filesystem); None disables caching.
        temperature: sampling temperature (0: greedy).
        seed: sampling seed.
        max_retries: retries of a failed request (timeout, HTTP 429, connection error), with
            exponential backoff up to `max_wait_s` seconds (ragas' `RunConfig`).
        max_wait_s: longest wait between two retries, in seconds.
        max_string_chars: longest string a bundled model may write in a JSON field without its
            own `maxLength` (a judge's reasons: fewer characters, fewer tokens to generate).
    """
    import diskcache
    from ragas.run_config import RunConfig

    return StructuredRagasLLM(
        run_config=RunConfig(timeout=int(settings.timeout_s), max_retries=max_retries, max_wait=int(max_wait_s)),
        response_cache=diskcache.Cache(cache_dir, size_limit=2**32) if cache_dir else None,
        settings=settings,
        temperature=temperature,
        seed=seed,
        max_string_chars=max_string_chars,
    )
