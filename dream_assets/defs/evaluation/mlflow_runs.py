"""The sweep's MLflow runs: how a sweep's parent run and each configuration's trial run are found
(`sweep_run`, `trial_tags`), and live logging: a Ray Tune callback on the driver that opens each
configuration's run when its trial starts, logs every report (each multi-fidelity rung, then the
end) as a step, and ends the run with the trial's status, so the MLflow UI shows the sweep as it
goes. The runs are the ones `trial_evaluations` records into after the sweep (found by
configuration key and golden-set version under the sweep's parent run), so a resumed or re-run
sweep adds steps to the same runs instead of new runs. After the sweep, `record_trial` logs each
trial's table, answer traces and outcome into its run.

MLflow is best effort: an outage costs no trial result. A record that cannot be logged is queued
in the object store (`mlflow_pending/<golden version>/<config key>.json`, everything it needs to be
logged again) and the next sweep logs it first (`replay_pending`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import dagster as dg
from ray import tune

from dream_assets import layout
from dream_assets.defs.metadata import table_asset_metadata
from dream_assets.lib.evaluation.metric_catalog import plugin_metric_names
from dream_assets.lib.evaluation.outcomes import is_metric
from dream_assets.lib.evaluation.summary import summarize
from dream_assets.lib.evaluation.trial_settings import TrialSettings
from dream_assets.lib.tracking.mlflow_client import TAG_CONFIG_KEY, TAG_CORPUS, TAG_GOLDEN_VERSION, TAG_KIND
from resources.tracking import MlflowTracker

logger = logging.getLogger(__name__)
# the trial metrics of `trial_evaluations`' results table (and each plug-in metric with its n)
RESULT_COLUMNS = ["hit_rate", "mrr", "mrr_n", "f1", "f1_n"]
# seconds between two samples of a trial run's system metrics
SYSTEM_METRICS_INTERVAL_S = 5


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


def record_trial(
    context, store, tracker: MlflowTracker, parent: str | None, trial: TrialSettings, outcome, corpus: str, questions
) -> tuple[dict, bool]:
    """Records one trial's outcome after the sweep: its error record (or removes an earlier
    one), its Dagster observation (with the row count and column schema of its table) and its
    MLflow run (`log_trial_run`: with the golden set as dataset input; queued when MLflow is
    unreachable, and without trying when `parent` is None). Returns its row of
    `trial_evaluations`' results table (`RESULT_COLUMNS`, each plug-in metric with its n, and
    `error`) and whether MLflow took the record. `questions`: the golden set's questions, read
    once for the sweep."""
    key, golden_version = trial.config.key, trial.golden_version
    error_key = layout.trial_error_key(golden_version, key)
    entry = {"config_key": key, "golden_version": golden_version, "corpus": corpus, "params": trial.config.params()}
    if outcome.error:
        # the retrieval tier finished before the generation tier failed: kept, and its metrics logged
        retrieval = store.exists(trial.retrieval_key)
        failure = {"config_key": key, "error": outcome.error, "failed_tier": "generation" if retrieval else "retrieval"}
        store.write_json(error_key, {**failure, **({"retrieval_table": trial.retrieval_key} if retrieval else {})})
        metrics = summarize(store.read_parquet(trial.retrieval_key)) if retrieval else {}
        failed = {**entry, "metrics": _finite(metrics), "error": outcome.error}
        run_url = log_trial_run(context, store, tracker, parent, failed, questions)
        context.log.error("trial %s failed in its %s tier: %s", key, failure["failed_tier"], outcome.error)
        return failure, run_url is not None
    store.delete(error_key)
    table = store.read_parquet(trial.output_key)
    finished = {**entry, "metrics": _finite(outcome.metrics), "table_key": trial.output_key}
    run_url = log_trial_run(context, store, tracker, parent, finished, questions, table)
    metadata = {
        **({"mlflow_run": dg.MetadataValue.url(run_url)} if run_url else {"mlflow_run": "queued: MLflow unreachable"}),
        **_finite(outcome.metrics),
        **table_asset_metadata(table),
    }
    context.log_event(dg.AssetObservation(asset_key=context.asset_key, partition=key, metadata=metadata))
    columns = RESULT_COLUMNS + [column for name in plugin_metric_names() for column in (name, f"{name}_n")]
    return {"config_key": key, **{name: outcome.metrics.get(name) for name in columns}, "error": ""}, bool(run_url)


def _finite(metrics: dict) -> dict:
    return {name: value for name, value in metrics.items() if value == value}


def log_trial_run(
    context, store, tracker: MlflowTracker, parent: str | None, entry: dict, questions=None, table=None
) -> str | None:
    """Logs one trial record `entry` (`config_key`, `golden_version`, `corpus`, `params`,
    `metrics`, and `table_key` of its table, or `error`) into its MLflow run under `parent`;
    returns the run's URL. Best effort: when MLflow cannot be reached (or `parent` is None),
    the entry is queued in the object store (`layout.mlflow_pending_key`) and None returned;
    `replay_pending` logs it later. A success removes the entry's queued copy. `questions` and
    `table`: the golden set's questions and the trial's table when the caller has them read
    (else read from the object store)."""
    key, golden_version = entry["config_key"], entry["golden_version"]
    pending = layout.mlflow_pending_key(golden_version, key)
    try:
        if parent is None:
            raise ConnectionError("MLflow was unreachable when the sweep started")
        run_id = tracker.find_or_create_run(key, trial_tags(key, golden_version, entry["corpus"]), parent)
        if questions is None:
            questions = store.read_parquet(f"{layout.golden_prefix(golden_version)}/questions.parquet")
        golden_uri = store.uri(layout.golden_prefix(golden_version))
        tracker.log_dataset(run_id, questions, "golden_dataset", golden_version, golden_uri)
        if entry.get("error"):
            tracker.log_trial(run_id, entry["params"], entry["metrics"])
            tracker.finish(run_id, error=entry["error"])
        else:
            table = table if table is not None else store.read_parquet(entry["table_key"])
            tracker.log_trial(run_id, entry["params"], entry["metrics"], table)
            log_traces(context, tracker, run_id, table, key)
            tracker.finish(run_id)
        url = tracker.run_url(run_id)
    except Exception as error:  # noqa: BLE001 - MLflow down costs no result: the record waits in the queue
        store.write_json(pending, entry)
        context.log.warning("MLflow: trial %s queued (%s: %s)", key, type(error).__name__, str(error)[:200])
        return None
    store.delete(pending)
    return url


def replay_pending(context, store, tracker: MlflowTracker) -> tuple[int, int]:
    """Logs every queued trial record (`log_trial_run`), each under its golden set's sweep run;
    stops at the first that cannot be logged (MLflow still down). Returns (logged, still
    queued)."""
    queued = [info.key for info in store.list(layout.MLFLOW_PENDING_PREFIX) if info.key.endswith(".json")]
    logged = 0
    for number, pending in enumerate(queued):
        entry = store.read_json(pending)
        try:
            parent = sweep_run(tracker, entry["golden_version"], entry["corpus"])
        except Exception as error:  # noqa: BLE001 - still unreachable: the queue stays for the next run
            context.log.warning("MLflow still unreachable (%s): %d trial record(s) stay queued", error, len(queued))
            return logged, len(queued) - number
        if log_trial_run(context, store, tracker, parent, entry) is None:
            return logged, len(queued) - number
        logged += 1
    if logged:
        context.log.info("MLflow: %d queued trial record(s) logged", logged)
    return logged, 0


def reachable_sweep_run(context, tracker: MlflowTracker, golden_version: str, corpus: str) -> str | None:
    """`sweep_run`, or None (logged) when MLflow cannot be reached: the sweep goes on and its
    trials' records are queued (`log_trial_run`)."""
    try:
        return sweep_run(tracker, golden_version, corpus)
    except Exception as error:  # noqa: BLE001 - the sweep does not need MLflow to produce its results
        kind = type(error).__name__
        context.log.warning("MLflow unreachable (%s: %s): the sweep runs, its records are queued", kind, error)
        return None


def log_traces(context, tracker: MlflowTracker, run_id: str, table, key: str) -> None:
    """Logs the trial's answers as MLflow traces (`dream_assets.lib.tracking.traces`); a tracing failure
    is logged and never fails the trial's record."""
    from dream_assets.lib.tracking.traces import log_answer_traces

    try:
        logged = log_answer_traces(tracker, run_id, table, key)
    except Exception as error:  # noqa: BLE001 - traces are a view; the trial's results are stored
        context.log.warning("trial %s: its answers could not be traced in MLflow: %s", key, error)
        return
    context.log.debug("trial %s: %d answer traces logged", key, logged)
