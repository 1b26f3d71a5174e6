"""LLM providers: how DREAM reaches an LLM, one registered class each
(`dream_assets.plugins.registry.LLM_PROVIDERS`; plug-ins subclass `LlmProviderBase` and register under
the entry-point group `dream.llm_providers`).

- `llama_cpp`: a local GGUF file through llama.cpp (the bundled models);
- `openai`: any OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp server, OpenAI).

A provider gives two things: the LlamaIndex LLM a trial answers with (`make_llm`), and a
structured-output client for ragas' judge and generator (`structured_client`), whose output must
fit a JSON schema. Retries, caching, rate limits and cost are the gateway's
(`dream_assets.lib.llm.gateway`), never a provider's: clients are built with no retries.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, cast

from dream_assets.plugins.llm_providers import LlmProviderBase, StructuredClient

if TYPE_CHECKING:
    from dream_assets.plugins.llm_providers import LlmSettings

# A prompt's type, for `LlamaCppStructured`: ragas' instruction opens every prompt.
_PROMPT_TYPE_CHARS = 200
# Each instance holds its own repacked weights (about 1 GB for Qwen 1.5B Q4) and KV cache; ragas'
# metrics use at most 2 prompt types each, judged one metric at a time (3: room for the next one's).
_MAX_PROMPT_TYPES = 3


def _chatml(prompt: str) -> str:
    """ChatML turn (SmolLM2's and Qwen's chat format) for a single user message."""
    return f"<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n"


def gguf_user_turn(model):
    """A function that formats a prompt as one user turn of `model`'s (a `llama_cpp.Llama`) own
    GGUF chat template, with llama.cpp's `Jinja2ChatFormatter` (what `create_chat_completion`
    renders), ready for the assistant's reply."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    formatter = Jinja2ChatFormatter(
        template=model.metadata["tokenizer.chat_template"],
        eos_token=model._model.token_get_text(model.token_eos()),
        bos_token=model._model.token_get_text(model.token_bos()),
    )
    return lambda prompt: formatter(messages=[{"role": "user", "content": prompt}]).prompt


class LlamaCppProvider(LlmProviderBase):
    """A local GGUF file through llama.cpp (`settings.model` is its path), prompts formatted as
    ChatML or, for `chat_template: gguf`, the model's own template."""

    def make_llm(self, settings, stop=None):
        """LlamaIndex's `LlamaCPP` on the file.

        Raises:
            ValueError: if the model path does not exist.
        """
        from llama_index.llms.llama_cpp import LlamaCPP

        if not Path(settings.model).exists():
            raise ValueError(f"GGUF model file {settings.model} does not exist")
        llm = LlamaCPP(
            model_path=settings.model,
            temperature=settings.temperature,
            max_new_tokens=settings.max_tokens,
            context_window=settings.context_window,
            model_kwargs={
                "n_threads": settings.n_threads,
                "n_threads_batch": settings.n_threads,
                "seed": settings.seed,
                "verbose": False,
            },
            generate_kwargs={"stop": stop} if stop else {},
            completion_to_prompt=_chatml,
            verbose=False,
        )
        if settings.chat_template == "gguf":
            llm.completion_to_prompt = gguf_user_turn(llm._model)
        return llm

    def structured_client(self, settings):  # noqa: D102
        return LlamaCppStructured(settings)


class LlamaCppStructured(StructuredClient):
    """llama.cpp completions under a grammar made from the JSON schema (llama.cpp's
    JSON-schema-to-GBNF, `pattern` and `maxLength` included).

    The llama.cpp model is the one kept for the prompt's type (its first `_PROMPT_TYPE_CHARS`
    characters: ragas' instruction), so that each instance's KV cache still holds the
    instruction and examples the next prompt of its type starts with, and llama.cpp evaluates
    only the new tail (measured: 766 of a faithfulness prompt's 1,252 tokens are shared). Each
    instance holds its own KV cache and llama.cpp's CPU-repacked weights, so at most
    `_MAX_PROMPT_TYPES` are kept, the least recently used one closed first. An instruct model
    (`chat_template: gguf`) gets the prompt as its user turn; others as a plain completion."""

    def __init__(self, settings: LlmSettings) -> None:
        self.settings = settings
        self._llamas: dict = {}

    def complete(self, text, schema, temperature, max_tokens, seed):  # noqa: D102
        from llama_cpp import LlamaGrammar

        grammar = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
        llama, formatted = self._llama_for(text)
        raw = llama.create_completion(
            formatted(text), grammar=grammar, temperature=temperature, max_tokens=max_tokens, seed=seed
        )
        completion = cast(dict, raw)  # not streamed: one completion
        return completion["choices"][0]["text"], dict(completion.get("usage", {}))

    def _llama_for(self, text: str):
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
            formatter = gguf_user_turn(llama) if settings.chat_template == "gguf" else (lambda prompt: prompt)
            kept = (llama, formatter)
        self._llamas[key] = kept  # most recently used last
        return kept


def _api_key(settings: LlmSettings) -> str:
    return settings.api_key or os.environ.get(settings.api_key_env, "none")


class OpenAICompatibleProvider(LlmProviderBase):
    """An OpenAI-compatible endpoint (`settings.api_base`, the key from `api_key` or the
    environment variable `api_key_env`)."""

    def make_llm(self, settings, stop=None):
        """LlamaIndex's `OpenAILike` on the endpoint, with no retries of its own."""
        from llama_index.llms.openai_like import OpenAILike

        return OpenAILike(
            model=settings.model,
            api_base=settings.api_base,
            api_key=_api_key(settings),
            is_chat_model=settings.prompt_style == "chat",
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
            context_window=settings.context_window,
            timeout=settings.timeout_s,
            max_retries=0,  # `dream_assets.lib.llm.gateway` retries within `max_attempts`
            additional_kwargs={"seed": settings.seed, **({"stop": stop} if stop else {})},
        )

    def structured_client(self, settings):  # noqa: D102
        return OpenAIStructured(settings)


class OpenAIStructured(StructuredClient):
    """Chat completions with the prompt as a user message and the schema as `response_format`
    (`json_schema`)."""

    def __init__(self, settings: LlmSettings) -> None:
        import openai

        self.settings = settings
        self._client = openai.OpenAI(
            base_url=settings.api_base,
            api_key=_api_key(settings),
            timeout=settings.timeout_s,
            max_retries=0,  # the gateway retries, with backoff
        )

    def complete(self, text, schema, temperature, max_tokens, seed):  # noqa: D102
        response = self._client.chat.completions.create(
            model=self.settings.model,
            messages=[{"role": "user", "content": text}],
            response_format={"type": "json_schema", "json_schema": {"name": "response", "schema": schema}},
            temperature=temperature,
            max_tokens=max_tokens,
            seed=seed,
        )
        usage = response.usage.model_dump() if response.usage else {}
        return response.choices[0].message.content or "", usage
