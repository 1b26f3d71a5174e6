"""The judge's pure logic: which questions are judged, the unfaithful pairs, the calibration
figures (Spearman's rho, AUROC) and the per-configuration summary."""

import math
from types import SimpleNamespace

import pandas as pd

from dream_assets.defs.evaluation.leaderboard import calibration_metrics, judged, with_judge_spend
from dream_assets.lib.evaluation.judging import judge_calibration, judge_summary, judged_questions, swapped_contexts
from dream_assets.lib.evaluation.statistics import auroc, spearman_rho
from dream_assets.lib.llm.ragas_llm import bounded_schema


def _table(answered: dict[str, str], errors: tuple[str, ...] = ()) -> pd.DataFrame:
    rows = [
        {"question_id": q, "generated": bool(a), "response": a, "error": "boom" if q in errors else ""}
        for q, a in answered.items()
    ]
    return pd.DataFrame(rows)


def test_judged_questions_are_answered_by_every_configuration_and_seeded():
    tables = {
        "a": _table({"q1": "x", "q2": "y", "q3": "z", "q4": ""}),
        "b": _table({"q1": "x", "q2": "  ", "q3": "z", "q4": "w"}, errors=("q3",)),
    }
    assert judged_questions(tables, 5) == ["q1"]  # q2 blank in b, q3 failed in b, q4 unanswered in a
    more = {"a": _table({f"q{i}": "x" for i in range(20)}), "b": _table({f"q{i}": "x" for i in range(20)})}
    drawn = judged_questions(more, 4, seed=0)
    assert len(drawn) == 4 and drawn == sorted(drawn) and drawn == judged_questions(more, 4, seed=0)
    assert drawn != judged_questions(more, 4, seed=1)
    assert judged_questions({"a": _table({"q1": ""})}, 3) == []


def test_swapped_contexts_come_from_another_question():
    rows = pd.DataFrame({"user_input": ["A?", "A?", "B?", "C?"], "retrieved_contexts": [["a1"], ["a2"], ["b"], ["c"]]})
    assert swapped_contexts(rows) == [["b"], ["b"], ["c"], ["a1"]]
    alone = pd.DataFrame({"user_input": ["A?"], "retrieved_contexts": [["a"]]})
    assert swapped_contexts(alone) == [["a"]]


def test_auroc_and_spearman_against_hand_counts():
    # pairs (real, swapped): (1, 0) right, (1, 0.5) right, (0.5, 0) right, (0.5, 0.5) tie -> 3.5 / 4
    assert auroc([1.0, 0.5], [0.0, 0.5]) == 0.875
    assert auroc([0.0], [1.0]) == 0.0 and math.isnan(auroc([], [1.0]))
    assert spearman_rho([1, 2, 3, 4], [10, 20, 30, 45]) == 1.0
    assert spearman_rho([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    assert math.isnan(spearman_rho([1, 1, 1], [1, 2, 3]))  # a constant judge ranks nothing
    assert math.isnan(spearman_rho([1, 2], [1, 2]))


def test_calibration_and_summary_of_a_judged_table():
    judged_rows = pd.DataFrame(
        {
            "config_key": ["a", "a", "b", "b"],
            "answer_correctness": [0.9, 0.2, 0.6, math.nan],
            "f1": [1.0, 0.0, 0.5, 0.3],
            "faithfulness": [1.0, 0.5, 1.0, 0.0],
            "judge_seconds": [2.0, 2.0, 4.0, 4.0],
        }
    )
    swapped = pd.DataFrame({"faithfulness": [0.0, 0.0, 1.0, math.nan]})
    figures = judge_calibration(judged_rows, swapped)
    assert figures["answer_correctness_spearman"] == 1.0 and figures["answer_correctness_spearman_n"] == 3
    # real (1, .5, 1, 0) vs swapped (0, 0, 1): 12 pairs, 7 right and 2 ties -> 8 / 12
    assert math.isclose(figures["faithfulness_auroc"], 8 / 12) and figures["faithfulness_auroc_n"] == 7
    summary = judge_summary(judged_rows, ["answer_correctness", "faithfulness"]).set_index("config_key")
    assert summary.loc["b", "answer_correctness"] == 0.6 and summary.loc["b", "answer_correctness_n"] == 1
    assert summary.loc["b", "answer_correctness_coverage"] == 0.5 and summary.loc["a", "judge_seconds_per_sample"] == 2
    metrics = calibration_metrics({"this_run": figures, "reference": {"faithfulness_auroc": 0.7, "source": "x"}})
    assert metrics["judge_calibration/faithfulness_auroc"] == figures["faithfulness_auroc"]
    assert metrics["judge_calibration/reference/faithfulness_auroc"] == 0.7
    assert "judge_calibration/reference/source" not in metrics


def test_the_leaderboard_shows_only_judged_configurations():
    table = pd.DataFrame(
        {
            "rank": [1, 2],
            "tier": [1.0, 2.0],
            "config_key": ["a", "b"],
            "faithfulness": [0.5, math.nan],
            "faithfulness_n": [2.0, math.nan],
            "answer_correctness_n": [2.0, math.nan],
        }
    )
    shown = judged(table)
    assert shown["config_key"].tolist() == ["a"] and shown["judged_n"].tolist() == [2]
    assert judged(table.drop(columns=["faithfulness_n"])).empty


def test_bounded_schema_caps_strings_and_forbids_empty_lists():
    schema = {
        "type": "object",
        "properties": {
            "statements": {"type": "array", "items": {"type": "string"}},
            "reason": {"type": "string", "maxLength": 20},
        },
    }
    bounded = bounded_schema(schema, 160)
    assert bounded["properties"]["statements"]["minItems"] == 1
    assert bounded["properties"]["statements"]["items"]["maxLength"] == 160
    assert bounded["properties"]["reason"]["maxLength"] == 20
    assert "minItems" not in schema["properties"]["statements"]  # a copy
    verdicts = bounded_schema(
        {"properties": {"verdict": {"type": "integer"}, "k": {"type": "integer", "minimum": 2}}}, 9
    )
    assert verdicts["properties"]["verdict"]["enum"] == [0, 1] and "enum" not in verdicts["properties"]["k"]


def test_the_judges_spend_is_counted_in_the_leaderboards_cost():
    table = pd.DataFrame({"config_key": ["a", "b"], "cost_usd": [1.0, 2.0], "judge_cost_usd": [0.5, math.nan]})
    spent = with_judge_spend(table)
    assert spent["cost_usd"].tolist() == [1.5, 2.0] and spent["answer_cost_usd"].tolist() == [1.0, 2.0]
    assert list(spent.columns) == ["config_key", "cost_usd", "answer_cost_usd", "judge_cost_usd"]
    assert with_judge_spend(table.drop(columns=["judge_cost_usd"])).equals(table.drop(columns=["judge_cost_usd"]))


def test_a_score_outside_the_metrics_range_is_no_score():
    import asyncio

    from dream_assets.lib.evaluation.scoring import score_samples

    class Recall:  # a ragas collections metric's interface: ascore and allowed_values
        name, allowed_values = "context_recall", (0.0, 1.0)

        async def ascore(self, value):
            if value is None:
                raise ValueError("retrieved_contexts cannot be empty")
            return SimpleNamespace(value=value)

    scores = asyncio.run(score_samples(Recall(), [{"value": 0.5}, {"value": -1.0}, {"value": None}, {"value": 1.0}]))
    assert scores[0] == 0.5 and scores[3] == 1.0 and math.isnan(scores[1]) and math.isnan(scores[2])
    # a cosine-based score (answer relevancy) below 0 is an unrelated question: 0, not dropped
    floored = asyncio.run(score_samples(Recall(), [{"value": -0.03}, {"value": -1.5}, {"value": 0.4}], floor=-1.0))
    assert floored[0] == 0.0 and math.isnan(floored[1]) and floored[2] == 0.4
