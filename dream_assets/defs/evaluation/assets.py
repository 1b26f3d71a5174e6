"""The sweep and its leaderboard.

`trial_evaluations` is partitioned by RAG configuration; materialising several partitions in one
run (a single-run backfill) runs them as one Ray Tune sweep, one trial per configuration. Each
configuration's MLflow nested run, under the sweep's parent run, opens when its trial starts and
gets each report (every multi-fidelity rung, then the end) as a step while the sweep runs
(`mlflow_runs.LiveTrialRuns`); after the sweep, each trial's per-question table lands in the
object store and on that run, with the golden set as the run's dataset input.
"""

import sys
from dataclasses import dataclass
from typing import Literal

import dagster as dg
import pandas as pd
from pydantic import Field
from tqdm import tqdm

from dream_assets import layout
from dream_assets.corpus import corpus_of
from dream_assets.defs.evaluation.mlflow_runs import LiveTrialRuns, record_trial, sweep_run
from dream_assets.defs.golden.assets import golden_dataset
from dream_assets.defs.indexing.assets import embedding_index
from dream_assets.defs.metadata import table_metadata
from dream_assets.defs.readers import current_index_pointer, index_spec, read_current_golden
from dream_assets.lib.evaluation.sweep import multi_fidelity_scheduler, question_rungs, run_sweep
from dream_assets.lib.evaluation.trial import TrialSettings
from dream_assets.lib.models.bundled import model_problems
from dream_assets.lib.retrieval.pool import connect_pool, pool_name, start_pool
from dream_assets.lib.retrieval.query_embeddings import embed_question_sets
from dream_assets.partitions import CONFIGS_BY_KEY, SEARCH_SPACE_METRICS, index_to_configs, rag_config_partitions
from dream_assets.plugins.retrievers import RETRIEVERS
from resources.embeddings import EmbeddingProvider
from resources.llm import LlmProvider
from resources.object_store import ObjectStore
from resources.ray_cluster import RayCluster
from resources.tracking import MlflowTracker
from resources.vector_stores import VectorStore


class SweepConfig(dg.Config):
    """How the sweep evaluates its configurations. Every golden question is retrieved and scored
    (retrieval tier: hit rate, MRR, nDCG, ID-based context precision and recall), from question
    embeddings computed once per embedding model; a seeded sample, the same for every
    configuration, is answered by the LLM (generation tier: F1, exact match, semantic
    similarity); ragas' LLM-judged metrics are scored after the sweep, on the top
    configurations (`judge_evaluations`). With `search: asha` (successive halving, Ray Tune's
    ASHAScheduler) every configuration answers `min_questions` sampled questions first, and only
    the best 1/`reduction_factor` of those that reached each rung (by `rank_by`, on the
    selection split) go on to answer `reduction_factor` times as many, up to the whole sample;
    stopped configurations keep their metrics on the questions they answered."""

    generation_sample_size: int = Field(
        50, description="Golden questions each configuration answers with its LLM, drawn with `seed` (0: every one)."
    )
    seed: int = Field(0, description="Seed of the question samples.")
    retrieval_actors: int = Field(
        0,
        description="Ray retrieval actors started per index for the sweep, so concurrent trials share one loaded"
        " index (0: use a pool `retrieval_pool` started, else each trial loads its own).",
    )
    resume: bool = Field(
        True,
        description="Skip trials that finished before with identical settings, and the questions an interrupted"
        " trial answered; False evaluates everything again (the LLM cache still answers repeated prompts).",
    )
    repeats: int = Field(
        1,
        description="Answers per question with successive LLM seeds (for an LLM sampling above temperature 0,"
        " config/llms.yaml), reported as `<metric>_repeat_std`.",
    )
    search: Literal["grid", "asha"] = Field(
        "grid", description="`grid`: every configuration on every sampled question; `asha`: multi-fidelity."
    )
    min_questions: int = Field(8, description="asha: questions every configuration answers in the first rung.")
    reduction_factor: int = Field(2, description="asha: each rung keeps the best 1/this of the configurations.")
    rank_by: str = Field("mrr", description="asha: the metric rungs are decided by, on the selection split.")


@dg.asset(
    partitions_def=rag_config_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[dg.AssetDep(embedding_index, partition_mapping=index_to_configs), golden_dataset],
    group_name="evaluation",
    kinds={"ray", "mlflow"},
    # bump when the per-question table or the metrics change (2: retries, cost, resume, repeats;
    # 3: two tiers, held-out split), so Dagster shows the evaluations and the leaderboard as stale
    code_version="3",
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
    (`trial_evaluations/<golden version>/<config key>.parquet`): every golden question with its
    retrieved contexts and ids and retrieval metrics; the sampled ones with the response, answer
    metrics, latencies and tokens (`generated`). Trial metrics are on the golden set's selection
    split, with `held_out/<metric>` beside them, and each metric's `n`.

    A trial that fails is recorded (`<config key>.error.json`, a FAILED MLflow run, this
    asset's metadata) and the other trials go on. Run again, the sweep resumes: finished trials
    are skipped (`skipped_trials`), interrupted ones answer only the questions they had not
    (`resumed_questions`), and each configuration keeps its one MLflow run (looked up by
    configuration key and golden-set version).
    """
    configs = [CONFIGS_BY_KEY[key] for key in context.partition_keys]
    embedding_models, llm_names = [c.embedding_model for c in configs], [c.llm for c in configs]
    problems = model_problems(embedding_models, llm_names, llms.api_base, llms.served_by_providers())
    if problems:
        raise ValueError(f"the sweep cannot start: {'; '.join(problems)}")
    store = object_store.client()
    corpus = corpus_of(context)
    golden_version, questions, _ = read_current_golden(store, corpus)
    sample = min(config.generation_sample_size or len(questions), len(questions))
    rungs = question_rungs(sample, config.min_questions, config.reduction_factor) if config.search == "asha" else []
    ray_cluster.connect()
    embedded = _embed_questions(context, configs, object_store, embeddings, golden_version)
    pools: dict = {}
    settings = _Resources(object_store, embeddings, llms, ray_cluster, vector_store, corpus)
    trials = [_trial(context, config, settings, golden_version, key, rungs, pools) for key in context.partition_keys]
    context.log.info(
        "sweep of %d configurations on golden set %s: %d questions retrieved, %d answered",
        len(trials),
        golden_version,
        len(questions),
        sample,
    )
    parent = sweep_run(tracker, golden_version, corpus)
    outcomes, pool_health = _run_trials(context, config, trials, rungs, pools, tracker, ray_cluster, parent)
    golden_uri = store.uri(layout.golden_prefix(golden_version))
    tracker.log_dataset(parent, questions, "golden_dataset", golden_version, golden_uri)
    rows = [
        record_trial(context, store, tracker, parent, trial, outcome, questions, golden_uri, corpus)
        for trial, outcome in zip(trials, outcomes, strict=True)
    ]
    metadata = _sweep_metadata(outcomes, rows, sample, embedded, pool_health)
    return dg.MaterializeResult(
        metadata={
            "corpus": corpus or "(every document partition)",
            "golden_version": golden_version,
            **metadata,
            "mlflow_sweep_run": dg.MetadataValue.url(tracker.run_url(parent)),
        }
    )


def _embed_questions(context, configs, object_store: ObjectStore, embeddings: EmbeddingProvider, golden_version: str):
    """Embeds the question set once per model that a retriever of `configs` queries with (one
    whose retriever uses embeddings, `RetrieverKind.uses_embeddings`); returns the texts
    embedded now by model (0: reused)."""
    models = sorted({c.embedding_model for c in configs if RETRIEVERS.get(c.retriever)().uses_embeddings})
    embedded = embed_question_sets(
        object_store.settings(), golden_version, [embeddings.settings_for(name) for name in models]
    )
    context.log.info("question embeddings (texts embedded now, 0: reused): %s", embedded)
    return embedded


def _run_trials(context, config: SweepConfig, trials, rungs, pools: dict, tracker, ray_cluster, parent: str):
    """Runs the sweep on Ray Tune with live MLflow runs and a progress bar; shuts down the
    retrieval pools it started. Returns (outcomes, each pool's health)."""
    golden_version = trials[0].golden_version
    bar, trial_done = _trial_progress(context, len(trials))
    live = LiveTrialRuns.for_trials(tracker, parent, trials, golden_version, corpus_of(context))
    try:
        outcomes = run_sweep(
            trials,
            ray_cluster.storage_path,
            f"sweep-{golden_version}",
            ray_cluster.max_concurrent_trials,
            ray_cluster.trial_resources,
            on_trial_done=trial_done,
            scheduler=multi_fidelity_scheduler(config.rank_by, rungs, config.reduction_factor),
            callbacks=[live],
            lost_trial_retries=ray_cluster.lost_trial_retries,
        )
        bar.update(bar.total - bar.n)  # trials skipped as finished end without a callback
    finally:
        bar.close()
        pool_health = {pool.name: pool.health() for pool, _ in pools.values() if pool is not None}
        for pool, started in pools.values():
            if started:
                pool.shutdown()
    return outcomes, pool_health


def _sweep_metadata(outcomes, rows: list[dict], sample: int, embedded, pool_health: dict) -> dict:
    """The sweep's Dagster metadata: counts of trials and questions, failures, pools, results."""
    failed = {row["config_key"]: row["error"] for row in rows if row["error"]}
    return {
        "trials": len(outcomes),
        "failed_trials": len(failed),
        "skipped_trials": dg.MetadataValue.int(sum(outcome.skipped for outcome in outcomes)),
        "stopped_early": dg.MetadataValue.int(
            sum(0 < outcome.metrics.get("generated_questions", sample) < sample for outcome in outcomes)
        ),
        "questions_retrieved": dg.MetadataValue.int(_total(outcomes, "questions")),
        "questions_answered": dg.MetadataValue.int(_total(outcomes, "generated_questions")),
        "question_embedding_passes": embedded,
        "resumed_questions": dg.MetadataValue.int(
            _total([outcome for outcome in outcomes if not outcome.skipped], "questions_resumed")
        ),
        "failures": failed,
        "retrieval_pools": pool_health,
        "results": table_metadata(pd.DataFrame(rows)),
    }


def _trial_progress(context, total: int):
    """A progress bar of the trials ended (on stderr) and the sweep's callback that moves it and
    logs each trial's end to Dagster."""
    bar = tqdm(total=total, desc="trials", unit="trial", file=sys.stderr)

    def trial_done(key: str, done: int, total: int) -> None:
        bar.update(done - bar.n)
        bar.set_postfix_str(key)
        context.log.info("trial %s ended (%d/%d)", key, done, total)

    return bar, trial_done


@dataclass(frozen=True)
class _Resources:
    object_store: ObjectStore
    embeddings: EmbeddingProvider
    llms: LlmProvider
    ray_cluster: RayCluster
    vector_store: VectorStore
    corpus: str


def _trial(context, config: SweepConfig, resources: _Resources, golden_version: str, key: str, rungs, pools: dict):
    """The settings of configuration `key`'s trial; joins (or, with `retrieval_actors`, starts)
    the retrieval pool of its index, kept in `pools` by name as (pool or None, started here)."""
    rag = CONFIGS_BY_KEY[key]
    store, scratch = resources.object_store.client(), resources.ray_cluster.scratch_dir
    index = current_index_pointer(store, rag.index_key, resources.corpus)
    spec = index_spec(
        rag.index_key, index, resources.object_store, resources.embeddings, resources.vector_store, scratch
    )
    name = pool_name(rag.index_key, index["version"])
    if name not in pools:
        pools[name] = (connect_pool(name), False)
        if pools[name][0] is None and config.retrieval_actors > 0:
            pools[name] = (start_pool(name, spec, config.retrieval_actors), True)
        if pools[name][0] is not None:
            context.log.info("index %s served by retrieval pool %s", rag.index_key, name)
    return TrialSettings(
        config=rag,
        object_store=resources.object_store.settings(),
        index=spec,
        golden_prefix=layout.golden_prefix(golden_version),
        output_key=layout.trial_key(golden_version, key),
        llm=resources.llms.settings_for(rag.llm),
        seed=config.seed,
        generation_sample_size=config.generation_sample_size,
        llm_cache_dir=f"{scratch}/llm_cache",
        retrieval_pool=name if pools[name][0] is not None else "",
        resume=config.resume,
        rungs=rungs,
        repeats=config.repeats,
        metrics=SEARCH_SPACE_METRICS,
    )


def _total(outcomes, metric: str) -> int:
    return int(sum(outcome.metrics.get(metric, 0) for outcome in outcomes))
