from pathlib import Path

import pytest

from dream_assets.lib.parsing import DocumentParseError, parse_pdf

ROOT = Path(__file__).resolve().parents[2]
NORMANS = ROOT / "data" / "demo" / "squad" / "pdfs" / "Normans.pdf"
ENCRYPTED = ROOT / "dream_assets_tests" / "data" / "encrypted.pdf"


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
