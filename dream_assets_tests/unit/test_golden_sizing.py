"""The rule that sizes a synthetic golden set to its decision (`dream_assets.lib.golden.sizing`):
the round outcome from per-question tables, and each reason to stop."""

import math

import numpy as np
import pandas as pd
import pytest

from dream_assets.lib.golden.sizing import RoundOutcome, SizingRule, round_outcome, sizing_note, stop_reason


def _outcome(round_index, winner="a", tier_1=("a",), width=0.1, questions=None, calls=None, seconds=None):
    return RoundOutcome(
        round=round_index,
        questions=questions if questions is not None else 10 * round_index,
        selection_questions=7 * round_index,
        configurations=3,
        winner=winner,
        tier_1=tier_1,
        winner_score=0.8,
        ci95_low=0.8 - width / 2,
        ci95_high=0.8 + width / 2,
        llm_calls=calls if calls is not None else 20 * round_index,
        seconds=seconds if seconds is not None else 60.0 * round_index,
    )


def test_round_outcome_ranks_and_tiers_on_the_selection_split_only():
    ids = [f"q{i}" for i in range(40)]
    rng = np.random.default_rng(0)
    strong = (rng.random(40) < 0.9).astype(float)
    weak = (rng.random(40) < 0.2).astype(float)
    tables = {
        "strong": pd.DataFrame({"question_id": ids, "mrr": strong}),
        "twin": pd.DataFrame({"question_id": ids, "mrr": strong}),
        "weak": pd.DataFrame({"question_id": ids, "mrr": weak}),
    }
    # on the held-out half the weak one wins every question: it must not count
    held_out = ids[20:]
    for table in tables.values():
        table.loc[table["question_id"].isin(held_out), "mrr"] = 0.0
    tables["weak"].loc[tables["weak"]["question_id"].isin(held_out), "mrr"] = 1.0
    outcome = round_outcome(2, tables, set(ids[:20]), 40, 55, 120.0)
    assert outcome.winner == "strong" and outcome.tier_1 == ("strong", "twin")
    assert outcome.configurations == 3 and outcome.selection_questions == 20
    assert outcome.winner_score == pytest.approx(strong[:20].mean())
    assert outcome.ci95_low <= outcome.winner_score <= outcome.ci95_high and outcome.interval_width > 0
    assert outcome.record()["tier_1_size"] == 2 and outcome.record()["tier_1"] == ["strong", "twin"]


def test_round_outcome_without_any_configuration_is_empty():
    outcome = round_outcome(1, {}, {"q1"}, 1, 3, 1.0)
    assert outcome.winner == "" and outcome.tier_1 == () and outcome.configurations == 0
    rule = SizingRule()
    assert stop_reason([outcome], rule) == "no_configuration_scored"
    assert "no configuration's index could be read" in sizing_note([outcome], "no_configuration_scored", rule)


def test_stability_binds_after_tier_1_and_the_winner_held_for_the_rounds_asked():
    rule = SizingRule(stable_rounds=2, max_interval_width=0.2, max_minutes=60)
    history = [_outcome(1, tier_1=("a", "b"))]
    assert stop_reason(history, rule) is None  # one round decides nothing
    history.append(_outcome(2))
    assert stop_reason(history, rule) is None  # tier 1 changed after round 1
    history.append(_outcome(3))
    assert stop_reason(history, rule) is None  # held for one round only
    history.append(_outcome(4))
    assert stop_reason(history, rule) == "stable"
    note = sizing_note(history, "stable", rule)
    assert note.startswith("synthetic questions generated in 4 rounds (40 questions, 80 LLM calls, 4.0 min)")
    assert "tier 1 and the winner held for 2 rounds" in note and "winner a" in note and "target 0.2" in note


def test_a_wide_interval_or_a_new_winner_keeps_generating():
    rule = SizingRule(stable_rounds=1, max_interval_width=0.2, max_minutes=60)
    wide = [_outcome(1, width=0.3), _outcome(2, width=0.3)]
    assert stop_reason(wide, rule) is None
    assert stop_reason([_outcome(1, width=0.3), _outcome(2, width=0.15)], rule) == "stable"
    assert stop_reason([_outcome(1, winner="b"), _outcome(2)], rule) is None
    undefined = [_outcome(1, width=math.nan), _outcome(2, width=math.nan)]  # fewer than 2 questions
    assert stop_reason(undefined, rule) is None


def test_budgets_bind_before_a_round_that_would_pass_them():
    rule = SizingRule(first_round_per_document=2, round_per_document=2, max_llm_calls=50, max_minutes=60)
    # round 1 cost 20 calls: a second one fits (40), a third would not (60 > 50)
    assert stop_reason([_outcome(1, tier_1=("a", "b"))], rule) is None
    assert stop_reason([_outcome(1, tier_1=("a", "b")), _outcome(2)], rule) == "llm_call_budget"
    timed = SizingRule(first_round_per_document=2, round_per_document=2, max_minutes=2.5)
    # round 1 took 60 s: a second (120 s) fits in 150 s, a third (180 s) does not
    assert stop_reason([_outcome(1, tier_1=("a", "b"))], timed) is None
    assert stop_reason([_outcome(1, tier_1=("a", "b")), _outcome(2)], timed) == "time_budget"
    assert "another round would pass the time budget" in sizing_note([_outcome(1)], "time_budget", timed)
    # a first round of 3 questions per document priced the next, of 1, at a third of its cost:
    # 60 s and 20 calls, then 20 s and about 7 calls
    smaller = SizingRule(first_round_per_document=3, round_per_document=1, max_minutes=1.5, max_llm_calls=27)
    assert stop_reason([_outcome(1, tier_1=("a", "b"))], smaller) is None
    assert stop_reason([_outcome(1, tier_1=("a", "b"))], smaller.model_copy(update={"max_llm_calls": 26})) == (
        "llm_call_budget"
    )
    assert stop_reason([_outcome(1, tier_1=("a", "b"))], smaller.model_copy(update={"max_minutes": 1.3})) == (
        "time_budget"
    )
    # no LLM-call budget by default
    assert stop_reason([_outcome(1, tier_1=("a", "b"), calls=10**6)], SizingRule(max_minutes=60)) is None


def test_a_round_that_adds_no_question_stops_generation():
    rule = SizingRule(max_minutes=60)
    history = [_outcome(1, tier_1=("a", "b"), questions=12), _outcome(2, questions=12)]
    assert stop_reason(history, rule) == "no_new_questions"


def test_the_rule_rejects_impossible_settings():
    with pytest.raises(ValueError, match="stable_rounds"):
        SizingRule(stable_rounds=0)
    with pytest.raises(ValueError, match="max_interval_width"):
        SizingRule(max_interval_width=0)
    with pytest.raises(ValueError, match="no round"):
        stop_reason([], SizingRule())


def test_the_rounds_score_each_retrieval_once_whatever_the_llms_and_leave_rerankers_out():
    from types import SimpleNamespace

    from dream_assets.defs.golden.sizing import RoundScorer
    from dream_assets.search_space import SearchSpace

    space = SearchSpace.model_validate(
        {
            "retrieval": [{"method": "chunks", "chunk_size": 256, "chunk_overlap": 32}],
            "embedding_models": ["all-MiniLM-L6-v2"],
            "llms": ["gemma-3-270m", "Qwen/Qwen2.5-7B-Instruct"],
            "top_k": [2, 4],
            "retrievers": ["vector", "bm25"],
            "rerankers": ["none", "finetuned"],
        }
    )
    scorer = RoundScorer(SimpleNamespace(search_space=space), None, 0.3, 0, "question")  # pyright: ignore[reportArgumentType]
    assert len(space.configs()) == 16
    assert sorted(scorer.configs) == [
        "chunks256o32_minilm-l6_k2",
        "chunks256o32_minilm-l6_k2_bm25",
        "chunks256o32_minilm-l6_k4",
        "chunks256o32_minilm-l6_k4_bm25",
    ]
    assert all(config.reranker == "none" for config in scorer.configs.values())
