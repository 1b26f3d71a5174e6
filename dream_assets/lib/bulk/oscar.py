"""OSCAR 23.01 records: parsing and filtering JSONL lines, character chunking, and the demo input.

An OSCAR 23.01 line is one JSON object (https://oscar-project.github.io/documentation/versions/oscar-2301/):

    {"content": "...",
     "warc_headers": {"warc-record-id": "<urn:uuid:...>", "warc-target-uri": "https://...",
                      "warc-date": "2022-11-26T09:45:47Z", "warc-type": "conversion", ...},
     "metadata": {"identification": {"label": "en", "prob": 0.97},
                  "harmful_pp": 4063.1, "tlsh": "tlsh:T1...",
                  "quality_warnings": ["short_sentences", "header"] | null,
                  "categories": ["news"] | null,
                  "sentence_identifications": [{"label": "en", "prob": 0.98} | null, ...]}}

`parse_lines` keeps the text, record id, URL, date, language and quality fields, and returns every
line it cannot use with its reason: nothing is dropped silently.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa

RECORD_SCHEMA = pa.schema(
    [
        ("record_id", pa.string()),
        ("url", pa.string()),
        ("date", pa.string()),
        ("language", pa.string()),
        ("language_prob", pa.float64()),
        ("quality_warnings", pa.list_(pa.string())),
        ("categories", pa.list_(pa.string())),
        ("harmful_pp", pa.float64()),
        ("text", pa.string()),
    ]
)
RECORD_COLUMNS = RECORD_SCHEMA.names
REJECT_COLUMNS = ["reason", "excerpt"]
CHUNK_COLUMNS = ["chunk_id", "record_id", "offset", "url", "language", "text"]


def parse_lines(
    lines: Iterable[str],
    languages: frozenset[str] | None = None,
    excluded_warnings: frozenset[str] = frozenset(),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parses OSCAR 23.01 JSONL lines and filters them.

    Args:
        lines: lines of a shard (text, without trailing newlines).
        languages: identification labels to keep (e.g. {"en"}); None keeps every language.
        excluded_warnings: a record with any of these quality warnings (OSCAR's `tiny`,
            `short_sentences`, `header`, `footer`, `noisy`, `adult`) is filtered out.

    Returns:
        (records, rejects): records with `RECORD_COLUMNS`; rejects with `REJECT_COLUMNS`, one row per
        line that is not valid JSON, lacks a field, has empty content (reasons `malformed_json`,
        `missing_field`, `empty_content`) or is filtered (`language`, `quality_warning`).
    """
    records, rejects = [], []
    for line in lines:
        if not line.strip():
            continue
        try:
            row = _record(json.loads(line))
        except json.JSONDecodeError as error:
            rejects.append((f"malformed_json: {error.msg}", line[:120]))
            continue
        except (KeyError, TypeError) as error:
            rejects.append((f"missing_field: {error}", line[:120]))
            continue
        if not row["text"].strip():
            rejects.append(("empty_content", line[:120]))
        elif languages is not None and row["language"] not in languages:
            rejects.append((f"language: {row['language']}", row["text"][:120]))
        elif excluded_warnings & set(row["quality_warnings"]):
            flagged = sorted(excluded_warnings & set(row["quality_warnings"]))
            rejects.append((f"quality_warning: {','.join(flagged)}", row["text"][:120]))
        else:
            records.append(row)
    return (
        pd.DataFrame(records, columns=RECORD_COLUMNS),
        pd.DataFrame(rejects, columns=REJECT_COLUMNS),
    )


def _record(value: dict) -> dict:
    headers, metadata = value["warc_headers"], value["metadata"]
    identification = metadata.get("identification") or {}
    return {
        "record_id": headers["warc-record-id"].strip("<>"),
        "url": headers.get("warc-target-uri", ""),
        "date": headers.get("warc-date", ""),
        "language": identification.get("label", ""),
        "language_prob": float(identification.get("prob") or 0.0),
        "quality_warnings": list(metadata.get("quality_warnings") or []),
        "categories": list(metadata.get("categories") or []),
        "harmful_pp": float(metadata.get("harmful_pp") or 0.0),
        "text": value["content"],
    }


def chunk_records(records: pd.DataFrame, chunk_size: int = 1000, chunk_overlap: int = 100) -> pd.DataFrame:
    """Splits each record's text into character chunks with LangChain's
    `RecursiveCharacterTextSplitter` (paragraph, line, word boundaries first; the AWS post's
    splitter and its 1,000/100 setting).

    Returns:
        Chunks with `CHUNK_COLUMNS`; `chunk_id` is `<record id>:<character offset>`, stable across
        runs for the same text.
    """
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap, add_start_index=True)
    rows = []
    for record in records.itertuples(index=False):
        for piece in splitter.create_documents([str(record.text)]):
            offset = int(piece.metadata["start_index"])
            chunk_id = f"{record.record_id}:{offset}"
            rows.append((chunk_id, record.record_id, offset, record.url, record.language, piece.page_content))
    return pd.DataFrame(rows, columns=CHUNK_COLUMNS)


def squad_paragraph_records(squad_path: Path) -> list[dict]:
    """OSCAR 23.01 records built from the SQuAD v2.0 paragraphs (real Wikipedia text), one per
    paragraph (`oscar_records`)."""
    squad = json.loads(squad_path.read_text(encoding="utf-8"))
    return oscar_records(
        (f"https://en.wikipedia.org/wiki/{article['title']}#paragraph-{index}", paragraph["context"])
        for article in squad["data"]
        for index, paragraph in enumerate(article["paragraphs"])
    )


def oscar_records(texts: Iterable[tuple[str, str]], date: str = "2016-06-16T00:00:00Z") -> list[dict]:
    """OSCAR 23.01 records of (URL, text) pairs: deterministic record ids (UUID5 of the URL),
    language `en`, and OSCAR 23.01's document-level quality warnings computed by its own rules
    where the text allows (`tiny`: fewer than 5 lines; `short_sentences`: more than half of the
    lines under 100 bytes; `noisy`: fewer than half of the characters letters, a stand-in for
    OSCAR's non-letter ratio rule)."""
    records = []
    for url, text in texts:
        lines = text.split("\n")
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", text) if s]
        letters = sum(character.isalpha() for character in text)
        warnings = []
        if len(lines) < 5:
            warnings.append("tiny")
        if sum(len(line.encode()) < 100 for line in lines) > len(lines) / 2:
            warnings.append("short_sentences")
        if letters < len(text) / 2:
            warnings.append("noisy")
        records.append(
            {
                "content": text,
                "warc_headers": {
                    "warc-record-id": f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, url)}>",
                    "warc-target-uri": url,
                    "warc-date": date,
                    "warc-type": "conversion",
                    "content-length": str(len(text.encode())),
                    "warc-block-digest": f"sha256:{hashlib.sha256(text.encode()).hexdigest()}",
                    "warc-identified-content-language": "eng",
                },
                "metadata": {
                    "identification": {"label": "en", "prob": 0.99},
                    "harmful_pp": None,
                    "tlsh": None,
                    "quality_warnings": warnings or None,
                    "categories": None,
                    "sentence_identifications": [{"label": "en", "prob": 0.99} for _ in sentences],
                },
            }
        )
    return records


def write_shards(records: list[dict], directory: Path, shards: int, compress: bool = True) -> list[Path]:
    """Writes records round-robin into `shards` OSCAR-layout files `en_meta_<n>.jsonl[.zst]`
    (OSCAR's own naming) in `directory`; returns their paths."""
    import zstandard

    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for shard in range(shards):
        lines = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records[shard::shards])
        path = directory / f"en_meta_{shard + 1}.jsonl{'.zst' if compress else ''}"
        data = lines.encode()
        path.write_bytes(zstandard.ZstdCompressor(level=10).compress(data) if compress else data)
        paths.append(path)
    return paths
