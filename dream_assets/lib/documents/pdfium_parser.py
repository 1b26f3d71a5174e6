"""The `pdfium` parser: PDFium's text layer (pypdfium2, Apache-2.0/BSD-3), the engine Chrome
renders PDFs with. PDFium orders a page's characters as the content stream draws them and joins
them into lines by position; on some producers' files that reading order differs from pypdf's.
Right-to-left scripts come out in visual order (an Arabic word reversed), where pypdf and the
`layout` parser give the logical order; control characters that PDFium passes through from a
font without a Unicode map (U+0003 for a space glyph) become spaces.
"""

from __future__ import annotations

import re

from dream_assets.lib.documents.parsing import from_pages, pdf_body
from dream_assets.plugins.parsers import DocumentParseError, DocumentParser, ParsedDocument

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")  # C0 and C1 controls but tab, newlines


def open_pdfium(document_id: str, data: bytes):
    """A `pypdfium2.PdfDocument` over `data` (from its `%PDF-` header on), opened with the empty
    password when it is encrypted with one.

    Raises:
        DocumentParseError: `empty_file`, `not_a_pdf`, `encrypted` (a password is needed) or
            `corrupt` (PDFium cannot load it).
    """
    import pypdfium2 as pdfium

    body = pdf_body(document_id, data)
    try:
        return pdfium.PdfDocument(body, password="")
    except pdfium.PdfiumError as error:
        message = str(error)
        reason = "encrypted" if "password" in message.lower() else "corrupt"
        raise DocumentParseError(document_id, reason, f"PDFium: {message}"[:500]) from error


def page_texts(document) -> list[str]:
    """The text layer of each page of an open `pypdfium2.PdfDocument`."""
    texts = []
    for index in range(len(document)):
        page = document[index]
        textpage = page.get_textpage()
        try:
            texts.append(_CONTROL.sub(" ", textpage.get_text_bounded()))
        finally:
            textpage.close()
            page.close()
    return texts


class PdfiumParser(DocumentParser):
    """PDFium's text of each page."""

    def parse(self, document_id: str, data: bytes, name: str) -> ParsedDocument:
        """PDFium's text of the PDF `data`.

        Raises:
            DocumentParseError: `empty_file`, `not_a_pdf`, `encrypted`, `corrupt`,
                `parse_error` (any other exception, class named) or `no_text`.
        """
        document = open_pdfium(document_id, data)
        try:
            pages = page_texts(document)
        except Exception as error:  # noqa: BLE001 - a PDF must never fail the run: the class is named
            raise DocumentParseError(document_id, "parse_error", f"{type(error).__name__}: {error}"[:500]) from error
        finally:
            document.close()
        return from_pages(document_id, pages, "")
