"""The held-out verdict's split of a golden set, and the generation sample.

A configuration chosen as the best of many on some questions scores higher on those questions
than it will on new ones (the winner's curse, or optimistic bias of the selected maximum:
Cawley and Talbot, "On Over-fitting in Model Selection and Subsequent Selection Bias in
Performance Evaluation", JMLR 2010). So the golden set is split once, seeded: the search ranks
and picks on the `selection` split only, and the winner's score on the `held_out` split, which
played no part in picking it, is the unbiased number DREAM quotes.

Both draws rank each question (or document) by a seeded hash of its id (`draw_order`), not by
one shuffle of the whole set: when documents are added to a corpus, the questions already there
keep their split and their place in the generation sample, so a refreshed golden set moves no
existing question and a refreshed trial re-asks no question it answered before (its answers come
from the LLM cache while its contexts are the same).
"""

from __future__ import annotations

import hashlib
from typing import Literal

import numpy as np
import pandas as pd

SELECTION, HELD_OUT = "selection", "held_out"
# Below this many questions in either split, a split would leave too little to pick on or to
# verify with: the set is not split and the leaderboard says so.
MIN_SPLIT_QUESTIONS = 2


def draw_order(ids: pd.Series, seed: int) -> pd.Series:
    """A seeded rank key per id (the first 8 bytes of SHA-256 of `<seed>:<id>`, as an integer):
    sorting by it is a uniform shuffle that does not depend on which other ids are present."""
    return ids.map(lambda value: int.from_bytes(hashlib.sha256(f"{seed}:{value}".encode()).digest()[:8], "big"))


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
        unit: `question`: stratified by document: each document's questions are drawn in
            `draw_order` and the first round(n x fraction) held out, so every document weighs
            the same in both splits and one document's split does not depend on the others;
            `document`: whole documents are held out (grouped: tests how a choice carries to
            documents it never saw), drawn in `draw_order` until the fraction of questions is
            reached.

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
    if unit == "question":
        order = draw_order(questions["question_id"], seed)
        for _, group in questions.groupby("document_id", sort=True):
            count = int(round(len(group) * held_out_fraction))
            split.loc[order[group.index].sort_values(kind="stable").index[:count]] = HELD_OUT
    else:
        sizes = questions.groupby("document_id", sort=True).size()
        target, held = held_out_fraction * len(questions), 0
        documents = pd.Series(sizes.index, index=sizes.index)
        for document in draw_order(documents, seed).sort_values(kind="stable").index:
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
    """The questions that get an LLM answer: `size` of them, drawn with `seed` in `draw_order`
    and in that order (the order multi-fidelity rungs take prefixes of), the same for every
    configuration so that answer metrics are paired by question. With a `split` column, each
    split is sampled in proportion to its size (largest remainder), so both splits get answers.
    Questions added to the set can displace drawn ones; the others stay drawn.

    Args:
        questions: the golden set.
        size: questions to answer; 0 or more than there are: all of them (shuffled).
        seed: seed of the draw.
    """
    shuffled = questions.loc[draw_order(questions["question_id"], seed).sort_values(kind="stable").index]
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
