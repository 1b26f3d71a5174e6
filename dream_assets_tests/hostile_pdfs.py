"""PDFs built byte by byte to break a parser, and a few valid-but-unusual ones readers open.

Each builder returns the file's bytes. `raw_pdf` writes numbered objects, a cross-reference table
and a trailer (ISO 32000-1, 7.5); object 1 is always the catalog.
"""

from __future__ import annotations

import io
import zlib

from pypdf import PdfReader, PdfWriter

HELVETICA = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def raw_pdf(objects: list[bytes]) -> bytes:
    """A PDF of `objects` (bodies of objects 1..n, object 1 the catalog)."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _stream(data: bytes, compress: bool = False) -> bytes:
    if compress:
        data = zlib.compress(data, 9)
        return b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + b"\nendstream"
    return b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def text_pdf(text: str, extra_page_entries: bytes = b"") -> bytes:
    """A one-page PDF showing `text` (ASCII) in Helvetica."""
    content = b"BT /F1 12 Tf 72 720 Td (" + text.encode("ascii") + b") Tj ET"
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >>" + extra_page_entries + b" >>",
            _stream(content),
            HELVETICA,
        ]
    )


def flate_bomb(inflated_bytes: int = 300 * 1024**2) -> bytes:
    """A page whose content stream is a few hundred kB deflated and `inflated_bytes` inflated
    (past pypdf's decompression limit)."""
    content = zlib.compress(b" " * inflated_bytes, 9)
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream",
            HELVETICA,
        ]
    )


def page_tree_cycle() -> bytes:
    """A page tree whose two nodes are each other's only kid."""
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R] /Count 1 >>",
        ]
    )


def nested_arrays(depth: int = 100_000) -> bytes:
    """A page with an entry nested `depth` arrays deep."""
    return text_pdf("nested", b" /Nested " + b"[" * depth + b"]" * depth)


def blank_pages(pages: int = 2000) -> bytes:
    """A valid PDF of `pages` blank pages (no text at all)."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    return _written(writer)


def leading_junk(pdf: bytes, junk: bytes = b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\n\r\n") -> bytes:
    """`pdf` with bytes before its header (a mail or HTTP wrapper saved with the file)."""
    return junk + pdf


def empty_password(pdf: bytes) -> bytes:
    """`pdf` encrypted (AES-256) with an empty user password and a non-empty owner password."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password="", owner_password="owner-secret", algorithm="AES-256")
    return _written(writer)


def _written(writer: PdfWriter) -> bytes:
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()
