"""Limits checked before (or while) reading, never after reading whole: a stream copy stops at its
cap, and a zstd shard is measured by a streamed pass."""

import io

import pytest
import zstandard

from dream_assets.lib.bulk.ingestion import check_decompressed_size
from dream_assets.lib.stores.object_store import ObjectStoreClient, ObjectStoreSettings


def _store(tmp_path) -> ObjectStoreClient:
    return ObjectStoreClient(ObjectStoreSettings(root=str(tmp_path / "store")))


def test_a_stream_copy_stops_at_its_cap_and_stores_nothing(tmp_path):
    store = _store(tmp_path)
    size, digest = store.write_stream("a/ok.bin", io.BytesIO(b"x" * 3_000_000), max_bytes=3_000_000)
    assert size == 3_000_000 and store.read_bytes("a/ok.bin") == b"x" * 3_000_000 and len(digest) == 64
    with pytest.raises(ValueError, match="a/big.bin: more than 2000000 bytes"):
        store.write_stream("a/big.bin", io.BytesIO(b"x" * 3_000_000), max_bytes=2_000_000)
    assert [info.key for info in store.list("a")] == ["a/ok.bin"]  # no part, no temporary file left


def test_a_zstd_bomb_is_refused_by_a_streamed_count(tmp_path):
    store = _store(tmp_path)
    bomb = zstandard.ZstdCompressor(level=19).compress(b"\0" * 64_000_000)
    assert len(bomb) < 64_000  # a thousandfold
    store.write_bytes("shard.jsonl.zst", bomb)
    with pytest.raises(ValueError, match="decompresses to more than 10000000 bytes"):
        check_decompressed_size(store, "shard.jsonl.zst", 10_000_000)
    assert check_decompressed_size(store, "shard.jsonl.zst", 64_000_000) == 64_000_000
    store.write_bytes("broken.jsonl.zst", b"not zstd at all")
    with pytest.raises(ValueError, match="not valid zstd"):
        check_decompressed_size(store, "broken.jsonl.zst", 10_000_000)
