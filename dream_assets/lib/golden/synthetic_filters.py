"""What the synthetic golden set keeps: reference contexts cut from the parsed text, the terms
questions are asked about, the reasons a generated (question, answer) is rejected, and the merge
of Ray tasks' batches into one set without duplicate questions. Pure logic, no LLM."""

from __future__ import annotations

import re
from collections import Counter

import pandas as pd

from dream_assets.hashing import content_hash
from dream_assets.lib.documents.parsing import normalise_whitespace
from dream_assets.lib.evaluation.formulas import normalize_answer
from dream_assets.lib.golden.squad import CONTEXT_COLUMNS, GoldenDataset
from dream_assets.lib.golden.synthetic_settings import SYNTHETIC_COLUMNS, BatchResult, SyntheticSettings
from dream_assets.plugins.parsers import ParsedDocument

FAILURE_COLUMNS = ["document_id", "context_id", "term", "attempts", "reason", "excerpt"]
# Capitalised words that start sentences rather than name things.
_NOT_TERMS = {"The", "A", "An", "In", "On", "At", "It", "Its", "This", "That", "These", "Those", "He", "She", "They"}
_NOT_TERMS |= {"His", "Her", "Their", "There", "As", "By", "For", "From", "Of", "To", "With", "After", "Before", "When"}
_NOT_TERMS |= {"While", "Although", "However", "But", "And", "Or", "If", "Since", "During", "Many", "Some", "Most"}
_TERM = re.compile(r"[A-Z][\w'\-]+(?:\s+(?:of|the|de|du|von|van|and)?\s*[A-Z][\w'\-]+)*")
_STOP_TOKENS = {"what", "which", "who", "whom", "when", "where", "why", "how", "does", "did", "was", "were", "are"}


def context_chunks(document: ParsedDocument, chunk_size: int, chunk_overlap: int) -> pd.DataFrame:
    """Splits a parsed document into reference contexts.

    Returns:
        One row per chunk, columns `CONTEXT_COLUMNS`; `context_id` is `<document_id>:c<index>`
        and `text == document.text[start:end]` (chunks LlamaIndex cannot place in the text are
        left out).
    """
    from llama_index.core import Document
    from llama_index.core.node_parser import SentenceSplitter

    splitter = SentenceSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    nodes = splitter.get_nodes_from_documents([Document(text=document.text, id_=document.document_id)])
    rows = []
    for node in nodes:
        start, end = getattr(node, "start_char_idx", None), getattr(node, "end_char_idx", None)
        if start is None or end is None or document.text[start:end] != node.get_content():
            continue
        rows.append(
            {
                "context_id": f"{document.document_id}:c{len(rows):03d}",
                "document_id": document.document_id,
                "start": start,
                "end": end,
                "text": document.text[start:end],
            }
        )
    return pd.DataFrame(rows, columns=CONTEXT_COLUMNS)


def key_terms(text: str, max_terms: int) -> list[str]:
    """Most frequent capitalised phrases of `text` (names of people, places, works), first
    occurrence breaking ties; sentence-initial function words are not terms."""
    counts = Counter()
    first: dict[str, int] = {}
    for match in _TERM.finditer(text):
        words = match.group(0).split()
        while words and words[0] in _NOT_TERMS:
            words = words[1:]
        term = " ".join(words)
        if len(term) < 3:
            continue
        counts[term] += 1
        first.setdefault(term, match.start())
    return sorted(counts, key=lambda term: (-counts[term], first[term]))[:max_terms]


def _content_tokens(text: str) -> set[str]:
    return {token for token in normalize_answer(text).split() if len(token) > 2 and token not in _STOP_TOKENS}


def rejection_reason(question: str, answer: str, context: str, settings: SyntheticSettings) -> str:
    """Why a generated (question, answer) pair is not kept, or '' if it is.

    Reasons: `empty_question`, `empty_answer`, `question_too_short`, `question_too_long`
    (bounds in `settings`), `question_not_about_context` (no content word in common with the
    context: small models copy ragas' in-prompt example), `answer_not_grounded` (less than
    `min_answer_overlap` of the answer's words occur in the context), `repetitive_output`
    (a question or answer of 8 words or more with fewer than half of them distinct: small models
    loop).
    """
    question, answer = normalise_whitespace(question), normalise_whitespace(answer)
    if not question:
        return "empty_question"
    if not answer:
        return "empty_answer"
    if len(question) < settings.min_question_chars:
        return "question_too_short"
    if len(question) > settings.max_question_chars:
        return "question_too_long"
    for text in (question, answer):
        words = normalize_answer(text).split()
        if len(words) >= 8 and len(set(words)) < len(words) / 2:
            return "repetitive_output"
    context_tokens = _content_tokens(context)
    if not _content_tokens(question) & context_tokens:
        return "question_not_about_context"
    answer_tokens = normalize_answer(answer).split()
    present = sum(token in normalize_answer(context).split() for token in answer_tokens)
    if present < settings.min_answer_overlap * len(answer_tokens):
        return "answer_not_grounded"
    return ""


def merge_batches(batches: list[BatchResult]) -> tuple[GoldenDataset, pd.DataFrame]:
    """Merges batch results into one golden set, in document order.

    Questions equal after lower-casing and whitespace normalisation are kept once; the others
    become failures with reason `duplicate_question`. `question_id` is the content hash of
    (document id, context id, question): stable across runs and batchings.

    Returns:
        (the golden dataset, failures with `FAILURE_COLUMNS`).
    """
    rows = sorted((row for batch in batches for row in batch.rows), key=lambda r: r["reference_context_ids"][0])
    failures = [failure for batch in batches for failure in batch.failures]
    kept, seen = [], set()
    for row in rows:
        normalised = normalise_whitespace(row["user_input"]).lower()
        if normalised in seen:
            failures.append(
                {
                    "document_id": row["document_id"],
                    "context_id": row["reference_context_ids"][0],
                    "term": row["term"],
                    "attempts": 0,
                    "reason": "duplicate_question",
                    "excerpt": row["user_input"][:300],
                }
            )
            continue
        seen.add(normalised)
        kept.append({"question_id": content_hash([row["reference_context_ids"][0], normalised], length=16), **row})
    rows: list[dict] = sorted((c for batch in batches for c in batch.contexts), key=lambda c: str(c["context_id"]))
    contexts = pd.DataFrame(rows, columns=pd.Index(CONTEXT_COLUMNS))
    questions = pd.DataFrame(kept, columns=SYNTHETIC_COLUMNS)
    failures_table = pd.DataFrame(failures, columns=FAILURE_COLUMNS).sort_values(["context_id"], ignore_index=True)
    reasons = Counter(failures_table["reason"].map(lambda reason: reason.split(":", 1)[0]))
    return GoldenDataset(questions, contexts, dict(reasons)), failures_table
