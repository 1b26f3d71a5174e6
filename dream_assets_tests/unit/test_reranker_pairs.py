"""Reranker training pairs and validation MRR: pure logic, with a scripted retriever and model."""

import pandas as pd
import pytest

from dream_assets.lib.retrieval.reranker_training import candidate_mrr, split_documents, training_pairs
from dream_assets.lib.retrieval.retriever import RetrievedContext

CONTEXTS = pd.DataFrame(
    [("a:p0", "a", 0, 100, "x"), ("a:p1", "a", 100, 200, "y"), ("b:p0", "b", 0, 100, "z")],
    columns=["context_id", "document_id", "start", "end", "text"],
)


class ScriptedRetriever:
    """Returns the same ranked spans for every question."""

    def retrieve(self, question):
        spans = [("a", 0, 100), ("a", 100, 200), ("b", 0, 100)]
        return [RetrievedContext(f"n{i}", d, s, e, f"text {d}{s}", 1.0 - i / 10) for i, (d, s, e) in enumerate(spans)]


def test_pairs_have_one_positive_and_hard_negatives_that_are_not_references():
    questions = pd.DataFrame({"question_id": ["q1", "q2"], "document_id": ["a", "b"], "user_input": ["Q1?", "Q2?"],
                              "reference_contexts": [["ref a0"], ["ref b0"]],
                              "reference_context_ids": [["a:p0"], ["b:p0"]]})  # fmt: skip
    pairs = training_pairs(questions, CONTEXTS, ScriptedRetriever(), negatives=2, validation_fraction=0.5)
    first = pairs[pairs["question_id"] == "q1"]
    assert first["label"].tolist() == [1, 0, 0]
    assert first["passage"].tolist() == ["ref a0", "text a100", "text b0"]  # a:p0 is q1's reference: skipped
    assert set(pairs.groupby("document_id")["split"].nunique()) == {1}  # one split per document
    assert set(pairs["split"]) == {"train", "validation"}


def test_split_is_by_document_seeded_and_checked():
    split = split_documents([f"d{i}" for i in range(8)], 0.25, seed=1)
    assert sorted(split.values()).count("validation") == 2
    assert split == split_documents([f"d{i}" for i in reversed(range(8))], 0.25, seed=1)
    assert split_documents(["only"], 0.25) == {"only": "train"}
    with pytest.raises(ValueError, match="validation_fraction"):
        split_documents(["a"], 1.0)


class ScriptedModel:
    def __init__(self, scores):
        self.scores = scores

    def predict(self, pairs, show_progress_bar=False):
        return [self.scores[passage] for _, passage in pairs]


def test_candidate_mrr_ranks_the_positive_among_its_own_candidates():
    pairs = pd.DataFrame({"question_id": ["q1"] * 3 + ["q2"] * 2, "label": [1, 0, 0, 1, 0],
                          "query": ["q"] * 5, "passage": ["p1", "n1", "n2", "p2", "n3"]})  # fmt: skip
    model = ScriptedModel({"p1": 0.9, "n1": 0.1, "n2": 0.2, "p2": 0.3, "n3": 0.3})
    assert candidate_mrr(model, pairs) == pytest.approx((1 + 1 / 2) / 2)  # a tie counts against
