import io
from pathlib import Path

import pytest
from pypdf import PdfWriter

from dream_assets.lib.parsing import DocumentParseError, parse_pdf

ROOT = Path(__file__).resolve().parents[2]
NORMANS = ROOT / "data" / "demo" / "squad" / "pdfs" / "Normans.pdf"
SAMPLES = ROOT / "dream_assets_tests" / "data" / "pdf-samples"
ENCRYPTED = SAMPLES / "libreoffice-writer-password.pdf"


def test_parse_real_pdf_gives_normalised_text_and_page_offsets():
    document = parse_pdf("normans", NORMANS.read_bytes(), "abc")
    assert document.title == "Normans"
    assert document.text.startswith("Normans The Normans (Norman: Nourmands;")
    assert "\n" not in document.text and "  " not in document.text
    assert document.page_starts[0] == 0 and len(document.page_starts) == 6
    assert all(document.text[start - 1] == " " for start in document.page_starts[1:])


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty_file"),
        (b"hello, not a pdf", "not_a_pdf"),
        (NORMANS.read_bytes()[:2000], "corrupt"),
        (ENCRYPTED.read_bytes(), "encrypted"),
    ],
)
def test_bad_pdfs_raise_a_named_reason(data, reason):
    with pytest.raises(DocumentParseError) as error:
        parse_pdf("bad", data)
    assert error.value.reason == reason
    assert "bad" in str(error.value)


def _blank_pdf() -> bytes:
    """A valid PDF whose only page has no text (as a scanned, image-only page has none)."""
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_a_pdf_without_text_is_refused_with_its_reason():
    with pytest.raises(DocumentParseError) as error:
        parse_pdf("scan", _blank_pdf())
    assert error.value.reason == "no_text"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("002-trivial-libre-office-writer.pdf", "Lorem ipsum dolor sit amet"),
        ("google-doc-document.pdf", "Beautiful is better than ugly"),
        ("habibi.pdf", "حَبيبي habibi"),  # right-to-left Arabic, non-Latin text
        ("minimal-document.pdf", "Lorem ipsum"),
        ("multicolumn.pdf", "Two-Column Document"),
        ("pdfkit.pdf", "Foo: bar"),
        ("pdflatex-4-pages.pdf", "here is some text without a meaning"),
        ("pdflatex-outline.pdf", "Contents 1 Foo"),
    ],
)
def test_real_world_pdfs_from_many_producers_parse(name, expected):
    document = parse_pdf(name, (SAMPLES / name).read_bytes())
    assert expected in document.text
