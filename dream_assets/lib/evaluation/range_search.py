"""The Optuna search over the search space's ranges: Ray Tune's `OptunaSearch` draws
configurations, each building or reusing its content-addressed index and evaluated like a sweep
trial (`dream_assets.lib.evaluation.trial`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from ray import tune

from dream_assets import layout
from dream_assets.lib.evaluation.outcomes import TrialOutcome, fit_with_rate_limits, trial_outcome
from dream_assets.lib.evaluation.trial import run_trial
from dream_assets.lib.evaluation.trial_settings import TrialSettings
from dream_assets.lib.models.embeddings import EmbeddingSettings
from dream_assets.lib.retrieval.index_spec import IndexSpec
from dream_assets.lib.stores.object_store import ObjectStoreSettings
from dream_assets.plugins.llm_providers import LlmSettings
from dream_assets.search_space import RangeSpace


class RangeSearchContext(BaseModel):
    """What every trial of an Optuna range search shares, as plain data.

    Attributes:
        space: the ranges (`RangeSpace`).
        object_store: how to open the object store.
        documents: ids of the parsed documents (the corpus indexes are built from).
        embeddings: settings of each embedding model of the space, by name.
        llms: settings of each LLM of the space, by name.
        golden_prefix: object-store prefix of the golden set.
        output_prefix: object-store prefix of the per-question tables (`<prefix>/<key>.parquet`).
        scratch_dir: node-local directory for downloaded indexes.
        llm_cache_dir: directory of the LLM answer cache ('' for none).
        rungs: multi-fidelity rungs over the generation sample (`question_rungs`), or empty.
        generation_sample_size: questions each draw answers (0: all; every one is retrieved).
        seed: seed of Optuna's sampler and of the question order.
        metrics: metrics the search space names by import path (`SearchSpace.metrics`).
    """

    space: RangeSpace
    object_store: ObjectStoreSettings
    documents: list[str]
    embeddings: dict[str, EmbeddingSettings]
    llms: dict[str, LlmSettings]
    golden_prefix: str
    output_prefix: str
    scratch_dir: str = ""
    llm_cache_dir: str = ""
    rungs: list[int] = []
    generation_sample_size: int = 0
    seed: int = 0
    metrics: list[str] = []


def _range_trainable(params: dict[str, Any], context: RangeSearchContext) -> None:
    from dream_assets.lib.retrieval.indexes import ensure_index
    from dream_assets.lib.stores.object_store import ObjectStoreClient
    from dream_assets.plugins.parsers import ParsedDocument

    config = RangeSpace.config_from(params)
    store = ObjectStoreClient(context.object_store)
    documents = [
        ParsedDocument.from_dict(store.read_json(key))
        for key in (layout.parsed_document_key(d, config.parser) for d in context.documents)
        if store.exists(key)  # a document this parser quarantined is not in its corpus
    ]
    embedding = context.embeddings[config.embedding_model]
    pointer = ensure_index(store, documents, config.index_key, config.retrieval, embedding)
    index = IndexSpec(
        method=config.retrieval,
        embedding=embedding,
        object_store=context.object_store,
        index_prefix=pointer["prefix"],
        scratch_dir=context.scratch_dir,
    )
    settings = TrialSettings(
        config=config,
        object_store=context.object_store,
        index=index,
        golden_prefix=context.golden_prefix,
        output_key=f"{context.output_prefix}/{config.key}.parquet",
        llm=context.llms[config.llm],
        seed=context.seed,
        llm_cache_dir=context.llm_cache_dir,
        rungs=context.rungs,
        generation_sample_size=context.generation_sample_size,
        metrics=context.metrics,
    )
    extra = {"config_key": config.key, "index_built": float(pointer["built"]), "embedded": float(pointer["embedded"])}
    run_trial(settings, report=lambda metrics: tune.report({**metrics, **extra}))


def run_range_search(
    context: RangeSearchContext,
    storage_path: str,
    experiment_name: str,
    max_concurrent_trials: int,
    metric: str = "mrr",
    scheduler=None,
    trial_resources: dict[str, float] | None = None,
) -> list[TrialOutcome]:
    """Samples `context.space.samples` configurations with Optuna's TPE sampler (Ray Tune's
    `OptunaSearch`, define-by-run over `RangeSpace.suggest`, seeded) and evaluates each like a
    sweep trial; a drawn chunker or window without an index gets one built in the trial
    (content-addressed: the same draw twice, or the grid's, is built once). Ray must be
    initialised.

    Args:
        context: the search.
        storage_path: Ray Tune's results directory.
        experiment_name: Tune experiment name.
        max_concurrent_trials: trials at once (Optuna learns from finished ones, so fewer
            concurrent trials sample better).
        metric: maximised by the sampler (and the scheduler).
        scheduler: a trial scheduler (`multi_fidelity_scheduler`) when `context.rungs` is set.
        trial_resources: Ray resources each trial reserves (default one CPU).

    Returns:
        One outcome per sampled trial, in the order Tune returns them; its metrics include
        `index_built` (1 when the trial built its index) and `embedded` (nodes it embedded).
    """
    from ray.tune.search.optuna import OptunaSearch

    searcher = OptunaSearch(space=context.space.suggest, metric=metric, mode="max", seed=context.seed)
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(_range_trainable, context=context), trial_resources or {"CPU": 1}),
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=scheduler,
            num_samples=context.space.samples,
            max_concurrent_trials=max_concurrent_trials,
        ),
        run_config=tune.RunConfig(
            name=experiment_name,
            storage_path=storage_path,
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
        ),
    )
    outcomes = []
    for result in fit_with_rate_limits(tuner, list(context.llms.values())):
        config = RangeSpace.config_from(result.config or {})
        outcomes.append(trial_outcome(config.key, result, config.params()))
    return outcomes
