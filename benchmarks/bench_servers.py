"""Start-up time of each real server the integration tests start (seconds until it answers).

Usage: python benchmarks/bench_servers.py
"""

import os
import tempfile
import time
from pathlib import Path

from dream_assets_tests.servers import start_mlflow, start_postgres, start_ray_head, start_seaweedfs, stop


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="dream-bench-servers-"))
    os.chmod(base, 0o755)
    timings = {}
    start = time.perf_counter()
    s3 = start_seaweedfs(base / "s3")
    timings["SeaweedFS S3 (weed mini)"] = time.perf_counter() - start
    s3.client().create_bucket(Bucket="mlflow-artifacts")
    start = time.perf_counter()
    _, mlflow = start_mlflow(base / "mlflow", s3, "mlflow-artifacts")
    timings["MLflow tracking server"] = time.perf_counter() - start
    start = time.perf_counter()
    ray = start_ray_head(base / "ray").process
    timings["Ray head node"] = time.perf_counter() - start
    start = time.perf_counter()
    postgres = start_postgres(base / "pg")
    timings["PostgreSQL 18 + pgvector"] = time.perf_counter() - start
    for process in (ray, mlflow, s3.process):
        stop(process)
    postgres.stop()
    for name, seconds in timings.items():
        print(f"{name:28} {seconds:6.1f} s")


if __name__ == "__main__":
    main()
