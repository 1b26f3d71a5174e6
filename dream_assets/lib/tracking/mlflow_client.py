"""Experiment tracking with MLflow, without Dagster, through `MlflowClient` only (no global
tracking URI): `MlflowTracking`'s domain methods, shared by the Dagster resource
`resources.tracking.MlflowTracker` and the plain `MlflowTrackingClient`.

Runs are found before they are created: a sweep's parent run by (experiment, golden-set version)
and a configuration's nested run by (configuration key, golden-set version), so re-running a
sweep updates its runs instead of duplicating them.
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from dream_assets.lib.tracking.model_registry import ModelRegistry

TAG_KIND = "dream.kind"
TAG_CONFIG_KEY = "dream.config_key"
TAG_GOLDEN_VERSION = "dream.golden_version"
TAG_ERROR = "dream.error"
TAG_CORPUS = "dream.corpus"
PARENT_TAG = "mlflow.parentRunId"
# MLflow's HTTP client, bounded (unless set in the environment): 3 retries with backoff 1, 2, 4 s
# and 30 s per request, so a server that is down fails a call in about 10 s, not MLflow's default
# of 7 retries with backoff factor 2 and 120 s per request (minutes); DREAM then queues the record
# (`dream_assets.defs.evaluation.mlflow_runs.log_trial_run`).
HTTP_LIMITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}


class MlflowTracking(ModelRegistry):
    """DREAM's tracking operations on the MLflow store `tracking_uri`: runs found before they
    are created, trial parameters and metrics, tables, figures, datasets, models, run links.

    Attributes (set by the class that mixes it in):
        tracking_uri: MLflow tracking URI.
        experiment_name: the experiment every sweep logs into.
        artifact_location: artifact root for new experiments (None: the server decides).
        ui_url: base URL of the MLflow UI, for run links.
    """

    tracking_uri: str
    experiment_name: str
    artifact_location: str | None
    ui_url: str | None

    def client(self):
        """A `MlflowClient` bound to `tracking_uri`, its HTTP requests bounded (`HTTP_LIMITS`)."""
        from mlflow.tracking import MlflowClient

        for name, value in HTTP_LIMITS.items():
            os.environ.setdefault(name, value)
        return MlflowClient(tracking_uri=self.tracking_uri)

    def experiment_id(self) -> str:
        """Id of `experiment_name`, created on first use. Its kind is left to MLflow: a DREAM
        experiment holds runs to compare and a trace per answer, so the MLflow 3 UI offers both
        its run comparison and its GenAI trace and evaluation views."""
        client = self.client()
        experiment = client.get_experiment_by_name(self.experiment_name)
        if experiment is not None:
            return experiment.experiment_id
        return client.create_experiment(self.experiment_name, artifact_location=self.artifact_location)

    def find_or_create_run(self, run_name: str, tags: dict[str, str], parent_run_id: str | None = None) -> str:
        """Returns the id of the run carrying all `tags` (and `parent_run_id`), creating it if
        there is none; a found run is set back to RUNNING."""
        client, experiment_id = self.client(), self.experiment_id()
        wanted = {**tags, **({PARENT_TAG: parent_run_id} if parent_run_id else {})}
        query = " and ".join(f"tags.`{key}` = '{value}'" for key, value in wanted.items())
        found = client.search_runs([experiment_id], filter_string=query, max_results=1)
        if found:
            run_id = found[0].info.run_id
            client.update_run(run_id, status="RUNNING")
            return run_id
        return client.create_run(experiment_id, run_name=run_name, tags=wanted).info.run_id

    def log_trial(
        self,
        run_id: str,
        params: Mapping[str, str | int | float],
        metrics: Mapping[str, float],
        table: pd.DataFrame | None = None,
        table_name: str = "per_question.parquet",
    ) -> None:
        """Logs params, finite metrics, and `table` as a Parquet artifact and as an MLflow table
        (`log_preview_table`), on one run."""
        from mlflow.entities import Param

        client = self.client()
        existing = client.get_run(run_id).data.params
        new_params = [Param(k, str(v)) for k, v in params.items() if k not in existing]
        client.log_batch(run_id, metrics=_finite_metrics(metrics, 0), params=new_params)
        if table is not None:
            self.log_table(run_id, table, table_name)
            self.log_preview_table(run_id, table, Path(table_name).stem)

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int) -> None:
        """Logs finite `metrics` at `step` (a sweep trial's rung: MLflow draws each metric's
        history over its steps)."""
        self.client().log_batch(run_id, metrics=_finite_metrics(metrics, step))

    def log_curve(self, run_id: str, name: str, points: list[tuple[int, float]]) -> None:
        """Logs a metric's history, one value per step (a training loss curve)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client().log_batch(run_id, metrics=[Metric(name, float(value), now, int(step)) for step, value in points])

    def log_table(self, run_id: str, table: pd.DataFrame, name: str) -> None:
        """Logs a DataFrame as a Parquet artifact named `name`."""
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / name
            table.to_parquet(path, index=False)
            self.client().log_artifact(run_id, str(path))

    def log_preview_table(self, run_id: str, table: pd.DataFrame, name: str) -> str:
        """Logs `table` through `MlflowClient.log_table` as `tables/<name>-<content hash>.json`,
        which the MLflow UI previews and compares across runs (its Artifacts and Evaluation
        views), unless the run already holds that very table.

        `log_table` appends to a file of the same name, so a fixed name would duplicate every
        row when a resumed trial logs its table again; a name made from the content is written
        at most once. A changed table (a later rung, more questions) gets a new file, and the
        run's tag `dream.table.<name>` names the current one.

        Returns:
            The table's artifact path.
        """
        import hashlib

        client = self.client()
        safe = table.map(lambda cell: cell.tolist() if hasattr(cell, "tolist") else cell)
        body = safe.to_json(orient="split", index=False, date_format="iso")
        path = f"tables/{name}-{hashlib.sha256(body.encode()).hexdigest()[:12]}.json"
        if path not in {info.path for info in client.list_artifacts(run_id, "tables")}:
            client.log_table(run_id, safe, path)
        client.set_tag(run_id, f"dream.table.{name}", path)
        return path

    def log_figure(self, run_id: str, figure, artifact_file: str) -> None:
        """Logs a plotly figure through `MlflowClient.log_figure` (an interactive HTML artifact
        the MLflow UI shows; it replaces a file of the same name), with plotly.js inside the
        file rather than MLflow's default CDN link, so it draws on a machine offline."""
        self.client().log_figure(run_id, figure, artifact_file, save_kwargs={"include_plotlyjs": True})

    def log_file(self, run_id: str, path: str | Path) -> None:
        """Logs a local file (a plot, a report) as an artifact."""
        self.client().log_artifact(run_id, str(path))

    def log_dataset(self, run_id: str, frame: pd.DataFrame, name: str, digest: str, source: str) -> None:
        """Logs a dataset as the run's evaluation input (MLflow dataset lineage), unless the run
        already has it."""
        from mlflow.data.pandas_dataset import from_pandas
        from mlflow.entities import DatasetInput, InputTag

        client = self.client()
        run = client.get_run(run_id)
        if any(item.dataset.digest == digest for item in (run.inputs.dataset_inputs if run.inputs else [])):
            return
        with warnings.catch_warnings():  # a local path matches two equivalent source classes
            warnings.filterwarnings("ignore", "The specified dataset source", UserWarning, r"mlflow\.data")
            dataset = from_pandas(frame, source=source, name=name, digest=digest)
        entity = DatasetInput(dataset._to_mlflow_entity(), tags=[InputTag("mlflow.data.context", "evaluation")])
        client.log_inputs(run_id, datasets=[entity])

    def finish(self, run_id: str, error: str | None = None) -> None:
        """Ends a run as FINISHED, or as FAILED with `error` in its `dream.error` tag; a run that
        failed before and now finishes loses that tag."""
        client = self.client()
        if error:
            client.set_tag(run_id, TAG_ERROR, error[:5000])
        elif TAG_ERROR in client.get_run(run_id).data.tags:
            client.delete_tag(run_id, TAG_ERROR)
        client.set_terminated(run_id, status="FAILED" if error else "FINISHED")

    def run_url(self, run_id: str) -> str:
        """Link to the run in the MLflow UI (`ui_url`, else the tracking URI if it is HTTP)."""
        base = self.ui_url or (self.tracking_uri if self.tracking_uri.startswith("http") else "http://127.0.0.1:5000")
        return f"{base.rstrip('/')}/#/experiments/{self.experiment_id()}/runs/{run_id}"


def _finite_metrics(metrics: Mapping[str, float], step: int) -> list:
    """MLflow `Metric`s of the finite values of `metrics` at `step`, stamped now (a re-logged
    metric must be newer, or MLflow keeps the larger value)."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    return [Metric(k, float(v), now, step) for k, v in metrics.items() if v == v and abs(v) != float("inf")]


@dataclass
class MlflowTrackingClient(MlflowTracking):
    """`MlflowTracking` as a plain object, for code outside Dagster."""

    tracking_uri: str
    experiment_name: str = "dream"
    artifact_location: str | None = None
    ui_url: str | None = None
