"""The human golden dataset: SQuAD v2.0 questions aligned to the parsed PDFs of their articles.

Columns follow ragas (`user_input`, `reference`, `reference_contexts`) plus the ids DREAM needs to
score retrieval against ground truth (`reference_context_ids`, `question_id`, `document_id`).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from dream_assets.hashing import slugify
from dream_assets.lib.documents.parsing import normalise_whitespace
from dream_assets.lib.golden.alignment import align_context
from dream_assets.plugins.parsers import ParsedDocument

QUESTION_COLUMNS = [
    "question_id",
    "document_id",
    "user_input",
    "reference",
    "reference_answers",
    "reference_contexts",
    "reference_context_ids",
]
CONTEXT_COLUMNS = ["context_id", "document_id", "start", "end", "text"]


@dataclass
class GoldenDataset:
    """A golden dataset and the catalogue of every context its references point into.

    Attributes:
        questions: one row per question, columns `QUESTION_COLUMNS`.
        contexts: one row per reference context (here: every SQuAD paragraph of the corpus,
            asked about or not), with its character span [start, end) in the parsed text of its
            document; columns `CONTEXT_COLUMNS`. Retrieved chunks are mapped onto these ids.
        skipped: counts of questions left out, by reason (`unanswerable`, `question_length`:
            empty or over `MAX_QUESTION_CHARS`, `document_not_parsed`, `context_not_found`).
        collapsed: questions merged into another of the same document with the same text
            (normalised: case and whitespace), their answers and contexts merged.
    """

    questions: pd.DataFrame
    contexts: pd.DataFrame
    skipped: dict[str, int] = field(default_factory=dict)
    collapsed: int = 0


# Longest question kept in a golden set and answered by the served model, in characters (about
# 1,000 tokens): a question is a sentence or a paragraph (the bundled SQuAD 2.0 dev set's longest
# is 182 characters); a pasted document would empty the prompt's context budget and book its
# tokens in the rate limiter.
MAX_QUESTION_CHARS = 4000
# Largest SQuAD-layout file read (256 MiB): six times SQuAD 2.0's training set (40 MiB, 130k
# questions); a JSON file is parsed whole, at about ten times its size in memory.
MAX_SQUAD_BYTES = 256 * 1024**2


def read_squad(path: str | Path) -> dict:
    """Reads a SQuAD-layout JSON file (v1.1 or v2.0: `{"data": [{"title", "paragraphs":
    [{"context", "qas": [{"id", "question", "answers"}]}]}]}`).

    Raises:
        FileNotFoundError: if `path` does not exist.
        ValueError: naming the file and what is missing, if it is not JSON in that layout, or
            its size when it is over `MAX_SQUAD_BYTES` (checked before a byte is read).
    """
    import json
    import os

    if (size := os.path.getsize(path)) > MAX_SQUAD_BYTES:
        raise ValueError(
            f"golden file {path} is {size} bytes, over {MAX_SQUAD_BYTES} (MAX_SQUAD_BYTES): split it, or keep the"
            " articles of your documents"
        )
    try:
        with open(path, encoding="utf-8") as file:
            squad = json.load(file)
    except json.JSONDecodeError as error:
        raise ValueError(f"golden file {path} is not JSON: {error}") from error
    articles = squad.get("data") if isinstance(squad, dict) else None
    if not isinstance(articles, list) or not articles:
        raise ValueError(f"golden file {path} is not SQuAD-shaped: no non-empty `data` list of articles")
    for number, article in enumerate(articles):
        if not isinstance(article, dict) or "title" not in article or not isinstance(article.get("paragraphs"), list):
            raise ValueError(f"golden file {path}: article {number} has no `title` or no `paragraphs` list")
        for paragraph in article["paragraphs"]:
            if not isinstance(paragraph, dict) or "context" not in paragraph or "qas" not in paragraph:
                raise ValueError(f"golden file {path}: a paragraph of {article['title']!r} has no `context` or `qas`")
    return squad


def squad_document_ids(squad: dict) -> dict[str, str]:
    """The document id each SQuAD article is matched to (the slug of its title), by title;
    titles with no letter or digit are left out (they match no document)."""
    ids = {}
    for article in squad["data"]:
        try:
            ids[article["title"]] = slugify(article["title"])
        except ValueError:
            continue
    return ids


def _context_pattern(context: str) -> re.Pattern[str]:
    """Builds a regex for a paragraph in PDF-extracted text.

    PDF fonts without a glyph for a character render it as a placeholder, so every character
    outside Windows-1252 (the PDF standard fonts' encoding) matches any one character.
    """
    parts = []
    for char in normalise_whitespace(context):
        try:
            char.encode("cp1252")
            parts.append(re.escape(char))
        except UnicodeEncodeError:
            parts.append(".")
    return re.compile("".join(parts))


def align_contexts(document: ParsedDocument, paragraphs: list[str]) -> list[tuple[int, int] | None]:
    """Finds each paragraph's character span in the parsed document text.

    Paragraphs are searched in order, each from the end of the previous match, so repeated
    sentences map to the right occurrence; a paragraph not found as it is (text that OCR or a
    layout reading changed) is found by fuzzy alignment (`dream_assets.lib.golden.alignment`).

    Returns:
        One (start, end) per paragraph, or None where the paragraph is not in the text.
    """
    spans: list[tuple[int, int] | None] = []
    cursor = 0
    for paragraph in paragraphs:
        pattern = _context_pattern(paragraph)
        match = pattern.search(document.text, cursor) or pattern.search(document.text)
        if match is not None:
            spans.append((match.start(), match.end()))
            cursor = match.end()
            continue
        start, end, _, how = align_context(normalise_whitespace(paragraph), document.text)
        spans.append((start, end) if how != "missing" else None)
    return spans


def squad_golden_dataset(
    squad: dict,
    documents: dict[str, ParsedDocument],
    questions_per_document: int | None = None,
    seed: int = 0,
) -> GoldenDataset:
    """Builds the human golden dataset from SQuAD v2.0 JSON and the parsed articles.

    Each answerable question keeps its paragraph as `reference_contexts` (id
    `<document_id>:p<index>`) and its first human answer as `reference`; all its answers are in
    `reference_answers` for exact match and F1. Unanswerable questions are counted, not kept.

    Args:
        squad: the official SQuAD JSON layout (`{"data": [{"title", "paragraphs": [...]}]}`).
        documents: parsed documents by document id; an article is matched to the document
            whose id is the slug of its title.
        questions_per_document: sample size per document (seeded by the seed and the document
            id, so one document's sample does not depend on the others; without replacement);
            None keeps every answerable question.
        seed: seed of the sample.

    Returns:
        The golden dataset; `questions` is empty when no article matches a document.
    """
    rows: list[dict] = []
    contexts: list[dict] = []
    skipped = {"unanswerable": 0, "question_length": 0, "document_not_parsed": 0, "context_not_found": 0}
    for article in squad["data"]:
        document_id = slugify(article["title"])
        paragraphs = article["paragraphs"]
        document = documents.get(document_id)
        if document is None:
            skipped["document_not_parsed"] += sum(len(p["qas"]) for p in paragraphs)
            continue
        candidates = _article_candidates(document_id, document, paragraphs, contexts, skipped)
        if questions_per_document is not None and len(candidates) > questions_per_document:
            candidates = random.Random(f"{seed}:{document_id}").sample(candidates, questions_per_document)
        rows.extend(_question_row(qa, context, context_id, document_id) for qa, context, context_id in candidates)
    questions, collapsed = _collapse_duplicates(pd.DataFrame(rows, columns=QUESTION_COLUMNS))
    return GoldenDataset(questions, pd.DataFrame(contexts, columns=CONTEXT_COLUMNS), skipped, collapsed)


def _article_candidates(
    document_id: str, document: ParsedDocument, paragraphs: list[dict], contexts: list[dict], skipped: dict
):
    """The answerable questions of one SQuAD article as (qa, paragraph text, context id), each
    paragraph found in the parsed text appended to `contexts` with its span; questions skipped
    are counted in `skipped` by reason."""
    spans = align_contexts(document, [p["context"] for p in paragraphs])
    candidates = []
    for index, (paragraph, span) in enumerate(zip(paragraphs, spans, strict=True)):
        context_id = f"{document_id}:p{index:03d}"
        # SQuAD v1.1 has no `is_impossible`: every question with an answer is answerable
        answerable = [q for q in paragraph["qas"] if not q.get("is_impossible") and q.get("answers")]
        skipped["unanswerable"] += len(paragraph["qas"]) - len(answerable)
        kept = [q for q in answerable if 0 < len(str(q.get("question", "")).strip()) <= MAX_QUESTION_CHARS]
        skipped["question_length"] += len(answerable) - len(kept)
        answerable = kept
        if span is None:
            skipped["context_not_found"] += len(answerable)
            continue
        contexts.append(
            {
                "context_id": context_id,
                "document_id": document_id,
                "start": span[0],
                "end": span[1],
                "text": document.text[span[0] : span[1]],
            }
        )
        candidates.extend((qa, paragraph["context"], context_id) for qa in answerable)
    return candidates


def _question_row(qa: dict, context: str, context_id: str, document_id: str) -> dict:
    """One golden question: its first answer as `reference`, every distinct answer kept."""
    answers = list(dict.fromkeys(a["text"] for a in qa["answers"]))
    return {
        "question_id": qa["id"],
        "document_id": document_id,
        "user_input": qa["question"].strip(),
        "reference": answers[0],
        "reference_answers": answers,
        "reference_contexts": [context],
        "reference_context_ids": [context_id],
    }


def _collapse_duplicates(questions: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Merges questions of one document whose texts are equal after lower-casing and whitespace
    normalisation (SQuAD v2.0's dev set has 4 such pairs among its 2,910 answerable questions):
    the first keeps its id and reference, and gets the union of the answers and of the
    reference contexts. Returns (questions, how many were merged away)."""
    if questions.empty:
        return questions, 0
    key = questions["document_id"] + "\0" + questions["user_input"].map(lambda t: normalise_whitespace(t).lower())
    if not key.duplicated().any():
        return questions, 0
    merged = []
    for _, group in questions.groupby(key, sort=False):
        row = group.iloc[0].to_dict()
        for column in ("reference_answers", "reference_contexts", "reference_context_ids"):
            row[column] = list(dict.fromkeys(value for values in group[column] for value in values))
        merged.append(row)
    return pd.DataFrame(merged, columns=QUESTION_COLUMNS), len(questions) - len(merged)
