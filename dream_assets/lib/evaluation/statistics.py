"""Uncertainty on the leaderboard: bootstrap confidence intervals of a configuration's mean
metric, a paired test of each configuration against the best one on the same questions, and
tiers of configurations the tests cannot tell apart, corrected for multiple comparisons (Holm);
and the two agreement figures of the judge's calibration (Spearman's rho, AUROC).

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
        (low, high); (NaN, NaN) with fewer than 2 values (one value has no spread to resample),
        (v, v) when every value is v.
    """
    data = pd.to_numeric(pd.Series(values), errors="coerce").dropna().to_numpy(dtype=float)
    if len(data) < 2:
        return math.nan, math.nan
    if np.all(data == data[0]):
        return float(data[0]), float(data[0])
    from scipy.stats import bootstrap

    result = bootstrap(
        (data,),
        np.mean,
        confidence_level=confidence,
        n_resamples=resamples,
        method="percentile",
        random_state=seed,  # pyright: ignore[reportCallIssue] - still accepted (scipy 1.17), same resamples
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def paired_p_value(first, second, resamples: int = RESAMPLES, seed: int = 0) -> float:
    """Two-sided p-value that two configurations' mean metric differs, paired by question
    (pairs with a NaN on either side dropped). 1.0 when the two never differ, NaN with fewer
    than 2 pairs (nothing to test).

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
    if len(a) < 2:
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
        random_state=seed,  # pyright: ignore[reportCallIssue] - still accepted (scipy 1.17), same resamples
    )
    return float(result.pvalue)


def spearman_rho(first, second) -> float:
    """Spearman's rank correlation of two paired series (`scipy.stats.spearmanr`, average ranks
    for ties); NaN with fewer than 3 pairs or when either side is constant (no ranking)."""
    a = pd.to_numeric(pd.Series(list(first)), errors="coerce").to_numpy(dtype=float)
    b = pd.to_numeric(pd.Series(list(second)), errors="coerce").to_numpy(dtype=float)
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    if len(a) < 3 or np.all(a == a[0]) or np.all(b == b[0]):
        return math.nan
    from scipy.stats import spearmanr

    return float(np.asarray(spearmanr(a, b))[0])


def auroc(positives, negatives) -> float:
    """Area under the ROC curve of scores that should rank `positives` above `negatives`: the
    share of (positive, negative) pairs ordered correctly, ties counting half, i.e. the
    Mann-Whitney U of the positives divided by n x m (Hanley & McNeil, Radiology 143, 1982).
    0.5 is chance; NaN when either side is empty."""
    a = pd.to_numeric(pd.Series(list(positives)), errors="coerce").dropna().to_numpy(dtype=float)
    b = pd.to_numeric(pd.Series(list(negatives)), errors="coerce").dropna().to_numpy(dtype=float)
    if len(a) == 0 or len(b) == 0:
        return math.nan
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(a, b, alternative="two-sided").statistic / (len(a) * len(b)))


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


def paired_comparison(first: pd.DataFrame, second: pd.DataFrame, metrics: list[str], seed: int = 0) -> pd.DataFrame:
    """Two configurations compared question by question on the questions both scored.

    Args:
        first: one configuration's per-question table (`question_id` and the metric columns;
            a question's repeats are averaged).
        second: the other's.
        metrics: the metrics to compare (those missing from either table are left out).
        seed: seed of the resamples.

    Returns:
        One row per metric: `metric`, `n` (questions both scored), `first`, `second` (their
        means on those questions), `difference` (first - second), `difference_ci95_low/high`
        (percentile bootstrap of the mean paired difference) and `p_value` (the paired
        sign-flip test, `paired_p_value`).
    """
    rows = []
    a, b = _per_question(first, metrics), _per_question(second, metrics)
    for metric in [m for m in metrics if m in a and m in b]:
        pairs = pd.concat([a[metric], b[metric]], axis=1, join="inner", keys=["a", "b"]).dropna()
        differences = pairs["a"] - pairs["b"]
        low, high = bootstrap_ci(differences, seed=seed)
        rows.append(
            {
                "metric": metric,
                "n": len(pairs),
                "first": float(pairs["a"].mean()) if len(pairs) else math.nan,
                "second": float(pairs["b"].mean()) if len(pairs) else math.nan,
                "difference": float(differences.mean()) if len(pairs) else math.nan,
                "difference_ci95_low": low,
                "difference_ci95_high": high,
                "p_value": paired_p_value(pairs["a"], pairs["b"], seed=seed),
            }
        )
    return pd.DataFrame(rows)


def _per_question(table: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """One row per question id: the mean of each metric over the question's rows (repeats)."""
    present = [metric for metric in metrics if metric in table]
    values = table[present].apply(pd.to_numeric, errors="coerce")
    return values.groupby(table["question_id"], sort=False).mean()


def holm_tiers(
    tables: dict[str, pd.DataFrame], order: list[str], metric: str, alpha: float = 0.05, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Groups configurations into tiers of statistically indistinguishable performance.

    Tier 1 is the best configuration (the first of `order`) and every configuration not
    significantly worse than it: paired tests (`paired_p_value`) of each against the best,
    corrected for multiple comparisons over that whole family with Holm's step-down method
    (Holm, "A Simple Sequentially Rejective Multiple Test Procedure", Scand. J. Statistics
    1979; statsmodels' `multipletests(method="holm")`), which controls the family-wise error
    rate at `alpha`. The best of the configurations left is the head of tier 2, tested the same
    way against the rest, and so on.

    Args:
        tables: per-question tables by configuration key (`question_id` and `metric`; repeats
            are averaged per question first).
        order: the configurations to group, best first (the leaderboard's order).
        metric: the metric compared.
        alpha: family-wise error rate of each tier's family of tests.
        seed: seed of the permutation tests.

    Returns:
        Per configuration: `tier` (1, 2, ...; a configuration that cannot be tested against
        its tier's head, sharing fewer than 2 questions with it, stays in that tier with NaN
        p-values), `<metric>_p_vs_tier_best` (raw) and
        `<metric>_p_holm` (Holm-adjusted) of its test against its tier's head; for the head of
        tier 2 or later, those of the test that put it out of the tier above (the best: 1.0).
    """
    from statsmodels.stats.multitest import multipletests

    out: dict[str, dict[str, float]] = {}
    remaining = [key for key in order if key in tables and metric in tables[key]]
    per_question = {key: _per_question(tables[key], [metric])[metric] for key in remaining}
    tier = 0
    while remaining:
        tier += 1
        head, others = remaining[0], remaining[1:]
        # the head of a later tier keeps the p-values of the test that put it out of the tier above
        out[head] = {f"{metric}_p_vs_tier_best": 1.0, f"{metric}_p_holm": 1.0, **out.get(head, {}), "tier": float(tier)}
        raw = []
        for key in others:
            common = per_question[key].index.intersection(per_question[head].index)
            raw.append(paired_p_value(per_question[key].loc[common], per_question[head].loc[common], seed=seed))
        tested = [i for i, p in enumerate(raw) if not math.isnan(p)]
        adjusted = [math.nan] * len(raw)
        if tested:
            _, corrected, _, _ = multipletests([raw[i] for i in tested], alpha=alpha, method="holm")
            for i, value in zip(tested, np.asarray(corrected), strict=True):
                adjusted[i] = float(value)
        left = []
        for key, p, p_holm in zip(others, raw, adjusted, strict=True):
            # significantly worse: a later tier; untestable (fewer than 2 shared questions): no
            # evidence that it is worse, so it stays in the tier, its p-value NaN
            if p_holm <= alpha:
                left.append(key)
                out[key] = {f"{metric}_p_vs_tier_best": p, f"{metric}_p_holm": p_holm}
                continue
            out[key] = {"tier": float(tier), f"{metric}_p_vs_tier_best": p, f"{metric}_p_holm": p_holm}
        remaining = left
    return out
