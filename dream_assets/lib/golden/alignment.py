"""One golden set, aligned into each parser's text.

The questions do not depend on the parser; their reference contexts are character spans of the
text they were found in (the golden parser's, `SearchSpace.golden_parser`). Each other parser
reads the same documents into other text and other offsets, so each reference context is found
again in that parser's text of its document: an exact match first, then a fuzzy one (RapidFuzz's
`partial_ratio_alignment`: the best-matching span of the document, scored 0-100 by normalised
Indel similarity) at or above `FUZZY_THRESHOLD`, for text that OCR or a layout reading changed. A
context found neither way is kept with an empty span (`start` = `end` = -1): no retrieved node can
cover it, so its questions count as misses for that parser; the loss is what the parser
dimension measures, never silently dropped.
"""

from __future__ import annotations

import pandas as pd

from dream_assets import layout
from dream_assets.plugins.parsers import ParsedDocument

# Lowest RapidFuzz partial-ratio (0-100) accepted as the same passage. A paragraph re-read by OCR
# scores about 97-99 (measured on the hard-documents benchmark's scans); text that shares only a
# few words with the context scores below 60.
FUZZY_THRESHOLD = 90.0
ALIGNED_COLUMNS = ["context_id", "document_id", "start", "end", "text", "alignment", "similarity"]


def align_context(text: str, document: str, threshold: float = FUZZY_THRESHOLD) -> tuple[int, int, float, str]:
    """The span of `text` in `document`: (start, end, similarity 0-100, how: `exact`, `fuzzy` or
    `missing` with start = end = -1)."""
    start = document.find(text)
    if start >= 0:
        return start, start + len(text), 100.0, "exact"
    from rapidfuzz import fuzz

    found = fuzz.partial_ratio_alignment(text, document, score_cutoff=threshold)
    if found is None or found.dest_end <= found.dest_start:
        return -1, -1, float(found.score) if found else 0.0, "missing"
    return found.dest_start, found.dest_end, float(found.score), "fuzzy"


def align_contexts(
    contexts: pd.DataFrame, documents: dict[str, ParsedDocument], threshold: float = FUZZY_THRESHOLD
) -> pd.DataFrame:
    """The reference contexts (`context_id`, `document_id`, `text`, and any other columns,
    kept) with `start`, `end` and `text` re-set to their span in `documents` (one parser's
    parse, by document id), and `alignment` (`exact`, `fuzzy`, `missing`) and `similarity`
    (0-100); a context of a document that parser quarantined is `missing`."""
    rows = []
    for row in contexts.to_dict("records"):
        document = documents.get(row["document_id"])
        if document is None:
            start, end, similarity, how = -1, -1, 0.0, "missing"
        else:
            start, end, similarity, how = align_context(row["text"], document.text, threshold)
        aligned = document.text[start:end] if document is not None and how != "missing" else ""
        rows.append({**row, "start": start, "end": end, "text": aligned, "alignment": how, "similarity": similarity})
    columns = list(dict.fromkeys([*contexts.columns, "alignment", "similarity"]))
    return pd.DataFrame(rows, columns=columns)


def alignment_counts(aligned: pd.DataFrame) -> dict[str, int]:
    """How many contexts aligned exactly, fuzzily, or not at all."""
    counts = aligned["alignment"].value_counts()
    return {how: int(counts.get(how, 0)) for how in ("exact", "fuzzy", "missing")}


def contexts_key(store, golden_prefix: str, parser: str) -> str:
    """Where the golden set's reference contexts in `parser`'s text are: their alignment into it
    when the golden set was built on another parser's text, else `contexts.parquet`."""
    aligned = layout.aligned_contexts_key(golden_prefix, parser)
    return aligned if store.exists(aligned) else f"{golden_prefix}/contexts.parquet"
