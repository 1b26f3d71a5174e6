"""Answer generation: the RAG prompt and one timed, token-counted LLM answer through the LLM
gateway (`dream_assets.lib.llm.gateway`: cache, rate limit, retries, usage)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from llama_index.core.llms import LLM

from dream_assets.lib.llm.failures import NO_RETRY, RetryPolicy
from dream_assets.lib.llm.gateway import CHARS_PER_TOKEN, Generation, LlmUsage, ask

logger = logging.getLogger(__name__)

# Where a base model's answer ends (it would go on writing the next question otherwise).
COMPLETION_STOP = ["\n", "Question:"]
INSTRUCTION = "Read the context and answer the question with a short phrase copied from the context."


def answer_stop(llm_settings) -> list[str] | None:
    """Stop strings of the answering LLM (`resources.llm.LlmSettings`): `COMPLETION_STOP` for a
    base model prompted as a completion, none for a chat model."""
    return COMPLETION_STOP if llm_settings.prompt_style == "completion" else None


def build_prompt(question: str, contexts: list[str], context_window: int = 4096, max_tokens: int = 48) -> str:
    """Returns the RAG prompt: instruction, contexts in rank order, question, `Answer:`.

    Contexts are kept whole in rank order while they fit in `context_window` tokens (estimated at
    `CHARS_PER_TOKEN` characters a token) minus `max_tokens` and 128 tokens for the rest of the
    prompt; the first context is cut if it alone is too long.
    """
    budget = (context_window - max_tokens - 128) * CHARS_PER_TOKEN - len(question)
    kept: list[str] = []
    for context in contexts:
        if len(context) > budget:
            if not kept:
                kept.append(context[: max(budget, 0)])
            break
        kept.append(context)
        budget -= len(context)
    return f"{INSTRUCTION}\n\nContext: {' '.join(kept)}\n\nQuestion: {question}\nAnswer:"


def _usage(raw: Any) -> tuple[int, int]:
    usage = raw.get("usage") if isinstance(raw, dict) else getattr(raw, "usage", None)
    if usage is None:
        return 0, 0
    get = usage.get if isinstance(usage, dict) else lambda name: getattr(usage, name, 0)
    return int(get("prompt_tokens") or 0), int(get("completion_tokens") or 0)


def generate(
    llm: LLM,
    prompt: str,
    prompt_style: str,
    cache=None,
    llm_identity: object = None,
    retry: RetryPolicy = NO_RETRY,
    reserve: Callable[[int], float] | None = None,
    max_tokens: int = 0,
    sleep: Callable[[float], None] = time.sleep,
    usage: LlmUsage | None = None,
) -> Generation:
    """Answers one prompt through the LLM gateway (`dream_assets.lib.llm.gateway.ask`): from
    `cache`, else by calling the LLM, retried under `retry`.

    Args:
        llm: a LlamaIndex LLM (from `resources.llm.make_llm`).
        prompt: the full prompt from `build_prompt`.
        prompt_style: `completion` sends the prompt as is (a base model continues after
            `Answer:`, and only its first line is kept); `chat` lets the LLM wrap it in its
            chat format.
        cache: a mapping-like store (`dream_assets.lib.response_cache.ResponseCache`) of earlier answers, or None.
        llm_identity: JSON-able description of everything that changes the answer (model,
            endpoint, sampling parameters, stop strings); with the prompt and style it keys the
            cache, so a repeated or resumed evaluation asks the LLM nothing it answered before.
        retry: tries and backoff for errors that may pass (`failure_reason`).
        reserve: the LLM's rate limiter (`dream_assets.lib.llm.rate_limit`): called before each try
            with the request's estimated tokens (prompt at `CHARS_PER_TOKEN`, plus
            `max_tokens`), returns the seconds to wait before sending it.
        max_tokens: most completion tokens, for the token estimate.
        sleep: how to wait (`time.sleep`).
        usage: running counts to add this request to (`LlmUsage`), or None.

    Raises:
        GenerationError: with the reason and attempts made, when the last try failed or the
            error is not worth retrying. Failures are not cached.
    """

    def send() -> tuple[str, int, int]:
        completion = llm.complete(prompt, formatted=prompt_style == "completion")
        text = completion.text.strip()  # a response without choices fails here, not later
        if prompt_style == "completion":  # a base model goes on after its answer: keep its first line
            text = text.split("\n", 1)[0].strip()
        return (text, *_usage(completion.raw))

    estimated_tokens = len(prompt) // CHARS_PER_TOKEN + max_tokens
    return ask(send, [llm_identity, prompt_style, prompt], cache, retry, reserve, estimated_tokens, sleep, usage)


def rag_answer(
    llm: LLM,
    llm_settings,
    question: str,
    contexts: list[str],
    cache=None,
    reserve: Callable[[int], float] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Generation:
    """The RAG answer to `question` from its retrieved `contexts` (rank order): the prompt of
    `build_prompt`, answered by `generate` under the retry budget of `llm_settings`
    (`resources.llm.LlmSettings`); the one path both a trial and the served winner answer by, so
    the same question and contexts give the same prompt and the same cache key.

    Raises:
        GenerationError: when the answer failed for good.
    """
    prompt = build_prompt(question, contexts, llm_settings.context_window, llm_settings.max_tokens)
    retry = RetryPolicy(llm_settings.max_attempts, llm_settings.backoff_s, llm_settings.max_backoff_s)
    identity = {**llm_settings.identity(), "stop": answer_stop(llm_settings)}
    return generate(
        llm, prompt, llm_settings.prompt_style, cache, identity, retry, reserve, llm_settings.max_tokens, sleep
    )
