"""The DREAM chain on a slice of the demo corpus, through the real embedded resources: local
object store, local Ray (Tune trials in worker processes), MLflow on SQLite, bundled models."""

import logging

import dagster as dg
import pytest

from dream_assets import layout
from dream_assets.cli.report import print_leaderboard
from dream_assets.definitions import build_definitions
from dream_assets.deployments import local_resources
from dream_assets.lib.evaluation.sweep import SweepSettings, run_sweep
from dream_assets.lib.evaluation.tiers import GROUND_TRUTH_METRICS, RAGAS_EMBEDDING_METRICS, RAGAS_JUDGE_METRICS
from dream_assets.lib.tracking.mlflow_client import TAG_GOLDEN_VERSION, TAG_KIND
from dream_assets_tests.chain import metadata as _metadata
from dream_assets_tests.chain import run_job as _run
from dream_assets_tests.chain_scenarios import (
    CONFIGS,
    CONFIGS_BY_KEY,
    INDEX,
    a_lost_index_fails_the_checks_until_it_is_rebuilt,
    a_trial_past_its_time_budget_stops_and_resumes,
    check_results,
    llm_failures_are_retried_then_recorded_per_question,
    multi_fidelity_search_stops_weak_configurations_early,
    optuna_draws_configurations_in_the_ranges,
    repeats_answer_with_successive_seeds,
    table_rows,
    trial_settings,
)
from dream_assets_tests.servers import start_schema_llm
from resources.llm import LlmProvider

pytestmark = [pytest.mark.integration, pytest.mark.slow]
JUDGE = "schema-judge"


@pytest.fixture
def judge_endpoint():
    """An OpenAI-compatible judge over real HTTP that keeps to ragas' response models (the
    bundled judges' own scoring is `test_judge.py`'s): the chain's judge stage, its calibration,
    tracking and response cache, without minutes of a local model."""
    stub = start_schema_llm()
    yield stub
    stub.stop()


# the whole chain, twice judged, then three sweeps, an Optuna search and a failing trial: about 6
# minutes on 2 idle cores, more beside other work
@pytest.mark.timeout(1800)
def test_chain_end_to_end_on_two_documents(tmp_path, pdf_folder, models_dir, ray_session, judge_endpoint, caplog):
    resources = local_resources(tmp_path / "state", str(pdf_folder))
    resources["embeddings"] = resources["embeddings"].model_copy(update={"models_dir": str(models_dir)})
    # bundled LLMs answer; any other name (the judge) is the endpoint's (a new resource, not
    # `model_copy`: Dagster resources keep their construction arguments)
    resources["llms"] = LlmProvider(models_dir=str(models_dir), api_base=judge_endpoint.url)
    defs = build_definitions(resources)
    store = resources["object_store"].client()
    tracker = resources["tracker"]
    with dg.instance_for_test() as instance:
        documents = sorted(resources["document_source"].list_documents())
        assert documents == ["1973-oil-crisis", "broken", "normans"]
        partitions = [*documents, "ghost"]  # "ghost" was discovered once, then left the source
        instance.add_dynamic_partitions("documents", partitions)

        ingest = _run(defs, instance, "ingest_job", partitions)
        assert _metadata(ingest, "source_documents")["missing_from_source"] == ["ghost"]
        parsed = _metadata(ingest, "parsed_documents")
        assert (parsed["parsed"], parsed["quarantined"]) == (2, 2)
        assert parsed["quarantine_reasons"]["broken"].startswith("not_a_pdf")
        assert parsed["quarantine_reasons"]["ghost"].startswith("missing")
        assert store.read_json(layout.quarantine_key("broken"))["reason"] == "not_a_pdf"

        golden_run = _run(
            defs,
            instance,
            "golden_job",
            run_config={"ops": {"golden_dataset": {"config": {"questions_per_document": 2, "held_out_fraction": 0}}}},
        )
        golden = _metadata(golden_run, "golden_dataset")
        assert golden["questions"] == 4 and golden["documents"] == 2
        checks = golden_run.get_asset_check_evaluations()
        assert len(checks) == 4 and all(check.passed for check in checks)
        version = golden["version"]

        index_run = _run(defs, instance, "index_job", [INDEX])
        first_index = _metadata(index_run, "embedding_index")
        assert first_index["embedded_nodes"] > 0
        [index_row] = table_rows(check_results(index_run)["embedding_index_vectors"], "indexes")
        assert index_row["vectors"] == index_row["embedded"] == first_index["embedded_nodes"]
        assert (index_row["dimension"], index_row["problems"]) == (384, "")
        again = _metadata(_run(defs, instance, "index_job", [INDEX]), "embedding_index")
        assert again["embedded_nodes"] == 0  # same corpus, chunker and model: reused

        sweep_run = _run(defs, instance, "sweep_job", CONFIGS)
        sweep = _metadata(sweep_run, "trial_evaluations")
        assert (sweep["trials"], sweep["failed_trials"]) == (2, 0)
        assert {name: check.passed for name, check in check_results(sweep_run).items()} == {
            "trials_succeeded": True,
            "metrics_cover_the_questions": True,
        }
        assert sorted(record.data["config_key"] for record in sweep["results"].records) == sorted(CONFIGS)
        for key in CONFIGS:
            table = store.read_parquet(layout.trial_key(version, key))
            assert len(table) == 4
            assert (table["error"] == "").all()
            for metric in GROUND_TRUTH_METRICS + RAGAS_EMBEDDING_METRICS:
                assert table[metric].between(0, 1).all(), metric
            assert table["retrieved_contexts"].map(len).eq(CONFIGS_BY_KEY[key].top_k).all()
            assert (table["prompt_tokens"] > 0).all()

        # the judge scores one question of both configurations
        judge = {"ops": {"judge_evaluations": {"config": {"judge_llm": JUDGE, "sample_size": 1}}}}
        leaderboard_run = _run(defs, instance, "leaderboard_job", run_config=judge)
        judged = _metadata(leaderboard_run, "judge_evaluations")
        assert judged["judged"] == 2 and set(judged["configurations"].split(", ")) == set(CONFIGS)
        assert all(coverage == 1.0 for coverage in judged["coverage"].values()), judged["coverage"]
        assert judged["calibration"]["this_run"]["faithfulness_auroc_n"] == 4  # 2 real, 2 swapped
        board = _metadata(leaderboard_run, "experiment_leaderboard")
        assert board["configurations"] == 2 and board["best"] in CONFIGS
        assert check_results(leaderboard_run)["leaderboard_ranks_every_configuration"].passed
        # typed metadata: the leaderboard as a table with its schema, and Dagster's row count
        assert board["dagster/row_count"] == 2
        assert {"rank", "mrr", "mrr_ci95_low", "tier"} <= {c.name for c in board["dagster/column_schema"].columns}
        mrr = next(c for c in board["leaderboard"].schema.columns if c.name == "mrr")
        assert mrr.type == "float" and "reciprocal rank" in mrr.description
        best = _metadata(leaderboard_run, "best_rag_configuration")
        assert best["config_key"] == board["best"] and best["model_uri"] == "models:/dream/1"
        assert f"golden_version: {version}" in best["configuration"]
        table = store.read_parquet(f"{layout.leaderboard_prefix(version)}/leaderboard.parquet")
        assert table["rank"].tolist() == [1, 2] and table["mrr"].is_monotonic_decreasing
        assert [record.data["config_key"] for record in board["leaderboard"].records] == table["config_key"].tolist()
        assert ((table["mrr_ci95_low"] <= table["mrr"]) & (table["mrr"] <= table["mrr_ci95_high"])).all()
        assert table.loc[0, "mrr_p_vs_best"] == 1.0 and 0 < table.loc[1, "mrr_p_vs_best"] <= 1
        assert store.exists(f"{layout.leaderboard_prefix(version)}/leaderboard.html")
        assert store.exists(f"{layout.leaderboard_prefix(version)}/leaderboard.png") and "plot" in board
        for metric in RAGAS_JUDGE_METRICS:  # the six DREAM metrics, judged on the same question
            assert table[metric].between(0, 1).all() and (table[f"{metric}_n"] == 1).all(), metric
        assert "judge_calibration" in board and "judged" in board

        client = tracker.client()
        runs = client.search_runs([tracker.experiment_id()])
        assert len(runs) == 3
        [parent] = [r for r in runs if r.data.tags[TAG_KIND] == "sweep"]
        trials = [r for r in runs if r.data.tags[TAG_KIND] == "trial"]
        assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in trials)
        assert all(r.data.tags[TAG_GOLDEN_VERSION] == version for r in runs)
        assert all(r.inputs.dataset_inputs[0].dataset.digest == version for r in runs)
        assert {r.data.params["top_k"] for r in trials} == {"2", "4"}
        assert all(0 <= r.data.metrics["hit_rate"] <= 1 for r in trials)
        assert parent.info.status == "FINISHED"
        assert parent.data.metrics["judge_calibration/faithfulness_auroc_n"] == 4
        assert parent.data.tags["dream.judge_llm"] == JUDGE
        assert all(r.data.metrics["faithfulness_n"] == 1 for r in trials)
        # the terminal's leaderboard shows the judge's scores and its calibration
        with caplog.at_level(logging.INFO, logger="dream"):
            print_leaderboard(store, "")
        printed = " ".join(caplog.text.split())  # wrapped at 100 columns
        assert f"Judged by {JUDGE}" in printed and "faithfulness AUROC real vs swapped contexts" in printed
        # the winner's model is logged on its trial run; the same winner again (judged again, from
        # the judge's response cache) registers nothing
        again_run = _run(defs, instance, "leaderboard_job", run_config=judge)
        assert _metadata(again_run, "judge_evaluations")["llm_calls"] == 0
        again = _metadata(again_run, "best_rag_configuration")
        assert again["model_uri"] == "models:/dream/1"
        [version_info] = client.search_model_versions("name = 'dream'")
        assert client.get_run(version_info.run_id).data.tags["dream.config_key"] == board["best"]

        # a second sweep over the same configurations and golden set, evaluated again (not
        # resumed), its retrievals served by a pool of 2 Ray retrieval actors, updates the same
        # runs and asks the LLM nothing: every prompt (question + retrieved contexts) is the
        # first sweep's, so every answer is cached
        pooled = {"ops": {"trial_evaluations": {"config": {"retrieval_actors": 2, "resume": False}}}}
        second = _metadata(_run(defs, instance, "sweep_job", CONFIGS, run_config=pooled), "trial_evaluations")
        [(pool, health)] = second["retrieval_pools"].items()
        assert pool.startswith(f"retrieval-{INDEX}-") and len(health) == 2
        assert sum(actor["queries"] for actor in health) == 2 * 4  # 2 trials x 4 questions
        assert len(client.search_runs([tracker.experiment_id()])) == 3
        for key in CONFIGS:
            assert store.read_parquet(layout.trial_key(version, key))["cached"].all()
        assert {
            r.data.metrics["llm_calls"]
            for r in client.search_runs([tracker.experiment_id()], "tags.`dream.kind` = 'trial'")
        } == {0.0}
        # a third, resumed (the default), finds both trials finished with the same settings
        third = _metadata(_run(defs, instance, "sweep_job", CONFIGS), "trial_evaluations")
        assert (third["skipped_trials"], third["resumed_questions"], third["failed_trials"]) == (2, 0, 0)
        assert len(client.search_runs([tracker.experiment_id()])) == 3

        optuna_draws_configurations_in_the_ranges(resources, instance, store, tracker, tmp_path)

        # one failing trial is reported with its reason and does not stop the other
        good = trial_settings(defs, store, version, CONFIGS[0], resources)
        missing = good.index.model_copy(update={"index_prefix": "embedding_index/missing"})
        bad = good.model_copy(update={"index": missing, "config": CONFIGS_BY_KEY[CONFIGS[1]]})
        outcomes = run_sweep([good, bad], SweepSettings(str(tmp_path / "ray_results"), "failing", 2))
        assert outcomes[0].error is None and 0 <= outcomes[0].metrics["hit_rate"] <= 1
        assert "FileNotFoundError" in outcomes[1].error and "embedding_index/missing" in outcomes[1].error

        llm_failures_are_retried_then_recorded_per_question(good, store, tmp_path)
        a_trial_past_its_time_budget_stops_and_resumes(good, store, tmp_path)
        repeats_answer_with_successive_seeds(good, store, tmp_path)
        multi_fidelity_search_stops_weak_configurations_early(good, store, tmp_path)
        a_lost_index_fails_the_checks_until_it_is_rebuilt(defs, instance, store, resources)
