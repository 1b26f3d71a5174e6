"""PDF parsing: bytes of one PDF in, one whitespace-normalised text with page offsets out.

Pure logic (no Dagster, no IO): the `parsed_documents` asset reads the bytes from the object
store and runs `parse_pdf` in a bounded worker process (`dream_assets.lib.documents.parse_pool`).

`parse_pdf` accepts what PDF readers accept: bytes before the `%PDF-` header (readers look for it
in the first 1,024 bytes: the PDF Reference 1.7's implementation notes, appendix H), an empty
user password, and the damage pypdf repairs in non-strict mode. Everything else ends as a
`DocumentParseError` whose `reason` names what was wrong; no exception of the PDF's making
escapes it.
"""

from __future__ import annotations

import io
import re
from dataclasses import asdict, dataclass, field

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, LimitReachedError, PyPdfError

_WHITESPACE = re.compile(r"\s+")
# Where readers look for the `%PDF-` header (PDF Reference 1.7, appendix H: Acrobat's implementation notes).
HEADER_WINDOW = 1024


class DocumentParseError(ValueError):
    """A PDF that cannot be turned into text; `reason` is a short machine-readable code."""

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
        sha256: hex digest of the PDF bytes, the document's content version.
        language: ISO 639-1 code of the text's language (`detect_language`), '' if unknown.
    """

    document_id: str
    title: str
    text: str
    page_starts: list[int] = field(default_factory=list)
    sha256: str = ""
    language: str = ""

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


def detect_language(text: str, sample_chars: int = 5000, min_letters: int = 50, min_probability: float = 0.9) -> str:
    """ISO 639-1 code of the language of `text` ('zh-cn' and 'zh-tw' for Chinese), from its first
    `sample_chars` characters, with langdetect (a port of Nakatani Shuyo's language-detection,
    55 languages, seeded so the answer is deterministic); '' when the sample has fewer than
    `min_letters` letters or no language reaches `min_probability` (measured on the test PDFs:
    a 24-character header reads as Danish at 0.57 and Lorem ipsum as Catalan at 0.57, while
    real English and Russian pages score above 0.999)."""
    from langdetect import DetectorFactory, detect_langs
    from langdetect.lang_detect_exception import LangDetectException

    sample = text[:sample_chars]
    if sum(character.isalpha() for character in sample) < min_letters:
        return ""
    DetectorFactory.seed = 0
    try:
        best = max(detect_langs(sample), key=lambda language: language.prob)
    except LangDetectException:
        return ""
    return best.lang if best.prob >= min_probability else ""


def _open(document_id: str, data: bytes) -> PdfReader:
    """A reader over `data` from its `%PDF-` header on, decrypted with the empty password when
    the PDF is encrypted with one (anyone can open such a file)."""
    header = data.find(b"%PDF-", 0, HEADER_WINDOW)
    if header < 0:
        raise DocumentParseError(document_id, "not_a_pdf", f"no %PDF- header in the first {HEADER_WINDOW} bytes")
    reader = PdfReader(io.BytesIO(data[header:]), strict=False)
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
        DocumentParseError: with reason `empty_file`, `not_a_pdf` (no header in the first
            1,024 bytes), `encrypted` (a user password is needed), `limit_reached` (a stream
            inflates past pypdf's decompression limit: a likely decompression bomb),
            `too_deeply_nested` (objects nested past Python's recursion limit), `memory_limit`
            (the process ran out of memory), `corrupt` (pypdf cannot read the structure),
            `parse_error` (any other exception, class named) or `no_text` (every page is an
            image or blank).
    """
    if not data:
        raise DocumentParseError(document_id, "empty_file", "the file has zero bytes")
    pages: list[str] = []
    first_page = ""
    try:
        reader = _open(document_id, data)
        for page in reader.pages:
            page_text = page.extract_text() or ""
            first_page = first_page if pages else page_text
            pages.append(normalise_whitespace(page_text))
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
    page_starts, offset = [], 0
    for page in pages:
        page_starts.append(offset)
        offset += len(page) + 1
    text = " ".join(pages)
    if not text.strip():
        raise DocumentParseError(document_id, "no_text", "no page has extractable text", pages=len(pages))
    title = next((line.strip() for line in first_page.splitlines() if line.strip()), document_id)
    return ParsedDocument(document_id, title, text, page_starts, sha256, detect_language(text))
