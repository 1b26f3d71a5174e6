"""The `layout` parser: a page's words placed by position (pdfplumber, MIT, on pdfminer.six), read
the way a person reads the page.

Per page: ruled tables are found (`find_tables`) and written as Markdown tables at their place;
the other words are grouped into lines; a vertical gutter free of words between 30% and 70% of the
page width makes two columns, read one after the other, within the bands that lines crossing the
gutter (a title, a full-width paragraph) separate. Across pages: lines in the top or bottom 8% of
the page that repeat on at least half the pages (digits ignored: "Page 3 of 9") are running
headers or footers, and lines there that are only a page number are page numbers: both dropped.
A word broken by a hyphen at a line's end is joined to its rest.
"""

from __future__ import annotations

import re

from dream_assets.lib.documents.parsing import from_pages, pdf_body
from dream_assets.lib.documents.reading_order import Line, read_words
from dream_assets.plugins.parsers import DocumentParseError, DocumentParser, ParsedDocument

MARGIN = 0.08  # share of the page height at the top and at the bottom where running lines live
_PAGE_NUMBER = re.compile(r"^(page\s*)?\d+(\s*(/|of)\s*\d+)?$", re.IGNORECASE)


def _markdown_table(rows: list[list[str | None]]) -> str:
    """A table's cells as a Markdown table (first row as the header)."""
    cleaned = [[" ".join((cell or "").split()) for cell in row] for row in rows if any(cell for cell in row)]
    if not cleaned:
        return ""
    width = max(len(row) for row in cleaned)
    cleaned = [row + [""] * (width - len(row)) for row in cleaned]
    lines = ["| " + " | ".join(cleaned[0]) + " |", "| " + " | ".join(["---"] * width) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in cleaned[1:]]
    return "\n".join(lines)


def _page_blocks(page) -> tuple[list[Line], list[Line], list[Line]]:
    """(lines in the top margin, body lines in reading order with tables as Markdown blocks,
    lines in the bottom margin) of one pdfplumber page."""
    height, width = float(page.height), float(page.width)
    # a ruled table of two rows and two columns at least (a frame around a paragraph is none)
    tables = [table for table in page.find_tables() if len(table.rows) >= 2 and max(map(len, table.extract())) >= 2]
    boxes = [table.bbox for table in tables]
    words = [
        w
        # words split where letters are more than 0.15 of the font size apart: LaTeX sets word
        # spaces by position, about 0.3 em, and pdfplumber's fixed 3-point tolerance merges them
        for w in page.extract_words(keep_blank_chars=False, use_text_flow=False, x_tolerance_ratio=0.15)
        if not any(
            x0 <= w["x0"] and w["x1"] <= x1 and top <= w["top"] and w["bottom"] <= bottom
            for x0, top, x1, bottom in boxes
        )
    ]
    head = [w for w in words if w["bottom"] < MARGIN * height]
    foot = [w for w in words if w["top"] > (1 - MARGIN) * height]
    body = [w for w in words if MARGIN * height <= w["bottom"] and w["top"] <= (1 - MARGIN) * height]
    lines = read_words(body, width)
    for table, (x0, top, x1, _) in zip(tables, boxes, strict=True):
        markdown = _markdown_table(table.extract())
        if markdown:
            position = next((i for i, line in enumerate(lines) if line.top > top), len(lines))
            lines.insert(position, Line(top, x0, x1, markdown))
    return read_words(head, width), lines, read_words(foot, width)


def _running(margins: list[list[Line]]) -> set[str]:
    """The margin lines (digits masked) that repeat on at least half the pages (two at least)."""
    counts: dict[str, int] = {}
    for page in margins:
        for key in {re.sub(r"\d+", "#", line.text.lower()) for line in page}:
            counts[key] = counts.get(key, 0) + 1
    return {key for key, count in counts.items() if count >= max(2, len(margins) / 2)}


def _dehyphenate(lines: list[str]) -> str:
    """Lines joined by newlines, a word broken by a hyphen at a line's end joined to its rest."""
    text = ""
    for line in lines:
        if text.endswith("-") and line[:1].islower() and text[-2:-1].isalpha():
            text = text[:-1] + line
        else:
            text = f"{text}\n{line}" if text else line
    return text


class LayoutParser(DocumentParser):
    """Words by position: columns, running lines dropped, tables as Markdown (module docstring)."""

    version = "1"

    def parse(self, document_id: str, data: bytes, name: str) -> ParsedDocument:
        """The PDF `data` read in layout order.

        Raises:
            DocumentParseError: `empty_file`, `not_a_pdf`, `encrypted`, `corrupt` (pdfplumber
                cannot read it) or `no_text`.
        """
        import io

        import pdfplumber

        body = io.BytesIO(pdf_body(document_id, data))
        try:
            with pdfplumber.open(body, password="") as pdf:
                pages = [_page_blocks(page) for page in pdf.pages]
        except Exception as error:  # noqa: BLE001 - a PDF must never fail the run: the class is named
            if "PDFPasswordIncorrect" in f"{type(error).__name__} {error}":  # pdfplumber wraps pdfminer's error
                raise DocumentParseError(document_id, "encrypted", "the PDF needs a password to open") from error
            raise DocumentParseError(document_id, "corrupt", f"{type(error).__name__}: {error}"[:500]) from error
        running = _running([head + foot for head, _, foot in pages])

        def kept(lines: list[Line]) -> list[str]:
            return [
                line.text
                for line in lines
                if re.sub(r"\d+", "#", line.text.lower()) not in running and not _PAGE_NUMBER.match(line.text.strip())
            ]

        texts = [_dehyphenate(kept(head) + [line.text for line in body] + kept(foot)) for head, body, foot in pages]
        return from_pages(document_id, texts, "", first_page=texts[0] if texts else "")
