import os
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest

from dream_assets.defs.documents.sensors import new_document_sensor
from resources.sources import DocumentSource

PDFS = Path(__file__).resolve().parent.parent / "data" / "demo" / "squad" / "pdfs"


def _tick(instance, source, cursor):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"document_source": source})
    result = new_document_sensor(context)
    for request in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def test_sensor_requests_each_document_once_per_version(tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    source = DocumentSource(uri=str(folder))
    with dg.instance_for_test() as instance:
        assert _tick(instance, source, None).run_requests == []
        for name in ("Normans.pdf", "Force.pdf"):
            shutil.copy(PDFS / name, folder / name)
        first = _tick(instance, source, None)
        assert sorted(r.partition_key for r in first.run_requests) == ["force", "normans"]
        assert set(instance.get_dynamic_partitions("documents")) == {"force", "normans"}

        again = _tick(instance, source, first.cursor)
        assert again.run_requests == []

        time.sleep(0.01)
        shutil.copy(PDFS / "Warsaw.pdf", folder / "Normans.pdf")  # overwritten with new content
        os.utime(folder / "Normans.pdf")
        changed = _tick(instance, source, again.cursor)
        assert [r.partition_key for r in changed.run_requests] == ["normans"]
        assert changed.run_requests[0].run_key != first.run_requests[1].run_key

        (folder / "Force.pdf").unlink()
        after_delete = _tick(instance, source, changed.cursor)
        assert after_delete.run_requests == []
        assert "force" not in after_delete.cursor


@pytest.mark.integration
def test_sensor_on_an_s3_prefix_requests_each_object_once_per_etag(s3_server, s3_bucket):
    client, bucket = s3_bucket
    source = DocumentSource(
        uri=f"s3://{bucket}/inbox",
        endpoint_url=s3_server.endpoint_url,
        access_key_id=s3_server.access_key_id,
        secret_access_key=s3_server.secret_access_key,
    )
    with dg.instance_for_test() as instance:
        for name in ("Normans.pdf", "Force.pdf"):
            client.put_object(Bucket=bucket, Key=f"inbox/{name}", Body=(PDFS / name).read_bytes())
        client.put_object(Bucket=bucket, Key="elsewhere/Warsaw.pdf", Body=(PDFS / "Warsaw.pdf").read_bytes())
        first = _tick(instance, source, None)
        assert sorted(r.partition_key for r in first.run_requests) == ["force", "normans"]
        assert _tick(instance, source, first.cursor).run_requests == []
        client.put_object(Bucket=bucket, Key="inbox/Normans.pdf", Body=(PDFS / "Warsaw.pdf").read_bytes())
        changed = _tick(instance, source, first.cursor)
        assert [r.partition_key for r in changed.run_requests] == ["normans"]
        assert source.read(source.list_documents()["normans"]) == (PDFS / "Warsaw.pdf").read_bytes()
        assert len({r.run_key for r in [*first.run_requests, *changed.run_requests]}) == 3
        client.delete_object(Bucket=bucket, Key="inbox/Force.pdf")
        deleted = _tick(instance, source, changed.cursor)
        assert deleted.run_requests == [] and "force" not in deleted.cursor
