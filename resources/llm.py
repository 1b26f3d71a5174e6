"""LLMs: the bundled GGUF models through llama.cpp, or any OpenAI-compatible endpoint.

`LlmProvider` is the Dagster resource; it turns an LLM name from the search space into plain
`LlmSettings`, which a Ray worker turns into a LlamaIndex LLM with `make_llm` (so ragas can wrap
it with `LlamaIndexLLMWrapper`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import dagster as dg
from llama_index.core.llms import LLM
from pydantic import BaseModel, Field

from resources.models import BUNDLED_MODELS, bundled_model_path


class LlmSettings(BaseModel):
    """How a worker reaches one LLM.

    Attributes:
        name: the LLM's name in the search space.
        provider: `llama_cpp` (a local GGUF file) or `openai` (an OpenAI-compatible server).
        prompt_style: `completion` for a base model, `chat` for an instruction-tuned one.
        model: GGUF path for llama_cpp, the served model name for openai.
        api_base: base URL of the OpenAI-compatible server (e.g. http://127.0.0.1:8000/v1).
        api_key: its key; excluded from repr and from serialisation, so it never reaches Ray
            Tune's stored trial configs: a worker that receives settings without it reads
            `api_key_env` from its own environment instead.
        api_key_env: environment variable holding the key in workers.
        temperature: sampling temperature; 0 makes llama.cpp deterministic.
        max_tokens: most tokens generated per answer.
        context_window: tokens of context the model is run with (llama.cpp `n_ctx`).
        n_threads: llama.cpp CPU threads per process, for generation and for prompt processing
            (llama-cpp-python's `n_threads_batch` otherwise defaults to every core, so two
            processes on two cores contend: measured, no speed-up from a second Ray worker).
        timeout_s: seconds before an HTTP call to the server is abandoned.
    """

    name: str
    provider: Literal["llama_cpp", "openai"]
    prompt_style: Literal["completion", "chat"] = "chat"
    model: str
    api_base: str | None = None
    api_key: str | None = Field(default=None, repr=False, exclude=True)
    api_key_env: str = "DREAM_LLM_API_KEY"
    temperature: float = 0.0
    max_tokens: int = 24
    context_window: int = 4096
    n_threads: int = 1
    timeout_s: float = 60.0


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

    def settings_for(self, name: str) -> LlmSettings:
        """Plain settings for the LLM called `name`.

        Raises:
            ValueError: if `name` is not bundled and no `api_base` is configured.
        """
        bundled = BUNDLED_MODELS.get(name)
        common = {"name": name, "max_tokens": self.max_tokens, "timeout_s": self.timeout_s}
        if bundled is not None and bundled.kind == "llm":
            path = bundled_model_path(name, self.models_dir)
            return LlmSettings(
                provider="llama_cpp",
                prompt_style=bundled.prompt_style,  # type: ignore[arg-type]
                model=str(path),
                n_threads=self.n_threads,
                **common,
            )
        if not self.api_base:
            raise ValueError(
                f"LLM {name!r} is not bundled ({[m for m, b in BUNDLED_MODELS.items() if b.kind == 'llm']})"
                " and no OpenAI-compatible endpoint is set (DREAM_LLM_API_BASE)"
            )
        return LlmSettings(
            provider="openai", model=name, api_base=self.api_base, api_key=self.api_key or "none", **common
        )


def _chatml(prompt: str) -> str:
    """ChatML turn (SmolLM2's and Qwen's chat format) for a single user message."""
    return f"<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n"


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
        return LlamaCPP(
            model_path=settings.model,
            temperature=settings.temperature,
            max_new_tokens=settings.max_tokens,
            context_window=settings.context_window,
            model_kwargs={
                "n_threads": settings.n_threads,
                "n_threads_batch": settings.n_threads,
                "seed": 0,
                "verbose": False,
            },
            generate_kwargs={"stop": stop} if stop else {},
            completion_to_prompt=_chatml,
            verbose=False,
        )
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
        max_retries=3,
        additional_kwargs={"stop": stop} if stop else {},
    )
