"""The `ocr` parser: each page's own text layer where it has one (read by pypdf, so such pages
read exactly as the default parser reads them), and optical character recognition where it has
none (a scan, an image-only page), fully offline.

OCR is Tesseract 5 (Apache-2.0), from Debian's `tesseract-ocr` and `tesseract-ocr-eng` packages
(`make install` installs them; the image has them), called through pytesseract: its LSTM models
come with the packages, nothing is fetched at run time. A page is rendered at `DPI` (PDFium),
Tesseract gives its words with positions and confidences, and the words are read like the
`layout` parser reads a page (lines by position, two columns one after the other). Each OCR'd
page's mean word confidence is recorded in [0, 1] (`ParsedDocument.page_confidence`).

RapidOCR (whose wheel carries PP-OCR models) was tried first: its recogniser, trained on
Chinese and English, dropped the spaces between English words ("TheNormans(Norman:...").
"""

from __future__ import annotations

import os
import shutil

from dream_assets.lib.documents.parsing import from_pages
from dream_assets.lib.documents.pdfium_parser import open_pdfium
from dream_assets.lib.documents.pypdf_parser import page_texts
from dream_assets.lib.documents.reading_order import MIN_GUTTER, read_words
from dream_assets.plugins.parsers import DocumentParseError, DocumentParser, ParsedDocument

DPI = 200  # rendering resolution: Tesseract reads 10-point text best from about 200 dpi up
MIN_TEXT_LAYER = 20  # a page whose text layer has fewer non-space characters is read by OCR too
# (and OCR's text kept where it has more letters and digits than the layer)
LANGUAGES = "eng"  # Tesseract's language data used (installed with `tesseract-ocr-eng`)


def ocr_image(image, languages: str = LANGUAGES) -> tuple[str, float]:
    """The text of one page image (a PIL image) in reading order, and the mean confidence of its
    words in [0, 1] (0.0 when none was found).

    Raises:
        FileNotFoundError: when the `tesseract` program is not installed.
    """
    import pytesseract

    if shutil.which("tesseract") is None:
        raise FileNotFoundError("tesseract is not installed (Debian: apt-get install tesseract-ocr tesseract-ocr-eng)")
    # One OpenMP thread per Tesseract: its threads spin against each other and against the other
    # parse workers (measured on 2 CPUs, the hard-documents scans: 12.8 s a page with its default
    # threads, 3.0 s with one, the same words); the parse pool's workers read documents in parallel.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    # page segmentation 3: fully automatic, without orientation detection (that needs `osd` data)
    data = pytesseract.image_to_data(image, lang=languages, config="--psm 3", output_type=pytesseract.Output.DICT)
    words = []
    for text, left, top, width, height, confidence in zip(
        data["text"], data["left"], data["top"], data["width"], data["height"], data["conf"], strict=True
    ):
        if text.strip() and float(confidence) >= 0:
            words.append(
                {
                    "x0": left,
                    "x1": left + width,
                    "top": top,
                    "bottom": top + height,
                    "text": text,
                    "conf": float(confidence),
                }
            )
    if not words:
        return "", 0.0
    heights = sorted(word["bottom"] - word["top"] for word in words)
    line = heights[len(heights) // 2]  # one text line, in pixels
    lines = read_words(words, float(image.width), tolerance=line / 2, min_gutter=MIN_GUTTER * DPI / 72)
    return "\n".join(line.text for line in lines), sum(word["conf"] for word in words) / len(words) / 100


def _letters(text: str) -> int:
    return sum(character.isalnum() for character in text)


class OcrParser(DocumentParser):
    """Text layers where pages have them, Tesseract where they do not (module docstring)."""

    def parse(self, document_id: str, data: bytes, name: str) -> ParsedDocument:
        """The text of the PDF `data`: pypdf's text of each page that has a text layer (so
        those pages read exactly as the default parser reads them), Tesseract's of each that
        has none (rendered by PDFium).

        Raises:
            DocumentParseError: a reason of `pypdf_parser.page_texts` (`not_a_pdf`,
                `encrypted`, `corrupt`, ...), `ocr_unavailable` (Tesseract is not installed),
                `parse_error` (any other exception, class named) or `no_text` (no page has a
                text layer and OCR found nothing).
        """
        pages = page_texts(document_id, data)
        confidence: list[float | None] = [None] * len(pages)
        scanned = [index for index, text in enumerate(pages) if len("".join(text.split())) < MIN_TEXT_LAYER]
        if scanned:
            document = open_pdfium(document_id, data)
            try:
                for index in scanned:
                    page = document[index]
                    image = page.render(scale=DPI / 72).to_pil().convert("L")  # pyright: ignore[reportArgumentType]
                    text, score = ocr_image(image)
                    if _letters(text) > _letters(pages[index]):  # a short text layer OCR reads worse stays
                        pages[index], confidence[index] = text, round(score, 4)
                    page.close()
            except FileNotFoundError as error:
                raise DocumentParseError(document_id, "ocr_unavailable", str(error)) from error
            except Exception as error:  # noqa: BLE001 - a PDF must never fail the run: the class is named
                raise DocumentParseError(
                    document_id, "parse_error", f"{type(error).__name__}: {error}"[:500]
                ) from error
            finally:
                document.close()
        ocred = any(value is not None for value in confidence)
        return from_pages(
            document_id, pages, "", pages[0] if pages else "", page_confidence=confidence if ocred else []
        )
