"""The synthetic golden dataset: ragas' single-hop query synthesizer over a knowledge graph of the
parsed documents' chunks, distributed over Ray tasks (a batch of documents per task).

Per document: the text is split into reference contexts (LlamaIndex `SentenceSplitter`, each a
character span of the parsed text, so every reference is grounded by construction); the chunks
become `CHUNK` nodes of a ragas `KnowledgeGraph`, a ragas `Extractor` gives each its `entities`;
a seeded draw picks `questions_per_document` chunks and, for each, a term, a persona, a query
style and a length (a ragas `SingleHopScenario`); ragas' `SingleHopSpecificQuerySynthesizer`
asks the LLM for the question and its reference answer.

ragas' `TestsetGenerator.generate` is not used for that last step: it asks the LLM to match
personas to themes for every chunk (one more structured call per chunk that a small model
rarely gets right), and a sample that fails becomes NaN, which then fails the whole `Testset`.
Calling the synthesizer per scenario keeps ragas' prompts and types and lets DREAM retry each
item and record why it failed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
from pydantic import BaseModel, Field

from dream_assets.lib.golden import CONTEXT_COLUMNS, QUESTION_COLUMNS, GoldenDataset
from dream_assets.lib.hashing import content_hash
from dream_assets.lib.llm_gateway import GenerationError, LlmUsage
from dream_assets.lib.metrics import normalize_answer
from dream_assets.lib.parsing import ParsedDocument, normalise_whitespace

logger = logging.getLogger(__name__)

SYNTHETIC_COLUMNS = [*QUESTION_COLUMNS, "synthesizer_name", "persona_name", "query_style", "query_length", "term"]
FAILURE_COLUMNS = ["document_id", "context_id", "term", "attempts", "reason", "excerpt"]
# Personas of people who would query an encyclopaedic corpus; ragas would otherwise ask the LLM
# to invent them from document summaries (`generate_personas_from_kg`).
DEFAULT_PERSONAS = (
    ("Student", "A secondary-school student looking up facts for homework."),
    ("Journalist", "A reporter checking names, dates and figures before publishing."),
    ("Researcher", "An academic who needs precise details and their context."),
)
# Capitalised words that start sentences rather than name things.
_NOT_TERMS = {"The", "A", "An", "In", "On", "At", "It", "Its", "This", "That", "These", "Those", "He", "She", "They"}
_NOT_TERMS |= {"His", "Her", "Their", "There", "As", "By", "For", "From", "Of", "To", "With", "After", "Before", "When"}
_NOT_TERMS |= {"While", "Although", "However", "But", "And", "Or", "If", "Since", "During", "Many", "Some", "Most"}
_TERM = re.compile(r"[A-Z][\w'\-]+(?:\s+(?:of|the|de|du|von|van|and)?\s*[A-Z][\w'\-]+)*")
# A question as a grammar can enforce it: a capital, 9 to 151 characters, a final '?'.
QUESTION_PATTERN = r"^[A-Z][^?\n]{8,150}\?$"
_STOP_TOKENS = {"what", "which", "who", "whom", "when", "where", "why", "how", "does", "did", "was", "were", "are"}


class SyntheticSettings(BaseModel):
    """How the synthetic set is generated (plain data, sent to Ray tasks).

    Attributes:
        questions_per_document: questions asked per document (at most one per chunk).
        chunk_size: reference-context size in tokens (LlamaIndex `SentenceSplitter`).
        chunk_overlap: overlap of consecutive contexts, in tokens.
        max_terms: terms kept per chunk (most frequent capitalised phrases).
        seed: seed of every draw and of the LLM's sampling.
        max_attempts: tries per item; the first is greedy (temperature 0), the others sample
            at `retry_temperature` with seed `seed + attempt`, so a retry can differ.
        retry_temperature: sampling temperature of retries.
        min_question_chars, max_question_chars: bounds on a question's length.
        min_answer_overlap: share of the reference answer's tokens that must occur in its
            context (SQuAD normalisation); below it the answer is not grounded.
        personas: (name, role description) pairs.
        languages: ISO 639-1 codes of the document languages questions are asked in
            (`ParsedDocument.language`; a document of unknown language is tried). The default
            generator (Qwen2.5-Coder-0.5B), the one-shot example and the question grammar are English;
            a document in another language gets one failure row, `unsupported_language`, instead
            of questions in a language it is not written in. Add codes with a multilingual LLM.
    """

    questions_per_document: int = 3
    chunk_size: int = 192
    chunk_overlap: int = 0
    max_terms: int = 5
    seed: int = 0
    max_attempts: int = 3
    retry_temperature: float = 0.7
    min_question_chars: int = 12
    max_question_chars: int = 300
    min_answer_overlap: float = 0.6
    personas: list[tuple[str, str]] = list(DEFAULT_PERSONAS)
    query_styles: list[str] = ["PERFECT_GRAMMAR", "POOR_GRAMMAR", "MISSPELLED"]
    languages: list[str] = ["en"]


class SyntheticQueryAnswer(BaseModel):
    """ragas' `GeneratedQueryAnswer` with bounds that constrained decoding enforces: a question
    matching `QUESTION_PATTERN` (so ragas' `WEB_SEARCH_LIKE` style, which drops the '?', is not
    in the default styles) and an answer of 1 to 200 characters."""

    query: str = Field(pattern=QUESTION_PATTERN)
    answer: str = Field(min_length=1, max_length=200)


def query_answer_prompt():
    """The ragas single-hop `QueryAnswerGenerationPrompt` with `SyntheticQueryAnswer` as output and
    an encyclopaedic one-shot example in place of ragas' software-architecture one, which small
    models copy word for word (measured with SmolLM2-135M and Gemma 3 270M)."""
    from ragas.testset.persona import Persona
    from ragas.testset.synthesizers.single_hop.prompts import QueryAnswerGenerationPrompt, QueryCondition

    prompt = QueryAnswerGenerationPrompt()
    prompt.output_model = SyntheticQueryAnswer
    example = QueryCondition(
        persona=Persona(name=DEFAULT_PERSONAS[0][0], role_description=DEFAULT_PERSONAS[0][1]),
        term="Gustave Eiffel",
        query_style="Perfect grammar",
        query_length="short",
        context="The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris. It is named after "
        "the engineer Gustave Eiffel, whose company designed and built the tower from 1887 to 1889.",
    )
    answer = SyntheticQueryAnswer(query="Whose company designed and built the Eiffel Tower?", answer="Gustave Eiffel's")
    prompt.examples = [(example, answer)]
    return prompt


@dataclass
class BatchResult:
    """What one Ray task returns: question rows (`SYNTHETIC_COLUMNS` less `question_id`),
    context rows (`CONTEXT_COLUMNS`), failure rows (`FAILURE_COLUMNS`), LLM requests made
    (`llm_requests`, cache hits included), calls that reached the model (`llm_calls`) and the
    LLM gateway's full counts (`llm_usage`: tokens and their cost too)."""

    documents: list[str]
    rows: list[dict] = field(default_factory=list)
    contexts: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    llm_requests: int = 0
    llm_calls: int = 0
    llm_usage: LlmUsage = field(default_factory=LlmUsage)


@dataclass
class SyntheticResult:
    """The merged synthetic set: the golden dataset (questions with `SYNTHETIC_COLUMNS`, the
    contexts they point into), every failed item with its reason, LLM counts (requests, calls,
    tokens, and their cost in US dollars at `config/llms.yaml` prices), and the wall time of
    generation in seconds."""

    golden: GoldenDataset
    failures: pd.DataFrame
    llm_requests: int
    llm_calls: int
    seconds: float
    llm_cost_usd: float = 0.0
    llm_tokens: int = 0


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
        start, end = node.start_char_idx, node.end_char_idx
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


def _term_extractor(max_terms: int):
    """A ragas `Extractor` that sets each node's `entities` to its `key_terms` (no LLM call;
    ragas' `NERExtractor` asks the LLM, which a small local model answers poorly)."""
    from ragas.testset.transforms.base import Extractor

    class TermExtractor(Extractor):
        async def extract(self, node):  # noqa: D102 - see the enclosing docstring
            return "entities", key_terms(node.get_property("page_content") or "", max_terms)

    return TermExtractor(filter_nodes=lambda node: True)


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


def _scenarios(document_id: str, chunks: pd.DataFrame, settings: SyntheticSettings) -> list[dict]:
    """The seeded draw of one document's items: chunks with terms, then term, persona, style,
    length for each. Seeded by (seed, document id), so it does not depend on batching."""
    from ragas.testset.synthesizers.base import QueryLength, QueryStyle

    styles = [QueryStyle[name] for name in settings.query_styles]
    rng = random.Random(f"{settings.seed}:{document_id}")
    candidates = [row for row in chunks.to_dict(orient="records") if row["terms"]]
    drawn = rng.sample(candidates, min(settings.questions_per_document, len(candidates)))
    chosen = sorted(drawn, key=lambda row: row["start"])
    return [
        {
            **row,
            "term": rng.choice(row["terms"][:3]),
            "persona": rng.choice(settings.personas),
            "style": rng.choice(styles),
            "length": rng.choice(list(QueryLength)),
        }
        for row in chosen
    ]


def _document_failure(document_id: str, reason: str, detail: str) -> dict:
    """A failure row (`FAILURE_COLUMNS`) for a whole document: no question was attempted."""
    return {
        "document_id": document_id,
        "context_id": "",
        "term": "",
        "attempts": 0,
        "reason": reason,
        "excerpt": detail,
    }


def generate_batch(documents: list[ParsedDocument], settings: SyntheticSettings, llm_settings, cache_dir: str | None):
    """Generates the questions of a batch of documents (the body of one Ray task).

    Each item is tried up to `settings.max_attempts` times; an attempt fails on an exception
    (transport errors and output of the wrong shape are first retried by the LLM gateway with
    backoff, within the LLM's `max_attempts`) or on a `rejection_reason`. An item whose attempts all fail is recorded in
    `failures` with its last reason; it never stops the batch.

    Args:
        documents: parsed documents of the batch.
        settings: generation settings.
        llm_settings: `resources.llm.LlmSettings` of the generating LLM.
        cache_dir: LLM response cache root (see `resources.ragas_llm.make_ragas_llm`), or None.

    Returns:
        A `BatchResult`.
    """
    from ragas.testset.graph import KnowledgeGraph, Node, NodeType
    from ragas.testset.persona import Persona
    from ragas.testset.synthesizers.single_hop.base import SingleHopScenario
    from ragas.testset.synthesizers.single_hop.specific import SingleHopSpecificQuerySynthesizer
    from ragas.testset.transforms import apply_transforms

    from resources.ragas_llm import make_ragas_llm

    llm = make_ragas_llm(llm_settings, cache_dir, seed=settings.seed)
    synthesizer = SingleHopSpecificQuerySynthesizer(llm=llm, generate_query_reference_prompt=query_answer_prompt())
    result = BatchResult(documents=[document.document_id for document in documents])
    for document in documents:
        if document.language and document.language not in settings.languages:
            detail = f"the document is in {document.language!r}; questions are asked in {settings.languages}"
            result.failures.append(_document_failure(document.document_id, "unsupported_language", detail))
            continue
        chunks = context_chunks(document, settings.chunk_size, settings.chunk_overlap)
        result.contexts.extend(chunks.to_dict(orient="records"))
        nodes = [
            Node(type=NodeType.CHUNK, properties={"page_content": text, "document_metadata": {"id": context_id}})
            for context_id, text in zip(chunks["context_id"], chunks["text"], strict=True)
        ]
        graph = KnowledgeGraph(nodes=nodes)
        apply_transforms(graph, _term_extractor(settings.max_terms))
        chunks = chunks.assign(terms=[node.get_property("entities") for node in nodes])
        by_id = {row.context_id: node for row, node in zip(chunks.itertuples(), nodes, strict=True)}
        if not any(chunks["terms"].map(len)):
            detail = "no context has a capitalised term to ask about (names, places, works)"
            result.failures.append(_document_failure(document.document_id, "no_key_terms", detail))
        for item in _scenarios(document.document_id, chunks, settings):
            scenario = SingleHopScenario(
                term=item["term"],
                nodes=[by_id[item["context_id"]]],
                persona=Persona(name=item["persona"][0], role_description=item["persona"][1]),
                style=item["style"],
                length=item["length"],
            )
            reason, excerpt = "", ""
            for attempt in range(settings.max_attempts):
                llm.temperature = 0.0 if attempt == 0 else settings.retry_temperature
                llm.seed = settings.seed + attempt
                try:
                    sample = asyncio.run(synthesizer.generate_sample(scenario))
                except GenerationError as error:  # the LLM gateway's retries spent: its reason first
                    cause = error.__cause__
                    reason = f"{error.reason}: {error.attempts} tries; {type(cause).__name__}: {cause}"[:300]
                    excerpt = ""
                    continue
                except Exception as error:  # noqa: BLE001 - every failure is recorded with its reason
                    reason, excerpt = f"{type(error).__name__}: {error}"[:300], ""
                    continue
                excerpt = f"Q: {sample.user_input} | A: {sample.reference}"[:300]
                reason = rejection_reason(sample.user_input, sample.reference, item["text"], settings)
                if not reason:
                    break
            if reason:
                logger.info("%s: item failed after %d attempts: %s", item["context_id"], attempt + 1, reason)
                result.failures.append(
                    {
                        "document_id": document.document_id,
                        "context_id": item["context_id"],
                        "term": item["term"],
                        "attempts": attempt + 1,
                        "reason": reason,
                        "excerpt": excerpt,
                    }
                )
                continue
            question, answer = normalise_whitespace(sample.user_input), normalise_whitespace(sample.reference)
            result.rows.append(
                {
                    "document_id": document.document_id,
                    "user_input": question,
                    "reference": answer,
                    "reference_answers": [answer],
                    "reference_contexts": [item["text"]],
                    "reference_context_ids": [item["context_id"]],
                    "synthesizer_name": synthesizer.name,
                    "persona_name": item["persona"][0],
                    "query_style": item["style"].name,
                    "query_length": item["length"].name,
                    "term": item["term"],
                }
            )
    result.llm_requests, result.llm_calls, result.llm_usage = llm.requests, llm.calls, llm.gateway.usage
    return result


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
    contexts = pd.DataFrame(
        sorted((c for batch in batches for c in batch.contexts), key=lambda c: c["context_id"]), columns=CONTEXT_COLUMNS
    )
    questions = pd.DataFrame(kept, columns=SYNTHETIC_COLUMNS)
    failures_table = pd.DataFrame(failures, columns=FAILURE_COLUMNS).sort_values(["context_id"], ignore_index=True)
    reasons = Counter(failures_table["reason"].map(lambda reason: reason.split(":", 1)[0]))
    return GoldenDataset(questions, contexts, dict(reasons)), failures_table


def generate_synthetic_golden(
    documents: dict[str, ParsedDocument],
    settings: SyntheticSettings,
    llm_settings,
    cache_dir: str | None,
    documents_per_task: int = 3,
    max_workers: int = 0,
    on_progress: Callable[[int, int, int, int], None] | None = None,
) -> SyntheticResult:
    """Generates the synthetic golden set over Ray tasks (Ray must be initialised).

    Documents, sorted by id, are cut into batches of `documents_per_task`; each batch is one
    Ray task of one CPU (`generate_batch`); at most `max_workers` run at once (0: as many as
    the cluster schedules). The driver merges and deduplicates (`merge_batches`).

    Args:
        documents: parsed documents by id.
        settings: generation settings.
        llm_settings: `resources.llm.LlmSettings` of the generating LLM.
        cache_dir: LLM response cache root on a filesystem the workers share, or None.
        documents_per_task: documents per Ray task (DREAM's notebooks used 3 PDFs per task).
        max_workers: most tasks in flight.
        on_progress: called with (documents done, documents, questions kept so far, failed
            items so far) after each task.

    Raises:
        ValueError: if `documents` is empty or `documents_per_task` < 1.
    """
    import ray

    if not documents:
        raise ValueError("no parsed documents to generate questions from")
    if documents_per_task < 1:
        raise ValueError(f"documents_per_task must be at least 1, got {documents_per_task}")
    ordered = [documents[key] for key in sorted(documents)]
    batches = [ordered[i : i + documents_per_task] for i in range(0, len(ordered), documents_per_task)]
    task = ray.remote(num_cpus=1, max_retries=0)(generate_batch)
    settings_ref = ray.put(settings)
    start = time.perf_counter()
    pending, results, waiting = [], [], list(batches)
    limit = max_workers or len(batches)
    while waiting or pending:
        while waiting and len(pending) < limit:
            pending.append(task.remote(waiting.pop(0), settings_ref, llm_settings, cache_dir))
        done, pending = ray.wait(pending, num_returns=1)
        results.append(ray.get(done[0]))
        if on_progress is not None:
            finished, kept = sum(len(r.documents) for r in results), sum(len(r.rows) for r in results)
            on_progress(finished, len(ordered), kept, sum(len(r.failures) for r in results))
    golden, failures = merge_batches(results)
    return SyntheticResult(
        golden=golden,
        failures=failures,
        llm_requests=sum(r.llm_requests for r in results),
        llm_calls=sum(r.llm_calls for r in results),
        llm_cost_usd=sum(r.llm_usage.cost_usd for r in results),
        llm_tokens=sum(r.llm_usage.prompt_tokens + r.llm_usage.completion_tokens for r in results),
        seconds=time.perf_counter() - start,
    )
