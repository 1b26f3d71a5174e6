"""Bootstrap intervals and the paired test on per-question metrics."""

import math

import numpy as np
import pandas as pd
import pytest

from dream_assets.lib.evaluation.statistics import bootstrap_ci, holm_tiers, leaderboard_statistics, paired_p_value


def test_interval_contains_the_mean_and_narrows_with_more_questions():
    rng = np.random.default_rng(0)
    small, large = rng.binomial(1, 0.6, 20), rng.binomial(1, 0.6, 400)
    for values in (small, large):
        low, high = bootstrap_ci(values)
        assert low <= values.mean() <= high and 0 <= low < high <= 1
    assert np.subtract(*bootstrap_ci(large)[::-1]) < np.subtract(*bootstrap_ci(small)[::-1])
    assert bootstrap_ci(small) == bootstrap_ci(small)  # seeded
    assert bootstrap_ci([1.0, 1.0, math.nan]) == (1.0, 1.0)
    assert all(math.isnan(v) for v in bootstrap_ci([math.nan]))
    assert all(math.isnan(v) for v in bootstrap_ci([0.5, math.nan]))  # one value: no interval


def test_paired_test_separates_real_from_noise_differences():
    rng = np.random.default_rng(1)
    best = rng.uniform(0.5, 1.0, 60)
    assert paired_p_value(best, best) == 1.0
    assert paired_p_value(best, best - 0.3) < 0.01
    assert paired_p_value(best, best + rng.normal(0, 0.01, 60)) > 0.05
    assert math.isnan(paired_p_value([math.nan], [1.0]))
    assert math.isnan(paired_p_value([1.0], [0.0]))  # one pair: nothing to test


def test_leaderboard_statistics_pair_by_question_id():
    tables = {
        "best": pd.DataFrame({"question_id": ["a", "b", "c", "d"], "mrr": [1.0, 1.0, 0.5, 1.0]}),
        "other": pd.DataFrame({"question_id": ["d", "c", "b", "a"], "mrr": [1.0, 0.5, 1.0, 1.0]}),
    }
    stats = leaderboard_statistics(tables, "best", ["mrr", "f1"])
    assert stats["other"]["mrr_p_vs_best"] == 1.0  # same values once paired by question
    assert stats["best"]["mrr_ci95_low"] <= 0.875 <= stats["best"]["mrr_ci95_high"]
    assert "f1_ci95_low" not in stats["best"]
    assert stats["best"]["mrr_ci95_high"] == pytest.approx(1.0)


def test_repeats_of_a_question_are_averaged_before_pairing():
    tables = {
        "best": pd.DataFrame({"question_id": ["a", "b"], "f1": [1.0, 0.5]}),
        # two repeats per question whose means equal the best's values
        "sampled": pd.DataFrame({"question_id": ["a", "a", "b", "b"], "f1": [1.0, 1.0, 0.0, 1.0]}),
    }
    stats = leaderboard_statistics(tables, "best", ["f1"])
    assert stats["sampled"]["f1_p_vs_best"] == 1.0
    assert stats["sampled"]["f1_ci95_low"] == stats["best"]["f1_ci95_low"]


def _tables(rng, means: dict[str, float], questions: int = 80) -> dict[str, pd.DataFrame]:
    ids = [f"q{i}" for i in range(questions)]
    return {key: pd.DataFrame({"question_id": ids, "mrr": rng.binomial(1, p, questions)}) for key, p in means.items()}


def test_holm_tiers_group_the_indistinguishable_and_split_off_the_worse():
    from dream_assets.lib.evaluation.statistics import holm_tiers

    rng = np.random.default_rng(0)
    tables = _tables(rng, {"best": 0.8})
    tables["twin"] = tables["best"].assign(mrr=tables["best"]["mrr"].to_numpy())  # same answers
    tables["twin"].loc[0, "mrr"] = 1 - tables["twin"].loc[0, "mrr"]  # differs on one question
    tables["worse"] = tables["best"].assign(mrr=0.0)
    tiers = holm_tiers(tables, ["best", "twin", "worse"], "mrr")
    assert {key: row["tier"] for key, row in tiers.items()} == {"best": 1, "twin": 1, "worse": 2}
    assert tiers["worse"]["mrr_p_vs_tier_best"] < 0.05 and tiers["twin"]["mrr_p_holm"] > 0.05


def test_holm_correction_is_stricter_than_the_raw_tests():
    from dream_assets.lib.evaluation.statistics import holm_tiers

    rng = np.random.default_rng(5)
    tables = _tables(rng, {"best": 0.7, **{f"c{i}": 0.6 for i in range(8)}}, questions=200)
    tiers = holm_tiers(tables, list(tables), "mrr")
    assert set(tiers) == set(tables)
    assert all(row["mrr_p_holm"] >= row["mrr_p_vs_tier_best"] for row in tiers.values())
    # a configuration left in tier 1 may have a raw p below 0.05 that Holm's correction lifted
    lifted = [k for k, row in tiers.items() if row["tier"] == 1 and row["mrr_p_vs_tier_best"] <= 0.05]
    assert all(tiers[k]["mrr_p_holm"] > 0.05 for k in lifted)


def test_a_configuration_that_cannot_be_tested_stays_in_its_tier():
    tables = {
        "best": pd.DataFrame({"question_id": ["a"], "mrr": [1.0]}),
        "other": pd.DataFrame({"question_id": ["a"], "mrr": [1.0]}),
    }
    tiers = holm_tiers(tables, ["best", "other"], "mrr")
    assert tiers["other"]["tier"] == 1.0 and math.isnan(tiers["other"]["mrr_p_holm"])


def test_a_paired_comparison_pairs_questions_and_averages_repeats():
    from dream_assets.lib.evaluation.statistics import paired_comparison

    ids = [f"q{i}" for i in range(40)]
    first = pd.DataFrame({"question_id": ids * 2, "mrr": [1.0] * 40 + [0.5] * 40})  # two repeats: 0.75
    second = pd.DataFrame({"question_id": ids[5:], "mrr": [0.25] * 35, "f1": [0.5] * 35})
    [row] = paired_comparison(first, second, ["mrr", "f1"]).to_dict("records")  # f1: only one side has it
    assert (row["metric"], row["n"]) == ("mrr", 35)  # the questions both scored
    assert (row["first"], row["second"], row["difference"]) == pytest.approx((0.75, 0.25, 0.5))
    assert row["difference_ci95_low"] == row["difference_ci95_high"] == pytest.approx(0.5)  # no spread
    assert row["p_value"] < 0.001
    same = paired_comparison(first, first, ["mrr"]).iloc[0]
    assert same["difference"] == 0 and same["p_value"] == 1.0
