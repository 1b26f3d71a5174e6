"""The experimentation layer on the demo corpus (first 6 PDFs, 3 SQuAD questions each, the 12
configurations of `config/search_space.yaml`), through the Dagster jobs and the embedded defaults:

1. reuse: embedding work for the 12-configuration sweep against the distinct (chunker,
   embedder) pairs, then the same indexes and sweep run again: wall time, nodes embedded, LLM
   calls (goal: zero);
2. multi-fidelity (`search: asha`) against the full grid, each from a cold LLM cache: question
   evaluations (one LLM answer each), wall time, and whether the same configuration wins (or
   lies within the grid winner's 95% interval);
3. resume: a grid sweep in a child process killed with SIGKILL at about half its question
   evaluations, then run again: questions evaluated twice (goal: none), MLflow runs.

Usage: python benchmarks/bench_sweep.py [--documents N] [--questions-per-document N]
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
PDFS = ROOT / "data" / "demo" / "squad" / "pdfs"
RANGE = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _defs(home: Path):
    from dream_assets.definitions import build_definitions
    from dream_assets.deployments import local_resources

    return build_definitions(local_resources(home, str(PDFS)))


def _run(defs, instance, job: str, keys: list[str] | None = None, config: dict | None = None) -> dict:
    """Runs `job` over keys[0]..keys[-1]; returns {asset: metadata of its first materialisation}."""
    tags = dict(zip(RANGE, (keys[0], keys[-1]), strict=True)) if keys else {}
    run_config = {**QUIET, **(config or {})}
    result = defs.resolve_job_def(job).execute_in_process(instance=instance, tags=tags, run_config=run_config)
    found: dict = {}
    for event in result.get_asset_materialization_events():
        name = event.asset_key.to_user_string()
        found.setdefault(name, {k: v.value for k, v in event.materialization.metadata.items()})
    return found


def _sweep_config(**config) -> dict:
    return {"ops": {"trial_evaluations": {"config": config}}}


def _trial_metrics(store, version: str, keys: list[str]) -> dict[str, dict]:
    """Metrics of each finished trial (its done record), by configuration."""
    from dream_assets import layout

    records = {}
    for key in keys:
        done = layout.trial_key(version, key).removesuffix(".parquet") + ".done.json"
        if store.exists(done):
            records[key] = store.read_json(done)["metrics"]
    return records


def _copy_state(source: Path, target: Path) -> None:
    """A copy of the prepared state (parsed corpus, golden set, indexes), without trial results,
    leaderboards, MLflow runs, Ray results or cached LLM answers."""
    shutil.copytree(source / "object_store", target / "object_store")
    for name in ("trial_evaluations", "experiment_leaderboard"):
        shutil.rmtree(target / "object_store" / name, ignore_errors=True)


def child(home: str) -> None:
    """The killed side of the resume benchmark: a grid sweep of every configuration."""
    import dagster as dg

    from dream_assets.partitions import sweep_partitions
    from dream_assets.search_space import load_search_space

    rag_config_partitions = sweep_partitions(load_search_space()).rag_configs

    with dg.instance_for_test() as instance:
        _run(_defs(Path(home)), instance, "sweep_job", rag_config_partitions.get_partition_keys())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=6)
    parser.add_argument("--questions-per-document", type=int, default=3)
    parser.add_argument("--min-questions", type=int, default=4, help="ASHA's first rung")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return

    import dagster as dg

    from dream_assets import layout
    from dream_assets.partitions import sweep_partitions
    from dream_assets.search_space import load_search_space

    space = load_search_space()
    partitions = sweep_partitions(space)
    SEARCH_SPACE_CONFIGS = space.configs()  # noqa: N806

    base = Path(tempfile.mkdtemp(prefix="dream-bench-sweep-"))
    configs = partitions.rag_configs.get_partition_keys()
    indexes = partitions.embedding_indexes.get_partition_keys()
    home = base / "grid"
    defs = _defs(home)
    store = defs.resources["object_store"].client()
    documents = sorted(defs.resources["document_source"].list_documents())[: args.documents]
    golden_config = {"ops": {"golden_dataset": {"config": {"questions_per_document": args.questions_per_document}}}}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("documents", documents)
        _run(defs, instance, "ingest_job", documents)
        golden = _run(defs, instance, "golden_job", config=golden_config)["golden_dataset"]
        version, questions = golden["version"], golden["questions"]
        sizes = f"{len(configs)} configurations, {len(indexes)} indexes"
        print(f"{len(documents)} documents, {questions} questions, {sizes}")

        # 1. reuse
        start = time.perf_counter()
        built = {key: _run(defs, instance, "index_job", [key])["embedding_index"] for key in indexes}
        index_seconds = time.perf_counter() - start
        embedded = sum(meta["embedded_nodes"] for meta in built.values())
        pairs = {(c.retrieval, c.embedding_model) for c in SEARCH_SPACE_CONFIGS}
        per_trial = sum(built[c.index_key]["embedded_nodes"] for c in SEARCH_SPACE_CONFIGS)
        print(f"\n1. reuse: {len(pairs)} distinct (chunker, embedder) pairs for {len(configs)} configurations")
        print(f"   first build: {embedded} nodes embedded in {index_seconds:.0f} s (one index per pair);"
              f" an index per trial would embed {per_trial}")  # fmt: skip
        start = time.perf_counter()
        sweep = _run(defs, instance, "sweep_job", configs)["trial_evaluations"]
        grid_seconds = time.perf_counter() - start
        grid = _trial_metrics(store, version, configs)
        board = _run(defs, instance, "leaderboard_job")["experiment_leaderboard"]
        table = store.read_parquet(f"{layout.leaderboard_prefix(version)}/leaderboard.parquet").set_index("config_key")
        grid_calls = sum(m["llm_calls"] for m in grid.values())
        hits = sum(m["llm_cache_hits"] for m in grid.values())
        print(f"   grid sweep: {grid_seconds:.0f} s, {sweep['questions_evaluated']} question evaluations,"
              f" {grid_calls:.0f} LLM calls, {hits:.0f} cache hits")  # fmt: skip
        start = time.perf_counter()
        again = [_run(defs, instance, "index_job", [key])["embedding_index"]["embedded_nodes"] for key in indexes]
        resweep = _run(defs, instance, "sweep_job", configs)["trial_evaluations"]
        rerun_seconds = time.perf_counter() - start
        print(f"   second run (indexes + sweep): {rerun_seconds:.0f} s, {sum(again)} nodes embedded,"
              f" {resweep['skipped_trials']} of {len(configs)} trials skipped (finished with the same"
              f" fingerprint), 0 LLM calls")  # fmt: skip

    # 2. multi-fidelity against the grid, cold LLM cache
    asha_home = base / "asha"
    _copy_state(home, asha_home)
    asha_defs = _defs(asha_home)
    with dg.instance_for_test() as instance:
        start = time.perf_counter()
        config = _sweep_config(search="asha", min_questions=args.min_questions, reduction_factor=2)
        asha = _run(asha_defs, instance, "sweep_job", configs, config)["trial_evaluations"]
        asha_seconds = time.perf_counter() - start
        _run(asha_defs, instance, "leaderboard_job")
    asha_store = asha_defs.resources["object_store"].client()
    asha_table = asha_store.read_parquet(f"{layout.leaderboard_prefix(version)}/leaderboard.parquet")
    asha_metrics = {
        key: asha_store.read_parquet(layout.trial_key(version, key)) for key in configs
        if asha_store.exists(layout.trial_key(version, key))
    }  # fmt: skip
    asha_calls = sum(
        int((t["generated"] & (t["error"] == "")).sum() - t["cached"].sum()) for t in asha_metrics.values()
    )
    winner, asha_winner = board["best"], str(asha_table.iloc[0]["config_key"])
    low, high = table.loc[winner, "mrr_ci95_low"], table.loc[winner, "mrr_ci95_high"]
    asha_mrr = table.loc[asha_winner, "mrr"]
    verdict = "same" if winner == asha_winner else "within the CI" if low <= asha_mrr <= high else "outside the CI"
    print(f"\n2. multi-fidelity (ASHA, rungs from {args.min_questions} questions, x2) vs grid:")
    print(f"   grid: {grid_seconds:.0f} s, {len(configs) * questions} question evaluations, {grid_calls:.0f} LLM calls")
    print(f"   ASHA: {asha_seconds:.0f} s, {asha['questions_answered']} question evaluations, {asha_calls} LLM calls,"
          f" {asha['stopped_early']} configurations stopped early")  # fmt: skip
    print(f"   grid winner {winner} (MRR {table.loc[winner, 'mrr']:.3f}, 95% CI [{low:.3f}, {high:.3f}]);")
    print(f"   ASHA winner {asha_winner} (grid MRR {asha_mrr:.3f}): {verdict}")

    # 3. resume after SIGKILL at about half way
    resume_home = base / "resume"
    _copy_state(home, resume_home)
    resume_defs = _defs(resume_home)
    resume_store = resume_defs.resources["object_store"].client()
    total = len(configs) * questions
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", str(resume_home)],
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def answered() -> int:
        done = _trial_metrics(resume_store, version, configs)
        parts = sum(
            len(resume_store.list(layout.trial_key(version, key).removesuffix(".parquet") + ".parts"))
            for key in configs
            if key not in done
        )
        return int(sum(m["generated_questions"] for m in done.values())) + parts

    start = time.perf_counter()
    while answered() < total // 2 and process.poll() is None:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = answered()
    killed_after = time.perf_counter() - start
    finished_before = set(_trial_metrics(resume_store, version, configs))
    with dg.instance_for_test() as instance:
        start = time.perf_counter()
        resumed = _run(resume_defs, instance, "sweep_job", configs)["trial_evaluations"]
        resume_seconds = time.perf_counter() - start
    after = _trial_metrics(resume_store, version, configs)
    # what the re-run found done: whole trials and answered questions (a part written by a worker
    # in the instant after the count above is in here, not there)
    kept = resumed["skipped_trials"] * questions + resumed["resumed_questions"]
    # questions answered by the re-run: those of the trials it ran, less the ones it resumed
    fresh = sum(m["generated_questions"] - m["questions_resumed"] for k, m in after.items() if k not in finished_before)
    tracker = resume_defs.resources["tracker"]
    runs = tracker.client().search_runs([tracker.experiment_id()])
    print(f"\n3. resume: killed (SIGKILL) after {killed_after:.0f} s, {before} of {total} question evaluations kept")
    print(f"   re-run: {resume_seconds:.0f} s, {resumed['skipped_trials']} trials skipped,"
          f" {resumed['resumed_questions']} questions resumed, {fresh:.0f} answered now;"
          f" evaluated twice: {kept + fresh - total:.0f}; MLflow runs: {len(runs)}"
          f" ({len(configs)} trials + 1 sweep)")  # fmt: skip
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
