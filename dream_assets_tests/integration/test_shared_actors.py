"""Ray actors that two sweeps share on one cluster (the LLM rate limiter, a pool's lease) are
stopped by the last sweep to leave them, not the first (real local Ray)."""

import pytest

from dream_assets.lib.llm.rate_limit import (
    RATE_LIMIT_NAMESPACE,
    limiter_name,
    rate_limiter_for,
    start_rate_limiters,
    stop_rate_limiters,
)
from dream_assets.lib.retrieval.pool import POOL_NAMESPACE, pool_lease
from dream_assets.lib.shared_actors import join, leave

pytestmark = pytest.mark.integration


def _alive(name: str, namespace: str) -> bool:
    import ray

    try:
        ray.get_actor(name, namespace=namespace)
        return True
    except ValueError:
        return False


def _gone(name: str, namespace: str, timeout_s: float = 30) -> bool:
    import time

    deadline = time.monotonic() + timeout_s
    while _alive(name, namespace) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not _alive(name, namespace)


def test_the_last_sweep_to_leave_stops_a_shared_actor(ray_session):
    import ray

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    limits = {"llm-a": (600.0, 0.0)}
    first, second = start_rate_limiters(limits, "sweep-1"), start_rate_limiters(limits, "sweep-2")
    assert ray.get(first[0].holders.remote()) == ["sweep-1", "sweep-2"]  # one actor, two holders
    stop_rate_limiters(first, "sweep-1")
    # the second sweep's trials still draw from the shared budget after the first sweep ended
    reserve = rate_limiter_for("llm-a", 600.0, 0.0)
    assert reserve(10) == 0.0 and 0.0 < reserve(10) <= 0.1 + 1e-6  # 600 rpm: 0.1 s apart
    assert ray.get(second[0].count.remote()) == 2
    stop_rate_limiters(second, "sweep-2")
    assert _gone(limiter_name("llm-a"), RATE_LIMIT_NAMESPACE)

    # a pool's lease: held by two sweeps, the pool is stopped once, by the second to leave
    stopped = []
    lease_1 = join(lambda: pool_lease("pool-x", create=True), "sweep-1")
    lease_2 = join(lambda: pool_lease("pool-x", create=True), "sweep-2")
    assert pool_lease("pool-x", create=False) is not None
    assert not leave(lease_1, "sweep-1", lambda: stopped.append("sweep-1"))
    assert leave(lease_2, "sweep-2", lambda: (stopped.append("sweep-2"), ray.kill(lease_2)))
    assert stopped == ["sweep-2"] and _gone("pool-x-lease", POOL_NAMESPACE)
    # a lease that is closing refuses a new holder; joining waits for it to go, then starts anew
    lease_3 = join(lambda: pool_lease("pool-y", create=True), "sweep-3")
    assert ray.get(lease_3.release.remote("sweep-3")) == 0 and not ray.get(lease_3.acquire.remote("late"))
    ray.kill(lease_3)
    lease_4 = join(lambda: pool_lease("pool-y", create=True), "sweep-4")
    assert ray.get(lease_4.holders.remote()) == ["sweep-4"]
