"""The DREAM chain against real services, as users run it: PDFs and artifacts in an S3 bucket
(SeaweedFS), vectors in PostgreSQL + pgvector, an MLflow tracking server with S3 artifacts, and a
multi-node Ray cluster the sweep joins (nodes that share no directory; Ray Tune's results in the
S3 bucket)."""

import json
import tempfile
import threading
import time
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from dream_assets import layout
from dream_assets.definitions import build_definitions
from dream_assets.deployments import local_resources
from dream_assets.lib.models import embedding_stage
from dream_assets.lib.models.embedding_stage import embed_texts
from dream_assets.lib.retrieval.shards import read_shard
from dream_assets.lib.tracking.mlflow_client import TAG_KIND
from dream_assets.lib.tracking.traces import log_answer_traces
from dream_assets_tests.chain import metadata, run_job
from dream_assets_tests.servers import TRIAL_RESOURCE
from resources.object_store import S3ObjectStore
from resources.ray_cluster import RayCluster
from resources.sources import DocumentSource
from resources.tracking import MlflowTracker
from resources.vector_stores import PgVectorStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PDFS = Path(__file__).resolve().parents[2] / "data" / "demo" / "squad" / "pdfs"
CONFIGS = ["window2_minilm-l6_gemma-3-270m_k2", "window2_minilm-l6_gemma-3-270m_k4"]


class _MlflowWatcher(threading.Thread):
    """Polls the MLflow server every 0.05 s while a sweep runs: for each trial run (by name),
    the set of (status, entries of its `generated_questions` history) it was seen in."""

    def __init__(self, tracker):
        super().__init__(daemon=True)
        self.tracker, self.seen, self.stop = tracker, {}, threading.Event()

    def trial_runs(self):
        """The sweep's trial runs on the server."""
        query = "tags.`dream.kind` = 'trial'"
        return self.tracker.client().search_runs([self.tracker.experiment_id()], query)

    def histories(self) -> dict[str, list[float]]:
        """Each trial run's `generated_questions` logged live, by step (Tune's reports count
        from 1; the records written after the sweep are at step 0), by run name."""
        client = self.tracker.client()
        return {
            run.info.run_name: [
                metric.value
                for metric in sorted(client.get_metric_history(run.info.run_id, "generated_questions"), key=_step)
                if metric.step >= 1
            ]
            for run in self.trial_runs()
        }

    def run(self):
        client = self.tracker.client()
        while not self.stop.is_set():
            for run in self.trial_runs():
                entries = len(client.get_metric_history(run.info.run_id, "generated_questions"))
                self.seen.setdefault(run.info.run_name, set()).add((run.info.status, entries))
            time.sleep(0.05)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.join()


LLM_KEY = "sk-dream-test-4f9c2e7a1b"


def _step(metric) -> int:
    return metric.step


def test_chain_on_s3_mlflow_server_and_ray_head(
    monkeypatch, tmp_path, models_dir, s3_server, s3_bucket, mlflow_server, ray_head, ray_session, postgres_server
):
    client, bucket = s3_bucket
    for name in ("Normans.pdf", "Force.pdf"):
        client.put_object(Bucket=bucket, Key=f"inbox/{name}", Body=(PDFS / name).read_bytes())
    # the secret reaches the resources through an EnvVar, as in deployment
    monkeypatch.setenv("DREAM_TEST_S3_SECRET", s3_server.secret_access_key)
    # an LLM key as deployments set it: it must reach no stored file, Tune result or MLflow run
    monkeypatch.setenv("DREAM_LLM_API_KEY", LLM_KEY)
    monkeypatch.setenv("DREAM_TEST_PG_DSN", postgres_server.dsn)
    # Ray Tune's storage: pyarrow's S3 filesystem takes the endpoint and keys from the environment
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_access_key)
    credentials = {
        "endpoint_url": s3_server.endpoint_url,
        "access_key_id": s3_server.access_key_id,
        "secret_access_key": dg.EnvVar("DREAM_TEST_S3_SECRET"),
    }
    resources = local_resources(tmp_path / "state", "unused")
    resources.update(
        document_source=DocumentSource(uri=f"s3://{bucket}/inbox", **credentials),
        object_store=S3ObjectStore(bucket=bucket, prefix="dream", **credentials),
        tracker=MlflowTracker(tracking_uri=mlflow_server, experiment_name="dream-services"),
        ray_cluster=RayCluster(
            address=ray_head.address,
            storage_path=f"s3://{bucket}/ray_results",
            scratch_dir=str(tmp_path / "scratch"),
            trial_resources={"CPU": 1, TRIAL_RESOURCE: 1},  # on the worker nodes
        ),
        vector_store=PgVectorStore(dsn=dg.EnvVar("DREAM_TEST_PG_DSN")),
        embeddings=resources["embeddings"].model_copy(update={"models_dir": str(models_dir)}),
        llms=resources["llms"].model_copy(update={"models_dir": str(models_dir)}),
    )
    defs = build_definitions(resources)
    with dg.instance_for_test() as instance:
        documents = ["force", "normans"]  # what the sensor would add for the two uploads
        instance.add_dynamic_partitions("documents", documents)
        run_job(defs, instance, "ingest_job", documents)
        golden = metadata(
            run_job(
                defs,
                instance,
                "golden_job",
                run_config={"ops": {"golden_dataset": {"config": {"questions_per_document": 2}}}},
            ),
            "golden_dataset",
        )
        # the shards are embedded by Ray Data's actors on the cluster (a small corpus would stay
        # in the Dagster step's process below RAY_DATA_MIN_TEXTS), the vectors then go to pgvector
        monkeypatch.setattr(embedding_stage, "RAY_DATA_MIN_TEXTS", 10)
        monkeypatch.setattr(embedding_stage, "RAY_DATA_MIN_TEXTS_ONE_MACHINE", 10)
        index = metadata(run_job(defs, instance, "index_job", ["window2_minilm-l6"]), "embedding_index")
        placement = ray_head.nodes_that_ran("(EmbeddingActor)).submit", at_least=2)
        assert sorted(placement) == [node.name for node in ray_head.workers], placement
        _assert_shard_vectors_as_in_process(resources)
        # a multi-fidelity sweep (rungs of 2 and 4 answered questions), watched on the MLflow
        # server while it runs
        asha = {"search": "asha", "min_questions": 2, "reduction_factor": 2}
        monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.5")  # trials last seconds here
        with _MlflowWatcher(resources["tracker"]) as watcher:
            sweep_run = run_job(
                defs, instance, "sweep_job", CONFIGS, run_config={"ops": {"trial_evaluations": {"config": asha}}}
            )
        sweep = metadata(sweep_run, "trial_evaluations")
        assert (sweep["trials"], sweep["failed_trials"]) == (2, 0)
        # live: each run has one step per rung its trial reached (2 then 4 questions answered);
        # the trial that reached the second rung was seen RUNNING with only its first logged,
        # which happens only while it runs (after the sweep its run holds both and the records)
        histories = watcher.histories()
        assert sorted(histories.values()) in ([[2.0], [2.0, 4.0]], [[2.0, 4.0], [2.0, 4.0]]), histories
        longest = next(name for name, history in histories.items() if len(history) == 2)
        assert ("RUNNING", 1) in watcher.seen[longest], watcher.seen
        for run in watcher.trial_runs():  # system metrics sampled while each trial ran
            assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"} <= set(
                run.data.metrics
            ), sorted(run.data.metrics)
        # the two trials ran at once, one on each worker node, each node downloading the index
        # to its own scratch directory
        placement = ray_head.nodes_that_ran("_trainable.__ray_ready__", at_least=2)
        assert sorted(placement) == [node.name for node in ray_head.workers], placement
        assert all(list((node.scratch).rglob("nodes.lance")) for node in ray_head.workers)
        assert not (tmp_path / "scratch").exists()  # the driver's path, re-rooted on each node
        run_job(defs, instance, "leaderboard_job")
        secrets = [s3_server.secret_access_key.encode(), postgres_server.password.encode(), LLM_KEY.encode()]
        ray_results = _objects(client, bucket, "ray_results/")
        # Ray Tune's results are in the bucket (written, never restored: DREAM resumes from its
        # own done-markers and saved answers)
        experiments = {key.split("/")[1] for key in ray_results}
        assert [name for name in experiments if name.startswith("sweep-")], experiments
        assert not [key for key in ray_results for secret in secrets if secret in _read(client, bucket, key)]
        # no secret in Dagster's event log, metadata or captured compute logs, nor in the Ray
        # nodes' session logs and directories
        roots = [Path(instance.root_directory), ray_head.directory, *(node.directory for node in ray_head.workers)]
        stored = [path for root in roots for path in root.rglob("*") if path.is_file()]
        assert len({root for root in roots if any(p.is_relative_to(root) for p in stored)}) == 4
        assert not [path for path in stored for secret in secrets if secret in _read_file(path)]

    import ray

    # the sweep joined the head node (Ray reports the node's own IP for 127.0.0.1)
    assert ray.get_runtime_context().gcs_address.rsplit(":", 1)[1] == ray_head.address.rsplit(":", 1)[1]
    # the vectors are in pgvector: one row per embedded node
    import psycopg

    with psycopg.connect(postgres_server.dsn) as connection:
        tables = connection.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'data_window2%'").fetchall()
        [(rows,)] = connection.execute(f'SELECT count(*) FROM "{tables[0][0]}"').fetchall()  # noqa: S608
    assert len(tables) == 1 and rows == index["embedded_nodes"] > 0
    keys = set(_objects(client, bucket, ""))
    version = golden["version"]
    for key in CONFIGS:
        assert f"dream/{layout.trial_key(version, key)}" in keys
    assert f"dream/{layout.leaderboard_prefix(version)}/leaderboard.png" in keys
    tracker = resources["tracker"]
    runs = tracker.client().search_runs([tracker.experiment_id()])
    assert sorted(r.data.tags[TAG_KIND] for r in runs) == ["sweep", "trial", "trial"]
    for run in runs:  # nor in MLflow params or tags
        for secret in (s3_server.secret_access_key, postgres_server.password, LLM_KEY):
            assert secret not in repr((run.data.params, run.data.tags))
    artifacts = s3_server.client()
    stored = _objects(artifacts, "mlflow-artifacts", "")
    # nor in any MLflow artifact (tables, figures, traces, the registered model's files)
    secrets = [s3_server.secret_access_key.encode(), postgres_server.password.encode(), LLM_KEY.encode()]
    assert not [key for key in stored for secret in secrets if secret in _read(artifacts, "mlflow-artifacts", key)]
    assert sum(key.endswith("per_question.parquet") for key in stored) == 2
    assert any(key.endswith("leaderboard.parquet") for key in stored)
    assert any(key.endswith("leaderboard.html") for key in stored)  # log_figure
    _assert_tables_and_traces(tracker, runs)


def _assert_shard_vectors_as_in_process(resources) -> None:
    """The vectors Ray Data's actors stored in a shard are those this process computes."""
    from llama_index.core.schema import MetadataMode
    from llama_index.core.storage.docstore.utils import json_to_doc

    resource = resources["object_store"]  # outside a run its EnvVars are resolved here
    secrets = {name: getattr(resource, name) for name in ("access_key_id", "secret_access_key")}
    resolved = {name: value.get_value() for name, value in secrets.items() if isinstance(value, dg.EnvVar)}
    store = resource.model_copy(update=resolved).client()
    keys = [info.key for info in store.list("embedding_shards/")]
    assert len(keys) == 2  # one per document
    shard = read_shard(store, keys[0])
    rows = shard.filter(shard.column("embedded")).slice(0, 16)
    nodes = [json_to_doc(json.loads(node)) for node in rows.column("node").to_pylist()]
    local = embed_texts(
        [node.get_content(metadata_mode=MetadataMode.EMBED) for node in nodes],
        resources["embeddings"].settings_for("all-MiniLM-L6-v2"),
    )
    stored = np.asarray(rows.column("vector").to_pylist(), dtype=np.float32)
    cosine = np.sum(stored * local, axis=1) / np.linalg.norm(stored, axis=1) / np.linalg.norm(local, axis=1)
    assert len(cosine) == 16 and cosine.min() > 0.9999


def _objects(client, bucket: str, prefix: str) -> list[str]:
    """Every key under `prefix` in the bucket."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def _read(client, bucket: str, key: str) -> bytes:
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def _read_file(path: Path) -> bytes:
    """A file's bytes, or none for one that went (a live node's sockets and rotating logs)."""
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _table_rows(client, run_id: str, path: str) -> pd.DataFrame:
    """An MLflow table artifact's rows (what `MlflowClient.load_table` reads, without its
    search through the process' global tracking URI)."""
    with tempfile.TemporaryDirectory() as directory:
        return pd.read_json(client.download_artifacts(run_id, path, directory), orient="split")


def _assert_tables_and_traces(tracker, runs) -> None:
    """Each trial run and the sweep run hold their table once as an MLflow table (JSON the UI
    previews), with every row, and each trial run one trace per answer (retriever and LLM
    spans, tokens); logging a trial's table and traces again, as a resumed trial does, adds no
    file, no row and no trace."""
    client = tracker.client()
    experiment_id = tracker.experiment_id()
    for run in runs:
        name = "per_question" if run.data.tags[TAG_KIND] == "trial" else "leaderboard"
        files = [info.path for info in client.list_artifacts(run.info.run_id, "tables")]
        assert files == [run.data.tags[f"dream.table.{name}"]], files
        # the UI finds a run's tables through this tag
        assert {"path": files[0], "type": "table"} in json.loads(run.data.tags["mlflow.loggedArtifacts"])
        with tempfile.TemporaryDirectory() as directory:
            stored = pd.read_parquet(client.download_artifacts(run.info.run_id, f"{name}.parquet", directory))
        assert len(_table_rows(client, run.info.run_id, files[0])) == len(stored) > 0
        if name == "per_question":
            tracker.log_trial(run.info.run_id, {}, {}, stored)
            assert [info.path for info in client.list_artifacts(run.info.run_id, "tables")] == files
            assert len(_table_rows(client, run.info.run_id, files[0])) == len(stored)
            traces = client.search_traces(locations=[experiment_id], run_id=run.info.run_id)
            assert len(traces) == int(stored["generated"].sum()) > 0
            spans = {span.name: span for span in traces[0].data.spans}
            assert {"rag_answer", "retrieve", "generate"} == set(spans) and spans["retrieve"].outputs
            assert log_answer_traces(tracker, run.info.run_id, stored, "again") == 0
