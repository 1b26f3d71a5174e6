import pandas as pd
import pytest

from dream_assets.lib.stores.object_store import safe_key
from resources.object_store import LocalObjectStore


@pytest.mark.parametrize("key", ["", "/etc/passwd", "a/../../b", "..", "a\\b", "a\x00b"])
def test_keys_that_would_escape_the_root_are_refused(key):
    with pytest.raises(ValueError, match="object key"):
        safe_key(key)


def test_unicode_and_spaces_are_fine():
    assert safe_key("docs/Płock report.pdf") == "docs/Płock report.pdf"


def test_local_store_round_trips_bytes_json_parquet_and_folders(tmp_path):
    store = LocalObjectStore(root=str(tmp_path / "store")).client()
    store.write_bytes("a/b.bin", b"xyz")
    store.write_json("a/c.json", {"k": "ł"})
    frame = pd.DataFrame({"ids": [["a", "b"], []], "x": [1.0, 2.0]})
    store.write_parquet("t/f.parquet", frame)
    assert store.read_bytes("a/b.bin") == b"xyz"
    assert store.read_json("a/c.json") == {"k": "ł"}
    assert store.read_parquet("t/f.parquet")["ids"].map(list).tolist() == [["a", "b"], []]
    assert [info.key for info in store.list("a")] == ["a/b.bin", "a/c.json"]
    assert [info.size for info in store.list("a")][0] == 3
    assert not list((tmp_path / "store").rglob("*.tmp-*"))
    local = store.download_dir("a", tmp_path / "copy")
    store.upload_dir(local, "copied")
    assert store.read_bytes("copied/b.bin") == b"xyz"
    store.delete("a")
    assert store.list("a") == [] and not store.exists("a/b.bin")
    with pytest.raises(FileNotFoundError):
        store.download_dir("a", tmp_path / "none")


def test_every_pdf_gets_a_stable_readable_id_whatever_its_name(tmp_path):
    from resources.sources import DocumentSource

    for name in (
        "Normans.pdf",
        "Slug Collision.pdf",
        "slug_collision.PDF",
        "日本語の題名.pdf",
        "notes.txt",
        ".DS_Store",
    ):
        (tmp_path / name).write_bytes(b"%PDF-1.4")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "Normans.pdf").write_bytes(b"%PDF-1.4")
    listing = DocumentSource(uri=str(tmp_path)).list_documents()
    by_file = {info.key: document_id for document_id, info in listing.items()}
    assert len(by_file) == 6 and by_file["notes.txt"] == "notes"  # a text file is a document too
    assert ".DS_Store" not in by_file  # hidden files are not
    assert by_file["Slug Collision.pdf"] != by_file["slug_collision.PDF"]
    assert all(by_file[key].startswith("slug-collision-") for key in ("Slug Collision.pdf", "slug_collision.PDF"))
    assert by_file["日本語の題名.pdf"].startswith("document-")
    assert by_file["Normans.pdf"].startswith("normans-") and by_file["sub/Normans.pdf"].startswith("normans-")
    assert DocumentSource(uri=str(tmp_path)).list_documents().keys() == listing.keys()  # stable
    (tmp_path / "Other.pdf").write_bytes(b"%PDF-1.4")
    assert DocumentSource(uri=str(tmp_path)).list_documents()["other"].key == "Other.pdf"
