"""MLflow behind its basic-auth app, as the Kubernetes deployment runs it (real server): a request
without credentials is refused, DREAM's tracker logs as the pipeline's user, and the serving
user can read but not write."""

import urllib.error
import urllib.request

import pytest

from resources.tracking import MlflowTracker

pytestmark = pytest.mark.integration


def test_mlflow_asks_every_client_to_log_in(tmp_path, s3_server, monkeypatch):
    from mlflow.exceptions import MlflowException
    from mlflow.server import get_app_client

    from dream_assets_tests.servers import start_mlflow, stop

    s3_server.client().create_bucket(Bucket="mlflow-auth-artifacts")
    directory, bucket = tmp_path / "mlflow", "mlflow-auth-artifacts"
    uri, process = start_mlflow(directory, s3_server, bucket, admin_password="admin-password-1")
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{uri}/api/2.0/mlflow/experiments/search?max_results=1", timeout=30)
        assert refused.value.code == 401

        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "admin-password-1")
        users = get_app_client("basic-auth", tracking_uri=uri)
        users.create_user("dream-pipeline", "pipeline-password-1")
        users.create_user("dream-serve", "serving-password-1")

        # the pipeline's user logs a run through DREAM's tracker (credentials from the environment)
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "dream-pipeline")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "pipeline-password-1")
        tracker = MlflowTracker(tracking_uri=uri, experiment_name="dream-auth")
        run_id = tracker.find_or_create_run("config-a", {"dream.kind": "trial"})
        tracker.log_trial(run_id, {"top_k": 2}, {"mrr": 0.5})
        tracker.finish(run_id)
        assert tracker.client().get_run(run_id).data.metrics["mrr"] == 0.5

        # the serving user reads (default permission READ) and cannot write
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "dream-serve")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "serving-password-1")
        reader = MlflowTracker(tracking_uri=uri, experiment_name="dream-auth")
        assert reader.client().get_run(run_id).data.metrics["mrr"] == 0.5
        with pytest.raises(MlflowException, match="PERMISSION_DENIED|Permission denied|403"):
            reader.client().log_metric(run_id, "mrr", 1.0)

        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong")
        with pytest.raises(MlflowException, match="401|Unauthorized|credentials"):
            MlflowTracker(tracking_uri=uri, experiment_name="dream-auth").client().get_run(run_id)
    finally:
        stop(process)
