"""One trial's two evaluation tiers: retrieval on every golden question, generation on a sample.

Retrieval tier (`retrieve_questions`): every question is retrieved in one batch
(`Retriever.retrieve_batch`, with the question set's embeddings computed once per embedding
model, `dream_assets.lib.retrieval.query_embeddings`), its retrieved spans mapped to reference-context ids
and scored by every registered retrieval-tier metric (`dream_assets.lib.evaluation.metric_catalog`:
hit_rate@k, mrr@k, ndcg@k and any plug-in), then ragas' `id_based_context_precision` and
`id_based_context_recall` (`dream_assets.lib.evaluation.scoring`).

Generation tier (`answer_questions`): the questions of the seeded generation sample
(`dream_assets.lib.golden.splits.generation_sample`) get an LLM answer (timed, tokens counted,
retried) from the contexts the retrieval tier found, scored by the answer-tier metrics (SQuAD
exact match and token F1, any plug-in) and ragas `semantic_similarity` (ragas' LLM-judged
metrics are scored after the sweep, on the top configurations: `dream_assets.lib.evaluation.judging`).
A question whose generation fails keeps its row, with the error. The per-question table holds both tiers:
`generated` says which rows have an answer; every metric reports its own `n` (`summarize`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence

import pandas as pd
from llama_index.core.llms import LLM

from dream_assets.lib.evaluation.metric_catalog import metric_names, scored_metrics
from dream_assets.lib.llm.failures import GenerationError
from dream_assets.lib.llm.generation import rag_answer
from dream_assets.lib.retrieval.context_matching import ContextCatalogue
from dream_assets.lib.retrieval.retriever import ContextRetriever
from dream_assets.plugins.llm_providers import LlmSettings

logger = logging.getLogger(__name__)

# The metrics ragas scores (`dream_assets.lib.evaluation.scoring` with embeddings, `dream_assets.lib.evaluation.judging`
# with an LLM judge); every metric, with its tier, is in `dream_assets.lib.evaluation.metric_catalog`.
RAGAS_EMBEDDING_METRICS = ["id_based_context_precision", "id_based_context_recall", "semantic_similarity"]
RAGAS_JUDGE_METRICS = metric_names("judge")
# The built-in metrics DREAM scores against ground truth itself (no model): retrieval, answers.
GROUND_TRUTH_METRICS = ["hit_rate", "mrr", "ndcg", "exact_match", "f1"]
# Question columns whose groups get their own metrics: the golden set's source (human,
# synthetic) and the reranker's document split (train, validation, unseen).
GROUP_COLUMNS = ["golden_source", "reranker_split"]


def retrieve_questions(
    questions: pd.DataFrame,
    contexts: pd.DataFrame,
    retriever: ContextRetriever,
    query_embeddings: dict[str, list[float]] | None = None,
    metrics: Sequence[str] = (),
) -> pd.DataFrame:
    """The retrieval tier: every question retrieved in one batch and scored against its
    reference contexts.

    Args:
        questions: golden questions (`question_id`, `user_input`, `reference_context_ids`, ...).
        contexts: the golden set's context catalogue, for `ContextCatalogue` (with a
            `golden_source` column, each question is mapped onto its own source's contexts).
        retriever: the configuration's retriever.
        query_embeddings: each question's embedding by `question_id`, from the index's embedding
            model (`dream_assets.lib.retrieval.query_embeddings`); None: the retriever embeds the texts
            itself, and only when its mode uses embeddings.
        metrics: metrics named by the search space (import paths), scored beside the known
            retrieval-tier ones.

    Returns:
        One row per question: its golden columns plus `retrieved_contexts` (texts handed to
        the LLM), `retrieved_node_ids` and `retrieval_scores` (the index's nodes and the
        retriever's scores, rank order), `retrieved_context_ids` (flattened, rank order, one
        `unmatched:<node>` id per retrieved node covering no reference context), one column
        per retrieval-tier metric (`hit_rate`, `mrr`, `ndcg`, plug-ins) and
        `retrieval_latency_s` (the batch's seconds per question).
    """
    if questions.empty:
        empty = {column: [] for column in ("retrieved_contexts", "retrieved_node_ids", "retrieval_scores")}
        return questions.assign(**empty, retrieved_context_ids=[], retrieval_latency_s=[])
    embeddings = None
    if query_embeddings is not None:
        embeddings = [query_embeddings[question_id] for question_id in questions["question_id"]]
    start = time.perf_counter()
    results = retriever.retrieve_batch(questions["user_input"].tolist(), retriever.top_k, embeddings)
    latency = (time.perf_counter() - start) / len(questions)
    scorers = scored_metrics("retrieval", metrics)
    whole = ContextCatalogue(contexts)
    by_source = {}
    if "golden_source" in contexts:
        by_source = {source: ContextCatalogue(group) for source, group in contexts.groupby("golden_source")}
    rows = []
    for question, retrieved in zip(questions.to_dict("records"), results, strict=True):
        catalogue = by_source.get(str(question.get("golden_source")), whole)
        covered = [catalogue.covered(item) or [f"unmatched:{item.node_id}"] for item in retrieved]
        references = list(question["reference_context_ids"])
        rows.append(
            {
                **question,
                "retrieved_contexts": [item.text for item in retrieved],
                "retrieved_node_ids": [item.node_id for item in retrieved],
                "retrieval_scores": [float(item.score) for item in retrieved],
                "retrieved_context_ids": list(dict.fromkeys(i for ids in covered for i in ids)),
                **{metric.name: metric.value(covered, references) for metric in scorers},
                "retrieval_latency_s": latency,
            }
        )
    return pd.DataFrame(rows)


def answer_questions(
    retrieved: pd.DataFrame,
    llm: LLM,
    llm_settings: LlmSettings,
    on_answered: Callable[[dict], None] | None = None,
    cache=None,
    reserve: Callable[[int], float] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    metrics: Sequence[str] = (),
) -> pd.DataFrame:
    """The generation tier: an LLM answer for each retrieved question, scored.

    Args:
        retrieved: rows of `retrieve_questions` (with `reference_answers`) to answer.
        llm: the answering LLM, built from `llm_settings` with `answer_stop(llm_settings)`.
        llm_settings: its settings: prompt style, context window, answer length, retry budget,
            prices; `identity()` and the stop strings key the answer cache.
        on_answered: called with each question's finished row (to keep it, see
            `dream_assets.lib.evaluation.trial`).
        cache: LLM answer cache (see `generate`), or None.
        reserve: the LLM's rate limiter (`dream_assets.lib.llm.rate_limit.rate_limiter_for`), or None.
        sleep: how to wait between tries (`time.sleep`).
        metrics: metrics named by the search space (import paths), scored beside the known
            answer-tier ones.

    Returns:
        The rows with `response`, one column per answer-tier metric (`exact_match`, `f1`,
        plug-ins), `generation_latency_s`,
        `prompt_tokens`, `completion_tokens`, `cost_usd` (tokens at the LLM's prices),
        `cached` (the answer came from the cache), `attempts` (LLM calls made for it),
        `error_reason` and `error` (both empty when answered; see
        `generation.failure_reason`) and `generated` (True).
    """
    scorers, rows = scored_metrics("answer", metrics), []
    for row in retrieved.to_dict("records"):
        try:
            generation = rag_answer(
                llm, llm_settings, row["user_input"], list(row["retrieved_contexts"]), cache, reserve, sleep
            )
            answers = list(row["reference_answers"])
            row.update(
                response=generation.response,
                **{metric.name: metric.value(generation.response, answers) for metric in scorers},
                generation_latency_s=generation.latency_s,
                prompt_tokens=generation.prompt_tokens,
                completion_tokens=generation.completion_tokens,
                cost_usd=llm_settings.cost_usd(generation.prompt_tokens, generation.completion_tokens),
                cached=generation.cached,
                attempts=generation.attempts,
                error_reason="",
                error="",
            )
        except GenerationError as error:
            logger.warning("question %s: generation failed: %s", row["question_id"], error)
            row.update(not_generated(), attempts=error.attempts, error_reason=error.reason, error=str(error))
        rows.append({**row, "generated": True})
        if on_answered is not None:
            on_answered(rows[-1])
    return pd.DataFrame(rows)


def not_generated() -> dict:
    """Generation-tier columns of a question that got no answer (outside the sample, or failed)."""
    return {
        "response": "",
        **{metric.name: math.nan for metric in scored_metrics("answer")},
        "generation_latency_s": math.nan,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cost_usd": 0.0,
        "cached": False,
        "attempts": 0,
        "error_reason": "",
        "error": "",
        "generated": False,
    }
