"""The held-out verdict's split of a golden set, and the generation sample.

A configuration chosen as the best of many on some questions scores higher on those questions
than it will on new ones (the winner's curse, or optimistic bias of the selected maximum:
Cawley and Talbot, "On Over-fitting in Model Selection and Subsequent Selection Bias in
Performance Evaluation", JMLR 2010). So the golden set is split once, seeded: the search ranks
and picks on the `selection` split only, and the winner's score on the `held_out` split, which
played no part in picking it, is the unbiased number DREAM quotes.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

SELECTION, HELD_OUT = "selection", "held_out"
# Below this many questions in either split, a split would leave too little to pick on or to
# verify with: the set is not split and the leaderboard says so.
MIN_SPLIT_QUESTIONS = 2


def split_golden(
    questions: pd.DataFrame,
    held_out_fraction: float,
    seed: int = 0,
    unit: Literal["question", "document"] = "question",
) -> tuple[pd.Series, str]:
    """Assigns each question to the selection or the held-out split.

    Args:
        questions: the golden set (`question_id`, `document_id`).
        held_out_fraction: share of the questions held out, in [0, 1).
        seed: seed of the assignment.
        unit: `question`: stratified by document: each document's questions are shuffled and
            round(n x fraction) of them held out, so every document weighs the same in both
            splits; `document`: whole documents are held out (grouped: tests how a choice
            carries to documents it never saw), documents drawn until the fraction of
            questions is reached.

    Returns:
        (split per question, aligned with `questions`: `selection` or `held_out`; a note, ''
        when split, else why the set was not split: then every question is `selection`).

    Raises:
        ValueError: if `held_out_fraction` is outside [0, 1) or `unit` is unknown.
    """
    if not 0 <= held_out_fraction < 1:
        raise ValueError(f"held_out_fraction must be in [0, 1), got {held_out_fraction}")
    if unit not in ("question", "document"):
        raise ValueError(f"split unit must be 'question' or 'document', got {unit!r}")
    split = pd.Series(SELECTION, index=questions.index, dtype=object)
    if held_out_fraction == 0:
        return split, "held_out_fraction is 0: no held-out split"
    rng = np.random.default_rng(seed)
    if unit == "question":
        for _, group in questions.groupby("document_id", sort=True):
            count = int(round(len(group) * held_out_fraction))
            split.loc[rng.permutation(group.index.to_numpy())[:count]] = HELD_OUT
    else:
        sizes = questions.groupby("document_id", sort=True).size()
        target, held = held_out_fraction * len(questions), 0
        for document in rng.permutation(sizes.index.to_numpy()):
            if held >= target or held + sizes[document] >= len(questions):
                break
            split[questions["document_id"] == document] = HELD_OUT
            held += int(sizes[document])
    counts = split.value_counts()
    if min(counts.get(SELECTION, 0), counts.get(HELD_OUT, 0)) < MIN_SPLIT_QUESTIONS:
        note = (
            f"too small to split: {len(questions)} questions over {questions['document_id'].nunique()} documents"
            f" leave fewer than {MIN_SPLIT_QUESTIONS} questions in a split at held_out_fraction"
            f" {held_out_fraction} (unit {unit}); every question is used for selection"
        )
        return pd.Series(SELECTION, index=questions.index, dtype=object), note
    return split, ""


def generation_sample(questions: pd.DataFrame, size: int, seed: int = 0) -> pd.DataFrame:
    """The questions that get an LLM answer: `size` of them, drawn with `seed` and in that
    draw's order (the order multi-fidelity rungs take prefixes of), the same for every
    configuration so that answer metrics are paired by question. With a `split` column, each
    split is sampled in proportion to its size (largest remainder), so both splits get answers.

    Args:
        questions: the golden set.
        size: questions to answer; 0 or more than there are: all of them (shuffled).
        seed: seed of the draw.
    """
    shuffled = questions.sample(frac=1.0, random_state=seed)
    if size <= 0 or size >= len(questions):
        return shuffled
    if "split" not in questions:
        return shuffled.head(size)
    counts = shuffled["split"].value_counts().sort_index()
    quota = counts / counts.sum() * size
    take = np.floor(quota).astype(int)
    remainder = (quota - take).sort_values(ascending=False, kind="stable")
    take[remainder.index[: size - int(take.sum())]] += 1
    rank = shuffled.groupby("split").cumcount()
    quota_by_split = dict(zip(counts.index, np.asarray(take), strict=True))
    chosen = shuffled[rank < shuffled["split"].map(quota_by_split)]
    return chosen
