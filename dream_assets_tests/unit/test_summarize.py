"""Trial metrics from a per-question table: means, coverage, per-source metrics."""

import math

import pandas as pd
import pytest

from dream_assets.lib.evaluation.summary import summarize


def _table(**columns) -> pd.DataFrame:
    base = {
        "error": ["", "", "", "TimeoutError: x"],
        "retrieval_latency_s": [0.1, 0.2, 0.3, 0.4],
        "generation_latency_s": [1.0, 2.0, 3.0, math.nan],
        "prompt_tokens": [10, 10, 10, 0],
        "completion_tokens": [2, 2, 2, 0],
        "cached": [False, True, False, False],
        "hit_rate": [1.0, 0.0, 1.0, 1.0],
        "mrr": [1.0, 0.0, 0.5, 0.25],
        "f1": [0.5, 0.0, 1.0, math.nan],
        "faithfulness": [math.nan] * 4,
    }
    return pd.DataFrame({**base, **columns})


def test_means_coverage_and_counts():
    summary = summarize(_table())
    assert summary["mrr"] == 1.75 / 4
    assert summary["f1"] == 0.5 and summary["f1_coverage"] == 0.75
    assert (summary["questions"], summary["errors"], summary["llm_calls"], summary["llm_cache_hits"]) == (4, 1, 2, 1)
    assert not any(key.startswith(("human/", "synthetic/")) for key in summary)


def test_two_golden_sources_get_their_own_means():
    summary = summarize(_table(golden_source=["human", "human", "synthetic", "synthetic"]))
    assert summary["human/mrr"] == 0.5 and summary["synthetic/mrr"] == 0.375
    assert summary["human/hit_rate"] == 0.5 and summary["synthetic/hit_rate"] == 1.0
    assert summary["synthetic/f1"] == 1.0  # the failed question is not scored, not a zero
    assert summary["mrr"] == 1.75 / 4  # the overall mean stays
    assert "human/faithfulness" not in summary  # a metric nobody computed gets no group columns


def test_repeats_count_questions_once_and_report_their_spread():
    table = pd.concat([_table().assign(repeat=0), _table(f1=[0.0, 0.0, 0.0, math.nan]).assign(repeat=1)])
    table["question_id"] = ["a", "b", "c", "d"] * 2
    summary = summarize(table)
    assert (summary["questions"], summary["repeats"]) == (4, 2)
    assert summary["f1"] == 0.25  # the mean of all six scored answers
    assert summary["f1_repeat_std"] == pytest.approx(math.sqrt(0.125))  # repeat means 0.5 and 0.0
    assert summary["mrr_repeat_std"] == 0.0
    assert "f1_repeat_std" not in summarize(_table().assign(question_id=list("abcd")))
