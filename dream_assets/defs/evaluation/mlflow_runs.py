"""The sweep's MLflow runs: how a sweep's parent run and each configuration's trial run are found
(`sweep_run`, `trial_tags`), and live logging: a Ray Tune callback on the driver that opens each
configuration's run when its trial starts, logs every report (each multi-fidelity rung, then the
end) as a step, and ends the run with the trial's status, so the MLflow UI shows the sweep as it
goes. The runs are the ones `trial_evaluations` records into after the sweep (found by
configuration key and golden-set version under the sweep's parent run), so a resumed or re-run
sweep adds steps to the same runs instead of new runs.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ray import tune

from dream_assets.lib.sweep import is_metric
from resources.tracking import TAG_CONFIG_KEY, TAG_CORPUS, TAG_GOLDEN_VERSION, TAG_KIND, MlflowTracker

logger = logging.getLogger(__name__)
# seconds between two samples of a trial run's system metrics
SYSTEM_METRICS_INTERVAL_S = 5.0


def sweep_run(tracker: MlflowTracker, golden_version: str, corpus: str = "") -> str:
    """The MLflow parent run of the sweeps on one golden-set version (found or created), tagged
    with its corpus (`dream.corpus`) when it has one."""
    return tracker.find_or_create_run(
        f"sweep-{corpus}-{golden_version}" if corpus else f"sweep-{golden_version}",
        {TAG_KIND: "sweep", **_tags(golden_version, corpus)},
    )


def trial_tags(config_key: str, golden_version: str, corpus: str = "") -> dict[str, str]:
    """The MLflow tags that identify one configuration's trial run on one golden-set version."""
    return {TAG_KIND: "trial", TAG_CONFIG_KEY: config_key, **_tags(golden_version, corpus)}


def _tags(golden_version: str, corpus: str) -> dict[str, str]:
    return {TAG_GOLDEN_VERSION: golden_version, **({TAG_CORPUS: corpus} if corpus else {})}


class LiveTrialRuns(tune.Callback):
    """Logs each trial to its MLflow run while the sweep runs.

    Args:
        tracker: the MLflow tracker (its settings are kept; a client is made where needed).
        parent_run_id: the sweep's parent run.
        tags_by_key: the tags that identify each configuration's run (`trial_tags`).
        params_by_key: each configuration's parameters (`RagConfig.params`), logged at start.

    MLflow being unreachable never stops the sweep: the failure is logged and the records the
    asset writes after the sweep still land when it is back.
    """

    def __init__(
        self,
        tracker: MlflowTracker,
        parent_run_id: str,
        tags_by_key: dict[str, dict[str, str]],
        params_by_key: dict[str, dict[str, Any]],
    ) -> None:
        self.settings = {
            "tracking_uri": tracker.tracking_uri,
            "experiment_name": tracker.experiment_name,
            "artifact_location": tracker.artifact_location,
        }
        self.parent_run_id, self.tags_by_key, self.params_by_key = parent_run_id, tags_by_key, params_by_key
        self.run_ids: dict[str, str] = {}
        self._tracker: MlflowTracker | None = None
        self._monitors: dict[str, Any] = {}

    @classmethod
    def for_trials(cls, tracker: MlflowTracker, parent_run_id: str, trials: list, golden_version: str, corpus: str):
        """The callback for a sweep's `TrialSettings`, their runs identified by `trial_tags`."""
        keys = [trial.config.key for trial in trials]
        tags = {key: trial_tags(key, golden_version, corpus) for key in keys}
        return cls(tracker, parent_run_id, tags, {trial.config.key: trial.config.params() for trial in trials})

    def __getstate__(self) -> dict:  # Tune pickles its callbacks into the experiment state
        return {**self.__dict__, "_tracker": None, "_monitors": {}}

    def tracker(self) -> MlflowTracker:
        """The tracker, rebuilt from its settings after unpickling."""
        if self._tracker is None:
            self._tracker = MlflowTracker(**self.settings)
        return self._tracker

    def _run_id(self, key: str) -> str:
        if key not in self.run_ids:
            self.run_ids[key] = self.tracker().find_or_create_run(key, self.tags_by_key[key], self.parent_run_id)
        return self.run_ids[key]

    def _safely(self, what: str, key: str, action) -> None:
        try:
            action()
        except Exception as error:  # noqa: BLE001 - tracking must not stop the sweep
            logger.warning("MLflow: could not %s for trial %s: %s", what, key, error)

    def on_trial_start(self, iteration, trials, trial, **info) -> None:  # noqa: D102
        key = trial.config["trial"]["config_key"]
        self._safely(
            "open the run",
            key,
            lambda: self.tracker().log_trial(self._run_id(key), self.params_by_key.get(key, {}), {}),
        )
        self._safely("start its system metrics", key, lambda: self._start_monitor(key))

    def _start_monitor(self, key: str) -> None:
        """MLflow's system metrics (`system/cpu_utilization_percentage`, memory, disk, network)
        of the driver's node while the trial runs, every `SYSTEM_METRICS_INTERVAL_S` (or
        MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL); on one machine that is the trials' node too."""
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        monitor = SystemMetricsMonitor(
            self._run_id(key),
            sampling_interval=SYSTEM_METRICS_INTERVAL_S,
            resume_logging=True,
            tracking_uri=self.settings["tracking_uri"],
        )
        monitor.start()
        self._monitors[key] = monitor

    def _end(self, key: str, error: str | None = None) -> None:
        monitor = self._monitors.pop(key, None)
        if monitor is not None:
            monitor.finish()
        self.tracker().finish(self._run_id(key), error=error)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:  # noqa: D102
        key = trial.config["trial"]["config_key"]
        step = int(result.get("training_iteration", 0))
        metrics = {name: float(value) for name, value in result.items() if is_metric(name, value)}
        self._safely("log a step", key, lambda: self.tracker().log_metrics(self._run_id(key), metrics, step))

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:  # noqa: D102
        key = trial.config["trial"]["config_key"]
        self._safely("end the run", key, lambda: self._end(key))

    def on_trial_error(self, iteration, trials, trial, **info) -> None:  # noqa: D102
        key = trial.config["trial"]["config_key"]
        error = f"trial failed at {time.strftime('%H:%M:%S')}: see the sweep's records"
        self._safely("end the run", key, lambda: self._end(key, error))
