"""The document assets keep every good PDF flowing and quarantine each bad one with its reason."""

import shutil
from pathlib import Path

import dagster as dg

from dream_assets import layout
from dream_assets.definitions import build_definitions, local_resources
from dream_assets_tests.chain import metadata, run_job
from dream_assets_tests.unit.test_parsing import _blank_pdf

SAMPLES = Path(__file__).resolve().parent / "data" / "pdf-samples"


def test_bad_pdfs_are_quarantined_and_good_ones_parsed(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(SAMPLES / "habibi.pdf", inbox / "habibi.pdf")  # 15 kB, right-to-left text
    shutil.copy(SAMPLES / "pdflatex-4-pages.pdf", inbox / "four pages.pdf")  # 25 kB > max_bytes
    shutil.copy(SAMPLES / "libreoffice-writer-password.pdf", inbox / "locked.pdf")
    (inbox / "scan.pdf").write_bytes(_blank_pdf())
    (inbox / "empty.pdf").write_bytes(b"")
    (inbox / "notes.pdf").write_bytes("plain text, ünïcode".encode())
    (inbox / "cut.pdf").write_bytes((SAMPLES / "habibi.pdf").read_bytes()[:4000])  # truncated download
    resources = local_resources(tmp_path / "state", str(inbox))
    defs = build_definitions(resources)
    store = resources["object_store"].client()
    with dg.instance_for_test() as instance:
        documents = sorted(resources["pdf_source"].list_pdfs())
        assert documents == ["cut", "empty", "four-pages", "habibi", "locked", "notes", "scan"]
        instance.add_dynamic_partitions("documents", documents)
        config = {"ops": {"parsed_documents": {"config": {"max_bytes": 20_000}}}}
        parsed = metadata(run_job(defs, instance, "ingest_job", documents, config), "parsed_documents")
    reasons = {doc: reason.split(":")[0] for doc, reason in parsed["quarantine_reasons"].items()}
    assert reasons == {
        "cut": "corrupt",
        "empty": "empty_file",
        "four-pages": "too_large",
        "locked": "encrypted",
        "notes": "not_a_pdf",
        "scan": "no_text",
    }
    assert parsed["parsed"] == 1
    assert "habibi" in store.read_json(layout.parsed_document_key("habibi"))["text"]
    for document in reasons:
        assert store.read_json(layout.quarantine_key(document))["reason"] == reasons[document]
        assert not store.exists(layout.parsed_document_key(document))
