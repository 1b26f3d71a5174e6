import io
from pathlib import Path

import pytest
from pypdf import PdfWriter

from dream_assets.lib.documents.pypdf_parser import parse_pdf
from dream_assets.plugins.parsers import DocumentParseError
from dream_assets_tests import hostile_pdfs

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


BAIKAL = ROOT / "dream_assets_tests" / "data" / "non-english" / "baikal.pdf"


@pytest.mark.parametrize(
    ("path", "language", "expected"),
    [
        (NORMANS, "en", "Normandy"),
        (BAIKAL, "ru", "глубина составляет 1642"),
        (SAMPLES / "habibi.pdf", "", "حَبيبي"),  # 16 letters: too few to tell
        (SAMPLES / "pdfkit.pdf", "", "Foo: bar"),  # a header, not prose
        (SAMPLES / "minimal-document.pdf", "", "Lorem ipsum"),  # no language at all
    ],
)
def test_text_in_other_scripts_parses_with_its_language(path, language, expected):
    document = parse_pdf(path.stem, path.read_bytes())
    assert expected in document.text
    assert document.language == language


def test_what_readers_open_parses():
    good = hostile_pdfs.text_pdf("Readers open this file")
    for data in (hostile_pdfs.leading_junk(good), hostile_pdfs.empty_password(good)):
        assert parse_pdf("doc", data).text == "Readers open this file"


def test_junk_past_the_header_window_is_not_a_pdf():
    with pytest.raises(DocumentParseError) as error:
        parse_pdf("doc", hostile_pdfs.leading_junk(hostile_pdfs.text_pdf("late"), b" " * 2000))
    assert error.value.reason == "not_a_pdf" and "1024" in error.value.detail


@pytest.mark.parametrize(
    ("build", "reasons"),
    [
        (hostile_pdfs.flate_bomb, {"limit_reached"}),
        (hostile_pdfs.page_tree_cycle, {"corrupt", "no_text"}),
        (hostile_pdfs.nested_arrays, {"too_deeply_nested", "corrupt"}),
    ],
)
def test_hostile_structures_end_as_named_reasons(build, reasons):
    with pytest.raises(DocumentParseError) as error:
        parse_pdf("hostile", build())
    assert error.value.reason in reasons, error.value


def test_a_long_blank_pdf_counts_its_pages():
    with pytest.raises(DocumentParseError) as error:
        parse_pdf("blank", hostile_pdfs.blank_pages(2000))
    assert error.value.reason == "no_text" and error.value.pages == 2000
