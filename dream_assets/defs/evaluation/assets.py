"""The sweep and its leaderboard.

`trial_evaluations` is partitioned by RAG configuration; materialising several partitions in one
run (a single-run backfill) runs them as one Ray Tune sweep, one trial per configuration. Each
configuration's MLflow nested run, under the sweep's parent run, opens when its trial starts and
gets each report (every multi-fidelity rung, then the end) as a step while the sweep runs
(`mlflow_runs.LiveTrialRuns`); after the sweep, each trial's per-question table lands in the
object store and on that run, with the golden set as the run's dataset input.
"""

import contextlib
from typing import Literal

import dagster as dg
import pandas as pd
from pydantic import Field

from dream_assets import layout
from dream_assets.corpus import corpus_of
from dream_assets.defs.evaluation.mlflow_runs import reachable_sweep_run, record_trial, replay_pending
from dream_assets.defs.evaluation.sweep_trials import embed_questions, run_trials, sweep_trials
from dream_assets.defs.golden.assets import golden_dataset
from dream_assets.defs.metadata import table_metadata
from dream_assets.defs.pods import pod_resources
from dream_assets.defs.readers import read_current_golden
from dream_assets.defs.workers import WorkerSettings
from dream_assets.lib.evaluation.fidelity import question_rungs
from dream_assets.lib.evaluation.trial_settings import planned_record
from dream_assets.lib.models.bundled import model_problems
from dream_assets.partitions import SweepPartitions
from dream_assets.search_space import SearchSpace
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
        default=50,
        description="Golden questions each configuration answers with its LLM, drawn with `seed` (0: every one).",
    )
    seed: int = Field(default=0, description="Seed of the question samples.")
    trial_time_budget_s: float = Field(
        default=0.0,
        ge=0.0,
        description="Seconds each trial may run (0: no limit); past it, the trial stops at its next answer and is"
        " recorded as failed in its generation tier, its retrieval tier and answers kept (a run again resumes).",
    )
    retrieval_actors: int = Field(
        default=0,
        description="Ray retrieval actors started per index for the sweep, so concurrent trials share one loaded"
        " index (0: use a pool `retrieval_pool` started, else each trial loads its own).",
    )
    resume: bool = Field(
        default=True,
        description="Skip trials that finished before with identical settings, and the questions an interrupted"
        " trial answered; False evaluates everything again (the LLM cache still answers repeated prompts).",
    )
    repeats: int = Field(
        default=1,
        description="Answers per question with successive LLM seeds (for an LLM sampling above temperature 0,"
        " config/llms.yaml), reported as `<metric>_repeat_std`.",
    )
    search: Literal["grid", "asha"] = Field(
        default="grid", description="`grid`: every configuration on every sampled question; `asha`: multi-fidelity."
    )
    min_questions: int = Field(default=8, description="asha: questions every configuration answers in the first rung.")
    reduction_factor: int = Field(default=2, description="asha: each rung keeps the best 1/this of the configurations.")
    rank_by: str = Field(default="mrr", description="asha: the metric rungs are decided by, on the selection split.")


def trial_evaluations_asset(partitions: SweepPartitions) -> dg.AssetsDefinition:
    """`trial_evaluations`, one partition per configuration of the search space, each reading
    its embedding index; a run over many partitions is one Ray Tune sweep."""
    return dg.asset(
        name="trial_evaluations",
        partitions_def=partitions.rag_configs,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[dg.AssetDep("embedding_index", partition_mapping=partitions.index_to_configs), golden_dataset],
        group_name="evaluation",
        kinds={"ray", "mlflow"},
        # bump when the per-question table or the metrics change (2: retries, cost, resume, repeats;
        # 3: two tiers, held-out split), so Dagster shows the evaluations and the leaderboard as stale
        code_version="3",
        # The step is the Tune driver; trials run on the Ray cluster's workers.
        op_tags=pod_resources("1", "4Gi"),
    )(_trial_evaluations)


def _trial_evaluations(
    context: dg.AssetExecutionContext,
    config: SweepConfig,
    object_store: ObjectStore,
    embeddings: EmbeddingProvider,
    llms: LlmProvider,
    ray_cluster: RayCluster,
    tracker: MlflowTracker,
    vector_store: VectorStore,
    search_space: dg.ResourceParam[SearchSpace],
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
    configuration key and golden-set version). MLflow is best effort: when it is unreachable
    the trials run and their records are queued in the object store, logged by the next sweep
    that reaches it (`mlflow_records_replayed`, `mlflow_records_queued`). Before any trial runs, the fingerprint each
    table must carry is recorded (`<config key>.planned.json`): the leaderboard ranks no table
    left by a run with other settings.
    """
    configs = [search_space.configs_by_key[key] for key in context.partition_keys]
    _check_models(configs, llms)
    corpus = corpus_of(context)
    workers = WorkerSettings(object_store, embeddings, llms, vector_store, ray_cluster, search_space, corpus)
    store = object_store.client()
    golden_version, questions, _ = read_current_golden(store, corpus)
    sample = min(config.generation_sample_size or len(questions), len(questions))
    rungs = question_rungs(sample, config.min_questions, config.reduction_factor) if config.search == "asha" else []
    ray_cluster.connect()
    embedded = embed_questions(context, workers, configs, golden_version)
    sweep = sweep_trials(context, config, workers, golden_version, context.partition_keys, rungs)
    for trial in sweep.trials:  # what the leaderboard will accept of each table (`planned_record`)
        store.write_json(trial.planned_key, planned_record(trial))
    context.log.info(
        "sweep of %d configurations on golden set %s: %d questions retrieved, %d answered",
        *(len(sweep.trials), golden_version, len(questions), sample),
    )
    parent = reachable_sweep_run(context, tracker, golden_version, corpus)
    replayed = replay_pending(context, store, tracker)[0] if parent else 0
    outcomes, pool_health = run_trials(context, config, sweep, rungs, workers, tracker, parent)
    if parent is not None:
        golden_uri = store.uri(layout.golden_prefix(golden_version))
        with contextlib.suppress(Exception):  # the dataset input of the parent run: a view only
            tracker.log_dataset(parent, questions, "golden_dataset", golden_version, golden_uri)
    rows = []
    for trial, outcome in zip(sweep.trials, outcomes, strict=True):
        row, logged = record_trial(context, store, tracker, parent, trial, outcome, corpus, questions)
        rows.append(row)
        parent = parent if logged else None  # MLflow went down: the other records are queued at once
    metadata = {"corpus": corpus or "(every document partition)", "golden_version": golden_version}
    metadata |= _sweep_metadata(outcomes, rows, sample, embedded, pool_health)
    queued = len(store.list(layout.MLFLOW_PENDING_PREFIX))
    metadata |= {"mlflow_records_replayed": replayed, "mlflow_records_queued": queued}
    run = dg.MetadataValue.url(tracker.run_url(parent)) if parent else "MLflow unreachable: records queued"
    return dg.MaterializeResult(metadata={**metadata, "mlflow_sweep_run": run})


def _check_models(configs, llms: LlmProvider) -> None:
    """Raises a `ValueError` naming every model of `configs` that cannot be loaded here."""
    embedding_models, llm_names = [c.embedding_model for c in configs], [c.llm for c in configs]
    problems = model_problems(embedding_models, llm_names, llms.api_base, llms.served_by_providers())
    if problems:
        raise ValueError(f"the sweep cannot start: {'; '.join(problems)}")


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


def _total(outcomes, metric: str) -> int:
    return int(sum(outcome.metrics.get(metric, 0) for outcome in outcomes))
