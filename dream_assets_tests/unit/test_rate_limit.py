import pytest

from dream_assets.lib.llm.rate_limit import RateLimiter


class Clock:
    """A settable clock (pure limiter logic)."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_requests_per_minute_spaces_calls_evenly():
    clock = Clock()
    limiter = RateLimiter(requests_per_minute=120, clock=clock)
    assert [limiter.reserve(0) for _ in range(3)] == [0.0, 0.5, 1.0]
    clock.now += 10  # idle time is not banked into a burst
    assert limiter.reserve(0) == 0.0 and limiter.reserve(0) == 0.5


def test_tokens_per_minute_spaces_by_the_size_of_the_previous_request():
    clock = Clock()
    limiter = RateLimiter(tokens_per_minute=6000, clock=clock)
    assert limiter.reserve(1000) == 0.0
    assert limiter.reserve(10) == pytest.approx(10.0)  # 1000 tokens are 10 s of a 6000/min budget
    assert limiter.reserve(10) == pytest.approx(10.1)


def test_the_stricter_limit_wins_and_no_limit_never_waits():
    clock = Clock()
    both = RateLimiter(requests_per_minute=60, tokens_per_minute=60_000, clock=clock)
    both.reserve(100)  # the token limit alone would allow the next call in 0.1 s
    assert both.reserve(100) == pytest.approx(1.0)
    free = RateLimiter(clock=clock)
    assert not free.limited and [free.reserve(10**6) for _ in range(3)] == [0.0, 0.0, 0.0]


def test_negative_limits_are_refused_naming_them():
    with pytest.raises(ValueError, match="requests_per_minute=-1"):
        RateLimiter(requests_per_minute=-1)
