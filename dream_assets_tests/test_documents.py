"""The document assets keep every good PDF flowing and quarantine each bad one with its reason."""

import shutil
from pathlib import Path

import dagster as dg

from dream_assets import layout
from dream_assets.definitions import build_definitions
from dream_assets.deployments import local_resources
from dream_assets_tests import hostile_pdfs
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
        documents = sorted(resources["document_source"].list_documents())
        assert documents == ["cut", "empty", "four-pages", "habibi", "locked", "notes", "scan"]
        instance.add_dynamic_partitions("documents", documents)
        config = {"ops": {"source_documents": {"config": {"max_bytes": 20_000}}}}
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


NORMANS = Path(__file__).resolve().parents[1] / "data" / "demo" / "squad" / "pdfs" / "Normans.pdf"
BAIKAL = Path(__file__).resolve().parent / "data" / "non-english" / "baikal.pdf"


def _hostile_inbox(inbox: Path) -> tuple[dict[str, str], set[str]]:
    """Hostile files next to good real ones; returns (good file name: text it holds, bad names)."""
    good = {
        "Normans.pdf": "Normandy",
        "habibi.pdf": "حَبيبي",
        "Байкал.pdf": "Ольхон",  # Cyrillic name and text
        "東京.pdf": "Tokyo is the capital of Japan",  # a name without one ASCII letter
        "Slug Collision.pdf": "The first of two colliding names",
        "slug_collision.pdf": "The second of two colliding names",
        "junk.pdf": "Bytes before the header",
        "open.pdf": "Encrypted with an empty user password",
    }
    files = {
        "Normans.pdf": NORMANS.read_bytes(),
        "habibi.pdf": (SAMPLES / "habibi.pdf").read_bytes(),
        "Байкал.pdf": BAIKAL.read_bytes(),
        **{name: hostile_pdfs.text_pdf(text) for name, text in list(good.items())[3:6]},
        "junk.pdf": hostile_pdfs.leading_junk(hostile_pdfs.text_pdf(good["junk.pdf"])),
        "open.pdf": hostile_pdfs.empty_password(hostile_pdfs.text_pdf(good["open.pdf"])),
        "bomb.pdf": hostile_pdfs.flate_bomb(),
        "cycle.pdf": hostile_pdfs.page_tree_cycle(),
        "nested.pdf": hostile_pdfs.nested_arrays(),
        "blank-2000.pdf": hostile_pdfs.blank_pages(2000),
    }
    for name, data in files.items():
        (inbox / name).write_bytes(data)
    (inbox / "gone.pdf").symlink_to(inbox / "deleted since.pdf")  # listed, then unreadable
    return good, {*files, "gone.pdf"} - set(good)


def test_hostile_files_are_quarantined_once_and_every_good_document_parses(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    good, bad = _hostile_inbox(inbox)
    resources = local_resources(tmp_path / "state", str(inbox))
    defs = build_definitions(resources)
    store = resources["object_store"].client()
    listing = resources["document_source"].list_documents()
    by_file = {info.key: document_id for document_id, info in listing.items()}
    assert set(by_file) == {*good, *bad}
    assert len(set(by_file.values())) == len(by_file)  # unique ids
    timeout = 20
    config = {"ops": {"parsed_documents": {"config": {"timeout_seconds": timeout}}}}
    runs = []
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("documents", sorted(listing))
        for _ in range(2):  # a re-run lists the same ids and leaves one record per bad file
            assert {info.key: i for i, info in resources["document_source"].list_documents().items()} == by_file
            result = run_job(defs, instance, "ingest_job", sorted(listing), config)
            (check,) = result.get_asset_check_evaluations()
            assert check.check_name == "parsed_documents_are_not_quarantined" and not check.passed
            assert check.severity == dg.AssetCheckSeverity.WARN and check.metadata["quarantined"].value == len(bad)
            runs.append(metadata(result, "parsed_documents"))
    for parsed in runs:
        assert parsed["parsed"] == len(good) and parsed["quarantined"] == len(bad)
        assert parsed["max_parse_seconds"] <= timeout + 5
    records = {info.key.rsplit("/", 1)[-1].removesuffix(".json") for info in store.list("quarantine")}
    assert records == {by_file[name] for name in bad}
    for name in bad:
        record = store.read_json(layout.quarantine_key(by_file[name]))
        assert record["reason"] and record["detail"] and record["seconds"] <= timeout + 5, record
    assert store.read_json(layout.quarantine_key(by_file["blank-2000.pdf"]))["pages"] == 2000
    assert store.read_json(layout.quarantine_key(by_file["gone.pdf"]))["reason"] == "unreadable"
    for name, text in good.items():
        assert text in store.read_json(layout.parsed_document_key(by_file[name]))["text"], name
    assert by_file["Slug Collision.pdf"] != by_file["slug_collision.pdf"]
    assert by_file["東京.pdf"].startswith("document-")


def test_each_parser_of_the_search_space_parses_each_document_once(tmp_path):
    from dream_assets.search_space import SearchSpace, load_search_space
    from dream_assets_tests import hard_documents

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(NORMANS, inbox / "Normans.pdf")
    name, data = hard_documents.copy("docx", "Force.pdf", *hard_documents.articles()["Force.pdf"])
    (inbox / name).write_bytes(data)
    space = SearchSpace.model_validate({**load_search_space().model_dump(mode="json"), "parsers": ["pypdf", "layout"]})
    resources = local_resources(tmp_path / "state", str(inbox))
    defs = build_definitions(resources, search_space=space)
    store = resources["object_store"].client()
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("documents", ["force", "normans"])
        first = metadata(run_job(defs, instance, "ingest_job", ["force", "normans"]), "parsed_documents")
        written = {
            key: store.read_bytes(key)
            for key in ("parsed_documents/normans.json", "parsed_documents/layout/force.json")
        }
        again = metadata(run_job(defs, instance, "ingest_job", ["force", "normans"]), "parsed_documents")
    assert (first["parsed"], first["reused"], first["quarantined"]) == (4, 0, 0)
    assert (again["parsed"], again["reused"]) == (4, 4)  # same bytes, same parser versions: nothing parsed
    assert all(store.read_bytes(key) == data for key, data in written.items())
    layout_normans = store.read_json(layout.parsed_document_key("normans", "layout"))
    assert (
        layout_normans["parser"] == "layout"
        and layout_normans["sha256"] == store.read_json(layout.parsed_document_key("normans"))["sha256"]
    )
    assert store.list(layout.source_document_prefix("force"))[0].key.endswith("Force.docx")


BIG_PDF_RUN = """
import json, sys
from pathlib import Path
import dagster as dg
from dream_assets.definitions import build_definitions
from dream_assets.deployments import local_resources
from dream_assets_tests.chain import metadata, run_job
inbox, state = Path(sys.argv[1]), Path(sys.argv[2])
resources = local_resources(state, str(inbox))
defs = build_definitions(resources)
with dg.instance_for_test() as instance:
    documents = sorted(resources["document_source"].list_documents())
    instance.add_dynamic_partitions("documents", documents)
    parsed = metadata(run_job(defs, instance, "ingest_job", documents), "parsed_documents")
# this process' own high-water mark (VmHWM: its memory map's, new at exec; getrusage's ru_maxrss
# would carry the forking pytest process' peak across exec)
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")][0]
peak = int(hwm.split()[1]) * 1024
print(json.dumps({"peak_rss_bytes": peak, "quarantined": parsed["quarantine_reasons"], "parsed": parsed["parsed"]}))
"""


def test_a_pdf_larger_than_the_limit_is_quarantined_unread(tmp_path):
    import json
    import subprocess
    import sys

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(SAMPLES / "habibi.pdf", inbox / "habibi.pdf")
    big = inbox / "huge scan.pdf"
    with open(big, "wb") as file:  # 6 GiB listed, sparse: no disk used, 6 GiB of memory if read
        file.write(b"%PDF-1.7\n")
        file.truncate(6 * 1024**3)
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", BIG_PDF_RUN, str(inbox), str(tmp_path / "state")],
        capture_output=True, text=True, cwd=root, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["parsed"] == 1
    assert report["quarantined"] == {"huge-scan": f"too_large: {6 * 1024**3} bytes > max_bytes {50 * 1024**2}"}
    assert report["peak_rss_bytes"] < 1.5 * 1024**3  # far below the file's 6 GiB: not a byte read
