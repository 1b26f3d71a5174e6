import pytest

from dream_assets.lib.evaluation.formulas import exact_match, hit_rate, normalize_answer, reciprocal_rank, token_f1


def test_hit_rate_and_reciprocal_rank_use_the_first_covering_node():
    retrieved = [["a:p1"], ["a:p2", "a:p3"], ["a:p7"]]
    assert hit_rate(retrieved, ["a:p3"]) == 1.0
    assert reciprocal_rank(retrieved, ["a:p3"]) == pytest.approx(0.5)
    assert reciprocal_rank(retrieved, ["a:p7", "a:p1"]) == 1.0
    assert hit_rate(retrieved, ["b:p1"]) == 0.0
    assert reciprocal_rank(retrieved, ["b:p1"]) == 0.0
    assert hit_rate([], ["a:p1"]) == 0.0


def test_squad_normalisation_drops_articles_punctuation_and_case():
    assert normalize_answer("The  Normans, of France!") == "normans of france"


def test_exact_match_takes_the_best_reference():
    assert exact_match("the Denmark", ["Norway", "Denmark"]) == 1.0
    assert exact_match("Denmark and Norway", ["Denmark"]) == 0.0


def test_token_f1_matches_the_squad_definition():
    # prediction 3 tokens, gold 2 tokens, 2 in common: P=2/3, R=1, F1=0.8
    assert token_f1("Rollo the Viking leader", ["Rollo leader"]) == pytest.approx(0.8)
    assert token_f1("", ["Rollo"]) == 0.0
    assert token_f1("anything", []) == 0.0


def test_ndcg_discounts_by_rank_and_credits_each_reference_once():
    import math

    from dream_assets.lib.evaluation.formulas import ndcg

    assert ndcg([["a"], ["x"]], ["a"]) == 1.0
    assert ndcg([["x"], ["a"]], ["a"]) == pytest.approx(1 / math.log2(3))
    assert ndcg([["x"], ["y"]], ["a"]) == 0.0
    # two references: found at ranks 1 and 3 of 3; ideal: ranks 1 and 2
    ideal = 1 + 1 / math.log2(3)
    assert ndcg([["a"], ["a"], ["b"]], ["a", "b"]) == pytest.approx((1 + 1 / math.log2(4)) / ideal)


def test_ragas_scores_loads_the_embedding_model_only_to_score_answers():
    import pandas as pd
    from llama_index.core.embeddings import MockEmbedding

    from dream_assets.lib.evaluation.scoring import ragas_scores

    loads = []

    def load_model():
        loads.append(1)
        return MockEmbedding(embed_dim=8)

    table = pd.DataFrame(
        {
            "retrieved_context_ids": [["c1", "c2"], ["c3"]],
            "reference_context_ids": [["c2"], ["c4"]],
            "reference": ["Paris", "Rome"],
            "response": ["", ""],
            "generated": [False, False],
            "error": ["", ""],
        }
    )
    retrieval_only = ragas_scores(table, load_model)
    assert loads == []  # a retrieval tier (no answers) never loads the model
    assert retrieval_only["id_based_context_recall"].tolist() == [1.0, 0.0]
    assert retrieval_only["semantic_similarity"].isna().all()
    answered = ragas_scores(table.assign(generated=[True, False], response=["Paris", ""]), load_model)
    assert loads == [1]
    assert answered["semantic_similarity"].notna().tolist() == [True, False]
    # an answer equal to its reference: cosine 1 within rounding, never above (test_chain meets
    # MiniLM's float32 rounding above 1)
    assert 1.0 - 1e-6 < answered.loc[0, "semantic_similarity"] <= 1.0
