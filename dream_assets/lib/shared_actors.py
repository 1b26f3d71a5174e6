"""Named Ray actors that several sweeps share, reference-counted: each sweep joins (`join`) and
leaves (`leave`), and only the last to leave stops them.

Two sweeps on one Ray cluster (two Dagster runs on Kubernetes, a refresh beside a run) find the
same LLM rate limiter and the same retrieval pool by name; stopping them when the first sweep
ends would fail the other's trials. The count lives in the actor (`Holders`); a sweep that joins
an actor whose last holder has just left (it is closing) waits for it to go and starts a new one.
Every call to an actor is bounded (`CALL_TIMEOUT_S`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

# Seconds one call to a shared actor may take (they answer in microseconds; a minute means the
# actor or its node is gone).
CALL_TIMEOUT_S = 60.0


class Holders:
    """The holders of a shared actor (a mixin for its class): `acquire` adds one, `release`
    removes one; once the last one left, the actor is closed and `acquire` refuses."""

    def __init__(self) -> None:
        self._holders: set[str] = set()
        self._closed = False

    def acquire(self, holder: str) -> bool:
        """Adds `holder`; False when the actor is closing (its last holder left)."""
        if self._closed:
            return False
        self._holders.add(holder)
        return True

    def release(self, holder: str) -> int:
        """Removes `holder`; returns the holders left (0: closed, the caller stops the actor)."""
        self._holders.discard(holder)
        if not self._holders:
            self._closed = True
        return len(self._holders)

    def holders(self) -> list[str]:
        """The current holders, sorted."""
        return sorted(self._holders)


def join(get_or_create: Callable[[], Any], holder: str, attempts: int = 100, wait_s: float = 0.1) -> Any:
    """Joins a shared actor as `holder`: `get_or_create()` returns its handle (Ray's
    `get_if_exists=True`); an actor that is closing or dies before it answers is waited out
    (`wait_s` between tries) and created again.

    Raises:
        TimeoutError: when no live actor accepted `holder` in `attempts` tries.
    """
    import ray
    from ray.exceptions import GetTimeoutError, RayActorError

    for _ in range(attempts):
        handle = get_or_create()
        try:
            if ray.get(handle.acquire.remote(holder), timeout=CALL_TIMEOUT_S):
                return handle
        except (RayActorError, GetTimeoutError) as error:
            logger.info("shared actor gone while joining (%s): trying again", error)
        time.sleep(wait_s)
    raise TimeoutError(f"{holder}: no live shared actor accepted it after {attempts} tries")


def leave(handle: Any, holder: str, stop: Callable[[], None]) -> bool:
    """Leaves a shared actor as `holder`; when it was the last holder, calls `stop()` (which
    kills the actor and whatever it guards). Returns whether it did. An actor already gone
    counts as left.
    """
    import ray
    from ray.exceptions import GetTimeoutError, RayActorError

    try:
        remaining = ray.get(handle.release.remote(holder), timeout=CALL_TIMEOUT_S)
    except (RayActorError, GetTimeoutError) as error:
        logger.warning("shared actor gone before %s left it (%s)", holder, error)
        return False
    if remaining:
        return False
    stop()
    return True
