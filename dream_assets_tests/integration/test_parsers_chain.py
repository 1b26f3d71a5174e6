"""Documents as users have them, through `dream run --source DIR` as a user runs it: a DOCX, an
HTML page and a scanned PDF (no text layer) of three bundled articles, beside files of each new
type that nobody can read; a sweep over two parsers, OCR first (the golden set is built on its
text) and pypdf.

What must show: every readable document flows through the chain; each unreadable file is
quarantined once with its reason; pypdf quarantines the scan, OCR reads it and its questions are
retrieved; the sweep yields one index and one golden alignment per parser, the parser in each
trial's key and on the leaderboard."""

import json
import shutil

import pandas as pd
import pytest

from dream_assets_tests import hard_documents
from dream_assets_tests.integration.test_cli import dream, new_home

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("tesseract") is None, reason="Tesseract is not installed (make install installs it)"
    ),
]

SEARCH_SPACE = """
parsers: [ocr, pypdf]
retrieval:
  - {method: sentence_window, window_size: 2}
embedding_models: [all-MiniLM-L6-v2]
llms: [gemma-3-270m]
top_k: [4]
"""
DOCX, HTML, SCAN = "Normans.pdf", "Packet_switching.pdf", "1973_oil_crisis.pdf"
BROKEN = {
    "broken_letter.docx": (b"not a zip archive", "corrupt"),
    "broken_slides.pptx": (b"PK\x03\x04 not really", "corrupt"),
    "blank.html": (b"<html><body>   </body></html>", "no_text"),
    "empty.md": (b"", "empty_file"),
    "figures.xlsx": (b"PK\x03\x04", "unsupported_format"),
}


@pytest.fixture(scope="module")
def parsers_run(tmp_path_factory, models_dir):
    root = tmp_path_factory.mktemp("parsers")
    source = root / "my documents"
    source.mkdir()
    articles = hard_documents.articles()
    for kind, name in (("docx", DOCX), ("html", HTML)):
        file_name, data = hard_documents.copy(kind, name, *articles[name])
        (source / file_name).write_bytes(data)
    # the scan's first two pages: a scanner's PDF has no text layer
    (source / SCAN).write_bytes(hard_documents.scan((hard_documents.PDFS / SCAN).read_bytes(), seed=1, pages=2))
    for name, (data, _) in BROKEN.items():
        (source / name).write_bytes(data)
    home = new_home(root / "home", models_dir, SEARCH_SPACE)
    run = dream(home, "run", "--source", str(source), "--search-space", str(home / "search_space.yaml"),
                "--golden", "human", "--generation-sample-size", "2", "--judge-llm", "")  # fmt: skip
    return home, source, run


def _store(home):
    return home / "object_store"


def test_docx_html_and_a_scan_flow_through_and_unreadable_files_are_quarantined_once(parsers_run):
    home, _, run = parsers_run
    assert run.returncode == 0, run.stderr[-3000:]
    store = _store(home)
    for name, (_, reason) in BROKEN.items():
        document = name.split(".")[0].replace("_", "-")
        records = [json.loads(path.read_text()) for path in store.glob(f"quarantine/**/{document}.json")]
        assert {record["reason"] for record in records} == {reason}, name
        assert len(records) == 2  # once per parser: the file is no better for either
    # pypdf quarantines the scan (no text layer); OCR reads it, page by page, with its confidence
    assert json.loads((store / "quarantine" / "1973-oil-crisis.json").read_text())["reason"] == "no_text"
    scan = json.loads((store / "parsed_documents" / "ocr" / "1973-oil-crisis.json").read_text())
    assert len(scan["page_confidence"]) == 2 and all(0.8 < value <= 1 for value in scan["page_confidence"])
    assert "Organization of Arab Petroleum Exporting Countries" in scan["text"]
    for document in ("normans", "packet-switching"):  # DOCX and HTML: both parsers read them
        for folder in ("parsed_documents", "parsed_documents/ocr"):
            assert (store / folder / f"{document}.json").exists(), (folder, document)


def test_two_parsers_yield_two_indexes_per_parser_alignments_and_the_parser_on_the_leaderboard(parsers_run):
    home, _, run = parsers_run
    store = _store(home)
    indexes = sorted(path.name for path in (store / "embedding_index").iterdir())
    assert indexes == ["window2_minilm-l6", "window2_minilm-l6_p-ocr"]
    [prefix] = [path for path in (store / "golden_dataset").iterdir() if path.is_dir()]
    questions = pd.read_parquet(prefix / "questions.parquet")
    assert set(questions["document_id"]) == {"normans", "packet-switching", "1973-oil-crisis"}
    contexts = pd.read_parquet(prefix / "contexts.parquet")  # the golden parser's (OCR) text
    aligned = pd.read_parquet(prefix / "contexts.pypdf.parquet")
    scanned = aligned["document_id"] == "1973-oil-crisis"
    assert (aligned.loc[scanned, "alignment"] == "missing").all()  # pypdf has no text of the scan
    assert (aligned.loc[~scanned, "alignment"] != "missing").mean() >= 0.95
    assert len(aligned) == len(contexts)
    [board_path] = (store / "experiment_leaderboard").glob("*/leaderboard.parquet")
    board = pd.read_parquet(board_path).set_index("parser")
    assert sorted(board.index) == ["ocr", "pypdf"] and (board["status"] == "ok").all()
    assert board.loc["ocr", "config_key"] == "window2_minilm-l6_p-ocr_gemma-3-270m_k4"
    assert board.loc["pypdf", "config_key"] == "window2_minilm-l6_gemma-3-270m_k4"
    [header] = [line for line in run.stdout.splitlines() if line.split()[:3] == ["#", "tier", "configuration"]]
    assert "parser" in header.split()  # the parser is a dimension of this sweep: the terminal table shows it


def test_the_scan_s_questions_are_retrieved_by_ocr_and_missed_by_pypdf(parsers_run):
    home, _, _ = parsers_run
    tables = {path.stem: pd.read_parquet(path) for path in (_store(home) / "trial_evaluations").glob("*/*.parquet")}
    ocr, pypdf = tables["window2_minilm-l6_p-ocr_gemma-3-270m_k4"], tables["window2_minilm-l6_gemma-3-270m_k4"]
    on_scan = ocr["document_id"] == "1973-oil-crisis"
    assert on_scan.sum() >= 10 and ocr.loc[on_scan, "hit_rate"].mean() >= 0.6
    assert pypdf.loc[pypdf["document_id"] == "1973-oil-crisis", "hit_rate"].fillna(0).eq(0).all()
