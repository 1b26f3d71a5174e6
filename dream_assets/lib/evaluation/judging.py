"""ragas' LLM-judged metrics on the answers of the top configurations, and the judge checked
against the human labels a SQuAD-style golden set already has.

The judge is ragas 0.4's structured-output LLM (`InstructorBaseRagasLLM`), built by
`dream_assets.lib.llm.ragas_llm.make_ragas_llm` over the LLM gateway: a bundled model answers every ragas
prompt under a grammar made from the response model ragas passes, so every sample parses; what
ragas still cannot score is NaN with its metric named in `judge_failures`, never an error.

Calibration (`judge_calibration`), after MLflow 3's judge-alignment idea with the labels DREAM
has: Spearman's rho between ragas `answer_correctness` and SQuAD token F1 on the same answers,
and the AUROC of `faithfulness` separating each real (answer, retrieved contexts) pair from
the same answer given another question's contexts, which do not support it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from dream_assets.lib.evaluation.scoring import LlamaIndexRagasEmbedding, run_sync, score_samples
from dream_assets.lib.evaluation.statistics import auroc, spearman_rho
from dream_assets.lib.evaluation.tiers import RAGAS_JUDGE_METRICS

# The judge's answer budget: 512 tokens hold answer correctness' TP/FP/FN lists (256 cut them,
# measured on the demo), and reasons capped at 160 characters keep a 0.5B model's generation short.
JUDGE_MAX_TOKENS = 512
JUDGE_MAX_STRING_CHARS = 160
# What judging each row took: seconds, the judge's tokens and their price, and the requests
# that reached the judge now (not from its cache).
JUDGE_SPEND_COLUMNS = [
    "judge_seconds",
    "judge_prompt_tokens",
    "judge_completion_tokens",
    "judge_cost_usd",
    "judge_calls",
]


def judged_questions(tables: dict[str, pd.DataFrame], size: int, seed: int = 0) -> list[str]:
    """`size` question ids drawn with `seed` among those every table answered without error (so
    each configuration is judged on the same questions: a paired comparison), in sorted order.

    Args:
        tables: per-question tables (`dream_assets.lib.evaluation.tiers`) by configuration key.
        size: questions to draw (fewer when fewer are common to every table).
        seed: the draw's seed.
    """
    common = None
    for table in tables.values():
        answered = table["generated"].astype(bool) & (table["error"] == "") & (table["response"].str.strip() != "")
        ids = set(table.loc[answered, "question_id"])
        common = ids if common is None else common & ids
    pool = pd.Series(sorted(common or []), dtype=object)
    return sorted(pool.sample(min(size, len(pool)), random_state=seed)) if len(pool) else []


def judge_rows(
    rows: pd.DataFrame,
    judge,
    embed_model,
    metrics: list[str] = RAGAS_JUDGE_METRICS,
    contexts: list[list[str]] | None = None,
    on_scored: Callable[[], object] | None = None,
) -> pd.DataFrame:
    """Scores each row with ragas' LLM-judged `metrics` (ragas 0.4's `metrics.collections`).

    Args:
        rows: answered rows with `user_input`, `response`, `reference`, `retrieved_contexts`.
        judge: a `dream_assets.lib.llm.ragas_llm.GatewayRagasLLM` (`make_ragas_llm`): every request goes
            through its LLM gateway (cache, rate limit, retries, tokens and cost).
        embed_model: a LlamaIndex embedding model (answer relevancy and answer correctness
            compare embeddings).
        metrics: names among `RAGAS_JUDGE_METRICS`.
        contexts: the contexts to judge each answer against, in row order (default: its own
            `retrieved_contexts`).
        on_scored: called after each (metric, row) scored: len(rows) × len(metrics) calls (a
            progress bar's step).

    Returns:
        A copy of `rows` with one column per metric (0..1; NaN where ragas could not score
        after the gateway's retries), `judge_failures` (the metrics that are NaN,
        comma-separated), `judge_seconds` (each row's own seconds over all metrics), and the
        judge's `judge_prompt_tokens`, `judge_completion_tokens` and `judge_cost_usd` for the
        row (cache hits included: what judging it costs) and `judge_calls` (requests that
        reached the LLM now: 0 for a row judged before).

    Raises:
        ValueError: for a metric that is not one of `RAGAS_JUDGE_METRICS`.
    """
    unknown = sorted(set(metrics) - set(RAGAS_JUDGE_METRICS))
    if unknown:
        raise ValueError(f"unknown judge metrics {unknown}; known: {RAGAS_JUDGE_METRICS}")
    judged = rows.copy()
    spend = dict.fromkeys(JUDGE_SPEND_COLUMNS)
    if judged.empty:
        return judged.assign(**{name: [] for name in [*metrics, "judge_failures", *spend]})
    contexts = contexts if contexts is not None else [list(c) for c in rows["retrieved_contexts"]]
    spend = {name: np.zeros(len(judged)) for name in spend}
    embeddings = LlamaIndexRagasEmbedding(embed_model)
    for name in metrics:  # one metric at a time: a local judge keeps each prompt type's prefix cached
        metric = _metric(name, judge, embeddings)
        scores = []
        for i, (row, row_contexts) in enumerate(zip(rows.itertuples(), contexts, strict=True)):
            before, started = dataclasses.replace(judge.gateway.usage), time.perf_counter()
            sample: dict[str, Any] = {
                "user_input": row.user_input,
                "response": row.response,
                "reference": row.reference,
            }
            sample["retrieved_contexts"] = list(row_contexts)
            floor = -1.0 if name == "answer_relevancy" else None  # a cosine similarity: unrelated is 0
            scores.extend(run_sync(score_samples(metric, [{k: sample[k] for k in _INPUTS[name]}], floor)))
            used = judge.gateway.usage.since(before)
            spend["judge_seconds"][i] += time.perf_counter() - started
            spend["judge_prompt_tokens"][i] += used.prompt_tokens
            spend["judge_completion_tokens"][i] += used.completion_tokens
            spend["judge_cost_usd"][i] += used.cost_usd
            spend["judge_calls"][i] += used.calls
            if on_scored is not None:
                on_scored()
        judged[name] = np.asarray(scores, dtype=float)
    failed = judged[metrics].isna()
    judged["judge_failures"] = [",".join(name for name in metrics if row[name]) for _, row in failed.iterrows()]
    return judged.assign(**spend)


# The inputs each judge metric's `ascore` takes (ragas 0.4.3).
_INPUTS = {
    "faithfulness": ["user_input", "response", "retrieved_contexts"],
    "answer_relevancy": ["user_input", "response"],
    "context_precision": ["user_input", "reference", "retrieved_contexts"],
    "context_recall": ["user_input", "retrieved_contexts", "reference"],
    "answer_correctness": ["user_input", "response", "reference"],
}


def _metric(name: str, judge, embeddings):
    """The `ragas.metrics.collections` metric for a DREAM judge metric name."""
    from ragas.metrics.collections import (
        AnswerCorrectness,
        AnswerRelevancy,
        ContextPrecisionWithReference,
        ContextRecall,
        Faithfulness,
    )

    factories = {
        "faithfulness": lambda: Faithfulness(llm=judge),
        "answer_relevancy": lambda: AnswerRelevancy(llm=judge, embeddings=embeddings, strictness=1),
        "context_precision": lambda: ContextPrecisionWithReference(llm=judge),
        "context_recall": lambda: ContextRecall(llm=judge),
        "answer_correctness": lambda: AnswerCorrectness(llm=judge, embeddings=embeddings),
    }
    return factories[name]()


def swapped_contexts(rows: pd.DataFrame) -> list[list[str]]:
    """Each row's answer paired with the retrieved contexts of the next row (cyclically) that
    asks another question: contexts that do not support it, for `judge_calibration`. A row
    whose question is the only one keeps its own contexts.
    """
    real = [list(c) for c in rows["retrieved_contexts"]]
    questions = rows["user_input"].tolist()
    swapped = []
    for i, question in enumerate(questions):
        later = (j % len(questions) for j in range(i + 1, i + len(questions)))
        other = next((j for j in later if questions[j] != question), i)
        swapped.append(real[other])
    return swapped


def judge_calibration(judged: pd.DataFrame, swapped: pd.DataFrame | None = None) -> dict[str, float]:
    """How far the judge agrees with human labels.

    Args:
        judged: `judge_rows` output with `answer_correctness`, `faithfulness` and the SQuAD
            token `f1` of each answer against its human references.
        swapped: `judge_rows` output (faithfulness) of answers given `swapped_contexts`, or None.

    Returns:
        `answer_correctness_spearman` (rho with token F1; `_n` the pairs scored) and
        `faithfulness_auroc` (the share of (real, swapped) pairs the judge orders correctly,
        ties half; `_n` real plus swapped scores); NaN with fewer than 2 values on a side.
    """
    out: dict[str, float] = {}
    if {"answer_correctness", "f1"} <= set(judged.columns):
        pairs = judged[["answer_correctness", "f1"]].apply(pd.to_numeric, errors="coerce").dropna()
        out["answer_correctness_spearman"] = spearman_rho(pairs["answer_correctness"], pairs["f1"])
        out["answer_correctness_spearman_n"] = float(len(pairs))
    if swapped is not None and "faithfulness" in judged and "faithfulness" in swapped:
        real, fake = judged["faithfulness"].dropna(), swapped["faithfulness"].dropna()
        out["faithfulness_auroc"] = auroc(real, fake)
        out["faithfulness_auroc_n"] = float(len(real) + len(fake))
        out["faithfulness_mean_real"] = float(real.mean()) if len(real) else float("nan")
        out["faithfulness_mean_swapped"] = float(fake.mean()) if len(fake) else float("nan")
    return out


def judge_summary(judged: pd.DataFrame, metrics: list[str] = RAGAS_JUDGE_METRICS) -> pd.DataFrame:
    """Per configuration (`config_key`): each metric's mean over its scored rows, its `_n` and
    `_coverage` (scored / judged), `judge_seconds_per_sample`, and the judge's spend on it
    (`judge_prompt_tokens`, `judge_completion_tokens`, `judge_cost_usd`: sums over its rows,
    where the table has them)."""
    rows = []
    for key, group in judged.groupby("config_key", sort=False):
        row = {"config_key": key, "judge_seconds_per_sample": float(group["judge_seconds"].mean())}
        for name in ("judge_prompt_tokens", "judge_completion_tokens", "judge_cost_usd"):
            if name in group:
                row[name] = float(group[name].sum())
        for name in metrics:
            values = pd.to_numeric(group[name], errors="coerce")
            row[name] = float(values.mean()) if values.notna().any() else float("nan")
            row[f"{name}_n"] = float(values.notna().sum())
            row[f"{name}_coverage"] = float(values.notna().mean())
        rows.append(row)
    return pd.DataFrame(rows)
