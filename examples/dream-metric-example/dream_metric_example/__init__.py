"""precision@k as a DREAM metric plug-in (entry point `dream.metrics`)."""

from __future__ import annotations

from collections.abc import Sequence

from dream_assets.plugins.metrics import Metric


def _precision(retrieved_ids: Sequence[Sequence[str]], reference_ids: Sequence[str]) -> float:
    """Share of the retrieved contexts that cover at least one reference context: precision@k
    with binary relevance (Manning, Raghavan and Schütze 2008, §8.4); NaN with nothing
    retrieved.

    Args:
        retrieved_ids: per retrieved context, in rank order, the reference-context ids it covers.
        reference_ids: the question's reference-context ids.
    """
    if not retrieved_ids:
        return float("nan")
    wanted = set(reference_ids)
    return sum(bool(wanted & set(ids)) for ids in retrieved_ids) / len(retrieved_ids)


precision_at_k = Metric(
    name="precision_at_k",
    tier="retrieval",
    description="share of the k retrieved contexts that cover a reference context (precision@k, binary relevance)",
    score=_precision,
)
