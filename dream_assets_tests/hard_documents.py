"""Hard copies of the bundled SQuAD articles, for the parser benchmark and its test slices.

Every copy holds the same paragraphs (the articles' SQuAD contexts, in order), so the same
human questions apply to each:

- `scan`: the original PDF's pages rasterised to grayscale images (`DPI`), with mild Gaussian
  noise and a small skew, saved as an image-only PDF (no text layer);
- `two_column`: two columns per page, a running header with the title, a page number below;
- `tables`: one column, and of every four paragraphs two set side by side in a ruled table;
- `docx` and `html`: a heading and the paragraphs.

Run `python -m dream_assets_tests.hard_documents OUT [ARTICLES]` to write the set (the first
ARTICLES articles of the bundled corpus by file name, default 6) under OUT/<copy>/. Everything is
seeded: the same bytes on every run (but for the producers' timestamps inside PDF and DOCX).
"""

from __future__ import annotations

import html
import io
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PDFS = ROOT / "data" / "demo" / "squad" / "pdfs"
SQUAD = ROOT / "data" / "demo" / "squad" / "dev-v2.0.json"
COPIES = ("scan", "two_column", "tables", "docx", "html")
DPI = 150  # a scan at office-scanner resolution
NOISE = 12.0  # standard deviation of the Gaussian noise, in grey levels (0-255)
SKEW = 0.6  # degrees: the most a page is turned


def articles(count: int | None = None) -> dict[str, tuple[str, list[str]]]:
    """(title, paragraphs) of the bundled articles by PDF file name, the first `count` by name."""
    squad = json.loads(SQUAD.read_text(encoding="utf-8"))
    by_title = {article["title"]: [p["context"] for p in article["paragraphs"]] for article in squad["data"]}
    names = sorted(path.name for path in PDFS.glob("*.pdf"))[:count]
    return {name: (name[:-4], by_title[name[:-4]]) for name in names if name[:-4] in by_title}


def scan(pdf: bytes, seed: int = 0, pages: int | None = None) -> bytes:
    """The PDF's pages (the first `pages`, or all) as noisy, slightly skewed grayscale images in
    an image-only PDF."""
    import numpy as np
    import pypdfium2 as pdfium
    from PIL import Image

    rng = np.random.default_rng(seed)
    document = pdfium.PdfDocument(pdf)
    images = []
    for index in range(min(len(document), pages or len(document))):
        image = document[index].render(scale=DPI / 72).to_pil().convert("L")
        pixels = np.asarray(image, dtype=np.float32) + rng.normal(0.0, NOISE, (image.height, image.width))
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        images.append(image.rotate(float(rng.uniform(-SKEW, SKEW)), resample=Image.Resampling.BICUBIC, fillcolor=255))
    out = io.BytesIO()
    images[0].save(out, "PDF", resolution=DPI, save_all=True, append_images=images[1:])
    return out.getvalue()


FONT, SIZE, LEADING = "Helvetica", 9.5, 12.0
PAGE_WIDTH, PAGE_HEIGHT, MARGIN = 595.0, 842.0, 56.0


class _Pages:
    """A PDF drawn line by line with reportlab's canvas: a running header and a page number on
    every page. Lines that sit side by side (two columns, two table cells) are drawn row by row,
    left then right, as some producers write them: a reader that follows the content stream
    interleaves them, one that follows positions does not."""

    def __init__(self, title: str) -> None:
        from reportlab.pdfgen.canvas import Canvas

        self.out, self.title = io.BytesIO(), _shown(title)
        self.canvas = Canvas(self.out, pagesize=(PAGE_WIDTH, PAGE_HEIGHT))
        self.canvas.setTitle(self.title)
        self.page = 0
        self.new_page()

    def new_page(self) -> None:
        if self.page:
            self.canvas.showPage()
        self.page += 1
        self.canvas.setFont(FONT, 8)
        self.canvas.drawString(MARGIN, PAGE_HEIGHT - 36, f"{self.title} — DREAM hard copies")
        self.canvas.drawCentredString(PAGE_WIDTH / 2, 28, f"Page {self.page}")
        self.canvas.setFont(FONT, SIZE)
        self.y = PAGE_HEIGHT - MARGIN - 10

    def room(self, lines: int) -> None:
        if self.y - lines * LEADING < MARGIN:
            self.new_page()

    def heading(self) -> None:
        self.canvas.setFont("Helvetica-Bold", 16)
        self.canvas.drawString(MARGIN, self.y, self.title)
        self.canvas.setFont(FONT, SIZE)
        self.y -= 2 * LEADING

    def rows(self, left: list[str], right: list[str], x_left: float, x_right: float) -> None:
        """Draws two blocks side by side, row by row (left line, then right line)."""
        for row in range(max(len(left), len(right))):
            self.room(1)
            for x, lines in ((x_left, left), (x_right, right)):
                if row < len(lines):
                    self.canvas.drawString(x, self.y, lines[row])
            self.y -= LEADING

    def bytes(self) -> bytes:
        self.canvas.save()
        return self.out.getvalue()


def _wrap(text: str, width: float) -> list[str]:
    from reportlab.lib.utils import simpleSplit

    return simpleSplit(text, FONT, SIZE, width)


def two_column(title: str, paragraphs: list[str]) -> bytes:
    """Two columns per A4 page under a full-width title, a running header and `Page n`; each
    page's columns are drawn row by row."""
    gap = 18.0
    column = (PAGE_WIDTH - 2 * MARGIN - gap) / 2
    lines: list[str] = []
    for paragraph in paragraphs:
        lines += [*_wrap(paragraph, column), ""]
    pages = _Pages(title)
    pages.heading()
    while lines:
        rows = int((pages.y - MARGIN) // LEADING)
        left, right, lines = lines[:rows], lines[rows : 2 * rows], lines[2 * rows :]
        pages.rows(left, right, MARGIN, MARGIN + column + gap)
        if lines:
            pages.new_page()
    return pages.bytes()


def tables(title: str, paragraphs: list[str]) -> bytes:
    """One column; of every four paragraphs, two are set side by side in a ruled table (a header
    row, then one row of two cells), the cells drawn row by row, where the table fits on a page."""
    width = PAGE_WIDTH - 2 * MARGIN
    cell = width / 2
    pages = _Pages(title)
    pages.heading()
    index = 0
    while index < len(paragraphs):
        left, right = (
            (_wrap(p, cell - 8) for p in paragraphs[index : index + 2]) if index + 1 < len(paragraphs) else ([], [])
        )
        # a table taller than a page is set as paragraphs: its rules are drawn on one page
        fits = max(len(left), len(right)) + 3 <= (PAGE_HEIGHT - 2 * MARGIN - 10) // LEADING
        if index % 4 == 2 and index + 1 < len(paragraphs) and fits:
            height = (max(len(left), len(right)) + 1) * LEADING + 6
            pages.room(max(len(left), len(right)) + 3)
            top = pages.y + LEADING - 2
            pages.rows([f"Part {index + 1}"], [f"Part {index + 2}"], MARGIN + 4, MARGIN + cell + 4)
            pages.rows(left, right, MARGIN + 4, MARGIN + cell + 4)
            canvas = pages.canvas  # the rules: frame, the line under the header, the column rule
            canvas.rect(MARGIN, top - height, width, height)
            canvas.line(MARGIN, top - LEADING - 2, MARGIN + width, top - LEADING - 2)
            canvas.line(MARGIN + cell, top, MARGIN + cell, top - height)
            pages.y -= LEADING
            index += 2
            continue
        lines = _wrap(paragraphs[index], width)
        pages.room(len(lines))
        pages.rows(lines, [], MARGIN, 0)
        pages.y -= LEADING / 2
        index += 1
    return pages.bytes()


def _shown(title: str) -> str:
    """A SQuAD title as a person writes it (`1973_oil_crisis` is `1973 oil crisis`)."""
    return title.replace("_", " ")


def docx(title: str, paragraphs: list[str]) -> bytes:
    """A Word document: the title as a heading, then the paragraphs."""
    from docx import Document

    document = Document()
    document.add_heading(_shown(title), level=1)
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def html_page(title: str, paragraphs: list[str]) -> bytes:
    """An HTML page: a title, a navigation bar, the paragraphs, a footer."""
    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    shown = html.escape(_shown(title))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{shown}</title></head><body>"
        f"<nav><a href='/'>Home</a></nav><h1>{shown}</h1>\n{body}\n<footer>DREAM hard copies</footer>"
        "</body></html>"
    ).encode()


def copy(kind: str, pdf_name: str, title: str, paragraphs: list[str]) -> tuple[str, bytes]:
    """(file name, bytes) of one copy of an article."""
    if kind == "scan":
        return pdf_name, scan((PDFS / pdf_name).read_bytes(), seed=random.Random(pdf_name).randrange(2**32))
    if kind == "two_column":
        return pdf_name, two_column(title, paragraphs)
    if kind == "tables":
        return pdf_name, tables(title, paragraphs)
    if kind == "docx":
        return pdf_name[:-4] + ".docx", docx(title, paragraphs)
    if kind == "html":
        return pdf_name[:-4] + ".html", html_page(title, paragraphs)
    raise ValueError(f"copy kind {kind!r} is not one of {COPIES}")


def build(out: Path, count: int | None = None, kinds: tuple[str, ...] = COPIES) -> dict[str, Path]:
    """Writes each copy kind of the first `count` articles under `out/<kind>/`; returns the
    folders by kind."""
    folders = {}
    for kind in kinds:
        folder = out / kind
        folder.mkdir(parents=True, exist_ok=True)
        for pdf_name, (title, paragraphs) in articles(count).items():
            name, data = copy(kind, pdf_name, title, paragraphs)
            (folder / name).write_bytes(data)
        folders[kind] = folder
    return folders


if __name__ == "__main__":
    build(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 6)
