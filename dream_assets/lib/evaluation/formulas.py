"""Ground-truth metrics that need no model: retrieval (hit rate, MRR) and SQuAD answer scores.

ragas computes the model-based metrics (see `dream_assets.lib.evaluation.tiers`); these are the IR and
reading-comprehension standards, implemented here because they are a few lines each.
"""

from __future__ import annotations

import collections
import math
import re
import string
from collections.abc import Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def hit_rate(retrieved_ids: Sequence[Sequence[str]], reference_ids: Sequence[str]) -> float:
    """1.0 if any retrieved context covers any reference context, else 0.0 (hit_rate@k).

    Args:
        retrieved_ids: per retrieved node, in rank order, the reference-context ids it covers.
        reference_ids: the ids of the contexts that answer the question.
    """
    wanted = set(reference_ids)
    return float(any(wanted & set(ids) for ids in retrieved_ids))


def reciprocal_rank(retrieved_ids: Sequence[Sequence[str]], reference_ids: Sequence[str]) -> float:
    """1 / rank of the first retrieved node covering a reference context, 0.0 if none (mrr@k
    is its mean over questions; Voorhees, TREC-8 QA track, 1999)."""
    wanted = set(reference_ids)
    for rank, ids in enumerate(retrieved_ids, start=1):
        if wanted & set(ids):
            return 1.0 / rank
    return 0.0


def normalize_answer(text: str) -> str:
    """Lower-cases, removes punctuation, articles and extra whitespace, as the official SQuAD
    v2.0 evaluation script does."""
    text = "".join(char for char in text.lower() if char not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(response: str, answers: Sequence[str]) -> float:
    """SQuAD exact match: 1.0 if the normalised response equals any normalised answer."""
    normalised = normalize_answer(response)
    return float(any(normalised == normalize_answer(answer) for answer in answers))


def _f1(prediction: str, answer: str) -> float:
    predicted, gold = normalize_answer(prediction).split(), normalize_answer(answer).split()
    if not predicted or not gold:
        return float(predicted == gold)
    common = sum((collections.Counter(predicted) & collections.Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def token_f1(response: str, answers: Sequence[str]) -> float:
    """SQuAD token F1: the best bag-of-tokens F1 between the response and any answer."""
    return max((_f1(response, answer) for answer in answers), default=0.0)


def ndcg(retrieved_ids: Sequence[Sequence[str]], reference_ids: Sequence[str]) -> float:
    """nDCG@k with binary relevance (Järvelin and Kekäläinen, ACM TOIS 2002): the discounted
    gain sum(1 / log2(rank + 1)) of the retrieved nodes covering a reference context not
    credited to an earlier node, over the ideal gain of every reference context ranked first
    (up to the k ranks retrieved). 0.0 with nothing retrieved or no reference."""
    wanted, credited = set(reference_ids), set()
    gain = 0.0
    for rank, ids in enumerate(retrieved_ids, start=1):
        new = (wanted & set(ids)) - credited
        if new:
            gain += 1.0 / math.log2(rank + 1)
            credited |= new
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(wanted), len(retrieved_ids)) + 1))
    return gain / ideal if ideal else 0.0
