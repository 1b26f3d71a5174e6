"""The S3 implementations against a real S3 server (SeaweedFS on 127.0.0.1, started by the
session fixture), over the S3 protocol: the same code runs against MinIO or AWS S3."""

import pandas as pd
import pytest

from resources.object_store import S3ObjectStore

pytestmark = pytest.mark.integration


def _store(server, bucket: str, prefix: str = "dream") -> S3ObjectStore:
    return S3ObjectStore(
        bucket=bucket,
        prefix=prefix,
        endpoint_url=server.endpoint_url,
        access_key_id=server.access_key_id,
        secret_access_key=server.secret_access_key,
    )


def test_s3_object_store_round_trips(s3_server, s3_bucket, tmp_path):
    client, bucket = s3_bucket
    store = _store(s3_server, bucket).client()
    assert store.uri("a/b.bin") == f"s3://{bucket}/dream/a/b.bin"
    store.write_bytes("a/b.bin", b"xyz")
    store.write_json("a/Płock report.json", {"k": "ł"})
    store.write_parquet("t/f.parquet", pd.DataFrame({"ids": [["a", "b"], []]}))
    assert store.read_bytes("a/b.bin") == b"xyz"
    assert store.read_json("a/Płock report.json") == {"k": "ł"}
    assert store.read_parquet("t/f.parquet")["ids"].map(list).tolist() == [["a", "b"], []]
    listed = store.list("a")
    assert [info.key for info in listed] == ["a/Płock report.json", "a/b.bin"]  # sorted by key
    assert listed[1].size == 3 and listed[1].etag
    # what the server holds, seen through boto3: everything under the prefix, nothing outside
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == ["dream/a/Płock report.json", "dream/a/b.bin", "dream/t/f.parquet"]
    local = store.download_dir("a", tmp_path / "copy")
    store.upload_dir(local, "copied")
    assert store.read_bytes("copied/b.bin") == b"xyz"
    store.delete("a")
    assert store.list("a") == [] and not store.exists("a/b.bin")
    with pytest.raises(ValueError, match="object key"):
        store.write_bytes("../escape", b"x")
