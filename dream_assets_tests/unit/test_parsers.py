"""The document parsers on real files: the bundled articles re-rendered as two-column pages and
paragraphs in tables (`dream_assets_tests.hard_documents`), DOCX and HTML copies, the producers'
samples, and files made to break them; the golden set's alignment into each parser's text."""

import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from dream_assets.hashing import slugify
from dream_assets.lib.documents.parsing import normalise_whitespace, parse_document
from dream_assets.lib.golden.alignment import align_context, align_contexts, alignment_counts
from dream_assets.plugins.parsers import PARSERS, DocumentParseError
from dream_assets.search_space import SearchSpace
from dream_assets_tests import hard_documents

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "pdf-samples"
ARTICLE = "1973_oil_crisis.pdf"
PDF_PARSERS = ["pypdf", "pdfium", "layout", "ocr"]


@pytest.fixture(scope="module")
def article():
    """(title, paragraphs) of one bundled article, whitespace-normalised as parsed text is."""
    title, paragraphs = hard_documents.articles()[ARTICLE]
    return title, [normalise_whitespace(p) for p in paragraphs]


def _found(text: str, paragraphs: list[str]) -> float:
    return sum(p in text for p in paragraphs) / len(paragraphs)


@pytest.mark.parametrize("parser", PDF_PARSERS)
def test_every_parser_reads_the_original_article(parser, article):
    data = (hard_documents.PDFS / ARTICLE).read_bytes()
    document = parse_document(parser, "oil", data, ARTICLE, sha256="abc")
    assert (document.parser, document.parser_version, document.sha256) == (parser, PARSERS.get(parser).version, "abc")
    assert document.language == "en" and len(document.page_starts) == 5
    assert _found(document.text, article[1]) >= 0.9  # the paragraphs come out whole and in order


def test_two_columns_are_read_one_after_the_other_without_running_lines(article):
    title, paragraphs = article
    data = hard_documents.two_column(title, hard_documents.articles()[ARTICLE][1])
    layout = parse_document("layout", "oil", data, "oil.pdf").text
    pypdf = parse_document("pypdf", "oil", data, "oil.pdf").text
    assert _found(layout, paragraphs) >= 0.9
    assert _found(pypdf, paragraphs) <= 0.2  # drawn row by row: the columns' lines interleave
    assert "DREAM hard copies" in pypdf and "DREAM hard copies" not in layout  # the running header
    assert "Page 2" in pypdf and "Page 2" not in layout


def test_paragraphs_in_a_ruled_table_come_out_as_a_markdown_table(article):
    title, paragraphs = article
    data = hard_documents.tables(title, hard_documents.articles()[ARTICLE][1])
    layout = parse_document("layout", "oil", data, "oil.pdf").text
    assert "| Part 3 | Part 4 | | --- | --- | |" in layout
    assert f"| {paragraphs[2]} | {paragraphs[3]} |" in layout  # each cell whole
    assert paragraphs[2] not in parse_document("pypdf", "oil", data, "oil.pdf").text  # interleaved with 3


@pytest.mark.parametrize("kind", ["docx", "html"])
def test_docx_and_html_are_converted_for_every_parser(kind, article):
    title, paragraphs = article
    name, data = hard_documents.copy(kind, ARTICLE, title, hard_documents.articles()[ARTICLE][1])
    texts = {parser: parse_document(parser, "oil", data, name).text for parser in ("pypdf", "layout")}
    assert texts["pypdf"] == texts["layout"]  # one converter, whatever the PDF parser
    assert _found(texts["pypdf"], paragraphs) >= 0.95


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("broken.docx", b"not a zip archive", "corrupt"),
        ("broken.pptx", b"PK but not really", "corrupt"),
        ("empty.html", b"", "empty_file"),
        ("marks.md", b"\xef\xbb\xbf---\n", "no_text"),
        ("table.xlsx", b"PK\x03\x04", "unsupported_format"),
        ("scan.pdf", b"%PDF-1.4 nothing else", "corrupt"),
    ],
)
def test_files_made_to_break_them_raise_a_named_reason(name, data, reason):
    for parser in ("pypdf", "layout"):
        with pytest.raises(DocumentParseError) as error:
            parse_document(parser, slugify(name.split(".")[0]), data, name)
        assert error.value.reason == reason, (parser, error.value)


def test_a_docx_whose_parts_are_damaged_is_corrupt_not_a_crash():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document><w:body>unclosed")
    with pytest.raises(DocumentParseError) as error:
        parse_document("pypdf", "damaged", out.getvalue(), "damaged.docx")
    assert error.value.reason in ("corrupt", "no_text")


@pytest.mark.parametrize("parser", PDF_PARSERS)
def test_every_parser_names_an_encrypted_pdf(parser):
    data = (SAMPLES / "libreoffice-writer-password.pdf").read_bytes()
    with pytest.raises(DocumentParseError) as error:
        parse_document(parser, "secret", data, "secret.pdf")
    assert error.value.reason == "encrypted"


def test_contexts_are_aligned_exactly_fuzzily_or_counted_missing():
    text = "The Normans came from Normandy. Rollo swore fealty to King Charles III of West Francia in 911."
    assert align_context("Rollo swore fealty", text)[3] == "exact"
    start, end, similarity, how = align_context("Rol1o swore fea1ty to King Charles", text)  # OCR's 1 for l
    assert how == "fuzzy" and 90 <= similarity < 100 and text[start:end].startswith("Rollo swore")
    assert align_context("The Yuan dynasty was founded by Kublai Khan.", text)[:2] == (-1, -1)
    contexts = pd.DataFrame(
        {
            "context_id": ["a:p0", "a:p1", "b:p0"],
            "document_id": ["a", "a", "b"],
            "start": [0, 0, 0],
            "end": [0, 0, 0],
            "text": ["Rollo swore fealty", "Rol1o swore fea1ty to King Charles", "anything"],
        }
    )
    from dream_assets.plugins.parsers import ParsedDocument

    aligned = align_contexts(contexts, {"a": ParsedDocument("a", "A", text)})  # b: quarantined by this parser
    assert alignment_counts(aligned) == {"exact": 1, "fuzzy": 1, "missing": 1}
    assert aligned.loc[2, ["start", "end", "text"]].tolist() == [-1, -1, ""]


def test_the_parser_is_a_search_dimension_whose_default_keeps_todays_keys():
    base = {"retrieval": [{"method": "chunks"}], "embedding_models": ["m"], "llms": ["l"], "top_k": [2]}
    today = SearchSpace.model_validate(base).configs()[0]
    both = SearchSpace.model_validate({**base, "parsers": ["pypdf", "layout"]}).configs()
    assert [config.key for config in both] == [today.key, f"{today.index_key}_p-layout_l_k2"]
    assert both[0].identity() == today.identity() and "parser" not in today.identity()
    assert both[1].params()["parser"] == "layout" and both[1].index_key.endswith("_p-layout")
    with pytest.raises(ValueError, match="unknown document parser 'tika'"):
        SearchSpace.model_validate({**base, "parsers": ["tika"]})


@pytest.mark.parametrize("parser", ["pdfium", "layout", "ocr"])
def test_every_parser_reads_the_producers_samples_as_pypdf_does(parser):
    """Real PDFs from LibreOffice, Google Docs, pdfkit, pdfLaTeX and others: each parser reads
    every page of each and finds most of pypdf's words (control characters gone). PDFium gives
    right-to-left Arabic in visual order (`habibi.pdf`: the word reversed); the others agree
    with pypdf's logical order."""
    for path in sorted(SAMPLES.glob("*.pdf")):
        if "password" in path.name:
            continue
        reference = parse_document("pypdf", "sample", path.read_bytes(), path.name)
        document = parse_document(parser, "sample", path.read_bytes(), path.name)
        assert len(document.page_starts) == len(reference.page_starts), path.name
        assert not any(ord(character) < 32 for character in document.text), path.name
        words = set(reference.text.split())
        found = len(words & set(document.text.split())) / len(words)
        if parser == "pdfium" and path.name == "habibi.pdf":
            assert "حَبيبي" not in document.text and "حَبيبي"[::-1] in document.text
        else:
            assert found >= 0.8, (path.name, found)
