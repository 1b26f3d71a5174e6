"""ragas' metrics on a trial's per-question table: ID-based context precision and recall on every
retrieved question and semantic similarity on every answered one, through ragas 0.4's metric
API (`ragas.metrics.collections`, `ragas.metrics.numeric_metric`), scored one sample at a time.
The LLM-judged metrics are scored apart, on the top configurations (`dream_assets.lib.evaluation.judging`).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable

import numpy as np
import pandas as pd
from llama_index.core.base.embeddings.base import BaseEmbedding
from ragas.embeddings.base import BaseRagasEmbedding
from ragas.metrics import numeric_metric

from dream_assets.lib.evaluation.tiers import RAGAS_EMBEDDING_METRICS

logger = logging.getLogger(__name__)

# How far past [-1, 1] a cosine similarity may be rounded and still count.
COSINE_ROUNDING = 1e-4


class LlamaIndexRagasEmbedding(BaseRagasEmbedding):
    """ragas 0.4's embedding interface (`BaseRagasEmbedding`) over a LlamaIndex embedding model,
    so ragas' metric collections embed with the same bundled model the indexes use.

    Args:
        embed_model: a LlamaIndex `BaseEmbedding` (`resources.embeddings.make_embedding`).
    """

    def __init__(self, embed_model: BaseEmbedding) -> None:
        super().__init__()
        self.embed_model = embed_model

    def embed_text(self, text: str, **kwargs) -> list[float]:  # noqa: D102 - see the class docstring
        return self.embed_model.get_text_embedding(text)

    async def aembed_text(self, text: str, **kwargs) -> list[float]:  # noqa: D102
        return self.embed_model.get_text_embedding(text)

    def embed_texts(self, texts: list[str], **kwargs) -> list[list[float]]:  # noqa: D102
        return self.embed_model.get_text_embedding_batch(texts)

    async def aembed_texts(self, texts: list[str], **kwargs) -> list[list[float]]:  # noqa: D102
        return self.embed_model.get_text_embedding_batch(texts)


def _id_sets(retrieved_context_ids: list, reference_context_ids: list) -> tuple[set[str], set[str]]:
    return {str(i) for i in retrieved_context_ids}, {str(i) for i in reference_context_ids}


@numeric_metric(name="id_based_context_precision", allowed_values=(0.0, 1.0))
def id_based_context_precision(retrieved_context_ids: list, reference_context_ids: list) -> float:
    """Share of the distinct retrieved context ids that are reference context ids; NaN when
    nothing was retrieved. ragas' `IDBasedContextPrecision` formula (ragas 0.4.3 has no
    `collections` version of it yet, so it is declared here with ragas' `numeric_metric`)."""
    retrieved, reference = _id_sets(retrieved_context_ids, reference_context_ids)
    return len(retrieved & reference) / len(retrieved) if retrieved else math.nan


@numeric_metric(name="id_based_context_recall", allowed_values=(0.0, 1.0))
def id_based_context_recall(retrieved_context_ids: list, reference_context_ids: list) -> float:
    """Share of the distinct reference context ids among the retrieved ones; NaN without
    reference ids. ragas' `IDBasedContextRecall` formula (see `id_based_context_precision`)."""
    retrieved, reference = _id_sets(retrieved_context_ids, reference_context_ids)
    return len(reference & retrieved) / len(reference) if reference else math.nan


def metric_value(result) -> float:
    """A ragas `MetricResult`'s value as a float: NaN where ragas gave none (its validator
    rejects NaN and out-of-range values, leaving `value` None and the reason in `reason`)."""
    value = result.value
    return math.nan if value is None else float(value)


async def score_samples(metric, samples: list[dict], floor: float | None = None) -> list[float]:
    """Scores each sample (the keyword arguments of `metric.ascore`) in turn; a sample the
    metric raises on, or scores outside its `allowed_values` (ragas' collections metrics do not
    check their own results), is NaN, logged with its reason, and the rest go on. A score from
    `floor` up to the lowest allowed value is that value: ragas' answer relevancy is a mean
    cosine similarity, which is negative for an unrelated question, and dropping those scores
    as NaN would raise the mean of exactly the answers it should lower."""
    low, high = getattr(metric, "allowed_values", (-math.inf, math.inf))
    values = []
    for sample in samples:
        try:
            value = metric_value(await metric.ascore(**sample))
        except Exception as error:  # noqa: BLE001 - one failing sample never stops the table
            logger.info("%s: a sample failed: %s: %s", metric.name, type(error).__name__, error)
            value = math.nan
        if floor is not None and floor <= value < low:
            value = low
        if not low <= value <= high and not math.isnan(value):
            logger.info("%s: %s is outside %s, so no score", metric.name, value, (low, high))
            value = math.nan
        values.append(value)
    return values


def ragas_scores(
    table: pd.DataFrame, embed_model: BaseEmbedding | Callable[[], BaseEmbedding], seed: int = 0
) -> pd.DataFrame:
    """Adds the ragas metric columns to a per-question table (`retrieve_questions` rows, the
    answered ones merged in from `answer_questions`).

    `id_based_context_precision` and `id_based_context_recall` are scored on every row;
    `semantic_similarity` (ragas' cosine similarity of the answer's and reference's embeddings
    with `embed_model`) on every answered row (`generated`, no `error`; a table without a
    `generated` column counts as answered). Other rows get NaN (`summarize` reports each
    metric's `n`). `embed_model` may be a factory, called only when some row was answered.
    `seed` is kept for callers; no metric here samples.
    """
    from ragas.metrics.collections import SemanticSimilarity

    scored = table.copy()
    for name in RAGAS_EMBEDDING_METRICS:
        scored[name] = np.nan
    if scored.empty:
        return scored
    ids = [
        {"retrieved_context_ids": list(retrieved), "reference_context_ids": list(reference)}
        for retrieved, reference in zip(scored["retrieved_context_ids"], scored["reference_context_ids"], strict=True)
    ]
    for metric in (id_based_context_precision, id_based_context_recall):
        scored[metric.name] = [metric_value(metric.score(**sample)) for sample in ids]
    generated = scored["generated"].astype(bool) if "generated" in scored else True
    ok = scored.index[generated & (scored["error"] == "")]
    if len(ok) == 0:
        return scored
    # cosine similarity lies in [-1, 1]; the float32 rounding of equal texts' embeddings can
    # pass 1 by about 1e-7, which ragas' default range (0, 1) would turn into no score
    bounds = (-1.0 - COSINE_ROUNDING, 1.0 + COSINE_ROUNDING)
    if not isinstance(embed_model, BaseEmbedding):
        embed_model = embed_model()
    similarity = SemanticSimilarity(embeddings=LlamaIndexRagasEmbedding(embed_model), allowed_values=bounds)
    pairs = [{"reference": scored.at[i, "reference"], "response": scored.at[i, "response"]} for i in ok]
    # ... and the stored score is the cosine itself, rounding removed: within [-1, 1]
    scored.loc[ok, "semantic_similarity"] = np.clip(run_sync(score_samples(similarity, pairs)), -1.0, 1.0)
    return scored


def run_sync(coroutine):
    """Runs a coroutine to its end from synchronous code: in this thread, or in a new one when
    this thread already runs an event loop (`asyncio.run` refuses to nest)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
