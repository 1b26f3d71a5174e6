"""Evidence that separates configurations, on two real demo articles and every one of their
answerable SQuAD questions: retrieval scored on every question while the LLM answers only the
sample, the question set embedded once per model, the winner picked on the selection split with
its held-out score reported, and Holm-corrected tiers."""

import dagster as dg
import pandas as pd
import pytest

from dream_assets import layout
from dream_assets.definitions import build_definitions
from dream_assets.defs.evaluation.trials import trial_rows
from dream_assets.deployments import local_resources
from dream_assets.lib.evaluation.leaderboard import add_evidence
from dream_assets.lib.evaluation.trial_settings import FINGERPRINT_ATTR
from dream_assets.lib.golden.splits import HELD_OUT, SELECTION
from dream_assets.search_space import load_search_space
from dream_assets_tests.chain import metadata, run_job

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INDEX = "chunks256o32_minilm-l6"
CONFIGS = [f"{INDEX}_gemma-3-270m_k2", f"{INDEX}_gemma-3-270m_k4"]
SAMPLE = 6
CONFIGS_BY_KEY = load_search_space().configs_by_key


def test_two_tiers_a_held_out_verdict_and_corrected_tiers(tmp_path, models_dir, ray_session):
    from dream_assets_tests.conftest import DEMO_PDFS

    folder = tmp_path / "pdfs"
    folder.mkdir()
    for name in ("Normans.pdf", "1973_oil_crisis.pdf"):
        (folder / name).write_bytes((DEMO_PDFS / name).read_bytes())
    resources = local_resources(tmp_path / "state", str(folder))
    resources["embeddings"] = resources["embeddings"].model_copy(update={"models_dir": str(models_dir)})
    resources["llms"] = resources["llms"].model_copy(update={"models_dir": str(models_dir)})
    defs = build_definitions(resources)
    store = resources["object_store"].client()
    with dg.instance_for_test() as instance:
        documents = ["1973-oil-crisis", "normans"]
        instance.add_dynamic_partitions("documents", documents)
        run_job(defs, instance, "ingest_job", documents)
        golden_config = {"questions_per_document": 0, "held_out_fraction": 0.3}
        golden = metadata(
            run_job(defs, instance, "golden_job", run_config={"ops": {"golden_dataset": {"config": golden_config}}}),
            "golden_dataset",
        )
        version = golden["version"]
        questions = store.read_parquet(f"{layout.golden_prefix(version)}/questions.parquet")
        assert len(questions) == golden["questions"] > 150  # every answerable question of both articles
        assert golden["held_out_questions"] == (questions["split"] == HELD_OUT).sum() > 0
        assert questions.groupby("document_id")["split"].nunique().eq(2).all()  # stratified by document
        run_job(defs, instance, "index_job", [INDEX])

        sweep_config = {"ops": {"trial_evaluations": {"config": {"generation_sample_size": SAMPLE}}}}
        sweep = metadata(run_job(defs, instance, "sweep_job", CONFIGS, run_config=sweep_config), "trial_evaluations")
        # one embedding pass over the question set for the one model, none inside the trials
        assert sweep["question_embedding_passes"] == {"all-MiniLM-L6-v2": len(questions)}
        tables = {}
        for key in CONFIGS:
            table = store.read_parquet(layout.trial_key(version, key))
            tables[key] = table
            assert len(table) == len(questions) and table["mrr"].notna().all() and table["ndcg"].notna().all()
            assert table["id_based_context_recall"].notna().all()
            assert table["generated"].sum() == SAMPLE  # the LLM answered the sample only
            assert (
                table.loc[table["generated"], "f1"].notna().all() and table.loc[~table["generated"], "f1"].isna().all()
            )
            assert table.loc[~table["generated"], "prompt_tokens"].eq(0).all()
            done = store.read_json(layout.trial_key(version, key).replace(".parquet", ".done.json"))
            assert done["metrics"]["query_texts_embedded"] == 0
        answered = [set(t.loc[t["generated"], "question_id"]) for t in tables.values()]
        assert answered[0] == answered[1]  # the same sample for every configuration: paired
        again = {"ops": {"trial_evaluations": {"config": {"generation_sample_size": SAMPLE, "resume": False}}}}
        rerun = metadata(run_job(defs, instance, "sweep_job", CONFIGS, run_config=again), "trial_evaluations")
        assert rerun["question_embedding_passes"] == {"all-MiniLM-L6-v2": 0}  # stored, reused

        board = metadata(run_job(defs, instance, "leaderboard_job"), "experiment_leaderboard")
        leaderboard = store.read_parquet(f"{layout.leaderboard_prefix(version)}/leaderboard.parquet")
        selection_mrr = {k: t.loc[t["split"] == SELECTION, "mrr"].mean() for k, t in tables.items()}
        assert leaderboard.loc[0, "config_key"] == max(selection_mrr, key=selection_mrr.get) == board["best"]
        for _, row in leaderboard.iterrows():
            table = tables[row["config_key"]]
            selection, held = table[table["split"] == SELECTION], table[table["split"] == HELD_OUT]
            assert row["mrr"] == pytest.approx(selection["mrr"].mean())
            assert row["mrr_n"] == len(selection)  # n per metric = the rows behind it
            assert row["f1_n"] == selection.loc[selection["generated"], "f1"].notna().sum()
            assert row["held_out/mrr"] == pytest.approx(held["mrr"].mean())
            assert row["held_out/mrr_n"] == len(held)
        best = leaderboard.iloc[0]
        assert best["held_out/mrr_ci95_low"] <= best["held_out/mrr"] <= best["held_out/mrr_ci95_high"]
        assert f"held-out mrr {best['held_out/mrr']:.3f}" in board["verdict"] and best["tier"] == 1

        # tiers: a copy of the best configuration is in its tier; made worse on purpose, it is not
        winner = leaderboard.loc[0, "config_key"]
        twin = tables[winner].copy()
        with_twin = {**tables, "twin": twin}
        rows = pd.concat([leaderboard[["config_key", "status", "mrr"]], pd.DataFrame([{"config_key": "twin"}])])
        rows = rows.assign(status="ok").reset_index(drop=True)
        tiers = add_evidence(rows, with_twin, "mrr").set_index("config_key")["tier"]
        assert tiers["twin"] == 1
        worse = twin.assign(mrr=twin["mrr"].where(twin.index % 2 == 1, 0.0))  # every other question missed
        tiers = add_evidence(rows, {**tables, "twin": worse}, "mrr").set_index("config_key")["tier"]
        assert tiers["twin"] > 1

        # a table left by a killed run with other settings (stamped with another fingerprint, as
        # a run with another sample size leaves it after its first rung) is not ranked; run again,
        # the sweep evaluates that configuration again and skips the other
        loser = leaderboard.loc[1, "config_key"]
        stale = tables[loser].head(3).copy()
        stale.attrs[FINGERPRINT_ATTR] = "0" * 16
        store.write_parquet(layout.trial_key(version, loser), stale)
        board = metadata(run_job(defs, instance, "leaderboard_job"), "experiment_leaderboard")
        leaderboard = store.read_parquet(f"{layout.leaderboard_prefix(version)}/leaderboard.parquet")
        row = leaderboard.set_index("config_key").loc[loser]
        assert row["status"] == "stale" and pd.isna(row["mrr"]) and pd.isna(row["tier"])
        assert "0000000000000000" in row["error"] and board["best"] == winner
        resumed = metadata(run_job(defs, instance, "sweep_job", CONFIGS, run_config=sweep_config), "trial_evaluations")
        assert resumed["skipped_trials"] == 1
        assert len(store.read_parquet(layout.trial_key(version, loser))) == len(questions)
        rows, ranked = trial_rows(store, version, {key: CONFIGS_BY_KEY[key] for key in CONFIGS})
        assert [row["status"] for row in rows] == ["ok", "ok"] and sorted(ranked) == sorted(CONFIGS)
