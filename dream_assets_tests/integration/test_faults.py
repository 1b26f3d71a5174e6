"""Faults on real servers: the S3 server stops during ingestion; re-runs store everything once."""

import shutil
from pathlib import Path

import dagster as dg
import pytest

from dream_assets.definitions import build_definitions
from dream_assets.deployments import local_resources
from dream_assets_tests.chain import QUIET, RANGE, metadata, run_job, table_rows_of
from dream_assets_tests.servers import start_seaweedfs, stop
from resources.object_store import S3ObjectStore

pytestmark = pytest.mark.integration

PDFS = Path(__file__).resolve().parents[2] / "data" / "demo" / "squad" / "pdfs"


def test_s3_outage_fails_clearly_and_the_rerun_stores_each_document_once(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("Normans.pdf", "Force.pdf", "Warsaw.pdf"):
        shutil.copy(PDFS / name, inbox / name)
    server = start_seaweedfs(tmp_path / "s3")
    port = int(server.endpoint_url.rsplit(":", 1)[1])
    s3 = server.client()
    s3.create_bucket(Bucket="faults")
    resources = local_resources(tmp_path / "state", str(inbox))
    resources["object_store"] = S3ObjectStore(
        bucket="faults",
        endpoint_url=server.endpoint_url,
        access_key_id=server.access_key_id,
        secret_access_key=server.secret_access_key,
    )
    defs = build_definitions(resources)
    documents = ["force", "normans", "warsaw"]
    try:
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions("documents", documents)
            run_job(defs, instance, "ingest_job", ["force"])  # one document in before the outage
            stop(server.process)
            failed = defs.resolve_job_def("ingest_job").execute_in_process(
                instance=instance,
                tags=dict(zip(RANGE, ("force", "warsaw"), strict=True)),
                run_config=QUIET,
                raise_on_error=False,
            )
            assert not failed.success
            [failure] = [e for e in failed.all_events if e.event_type_value == "STEP_FAILURE"]
            assert "Could not connect to the endpoint URL" in str(failure.event_specific_data.error)
            assert f"127.0.0.1:{port}" in str(failure.event_specific_data.error)

            server = start_seaweedfs(tmp_path / "s3", port=port)  # same data, same address
            run_job(defs, instance, "ingest_job", documents)
            run_job(defs, instance, "ingest_job", documents)  # and once more: still no duplicate
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="faults")["Contents"])
        assert keys == sorted(
            [f"dream/source_documents/{d}/{d.capitalize()}.pdf" for d in documents]
            + [f"dream/parsed_documents/{d}.json" for d in documents]
        )
    finally:
        stop(server.process)


def test_postgres_restart_mid_write_fails_clearly_and_the_rerun_stores_each_node_once(
    monkeypatch, tmp_path, pdf_folder, models_dir, postgres_server, postgres_dsn
):
    import psycopg
    from llama_index.vector_stores.postgres import PGVectorStore

    from resources.vector_stores import PgVectorStore

    resources = local_resources(tmp_path / "state", str(pdf_folder))
    resources["vector_store"] = PgVectorStore(dsn=postgres_dsn)
    resources["embeddings"] = resources["embeddings"].model_copy(update={"models_dir": str(models_dir)})
    defs = build_definitions(resources)
    real_add = PGVectorStore.add

    def add_half_then_lose_the_server(self, nodes, **kwargs):
        real_add(self, nodes[: len(nodes) // 2])  # committed
        postgres_server.stop()
        return real_add(self, nodes[len(nodes) // 2 :])

    def table_rows() -> tuple[int, int]:
        with psycopg.connect(postgres_dsn) as connection:
            [table] = connection.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'data_chunks%'")
            query = f'SELECT count(*), count(DISTINCT node_id) FROM "{table[0]}"'  # noqa: S608 - name from pg_tables
            return connection.execute(query).fetchone()

    with dg.instance_for_test() as instance:
        documents = sorted(path.stem.lower() for path in pdf_folder.glob("*.pdf"))
        instance.add_dynamic_partitions("documents", documents)
        run_job(defs, instance, "ingest_job", documents)
        monkeypatch.setattr(PGVectorStore, "add", add_half_then_lose_the_server)
        failed = defs.resolve_job_def("index_job").execute_in_process(
            instance=instance,
            tags=dict(zip(RANGE, ("chunks256o32_minilm-l6",) * 2, strict=True)),
            run_config=QUIET,
            raise_on_error=False,
        )
        assert not failed.success
        [failure] = [e for e in failed.all_events if e.event_type_value == "STEP_FAILURE"]
        assert "127.0.0.1" in str(failure.event_specific_data.error)
        assert postgres_server.password not in str(failure.event_specific_data.error)

        monkeypatch.setattr(PGVectorStore, "add", real_add)
        postgres_server.start()
        stored, distinct = table_rows()
        assert 0 < stored == distinct  # the first half was committed before the server went down
        built = metadata(run_job(defs, instance, "index_job", ["chunks256o32_minilm-l6"]), "embedding_index")
        [index] = table_rows_of(built["indexes"])
        # the documents' shards were stored before the write failed: rewritten, not re-embedded
        assert (index["status"], built["embedded_nodes"]) == ("built", 0)
        assert table_rows() == (index["nodes"], index["nodes"]) and index["nodes"] > stored  # each node once
        again = metadata(run_job(defs, instance, "index_job", ["chunks256o32_minilm-l6"]), "embedding_index")
        assert again["embedded_nodes"] == 0 and table_rows() == (index["nodes"],) * 2


def test_an_mlflow_outage_mid_sweep_costs_no_trial_result_and_the_next_sweep_logs_the_queue(
    tmp_path, models_dir, s3_server, ray_session
):
    import threading
    import time

    from dream_assets import layout
    from dream_assets_tests.servers import start_mlflow
    from resources.tracking import MlflowTracker

    index = "chunks256o32_minilm-l6"
    configs = [f"{index}_gemma-3-270m_k2"]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(PDFS / "Normans.pdf", inbox / "Normans.pdf")
    s3_server.client().create_bucket(Bucket="mlflow-outage")
    uri, process = start_mlflow(tmp_path / "mlflow", s3_server, "mlflow-outage")
    resources = local_resources(tmp_path / "state", str(inbox))
    for name in ("embeddings", "llms"):
        resources[name] = resources[name].model_copy(update={"models_dir": str(models_dir)})
    resources["tracker"] = MlflowTracker(tracking_uri=uri, experiment_name="outage")
    defs = build_definitions(resources)
    store = resources["object_store"].client()
    sweep_config = {"ops": {"trial_evaluations": {"config": {"generation_sample_size": 4}}}}
    try:
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions("documents", ["normans"])
            run_job(defs, instance, "ingest_job", ["normans"])
            golden = {"ops": {"golden_dataset": {"config": {"questions_per_document": 4}}}}
            version = metadata(run_job(defs, instance, "golden_job", run_config=golden), "golden_dataset")["version"]
            run_job(defs, instance, "index_job", [index])

            def stop_mlflow_once_a_trial_answers():
                parts = layout.trial_key(version, configs[0]).removesuffix(".parquet") + ".parts"
                deadline = time.monotonic() + 600
                while not store.list(parts) and time.monotonic() < deadline:
                    time.sleep(0.05)
                stop(process)

            stopper = threading.Thread(target=stop_mlflow_once_a_trial_answers, daemon=True)
            stopper.start()
            sweep = metadata(run_job(defs, instance, "sweep_job", configs, sweep_config), "trial_evaluations")
            stopper.join()
            # the outage cost no result: the trial finished, its record waits in the queue
            assert (sweep["trials"], sweep["failed_trials"]) == (1, 0)
            assert sweep["mlflow_records_queued"] == 1
            for key in configs:
                assert store.exists(layout.trial_key(version, key).replace(".parquet", ".done.json"))
                assert store.exists(layout.mlflow_pending_key(version, key))

            port = int(uri.rsplit(":", 1)[1])
            uri, process = start_mlflow(tmp_path / "mlflow", s3_server, "mlflow-outage", port=port)
            again = metadata(run_job(defs, instance, "sweep_job", configs, sweep_config), "trial_evaluations")
        assert (again["skipped_trials"], again["mlflow_records_replayed"], again["mlflow_records_queued"]) == (1, 1, 0)
        tracker = resources["tracker"]
        runs = tracker.client().search_runs([tracker.experiment_id()], "tags.`dream.kind` = 'trial'")
        assert sorted(run.data.tags["dream.config_key"] for run in runs) == configs  # one run each, no duplicate
        for run in runs:
            key = run.data.tags["dream.config_key"]
            done = store.read_json(layout.trial_key(version, key).replace(".parquet", ".done.json"))
            assert run.data.metrics["mrr"] == pytest.approx(done["metrics"]["mrr"])
            assert run.info.status == "FINISHED"
    finally:
        stop(process)
