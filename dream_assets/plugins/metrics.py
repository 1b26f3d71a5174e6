"""The contract of a metric (`Metric`): a name, a tier and a per-question score. The built-in
metrics are instances in `dream_assets.lib.evaluation.metric_catalog`; a plug-in's is a `Metric`
published under the entry-point group `dream.metrics` or named by import path in the search
space's `metrics:` (see `examples/dream-metric-example`).

Tiers:
- `retrieval`: every golden question, from the retrieved contexts' reference-context ids;
- `answer`: the generation sample's answers, against the reference answers;
- `judge`: ragas' LLM-judged metrics, after the sweep (`dream_assets.lib.evaluation.judging`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from dream_assets.plugins.registry import Registry

logger = logging.getLogger(__name__)

Tier = Literal["retrieval", "answer", "judge"]


@dataclass(frozen=True)
class Metric:
    """One metric.

    Attributes:
        name: its column in per-question tables, summaries and the leaderboard; a valid MLflow
            metric name (letters, digits, `_`, `-`, `.`).
        tier: `retrieval`, `answer` or `judge` (see the module docstring).
        description: what it measures, with its source (shown as the column's help).
        score: per question, in [0, 1] or any float (NaN: not scored). Retrieval tier:
            `score(retrieved_ids, reference_ids)`, the reference-context ids each retrieved
            node covers in rank order, and the question's reference-context ids. Answer tier:
            `score(response, reference_answers)`. None for a metric ragas scores
            (`dream_assets.lib.evaluation.scoring`, `dream_assets.lib.evaluation.judging`).
        higher_is_better: the direction the leaderboard sorts and tests it in.
        evidence: gets bootstrap intervals and paired tests on the leaderboard (retrieval and
            answer tiers).
        plotted: is an axis of the parallel-coordinates plot.
    """

    name: str
    tier: Tier
    description: str
    score: Callable[..., float] | None = None
    higher_is_better: bool = True
    evidence: bool = True
    plotted: bool = True

    def __post_init__(self) -> None:
        if self.tier not in ("retrieval", "answer", "judge"):
            raise ValueError(f"metric {self.name!r}: tier must be retrieval, answer or judge, got {self.tier!r}")
        if not self.name.replace("_", "").replace("-", "").replace(".", "").isalnum():
            raise ValueError(f"metric name {self.name!r}: letters, digits, '_', '-' and '.' only")
        if self.score is not None and not callable(self.score):
            raise TypeError(f"metric {self.name!r}: score must be callable")

    def value(self, *inputs) -> float:
        """`score(*inputs)` as a float; NaN, logged with the error, when the score raises (one
        question's failure never stops a trial: it shows as the metric's coverage below 1)."""
        if self.score is None:
            raise TypeError(f"metric {self.name!r} has no score of its own (ragas scores it)")
        try:
            return float(self.score(*inputs))
        except Exception as error:  # noqa: BLE001 - a plug-in's bug is recorded, the trial goes on
            logger.warning("metric %s could not score a question: %s: %s", self.name, type(error).__name__, error)
            return math.nan


BUILTIN_METRICS = {
    name: f"dream_assets.lib.evaluation.metric_catalog:{name}"
    for name in (
        "hit_rate",
        "mrr",
        "ndcg",
        "id_based_context_precision",
        "id_based_context_recall",
        "exact_match",
        "f1",
        "semantic_similarity",
        "faithfulness",
        "answer_relevancy",
        "context_precision",
        "context_recall",
        "answer_correctness",
    )
}


def _metric_check(name: str, component: Any) -> None:
    if not isinstance(component, Metric):
        raise TypeError(f"{component!r} is not a dream_assets.plugins.metrics.Metric")
    if name in BUILTIN_METRICS and component.name != name:
        raise ValueError(f"metric {component.name!r} registered as {name!r}")


METRICS = Registry("metric", "dream.metrics", BUILTIN_METRICS, _metric_check)
