"""The contract of a document parser (`DocumentParser`), and its registry (`PARSERS`).

A parser turns a document's bytes into one text with page offsets (`ParsedDocument`), or raises
a `DocumentParseError` naming why not. Registered in `PARSERS` (entry-point group
`dream.parsers`); the built-ins are in `dream_assets.lib.documents`:

- `pypdf`: pypdf's text layer, the default;
- `pdfium`: PDFium's text layer (pypdfium2), another reading order;
- `layout`: pdfplumber's words placed by position: columns read one after the other, running
  headers, footers and page numbers dropped, tables written as Markdown tables;
- `ocr`: pypdf's text layer, and Tesseract 5 (Debian's `tesseract-ocr`, through pytesseract)
  on the pages that have none, with its mean word confidence per page.

A parser reads the formats of its `suffixes` itself (the built-ins: PDF); DOCX, PPTX, HTML, Markdown
and text files go through the one converter every parser shares
(`dream_assets.lib.documents.formats`). The parsed text is the golden set's coordinate system: every character
offset (chunk spans, reference contexts) points into `ParsedDocument.text`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Annotated, ClassVar

from dream_assets.plugins.registry import Registry, registered, subclass_of

DEFAULT_PARSER = "pypdf"


class DocumentParseError(ValueError):
    """A document that cannot be turned into text; `reason` is a short machine-readable code
    (`not_a_pdf`, `encrypted`, `no_text`, `unsupported_format`, ...), `detail` says more."""

    def __init__(self, document_id: str, reason: str, detail: str, pages: int | None = None) -> None:
        super().__init__(f"{document_id}: {reason}: {detail}")
        self.document_id = document_id
        self.reason = reason
        self.detail = detail
        self.pages = pages


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
        sha256: hex digest of the document's bytes, its content version.
        language: ISO 639-1 code of the text's language, '' if unknown.
        parser: the parser that produced it (its registered name).
        parser_version: that parser's `version` (with `sha256`, what makes a parse reusable).
        page_confidence: per page, the OCR's mean confidence in [0, 1] where OCR read the page,
            None where the page's own text layer was used (empty when no page was OCR'd).
    """

    document_id: str
    title: str
    text: str
    page_starts: list[int] = field(default_factory=list)
    sha256: str = ""
    language: str = ""
    parser: str = DEFAULT_PARSER
    parser_version: str = ""
    page_confidence: list[float | None] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Returns the JSON-serialisable form (the layout stored in the object store)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ParsedDocument:
        """Inverse of `to_dict` (a document stored before a field existed gets its default)."""
        return cls(**data)


class DocumentParser(ABC):
    """One way of turning documents into text.

    Attributes:
        version: bumped when the parser's output changes; with the document's SHA-256 it makes a
            stored parse reusable (a re-run parses nothing it parsed before).
        suffixes: the file suffixes this parser reads itself (lower case, with the dot); a
            document of another supported format goes to the shared converter
            (`dream_assets.lib.documents.formats`), so every parser reads DOCX, HTML, ...
    """

    version: ClassVar[str] = "1"
    suffixes: ClassVar[frozenset[str]] = frozenset({".pdf"})

    @abstractmethod
    def parse(self, document_id: str, data: bytes, name: str) -> ParsedDocument:
        """The text of the document whose bytes are `data` and whose file name is `name`.

        Raises:
            DocumentParseError: naming the reason, for a document this parser cannot read.
        """


BUILTIN_PARSERS = {
    "pypdf": "dream_assets.lib.documents.pypdf_parser:PypdfParser",
    "pdfium": "dream_assets.lib.documents.pdfium_parser:PdfiumParser",
    "layout": "dream_assets.lib.documents.layout_parser:LayoutParser",
    "ocr": "dream_assets.lib.documents.ocr_parser:OcrParser",
}
PARSERS = Registry("document parser", "dream.parsers", BUILTIN_PARSERS, subclass_of(DocumentParser))

# the name of a registered parser (an unknown one is a validation error naming the known)
ParserName = Annotated[str, registered(PARSERS)]
