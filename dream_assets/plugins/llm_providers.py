"""The contract of an LLM provider (`LlmProviderBase`, with its `StructuredClient`): how DREAM
reaches an LLM. Registered in `dream_assets.plugins.registry.LLM_PROVIDERS` (entry-point group
`dream.llm_providers`); the built-ins (llama.cpp, OpenAI-compatible) are in
`dream_assets.lib.llm.providers`.

A provider gives two things: the LlamaIndex LLM a trial answers with (`make_llm`), and a
structured-output client for ragas' judge and generator (`structured_client`), whose output must
fit a JSON schema. Retries, caching, rate limits and cost are the gateway's
(`dream_assets.lib.llm.gateway`), never a provider's: clients are built with no retries.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import BaseModel, Field

from dream_assets.plugins.registry import Registry, registered, subclass_of

if TYPE_CHECKING:
    from llama_index.core.llms import LLM


class StructuredClient(ABC):
    """Completes prompts with output constrained to a JSON schema."""

    @abstractmethod
    def complete(self, text: str, schema: dict, temperature: float, max_tokens: int, seed: int) -> tuple[str, dict]:
        """(the output text, usage with `prompt_tokens` and `completion_tokens`) for prompt `text`.

        Raises:
            Exception: the client's own errors, which the gateway classifies
                (`dream_assets.lib.llm.gateway.failure_reason`) and retries.
        """


class LlmProviderBase(ABC):
    """One way of reaching LLMs."""

    @abstractmethod
    def make_llm(self, settings: LlmSettings, stop: list[str] | None = None) -> LLM:
        """The LlamaIndex LLM of `settings`, stopping at `stop` (built in the calling process)."""

    @abstractmethod
    def structured_client(self, settings: LlmSettings) -> StructuredClient:
        """A client whose output fits a JSON schema (grammar, `response_format`, ...)."""


BUILTIN_LLM_PROVIDERS = {
    "llama_cpp": "dream_assets.lib.llm.providers:LlamaCppProvider",
    "openai": "dream_assets.lib.llm.providers:OpenAICompatibleProvider",
}
LLM_PROVIDERS = Registry("LLM provider", "dream.llm_providers", BUILTIN_LLM_PROVIDERS, subclass_of(LlmProviderBase))


# the name of a registered LLM provider (an unknown one is a validation error naming the known)
ProviderName = Annotated[str, registered(LLM_PROVIDERS)]


class LlmSettings(BaseModel):
    """How a worker reaches one LLM.

    Attributes:
        name: the LLM's name in the search space.
        provider: a registered LLM provider (`dream_assets.plugins.registry.LLM_PROVIDERS`): `llama_cpp`
            (a local GGUF file), `openai` (an OpenAI-compatible server) or a plug-in's.
        prompt_style: `completion` for a base model, `chat` for an instruction-tuned one.
        chat_template: how a local chat model's prompt is formatted: `chatml` (one ChatML user
            turn) or `gguf` (the GGUF file's own template, rendered by llama.cpp's Jinja
            formatter; for bundled models whose template is pinned, `dream_assets.lib.models.split_gguf`).
        model: GGUF path for llama_cpp, the served model name for openai.
        api_base: base URL of the OpenAI-compatible server (e.g. http://127.0.0.1:8000/v1).
        api_key: its key; excluded from repr and from serialisation, so it never reaches Ray
            Tune's stored trial configs: a worker that receives settings without it reads
            `api_key_env` from its own environment instead.
        api_key_env: environment variable holding the key in workers.
        temperature: sampling temperature; 0 makes llama.cpp deterministic.
        seed: sampling seed (llama.cpp's, and the OpenAI API's `seed`, which servers honour on a
            best-effort basis); a sweep's `repeats` answer each question with seeds seed,
            seed + 1, ... to measure how much a sampling LLM's answers vary.
        max_tokens: most tokens generated per answer.
        context_window: tokens of context the model is run with (llama.cpp `n_ctx`).
        n_threads: llama.cpp CPU threads per process, for generation and for prompt processing
            (llama-cpp-python's `n_threads_batch` otherwise defaults to every core, so two
            processes on two cores contend: measured, no speed-up from a second Ray worker).
        timeout_s: seconds before an HTTP call to the server is abandoned.
        max_attempts: tries per answer when a call fails in a way that may pass (rate limit,
            timeout, lost connection, server error, malformed response); then the question is
            recorded as failed with the reason.
        backoff_s: wait before the second try, doubled for each later one (with full jitter,
            at most `max_backoff_s`); a server's `Retry-After` is honoured when longer.
        max_backoff_s: longest wait between tries.
        requests_per_minute: client-side request rate limit, shared by the sweep's trials
            (`dream_assets.lib.llm.rate_limit`); 0 for none.
        tokens_per_minute: client-side token rate limit (prompt + most completion tokens); 0
            for none.
        input_usd_per_mtok: price of prompt tokens, US dollars per million (0 for local models).
        output_usd_per_mtok: price of completion tokens, US dollars per million.
    """

    name: str
    provider: ProviderName
    prompt_style: Literal["completion", "chat"] = "chat"
    chat_template: Literal["chatml", "gguf"] = "chatml"
    model: str
    api_base: str | None = None
    api_key: str | None = Field(default=None, repr=False, exclude=True)
    api_key_env: str = "DREAM_LLM_API_KEY"
    temperature: float = 0.0
    seed: int = 0
    max_tokens: int = 24
    context_window: int = 4096
    n_threads: int = 1
    timeout_s: float = 60.0
    max_attempts: int = Field(default=4, ge=1)
    backoff_s: float = Field(default=1.0, ge=0)
    max_backoff_s: float = Field(default=30.0, ge=0)
    requests_per_minute: float = Field(default=0.0, ge=0)
    tokens_per_minute: float = Field(default=0.0, ge=0)
    input_usd_per_mtok: float = Field(default=0.0, ge=0)
    output_usd_per_mtok: float = Field(default=0.0, ge=0)

    # What only changes how the client calls, not what the LLM answers.
    CLIENT_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"n_threads", "timeout_s", "api_key_env", "max_attempts", "backoff_s", "max_backoff_s"}
        | {"requests_per_minute", "tokens_per_minute", "input_usd_per_mtok", "output_usd_per_mtok"}
    )

    def identity(self) -> dict:
        """Everything that changes the answers (model, endpoint, sampling), for cache keys."""
        return self.model_dump(mode="json", exclude=set(self.CLIENT_FIELDS))

    def cost_usd(self, prompt_tokens: float, completion_tokens: float) -> float:
        """Price in US dollars of that many tokens, from the price table."""
        return (prompt_tokens * self.input_usd_per_mtok + completion_tokens * self.output_usd_per_mtok) / 1e6
