"""Client-side rate limits for an LLM endpoint: requests and tokens per minute.

The limit is a generic cell rate algorithm (GCRA, the ATM Forum's traffic-shaping rule, as in
`redis-cell` and most API gateways) without a burst allowance: each request moves the earliest
start of the next one on by `60 / requests_per_minute` seconds and by `tokens * 60 /
tokens_per_minute` seconds, so calls are spread evenly over the minute. Providers enforce their
per-minute limits over shorter windows too (OpenAI: "60,000 requests/minute may be enforced as
1,000 requests/second"), so an even spread is what stays under them.

`RateLimiter` is the algorithm; `SharedRateLimiter` wraps one in a Ray actor so that every trial
of a sweep, in any worker, draws from one budget per LLM (`start_rate_limiters` /
`rate_limiter_for`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from dream_assets.lib.shared_actors import CALL_TIMEOUT_S, Holders, join, leave

RATE_LIMIT_NAMESPACE = "dream"


class RateLimiter:
    """Spaces calls to stay under `requests_per_minute` and `tokens_per_minute` (0: no limit).

    Args:
        requests_per_minute: most requests per minute.
        tokens_per_minute: most tokens (prompt + completion, as estimated by the caller) per minute.
        clock: monotonic time in seconds (`time.monotonic`; a test passes its own).

    Raises:
        ValueError: if a limit is negative.
    """

    def __init__(
        self,
        requests_per_minute: float = 0.0,
        tokens_per_minute: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if requests_per_minute < 0 or tokens_per_minute < 0:
            raise ValueError(
                f"rate limits must be >= 0, got requests_per_minute={requests_per_minute},"
                f" tokens_per_minute={tokens_per_minute}"
            )
        self.requests_per_minute, self.tokens_per_minute = requests_per_minute, tokens_per_minute
        self.clock = clock
        self._next_request = self._next_token = -float("inf")

    @property
    def limited(self) -> bool:
        """Whether any limit is set."""
        return self.requests_per_minute > 0 or self.tokens_per_minute > 0

    def reserve(self, tokens: int) -> float:
        """Books one request of `tokens` tokens and returns how many seconds the caller must wait
        before sending it (0 when it may go now)."""
        now = self.clock()
        start = max(now, self._next_request, self._next_token)
        if self.requests_per_minute > 0:
            self._next_request = start + 60.0 / self.requests_per_minute
        if self.tokens_per_minute > 0:
            self._next_token = start + max(tokens, 0) * 60.0 / self.tokens_per_minute
        return start - now


class SharedRateLimiter(Holders):
    """A `RateLimiter` in a Ray actor (0 CPUs): one budget per LLM for every process of every
    sweep on the cluster, held by the sweeps that use it (`Holders`)."""

    def __init__(self, requests_per_minute: float, tokens_per_minute: float) -> None:
        super().__init__()
        self.limiter = RateLimiter(requests_per_minute, tokens_per_minute)
        self.reservations = 0

    def reserve(self, tokens: int) -> float:
        """See `RateLimiter.reserve`; the wait is counted from the actor's clock."""
        self.reservations += 1
        return self.limiter.reserve(tokens)

    def count(self) -> int:
        """Requests booked so far."""
        return self.reservations


def limiter_name(llm_name: str) -> str:
    """Ray actor name of an LLM's shared limiter."""
    return f"llm-rate-limit-{llm_name}"


def start_rate_limiters(limits: dict[str, tuple[float, float]], holder: str) -> list:
    """Joins (or starts) one `SharedRateLimiter` actor per LLM name with (requests, tokens per
    minute) set, as `holder` (`dream_assets.lib.shared_actors.join`): a sweep running beside
    another on the same cluster shares its budget. Ray must be initialised.

    Returns:
        The actor handles joined (LLMs without limits get none); leave them with
        `stop_rate_limiters`.
    """
    import ray

    actor = ray.remote(num_cpus=0)(SharedRateLimiter)
    return [
        join(
            lambda name=name, rpm=rpm, tpm=tpm: actor.options(
                name=limiter_name(name), namespace=RATE_LIMIT_NAMESPACE, get_if_exists=True
            ).remote(rpm, tpm),
            holder,
        )
        for name, (rpm, tpm) in limits.items()
        if rpm > 0 or tpm > 0
    ]


def stop_rate_limiters(limiters: list, holder: str) -> None:
    """Leaves each limiter of `start_rate_limiters` as `holder`; the last holder stops it."""
    import ray

    for limiter in limiters:
        leave(limiter, holder, lambda limiter=limiter: ray.kill(limiter, no_restart=True))


def rate_limiter_for(llm_name: str, requests_per_minute: float, tokens_per_minute: float) -> Callable[[int], float]:
    """Returns `reserve(tokens) -> seconds to wait` for an LLM: its shared actor when one runs on
    the Ray cluster this process is connected to, else a limiter local to this process."""
    try:
        import ray

        if ray.is_initialized():
            actor = ray.get_actor(limiter_name(llm_name), namespace=RATE_LIMIT_NAMESPACE)
            return lambda tokens: float(ray.get(actor.reserve.remote(tokens), timeout=CALL_TIMEOUT_S))  # pyright: ignore[reportArgumentType] - one float
    except ValueError:  # no such actor
        pass
    return RateLimiter(requests_per_minute, tokens_per_minute).reserve
