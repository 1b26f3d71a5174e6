"""One trial: evaluate one RAG configuration on the golden set, question by question.

Per question: retrieve (timed), map retrieved spans to reference-context ids, generate an answer
(timed, tokens counted), score. Scores: hit_rate@k, mrr@k, SQuAD exact match and token F1
(`dream_assets.lib.metrics`); ragas `id_based_context_precision`, `id_based_context_recall` and
`semantic_similarity` (ragas' name for answer_similarity) on every question; the ragas LLM-judged
metrics (faithfulness, answer_relevancy, context_precision, context_recall, answer_correctness)
on a seeded sample. A question whose generation fails keeps its row, with the error.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.llms import LLM

from dream_assets.lib.generation import GenerationError, RetryPolicy, answer_stop, build_prompt, generate
from dream_assets.lib.metrics import exact_match, hit_rate, reciprocal_rank, token_f1
from dream_assets.lib.retrieval import Retriever, covered_context_ids
from resources.llm import LlmSettings

logger = logging.getLogger(__name__)

GROUND_TRUTH_METRICS = ["hit_rate", "mrr", "exact_match", "f1"]
RAGAS_EMBEDDING_METRICS = ["id_based_context_precision", "id_based_context_recall", "semantic_similarity"]
# Question columns whose groups get their own metrics: the golden set's source (human,
# synthetic) and the reranker's document split (train, validation, unseen).
GROUP_COLUMNS = ["golden_source", "reranker_split"]
RAGAS_JUDGE_METRICS = ["faithfulness", "answer_relevancy", "context_precision", "context_recall", "answer_correctness"]


def answer_questions(
    questions: pd.DataFrame,
    contexts: pd.DataFrame,
    retriever: Retriever,
    llm: LLM,
    llm_settings: LlmSettings,
    on_answered: Callable[[dict], None] | None = None,
    cache=None,
    reserve: Callable[[int], float] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> pd.DataFrame:
    """Runs retrieval and generation for every question.

    Args:
        questions: golden questions (`question_id`, `user_input`, `reference`,
            `reference_answers`, `reference_contexts`, `reference_context_ids`).
        contexts: the golden set's context catalogue, for `covered_context_ids` (with a
            `golden_source` column, each question is mapped onto its own source's contexts).
        retriever: the configuration's retriever.
        llm: the answering LLM, built from `llm_settings` with `answer_stop(llm_settings)`.
        llm_settings: its settings: prompt style, context window, answer length, retry budget,
            prices; `identity()` and the stop strings key the answer cache.
        on_answered: called with each question's finished row (to keep it, see
            `dream_assets.lib.sweep`).
        cache: LLM answer cache (see `generate`), or None.
        reserve: the LLM's rate limiter (`dream_assets.lib.rate_limit.rate_limiter_for`), or None.
        sleep: how to wait between tries (`time.sleep`).

    Returns:
        One row per question: the golden columns plus `retrieved_contexts`,
        `retrieved_context_ids` (flattened, rank order, one `unmatched:<node>` id per retrieved
        node covering no reference context), `response`, `hit_rate`, `mrr`, `exact_match`, `f1`,
        `retrieval_latency_s`, `generation_latency_s`, `prompt_tokens`, `completion_tokens`,
        `cost_usd` (tokens at the LLM's prices), `cached` (the answer came from the cache),
        `attempts` (LLM calls made for it), `error_reason` and `error` (both empty when
        answered; see `generation.failure_reason`).
    """
    rows = []
    retry = RetryPolicy(llm_settings.max_attempts, llm_settings.backoff_s, llm_settings.max_backoff_s)
    identity = {**llm_settings.identity(), "stop": answer_stop(llm_settings)}
    # a golden set of two sources has two context catalogues: a question maps onto its own
    catalogues = dict(tuple(contexts.groupby("golden_source"))) if "golden_source" in contexts else {}
    for question in questions.itertuples(index=False):
        row = question._asdict()
        catalogue = catalogues.get(row.get("golden_source"), contexts)
        retrieved = retriever.retrieve(question.user_input)
        covered = [covered_context_ids(item, catalogue) or [f"unmatched:{item.node_id}"] for item in retrieved]
        row.update(
            retrieved_contexts=[item.text for item in retrieved],
            retrieved_context_ids=list(dict.fromkeys(i for ids in covered for i in ids)),
            hit_rate=hit_rate(covered, question.reference_context_ids),
            mrr=reciprocal_rank(covered, question.reference_context_ids),
            retrieval_latency_s=retriever.last_latency_s,
        )
        prompt = build_prompt(
            question.user_input, row["retrieved_contexts"], llm_settings.context_window, llm_settings.max_tokens
        )
        try:
            generation = generate(
                llm, prompt, llm_settings.prompt_style, cache, identity, retry, reserve, llm_settings.max_tokens, sleep
            )
            answers = list(question.reference_answers)
            row.update(
                response=generation.response,
                exact_match=exact_match(generation.response, answers),
                f1=token_f1(generation.response, answers),
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
            logger.warning("question %s: generation failed: %s", question.question_id, error)
            row.update(
                response="",
                exact_match=math.nan,
                f1=math.nan,
                generation_latency_s=math.nan,
                prompt_tokens=0,
                completion_tokens=0,
                cost_usd=0.0,
                cached=False,
                attempts=error.attempts,
                error_reason=error.reason,
                error=str(error),
            )
        rows.append(row)
        if on_answered is not None:
            on_answered(row)
    return pd.DataFrame(rows)


def ragas_scores(
    answered: pd.DataFrame,
    embed_model: BaseEmbedding,
    judge_llm: LLM | None = None,
    judge_sample_size: int = 0,
    seed: int = 0,
) -> pd.DataFrame:
    """Adds the ragas metric columns to `answered` (from `answer_questions`).

    The embedding metrics are scored on every answered question; the LLM-judged ones on
    `judge_sample_size` answered questions drawn with `seed`, when `judge_llm` is given
    (other rows get NaN: `coverage` in `summarize` says how many were scored). A sample the
    judge cannot score after ragas' retries (`RunConfig`: 2 retries with backoff; malformed
    output also gets ragas' fix-format prompt) is NaN, not an error, and its row's
    `judge_failures` names the metrics that failed (comma-separated; '' when all were scored or
    the row was not in the sample).
    """
    from ragas import EvaluationDataset, evaluate
    from ragas.embeddings import LlamaIndexEmbeddingsWrapper
    from ragas.llms import LlamaIndexLLMWrapper
    from ragas.run_config import RunConfig

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from ragas.metrics import (
            AnswerCorrectness,
            Faithfulness,
            IDBasedContextPrecision,
            IDBasedContextRecall,
            LLMContextPrecisionWithReference,
            LLMContextRecall,
            ResponseRelevancy,
            SemanticSimilarity,
        )

        embeddings = LlamaIndexEmbeddingsWrapper(embed_model)
        scored = answered.copy()
        for name in RAGAS_EMBEDDING_METRICS + RAGAS_JUDGE_METRICS:
            scored[name] = np.nan
        ok = scored.index[scored["error"] == ""]
        if len(ok) == 0:
            return scored
        run_config = RunConfig(max_workers=1, timeout=120, max_retries=2, seed=seed)
        samples = [_sample(scored.loc[i]) for i in ok]
        result = evaluate(
            EvaluationDataset.from_list(samples),
            metrics=[IDBasedContextPrecision(), IDBasedContextRecall(), SemanticSimilarity()],
            embeddings=embeddings,
            run_config=run_config,
            raise_exceptions=False,
            show_progress=False,
        ).to_pandas()
        for name in RAGAS_EMBEDDING_METRICS:
            scored.loc[ok, name] = result[name].to_numpy(dtype=float)
        if judge_llm is None or judge_sample_size <= 0:
            return scored
        sample_index = pd.Index(ok).to_series().sample(min(judge_sample_size, len(ok)), random_state=seed).sort_values()
        judged = evaluate(
            EvaluationDataset.from_list([_sample(scored.loc[i]) for i in sample_index]),
            metrics=[
                Faithfulness(),
                ResponseRelevancy(strictness=1),
                LLMContextPrecisionWithReference(),
                LLMContextRecall(),
                AnswerCorrectness(),
            ],
            llm=LlamaIndexLLMWrapper(judge_llm),
            embeddings=embeddings,
            run_config=run_config,
            raise_exceptions=False,
            show_progress=False,
        ).to_pandas()
    renamed = judged.rename(columns={"llm_context_precision_with_reference": "context_precision"})
    for name in RAGAS_JUDGE_METRICS:
        if name in renamed:
            scored.loc[sample_index.to_numpy(), name] = renamed[name].to_numpy(dtype=float)
    # the judge's failures, per question: metrics ragas could not score after its retries
    scored["judge_failures"] = ""
    for i in sample_index:
        failed = [name for name in RAGAS_JUDGE_METRICS if pd.isna(scored.at[i, name])]
        scored.at[i, "judge_failures"] = ",".join(failed)
    return scored


def _sample(row: pd.Series) -> dict:
    return {
        "user_input": row["user_input"],
        "response": row["response"],
        "reference": row["reference"],
        "retrieved_contexts": list(row["retrieved_contexts"]),
        "reference_contexts": list(row["reference_contexts"]),
        "retrieved_context_ids": list(row["retrieved_context_ids"]),
        "reference_context_ids": list(row["reference_context_ids"]),
    }


def summarize(scored: pd.DataFrame) -> dict[str, float]:
    """Aggregates a per-question table into trial metrics.

    Returns:
        For every metric column present: its mean over scored rows (`<metric>`), its
        coverage, scored / attempted (`<metric>_coverage`), and with several answers per question
        (a `repeat` column) the sample standard deviation of the repeats' means
        (`<metric>_repeat_std`); `questions` (distinct) and `repeats`; for each `GROUP_COLUMNS` column with
        two groups or more (two golden sources; reranker train and validation documents), each
        metric's mean per group as `<group>/<metric>`; latency p50 and p95 in seconds
        (`retrieval_latency_p50_s`, ...); token totals and per-question means; `cost_usd` (all
        answers at the LLM's prices, cached ones included: what the trial costs from scratch);
        `questions`, `errors`, `errors_<reason>` per failure reason, `questions_resumed`
        (answered by an interrupted earlier run), and, for the questions answered in this run,
        `llm_calls` (answers generated), `llm_cache_hits` (answers taken from the cache) and
        `llm_retries` (tries beyond the first) counts. A metric that no question could score has mean NaN
        and coverage 0, never a silent 0.
    """
    questions = scored["question_id"].nunique() if "question_id" in scored else len(scored)
    summary: dict[str, float] = {"questions": float(questions), "errors": float((scored["error"] != "").sum())}
    repeats = scored["repeat"].nunique() if "repeat" in scored else 1
    summary["repeats"] = float(repeats)
    for name in GROUND_TRUTH_METRICS + RAGAS_EMBEDDING_METRICS + RAGAS_JUDGE_METRICS:
        if name not in scored:
            continue
        values = pd.to_numeric(scored[name], errors="coerce")
        summary[name] = float(values.mean()) if values.notna().any() else math.nan
        summary[f"{name}_coverage"] = float(values.notna().mean()) if len(values) else 0.0
        if repeats > 1:  # how much the metric moves between repeats (sample std of their means)
            summary[f"{name}_repeat_std"] = float(values.groupby(scored["repeat"]).mean().std(ddof=1))
    for column in GROUP_COLUMNS:  # e.g. both golden sets: every metric per source, `<source>/<metric>`
        groups = scored[column].dropna().unique() if column in scored else []
        if len(groups) < 2:
            continue
        for source in sorted(groups):
            part = scored[scored[column] == source]
            scored_metrics = GROUND_TRUTH_METRICS + RAGAS_EMBEDDING_METRICS + RAGAS_JUDGE_METRICS
            for name in [n for n in scored_metrics if n in part and scored[n].notna().any()]:
                values = pd.to_numeric(part[name], errors="coerce")
                summary[f"{source}/{name}"] = float(values.mean()) if values.notna().any() else math.nan
    for stage in ("retrieval", "generation"):
        latencies = pd.to_numeric(scored[f"{stage}_latency_s"], errors="coerce").dropna()
        for quantile in (50, 95):
            value = float(np.percentile(latencies, quantile)) if len(latencies) else math.nan
            summary[f"{stage}_latency_p{quantile}_s"] = value
    summary["prompt_tokens"] = float(scored["prompt_tokens"].sum())
    summary["completion_tokens"] = float(scored["completion_tokens"].sum())
    for name in ("prompt_tokens", "completion_tokens"):
        summary[f"{name}_per_question"] = summary[name] / len(scored) if len(scored) else math.nan
    summary["cost_usd"] = float(scored["cost_usd"].sum()) if "cost_usd" in scored else 0.0
    cached = scored["cached"].astype(bool) if "cached" in scored else pd.Series(False, index=scored.index)
    resumed = scored["resumed"].astype(bool) if "resumed" in scored else pd.Series(False, index=scored.index)
    summary["questions_resumed"] = float(resumed.sum())
    summary["llm_cache_hits"] = float((cached & ~resumed).sum())
    summary["llm_calls"] = float(((scored["error"] == "") & ~cached & ~resumed).sum())
    if "attempts" in scored:  # tries beyond the first, answered or not
        summary["llm_retries"] = float((scored["attempts"] - 1).clip(lower=0)[~resumed].sum())
    if "judge_failures" in scored:  # sampled questions the judge could not score on some metric
        summary["judge_failures"] = float((scored["judge_failures"] != "").sum())
    if "error_reason" in scored:
        for reason, count in scored.loc[scored["error_reason"] != "", "error_reason"].value_counts().items():
            summary[f"errors_{reason}"] = float(count)
    return summary
