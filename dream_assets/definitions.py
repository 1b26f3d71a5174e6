"""The one Definitions object of DREAM: every asset, check, job and sensor on an explicit search
space (`build_definitions`), bound to the resource set of a deployment, which is chosen once, by
name (`dream_assets.deployments`). `defs` is what `dagster dev` and the code server load."""

from __future__ import annotations

from typing import Any

import dagster as dg

from dream_assets.defs.documents.assets import parsed_documents, source_documents
from dream_assets.defs.evaluation.assets import trial_evaluations_asset
from dream_assets.defs.evaluation.best import best_rag_configuration
from dream_assets.defs.evaluation.checks import (
    leaderboard_ranks_every_configuration,
    metrics_cover_the_questions,
    trials_succeeded,
)
from dream_assets.defs.evaluation.judging import judge_evaluations
from dream_assets.defs.evaluation.leaderboard import experiment_leaderboard
from dream_assets.defs.evaluation.search import range_search
from dream_assets.defs.golden.assets import golden_dataset
from dream_assets.defs.golden.checks import (
    golden_dataset_has_no_duplicate_questions,
    golden_dataset_is_not_empty,
    golden_dataset_question_lengths,
    golden_dataset_references_are_grounded,
)
from dream_assets.defs.indexing.assets import indexing_assets
from dream_assets.defs.indexing.checks import embedding_index_vectors
from dream_assets.defs.ingestion.assets import oscar_chunks, oscar_embeddings, oscar_jsonl, oscar_parquet
from dream_assets.defs.ingestion.stores import opensearch_index, pgvector_index, vector_query_benchmark
from dream_assets.defs.jobs import (
    golden_job,
    index_job,
    ingest_job,
    leaderboard_job,
    opensearch_job,
    oscar_ingest_job,
    range_search_job,
    reranker_job,
    retrieval_pool_job,
    sweep_job,
    vector_benchmark_job,
)
from dream_assets.defs.refresh.job import corpus_refresh_job
from dream_assets.defs.refresh.sensor import watched_corpus_sensor
from dream_assets.defs.reranking.assets import finetuned_reranker, reranker_training_pairs
from dream_assets.deployments import deployment, executor_for, resources_for
from dream_assets.partitions import sweep_partitions
from dream_assets.search_space import SearchSpace, load_search_space

# The assets that do not depend on the search space's partitions, by concern.
DOCUMENT_AND_GOLDEN_ASSETS: list[Any] = [
    source_documents,
    parsed_documents,
    golden_dataset,
    reranker_training_pairs,
    finetuned_reranker,
]
EVALUATION_ASSETS: list[Any] = [
    judge_evaluations,
    experiment_leaderboard,
    best_rag_configuration,
    range_search,
]
BULK_ASSETS: list[Any] = [
    oscar_jsonl,
    oscar_parquet,
    oscar_chunks,
    oscar_embeddings,
    pgvector_index,
    vector_query_benchmark,
]
ASSET_CHECKS = [
    golden_dataset_is_not_empty,
    golden_dataset_question_lengths,
    golden_dataset_has_no_duplicate_questions,
    golden_dataset_references_are_grounded,
    embedding_index_vectors,
    trials_succeeded,
    metrics_cover_the_questions,
    leaderboard_ranks_every_configuration,
]
JOBS = [
    ingest_job,
    golden_job,
    index_job,
    retrieval_pool_job,
    reranker_job,
    sweep_job,
    leaderboard_job,
    range_search_job,
    oscar_ingest_job,
    vector_benchmark_job,
]


def build_definitions(
    resources: dict, executor: dg.ExecutorDefinition | None = None, search_space: SearchSpace | None = None
) -> dg.Definitions:
    """Definitions of every DREAM asset, check and job on `search_space` (default: the shipped
    `config/search_space.yaml`), bound to `resources` (and run by `executor`, the default
    multiprocess one when None). The search space defines the configuration and index
    partitions (`sweep_partitions`) and is the `search_space` resource the assets read.

    Raises:
        dream_assets.search_space.SearchSpaceError: if the default search space does not load.
    """
    space = search_space or load_search_space()
    partitions = sweep_partitions(space)
    opensearch = "opensearch" in resources
    assets: list[Any] = [
        *DOCUMENT_AND_GOLDEN_ASSETS,
        *indexing_assets(partitions),
        trial_evaluations_asset(partitions),
        *EVALUATION_ASSETS,
        *BULK_ASSETS,
        *([opensearch_index] if opensearch else []),
    ]
    built: list[dg.Definitions] = []  # the refresh runs the stages of these very definitions
    refresh_job = corpus_refresh_job(lambda: built[0])
    built.append(
        dg.Definitions(
            assets=assets,
            asset_checks=ASSET_CHECKS,
            jobs=[*JOBS, *([opensearch_job] if opensearch else []), refresh_job],
            sensors=[watched_corpus_sensor(refresh_job)],
            resources={**resources, "search_space": space},
            executor=executor,
        )
    )
    return built[0]


def deployment_definitions(
    search_space: SearchSpace | None = None, document_source: str | None = None
) -> dg.Definitions:
    """The definitions of this deployment (`DREAM_DEPLOYMENT`: `local`, the default, or `k8s`)
    on `search_space` (default: the shipped one), reading PDFs from `document_source` (see
    `resources_for`)."""
    name = deployment()
    return build_definitions(resources_for(name, document_source), executor_for(name), search_space)


@dg.definitions
def defs() -> dg.Definitions:
    """What `dagster dev` (`dream ui`) and the code server (deploy/) load, when they load it:
    this deployment's definitions on the search space that `DREAM_SEARCH_SPACE` names (`dream ui
    --search-space` sets it for its `dagster dev` subprocess), else the shipped one."""
    from dream_assets.settings import settings

    path = settings().search_space
    return deployment_definitions(load_search_space(path) if path else None)
