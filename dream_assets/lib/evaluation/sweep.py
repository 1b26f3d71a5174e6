"""The sweep drivers: a grid of RAG configurations, or an Optuna search over ranges, as Ray Tune
trials, each evaluating one configuration on the golden set (`dream_assets.lib.evaluation.trial`).

The trials' settings (which hold credentials) travel through Ray's object store
(`tune.with_parameters`); Tune's search space, which Tune writes to its results directory
(`params.json`, experiment state), holds only each configuration's key and parameters. A trial
writes its per-question table to the object store and reports the aggregate metrics; a trial that
raises is returned with its error and the others go on. A sweep run again (after a crash, a
kill -9, a pod eviction) skips every finished trial and resumes the others from their saved
answers; Ray Tune's own `Tuner.restore` picks up the sweep's experiment when its state survived,
so trials it finished are not scheduled again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ray
from ray import tune

from dream_assets.hashing import content_hash
from dream_assets.lib.evaluation.trial import TrialSettings, finished_metrics, run_trial
from dream_assets.lib.evaluation.worker_crash import TrialAttempt, worker_crash
from dream_assets.lib.llm.rate_limit import start_rate_limiters
from dream_assets.plugins.llm_providers import LlmSettings

logger = logging.getLogger(__name__)


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


class _Progress(tune.Callback):
    """Reports each trial that ends (finished or failed) to `report(key, done, total)`."""

    def __init__(self, report: Callable[[str, int, int], None] | None, total: int) -> None:
        self.report, self.total, self.done = report, total, 0

    def __getstate__(self) -> dict:
        # Tune pickles its run config into the experiment state; the reporter (a Dagster log
        # method) stays with the live driver.
        return {**self.__dict__, "report": None}

    def _ended(self, trial) -> None:
        self.done += 1
        if self.report is not None:
            self.report(trial.config["trial"]["config_key"], self.done, self.total)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:  # noqa: D102
        self._ended(trial)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:  # noqa: D102
        self._ended(trial)


def _trainable(config: dict[str, Any], settings: dict[str, TrialSettings]) -> None:
    from dream_assets.lib.stores.object_store import ObjectStoreClient

    trial = settings[config["trial"]["config_key"]]
    # where this attempt runs, so that the driver can tell a crash from a lost node (`_crash`)
    ObjectStoreClient(trial.object_store).write_json(trial.attempt_key, TrialAttempt.here().model_dump())
    run_trial(trial, report=tune.report)


def run_sweep(
    trials: list[TrialSettings],
    storage_path: str,
    experiment_name: str,
    max_concurrent_trials: int,
    trial_resources: dict[str, float] | None = None,
    on_trial_done: Callable[[str, int, int], None] | None = None,
    scheduler=None,
    callbacks: list[tune.Callback] | None = None,
    lost_trial_retries: int = 2,
) -> list[TrialOutcome]:
    """Runs every trial as a Ray Tune trial (grid search over the given configurations), with
    one shared client-side rate limiter per LLM that has limits.

    Trials with `resume` that finished before with the same fingerprint are not run (their
    outcome is `skipped`, with the earlier metrics). When the Tune experiment of this very set
    of trials (`<experiment_name>-<hash of their fingerprints>`) was interrupted and its state
    survived, it is restored (`Tuner.restore`, unfinished and errored trials run again), else a
    new one runs the remaining trials. A trial whose worker or node was lost (not one that
    raised: `is_lost`) runs again, up to `lost_trial_retries` times, on the nodes that remain,
    resuming from the answers it saved; one whose worker died of a fatal signal while its node
    stayed alive (`dream_assets.lib.evaluation.worker_crash`) is a crash of the code, recorded with the
    signal and not run again. Ray must already be initialised (see
    `resources.ray_cluster.RayCluster.connect`).

    Args:
        trials: one per configuration.
        storage_path: Ray Tune's results directory (local path or URI).
        experiment_name: Tune experiment name prefix (a directory under `storage_path`).
        max_concurrent_trials: trials running at once.
        trial_resources: Ray resources each trial reserves (default one CPU; a custom resource,
            e.g. `{"CPU": 1, "dream_trials": 1}`, keeps trials on the nodes that advertise it).
        on_trial_done: called with (configuration key, trials done, total) as each trial ends
            (not for a restored experiment: Tune restores its own callbacks).
        scheduler: a Ray Tune trial scheduler (`multi_fidelity_scheduler`), with trials that
            have `rungs`; None runs every trial to the end.
        callbacks: more Ray Tune callbacks on the driver (live MLflow runs,
            `dream_assets.defs.evaluation.mlflow_runs`); a restored experiment keeps its own.
        lost_trial_retries: passes that run the lost trials again (0: none).

    Returns:
        One outcome per trial, in the order given; failed trials carry their error.
    """
    from dream_assets.lib.stores.object_store import ObjectStoreClient

    if not trials:
        return []
    by_key = {trial.config.key: trial for trial in trials}
    outcomes: dict[str, TrialOutcome] = {}
    for key, trial in by_key.items():
        if trial.resume and (metrics := finished_metrics(ObjectStoreClient(trial.object_store), trial)) is not None:
            outcomes[key] = TrialOutcome(key, metrics, skipped=True)
    pending = {key: trial for key, trial in by_key.items() if key not in outcomes}
    if not pending:
        return [outcomes[key] for key in by_key]
    name = f"{experiment_name}-{content_hash(sorted(trial.fingerprint() for trial in trials))}"
    tune_settings = {
        "scheduler": scheduler,
        "max_concurrent_trials": max_concurrent_trials,
        "resources": trial_resources or {"CPU": 1},
        "callbacks": callbacks or [],
        "llms": [trial.llm for trial in trials],
    }
    progress = [_Progress(on_trial_done, len(pending))] if on_trial_done else []
    path, resume = f"{storage_path.rstrip('/')}/{name}", all(trial.resume for trial in trials)
    settings = dict(by_key)
    for attempt in range(lost_trial_retries + 1):
        lost = _fit(
            settings, pending, f"{path}-retry{attempt}" if attempt else path, resume, progress, tune_settings, outcomes
        )
        if not lost or attempt == lost_trial_retries:
            break
        logger.warning("trials lost with their worker or node, run again (%d): %s", attempt + 1, sorted(lost))
        # from the answers they saved; a new experiment, without the progress bar's callback
        lost = {key: pending[key].model_copy(update={"resume": True}) for key in lost}
        settings.update(lost)
        pending, resume, progress = lost, False, []
    return [outcomes.get(key) or TrialOutcome(key, {}, "trial produced no result") for key in by_key]


def _fit(settings, pending, path, resume, progress, tune_settings, outcomes) -> list[str]:
    """One Tune experiment over the `pending` trials (`settings` holds every trial by key);
    records each outcome in `outcomes` and returns the keys of the trials that were lost."""
    trainable = tune.with_resources(tune.with_parameters(_trainable, settings=settings), tune_settings["resources"])
    callbacks = [*progress, *tune_settings["callbacks"]]
    tuner = _tuner(
        trainable, path, resume, pending, tune_settings["scheduler"], tune_settings["max_concurrent_trials"], callbacks
    )
    lost = []
    for result in fit_with_rate_limits(tuner, tune_settings["llms"]):
        key = result.config["trial"]["config_key"] if result.config else "unknown"
        if key in pending:
            outcomes[key] = trial_outcome(key, result)
            if not is_lost(result.error):
                continue
            if crash := _crash(pending[key]):  # died of a signal on a live node: recorded, not run again
                logger.error("trial %s: %s", key, crash)
                outcomes[key] = TrialOutcome(key, {}, crash)
            else:
                lost.append(key)
    return lost


def _crash(trial: TrialSettings) -> str:
    """Why `trial`'s worker died, when it was a crash of the code (`worker_crash`), else ''."""
    from dream_assets.lib.stores.object_store import ObjectStoreClient

    store = ObjectStoreClient(trial.object_store)
    if not store.exists(trial.attempt_key):  # died before it said where it ran
        return ""
    return worker_crash(TrialAttempt.model_validate(store.read_json(trial.attempt_key)))


def is_lost(error: BaseException | None) -> bool:
    """Whether a Tune trial's error is the loss of the process or node it ran on (Ray's
    `ActorDiedError`, `NodeDiedError`, `OutOfMemoryError`, ...), not an exception the trial
    raised itself (which Ray wraps in a `RayTaskError`): only the first is worth running again."""
    return isinstance(error, ray.exceptions.RayError) and not isinstance(error, ray.exceptions.RayTaskError)


def _tuner(trainable, path: str, resume: bool, pending: dict, scheduler, max_concurrent_trials: int, callbacks):
    """The interrupted Tune experiment at `path`, restored (when every trial resumes and its
    state survived: unfinished and errored trials run again), else a new grid over the
    `pending` trials, one per configuration, named by configuration key."""
    if resume and tune.Tuner.can_restore(path):
        logger.info("restoring the interrupted Tune experiment %s", path)
        return tune.Tuner.restore(path, trainable, resume_unfinished=True, resume_errored=True)
    storage_path, name = path.rsplit("/", 1)
    return tune.Tuner(
        trainable,
        param_space={
            "trial": tune.grid_search([{"config_key": key, **trial.config.params()} for key, trial in pending.items()])
        },
        tune_config=tune.TuneConfig(
            scheduler=scheduler,
            max_concurrent_trials=max_concurrent_trials,
            trial_name_creator=lambda trial: trial.config["trial"]["config_key"],
            trial_dirname_creator=lambda trial: trial.config["trial"]["config_key"],
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=storage_path,
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
            callbacks=callbacks,
        ),
    )


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


def fit_with_rate_limits(tuner: tune.Tuner, llms: list[LlmSettings]):
    """Runs `tuner` with one client-side rate limiter per LLM that has limits, shared by every
    trial (`dream_assets.lib.llm.rate_limit`), and stops the limiters after; returns the results.
    The driver's AWS keys are kept out of the trials' runtime_env (`keep_secrets_on_driver`)."""
    keep_secrets_on_driver()
    limiters = start_rate_limiters({llm.name: (llm.requests_per_minute, llm.tokens_per_minute) for llm in llms})
    try:
        return tuner.fit()
    finally:
        for limiter in limiters:
            ray.kill(limiter)


def trial_outcome(key: str, result, params: dict | None = None) -> TrialOutcome:
    """The outcome of one Tune result: its error, or its numeric metrics."""
    if result.error is not None:
        return TrialOutcome(key, {}, f"{type(result.error).__name__}: {result.error}", params=params or {})
    metrics = {name: float(value) for name, value in result.metrics.items() if is_metric(name, value)}
    return TrialOutcome(key, metrics, params=params or {})


def question_rungs(total: int, min_questions: int, reduction_factor: int) -> list[int]:
    """Successive-halving rungs over `total` questions: min_questions * reduction_factor**i
    below `total`, then `total` (Jamieson and Talwalkar, AISTATS 2016; Li et al., "A System for
    Massively Parallel Hyperparameter Tuning", MLSys 2020, for the asynchronous version).

    Raises:
        ValueError: if min_questions < 1 or reduction_factor < 2.
    """
    if min_questions < 1 or reduction_factor < 2:
        raise ValueError(f"need min_questions >= 1 and reduction_factor >= 2, got {min_questions}, {reduction_factor}")
    rungs, size = [], min_questions
    while size < total:
        rungs.append(size)
        size *= reduction_factor
    return [*rungs, total]


def multi_fidelity_scheduler(metric: str, rungs: list[int], reduction_factor: int):
    """Ray Tune's `ASHAScheduler` over questions answered (`generated_questions`; every
    configuration's retrieval tier covers every question from the first rung): at each rung of `rungs` (from
    `question_rungs`), a trial goes on only if its `metric` (maximised) is in the top
    1/`reduction_factor` of the trials that reached that rung so far; the others stop there,
    with their metrics on the questions they answered. None when `rungs` is empty (every trial
    runs to the end)."""
    from ray.tune.schedulers import ASHAScheduler

    if not rungs:
        return None
    return ASHAScheduler(
        time_attr="generated_questions",
        metric=metric,
        mode="max",
        max_t=rungs[-1],
        grace_period=rungs[0],
        reduction_factor=reduction_factor,
    )


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
