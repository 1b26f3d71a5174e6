"""Uncertainty on the leaderboard: bootstrap confidence intervals of a configuration's mean
metric, and a paired test of each configuration against the best one on the same questions.

Both use SciPy: `scipy.stats.bootstrap` (percentile intervals: per-question metrics such as hit
rate are 0/1, for which BCa intervals are often undefined) and `scipy.stats.permutation_test`
with `permutation_type="samples"`, the paired randomisation test that flips the sign of each
question's difference (no normality assumed; Efron & Tibshirani, "An Introduction to the
Bootstrap", 1993, ch. 13 and 15).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

RESAMPLES = 2000


def bootstrap_ci(values, confidence: float = 0.95, resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (NaN dropped).

    Returns:
        (low, high); (NaN, NaN) without values, (v, v) when every value is v.
    """
    data = pd.to_numeric(pd.Series(values), errors="coerce").dropna().to_numpy(dtype=float)
    if len(data) == 0:
        return math.nan, math.nan
    if np.all(data == data[0]):
        return float(data[0]), float(data[0])
    from scipy.stats import bootstrap

    result = bootstrap(
        (data,), np.mean, confidence_level=confidence, n_resamples=resamples, method="percentile", random_state=seed
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def paired_p_value(first, second, resamples: int = RESAMPLES, seed: int = 0) -> float:
    """Two-sided p-value that two configurations' mean metric differs, paired by question
    (pairs with a NaN on either side dropped). 1.0 when the two never differ, NaN without pairs.

    Args:
        first: per-question values of one configuration.
        second: the other's, in the same question order.
        resamples: sign-flip permutations drawn (exact when there are fewer).
        seed: seed of the permutations.
    """
    a = pd.to_numeric(pd.Series(list(first)), errors="coerce").to_numpy(dtype=float)
    b = pd.to_numeric(pd.Series(list(second)), errors="coerce").to_numpy(dtype=float)
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    if len(a) == 0:
        return math.nan
    if np.all(a == b):
        return 1.0
    from scipy.stats import permutation_test

    result = permutation_test(
        (a, b),
        lambda x, y: np.mean(x - y),
        permutation_type="samples",
        n_resamples=resamples,
        alternative="two-sided",
        random_state=seed,
    )
    return float(result.pvalue)


def leaderboard_statistics(
    tables: dict[str, pd.DataFrame], best: str, metrics: list[str], seed: int = 0
) -> dict[str, dict[str, float]]:
    """Per configuration and metric: `<metric>_ci95_low`, `<metric>_ci95_high` and
    `<metric>_p_vs_best` (paired on `question_id` against configuration `best`).

    Args:
        tables: per-question tables by configuration key (with `question_id` and the metrics;
            several rows of one question, its repeats, are averaged first: the question is the
            unit that is resampled and paired).
        best: key of the reference configuration (the leaderboard's first).
        metrics: metric columns to describe (absent ones are skipped).
        seed: seed of the resamples.
    """
    reference = _per_question(tables[best], metrics)
    out: dict[str, dict[str, float]] = {}
    for key, table in tables.items():
        row: dict[str, float] = {}
        indexed = _per_question(table, metrics)
        for metric in metrics:
            if metric not in indexed or metric not in reference:
                continue
            row[f"{metric}_ci95_low"], row[f"{metric}_ci95_high"] = bootstrap_ci(indexed[metric], seed=seed)
            common = indexed.index.intersection(reference.index)
            row[f"{metric}_p_vs_best"] = paired_p_value(
                indexed.loc[common, metric], reference.loc[common, metric], seed=seed
            )
        out[key] = row
    return out


def _per_question(table: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """One row per question id: the mean of each metric over the question's rows (repeats)."""
    present = [metric for metric in metrics if metric in table]
    values = table[present].apply(pd.to_numeric, errors="coerce")
    return values.groupby(table["question_id"], sort=False).mean()
