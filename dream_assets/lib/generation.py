"""Answer generation: the RAG prompt and one timed, token-counted LLM answer, retried within a
budget and spaced by a client-side rate limit."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from llama_index.core.llms import LLM

from dream_assets.lib.hashing import content_hash

logger = logging.getLogger(__name__)

# Where a base model's answer ends (it would go on writing the next question otherwise).
COMPLETION_STOP = ["\n", "Question:"]
INSTRUCTION = "Read the context and answer the question with a short phrase copied from the context."
# About 4 characters per token for English (OpenAI's rule of thumb); the context is cut to fit
# the model's window with room for the instruction, the question and the answer.
CHARS_PER_TOKEN = 4


def answer_stop(llm_settings) -> list[str] | None:
    """Stop strings of the answering LLM (`resources.llm.LlmSettings`): `COMPLETION_STOP` for a
    base model prompted as a completion, none for a chat model."""
    return COMPLETION_STOP if llm_settings.prompt_style == "completion" else None


@dataclass(frozen=True)
class Generation:
    """One LLM answer: text, prompt and completion tokens (0 when the server does not report
    them), wall-clock latency in seconds of the call that produced it, and whether it came from
    the cache (then no call was made now), and the tries it took (0 from the cache)."""

    response: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    cached: bool = False
    attempts: int = 1


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently one answer is retried.

    Attributes:
        max_attempts: tries in all (1: no retry).
        backoff_s: base of the exponential backoff: before try n+1 the client waits a uniform
            random time in [0, min(max_backoff_s, backoff_s * 2**(n-1))] ("full jitter", AWS
            Architecture Blog, "Exponential Backoff and Jitter", 2015), or the server's
            `Retry-After` when that is longer.
        max_backoff_s: cap of one wait.
    """

    max_attempts: int = 1
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0


class GenerationError(Exception):
    """An answer that failed for good: `reason` (see `failure_reason`), `attempts` made, and
    the last error as `__cause__`."""

    def __init__(self, reason: str, attempts: int, error: BaseException) -> None:
        super().__init__(f"{reason} after {attempts} attempt(s): {type(error).__name__}: {error}")
        self.reason, self.attempts = reason, attempts


def failure_reason(error: BaseException) -> tuple[str, bool]:
    """Classifies an LLM client error: (reason, whether another try may succeed).

    Reasons: `rate_limited` (HTTP 429), `timeout`, `connection`, `server_error` (HTTP 5xx),
    `malformed_response` (a body that is not a completion), `client_error` (other HTTP 4xx:
    a bad request or key, not retried), `error` (anything else, not retried).
    """
    import openai

    if isinstance(error, openai.RateLimitError):
        return "rate_limited", True
    if isinstance(error, openai.APITimeoutError | TimeoutError):
        return "timeout", True
    if isinstance(error, openai.APIConnectionError | ConnectionError):
        return "connection", True
    if isinstance(error, openai.InternalServerError):
        return "server_error", True
    # a body that is not JSON, or JSON without the fields a completion has (LlamaIndex's
    # client indexes `choices[0]` and reads its keys)
    if isinstance(error, openai.APIResponseValidationError | json.JSONDecodeError | IndexError | KeyError):
        return "malformed_response", True
    if isinstance(error, openai.APIStatusError):
        return "client_error", False
    return "error", False


def _retry_after_s(error: BaseException) -> float:
    """The server's `Retry-After` header in seconds (0 when absent or not a number)."""
    response = getattr(error, "response", None)
    try:
        return float(response.headers.get("retry-after", 0)) if response is not None else 0.0
    except ValueError:
        return 0.0


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
    retry: RetryPolicy = RetryPolicy(),
    reserve: Callable[[int], float] | None = None,
    max_tokens: int = 0,
    sleep: Callable[[float], None] = time.sleep,
) -> Generation:
    """Answers one prompt: from `cache`, else by calling the LLM, retried under `retry`.

    Args:
        llm: a LlamaIndex LLM (from `resources.llm.make_llm`).
        prompt: the full prompt from `build_prompt`.
        prompt_style: `completion` sends the prompt as is (a base model continues after
            `Answer:`); `chat` lets the LLM wrap it in its chat format.
        cache: a mapping-like store (`diskcache.Cache`) of earlier answers, or None.
        llm_identity: JSON-able description of everything that changes the answer (model,
            endpoint, sampling parameters, stop strings); with the prompt and style it keys the
            cache, so a repeated or resumed evaluation asks the LLM nothing it answered before.
        retry: tries and backoff for errors that may pass (`failure_reason`).
        reserve: the LLM's rate limiter (`dream_assets.lib.rate_limit`): called before each try
            with the request's estimated tokens (prompt at `CHARS_PER_TOKEN`, plus
            `max_tokens`), returns the seconds to wait before sending it.
        max_tokens: most completion tokens, for the token estimate.
        sleep: how to wait (`time.sleep`).

    Raises:
        GenerationError: with the reason and attempts made, when the last try failed or the
            error is not worth retrying. Failures are not cached.
    """
    key = content_hash([llm_identity, prompt_style, prompt], length=64) if cache is not None else None
    if key is not None and key in cache:
        return Generation(**{**cache[key], "cached": True, "attempts": 0})
    estimated_tokens = len(prompt) // CHARS_PER_TOKEN + max_tokens
    for attempt in range(1, retry.max_attempts + 1):
        if reserve is not None and (wait := reserve(estimated_tokens)) > 0:
            sleep(wait)
        start = time.perf_counter()
        try:
            completion = llm.complete(prompt, formatted=prompt_style == "completion")
            text = completion.text  # a response without choices fails here, not later
        except Exception as error:  # noqa: BLE001 - classified, retried or raised with its reason
            reason, retryable = failure_reason(error)
            if not retryable or attempt == retry.max_attempts:
                raise GenerationError(reason, attempt, error) from error
            backoff = random.uniform(0, min(retry.max_backoff_s, retry.backoff_s * 2 ** (attempt - 1)))
            wait = max(backoff, _retry_after_s(error))
            logger.info("LLM call failed (%s, attempt %d), retrying in %.2f s", reason, attempt, wait)
            sleep(wait)
            continue
        latency = time.perf_counter() - start
        break
    prompt_tokens, completion_tokens = _usage(completion.raw)
    text = text.strip()
    if prompt_style == "completion":  # a base model goes on after its answer: keep its first line
        text = text.split("\n", 1)[0].strip()
    generation = Generation(text, prompt_tokens, completion_tokens, latency, attempts=attempt)
    if key is not None:
        cache[key] = {name: value for name, value in asdict(generation).items() if name not in ("cached", "attempts")}
    return generation


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
