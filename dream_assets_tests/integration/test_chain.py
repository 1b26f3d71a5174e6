"""The DREAM chain on a slice of the demo corpus, through the real embedded resources: local
object store, local Ray (Tune trials in worker processes), MLflow on SQLite, bundled models."""

import dagster as dg
import pytest

from dream_assets import layout
from dream_assets.definitions import build_definitions, local_resources
from dream_assets.lib.evaluation import GROUND_TRUTH_METRICS, RAGAS_EMBEDDING_METRICS
from dream_assets.lib.sweep import run_sweep
from dream_assets.partitions import CONFIGS_BY_KEY
from dream_assets_tests.chain import metadata as _metadata
from dream_assets_tests.chain import run_job as _run
from resources.tracking import TAG_GOLDEN_VERSION, TAG_KIND

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INDEX = "chunks256o32_minilm-l6"
CONFIGS = [f"{INDEX}_gemma-3-270m_k2", f"{INDEX}_gemma-3-270m_k4"]


def test_chain_end_to_end_on_two_documents(tmp_path, pdf_folder, models_dir, ray_session):
    resources = local_resources(tmp_path / "state", str(pdf_folder))
    resources["embeddings"] = resources["embeddings"].model_copy(update={"models_dir": str(models_dir)})
    resources["llms"] = resources["llms"].model_copy(update={"models_dir": str(models_dir)})
    defs = build_definitions(resources)
    store = resources["object_store"].client()
    tracker = resources["tracker"]
    with dg.instance_for_test() as instance:
        documents = sorted(resources["pdf_source"].list_pdfs())
        assert documents == ["1973-oil-crisis", "broken", "normans"]
        partitions = [*documents, "ghost"]  # "ghost" was discovered once, then left the source
        instance.add_dynamic_partitions("documents", partitions)

        ingest = _run(defs, instance, "ingest_job", partitions)
        assert _metadata(ingest, "source_pdfs")["missing_from_source"] == ["ghost"]
        parsed = _metadata(ingest, "parsed_documents")
        assert (parsed["parsed"], parsed["quarantined"]) == (2, 2)
        assert parsed["quarantine_reasons"]["broken"].startswith("not_a_pdf")
        assert parsed["quarantine_reasons"]["ghost"].startswith("missing")
        assert store.read_json(layout.quarantine_key("broken"))["reason"] == "not_a_pdf"

        golden_run = _run(
            defs,
            instance,
            "golden_job",
            run_config={"ops": {"golden_dataset": {"config": {"questions_per_document": 2}}}},
        )
        golden = _metadata(golden_run, "golden_dataset")
        assert golden["questions"] == 4 and golden["documents"] == 2
        checks = golden_run.get_asset_check_evaluations()
        assert len(checks) == 4 and all(check.passed for check in checks)
        version = golden["version"]

        first_index = _metadata(_run(defs, instance, "index_job", [INDEX]), "embedding_index")
        assert first_index["embedded_nodes"] > 0
        again = _metadata(_run(defs, instance, "index_job", [INDEX]), "embedding_index")
        assert again["embedded_nodes"] == 0  # same corpus, chunker and model: reused

        sweep = _metadata(_run(defs, instance, "sweep_job", CONFIGS), "trial_evaluations")
        assert (sweep["trials"], sweep["failed_trials"]) == (2, 0)
        for key in CONFIGS:
            table = store.read_parquet(layout.trial_key(version, key))
            assert len(table) == 4
            assert (table["error"] == "").all()
            for metric in GROUND_TRUTH_METRICS + RAGAS_EMBEDDING_METRICS:
                assert table[metric].between(0, 1).all(), metric
            assert table["retrieved_contexts"].map(len).eq(CONFIGS_BY_KEY[key].top_k).all()
            assert (table["prompt_tokens"] > 0).all()

        board = _metadata(_run(defs, instance, "leaderboard_job"), "experiment_leaderboard")
        assert board["configurations"] == 2 and board["best"] in CONFIGS
        table = store.read_parquet(f"{layout.leaderboard_prefix(version)}/leaderboard.parquet")
        assert table["rank"].tolist() == [1, 2] and table["mrr"].is_monotonic_decreasing
        assert ((table["mrr_ci95_low"] <= table["mrr"]) & (table["mrr"] <= table["mrr_ci95_high"])).all()
        assert table.loc[0, "mrr_p_vs_best"] == 1.0 and 0 < table.loc[1, "mrr_p_vs_best"] <= 1
        assert store.exists(f"{layout.leaderboard_prefix(version)}/leaderboard.html")
        assert store.exists(f"{layout.leaderboard_prefix(version)}/leaderboard.png") and "plot" in board

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

        # a second sweep over the same configurations and golden set, its retrievals served by a
        # pool of 2 Ray retrieval actors, updates the same runs and asks the LLM nothing: every
        # prompt (question + retrieved contexts) is the first sweep's, so every answer is cached
        pooled = {"ops": {"trial_evaluations": {"config": {"retrieval_actors": 2}}}}
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

        # one failing trial is reported with its reason and does not stop the other
        good = _trial_settings(defs, store, version, CONFIGS[0], resources)
        missing = good.index.model_copy(update={"index_prefix": "embedding_index/missing"})
        bad = good.model_copy(update={"index": missing, "config": CONFIGS_BY_KEY[CONFIGS[1]]})
        outcomes = run_sweep([good, bad], str(tmp_path / "ray_results"), "failing", 2)
        assert outcomes[0].error is None and 0 <= outcomes[0].metrics["hit_rate"] <= 1
        assert "FileNotFoundError" in outcomes[1].error and "embedding_index/missing" in outcomes[1].error


def _trial_settings(defs, store, version, key, resources):
    from dream_assets.defs.indexing.assets import current_index_pointer, index_spec
    from dream_assets.lib.sweep import TrialSettings

    rag = CONFIGS_BY_KEY[key]
    spec = index_spec(
        rag.index_key,
        current_index_pointer(store, rag.index_key),
        resources["object_store"],
        resources["embeddings"],
        resources["vector_store"],
        resources["ray_cluster"].scratch_dir,
    )
    return TrialSettings(
        config=rag,
        object_store=resources["object_store"].settings(),
        index=spec,
        golden_prefix=layout.golden_prefix(version),
        output_key=f"scratch/{key}.parquet",
        llm=resources["llms"].settings_for(rag.llm),
    )
