"""LLMs: the bundled GGUF models through llama.cpp, or any OpenAI-compatible endpoint.

`LlmProvider` is the Dagster resource; it turns an LLM name from the search space into plain
`LlmSettings`, which a Ray worker turns into a LlamaIndex LLM with `make_llm` (so ragas can wrap
it with `LlamaIndexLLMWrapper`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar, Literal

import dagster as dg
import yaml
from llama_index.core.llms import LLM
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from resources.models import BUNDLED_MODELS, bundled_model_path, model_unavailable

DEFAULT_LLM_TABLE = Path(__file__).resolve().parent.parent / "config" / "llms.yaml"


class LlmSettings(BaseModel):
    """How a worker reaches one LLM.

    Attributes:
        name: the LLM's name in the search space.
        provider: `llama_cpp` (a local GGUF file) or `openai` (an OpenAI-compatible server).
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
    provider: Literal["llama_cpp", "openai"]
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
    `LlmSettings` for each field)."""

    model_config = ConfigDict(extra="forbid")

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


class LlmProvider(dg.ConfigurableResource):
    """Resolves LLM names: a bundled model runs locally with llama.cpp, any other name is
    served by the OpenAI-compatible endpoint `api_base` (vLLM, Ollama, llama.cpp server, OpenAI).
    """

    models_dir: str = Field(description="Where bundled models are assembled and cached.")
    api_base: str | None = Field(default=None, description="OpenAI-compatible base URL.")
    api_key: str | None = Field(default=None, description="Key for api_base (from an EnvVar).")
    max_tokens: int = 24
    n_threads: int = 1
    timeout_s: float = 60.0
    llm_table: str = Field(
        default=str(DEFAULT_LLM_TABLE),
        description="YAML table of per-LLM prices, rate limits and retry budgets ('' for none).",
    )

    def settings_for(self, name: str) -> LlmSettings:
        """Plain settings for the LLM called `name`.

        Raises:
            ValueError: if `name` is not bundled and no `api_base` is configured, or the LLM
                table is malformed.
        """
        bundled = BUNDLED_MODELS.get(name)
        table = load_llm_table(self.llm_table).settings_for(name) if self.llm_table else {}
        common = {"name": name, "max_tokens": self.max_tokens, "timeout_s": self.timeout_s, **table}
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


def _gguf_chat(llm) -> None:
    """Formats `llm`'s (a LlamaIndex `LlamaCPP`) prompts with `gguf_user_turn`."""
    llm.completion_to_prompt = gguf_user_turn(llm._model)


def make_llm(settings: LlmSettings, stop: list[str] | None = None) -> LLM:
    """Builds the LlamaIndex LLM for `settings` (inside the process that will call it).

    Args:
        settings: from `LlmProvider.settings_for`.
        stop: strings that end generation (the RAG answerer stops a base model at a newline;
            the ragas judge needs none).

    Raises:
        ValueError: if a llama_cpp model path does not exist.
    """
    if settings.provider == "llama_cpp":
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
            _gguf_chat(llm)
        return llm
    from llama_index.llms.openai_like import OpenAILike

    return OpenAILike(
        model=settings.model,
        api_base=settings.api_base,
        api_key=settings.api_key or os.environ.get(settings.api_key_env, "none"),
        is_chat_model=settings.prompt_style == "chat",
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        context_window=settings.context_window,
        timeout=settings.timeout_s,
        max_retries=0,  # `dream_assets.lib.generation.generate` retries within `max_attempts`
        additional_kwargs={"seed": settings.seed, **({"stop": stop} if stop else {})},
    )
