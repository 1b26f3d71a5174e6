"""A node-local copy is checked against the object store's listing and downloaded again when
damaged or when its reader asks for a fresh one."""

from dream_assets.lib.node_local import download_once, intact
from dream_assets.lib.stores.object_store import ObjectStoreClient, ObjectStoreSettings


def test_a_damaged_copy_is_downloaded_again(tmp_path):
    store = ObjectStoreClient(ObjectStoreSettings(root=str(tmp_path / "store")))
    store.write_bytes("index/v1/manifest.json", b"{}")
    store.write_bytes("index/v1/data/part-0.bin", b"x" * 1000)
    copy = download_once(store, "index/v1", str(tmp_path / "scratch"), "manifest.json")
    assert intact(store, "index/v1", copy) and (copy / "data" / "part-0.bin").read_bytes() == b"x" * 1000
    (copy / "data" / "part-0.bin").write_bytes(b"x" * 10)  # truncated
    assert not intact(store, "index/v1", copy)
    assert (
        download_once(store, "index/v1", str(tmp_path / "scratch"), "manifest.json") / "data/part-0.bin"
    ).stat().st_size == 1000
    (copy / "data" / "part-0.bin").unlink()  # deleted
    download_once(store, "index/v1", str(tmp_path / "scratch"), "manifest.json")
    assert (copy / "data" / "part-0.bin").read_bytes() == b"x" * 1000
    (copy / "data" / "part-0.bin").write_bytes(b"y" * 1000)  # same size, other bytes: only a reader can tell
    assert intact(store, "index/v1", copy)
    download_once(store, "index/v1", str(tmp_path / "scratch"), "manifest.json", refresh=True)
    assert (copy / "data" / "part-0.bin").read_bytes() == b"x" * 1000
    assert sorted(path.name for path in copy.parent.iterdir()) == ["v1"]  # nothing set aside is left
