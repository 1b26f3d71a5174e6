"""PDF parsing: bytes of one PDF in, one whitespace-normalised text with page offsets out.

Pure logic (no Dagster, no IO): the `parsed_documents` asset reads the bytes from the object
store and writes what `parse_pdf` returns.
"""

from __future__ import annotations

import io
import re
from dataclasses import asdict, dataclass, field

from pypdf import PdfReader
from pypdf.errors import PdfReadError

_WHITESPACE = re.compile(r"\s+")


class DocumentParseError(ValueError):
    """A PDF that cannot be turned into text; `reason` is a short machine-readable code."""

    def __init__(self, document_id: str, reason: str, detail: str) -> None:
        super().__init__(f"{document_id}: {reason}: {detail}")
        self.document_id = document_id
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ParsedDocument:
    """One parsed document.

    Attributes:
        document_id: the document's partition key (a slug of its file name).
        title: the first line of the first page, or the document id when that is empty.
        text: the text of every page, whitespace runs collapsed to one space, pages joined by
            one space; every character offset in DREAM (chunk spans, reference contexts) points
            into this string.
        page_starts: character offset of each page's first character in `text` (len = pages).
        sha256: hex digest of the PDF bytes, the document's content version.
    """

    document_id: str
    title: str
    text: str
    page_starts: list[int] = field(default_factory=list)
    sha256: str = ""

    def to_dict(self) -> dict:
        """Returns the JSON-serialisable form (the layout stored in the object store)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ParsedDocument:
        """Inverse of `to_dict`."""
        return cls(**data)


def normalise_whitespace(text: str) -> str:
    """Collapses every whitespace run (spaces, newlines, tabs) into one space and strips."""
    return _WHITESPACE.sub(" ", text).strip()


def parse_pdf(document_id: str, data: bytes, sha256: str = "") -> ParsedDocument:
    """Extracts the text of a PDF with pypdf.

    Args:
        document_id: partition key of the document, used in errors.
        data: the PDF file's bytes.
        sha256: content hash to carry on the result.

    Returns:
        The parsed document; see `ParsedDocument` for the text layout.

    Raises:
        DocumentParseError: with reason `empty_file`, `not_a_pdf`, `encrypted`, `corrupt` or
            `no_text` (every page is an image or blank).
    """
    if not data:
        raise DocumentParseError(document_id, "empty_file", "the file has zero bytes")
    if not data.lstrip()[:5].startswith(b"%PDF-"):
        raise DocumentParseError(document_id, "not_a_pdf", "the file does not start with %PDF-")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise DocumentParseError(document_id, "encrypted", "the PDF is password-protected")
        pages = [normalise_whitespace(page.extract_text() or "") for page in reader.pages]
    except DocumentParseError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as error:
        raise DocumentParseError(document_id, "corrupt", f"{type(error).__name__}: {error}") from error
    page_starts, offset = [], 0
    for page in pages:
        page_starts.append(offset)
        offset += len(page) + 1
    text = " ".join(pages)
    if not text.strip():
        raise DocumentParseError(document_id, "no_text", "no page has extractable text")
    first_page = reader.pages[0].extract_text() or ""
    title = next((line.strip() for line in first_page.splitlines() if line.strip()), document_id)
    return ParsedDocument(document_id, title, text, page_starts, sha256)
