import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO_PDFS = ROOT / "data" / "demo" / "squad" / "pdfs"

# Same environment as the Makefile: offline models, explicit Ray auth mode.
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The tests' grid: the full-evidence search space (fp32 embeddings on torch), whose keys they name;
# the shipped default (int8 embeddings) is checked against it in unit/test_rag_config.py.
os.environ.setdefault("DREAM_SEARCH_SPACE", str(ROOT / "dream_assets" / "config" / "search_space.full.yaml"))


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    """Bundled models assembled once per session (mpnet and Gemma ship in parts)."""
    shared = os.environ.get("DREAM_HOME")
    return Path(shared) / "models" if shared else tmp_path_factory.mktemp("models")


def pytest_collection_modifyitems(items):
    """Marks `cluster` every test that runs on the multi-node Ray cluster (`ray_head`)."""
    for item in items:
        if "ray_head" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cluster)


@pytest.fixture
def pdf_folder(tmp_path) -> Path:
    """Two real demo PDFs and one file that is not a PDF."""
    folder = tmp_path / "pdfs"
    folder.mkdir()
    for name in ("Normans.pdf", "1973_oil_crisis.pdf"):
        shutil.copy(DEMO_PDFS / name, folder / name)
    (folder / "broken.pdf").write_bytes(b"this is not a PDF")
    return folder


@pytest.fixture
def ray_session():
    """Stops the in-process local Ray a test started."""
    yield
    import ray

    if ray.is_initialized():
        ray.shutdown()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3 server (SeaweedFS) on 127.0.0.1 for the whole session."""
    from dream_assets_tests.servers import start_seaweedfs, stop

    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    stop(server.process)


@pytest.fixture
def s3_bucket(s3_server, request):
    """A fresh bucket on the S3 server, named after the test."""
    import re
    import uuid

    client = s3_server.client()
    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-") + "-" + uuid.uuid4().hex[:6]
    client.create_bucket(Bucket=name)
    return client, name


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory, s3_server):
    """A real MLflow tracking server whose artifacts go to the S3 server."""
    from dream_assets_tests.servers import start_mlflow, stop

    s3_server.client().create_bucket(Bucket="mlflow-artifacts")
    uri, process = start_mlflow(tmp_path_factory.mktemp("mlflow"), s3_server, "mlflow-artifacts")
    yield uri
    stop(process)


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory):
    """A real multi-node Ray cluster on 127.0.0.1 (`RayHead`; its address is what RAY_ADDRESS
    would hold): a head with no CPUs and two worker nodes of one CPU each, separate `ray start`
    processes with their own temp, working and scratch directories."""
    import tempfile

    from dream_assets_tests.servers import start_ray_cluster

    # a short root: Ray's sockets live under each node's temp dir, and AF_UNIX paths are short
    root = Path(tempfile.mkdtemp(prefix="dream-ray-"))
    cluster = start_ray_cluster(root)
    yield cluster
    cluster.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server with pgvector on 127.0.0.1 for the whole session."""
    import tempfile

    from dream_assets_tests.servers import start_postgres

    # a directory the unprivileged server user can reach (pytest's tmp dirs are root-only)
    directory = Path(tempfile.mkdtemp(prefix="dream-pg-"))
    os.chmod(directory, 0o755)
    server = start_postgres(directory / "pg")
    yield server
    server.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def postgres_dsn(postgres_server):
    """DSN of the session's PostgreSQL server, running (a fault test may have stopped it)."""
    import psycopg

    try:
        psycopg.connect(postgres_server.dsn, connect_timeout=2).close()
    except psycopg.OperationalError:
        postgres_server.start()
    return postgres_server.dsn
