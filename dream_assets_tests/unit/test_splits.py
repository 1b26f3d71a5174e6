"""The held-out split and the generation sample."""

import pandas as pd
import pytest

from dream_assets.lib.golden.splits import HELD_OUT, SELECTION, generation_sample, split_golden


def _questions(per_document: dict[str, int]) -> pd.DataFrame:
    rows = [
        {"question_id": f"{document}-{i}", "document_id": document}
        for document, count in per_document.items()
        for i in range(count)
    ]
    return pd.DataFrame(rows)


def test_question_split_is_stratified_by_document_and_seeded():
    questions = _questions({"a": 10, "b": 20, "c": 3})
    split, note = split_golden(questions, 0.3, seed=1)
    assert note == ""
    held = questions[split == HELD_OUT].groupby("document_id").size().to_dict()
    assert held == {"a": 3, "b": 6, "c": 1}  # round(n x 0.3) of each document
    assert split.equals(split_golden(questions, 0.3, seed=1)[0])
    assert not split.equals(split_golden(questions, 0.3, seed=2)[0])


def test_document_split_holds_out_whole_documents():
    questions = _questions({"a": 10, "b": 10, "c": 10, "d": 10})
    split, note = split_golden(questions, 0.25, seed=0, unit="document")
    assert note == ""
    per_document = questions.assign(split=split).groupby("document_id")["split"].nunique()
    assert (per_document == 1).all()  # no document on both sides
    assert (split == HELD_OUT).sum() == 10


def test_a_set_too_small_to_split_says_so_and_selects_on_everything():
    questions = _questions({"a": 2})
    split, note = split_golden(questions, 0.3)
    assert (split == SELECTION).all() and note.startswith("too small to split")
    assert split_golden(_questions({"a": 4}), 0.0)[1].startswith("held_out_fraction is 0")
    with pytest.raises(ValueError, match="held_out_fraction"):
        split_golden(questions, 1.0)


def test_generation_sample_is_seeded_shared_and_proportional_to_the_splits():
    questions = _questions({"a": 70, "b": 30})
    questions["split"] = [HELD_OUT if i % 10 < 3 else SELECTION for i in range(100)]
    sample = generation_sample(questions, 10, seed=0)
    assert len(sample) == 10 and sample["split"].value_counts().to_dict() == {SELECTION: 7, HELD_OUT: 3}
    assert sample["question_id"].tolist() == generation_sample(questions, 10, seed=0)["question_id"].tolist()
    assert len(generation_sample(questions, 0, seed=0)) == 100
    # a larger sample's first questions are not the smaller one's in general, but the whole set is a
    # permutation: every question once
    assert generation_sample(questions, 0, seed=3)["question_id"].is_unique


def test_a_document_added_moves_no_existing_question():
    before = _questions({"a": 10, "b": 20, "c": 3})
    after = pd.concat([before, _questions({"aa": 12})], ignore_index=True)  # sorts between a and b
    split_before = pd.Series(split_golden(before, 0.3, seed=4)[0].to_numpy(), index=before["question_id"])
    split_after = pd.Series(split_golden(after, 0.3, seed=4)[0].to_numpy(), index=after["question_id"])
    assert split_after[before["question_id"]].equals(split_before)
    assert (split_after[after["document_id"].eq("aa").to_numpy()] == HELD_OUT).sum() == 4

    drawn_before = generation_sample(before, 12, seed=4)["question_id"].tolist()
    drawn_after = generation_sample(after, 12, seed=4)["question_id"].tolist()
    kept = [question for question in drawn_after if not question.startswith("aa-")]
    # the new document's questions only displace drawn ones; the rest keep their order
    assert set(kept) <= set(drawn_before) and kept == [question for question in drawn_before if question in kept]
    assert len(kept) >= 8  # 12 drawn, the new document has 12 of 45 questions: about 3 displaced
