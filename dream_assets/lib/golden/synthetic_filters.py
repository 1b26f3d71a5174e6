"""What the synthetic golden set keeps: reference contexts cut from the parsed text, the terms
questions are asked about, the reasons a generated (question, answer) is rejected, and the merge
of Ray tasks' batches into one set without duplicate questions. Pure logic, no LLM."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

import numpy as np
import pandas as pd

from dream_assets.hashing import content_hash
from dream_assets.lib.documents.parsing import normalise_whitespace
from dream_assets.lib.evaluation.formulas import normalize_answer
from dream_assets.lib.golden.squad import CONTEXT_COLUMNS, GoldenDataset
from dream_assets.lib.golden.synthetic_settings import (
    QUESTION_MAX_CHARS,
    SYNTHETIC_COLUMNS,
    BatchResult,
    SyntheticSettings,
)
from dream_assets.plugins.parsers import ParsedDocument

FAILURE_COLUMNS = ["document_id", "context_id", "term", "attempts", "reason", "excerpt"]
# Capitalised words that start sentences rather than name things.
_NOT_TERMS = {"The", "A", "An", "In", "On", "At", "It", "Its", "This", "That", "These", "Those", "He", "She", "They"}
_NOT_TERMS |= {"His", "Her", "Their", "There", "As", "By", "For", "From", "Of", "To", "With", "After", "Before", "When"}
_NOT_TERMS |= {"While", "Although", "However", "But", "And", "Or", "If", "Since", "During", "Many", "Some", "Most"}
_TERM = re.compile(r"[A-Z][\w'\-]+(?:\s+(?:of|the|de|du|von|van|and)?\s*[A-Z][\w'\-]+)*")
_STOP_TOKENS = {"what", "which", "who", "whom", "when", "where", "why", "how", "does", "did", "was", "were", "are"}
# A question that points at its source instead of standing alone ("according to the passage").
_NOT_STANDALONE = re.compile(
    r"\b(?:the|this|that|above|given|following|provided)\s+(?:passage|text|context|article|document|excerpt"
    r"|paragraph|section|segment|hop)s?\b|<\d-hop>",
    re.IGNORECASE,
)


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


def lexical_overlap(question: str, context: str) -> float:
    """Share of the question's content words (SQuAD-normalised, longer than 2 characters, not a
    question word) that occur in `context`, in [0, 1]; NaN for a question without content
    words. A measure of how much a question reuses its context's wording, which favours lexical
    retrieval (BM25) over dense retrieval."""
    words = _content_tokens(question)
    return len(words & _content_tokens(context)) / len(words) if words else float("nan")


def rejection_reason(
    question: str, answer: str, context: str, settings: SyntheticSettings, kind: str = "single_hop"
) -> str:
    """Why a generated (question, answer) pair of `kind` (`QUESTION_KINDS`) is not kept, or ''
    if it is.

    Reasons: `empty_question`, `empty_answer`, `question_too_short`, `question_too_long`
    (bounds in `settings`), `question_cut_off` (as long as the generation grammar allows,
    `QUESTION_MAX_CHARS`: cut mid-sentence, seen on a multi-hop question), `not_standalone`
    (the question points at its source: "the passage", "this text", ragas' "<1-hop>" tags; a
    user's question cannot), `wrong_language`
    (the question reads, with probability 0.9 or more over at least 30 letters, as a language
    other than `settings.languages`: measured on 800 SQuAD questions, none misread),
    `question_not_about_context` (no content word in common with the context: small models
    copy ragas' in-prompt example), `answer_not_grounded` (less than `min_answer_overlap` of
    the answer's words occur in the context), `repetitive_output` (a question or answer of 8
    words or more with fewer than half of them distinct: small models loop), and for a
    paraphrased question `paraphrase_too_literal` (more than `max_paraphrase_overlap` of its
    content words occur in the context: `lexical_overlap`).
    """
    from dream_assets.lib.documents.parsing import detect_language

    question, answer = normalise_whitespace(question), normalise_whitespace(answer)
    if not question:
        return "empty_question"
    if not answer:
        return "empty_answer"
    if len(question) < settings.min_question_chars:
        return "question_too_short"
    if len(question) > settings.max_question_chars:
        return "question_too_long"
    if len(question) >= QUESTION_MAX_CHARS:
        return "question_cut_off"
    if _NOT_STANDALONE.search(question):
        return "not_standalone"
    language = detect_language(question, min_letters=30)
    if language and language not in settings.languages:
        return "wrong_language"
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
    if kind == "paraphrased" and lexical_overlap(question, context) > settings.max_paraphrase_overlap:
        return "paraphrase_too_literal"
    return ""


def question_counts(lengths: dict[str, int], capacities: dict[str, int], per_document: int) -> dict[str, int]:
    """How many questions each document is asked: a budget of `per_document` times the number
    of documents, one to each document that can be asked anything (longest first while the
    budget lasts), the rest one at a time to the document with the most characters per question
    it would then have (the highest-averages method of D'Hondt, so counts follow length), never
    past a document's capacity (its contexts with a term to ask about); what a capped document
    cannot take goes to the others.

    Args:
        lengths: characters of each document.
        capacities: most questions each document can be asked.
        per_document: average questions per document.

    Returns:
        Questions by document id (0 for a document without capacity).
    """
    counts = dict.fromkeys(lengths, 0)
    budget = per_document * len(lengths)
    order = sorted(lengths, key=lambda key: (-lengths[key], key))
    for key in order:
        if budget > 0 and capacities.get(key, 0) > 0:
            counts[key], budget = 1, budget - 1
    while budget > 0:
        open_ = [key for key in order if counts[key] < capacities.get(key, 0)]
        if not open_:
            break
        chosen = max(open_, key=lambda key: lengths[key] / (counts[key] + 1))  # first of equals: longest
        counts[chosen], budget = counts[chosen] + 1, budget - 1
    return counts


def _failure(row: dict, reason: str, excerpt: str) -> dict:
    return {
        "document_id": row["document_id"],
        "context_id": row["reference_context_ids"][0],
        "term": row["term"],
        "attempts": 0,
        "reason": reason,
        "excerpt": excerpt[:300],
    }


def near_duplicates(vectors: np.ndarray, threshold: float) -> dict[int, int]:
    """Rows of `vectors` (n x d, any norm) whose cosine similarity to an earlier kept row is
    `threshold` or more, each mapped to that kept row; rows are visited in order, so the first
    of a group is kept."""
    unit = vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
    dropped, kept = {}, []
    for row in range(len(unit)):
        if kept:
            similarity = unit[kept] @ unit[row]
            best = int(np.argmax(similarity))
            if similarity[best] >= threshold:
                dropped[row] = kept[best]
                continue
        kept.append(row)
    return dropped


def merge_batches(
    batches: list[BatchResult], embed: Callable[[list[str]], np.ndarray] | None = None, threshold: float = 0.92
) -> tuple[GoldenDataset, pd.DataFrame]:
    """Merges batch results (of one generation, or of all its rounds) into one golden set, in
    document order; contexts, and a document's own failures, repeated by later rounds are kept once.

    Questions equal after lower-casing and whitespace normalisation are kept once; the others
    become failures with reason `duplicate_question`. With `embed` (texts to an n x d array),
    a question whose embedding's cosine similarity to an earlier kept question's is `threshold`
    or more becomes a failure `near_duplicate`, its excerpt naming the kept one. `question_id`
    is the content hash of (context id, question): stable across runs and batchings.

    Returns:
        (the golden dataset, failures with `FAILURE_COLUMNS`).
    """
    rows = sorted((row for batch in batches for row in batch.rows), key=lambda r: r["reference_context_ids"][0])
    failures, documents_failed = [], set()
    for failure in (failure for batch in batches for failure in batch.failures):
        # a document's own failure (no context: language, no term) recurs in every round: kept once
        if not failure["context_id"]:
            reason = (failure["document_id"], str(failure["reason"]).split(":", 1)[0])
            if reason in documents_failed:
                continue
            documents_failed.add(reason)
        failures.append(failure)
    kept, seen = [], set()
    for row in rows:
        normalised = normalise_whitespace(row["user_input"]).lower()
        if normalised in seen:
            failures.append(_failure(row, "duplicate_question", row["user_input"]))
            continue
        seen.add(normalised)
        kept.append({"question_id": content_hash([row["reference_context_ids"][0], normalised], length=16), **row})
    if embed is not None and len(kept) > 1:
        dropped = near_duplicates(embed([row["user_input"] for row in kept]), threshold)
        for row, twin in dropped.items():
            failures.append(
                _failure(kept[row], "near_duplicate", f"{kept[row]['user_input']} ≈ {kept[twin]['user_input']}")
            )
        kept = [row for index, row in enumerate(kept) if index not in dropped]
    unique = {str(c["context_id"]): c for batch in batches for c in batch.contexts}  # each round's are the same
    rows: list[dict] = [unique[key] for key in sorted(unique)]
    contexts = pd.DataFrame(rows, columns=pd.Index(CONTEXT_COLUMNS))
    questions = pd.DataFrame(kept, columns=SYNTHETIC_COLUMNS)
    failures_table = pd.DataFrame(failures, columns=FAILURE_COLUMNS).sort_values(["context_id"], ignore_index=True)
    reasons = Counter(failures_table["reason"].map(lambda reason: reason.split(":", 1)[0]))
    return GoldenDataset(questions, contexts, dict(reasons)), failures_table
