"""Metrics as registered components (`dream_assets.plugins.registry.METRICS`): every metric DREAM
scores, its tier and its meaning, so that trials, summaries, the leaderboard, its plot, Dagster
metadata and MLflow pick up a new one without edits elsewhere.

Tiers:
- `retrieval`: every golden question, from the retrieved contexts' reference-context ids;
- `answer`: the generation sample's answers, against the reference answers;
- `judge`: ragas' LLM-judged metrics, after the sweep (`dream_assets.lib.evaluation.judging`).

A plug-in metric is a `Metric` with a `score` function, in the retrieval or answer tier,
published under the entry-point group `dream.metrics` (scored in every trial once installed)
or named by import path in the search space's `metrics:` (see `examples/dream-metric-example`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from dream_assets.lib.evaluation import formulas
from dream_assets.plugins.metrics import Metric, Tier

logger = logging.getLogger(__name__)


hit_rate = Metric(
    "hit_rate",
    "retrieval",
    "share of questions with a reference context in the top k retrieved (hit rate@k)",
    formulas.hit_rate,
)
mrr = Metric(
    "mrr",
    "retrieval",
    "mean reciprocal rank of the first retrieved reference context, 0 beyond k (MRR@k)",
    formulas.reciprocal_rank,
)
ndcg = Metric(
    "ndcg",
    "retrieval",
    "normalised discounted cumulative gain of the retrieved contexts (nDCG@k, binary relevance)",
    formulas.ndcg,
)
id_based_context_precision = Metric(
    "id_based_context_precision",
    "retrieval",
    "ragas: share of the retrieved context ids that are reference ids",
    evidence=False,
    plotted=False,
)
id_based_context_recall = Metric(
    "id_based_context_recall",
    "retrieval",
    "ragas: share of the reference context ids that were retrieved",
    evidence=False,
    plotted=False,
)
exact_match = Metric(
    "exact_match",
    "answer",
    "SQuAD exact match of the answer with a reference answer (normalised text)",
    formulas.exact_match,
    evidence=False,
    plotted=False,
)
f1 = Metric(
    "f1",
    "answer",
    "SQuAD token F1 of the answer against the best-matching reference answer",
    formulas.token_f1,
)
semantic_similarity = Metric(
    "semantic_similarity",
    "answer",
    "ragas: cosine similarity of the answer's and the reference's embeddings",
    evidence=False,
)
faithfulness = Metric(
    "faithfulness",
    "judge",
    "ragas (LLM judge): share of the answer's claims supported by the retrieved contexts",
    evidence=False,
    plotted=False,
)
answer_relevancy = Metric(
    "answer_relevancy",
    "judge",
    "ragas (LLM judge): how well the answer addresses the question",
    evidence=False,
    plotted=False,
)
context_precision = Metric(
    "context_precision",
    "judge",
    "ragas (LLM judge): useful retrieved contexts ranked first",
    evidence=False,
    plotted=False,
)
context_recall = Metric(
    "context_recall",
    "judge",
    "ragas (LLM judge): share of the reference's claims found in the retrieved contexts",
    evidence=False,
    plotted=False,
)
answer_correctness = Metric(
    "answer_correctness",
    "judge",
    "ragas (LLM judge): factual and semantic agreement of the answer with the reference",
    evidence=False,
    plotted=False,
)


def known_metrics() -> list[Metric]:
    """Every metric this process knows: the built-ins, the installed `dream.metrics` entry
    points and those named by import path so far (a loaded search space's `metrics:`), in
    registration order, built-ins first, one per name.

    Raises:
        dream_assets.plugins.registry.UnknownComponentError: if an installed entry point is broken.
    """
    from dream_assets.plugins.metrics import BUILTIN_METRICS, METRICS

    names = list(BUILTIN_METRICS) + [name for name in METRICS.names() if name not in BUILTIN_METRICS]
    by_name: dict[str, Metric] = {}
    for name in names:
        metric = METRICS.get(name)
        by_name.setdefault(metric.name, metric)
    return list(by_name.values())


def metric_names(*tiers: Tier) -> list[str]:
    """Names of the known metrics of `tiers` (all tiers when none is given)."""
    return [metric.name for metric in known_metrics() if not tiers or metric.tier in tiers]


def scored_metrics(tier: Tier, extra: Sequence[str] = ()) -> list[Metric]:
    """The metrics of `tier` DREAM scores itself (those with a `score`): the known ones and
    `extra` (registered names or import paths, e.g. a search space's `metrics:`).

    Raises:
        dream_assets.plugins.registry.UnknownComponentError: for an `extra` name nothing resolves.
    """
    from dream_assets.plugins.metrics import METRICS

    for name in extra:
        METRICS.get(name)
    return [metric for metric in known_metrics() if metric.tier == tier and metric.score is not None]


def plugin_metric_names(extra: Sequence[str] = ()) -> list[str]:
    """Names of the scored metrics that are not built-ins (entry points and `extra`), for a
    trial's fingerprint: installing a metric plug-in re-runs finished trials."""
    from dream_assets.plugins.metrics import BUILTIN_METRICS

    scored = scored_metrics("retrieval", extra) + scored_metrics("answer", extra)
    return sorted(metric.name for metric in scored if metric.name not in BUILTIN_METRICS)


def describe_metric(name: str) -> str | None:
    """A known metric's description, or None."""
    return next((metric.description for metric in known_metrics() if metric.name == name), None)


def plotted_metrics(tier: Tier) -> list[str]:
    """Names of the known metrics of `tier` drawn on the leaderboard's plot."""
    return [metric.name for metric in known_metrics() if metric.tier == tier and metric.plotted]


def evidence_metrics() -> list[str]:
    """Names of the known retrieval and answer metrics with intervals and paired tests."""
    return [metric.name for metric in known_metrics() if metric.tier != "judge" and metric.evidence]
