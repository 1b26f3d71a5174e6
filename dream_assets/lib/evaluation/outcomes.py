"""What a Ray Tune run of DREAM's trials gives back, and how it is run: each trial's outcome
(its metrics or its error), which errors are a lost node and which a crash of the code, and the
driver-side setup every Tune run shares (rate limiters, the driver's AWS keys kept from trials).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ray import tune
from ray.exceptions import RayError, RayTaskError

from dream_assets.lib.evaluation.worker_crash import TrialAttempt, worker_crash
from dream_assets.lib.llm.rate_limit import start_rate_limiters, stop_rate_limiters
from dream_assets.lib.stores.object_store import ObjectStoreClient
from dream_assets.plugins.llm_providers import LlmSettings


@dataclass
class TrialOutcome:
    """What a trial returned: its metrics, or the error that stopped it; `skipped` when it had
    finished with the same fingerprint before and was not run again; `params` of a drawn
    configuration (`RagConfig.params`, range search only)."""

    config_key: str
    metrics: dict[str, float]
    error: str | None = None
    skipped: bool = False
    params: dict[str, str | int] = field(default_factory=dict)


def trial_outcome(key: str, result, params: dict | None = None) -> TrialOutcome:
    """The outcome of one Tune result: its error, or its numeric metrics."""
    if result.error is not None:
        return TrialOutcome(key, {}, f"{type(result.error).__name__}: {result.error}", params=params or {})
    metrics = {name: float(value) for name, value in result.metrics.items() if is_metric(name, value)}
    return TrialOutcome(key, metrics, params=params or {})


_TUNE_BOOKKEEPING = {
    "timestamp",
    "time_this_iter_s",
    "time_total_s",
    "training_iteration",
    "pid",
    "time_since_restore",
    "iterations_since_restore",
}


def is_metric(name: str, value: Any) -> bool:
    """Whether a Tune result entry is one of the trial's metrics (a number, not Tune's own
    bookkeeping such as `time_this_iter_s` or `pid`)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and name not in _TUNE_BOOKKEEPING


def is_lost(error: BaseException | None) -> bool:
    """Whether a Tune trial's error is the loss of the process or node it ran on (Ray's
    `ActorDiedError`, `NodeDiedError`, `OutOfMemoryError`, ...), not an exception the trial
    raised itself (which Ray wraps in a `RayTaskError`): only the first is worth running again,
    unless it was a crash of the code (`crash_of`)."""
    return isinstance(error, RayError) and not isinstance(error, RayTaskError)


def crash_of(trial) -> str:
    """Why the worker of `trial` (`TrialSettings`) died, when it was a crash of the code: the
    attempt it recorded as it started (`attempt_key`) ran on a node that is still alive, and the
    worker's log names a fatal signal (`dream_assets.lib.evaluation.worker_crash`). '' when the
    trial died before recording where it ran, or its loss was not a crash."""
    store = ObjectStoreClient(trial.object_store)
    if not store.exists(trial.attempt_key):
        return ""
    return worker_crash(TrialAttempt.model_validate(store.read_json(trial.attempt_key)))


# Ray Tune copies the driver's AWS keys into every trial's runtime_env
# (`ray.tune.execution.class_cache.ENV_VARS_TO_PROPAGATE`), and Ray writes runtime_envs verbatim
# to each node's runtime_env_agent.log (ray-project/ray#28276). DREAM's trials get their
# object-store credentials through Ray's object store (`TrialSettings`), and a node that needs
# its own S3 access has the keys in its own environment (deploy/), so these stay on the driver.
SECRET_ENV_VARS = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"})


def keep_secrets_on_driver() -> None:
    """Stops Ray Tune from copying the driver's AWS keys into its trials' runtime_env (see
    `SECRET_ENV_VARS`); Tune still sends the rest of its list."""
    from ray.tune.execution import class_cache

    class_cache.ENV_VARS_TO_PROPAGATE = frozenset(class_cache.ENV_VARS_TO_PROPAGATE) - SECRET_ENV_VARS


def fit_with_rate_limits(tuner: tune.Tuner, llms: Iterable[LlmSettings]):
    """Runs `tuner` with one client-side rate limiter per LLM that has limits, shared by every
    trial and with any other sweep on the cluster (`dream_assets.lib.llm.rate_limit`), and
    leaves them after (the last sweep to leave stops them); returns the results.
    The driver's AWS keys are kept out of the trials' runtime_env (`keep_secrets_on_driver`)."""
    keep_secrets_on_driver()
    holder = f"sweep-{uuid.uuid4().hex[:12]}"
    limits = {llm.name: (llm.requests_per_minute, llm.tokens_per_minute) for llm in llms}
    limiters = start_rate_limiters(limits, holder)
    try:
        return tuner.fit()
    finally:
        stop_rate_limiters(limiters, holder)
