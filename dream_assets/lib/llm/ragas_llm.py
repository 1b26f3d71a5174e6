"""ragas' structured-output LLM interface over `LlmSettings` and the LLM gateway, with output a
small local model can keep.

Kept apart from `resources.llm` so that loading the Dagster definitions does not import ragas.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel
from ragas.llms.base import InstructorBaseRagasLLM

from dream_assets.lib.llm.gateway import CHARS_PER_TOKEN, LlmGateway
from dream_assets.lib.llm.settings import provider_of
from dream_assets.plugins.llm_providers import LlmSettings

ResponseT = TypeVar("ResponseT", bound=BaseModel)


def bounded_schema(schema: Any, max_chars: int) -> Any:
    """Returns a copy of a JSON schema in which every string without a `maxLength` gets
    `max_chars`, so constrained decoding always closes the JSON within the token budget; every
    array at least one item; and every integer without an `enum` or bounds is 0 or 1: the
    integers of ragas' judge response models are all binary verdicts (faithfulness' and context
    precision's `verdict`, context recall's `attributed`, answer relevancy's `noncommittal`),
    and a small model left free writes -1 (seen: context recall -1.0 on the demo)."""
    if isinstance(schema, list):
        return [bounded_schema(item, max_chars) for item in schema]
    if not isinstance(schema, dict):
        return schema
    copy = {key: bounded_schema(value, max_chars) for key, value in schema.items()}
    if copy.get("type") == "string" and "maxLength" not in copy:
        copy["maxLength"] = max_chars
    if copy.get("type") == "array" and "minItems" not in copy:
        copy["minItems"] = 1
    if copy.get("type") == "integer" and not {"enum", "minimum", "maximum"} & set(copy):
        copy["enum"] = [0, 1]
    return copy


class GatewayRagasLLM(InstructorBaseRagasLLM):
    """ragas' structured-output LLM interface (`InstructorBaseRagasLLM`: each request comes
    with the pydantic model its answer must fit) over `LlmSettings`, through the LLM gateway
    (`dream_assets.lib.llm.gateway`): response cache, rate limit, retries, token and cost
    accounting, as for a trial's answers. ragas 0.4's metric collections and its test-set
    prompts (`PydanticPrompt`) both call it this way.

    The response model's JSON schema (strings without a bound capped at `max_string_chars`,
    arrays non-empty: `bounded_schema`) constrains the output: for a bundled model (llama.cpp)
    it becomes a grammar (llama.cpp's JSON-schema-to-GBNF, `pattern` and `maxLength`
    included), so even a 135M-parameter model returns JSON of the right shape; an
    OpenAI-compatible endpoint gets it as `response_format` (`json_schema`) with the prompt as
    a user message. Output that does not validate is a `malformed_response`, retried within
    the LLM's budget and never cached. ragas' prompts end in `Output:`, a continuation, so a
    bundled model gets them as a plain completion unless its chat template is `gguf`
    (measured: SmolLM2 in its chat format copied ragas' in-prompt example far more often).

    Sampling: temperature `temperature` (0 is greedy, hence deterministic) with seed `seed`;
    both are part of the cache key with the model's identity, the prompt, the schema and the
    budgets. `calls` counts requests that reached the model, `requests` every request, cache
    hits included; `gateway.usage` has the tokens and cost.

    Args:
        settings: the LLM's settings (`LlmProvider.settings_for`).
        gateway: its gateway (`LlmGateway.for_settings`).
        temperature: sampling temperature.
        seed: sampling seed.
        max_string_chars: longest string a bundled model may write in a JSON field without its
            own `maxLength` (a judge's reasons: fewer characters, fewer tokens to generate).
    """

    is_async = True  # `PydanticPrompt` awaits `agenerate`

    def __init__(
        self,
        settings: LlmSettings,
        gateway: LlmGateway,
        temperature: float = 0.0,
        seed: int = 0,
        max_string_chars: int = 400,
    ) -> None:
        self.settings, self.gateway = settings, gateway
        self.temperature, self.seed, self.max_string_chars = temperature, seed, max_string_chars
        self._client = None  # the provider's `StructuredClient`

    @property
    def calls(self) -> int:
        """Requests that reached the model (retries included)."""
        return self.gateway.usage.calls

    @property
    def requests(self) -> int:
        """Every request, cache hits included."""
        return self.gateway.usage.requests

    def generate(self, prompt: str, response_model: type[ResponseT]) -> ResponseT:
        """The `response_model` instance the LLM answers `prompt` with.

        Raises:
            GenerationError: when the request failed for good (see `llm_gateway.ask`).
        """
        schema = bounded_schema(response_model.model_json_schema(), self.max_string_chars)
        request = ["structured", prompt, schema, self.temperature, self.seed, self.max_string_chars]
        estimated_tokens = len(prompt) // CHARS_PER_TOKEN + self.settings.max_tokens

        def send() -> tuple[str, int, int]:
            text, usage = self._complete(prompt, schema)
            response_model.model_validate_json(text)  # the wrong shape is retried, never cached
            return text, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)

        generation = self.gateway.ask(request, send, estimated_tokens)
        return response_model.model_validate_json(generation.response)

    async def agenerate(self, prompt: str, response_model: type[ResponseT]) -> ResponseT:
        """`generate`, awaited by ragas (a local model serves one request at a time)."""
        return self.generate(prompt, response_model)

    def _complete(self, text: str, schema: dict) -> tuple[str, dict]:
        if self._client is None:  # built on first use, in the process that calls it
            self._client = provider_of(self.settings).structured_client(self.settings)
        return self._client.complete(text, schema, self.temperature, self.settings.max_tokens, self.seed)


def make_ragas_llm(
    settings: LlmSettings,
    cache_dir: str | None = None,
    temperature: float = 0.0,
    seed: int = 0,
    max_string_chars: int = 400,
    reserve=None,
) -> GatewayRagasLLM:
    """Builds the ragas LLM for `settings` (inside the process that calls it), with its gateway.

    Args:
        settings: from `LlmProvider.settings_for`; its `max_attempts`, `backoff_s` and
            `max_backoff_s` are the retry budget, its rate limits and prices those of
            `config/llms.yaml`.
        cache_dir: directory of the response cache (`ResponseCache`, shared by the processes of
            one node, on its own disk: `dream_assets.lib.node_local`); None disables caching.
        temperature: sampling temperature (0: greedy).
        seed: sampling seed.
        max_string_chars: see `GatewayRagasLLM`.
        reserve: rate limiter (`reserve(tokens) -> seconds to wait`); by default the LLM's own
            (`dream_assets.lib.llm.rate_limit.rate_limiter_for`).
    """
    from dream_assets.lib.node_local import node_local
    from dream_assets.lib.response_cache import ResponseCache

    cache = ResponseCache(node_local(cache_dir)) if cache_dir else None
    gateway = LlmGateway.for_settings(settings, cache, reserve)
    return GatewayRagasLLM(settings, gateway, temperature, seed, max_string_chars)
