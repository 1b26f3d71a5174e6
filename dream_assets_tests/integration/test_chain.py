"""The DREAM chain on a slice of the demo corpus, through the real embedded resources: local
object store, local Ray (Tune trials in worker processes), MLflow on SQLite, bundled models."""

import shutil
from pathlib import Path

import dagster as dg
import pytest

from dream_assets import layout
from dream_assets.definitions import build_definitions, local_resources
from dream_assets.lib.evaluation import GROUND_TRUTH_METRICS, RAGAS_EMBEDDING_METRICS, RAGAS_JUDGE_METRICS
from dream_assets.lib.sweep import run_sweep
from dream_assets.partitions import CONFIGS_BY_KEY
from dream_assets_tests.chain import metadata as _metadata
from dream_assets_tests.chain import run_job as _run
from resources.tracking import TAG_GOLDEN_VERSION, TAG_KIND

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INDEX = "chunks256o32_minilm-l6"
CONFIGS = [f"{INDEX}_gemma-3-270m_k2", f"{INDEX}_gemma-3-270m_k4"]


# the whole chain, twice judged, then three sweeps, an Optuna search and a failing trial: about 11
# minutes on 2 idle cores, more beside other work
@pytest.mark.timeout(1800)
def test_chain_end_to_end_on_two_documents(tmp_path, pdf_folder, models_dir, ray_session, monkeypatch):
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
        [index_row] = _rows(_checks(index_run)["embedding_index_vectors"], "indexes")
        assert index_row["vectors"] == index_row["embedded"] == first_index["embedded_nodes"]
        assert (index_row["dimension"], index_row["problems"]) == (384, "")
        again = _metadata(_run(defs, instance, "index_job", [INDEX]), "embedding_index")
        assert again["embedded_nodes"] == 0  # same corpus, chunker and model: reused

        sweep_run = _run(defs, instance, "sweep_job", CONFIGS)
        sweep = _metadata(sweep_run, "trial_evaluations")
        assert (sweep["trials"], sweep["failed_trials"]) == (2, 0)
        assert {name: check.passed for name, check in _checks(sweep_run).items()} == {
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

        # the judge scores one question of both configurations (the bundled 0.5B: the fastest)
        judge = {
            "ops": {"judge_evaluations": {"config": {"judge_llm": "qwen2.5-coder-0.5b-instruct", "sample_size": 1}}}
        }
        leaderboard_run = _run(defs, instance, "leaderboard_job", run_config=judge)
        judged = _metadata(leaderboard_run, "judge_evaluations")
        assert judged["judged"] == 2 and set(judged["configurations"].split(", ")) == set(CONFIGS)
        assert all(coverage == 1.0 for coverage in judged["coverage"].values()), judged["coverage"]
        assert judged["calibration"]["this_run"]["faithfulness_auroc_n"] == 4  # 2 real, 2 swapped
        board = _metadata(leaderboard_run, "experiment_leaderboard")
        assert board["configurations"] == 2 and board["best"] in CONFIGS
        assert _checks(leaderboard_run)["leaderboard_ranks_every_configuration"].passed
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
        assert parent.data.tags["dream.judge_llm"] == "qwen2.5-coder-0.5b-instruct"
        assert all(r.data.metrics["faithfulness_n"] == 1 for r in trials)
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

        _optuna_draws_configurations_in_the_ranges(defs, instance, store, tracker, tmp_path, monkeypatch)

        # one failing trial is reported with its reason and does not stop the other
        good = _trial_settings(defs, store, version, CONFIGS[0], resources)
        missing = good.index.model_copy(update={"index_prefix": "embedding_index/missing"})
        bad = good.model_copy(update={"index": missing, "config": CONFIGS_BY_KEY[CONFIGS[1]]})
        outcomes = run_sweep([good, bad], str(tmp_path / "ray_results"), "failing", 2)
        assert outcomes[0].error is None and 0 <= outcomes[0].metrics["hit_rate"] <= 1
        assert "FileNotFoundError" in outcomes[1].error and "embedding_index/missing" in outcomes[1].error

        _llm_failures_are_retried_then_recorded_per_question(good, store, tmp_path)
        _repeats_answer_with_successive_seeds(good, store, tmp_path)
        _multi_fidelity_search_stops_weak_configurations_early(good, store, tmp_path)
        _a_lost_index_fails_the_checks_until_it_is_rebuilt(defs, instance, store, resources)


def _checks(result) -> dict:
    """The asset-check evaluations of a run, by check name."""
    return {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}


def _rows(evaluation, name: str) -> list[dict]:
    """The rows of a check's table metadata entry `name`."""
    return [record.data for record in evaluation.metadata[name].records]


def _a_lost_index_fails_the_checks_until_it_is_rebuilt(defs, instance, store, resources):
    """The index's files are lost from the object store and the node's scratch copy. Evaluated
    again, the trial fails, and the trial and leaderboard checks fail naming it; the index check,
    run alone, finds the index unreadable; the index job rebuilds it (its check passes), and the
    next sweep clears the trial check."""
    from dream_assets.defs.readers import current_index_pointer

    store.delete(current_index_pointer(store, INDEX)["prefix"])
    shutil.rmtree(Path(resources["ray_cluster"].scratch_dir) / "indexes")
    fresh = {"ops": {"trial_evaluations": {"config": {"resume": False}}}}
    failing = _checks(_run(defs, instance, "sweep_job", [CONFIGS[1]], run_config=fresh))
    assert not failing["trials_succeeded"].passed
    [failure] = _rows(failing["trials_succeeded"], "failures")
    assert failure["config_key"] == CONFIGS[1] and "FileNotFoundError" in failure["error"]
    board = _checks(_run(defs, instance, "leaderboard_job"))["leaderboard_ranks_every_configuration"]
    [problem] = _rows(board, "problems")  # the leaderboard still shows the earlier trial's results
    assert not board.passed and problem["config_key"] == CONFIGS[1]
    assert problem["problem"].startswith("stale: last trial failed: ") and "FileNotFoundError" in problem["problem"]

    index_check = dg.AssetSelection.checks_for_assets("embedding_index")
    alone = dg.Definitions.merge(defs, dg.Definitions(jobs=[dg.define_asset_job("index_checks", index_check)]))
    [lost] = _rows(_checks(_run(alone, instance, "index_checks"))["embedding_index_vectors"], "indexes")
    assert lost["index"] == INDEX and lost["problems"].startswith("unreadable: FileNotFoundError")
    rebuilt = _run(defs, instance, "index_job", [INDEX])
    assert _metadata(rebuilt, "embedding_index")["embedded_nodes"] > 0
    assert _checks(rebuilt)["embedding_index_vectors"].passed
    assert _checks(_run(defs, instance, "sweep_job", [CONFIGS[1]]))["trials_succeeded"].passed


def _repeats_answer_with_successive_seeds(good, store, tmp_path):
    """A sampling LLM (the stub answers by the request's seed) answers each question twice."""
    from dream_assets_tests.servers import start_openai_stub
    from resources.llm import LlmSettings

    stub = start_openai_stub(lambda body: (200, {0: "Rollo", 1: "the Normans"}[body["seed"]]))
    try:
        llm = LlmSettings(name="stub", provider="openai", model="stub", api_base=stub.url, temperature=0.7, seed=0)
        trial = good.model_copy(update={"llm": llm, "repeats": 2, "output_key": "scratch/repeats.parquet"})
        [outcome] = run_sweep([trial], str(tmp_path / "ray_results"), "repeats", 1)
    finally:
        stub.stop()
    assert outcome.error is None
    assert sorted(request["seed"] for request in stub.requests) == [0] * 4 + [1] * 4
    table = store.read_parquet("scratch/repeats.parquet")
    assert len(table) == 8 and table.groupby("question_id")["repeat"].apply(lambda r: sorted(r) == [0, 1]).all()
    assert set(table.loc[table["repeat"] == 1, "response"]) == {"the Normans"}
    assert (outcome.metrics["questions"], outcome.metrics["repeats"]) == (4, 2)
    assert outcome.metrics["f1_repeat_std"] >= 0 and outcome.metrics["mrr_repeat_std"] == 0  # same retrieval


def _multi_fidelity_search_stops_weak_configurations_early(good, store, tmp_path):
    """Six configurations (vector, BM25 and hybrid retrieval, top-1 and top-4) on the 4 golden
    questions by ASHA: rungs of 1, 2 and 4 questions, one trial at a time so that the order in
    which trials reach each rung, and so the decisions, are fixed."""
    from dream_assets.lib.splits import generation_sample
    from dream_assets.lib.sweep import multi_fidelity_scheduler, question_rungs

    rungs = question_rungs(4, min_questions=1, reduction_factor=2)
    assert rungs == [1, 2, 4]
    trials = []
    for retriever in ("vector", "bm25", "hybrid"):
        for top_k in (4, 1):
            config = good.config.model_copy(update={"retriever": retriever, "top_k": top_k})
            output = f"asha/{config.key}.parquet"
            trials.append(good.model_copy(update={"config": config, "rungs": rungs, "output_key": output}))
    scheduler = multi_fidelity_scheduler("mrr", rungs, 2)
    outcomes = run_sweep(trials, str(tmp_path / "ray_results"), "asha", 1, scheduler=scheduler)
    assert all(outcome.error is None for outcome in outcomes)
    evaluated = {o.config_key: int(o.metrics["generated_questions"]) for o in outcomes}
    assert set(evaluated.values()) <= set(rungs) and 4 in evaluated.values()
    assert min(evaluated.values()) < 4  # some configurations stopped early
    questions = store.read_parquet(f"{good.golden_prefix}/questions.parquet")
    order = generation_sample(questions, 0, seed=good.seed)["question_id"].tolist()
    for trial in trials:  # every trial retrieved every question and answered a prefix of one order
        table, key = store.read_parquet(trial.output_key), trial.config.key
        assert len(table) == 4 and table["retrieved_contexts"].map(len).eq(trial.config.top_k).all()
        assert set(table.loc[table["generated"], "question_id"]) == set(order[: evaluated[key]])
        assert table.loc[~table["generated"], "response"].eq("").all() and table["mrr"].notna().all()
    assert sum(evaluated.values()) < 4 * len(trials)  # fewer question evaluations than the grid


def _llm_failures_are_retried_then_recorded_per_question(good, store, tmp_path):
    """A real HTTP server speaking the OpenAI chat API answers the trial's 4 questions: the first
    with HTTP 429 once, the second with a garbage body once, the third with 429 every time, the
    fourth at once; the LLM has a client-side limit of 600 requests a minute and a price."""
    from dream_assets_tests.servers import start_openai_stub
    from resources.llm import LlmSettings

    questions = store.read_parquet(f"{good.golden_prefix}/questions.parquet")["user_input"].tolist()
    seen: dict[int, int] = {}

    def reply(body):
        [number] = [i for i, q in enumerate(questions) if q in body["messages"][-1]["content"]]
        seen[number] = seen.get(number, 0) + 1
        if (number == 0 and seen[number] == 1) or number == 2:
            return 429, "Rate limit reached for requests", {"Retry-After": "0"}
        if number == 1 and seen[number] == 1:
            return 200, b"<html>502 Bad Gateway</html>"
        return 200, "Rollo"

    stub = start_openai_stub(reply)
    try:
        llm = LlmSettings(
            name="stub-llm",
            provider="openai",
            model="stub-llm",
            api_base=stub.url,
            api_key="none",
            max_attempts=3,
            backoff_s=0.01,
            requests_per_minute=600,
            input_usd_per_mtok=1.0,
            output_usd_per_mtok=2.0,
        )
        trial = good.model_copy(update={"llm": llm, "output_key": "scratch/stub-llm.parquet"})
        [outcome] = run_sweep([trial], str(tmp_path / "ray_results"), "stub-llm", 1)
    finally:
        stub.stop()
    assert outcome.error is None
    assert seen == {0: 2, 1: 2, 2: 3, 3: 1}
    table = store.read_parquet("scratch/stub-llm.parquet")
    assert table["attempts"].tolist() == [2, 2, 3, 1]
    assert table["error_reason"].tolist() == ["", "", "rate_limited", ""]
    assert table["response"].tolist() == ["Rollo", "Rollo", "", "Rollo"]
    assert table.loc[2, "error"].startswith("rate_limited after 3 attempt(s): RateLimitError")
    metrics = outcome.metrics
    assert (metrics["errors"], metrics["errors_rate_limited"], metrics["llm_retries"]) == (1, 1, 4)
    assert metrics["f1_coverage"] == 0.75 and metrics["f1"] == metrics["f1"]  # scored 3 of 4, not NaN
    # the stub reports 10 prompt and 5 completion tokens per answer: 10 * $1 + 5 * $2 per million
    assert metrics["cost_usd"] == pytest.approx(3 * 20e-6)
    sent = sorted(request["received_at"] for request in stub.requests)
    # 600 a minute: booked 0.1 s apart, so 8 requests span at least 0.7 s less the first call's
    # set-up delay. Single gaps are not asserted: on a loaded machine a late send followed by an
    # on-time one arrives 0.05 s apart (measured beside a benchmark: median gap 0.082 s) while
    # the rate over the whole span still holds.
    assert len(sent) == 8 and sent[-1] - sent[0] >= 0.6


def _trial_settings(defs, store, version, key, resources):
    from dream_assets.defs.readers import current_index_pointer, index_spec
    from dream_assets.lib.trial import TrialSettings

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


def _optuna_draws_configurations_in_the_ranges(defs, instance, store, tracker, tmp_path, monkeypatch):
    """Optuna draws 3 configurations from ranges (chunk size 128 or 256, overlap, top-k 1 to 3,
    vector or BM25); drawn chunkers get their indexes built in the trials, once each."""
    import yaml

    from dream_assets.rag_config import DEFAULT_SEARCH_SPACE

    space = yaml.safe_load(DEFAULT_SEARCH_SPACE.read_text())
    space["ranges"] = {
        "methods": ["chunks"],
        "chunk_size": {"low": 128, "high": 256, "step": 128},
        "chunk_overlap": [16],
        "embedding_models": ["all-MiniLM-L6-v2"],
        "llms": ["gemma-3-270m"],
        "top_k": {"low": 1, "high": 3},
        "retrievers": ["vector", "bm25"],
        "samples": 3,
    }
    path = tmp_path / "search_space.yaml"
    path.write_text(yaml.safe_dump(space))
    monkeypatch.setenv("DREAM_SEARCH_SPACE", str(path))
    search = _metadata(_run(defs, instance, "range_search_job"), "range_search")
    monkeypatch.delenv("DREAM_SEARCH_SPACE")
    assert (search["draws"], search["failed"]) == (3, 0)
    version = store.read_json(layout.GOLDEN_POINTER)["version"]
    tables = [info.key for info in store.list(layout.range_search_prefix(version)) if info.key.endswith(".parquet")]
    keys = [key.rsplit("/", 1)[1].removesuffix(".parquet") for key in tables]
    assert len(keys) == search["distinct_configurations"] and search["best"] in keys
    chunkers = {key.split("_")[0] for key in keys}
    assert chunkers <= {"chunks128o16", "chunks256o16"}
    assert search["indexes_built"] <= len(chunkers)  # one build per drawn chunker, whoever draws it
    for key in keys:
        table = store.read_parquet(f"{layout.range_search_prefix(version)}/{key}.parquet")
        top_k = int(key.split("_k")[1].split("_")[0])
        assert 1 <= top_k <= 3 and table["retrieved_contexts"].map(len).eq(top_k).all() and len(table) == 4
    runs = tracker.client().search_runs([tracker.experiment_id()], "tags.`dream.kind` = 'range_trial'")
    assert {run.data.tags["dream.config_key"] for run in runs} == set(keys)
