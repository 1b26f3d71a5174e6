"""The leaderboard's report and terminal table, on small hand-made tables."""

import pandas as pd
import pytest

from dream_assets.cli.report import TERMINAL_WIDTH, terminal_table
from dream_assets.defs.evaluation.report import ranking_metric
from dream_assets.lib.evaluation.question_views import disagreements, missed_questions
from dream_assets.lib.evaluation.report import ReportInputs, render_report
from dream_assets.lib.evaluation.report_figures import forest_plot, pareto_front

LONG_KEY = "automerge512-128_multilingual-e5-large-instruct_qwen2.5-coder-1.5b-instruct_k10"


def _board() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rank": [1, 2, 3, 4],
            "tier": [1.0, 1.0, 2.0, None],
            "config_key": ["a", "b", LONG_KEY, "broken"],
            "mrr": [0.8, 0.78, 0.5, None],
            "mrr_n": [100, 100, 100, None],
            "mrr_ci95_low": [0.75, 0.72, 0.45, None],
            "mrr_ci95_high": [0.85, 0.83, 0.55, None],
            "mrr_p_holm": [None, 0.3, 0.001, None],
            "held_out/mrr": [0.79, 0.77, 0.52, None],
            "f1": [0.4, 0.5, 0.3, None],
            "retrieval_latency_p50_s": [0.01, 0.01, 0.02, None],
            "generation_latency_p50_s": [2.0, 1.0, 3.0, None],
            "prompt_tokens_per_question": [600.0, 300.0, 900.0, None],
            "cost_usd": [0.0, 0.0, 0.0, 0.0],
            "generated_questions": [4, 4, 4, 0],
            "status": ["ok", "ok", "ok", "failed"],
            "error": ["", "", "", "RuntimeError: <b>boom</b>"],
        }
    )


def _trial(hits: list[float]) -> pd.DataFrame:
    n = len(hits)
    return pd.DataFrame(
        {
            "question_id": [f"q{i}" for i in range(n)],
            "document_id": ["d1" if i < n // 2 else "d2" for i in range(n)],
            "user_input": [f"question {i} <script>alert(1)</script>" for i in range(n)],
            "reference": ["answer"] * n,
            "split": ["selection"] * n,
            "hit_rate": hits,
            "reference_contexts": [[f"reference {i}"] for i in range(n)],
            "retrieved_contexts": [[f"retrieved {i}", "other"] for i in range(n)],
        }
    )


def test_the_pareto_front_keeps_exactly_the_undominated_points():
    quality = pd.Series([0.8, 0.78, 0.5, 0.8, None])
    cost = pd.Series([600.0, 300.0, 900.0, 700.0, 1.0])
    # 0.5 at 900 is dominated by both; 0.8 at 700 by 0.8 at 600; the missing one is never on it
    assert pareto_front(quality, cost).tolist() == [True, True, False, False, False]


def test_the_forest_plot_draws_each_ranked_configuration_in_its_tier_colour_with_its_interval():
    figure = forest_plot(_board(), "mrr")
    tiers = {trace.name: trace for trace in figure.data if trace.name.startswith("tier")}
    assert sorted(tiers) == ["tier 1", "tier 2"]  # the failed configuration is not drawn
    assert list(tiers["tier 1"].y) == ["b", "a"]  # best on top: plotly draws the first at the bottom
    assert list(tiers["tier 1"].error_x.array) == pytest.approx([0.05, 0.05])
    assert list(tiers["tier 1"].error_x.arrayminus) == pytest.approx([0.06, 0.05])
    assert tiers["tier 1"].marker.color != tiers["tier 2"].marker.color
    held = next(trace for trace in figure.data if trace.name == "held-out")
    assert list(held.x) == pytest.approx([0.52, 0.77, 0.79])


def test_missed_questions_are_those_without_a_hit_one_document_at_a_time():
    missed = missed_questions(_trial([0, 0, 1, 0, 0, 1]), limit=3)
    # d1 holds q0-q2, d2 q3-q5: each document's first miss, then the next
    assert missed["question_id"].tolist() == ["q0", "q3", "q1"]
    assert missed.loc[0, "reference context"] == "reference 0"
    assert missed.loc[0, "top retrieved context"] == "retrieved 0"


def test_disagreements_are_questions_some_tier_1_configurations_retrieve_and_others_miss():
    trials = {"a": _trial([1, 0, 1, 0]), "b": _trial([1, 1, 0, 0])}
    found = disagreements(trials, ["a", "b"])
    assert found["question_id"].tolist() == ["q1", "q2"]
    assert found["retrieved by"].tolist() == ["b", "a"] and found["missed by"].tolist() == ["a", "b"]
    assert disagreements(trials, ["a"]).empty


def test_the_report_is_self_contained_and_escapes_what_documents_and_errors_say():
    board = _board()
    questions = _trial([0, 1, 1, 1])[["question_id", "document_id", "split"]].assign(synthesizer_name="human")
    page = render_report(
        ReportInputs(
            corpus="c",
            golden_version="v1",
            leaderboard=board,
            rank_by="mrr",
            verdict="winner a: <held-out>",
            trials={"a": _trial([0, 1, 1, 1]), "b": _trial([1, 1, 0, 1])},
            questions=questions,
            documents=[{"document_id": "d1", "parser": "pypdf", "outcome": "quarantined", "reason": "encrypted"}],
            agreement="Synthetic questions ranked <30> configurations",
        )
    )
    assert '<p id="synthetic-agreement">Synthetic questions ranked &lt;30&gt; configurations</p>' in page
    assert '<p id="verdict" class="verdict">winner a: &lt;held-out&gt;</p>' in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)" in page
    assert "<b>boom</b>" not in page and "RuntimeError: &lt;b&gt;boom&lt;/b&gt;" in page
    assert "<script src" not in page and page.count("<script") == 4  # plotly.js, two figures, the data
    assert 'id="forest-plot"' in page and 'id="pareto-plot"' in page
    assert "1 of 4 questions" in page and "0 of 1 parsed" in page


def test_a_report_of_a_leaderboard_that_ranks_nothing_is_refused():
    board = _board().assign(status="failed")
    inputs = ReportInputs("c", "v1", board, "mrr", "", {}, pd.DataFrame({"document_id": []}))
    with pytest.raises(ValueError, match="ranks no configuration"):
        render_report(inputs)


def test_the_terminal_table_fits_its_width_with_long_keys_and_failed_rows():
    lines = terminal_table(_board(), "mrr").splitlines()
    assert max(len(line) for line in lines) <= TERMINAL_WIDTH
    assert any(line.lstrip().startswith("1") and "0.800 .750–.850" in line for line in lines)
    start, end = lines[0].index("configuration"), lines[0].index("mrr [95% CI]")
    keys = "".join(line[start:end].strip() for line in lines[2:-1])
    assert keys == f"ab{LONG_KEY}broken"  # a long key wraps whole, nothing cut
    assert lines[-2].split()[-1] == "failed"
    assert "questions behind each mean: mrr 100" in lines[-1]


def test_the_terminal_table_shows_the_parser_only_when_configurations_differ_in_it():
    one = terminal_table(_board().assign(parser="pypdf"), "mrr").splitlines()[0].split()
    two = terminal_table(_board().assign(parser=["pypdf", "ocr", "pypdf", "ocr"]), "mrr").splitlines()
    assert "parser" not in one and "parser" in two[0].split()
    assert any(line.split()[:4] == ["2", "1", "b", "ocr"] for line in two)
    assert max(len(line) for line in two) <= TERMINAL_WIDTH


def test_the_terminal_table_prints_each_installed_plugin_metric(monkeypatch):
    from dream_assets.lib.evaluation import metric_catalog

    monkeypatch.setattr(metric_catalog, "plugin_metric_names", lambda: ["precision_at_k", "not_in_the_table"])
    lines = terminal_table(_board().assign(precision_at_k=[0.5, 0.25, 0.125, None]), "mrr").splitlines()
    header = lines[0].split()
    assert "precision_at_k" in header and "not_in_the_table" not in header
    assert any(line.split()[:3] == ["2", "1", "b"] and "0.250" in line.split() for line in lines)
    assert max(len(line) for line in lines) <= TERMINAL_WIDTH


def test_the_ranking_metric_is_the_one_the_tiers_were_made_on():
    assert ranking_metric(_board()) == "mrr"
    assert ranking_metric(_board().rename(columns={"mrr_p_holm": "f1_p_holm"})) == "f1"
    assert ranking_metric(_board().drop(columns="mrr_p_holm")) == "mrr"


def test_the_golden_summary_counts_sources_kinds_their_overlap_and_rejections():
    from dream_assets.cli.report import golden_summary

    questions = pd.DataFrame(
        {
            "golden_source": ["human", "synthetic", "synthetic", "synthetic"],
            "question_kind": [None, "single_hop", "paraphrased", "single_hop"],
            "lexical_overlap": [None, 0.9, 0.5, 0.7],
        }
    )
    failures = pd.DataFrame({"reason": ["paraphrase_too_literal", "malformed_response: 4 tries; X", "not_standalone"]})
    text = " ".join(golden_summary(questions, failures).split())
    assert text.startswith("golden set: 4 questions: 1 human; 3 synthetic (paraphrased 1, single_hop 2;")
    assert "lexical overlap paraphrased 0.50, single_hop 0.80)" in text
    assert text.endswith("3 synthetic items rejected: paraphrase_too_literal 1, malformed_response 1, not_standalone 1")
    assert all(len(line) <= 100 for line in golden_summary(questions, failures).splitlines())
