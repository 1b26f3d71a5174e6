"""A trial's metrics from its per-question table: each metric's mean and `n` on the selection
split (what the search ranks by) and on the held-out split (`held_out/<metric>`), per group,
and the trial's operating figures (latency, tokens, cost, LLM calls, errors)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from dream_assets.lib.evaluation.metric_catalog import metric_names
from dream_assets.lib.evaluation.tiers import GROUP_COLUMNS
from dream_assets.lib.golden.splits import HELD_OUT


def summarize(scored: pd.DataFrame) -> dict[str, float]:
    """Aggregates a per-question table into trial metrics.

    Rows whose `split` is `held_out` are kept out of every ranked metric and reported apart as
    `held_out/<metric>` and `held_out/<metric>_n`; without a `split` column every row is a
    selection row. Retrieval-tier metrics count each question once; generation-tier metrics
    count every answer (`generated` rows, each repeat), scored or not.

    Returns:
        For every metric column present: its mean over the scored selection rows (`<metric>`),
        `<metric>_n` (the rows that mean is over), `<metric>_coverage` (scored / attempted:
        every question for the retrieval tier, the answered sample for the others), and with
        several answers per question (a `repeat` column) the sample standard deviation of the
        repeats' means (`<metric>_repeat_std`); the same mean and `n` on the held-out rows as
        `held_out/<metric>`; for each `GROUP_COLUMNS` column with two groups or more, each
        metric's mean per group as `<group>/<metric>`; `questions` (distinct, both splits),
        `selection_questions`, `held_out_questions`, `generated_questions` (distinct questions
        answered) and `repeats`; latency p50 and p95 in seconds (`retrieval_latency_p50_s`,
        ...); token totals and means per answer; `cost_usd` (all answers at the LLM's prices,
        cached ones included: what the trial costs from scratch); `errors`, `errors_<reason>`,
        `questions_resumed` (answers from an interrupted earlier run) and, for the answers of
        this run, `llm_calls`, `llm_cache_hits` and `llm_retries` (tries beyond the first). A
        metric that no question could score has mean NaN and `n` 0, never a silent 0.
    """
    held = scored["split"].eq(HELD_OUT) if "split" in scored else pd.Series(False, index=scored.index)
    generated = scored["generated"].astype(bool) if "generated" in scored else pd.Series(True, index=scored.index)
    repeats = scored["repeat"].nunique() if "repeat" in scored else 1
    question_ids = scored["question_id"] if "question_id" in scored else pd.Series(scored.index, index=scored.index)
    summary: dict[str, float] = {
        "questions": float(question_ids.nunique()),
        "selection_questions": float(question_ids[~held].nunique()),
        "held_out_questions": float(question_ids[held].nunique()),
        "generated_questions": float(question_ids[generated].nunique()),
        "repeats": float(repeats),
        "errors": float((scored["error"] != "").sum()),
    }
    selection = scored[~held]
    summary.update(_metrics(selection, generated[~held], with_spread=repeats > 1))
    if held.any():
        means = _metrics(scored[held], generated[held], with_spread=False)
        summary.update({f"held_out/{name}": value for name, value in means.items() if not name.endswith("coverage")})
    for column in GROUP_COLUMNS:  # e.g. both golden sets: every metric per source, `<source>/<metric>`
        groups = selection[column].dropna().unique() if column in selection else []
        if len(groups) < 2:
            continue
        for group in sorted(groups):
            part = selection[selection[column] == group]
            means = _metrics(part, generated[part.index], with_spread=False)
            for name in [n for n in metric_names() if n in selection and selection[n].notna().any()]:
                summary[f"{group}/{name}"] = means[name]
    summary.update(_operations(scored, generated))
    return summary


def _metrics(rows: pd.DataFrame, generated: pd.Series, with_spread: bool) -> dict[str, float]:
    """Mean, `n` and coverage of every metric column of `rows` (retrieval tier: one row per
    question; generation tier: the answered rows), and the spread between repeats."""
    out: dict[str, float] = {}
    first = ~rows["question_id"].duplicated() if "question_id" in rows else pd.Series(True, index=rows.index)
    retrieval_tier = set(metric_names("retrieval"))
    for name in metric_names():
        if name not in rows:
            continue
        attempted = rows[first] if name in retrieval_tier else rows[generated]
        values = pd.to_numeric(attempted[name], errors="coerce")
        scored = values.dropna()
        out[name] = float(scored.mean()) if len(scored) else math.nan
        out[f"{name}_n"] = float(len(scored))
        out[f"{name}_coverage"] = float(len(scored) / len(values)) if len(values) else 0.0
        if with_spread and name not in retrieval_tier:  # how much the metric moves between repeats
            out[f"{name}_repeat_std"] = float(values.groupby(attempted["repeat"]).mean().std(ddof=1))
        elif with_spread:
            out[f"{name}_repeat_std"] = 0.0  # retrieval does not sample: every repeat retrieves alike
    return out


def _operations(scored: pd.DataFrame, generated: pd.Series) -> dict[str, float]:
    """Latencies, tokens, cost, LLM calls and errors of a trial."""
    out: dict[str, float] = {}
    for stage in ("retrieval", "generation"):
        latencies = pd.to_numeric(scored[f"{stage}_latency_s"], errors="coerce").dropna()
        for quantile in (50, 95):
            out[f"{stage}_latency_p{quantile}_s"] = (
                float(np.percentile(latencies, quantile)) if len(latencies) else math.nan
            )
    answers = int(generated.sum())
    for name in ("prompt_tokens", "completion_tokens"):
        out[name] = float(scored[name].sum()) if name in scored else 0.0
        out[f"{name}_per_question"] = out[name] / answers if answers else math.nan
    out["cost_usd"] = float(scored["cost_usd"].sum()) if "cost_usd" in scored else 0.0
    false = pd.Series(False, index=scored.index)
    cached = scored["cached"].astype(bool) if "cached" in scored else false
    resumed = scored["resumed"].astype(bool) if "resumed" in scored else false
    out["questions_resumed"] = float((resumed & generated).sum())
    out["llm_cache_hits"] = float((cached & ~resumed & generated).sum())
    out["llm_calls"] = float(((scored["error"] == "") & ~cached & ~resumed & generated).sum())
    if "attempts" in scored:  # tries beyond the first, answered or not
        out["llm_retries"] = float((scored["attempts"] - 1).clip(lower=0)[~resumed & generated].sum())
    if "judge_failures" in scored:  # sampled questions the judge could not score on some metric
        out["judge_failures"] = float((scored["judge_failures"] != "").sum())
    if "error_reason" in scored:
        for reason, count in scored.loc[scored["error_reason"] != "", "error_reason"].value_counts().items():
            out[f"errors_{reason}"] = float(count)
    return out


def coverage_shortfalls(rows: list[dict], minimum: float) -> pd.DataFrame:
    """The metrics each trial scored on too few of the rows it attempted.

    Args:
        rows: trial rows with `config_key` and `summarize`'s `<metric>_coverage` (scored /
            attempted on the selection split; a failed trial, without coverage, is skipped).
        minimum: the least acceptable coverage, in [0, 1].

    Returns:
        One row per (configuration, metric) below `minimum`: `config_key`, `metric`,
        `coverage`; empty (with those columns) when every metric reaches it.
    """
    found = [
        {"config_key": row["config_key"], "metric": name.removesuffix("_coverage"), "coverage": value}
        for row in rows
        for name, value in row.items()
        if name.endswith("_coverage") and "/" not in name and value < minimum
    ]
    return pd.DataFrame(found, columns=["config_key", "metric", "coverage"])
