"""LLMs without Dagster: `LlmSettings` (plain data: how a worker reaches one LLM), the LLM table
(`config/llms.yaml`: prices, rate limits, retry budgets) and `make_llm`, which builds the
LlamaIndex LLM through its provider (`clients.llm_providers`, registered in
`dream_assets.registry.LLM_PROVIDERS`). `resources.llm.LlmProvider` (the Dagster resource)
resolves names to settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

import yaml
from llama_index.core.llms import LLM
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dream_assets.registry import LLM_PROVIDERS, registered

# the name of a registered LLM provider (an unknown one is a validation error naming the known)
ProviderName = registered(LLM_PROVIDERS)

DEFAULT_LLM_TABLE = Path(__file__).resolve().parent.parent / "config" / "llms.yaml"


class LlmSettings(BaseModel):
    """How a worker reaches one LLM.

    Attributes:
        name: the LLM's name in the search space.
        provider: a registered LLM provider (`dream_assets.registry.LLM_PROVIDERS`): `llama_cpp`
            (a local GGUF file), `openai` (an OpenAI-compatible server) or a plug-in's.
        prompt_style: `completion` for a base model, `chat` for an instruction-tuned one.
        chat_template: how a local chat model's prompt is formatted: `chatml` (one ChatML user
            turn) or `gguf` (the GGUF file's own template, rendered by llama.cpp's Jinja
            formatter; for bundled models whose template is pinned, `resources.split_gguf`).
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
            (`dream_assets.lib.rate_limit`); 0 for none.
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
    max_attempts: int = Field(4, ge=1)
    backoff_s: float = Field(1.0, ge=0)
    max_backoff_s: float = Field(30.0, ge=0)
    requests_per_minute: float = Field(0.0, ge=0)
    tokens_per_minute: float = Field(0.0, ge=0)
    input_usd_per_mtok: float = Field(0.0, ge=0)
    output_usd_per_mtok: float = Field(0.0, ge=0)

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


class LlmClientSettings(BaseModel):
    """One entry of the LLM table (`config/llms.yaml`): prices, rate limits, retry budget (see
    `LlmSettings` for each field), and the `provider` that serves the LLM when it is neither
    bundled (llama.cpp) nor the OpenAI-compatible endpoint's (a registered LLM provider's name
    or import path)."""

    model_config = ConfigDict(extra="forbid")

    provider: ProviderName | None = None
    temperature: float | None = Field(None, ge=0)
    max_attempts: int | None = Field(None, ge=1)
    backoff_s: float | None = Field(None, ge=0)
    max_backoff_s: float | None = Field(None, ge=0)
    requests_per_minute: float | None = Field(None, ge=0)
    tokens_per_minute: float | None = Field(None, ge=0)
    input_usd_per_mtok: float | None = Field(None, ge=0)
    output_usd_per_mtok: float | None = Field(None, ge=0)


class LlmTable(BaseModel):
    """The LLM table: `default` settings, and per-LLM `models` entries that override them."""

    model_config = ConfigDict(extra="forbid")

    default: LlmClientSettings = LlmClientSettings()
    models: dict[str, LlmClientSettings] = {}

    def served_by_providers(self) -> set[str]:
        """The LLMs whose entry names a `provider` (served by it, not bundled or the endpoint)."""
        return {name for name, entry in self.models.items() if entry.provider}

    def settings_for(self, name: str) -> dict:
        """The fields set for LLM `name` (its entry over the defaults)."""
        entry = self.models.get(name, LlmClientSettings())
        return {**self.default.model_dump(exclude_none=True), **entry.model_dump(exclude_none=True)}


def load_llm_table(path: str | Path) -> LlmTable:
    """Reads the LLM table YAML at `path`.

    Raises:
        FileNotFoundError: if it does not exist.
        ValueError: naming the file and the offending field if it does not fit `LlmTable`.
    """
    with open(path, encoding="utf-8") as file:
        data = yaml.safe_load(file) or {}
    try:
        return LlmTable.model_validate(data)
    except ValidationError as error:
        raise ValueError(f"LLM table {path}: {error}") from error


def make_llm(settings: LlmSettings, stop: list[str] | None = None) -> LLM:
    """Builds the LlamaIndex LLM for `settings` (inside the process that will call it), through
    its provider (`LlmProviderBase.make_llm`).

    Args:
        settings: from `LlmProvider.settings_for`.
        stop: strings that end generation (the RAG answerer stops a base model at a newline;
            the ragas judge needs none).

    Raises:
        ValueError: if a llama_cpp model path does not exist.
    """
    return provider_of(settings).make_llm(settings, stop)


def provider_of(settings: LlmSettings):
    """The registered provider (`clients.llm_providers.LlmProviderBase`) of `settings`."""
    return LLM_PROVIDERS.get(settings.provider)()
