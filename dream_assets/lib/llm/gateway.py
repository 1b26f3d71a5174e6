"""The one path of every LLM request DREAM makes (a trial's answers, the judge's verdicts, the
synthetic generator's questions): answer cache, client-side rate limit, retries with backoff,
and token and cost accounting, per LLM from `config/llms.yaml`.

`ask` is the path; `LlmGateway` holds one LLM's cache, limiter, retry budget, prices and running
`LlmUsage`, so that whoever calls it (the answering tier, `dream_assets.lib.llm.ragas_llm.GatewayRagasLLM`
for ragas) gets the same controls.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from dream_assets.hashing import content_hash
from dream_assets.lib.llm.failures import NO_RETRY, GenerationError, RetryPolicy, failure_reason, retry_after_s

logger = logging.getLogger(__name__)

# About 4 characters per token for English (OpenAI's rule of thumb), for the rate limiter's
# token estimate before a request is sent.
CHARS_PER_TOKEN = 4


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


@dataclass
class LlmUsage:
    """Running counts of one LLM's requests.

    Attributes:
        requests: every request, cache hits included.
        calls: tries that reached the LLM (retries included).
        cache_hits: requests answered from the cache.
        reserved: tries booked with the rate limiter (one per call).
        prompt_tokens: prompt tokens of every answered request, cache hits included (what the
            work costs, whether or not it was paid again now).
        completion_tokens: completion tokens, likewise.
        cost_usd: those tokens at the LLM's prices, US dollars.
    """

    requests: int = 0
    calls: int = 0
    cache_hits: int = 0
    reserved: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def since(self, earlier: LlmUsage) -> LlmUsage:
        """The counts added after `earlier` (a copy taken with `dataclasses.replace`)."""
        return LlmUsage(**{f.name: getattr(self, f.name) - getattr(earlier, f.name) for f in fields(self)})


# What the cache keeps of a `Generation`.
CACHED_FIELDS = ("response", "prompt_tokens", "completion_tokens", "latency_s")


def _cached(cache, key: str | None) -> dict | None:
    """The cached fields at `key` (`CACHED_FIELDS`), or None: no cache, no entry, or a read that
    failed or gave something else (a damaged cache is a miss, logged, and the LLM is asked)."""
    if cache is None or key is None:
        return None
    try:
        hit = cache.get(key)
    except Exception as error:  # noqa: BLE001 - any cache failure is a miss
        logger.warning("LLM cache read failed, asking the LLM: %s", error)
        return None
    if hit is None:
        return None
    if not isinstance(hit, dict) or not all(name in hit for name in CACHED_FIELDS):
        logger.warning("LLM cache entry %s is not a cached answer, asking the LLM", key[:16])
        return None
    return {name: hit[name] for name in CACHED_FIELDS}


def ask(
    send: Callable[[], tuple[str, int, int]],
    request: Any = None,
    cache=None,
    retry: RetryPolicy = NO_RETRY,
    reserve: Callable[[int], float] | None = None,
    estimated_tokens: int = 0,
    sleep: Callable[[float], None] = time.sleep,
    usage: LlmUsage | None = None,
    price: Callable[[int, int], float] | None = None,
) -> Generation:
    """Answers one request: from `cache`, else by `send`, retried under `retry`.

    Args:
        send: makes the request once and returns (text, prompt tokens, completion tokens); it
            raises on failure (classified by `failure_reason`). Structured output should be
            validated inside it, so that output of the wrong shape is retried, never cached.
        request: JSON-able description of everything that changes the answer (model, endpoint,
            sampling, prompt, response schema); its hash keys the cache.
        cache: a mapping-like store (`dream_assets.lib.response_cache.ResponseCache`, safe across processes) or None.
        retry: tries and backoff for errors that may pass.
        reserve: the LLM's rate limiter (`dream_assets.lib.llm.rate_limit`): called before each try
            with `estimated_tokens`, returns the seconds to wait before sending.
        estimated_tokens: the request's tokens as estimated before sending (prompt at
            `CHARS_PER_TOKEN` characters a token plus the most completion tokens).
        sleep: how to wait (`time.sleep`).
        usage: counts to add this request to, or None.
        price: (prompt tokens, completion tokens) -> US dollars, for `usage.cost_usd`.

    Raises:
        GenerationError: with the reason and attempts made, when the last try failed or the
            error is not worth retrying. Failures are not cached.
    """
    usage = usage if usage is not None else LlmUsage()
    usage.requests += 1
    key = content_hash(request, length=64) if cache is not None else None
    if (hit := _cached(cache, key)) is not None:
        generation = Generation(**{**hit, "cached": True, "attempts": 0})
        usage.cache_hits += 1
    else:
        generation = _send(send, retry, reserve, estimated_tokens, sleep, usage)
        if cache is not None and key is not None:
            kept = asdict(generation)
            try:
                cache[key] = {name: kept[name] for name in CACHED_FIELDS}
            except Exception as error:  # noqa: BLE001 - a cache that cannot store loses the entry, not the answer
                logger.warning("LLM cache write failed, the answer is kept uncached: %s", error)
    usage.prompt_tokens += generation.prompt_tokens
    usage.completion_tokens += generation.completion_tokens
    if price is not None:
        usage.cost_usd += price(generation.prompt_tokens, generation.completion_tokens)
    return generation


def _send(send, retry: RetryPolicy, reserve, estimated_tokens: int, sleep, usage: LlmUsage) -> Generation:
    """Tries `send` until it succeeds or the retry budget is spent (see `ask`)."""
    for attempt in range(1, retry.max_attempts + 1):
        if reserve is not None:
            usage.reserved += 1
            if (wait := reserve(estimated_tokens)) > 0:
                sleep(wait)
        usage.calls += 1
        start = time.perf_counter()
        try:
            text, prompt_tokens, completion_tokens = send()
        except Exception as error:  # noqa: BLE001 - classified, retried or raised with its reason
            reason, retryable = failure_reason(error)
            if not retryable or attempt == retry.max_attempts:
                raise GenerationError(reason, attempt, error) from error
            backoff = random.uniform(0, min(retry.max_backoff_s, retry.backoff_s * 2 ** (attempt - 1)))
            wait = max(backoff, retry_after_s(error))
            logger.info("LLM call failed (%s, attempt %d), retrying in %.2f s", reason, attempt, wait)
            sleep(wait)
            continue
        return Generation(text, prompt_tokens, completion_tokens, time.perf_counter() - start, attempts=attempt)
    raise AssertionError("unreachable: max_attempts >= 1")


@dataclass
class LlmGateway:
    """One LLM's controls, shared by every request made through it (`ask` with its settings).

    Attributes:
        identity: JSON-able description of what changes the LLM's answers (for
            `resources.llm.LlmSettings`, its `identity()`), the first part of every cache key.
        cache: response cache (`dream_assets.lib.response_cache.ResponseCache`) or None.
        retry: the retry budget (from the LLM's `max_attempts`, `backoff_s`, `max_backoff_s`).
        reserve: the rate limiter (`dream_assets.lib.llm.rate_limit.rate_limiter_for`), or None.
        price: (prompt tokens, completion tokens) -> US dollars (`LlmSettings.cost_usd`).
        sleep: how to wait (`time.sleep`).
        usage: running counts of the requests made through this gateway.
    """

    identity: Any = None
    cache: Any = field(default=None, repr=False)
    retry: RetryPolicy = NO_RETRY
    reserve: Callable[[int], float] | None = field(default=None, repr=False)
    price: Callable[[int, int], float] | None = field(default=None, repr=False)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    usage: LlmUsage = field(default_factory=LlmUsage)

    @classmethod
    def for_settings(cls, settings, cache=None, reserve: Callable[[int], float] | None = None) -> LlmGateway:
        """The gateway of an LLM's `resources.llm.LlmSettings`: its identity, retry budget and
        prices, and `reserve`, by default its rate limiter (`rate_limiter_for`: the sweep's
        shared one when this process is connected to its Ray cluster, else a local one)."""
        from dream_assets.lib.llm.rate_limit import rate_limiter_for

        if reserve is None:
            reserve = rate_limiter_for(settings.name, settings.requests_per_minute, settings.tokens_per_minute)
        retry = RetryPolicy(settings.max_attempts, settings.backoff_s, settings.max_backoff_s)
        return cls(settings.identity(), cache, retry, reserve, settings.cost_usd)

    def ask(self, request: Any, send: Callable[[], tuple[str, int, int]], estimated_tokens: int = 0) -> Generation:
        """`ask` under this gateway's controls, keyed by (identity, `request`).

        Raises:
            GenerationError: as `ask`.
        """
        return ask(
            send,
            [self.identity, request],
            self.cache,
            self.retry,
            self.reserve,
            estimated_tokens,
            self.sleep,
            self.usage,
            self.price,
        )
