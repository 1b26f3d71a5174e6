"""Documents other than PDF: DOCX, PPTX, HTML, Markdown and plain text, converted to text by
Microsoft's markitdown (MIT), the one converter every parser shares.

Why markitdown: one well-kept library for every office and web format, written for feeding
LLMs: it keeps headings, lists and tables (as Markdown tables) and drops markup, it reads PPTX
through python-pptx and HTML through BeautifulSoup with markdownify, and it needs no model
download at run time (its file-type guesser, magika, ships its model in its wheel; DREAM gives it
the file's suffix anyway). unstructured's partitioners do more (element types, coordinates) at
many times the install size; python-docx or trafilatura alone each read one format. A DOCX goes
through mammoth (the library markitdown uses for it) to HTML, then markitdown's HTML converter:
markitdown 0.1.8's own DOCX path first rewrites the file's XML for equations, and with
BeautifulSoup 4.15 that rewrite drops the namespaces mammoth needs ("Could not find the body
element"). Emphasis markers and link targets are dropped (`**word**` is `word`, `[text](url)`
is `text`): they are markup, not text, and would only stand between a passage and its copy in
a PDF.

A PPTX keeps its slides as pages (markitdown marks each); other formats are one page. The text
is whitespace-normalised like a PDF's (`dream_assets.lib.documents.parsing.from_pages`).
"""

from __future__ import annotations

import functools
import io
import re
import zipfile
from pathlib import PurePosixPath

from dream_assets.lib.documents.parsing import from_pages
from dream_assets.plugins.parsers import DocumentParseError, ParsedDocument

# the suffixes the converter reads, by format
CONVERTED_SUFFIXES = frozenset({".docx", ".pptx", ".html", ".htm", ".md", ".markdown", ".txt"})
_SLIDE = re.compile(r"<!-- Slide number: \d+ -->")
_EMPHASIS = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")


def _plain(markdown: str) -> str:
    """Markdown without emphasis markers and link targets (headings, lists, tables kept)."""
    return _EMPHASIS.sub(r"\2", _LINK.sub(r"\1", markdown))


@functools.cache
def _converter():
    from markitdown import MarkItDown

    return MarkItDown(enable_plugins=False)


def convert(document_id: str, data: bytes, name: str, sha256: str = "") -> ParsedDocument:
    """The text of a DOCX, PPTX, HTML, Markdown or text file (`CONVERTED_SUFFIXES`), as Markdown
    whitespace-normalised (headings and table rows kept as text).

    Args:
        document_id: partition key of the document, used in errors.
        data: the file's bytes.
        name: the file's name; its suffix says the format.
        sha256: content hash to carry on the result.

    Raises:
        DocumentParseError: `empty_file`; `unsupported_format` for a suffix outside
            `CONVERTED_SUFFIXES`; `corrupt` when the converter cannot read the file (a DOCX that
            is not a ZIP, say), with its error; `no_text` when nothing readable is left.
    """
    from markitdown import StreamInfo

    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in CONVERTED_SUFFIXES:
        raise DocumentParseError(document_id, "unsupported_format", f"{name}: not one of {sorted(CONVERTED_SUFFIXES)}")
    if not data:
        raise DocumentParseError(document_id, "empty_file", "the file has zero bytes")
    if suffix in (".docx", ".pptx") and not zipfile.is_zipfile(io.BytesIO(data)):
        raise DocumentParseError(document_id, "corrupt", f"{name}: a {suffix} file is a ZIP archive, this is not one")
    try:
        if suffix == ".docx":
            import mammoth

            html = mammoth.convert_to_html(io.BytesIO(data)).value.encode("utf-8")
            result = _converter().convert_stream(io.BytesIO(html), stream_info=StreamInfo(extension=".html"))
        else:
            result = _converter().convert_stream(io.BytesIO(data), stream_info=StreamInfo(extension=suffix))
    except Exception as error:  # noqa: BLE001 - a document must never fail the run: the class is named
        cause = error.__cause__ or error
        raise DocumentParseError(document_id, "corrupt", f"{type(cause).__name__}: {cause}"[:500]) from error
    markdown = _plain(result.markdown or "")
    pages = [page for page in _SLIDE.split(markdown) if page.strip()] if suffix == ".pptx" else [markdown]
    title = (result.title or "").strip()
    return from_pages(document_id, pages or [""], sha256, first_page=title or markdown.lstrip("# \n"))
