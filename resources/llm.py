"""LLMs: the bundled GGUF models through llama.cpp, or any OpenAI-compatible endpoint.

`LlmProvider` is the Dagster resource; it turns an LLM name from the search space into plain
`LlmSettings` (`dream_assets.lib.llm.settings`), which a Ray worker turns into a LlamaIndex LLM with `make_llm`.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from dream_assets.lib.llm.settings import DEFAULT_LLM_TABLE, load_llm_table
from dream_assets.lib.models.bundled import BUNDLED_MODELS, bundled_model_path, model_unavailable
from dream_assets.plugins.llm_providers import LlmSettings


class LlmProvider(dg.ConfigurableResource):
    """Resolves LLM names: a bundled model runs locally with llama.cpp, any other name is
    served by the OpenAI-compatible endpoint `api_base` (vLLM, Ollama, llama.cpp server, OpenAI).
    """

    models_dir: str = Field(description="Where bundled models are assembled and cached.")
    api_base: str | None = Field(default=None, description="OpenAI-compatible base URL.")
    api_key: str | None = Field(default=None, description="Key for api_base (from an EnvVar).")
    max_tokens: int = Field(default=24, description="Longest answer in tokens (a SQuAD answer is a few words).")
    n_threads: int = Field(default=1, description="CPU threads of a local llama.cpp model (per trial).")
    timeout_s: float = Field(default=60.0, description="Seconds an LLM call may take before it is retried.")
    llm_table: str = Field(
        default=str(DEFAULT_LLM_TABLE),
        description="YAML table of per-LLM prices, rate limits and retry budgets ('' for none).",
    )

    def served_by_providers(self) -> set[str]:
        """The LLMs the LLM table gives a `provider` (see `settings_for`)."""
        return load_llm_table(self.llm_table).served_by_providers() if self.llm_table else set()

    def settings_for(self, name: str) -> LlmSettings:
        """Plain settings for the LLM called `name`.

        The provider: the LLM table's `provider` for `name` if it names one (a plug-in's gets the
        name as `model`, and `api_base` and `api_key`), else llama.cpp for a bundled model, else
        the OpenAI-compatible endpoint `api_base`.

        Raises:
            ValueError: if `name` is not bundled, the table names no provider for it and no
                `api_base` is configured, or the LLM table is malformed.
        """
        bundled = BUNDLED_MODELS.get(name)
        table = load_llm_table(self.llm_table).settings_for(name) if self.llm_table else {}
        provider = table.pop("provider", None)
        common = {"name": name, "max_tokens": self.max_tokens, "timeout_s": self.timeout_s, **table}
        if provider is not None:
            return LlmSettings(provider=provider, model=name, api_base=self.api_base, api_key=self.api_key, **common)
        if bundled is not None and bundled.kind == "llm":
            path = bundled_model_path(name, self.models_dir)
            return LlmSettings(
                provider="llama_cpp",
                prompt_style=bundled.prompt_style,  # type: ignore[arg-type]
                chat_template="gguf" if bundled.split is not None else "chatml",
                model=str(path),
                n_threads=self.n_threads,
                **common,
            )
        problem = model_unavailable(name, "llm", self.api_base)
        if problem:
            raise ValueError(f"{problem} (DREAM_LLM_API_BASE)")
        return LlmSettings(
            provider="openai", model=name, api_base=self.api_base, api_key=self.api_key or "none", **common
        )
