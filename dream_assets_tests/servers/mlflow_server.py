"""An MLflow tracking server with S3 artifacts."""

import os
import subprocess
import sys
from pathlib import Path

from dream_assets.lib.stores.embedded_postgres import free_port
from dream_assets_tests.servers.process import wait_for_http
from dream_assets_tests.servers.s3 import S3Server


def start_mlflow(
    directory: Path,
    s3: S3Server,
    bucket: str,
    timeout_s: float = 120.0,
    admin_password: str | None = None,
    port: int | None = None,
) -> tuple[str, subprocess.Popen]:
    """Starts an MLflow tracking server (SQLite backend, artifacts proxied to `bucket` on the S3
    server) on 127.0.0.1 without the job runner; with `admin_password`, behind MLflow's
    basic-auth app as the deployment runs it (deploy/services/mlflow.yaml: users in SQLite,
    admin `admin`, default permission READ). On `port` (default: a free one; the same port and
    `directory` restart a stopped server with its runs). Returns (tracking URI, process)."""
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log = directory / "mlflow.log"
    env = {
        **os.environ,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_S3_ENDPOINT_URL": s3.endpoint_url,
        "AWS_ACCESS_KEY_ID": s3.access_key_id,
        "AWS_SECRET_ACCESS_KEY": s3.secret_access_key,
    }
    auth = []
    if admin_password is not None:
        config = directory / "basic_auth.ini"
        config.write_text(
            "[mlflow]\ndefault_permission = READ\n"
            f"database_uri = sqlite:///{directory / 'users.db'}\n"
            "admin_username = admin\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        )
        env.update(
            MLFLOW_AUTH_CONFIG_PATH=str(config),
            MLFLOW_AUTH_ADMIN_USERNAME="admin",
            MLFLOW_AUTH_ADMIN_PASSWORD=admin_password,
            MLFLOW_FLASK_SERVER_SECRET_KEY="test-secret-key",
        )
        auth = ["--app-name", "basic-auth"]
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            *auth,
            "--workers",
            "1",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{directory / 'mlflow.db'}",
            "--artifacts-destination",
            f"s3://{bucket}/mlflow",
        ],
        stdout=open(log, "wb"),  # noqa: SIM115 - lives as long as the server
        stderr=subprocess.STDOUT,
        env=env,
    )
    uri = f"http://127.0.0.1:{port}"
    wait_for_http(f"{uri}/health", process, log, timeout_s)
    return uri, process
