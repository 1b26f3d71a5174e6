"""The bulk ingestion pipeline end to end on real text (SQuAD paragraphs in OSCAR 23.01 layout),
through Ray Data on the multi-node Ray cluster with Parquet in the S3 server, and the real
PostgreSQL + pgvector server; a corrupt shard on local Ray."""

import json
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from dream_assets import layout
from dream_assets.definitions import build_definitions
from dream_assets.defs.ingestion.stores import oscar_tables
from dream_assets.deployments import local_resources
from dream_assets.lib.bulk.ingestion import read_embeddings
from dream_assets.lib.bulk.oscar import squad_paragraph_records, write_shards
from dream_assets.lib.models.embeddings import make_embedding
from dream_assets_tests.chain import QUIET, RANGE, metadata, run_job
from resources.object_store import S3ObjectStore
from resources.ray_cluster import RayCluster
from resources.sources import OscarSource
from resources.vector_stores import PgVectorStore

pytestmark = pytest.mark.integration

SQUAD = Path(__file__).resolve().parents[2] / "data" / "demo" / "squad" / "dev-v2.0.json"
MODEL = "all-MiniLM-L6-v2"


@pytest.fixture
def shards(tmp_path) -> Path:
    """Two shards of 40 real paragraphs (the Normans article first), plus a malformed line, a
    record in another language and one flagged `noisy`, appended to the first shard uncompressed."""
    records = squad_paragraph_records(SQUAD)[:40]
    folder = tmp_path / "oscar"
    first, _ = write_shards(records, folder, 2, compress=False)
    french = json.loads(json.dumps(records[1]))
    french["warc_headers"]["warc-record-id"] = "<urn:uuid:00000000-0000-0000-0000-00000000f7e5>"
    french["metadata"]["identification"] = {"label": "fr", "prob": 0.98}
    noisy = json.loads(json.dumps(records[3]))
    noisy["warc_headers"]["warc-record-id"] = "<urn:uuid:00000000-0000-0000-0000-0000000000aa>"
    noisy["metadata"]["quality_warnings"] = ["noisy"]
    with first.open("a") as file:
        file.write('{"content": "cut off mid-record", "warc_headers": {\n')
        file.write(json.dumps(french) + "\n" + json.dumps(noisy) + "\n")
    return folder


def test_oscar_pipeline_loads_each_chunk_once_and_finds_the_planted_answer(
    tmp_path, shards, models_dir, postgres_dsn, s3_server, s3_bucket, ray_head, ray_session
):
    _, bucket = s3_bucket
    resources = local_resources(tmp_path / "state", str(tmp_path / "unused"))
    resources.update(
        object_store=S3ObjectStore(
            bucket=bucket,
            endpoint_url=s3_server.endpoint_url,
            access_key_id=s3_server.access_key_id,
            secret_access_key=s3_server.secret_access_key,
        ),
        ray_cluster=RayCluster(
            address=ray_head.address, storage_path=str(tmp_path / "ray_results"), scratch_dir=str(tmp_path / "scratch")
        ),
        oscar_source=OscarSource(uri=str(shards)),
        pgvector=PgVectorStore(dsn=postgres_dsn),
        embeddings=resources["embeddings"].model_copy(update={"models_dir": str(models_dir)}),
    )
    defs = build_definitions(resources)
    config = {"ops": {"oscar_embeddings": {"config": {"model": MODEL, "actors": 2, "batch_size": 16}}}}
    store = resources["object_store"].client()
    tables = oscar_tables(MODEL)
    with dg.instance_for_test() as instance:
        shard_ids = sorted(resources["oscar_source"].list_shards())
        assert shard_ids == ["en-meta-1", "en-meta-2"]
        instance.add_dynamic_partitions("oscar_shards", shard_ids)
        result = run_job(defs, instance, "oscar_ingest_job", shard_ids, config)
        parsed = metadata(result, "oscar_parquet")
        assert parsed["lines"] == 43 and parsed["records"] + parsed["rejected"] == 43
        assert parsed["rejected_by_reason"]["malformed_json"] == 1
        assert parsed["rejected_by_reason"]["language"] == 1
        assert parsed["rejected_by_reason"]["quality_warning"] >= 1  # the planted noisy record, and short ones
        chunks, vectors = read_embeddings(store, "oscar/embeddings")
        assert chunks["chunk_id"].is_unique and vectors.shape == (len(chunks), 384)
        assert all(
            cid == f"{rid}:{off}" for cid, rid, off in chunks[["chunk_id", "record_id", "offset"]].itertuples(False)
        )
        # Ray Data's tasks (reading, chunking, the embedding actors' batches) ran on both workers
        # (its zero-CPU bookkeeping tasks on the head too)
        placement = ray_head.nodes_that_ran("", at_least=2)
        assert {node.name for node in ray_head.workers} <= set(placement), placement
        loaded = metadata(result, "pgvector_index")
        assert loaded["rows_in_table"] == len(chunks) == metadata(result, "oscar_chunks")["chunks"]
        assert loaded["bulk_load"] is True  # an empty table: indexes built after the COPY

        # the planted query: a SQuAD question whose answer paragraph is in the first shard
        normans = {r for r, u in chunks[["record_id", "url"]].itertuples(False) if u.endswith("Normans#paragraph-0")}
        model = make_embedding(resources["embeddings"].settings_for(MODEL))
        question = model.get_query_embedding("In what country is Normandy located?")
        pgvector = resources["pgvector"]
        for table in (tables["hnsw"], tables["ivfflat"]):
            found = [chunk_id.rsplit(":", 1)[0] for chunk_id, _ in pgvector.query(table, question, k=10, probes=10)]
            assert normans & set(found), table

        # a re-run stores nothing twice: same rows, same Parquet files
        files = sorted(info.key for info in store.list("oscar"))
        again = run_job(defs, instance, "oscar_ingest_job", shard_ids, config)
        assert metadata(again, "pgvector_index")["rows_in_table"] == len(chunks)
        assert len(read_embeddings(store, "oscar/embeddings")[0]) == len(chunks)
        assert len(sorted(info.key for info in store.list("oscar"))) == len(files)
        with psycopg.connect(postgres_dsn) as connection:
            for table in (tables["hnsw"], tables["ivfflat"]):
                query = sql.SQL("SELECT count(*), count(DISTINCT id) FROM {}").format(sql.Identifier(table))
                assert connection.execute(query).fetchone() == (len(chunks), len(chunks))
            # the re-load dropped and rebuilt both indexes: they are there again
            names = {row[0] for row in connection.execute("SELECT indexname FROM pg_indexes")}
            assert {f"{tables['hnsw']}_hnsw_cosine", f"{tables['ivfflat']}_ivfflat_cosine"} <= names

        bench_config = {"ops": {"vector_query_benchmark": {"config": {"questions": 30, "clients": 2}}}}
        bench = metadata(
            run_job(defs, instance, "vector_benchmark_job", run_config=bench_config), "vector_query_benchmark"
        )
    results = store.read_parquet("oscar/benchmark/results.parquet")
    assert bench["questions"] == 30 and len(results) == 6
    assert results["recall@10"].between(0, 1).all()
    assert results.loc[results["setting"] == "ef_search=100", "recall@10"].item() >= 0.9
    assert (results["p50_ms"] <= results["p99_ms"]).all() and (results["qps_1_client"] > 0).all()
    assert store.exists(layout.oscar_rejects_key("en-meta-1"))


def test_a_corrupt_shard_is_reported_and_the_good_one_is_written(tmp_path, ray_session):
    folder = tmp_path / "oscar"
    write_shards(squad_paragraph_records(SQUAD)[:6], folder, 1)
    (folder / "en_meta_9.jsonl.zst").write_bytes(b"\x28\xb5\x2f\xfd" + b"not really zstd" * 10)
    resources = local_resources(tmp_path / "state", str(tmp_path / "unused"))
    resources["oscar_source"] = OscarSource(uri=str(folder))
    resources["pgvector"] = PgVectorStore(dsn="postgresql://unused@127.0.0.1:9/never")  # never reached
    defs = build_definitions(resources)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("oscar_shards", ["en-meta-1", "en-meta-9"])
        result = defs.resolve_job_def("oscar_ingest_job").execute_in_process(
            instance=instance, tags=dict(zip(RANGE, ("en-meta-1", "en-meta-9"), strict=True)), run_config=QUIET,
            raise_on_error=False,
        )  # fmt: skip
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_key == "oscar_parquet"
    assert "en-meta-9" in failure.event_specific_data.error.message
    assert "en-meta-9" in failure.event_specific_data.user_failure_data.metadata["failed_shards"].value
    store = resources["object_store"].client()
    assert store.list(layout.oscar_records_prefix("en-meta-1")) and store.exists(layout.oscar_rejects_key("en-meta-1"))
    assert not store.list(layout.oscar_records_prefix("en-meta-9"))
