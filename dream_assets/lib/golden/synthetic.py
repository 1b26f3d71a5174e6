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

This module is the Ray fan-out and the batch loop; its settings and results are
`synthetic_settings`, the ragas side (prompt, terms, scenarios, an item's tries) is
`synthetic_ragas`, what is kept (contexts, rejection reasons, the merge) is `synthetic_filters`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from dream_assets.lib.documents.parsing import normalise_whitespace
from dream_assets.lib.golden.synthetic_filters import merge_batches
from dream_assets.lib.golden.synthetic_ragas import ask_item, document_items, query_answer_prompt
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


def generate_batch(documents: list[ParsedDocument], settings: SyntheticSettings, llm_settings, cache_dir: str | None):
    """Generates the questions of a batch of documents (the body of one Ray task).

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

    Returns:
        A `BatchResult`.
    """
    from ragas.testset.synthesizers.single_hop.specific import SingleHopSpecificQuerySynthesizer

    from dream_assets.lib.llm.ragas_llm import make_ragas_llm

    llm = make_ragas_llm(llm_settings, cache_dir, seed=settings.seed)
    synthesizer = SingleHopSpecificQuerySynthesizer(llm=llm, generate_query_reference_prompt=query_answer_prompt())
    result = BatchResult(documents=[document.document_id for document in documents])
    for document in documents:
        if document.language and document.language not in settings.languages:
            detail = f"the document is in {document.language!r}; questions are asked in {settings.languages}"
            result.failures.append(_document_failure(document.document_id, "unsupported_language", detail))
            continue
        items, chunks = document_items(document, settings)
        result.contexts.extend(chunks.drop(columns=["terms"]).to_dict(orient="records"))
        if not any(chunks["terms"].map(len)):
            detail = "no context has a capitalised term to ask about (names, places, works)"
            result.failures.append(_document_failure(document.document_id, "no_key_terms", detail))
        for item, scenario in items:
            sample, reason, excerpt, attempts = ask_item(synthesizer, llm, scenario, item["text"], settings)
            base = {"document_id": document.document_id, "context_id": item["context_id"], "term": item["term"]}
            if reason:
                logger.info("%s: item failed after %d attempts: %s", item["context_id"], attempts, reason)
                result.failures.append({**base, "attempts": attempts, "reason": reason, "excerpt": excerpt})
                continue
            result.rows.append(_question_row(document.document_id, item, sample, synthesizer.name))
    result.llm_requests, result.llm_calls, result.llm_usage = llm.requests, llm.calls, llm.gateway.usage
    return result


def _question_row(document_id: str, item: dict, sample, synthesizer_name: str) -> dict:
    """A kept question's row (`SYNTHETIC_COLUMNS` less `question_id`)."""
    question, answer = normalise_whitespace(sample.user_input), normalise_whitespace(sample.reference)
    return {
        "document_id": document_id,
        "user_input": question,
        "reference": answer,
        "reference_answers": [answer],
        "reference_contexts": [item["text"]],
        "reference_context_ids": [item["context_id"]],
        "synthesizer_name": synthesizer_name,
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
) -> SyntheticResult:
    """Generates the synthetic golden set over Ray tasks (Ray must be initialised).

    Documents, sorted by id, are cut into batches of `documents_per_task`; each batch is one
    Ray task of one CPU (`generate_batch`); at most `max_workers` run at once (0: as many as
    the cluster schedules). The driver merges and deduplicates (`merge_batches`).

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
