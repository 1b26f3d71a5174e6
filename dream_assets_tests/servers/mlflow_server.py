"""An MLflow tracking server with S3 artifacts."""

import os
import subprocess
import sys
from pathlib import Path

from dream_assets.lib.stores.embedded_postgres import free_port
from dream_assets_tests.servers.process import wait_for_http
from dream_assets_tests.servers.s3 import S3Server


def start_mlflow(directory: Path, s3: S3Server, bucket: str, timeout_s: float = 120.0) -> tuple[str, subprocess.Popen]:
    """Starts an MLflow tracking server (SQLite backend, artifacts proxied to `bucket` on the S3
    server) on 127.0.0.1 without the job runner; returns (tracking URI, process)."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = directory / "mlflow.log"
    env = {
        **os.environ,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_S3_ENDPOINT_URL": s3.endpoint_url,
        "AWS_ACCESS_KEY_ID": s3.access_key_id,
        "AWS_SECRET_ACCESS_KEY": s3.secret_access_key,
    }
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
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
