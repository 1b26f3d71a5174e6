"""The Optuna search over the search space's ranges, beside the grid sweep."""

import dagster as dg
import pandas as pd
from pydantic import Field

from dream_assets import layout
from dream_assets.corpus import corpus_of
from dream_assets.defs.documents.assets import parsed_documents
from dream_assets.defs.golden.assets import golden_dataset
from dream_assets.defs.metadata import table_metadata
from dream_assets.defs.readers import read_current_golden, read_parsed_documents
from dream_assets.defs.workers import WorkerSettings
from dream_assets.hashing import content_hash
from dream_assets.lib.evaluation.fidelity import multi_fidelity_scheduler, question_rungs
from dream_assets.lib.evaluation.range_search import RangeSearchContext, run_range_search
from dream_assets.lib.retrieval.query_embeddings import embed_question_sets
from dream_assets.lib.tracking.mlflow_client import TAG_CONFIG_KEY, TAG_GOLDEN_VERSION, TAG_KIND
from dream_assets.search_space import SearchSpace
from resources.embeddings import EmbeddingProvider
from resources.llm import LlmProvider
from resources.object_store import ObjectStore
from resources.ray_cluster import RayCluster
from resources.tracking import MlflowTracker
from resources.vector_stores import VectorStore


class RangeSearchConfig(dg.Config):
    """How many configurations Optuna draws from the search space's `ranges:`, and how each is
    scored."""

    samples: int = Field(default=0, description="Configurations to draw (0: the `ranges:` section's `samples`).")
    rank_by: str = Field(default="mrr", description="The metric Optuna maximises, on the golden set's selection split.")
    generation_sample_size: int = Field(
        default=50,
        description="Questions each draw answers with its LLM, as in the sweep (every question is retrieved).",
    )
    min_questions: int = Field(
        default=0, description="Questions of the first multi-fidelity rung (0: the whole sample for every draw)."
    )
    reduction_factor: int = Field(default=2, description="Multi-fidelity: each rung keeps 1/this of the draws.")
    seed: int = Field(default=0, description="Seed of Optuna's sampler and of the question sample.")


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
    vector_store: VectorStore,
    search_space: dg.ResourceParam[SearchSpace],
) -> dg.MaterializeResult:
    """An Optuna search (TPE, through Ray Tune's `OptunaSearch`) over the `ranges:` section of
    the search space: chunk size, overlap, window size and top-k as ranges, models and
    retrievers as choices; with `min_questions`, ASHA stops weak draws early. Each draw is
    evaluated like a sweep trial (`range_search/<golden version>/<config key>.parquet`), builds
    or reuses its content-addressed index, and is logged as an MLflow run under the search's
    parent run. Metadata: the draws, best first.

    Raises:
        ValueError: if the search space has no `ranges:` section, or its ranges name a parser
            that its `parsers:` do not (the golden set is aligned into those parsers' text).
    """
    space = search_space.ranges
    if space is None:
        raise ValueError("the search space file has no `ranges:` section (see config/search_space.yaml)")
    unaligned = sorted(set(space.parsers) - set(search_space.parsers))
    if unaligned:  # the golden set is aligned into the grid's parsers' text only
        raise ValueError(f"ranges.parsers {unaligned} are not in the search space's parsers {search_space.parsers}")
    if config.samples:
        space = space.model_copy(update={"samples": config.samples})
    workers = WorkerSettings(
        object_store, embeddings, llms, vector_store, ray_cluster, search_space, corpus_of(context)
    )
    search, golden_version = _search_context(context, config, space, workers)
    rungs = search.rungs
    ray_cluster.connect()
    embed_question_sets(object_store.settings(), golden_version, list(search.embeddings.values()))
    context.log.info("Optuna search: %d draws on golden set %s", space.samples, golden_version)
    outcomes = run_range_search(
        search,
        ray_cluster.storage_path,
        f"range-search-{golden_version}-{content_hash([space.model_dump(mode='json'), config.model_dump()])}",
        ray_cluster.max_concurrent_trials,
        config.rank_by,
        multi_fidelity_scheduler(config.rank_by, rungs, config.reduction_factor),
        ray_cluster.trial_resources,
    )
    parent, rows = _log_draws(tracker, outcomes, golden_version)
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
            "draws_table": table_metadata(table[shown]),
            "mlflow_search_run": dg.MetadataValue.url(tracker.run_url(parent)),
        }
    )


def _search_context(context, config: RangeSearchConfig, space, workers: WorkerSettings):
    """The plain settings every draw of the search needs (`RangeSearchContext`), and the golden
    set's version."""
    store = workers.object_store.client()
    golden_version, questions, _ = read_current_golden(store, workers.corpus)
    documents = read_parsed_documents(context.instance, store, workers.corpus)
    rungs = []
    if config.min_questions:
        sample = min(config.generation_sample_size or len(questions), len(questions))
        rungs = question_rungs(sample, config.min_questions, config.reduction_factor)
    search = RangeSearchContext(
        space=space,
        object_store=workers.object_store.settings(),
        documents=sorted(documents),
        embeddings={name: workers.embedding(name) for name in space.embedding_models},
        llms={name: workers.llm(name) for name in space.llms},
        golden_prefix=layout.golden_prefix(golden_version),
        output_prefix=layout.range_search_prefix(golden_version),
        scratch_dir=workers.scratch_dir,
        llm_cache_dir=workers.llm_cache_dir,
        rungs=rungs,
        generation_sample_size=config.generation_sample_size,
        seed=config.seed,
        metrics=list(workers.search_space.metrics),
    )
    return search, golden_version


def _log_draws(tracker: MlflowTracker, outcomes, golden_version: str) -> tuple[str, list[dict]]:
    """Logs each draw as an MLflow run under the search's parent run; returns (the parent run
    id, one row per draw: key, parameters, metrics, error)."""
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
    return parent, rows
