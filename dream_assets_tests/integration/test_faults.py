"""Faults on real servers: the S3 server stops during ingestion; re-runs store everything once."""

import shutil
from pathlib import Path

import dagster as dg
import pytest

from dream_assets.definitions import build_definitions, local_resources
from dream_assets_tests.chain import QUIET, RANGE, run_job
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
            [f"dream/source_pdfs/{d}.pdf" for d in documents] + [f"dream/parsed_documents/{d}.json" for d in documents]
        )
    finally:
        stop(server.process)
