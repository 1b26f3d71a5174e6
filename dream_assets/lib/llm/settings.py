"""LLMs without Dagster: `LlmSettings` (plain data: how a worker reaches one LLM), the LLM table
(`config/llms.yaml`: prices, rate limits, retry budgets) and `make_llm`, which builds the
LlamaIndex LLM through its provider (`dream_assets.lib.llm.providers`, registered in
`dream_assets.plugins.registry.LLM_PROVIDERS`). `resources.llm.LlmProvider` (the Dagster resource)
resolves names to settings.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from llama_index.core.llms import LLM
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dream_assets.package_data import config_file
from dream_assets.plugins.llm_providers import LLM_PROVIDERS, LlmSettings, ProviderName

DEFAULT_LLM_TABLE = config_file("llms.yaml")


class LlmClientSettings(BaseModel):
    """One entry of the LLM table (`config/llms.yaml`): prices, rate limits, retry budget (see
    `LlmSettings` for each field), and the `provider` that serves the LLM when it is neither
    bundled (llama.cpp) nor the OpenAI-compatible endpoint's (a registered LLM provider's name
    or import path)."""

    model_config = ConfigDict(extra="forbid")

    provider: ProviderName | None = None
    temperature: float | None = Field(default=None, ge=0)
    max_attempts: int | None = Field(default=None, ge=1)
    backoff_s: float | None = Field(default=None, ge=0)
    max_backoff_s: float | None = Field(default=None, ge=0)
    requests_per_minute: float | None = Field(default=None, ge=0)
    tokens_per_minute: float | None = Field(default=None, ge=0)
    input_usd_per_mtok: float | None = Field(default=None, ge=0)
    output_usd_per_mtok: float | None = Field(default=None, ge=0)


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
    """The registered provider (`dream_assets.lib.llm.providers.LlmProviderBase`) of `settings`."""
    return LLM_PROVIDERS.get(settings.provider)()
