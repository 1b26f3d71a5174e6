"""The `pypdf` parser (the default): pypdf's text layer, in non-strict mode.

It accepts what PDF readers accept: bytes before the `%PDF-` header, an empty user password, and
the damage pypdf repairs in non-strict mode. Everything else ends as a `DocumentParseError` whose
`reason` names what was wrong; no exception of the PDF's making escapes it.
"""

from __future__ import annotations

import io

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, LimitReachedError, PyPdfError

from dream_assets.lib.documents.parsing import from_pages, pdf_body
from dream_assets.plugins.parsers import DocumentParseError, DocumentParser, ParsedDocument


class PypdfParser(DocumentParser):
    """pypdf's text of each page (`parse_pdf`)."""

    def parse(self, document_id: str, data: bytes, name: str) -> ParsedDocument:
        """Pypdf's text of the PDF `data` (see `parse_pdf`)."""
        return parse_pdf(document_id, data)


def _open(document_id: str, data: bytes) -> PdfReader:
    """A reader over `data` from its `%PDF-` header on, decrypted with the empty password when
    the PDF is encrypted with one (anyone can open such a file)."""
    reader = PdfReader(io.BytesIO(pdf_body(document_id, data)), strict=False)
    if reader.is_encrypted:
        try:
            opened = reader.decrypt("")
        except DependencyError as error:
            raise DocumentParseError(document_id, "encrypted", f"cannot decrypt: {error}") from error
        if opened == PasswordType.NOT_DECRYPTED:
            raise DocumentParseError(document_id, "encrypted", "the PDF needs a password to open")
    return reader


def parse_pdf(document_id: str, data: bytes, sha256: str = "") -> ParsedDocument:
    """Extracts the text of a PDF with pypdf (non-strict) and detects its language.

    Args:
        document_id: partition key of the document, used in errors.
        data: the PDF file's bytes.
        sha256: content hash to carry on the result.

    Returns:
        The parsed document; see `ParsedDocument` for the text layout.

    Raises:
        DocumentParseError: a reason of `page_texts`, or `no_text` (every page is an image or
            blank).
    """
    pages = page_texts(document_id, data)
    return from_pages(document_id, pages, sha256, pages[0] if pages else "")


def page_texts(document_id: str, data: bytes) -> list[str]:
    """The raw text pypdf extracts from each page of the PDF `data` ('' for a page without a text layer).

    Raises:
        DocumentParseError: with reason `empty_file`, `not_a_pdf` (no header in the first
            1,024 bytes), `encrypted` (a user password is needed), `limit_reached` (a stream
            inflates past pypdf's decompression limit: a likely decompression bomb),
            `too_deeply_nested` (objects nested past Python's recursion limit), `memory_limit`
            (the process ran out of memory), `corrupt` (pypdf cannot read the structure) or
            `parse_error` (any other exception, class named).
    """
    pages: list[str] = []
    try:
        reader = _open(document_id, data)
        for page in reader.pages:
            pages.append(page.extract_text() or "")
    except DocumentParseError:
        raise
    except LimitReachedError as error:
        raise DocumentParseError(document_id, "limit_reached", f"possible decompression bomb: {error}") from error
    except FileNotDecryptedError as error:
        raise DocumentParseError(document_id, "encrypted", str(error)) from error
    except RecursionError as error:
        raise DocumentParseError(document_id, "too_deeply_nested", "objects nested past the recursion limit") from error
    except MemoryError as error:
        raise DocumentParseError(document_id, "memory_limit", "parsing ran out of memory") from error
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, AttributeError) as error:
        raise DocumentParseError(document_id, "corrupt", f"{type(error).__name__}: {error}"[:500]) from error
    except Exception as error:  # noqa: BLE001 - a PDF must never fail the run: the class is named
        raise DocumentParseError(document_id, "parse_error", f"{type(error).__name__}: {error}"[:500]) from error
    return pages
