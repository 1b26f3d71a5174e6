"""Experiment tracking with MLflow as a Dagster resource: configuration only; the operations
are `dream_assets.lib.tracking.mlflow_client.MlflowTracking` (no Dagster).

Runs are found before they are created: a sweep's parent run by (experiment, golden-set version)
and a configuration's nested run by (configuration key, golden-set version), so re-running a
sweep updates its runs instead of duplicating them.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from dream_assets.lib.tracking.mlflow_client import (
    MlflowTracking,
)


class MlflowTracker(MlflowTracking, dg.ConfigurableResource):
    """An MLflow tracking server or local store.

    Embedded default: `sqlite:///<state>/mlflow/mlflow.db` with artifacts under
    `<state>/mlflow/artifacts`; otherwise any tracking URI (`http://mlflow:5000`), whose server
    decides where artifacts go when `artifact_location` is None.
    """

    tracking_uri: str = Field(description="MLflow tracking URI.")
    experiment_name: str = Field(default="dream", description="MLflow experiment every sweep logs into.")
    artifact_location: str | None = Field(default=None, description="Artifact root for new experiments.")
    ui_url: str | None = Field(default=None, description="Base URL of the MLflow UI, for run links.")
