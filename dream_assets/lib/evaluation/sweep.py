"""The sweep driver: a grid of RAG configurations as Ray Tune trials, each evaluating one
configuration on the golden set (`dream_assets.lib.evaluation.trial`).

The trials' settings (which hold credentials) travel through Ray's object store
(`tune.with_parameters`); Tune's search space, which Tune writes to its results directory
(`params.json`, experiment state), holds only each configuration's key and parameters. A trial
writes its per-question table to the object store and reports the aggregate metrics; a trial that
raises is returned with its error and the others go on. A sweep run again (after a crash, a
kill -9, a pod eviction) skips every finished trial and resumes the others from their saved
answers, in a new Tune experiment: Tune's own experiment state is written (its results directory)
but never read back. `Tuner.restore` would unpickle that state from a bucket every pod can write,
and would restore a finished experiment of the same trials whose tables a later run replaced.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ray import tune

from dream_assets.hashing import content_hash
from dream_assets.lib.evaluation.outcomes import TrialOutcome, crash_of, fit_with_rate_limits, is_lost, trial_outcome
from dream_assets.lib.evaluation.trial import run_trial
from dream_assets.lib.evaluation.trial_settings import TrialSettings, finished_metrics
from dream_assets.lib.evaluation.worker_crash import TrialAttempt
from dream_assets.lib.stores.object_store import ObjectStoreClient

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepSettings:
    """How a sweep runs its trials.

    Attributes:
        storage_path: Ray Tune's results directory (local path or URI).
        experiment_name: Tune experiment name prefix (a directory under `storage_path`).
        max_concurrent_trials: trials running at once.
        trial_resources: Ray resources each trial reserves (default one CPU; a custom resource,
            e.g. `{"CPU": 1, "dream_trials": 1}`, keeps trials on the nodes that advertise it).
        on_trial_done: called with (configuration key, trials done, total) as each trial ends.
        scheduler: a Ray Tune trial scheduler (`fidelity.multi_fidelity_scheduler`), with trials
            that have `rungs`; None runs every trial to the end.
        callbacks: more Ray Tune callbacks on the driver (live MLflow runs,
            `dream_assets.defs.evaluation.mlflow_runs`).
        lost_trial_retries: passes that run the lost trials again (0: none).
    """

    storage_path: str
    experiment_name: str
    max_concurrent_trials: int
    trial_resources: dict[str, float] = field(default_factory=lambda: {"CPU": 1.0})
    on_trial_done: Callable[[str, int, int], None] | None = None
    scheduler: Any = None
    callbacks: tuple[tune.Callback, ...] = ()
    lost_trial_retries: int = 2


@dataclass(frozen=True)
class _Experiment:
    """One Tune experiment of a sweep: the trials it runs (`pending`, by key) out of every trial
    of the sweep (`trials`, what the trainable looks its settings up in), where (`path`), and
    the driver's callbacks."""

    sweep: SweepSettings
    trials: dict[str, TrialSettings]
    pending: dict[str, TrialSettings]
    path: str
    callbacks: tuple[tune.Callback, ...]


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
    trial = settings[config["trial"]["config_key"]]
    # where this attempt runs, so that the driver can tell a crash from a lost node (`crash_of`)
    ObjectStoreClient(trial.object_store).write_json(trial.attempt_key, TrialAttempt.here().model_dump())
    run_trial(trial, report=tune.report)


def run_sweep(trials: list[TrialSettings], settings: SweepSettings) -> list[TrialOutcome]:
    """Runs every trial as a Ray Tune trial (grid search over the given configurations), with
    one shared client-side rate limiter per LLM that has limits.

    Trials with `resume` that finished before with the same fingerprint are not run (their
    outcome is `skipped`, with the earlier metrics); a new Tune experiment
    (`<experiment_name>-<hash of the trials' fingerprints>-<UTC time>`) runs the others, which
    resume from the answers they saved (`dream_assets.lib.evaluation.trial`). A trial whose
    worker or node was lost (not one that raised: `is_lost`) runs again, up to
    `lost_trial_retries` times, on the nodes that remain, resuming from the answers it saved;
    one whose worker died of a fatal signal while its node
    stayed alive (`crash_of`) is a crash of the code, recorded with the signal and not run
    again. Ray must already be initialised (`resources.ray_cluster.RayCluster.connect`).

    Returns:
        One outcome per trial, in the order given; failed trials carry their error.
    """
    by_key = {trial.config.key: trial for trial in trials}
    outcomes = {key: TrialOutcome(key, metrics, skipped=True) for key, metrics in _finished(by_key).items()}
    pending = {key: trial for key, trial in by_key.items() if key not in outcomes}
    started = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    name = f"{settings.experiment_name}-{content_hash(sorted(t.fingerprint() for t in trials))}-{started}"
    progress = (_Progress(settings.on_trial_done, len(pending)),) if settings.on_trial_done else ()
    experiment = _Experiment(
        sweep=settings,
        trials=by_key,
        pending=pending,
        path=f"{settings.storage_path.rstrip('/')}/{name}",
        callbacks=(*progress, *settings.callbacks),
    )
    for attempt in range(settings.lost_trial_retries + 1):
        if not experiment.pending:
            break
        ended, lost = _fit(experiment)
        outcomes.update(ended)
        if not lost or attempt == settings.lost_trial_retries:
            break
        logger.warning("trials lost with their worker or node, run again (%d): %s", attempt + 1, sorted(lost))
        experiment = _retry(experiment, lost, attempt + 1)
    return [outcomes.get(key) or TrialOutcome(key, {}, "trial produced no result") for key in by_key]


def _finished(trials: dict[str, TrialSettings]) -> dict[str, dict[str, float]]:
    """The metrics of every trial that resumes and finished before with its fingerprint."""
    finished = {}
    for key, trial in trials.items():
        if trial.resume and (metrics := finished_metrics(ObjectStoreClient(trial.object_store), trial)) is not None:
            finished[key] = metrics
    return finished


def _retry(experiment: _Experiment, lost: list[str], attempt: int) -> _Experiment:
    """A new experiment (`<path>-retry<attempt>`) running the `lost` trials again from the answers
    they saved, without the progress bar's callback."""
    again = {key: experiment.trials[key].model_copy(update={"resume": True}) for key in lost}
    path = f"{experiment.path.split('-retry')[0]}-retry{attempt}"
    trials = {**experiment.trials, **again}
    return replace(experiment, trials=trials, pending=again, path=path, callbacks=experiment.sweep.callbacks)


def _fit(experiment: _Experiment) -> tuple[dict[str, TrialOutcome], list[str]]:
    """Runs one Tune experiment; returns each pending trial's outcome by key and the keys of
    the trials that were lost (a crash of the code is an outcome with its error, not lost)."""
    resources = experiment.sweep.trial_resources
    trainable = tune.with_resources(tune.with_parameters(_trainable, settings=experiment.trials), resources)
    outcomes, lost = {}, []
    tuner = _tuner(trainable, experiment)
    for result in fit_with_rate_limits(tuner, [trial.llm for trial in experiment.trials.values()]):
        key = result.config["trial"]["config_key"] if result.config else "unknown"
        if key not in experiment.pending:
            continue
        outcomes[key] = trial_outcome(key, result)
        if not is_lost(result.error):
            continue
        if crash := crash_of(experiment.pending[key]):  # died of a signal on a live node: not run again
            logger.error("trial %s: %s", key, crash)
            outcomes[key] = TrialOutcome(key, {}, crash)
        else:
            lost.append(key)
    return outcomes, lost


def _tuner(trainable, experiment: _Experiment) -> tune.Tuner:
    """A new Tune experiment at the experiment's path: a grid over the pending trials, one per
    configuration, named by configuration key."""
    storage_path, name = experiment.path.rsplit("/", 1)
    return tune.Tuner(
        trainable,
        param_space={
            "trial": tune.grid_search(
                [{"config_key": key, **trial.config.params()} for key, trial in experiment.pending.items()]
            )
        },
        tune_config=tune.TuneConfig(
            scheduler=experiment.sweep.scheduler,
            max_concurrent_trials=experiment.sweep.max_concurrent_trials,
            trial_name_creator=lambda trial: trial.config["trial"]["config_key"],
            trial_dirname_creator=lambda trial: trial.config["trial"]["config_key"],
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=storage_path,
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
            callbacks=list(experiment.callbacks),
        ),
    )
