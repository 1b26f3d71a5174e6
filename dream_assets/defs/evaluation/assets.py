"""The sweep and its leaderboard.

`trial_evaluations` is partitioned by RAG configuration; materialising several partitions in one
run (a single-run backfill) runs them as one Ray Tune sweep, one trial per configuration. Each
trial's per-question table lands in the object store and in an MLflow nested run under the
sweep's parent run, with the golden set as the run's dataset input.
"""

import base64
import tempfile
from typing import Literal

import dagster as dg
import pandas as pd

from dream_assets import layout
from dream_assets.defs.documents.assets import parsed_documents, read_parsed_documents
from dream_assets.defs.golden.assets import golden_dataset, read_current_golden
from dream_assets.defs.indexing.assets import current_index_pointer, embedding_index, index_spec
from dream_assets.lib.evaluation import summarize
from dream_assets.lib.hashing import content_hash
from dream_assets.lib.leaderboard import build_leaderboard, parallel_coordinates, save_plot
from dream_assets.lib.retrieval_pool import connect_pool, pool_name, start_pool
from dream_assets.lib.statistics import leaderboard_statistics
from dream_assets.lib.sweep import (
    RangeSearchContext,
    TrialSettings,
    multi_fidelity_scheduler,
    question_rungs,
    run_range_search,
    run_sweep,
)
from dream_assets.partitions import CONFIGS_BY_KEY, index_to_configs, rag_config_partitions
from dream_assets.rag_config import load_search_space
from resources.embeddings import EmbeddingProvider
from resources.llm import LlmProvider
from resources.object_store import ObjectStore
from resources.ray_cluster import RayCluster
from resources.tracking import TAG_CONFIG_KEY, TAG_GOLDEN_VERSION, TAG_KIND, MlflowTracker
from resources.vector_stores import VectorStore


class SweepConfig(dg.Config):
    """`judge_llm`: LLM for ragas' LLM-judged metrics ('' skips them); `judge_sample_size`:
    questions per trial it judges; `seed`: seed of that sample; `retrieval_actors`: start a
    pool of this many Ray retrieval actors per index for the sweep, so concurrent trials share
    one loaded index (0: a pool already running for the index, started by `retrieval_pool`, is
    used; otherwise each trial loads its own); `resume`: skip trials that finished before with
    identical settings and, in an interrupted trial, the questions it answered (a crashed or
    killed sweep run again redoes nothing); False evaluates everything again (the LLM cache
    still answers repeated prompts); `search`: `grid` evaluates every configuration on every
    question, `asha` is multi-fidelity (successive halving, Ray Tune's ASHAScheduler): every
    configuration starts on `min_questions` questions, and only the best 1/`reduction_factor`
    of those that reached each rung (by `rank_by`) go on to `reduction_factor` times as many,
    up to all; stopped configurations keep their metrics on the questions they answered;
    `repeats`: answers per question with successive LLM seeds (for an LLM sampling at a
    temperature above 0, set in config/llms.yaml), reported as `<metric>_repeat_std`."""

    judge_llm: str = ""
    judge_sample_size: int = 0
    seed: int = 0
    retrieval_actors: int = 0
    resume: bool = True
    repeats: int = 1
    search: Literal["grid", "asha"] = "grid"
    min_questions: int = 8
    reduction_factor: int = 2
    rank_by: str = "mrr"


def _sweep_run(tracker: MlflowTracker, golden_version: str) -> str:
    return tracker.find_or_create_run(
        f"sweep-{golden_version}", {TAG_KIND: "sweep", TAG_GOLDEN_VERSION: golden_version}
    )


@dg.asset(
    partitions_def=rag_config_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[dg.AssetDep(embedding_index, partition_mapping=index_to_configs), golden_dataset],
    group_name="evaluation",
    kinds={"ray", "mlflow"},
    # bump when the per-question table or the metrics change (2: retries, cost, resume, repeats),
    # so Dagster shows the evaluations and the leaderboard as stale
    code_version="2",
    # The step is the Tune driver; trials run on the Ray cluster's workers.
    op_tags={"dagster-k8s/config": {"container_config": {"resources": {"requests": {"cpu": "1", "memory": "4Gi"}}}}},
)
def trial_evaluations(
    context: dg.AssetExecutionContext,
    config: SweepConfig,
    object_store: ObjectStore,
    embeddings: EmbeddingProvider,
    llms: LlmProvider,
    ray_cluster: RayCluster,
    tracker: MlflowTracker,
    vector_store: VectorStore,
) -> dg.MaterializeResult:
    """Per-question evaluation table of each configuration
    (`trial_evaluations/<golden version>/<config key>.parquet`): question, reference, retrieved
    contexts and ids, response, every metric, latencies, tokens.

    A trial that fails is recorded (`<config key>.error.json`, a FAILED MLflow run, this
    asset's metadata) and the other trials go on. Run again, the sweep resumes: finished trials
    are skipped (`skipped_trials`), interrupted ones answer only the questions they had not
    (`resumed_questions`), and each configuration keeps its one MLflow run (looked up by
    configuration key and golden-set version).
    """
    store = object_store.client()
    golden_version, questions, _ = read_current_golden(store)
    judge = llms.settings_for(config.judge_llm).model_copy(update={"max_tokens": 256}) if config.judge_llm else None
    trials, pools, started = [], {}, []
    rungs = (
        question_rungs(len(questions), config.min_questions, config.reduction_factor) if config.search == "asha" else []
    )
    ray_cluster.connect()
    for key in context.partition_keys:
        rag = CONFIGS_BY_KEY[key]
        index = current_index_pointer(store, rag.index_key)
        spec = index_spec(rag.index_key, index, object_store, embeddings, vector_store, ray_cluster.scratch_dir)
        name = pool_name(rag.index_key, index["version"])
        if name not in pools:
            pools[name] = connect_pool(name)
            if pools[name] is None and config.retrieval_actors > 0:
                pools[name] = start_pool(name, spec, config.retrieval_actors)
                started.append(pools[name])
            if pools[name] is not None:
                context.log.info("index %s served by retrieval pool %s", rag.index_key, name)
        trials.append(
            TrialSettings(
                config=rag,
                object_store=object_store.settings(),
                index=spec,
                golden_prefix=layout.golden_prefix(golden_version),
                output_key=layout.trial_key(golden_version, key),
                llm=llms.settings_for(rag.llm),
                judge_llm=judge,
                judge_sample_size=config.judge_sample_size,
                seed=config.seed,
                llm_cache_dir=f"{ray_cluster.scratch_dir}/llm_cache",
                retrieval_pool=name if pools[name] is not None else "",
                resume=config.resume,
                rungs=rungs,
                repeats=config.repeats,
            )
        )
    context.log.info(
        "sweep of %d configurations on golden set %s (%d questions)", len(trials), golden_version, len(questions)
    )
    try:
        outcomes = run_sweep(
            trials,
            ray_cluster.storage_path,
            f"sweep-{golden_version}",
            ray_cluster.max_concurrent_trials,
            on_trial_done=lambda key, done, total: context.log.info("trial %s ended (%d/%d)", key, done, total),
            scheduler=multi_fidelity_scheduler(config.rank_by, rungs, config.reduction_factor),
        )
    finally:
        pool_health = {pool.name: pool.health() for pool in pools.values() if pool is not None}
        for pool in started:
            pool.shutdown()
    parent = _sweep_run(tracker, golden_version)
    golden_uri = store.uri(layout.golden_prefix(golden_version))
    tracker.log_dataset(parent, questions, "golden_dataset", golden_version, golden_uri)
    rows, failed = [], {}
    for trial, outcome in zip(trials, outcomes, strict=True):
        key = trial.config.key
        run_id = tracker.find_or_create_run(
            key, {TAG_KIND: "trial", TAG_CONFIG_KEY: key, TAG_GOLDEN_VERSION: golden_version}, parent
        )
        tracker.log_dataset(run_id, questions, "golden_dataset", golden_version, golden_uri)
        error_key = layout.trial_error_key(golden_version, key)
        if outcome.error:
            failed[key] = outcome.error
            store.write_json(error_key, {"config_key": key, "error": outcome.error})
            tracker.log_trial(run_id, trial.config.params(), {})
            tracker.finish(run_id, error=outcome.error)
            context.log.error("trial %s failed: %s", key, outcome.error)
            continue
        store.delete(error_key)
        tracker.log_trial(run_id, trial.config.params(), outcome.metrics, store.read_parquet(trial.output_key))
        tracker.finish(run_id)
        metadata = {
            "mlflow_run": dg.MetadataValue.url(tracker.run_url(run_id)),
            **{k: v for k, v in outcome.metrics.items() if v == v},
        }
        context.log_event(dg.AssetObservation(asset_key=context.asset_key, partition=key, metadata=metadata))
        shown = (outcome.metrics.get(name, float("nan")) for name in ("hit_rate", "mrr", "f1"))
        rows.append(f"| {key} | " + " | ".join(f"{value:.3f}" for value in shown) + " |")
    return dg.MaterializeResult(
        metadata={
            "golden_version": golden_version,
            "trials": len(trials),
            "failed_trials": len(failed),
            "skipped_trials": dg.MetadataValue.int(sum(outcome.skipped for outcome in outcomes)),
            "stopped_early": dg.MetadataValue.int(
                sum(0 < outcome.metrics.get("questions", len(questions)) < len(questions) for outcome in outcomes)
            ),
            "questions_evaluated": dg.MetadataValue.int(
                int(sum(outcome.metrics.get("questions", 0) for outcome in outcomes))
            ),
            "resumed_questions": dg.MetadataValue.int(
                int(sum(outcome.metrics.get("questions_resumed", 0) for outcome in outcomes if not outcome.skipped))
            ),
            "failures": failed,
            "retrieval_pools": pool_health,
            "mlflow_sweep_run": dg.MetadataValue.url(tracker.run_url(parent)),
            "results": dg.MetadataValue.md(
                "| configuration | hit_rate | mrr | f1 |\n|---|---|---|---|\n" + "\n".join(rows)
            ),
        }
    )


class LeaderboardConfig(dg.Config):
    """`rank_by`: the metric the leaderboard sorts by (descending)."""

    rank_by: str = "mrr"


@dg.asset(deps=[trial_evaluations], group_name="evaluation", kinds={"plotly", "mlflow"})
def experiment_leaderboard(
    context: dg.AssetExecutionContext, config: LeaderboardConfig, object_store: ObjectStore, tracker: MlflowTracker
) -> dg.MaterializeResult:
    """One row per configuration evaluated on the current golden set, sorted by `rank_by`: its
    metrics, coverage, latencies (p50/p95), tokens, cost (`cost_usd`, from the LLM table's
    prices) and failure counts by reason, with
    bootstrap 95% intervals of hit rate, MRR, F1 and `rank_by` (`<metric>_ci95_low/high`) and
    the p-value of a paired test against the first configuration (`<metric>_p_vs_best`: above
    0.05, the difference may be noise), and its parallel-coordinates plot
    (`experiment_leaderboard/<golden version>/leaderboard.parquet`, `.html`, `.png`); logged to
    the sweep's MLflow parent run, which it closes."""
    store = object_store.client()
    golden_version, questions, _ = read_current_golden(store)
    rows, tables = [], {}
    for key, rag in CONFIGS_BY_KEY.items():
        table_key = layout.trial_key(golden_version, key)
        error_key = layout.trial_error_key(golden_version, key)
        if store.exists(table_key):
            tables[key] = store.read_parquet(table_key)
            evaluated = tables[key]["question_id"].nunique()
            status = "ok" if evaluated >= len(questions) else "stopped_early"  # by multi-fidelity search
            rows.append({"config_key": key, **rag.params(), **summarize(tables[key]), "status": status, "error": ""})
        elif store.exists(error_key):
            rows.append(
                {"config_key": key, **rag.params(), "status": "failed", "error": store.read_json(error_key)["error"]}
            )
    if not rows:
        raise ValueError(f"no trial evaluated on golden set {golden_version}: materialise trial_evaluations first")
    table = build_leaderboard(rows, config.rank_by)
    best = str(table.iloc[0]["config_key"])
    if best in tables:  # bootstrap 95% intervals, and a paired test against the best configuration
        metrics = list(dict.fromkeys([config.rank_by, "hit_rate", "mrr", "f1"]))
        statistics = leaderboard_statistics(tables, best, metrics, seed=0)
        extra = pd.DataFrame.from_dict(statistics, orient="index")
        table = table.join(extra, on="config_key")
    prefix = layout.leaderboard_prefix(golden_version)
    store.write_parquet(f"{prefix}/leaderboard.parquet", table)
    parent = _sweep_run(tracker, golden_version)
    with tempfile.TemporaryDirectory() as directory:
        html, png = save_plot(parallel_coordinates(table, config.rank_by), directory)
        tracker.log_table(parent, table, "leaderboard.parquet")
        for path in (html, png):
            if path is not None:
                store.write_bytes(f"{prefix}/{path.name}", path.read_bytes())
                tracker.log_file(parent, path)
        image = base64.b64encode(png.read_bytes()).decode() if png else None
    tracker.finish(parent)
    shown = ["rank", "config_key", "questions", "hit_rate", "mrr", "mrr_ci95_low", "mrr_ci95_high", "mrr_p_vs_best"]
    shown += ["f1"]
    shown += ["semantic_similarity", "retrieval_latency_p50_s", "generation_latency_p50_s", "generation_latency_p95_s"]
    shown += ["prompt_tokens_per_question", "completion_tokens_per_question", "cost_usd", "errors", "status"]
    markdown = table[[c for c in shown if c in table]].to_markdown(index=False, floatfmt=".3f")
    context.log.info("leaderboard of %d configurations; best: %s", len(table), table.iloc[0]["config_key"])
    metadata = {
        "golden_version": golden_version,
        "configurations": len(table),
        "best": str(table.iloc[0]["config_key"]),
        "leaderboard": dg.MetadataValue.md(markdown),
        "plot_html": dg.MetadataValue.path(store.uri(f"{prefix}/leaderboard.html")),
        "mlflow_sweep_run": dg.MetadataValue.url(tracker.run_url(parent)),
    }
    if image:
        metadata["plot"] = dg.MetadataValue.md(f"![leaderboard](data:image/png;base64,{image})")
    return dg.MaterializeResult(metadata=metadata)


class RangeSearchConfig(dg.Config):
    """`samples`: configurations to draw (0: the `ranges:` section's `samples`); `rank_by`: the
    metric Optuna maximises; `min_questions` (0: every question for every draw) and
    `reduction_factor`: multi-fidelity rungs as in `SweepConfig`; `seed`: Optuna's sampler
    and the question order."""

    samples: int = 0
    rank_by: str = "mrr"
    min_questions: int = 0
    reduction_factor: int = 2
    seed: int = 0


@dg.asset(
    deps=[golden_dataset, dg.AssetDep(parsed_documents, partition_mapping=dg.AllPartitionMapping())],
    group_name="evaluation",
    kinds={"ray", "optuna", "mlflow"},
)
def range_search(
    context: dg.AssetExecutionContext,
    config: RangeSearchConfig,
    object_store: ObjectStore,
    embeddings: EmbeddingProvider,
    llms: LlmProvider,
    ray_cluster: RayCluster,
    tracker: MlflowTracker,
) -> dg.MaterializeResult:
    """An Optuna search (TPE, through Ray Tune's `OptunaSearch`) over the `ranges:` section of
    the search space: chunk size, overlap, window size and top-k as ranges, models and
    retrievers as choices; with `min_questions`, ASHA stops weak draws early. Each draw is
    evaluated like a sweep trial (`range_search/<golden version>/<config key>.parquet`), builds
    or reuses its content-addressed index, and is logged as an MLflow run under the search's
    parent run. Metadata: the draws, best first.

    Raises:
        ValueError: if the search space has no `ranges:` section.
    """
    space = load_search_space().ranges
    if space is None:
        raise ValueError("the search space file has no `ranges:` section (see config/search_space.yaml)")
    if config.samples:
        space = space.model_copy(update={"samples": config.samples})
    store = object_store.client()
    golden_version, questions, _ = read_current_golden(store)
    documents = read_parsed_documents(context.instance, store)
    rungs = []
    if config.min_questions:
        rungs = question_rungs(len(questions), config.min_questions, config.reduction_factor)
    search = RangeSearchContext(
        space=space,
        object_store=object_store.settings(),
        documents=sorted(documents),
        embeddings={name: embeddings.settings_for(name) for name in space.embedding_models},
        llms={name: llms.settings_for(name) for name in space.llms},
        golden_prefix=layout.golden_prefix(golden_version),
        output_prefix=layout.range_search_prefix(golden_version),
        scratch_dir=ray_cluster.scratch_dir,
        llm_cache_dir=f"{ray_cluster.scratch_dir}/llm_cache",
        rungs=rungs,
        seed=config.seed,
    )
    ray_cluster.connect()
    context.log.info("Optuna search: %d draws on golden set %s", space.samples, golden_version)
    outcomes = run_range_search(
        search,
        ray_cluster.storage_path,
        f"range-search-{golden_version}-{content_hash([space.model_dump(mode='json'), config.model_dump()])}",
        ray_cluster.max_concurrent_trials,
        config.rank_by,
        multi_fidelity_scheduler(config.rank_by, rungs, config.reduction_factor),
    )
    parent = tracker.find_or_create_run(
        f"range-search-{golden_version}", {TAG_KIND: "range_search", TAG_GOLDEN_VERSION: golden_version}
    )
    rows = []
    for outcome in outcomes:
        run_id = tracker.find_or_create_run(
            outcome.config_key,
            {TAG_KIND: "range_trial", TAG_CONFIG_KEY: outcome.config_key, TAG_GOLDEN_VERSION: golden_version},
            parent,
        )
        tracker.log_trial(run_id, outcome.params, outcome.metrics)
        tracker.finish(run_id, error=outcome.error)
        error = outcome.error or ""
        rows.append({"config_key": outcome.config_key, **outcome.params, **outcome.metrics, "error": error})
    tracker.finish(parent)
    table = pd.DataFrame(rows).sort_values(config.rank_by, ascending=False, na_position="last")
    shown = [c for c in ["config_key", "questions", "hit_rate", "mrr", "f1", "index_built", "error"] if c in table]
    return dg.MaterializeResult(
        metadata={
            "golden_version": golden_version,
            "draws": len(outcomes),
            "distinct_configurations": table["config_key"].nunique(),
            "failed": int((table["error"] != "").sum()),
            "indexes_built": int(table.get("index_built", pd.Series(dtype=float)).sum()),
            "best": str(table.iloc[0]["config_key"]),
            "draws_table": dg.MetadataValue.md(table[shown].to_markdown(index=False, floatfmt=".3f")),
            "mlflow_search_run": dg.MetadataValue.url(tracker.run_url(parent)),
        }
    )
