"""The synthetic golden dataset: ragas' query synthesizers over a knowledge graph of the parsed
documents' chunks, distributed over Ray tasks (a batch of documents per task).

The set's budget (`questions_per_document` times the documents) is shared among the documents
in proportion to their length (`question_counts`). Per document: the text is split into
reference contexts (LlamaIndex `SentenceSplitter`, each a character span of the parsed text, so
every reference is grounded by construction); the chunks become `CHUNK` nodes of a ragas
`KnowledgeGraph`, a ragas `Extractor` gives each its `entities`; a seeded draw picks contexts
spread over the document and, for each, a kind (single-hop, paraphrased, multi-hop), a term, a
persona, a query style and a length (a ragas `SingleHopScenario`, or a `MultiHopScenario` over
the context and the nearest one sharing the term); ragas' `SingleHopSpecificQuerySynthesizer`
or `MultiHopSpecificQuerySynthesizer` asks the LLM for the question and its reference answer,
and a paraphrased item's question is then rewritten in other words. The driver drops exact and
near duplicates (embedding similarity).

ragas' `TestsetGenerator.generate` is not used for that last step: it asks the LLM to match
personas to themes for every chunk (one more structured call per chunk that a small model
rarely gets right), and a sample that fails becomes NaN, which then fails the whole `Testset`.
Calling the synthesizer per scenario keeps ragas' prompts and types and lets DREAM retry each
item and record why it failed.

This module is the Ray fan-out and the batch loop; its settings and results are
`synthetic_settings`, the prompts `synthetic_prompts`, the ragas side (terms, scenarios,
synthesizers, an item's tries) `synthetic_ragas`, what is kept (contexts, budget, rejection
reasons, the merge) `synthetic_filters`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from dream_assets.lib.documents.parsing import normalise_whitespace
from dream_assets.lib.golden.sizing import RoundOutcome, SizingRule, sizing_note, stop_reason
from dream_assets.lib.golden.squad import GoldenDataset
from dream_assets.lib.golden.synthetic_filters import lexical_overlap, merge_batches, question_counts
from dream_assets.lib.golden.synthetic_ragas import (
    ask_item,
    capacity,
    document_items,
    item_contexts,
    item_text,
    make_synthesizers,
    synthesizer_for,
)
from dream_assets.lib.golden.synthetic_settings import (
    BatchResult,
    SyntheticResult,
    SyntheticSettings,
)
from dream_assets.plugins.parsers import ParsedDocument

logger = logging.getLogger(__name__)


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


def generate_batch(
    documents: list[ParsedDocument],
    settings: SyntheticSettings,
    llm_settings,
    cache_dir: str | None,
    counts: dict[str, int],
):
    """Generates the questions of a batch of documents (the body of one Ray task): `counts[id]`
    items of each (default `settings.questions_per_document`).

    Each item is tried up to `settings.max_attempts` times (`ask_item`); an attempt fails on an
    exception (transport errors and output of the wrong shape are first retried by the LLM
    gateway with backoff, within the LLM's `max_attempts`) or on a `rejection_reason`. An item
    whose attempts all fail is recorded in `failures` with its last reason; it never stops the
    batch.

    Args:
        documents: parsed documents of the batch.
        settings: generation settings.
        llm_settings: `resources.llm.LlmSettings` of the generating LLM.
        cache_dir: LLM response cache root (see `dream_assets.lib.llm.ragas_llm.make_ragas_llm`), or None.
        counts: items per document id (`question_counts`); a document not in it gets
            `settings.questions_per_document`.

    Returns:
        A `BatchResult`.
    """
    from dream_assets.lib.llm.ragas_llm import make_ragas_llm

    llm = make_ragas_llm(llm_settings, cache_dir, seed=settings.seed)
    synthesizers = make_synthesizers(llm)
    result = BatchResult(documents=[document.document_id for document in documents])
    for document in documents:
        if not _supported(document, settings):
            detail = f"the document is in {document.language!r}; questions are asked in {settings.languages}"
            result.failures.append(_document_failure(document.document_id, "unsupported_language", detail))
            continue
        items, chunks = document_items(
            document, settings, counts.get(document.document_id, settings.questions_per_document)
        )
        result.contexts.extend(chunks.drop(columns=["terms"]).to_dict(orient="records"))
        if not any(chunks["terms"].map(len)):
            detail = "no context has a capitalised term to ask about (names, places, works)"
            result.failures.append(_document_failure(document.document_id, "no_key_terms", detail))
        for item, scenario in items:
            sample, reason, excerpt, attempts = ask_item(synthesizers, llm, item, scenario, settings)
            base = {"document_id": document.document_id, "context_id": item["context_id"], "term": item["term"]}
            if reason:
                logger.info(
                    "%s: %s item failed after %d attempts: %s", item["context_id"], item["kind"], attempts, reason
                )
                result.failures.append({**base, "attempts": attempts, "reason": reason, "excerpt": excerpt})
                continue
            name = synthesizer_for(synthesizers, item).name
            result.rows.append(_question_row(document.document_id, item, sample, name))
    result.llm_requests, result.llm_calls, result.llm_usage = llm.requests, llm.calls, llm.gateway.usage
    return result


def _supported(document: ParsedDocument, settings: SyntheticSettings) -> bool:
    """Whether questions are asked in the document's language (an unknown one is tried)."""
    return not document.language or document.language in settings.languages


def _capacity(document: ParsedDocument, settings: SyntheticSettings) -> int:
    """Most questions the document can be asked: 0 in an unsupported language."""
    return capacity(document, settings) if _supported(document, settings) else 0


def _question_row(document_id: str, item: dict, sample, synthesizer_name: str) -> dict:
    """A kept question's row (`SYNTHETIC_COLUMNS` less `question_id`)."""
    question, answer = normalise_whitespace(sample.user_input), normalise_whitespace(sample.reference)
    contexts = item_contexts(item)
    return {
        "document_id": document_id,
        "user_input": question,
        "reference": answer,
        "reference_answers": [answer],
        "reference_contexts": [context["text"] for context in contexts],
        "reference_context_ids": [context["context_id"] for context in contexts],
        "synthesizer_name": synthesizer_name,
        "question_kind": item["kind"],
        "lexical_overlap": lexical_overlap(question, item_text(item)),
        "persona_name": item["persona"][0],
        "query_style": item["style"].name,
        "query_length": item["length"].name,
        "term": item["term"],
    }


def generate_synthetic_golden(
    documents: dict[str, ParsedDocument],
    settings: SyntheticSettings,
    llm_settings,
    cache_dir: str | None,
    documents_per_task: int = 3,
    max_workers: int = 0,
    on_progress: Callable[[int, int, int, int], None] | None = None,
    embed: Callable[[list[str]], Any] | None = None,
) -> SyntheticResult:
    """Generates the synthetic golden set over Ray tasks (Ray must be initialised), at a fixed
    size: `settings.questions_per_document` times the documents.

    The driver shares the budget among the documents (`question_counts`, from each one's
    length and contexts with terms); documents, sorted by id, are cut into batches of
    `documents_per_task`; each batch is one Ray task of one CPU (`generate_batch`); at most
    `max_workers` run at once (0: as many as the cluster schedules). The driver merges and
    drops duplicates, and near duplicates when `embed` (texts to an n x d array) is given
    (`merge_batches`, at `settings.near_duplicate_similarity`).

    Args:
        documents: parsed documents by id.
        settings: generation settings.
        llm_settings: `resources.llm.LlmSettings` of the generating LLM.
        cache_dir: LLM response cache root, kept by each node on its own disk (a miss on
            another node asks the LLM again: `dream_assets.lib.node_local`), or None.
        documents_per_task: documents per Ray task (DREAM's notebooks used 3 PDFs per task).
        max_workers: most tasks in flight.
        on_progress: called with (documents done, documents, questions kept so far, failed
            items so far) after each task.
        embed: texts to an n x d array of their embeddings, for the near-duplicate gate; None
            skips it.

    Raises:
        ValueError: if `documents` is empty or `documents_per_task` < 1.
    """
    start = time.perf_counter()
    options = (llm_settings, cache_dir, documents_per_task, max_workers, on_progress)
    batches = _generate_round(documents, settings, *options)
    merged = merge_batches(batches, embed, settings.near_duplicate_similarity)
    return _result(batches, merged, time.perf_counter() - start)


def generate_in_rounds(
    documents: dict[str, ParsedDocument],
    settings: SyntheticSettings,
    rule: SizingRule,
    decide: Callable[[GoldenDataset, int, int, float], RoundOutcome],
    llm_settings,
    cache_dir: str | None,
    documents_per_task: int = 3,
    max_workers: int = 0,
    on_progress: Callable[[int, int, int, int], None] | None = None,
    embed: Callable[[list[str]], Any] | None = None,
) -> SyntheticResult:
    """Generates the synthetic golden set in rounds until the decision it feeds has settled or
    its budget is spent (`dream_assets.lib.golden.sizing`).

    Round 1 asks `rule.first_round_per_document` questions per document with `settings.seed`
    (the fixed-size set of that size); round r asks `rule.round_per_document` more with seed
    `settings.seed + r - 1` (other contexts, terms and personas). After each round every round's
    batches are merged (`merge_batches`: a question of a later round that repeats one kept is
    rejected as a duplicate) and `decide` is called with (the set so far, the round, LLM calls
    so far, seconds so far); its `RoundOutcome`s go to `stop_reason`.

    Args:
        documents: parsed documents by id.
        settings: generation settings (its `questions_per_document` is the rule's per round).
        rule: the round sizes, the stability rule and the budgets.
        decide: scores the set so far (the retrieval tier of every configuration, ranked and
            tiered on the selection split).
        llm_settings: as `generate_synthetic_golden`.
        cache_dir: as `generate_synthetic_golden`.
        documents_per_task: as `generate_synthetic_golden`.
        max_workers: as `generate_synthetic_golden`.
        on_progress: as `generate_synthetic_golden`, restarting each round.
        embed: as `generate_synthetic_golden`.

    Returns:
        The `SyntheticResult`, with `rounds` (each round's outcome, as plain data),
        `stopped_because` (a key of `STOP_REASONS`) and `sizing_note`.

    Raises:
        ValueError: as `generate_synthetic_golden`.
    """
    start, batches, history = time.perf_counter(), [], []
    while True:
        size = rule.first_round_per_document if not history else rule.round_per_document
        update = {"questions_per_document": size, "seed": settings.seed + len(history)}
        options = (llm_settings, cache_dir, documents_per_task, max_workers, on_progress)
        batches += _generate_round(documents, settings.model_copy(update=update), *options)
        merged = merge_batches(batches, embed, settings.near_duplicate_similarity)
        calls = sum(batch.llm_calls for batch in batches)
        history.append(decide(merged[0], len(history) + 1, calls, time.perf_counter() - start))
        if reason := stop_reason(history, rule):
            break
    result = _result(batches, merged, time.perf_counter() - start)  # the last round's merge is the set
    result.rounds = [outcome.record() for outcome in history]
    result.stopped_because, result.sizing_note = reason, sizing_note(history, reason, rule)
    return result


def _generate_round(
    documents: dict[str, ParsedDocument],
    settings: SyntheticSettings,
    llm_settings,
    cache_dir: str | None,
    documents_per_task: int,
    max_workers: int,
    on_progress: Callable[[int, int, int, int], None] | None,
) -> list[BatchResult]:
    """One pass over every document (`generate_synthetic_golden`'s fan-out): the batches' results."""
    import ray

    if not documents:
        raise ValueError("no parsed documents to generate questions from")
    if documents_per_task < 1:
        raise ValueError(f"documents_per_task must be at least 1, got {documents_per_task}")
    ordered = [documents[key] for key in sorted(documents)]
    capacities = {document.document_id: _capacity(document, settings) for document in ordered}
    lengths = {document.document_id: len(document.text) for document in ordered}
    counts = question_counts(lengths, capacities, settings.questions_per_document)
    batches = [ordered[i : i + documents_per_task] for i in range(0, len(ordered), documents_per_task)]
    task = ray.remote(num_cpus=1, max_retries=0)(generate_batch)
    settings_ref = ray.put(settings)
    pending, results, waiting = [], [], list(batches)
    limit = max_workers or len(batches)
    while waiting or pending:
        while waiting and len(pending) < limit:
            batch = waiting.pop(0)
            batch_counts = {document.document_id: counts[document.document_id] for document in batch}
            pending.append(task.remote(batch, settings_ref, llm_settings, cache_dir, batch_counts))
        done, pending = ray.wait(pending, num_returns=1)
        results.append(ray.get(done[0]))
        if on_progress is not None:
            finished, kept = sum(len(r.documents) for r in results), sum(len(r.rows) for r in results)
            on_progress(finished, len(ordered), kept, sum(len(r.failures) for r in results))
    return results


def _result(batches: list[BatchResult], merged: tuple, seconds: float) -> SyntheticResult:
    """The set `merged` from `batches` (`merge_batches`' result) with their LLM counts."""
    golden, failures = merged
    return SyntheticResult(
        golden=golden,
        failures=failures,
        llm_requests=sum(r.llm_requests for r in batches),
        llm_calls=sum(r.llm_calls for r in batches),
        llm_cost_usd=sum(r.llm_usage.cost_usd for r in batches),
        llm_tokens=sum(r.llm_usage.prompt_tokens + r.llm_usage.completion_tokens for r in batches),
        seconds=seconds,
    )
