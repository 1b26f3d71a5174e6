"""The trials of one sweep: their settings, built by the one worker-settings builder
(`dream_assets.defs.workers`) with the retrieval pools that serve their indexes, and their run on
Ray Tune with live MLflow runs and a progress bar."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from dream_assets import layout
from dream_assets.defs.evaluation.mlflow_runs import LiveTrialRuns
from dream_assets.defs.workers import WorkerSettings
from dream_assets.lib.evaluation.fidelity import multi_fidelity_scheduler
from dream_assets.lib.evaluation.outcomes import TrialOutcome
from dream_assets.lib.evaluation.sweep import SweepSettings, run_sweep
from dream_assets.lib.evaluation.trial_settings import TrialSettings
from dream_assets.lib.retrieval.pool import RetrievalPool, connect_pool, pool_lease, pool_name, start_pool
from dream_assets.lib.retrieval.query_embeddings import embed_question_sets
from dream_assets.lib.shared_actors import join, leave
from dream_assets.plugins.retrievers import RETRIEVERS
from dream_assets.rag_config import RagConfig
from resources.tracking import MlflowTracker


@dataclass
class PoolHandle:
    """A retrieval pool a sweep's trials use: the `pool` (None when none serves the index) and,
    for a pool sweeps started, the `lease` this sweep holds (`PoolLease`; None for a pool
    started on its own, which no sweep shuts down)."""

    name: str
    pool: RetrievalPool | None
    lease: Any = None


@dataclass
class SweepTrials:
    """A sweep's trials and the pools serving their indexes, by pool name; `holder` names this
    sweep in the pools' leases."""

    trials: list[TrialSettings] = field(default_factory=list)
    pools: dict[str, PoolHandle] = field(default_factory=dict)
    holder: str = field(default_factory=lambda: f"sweep-{uuid.uuid4().hex[:12]}")

    def health(self) -> dict[str, list[dict]]:
        """Each serving pool's health (`RetrievalPool.health`), by name."""
        return {name: handle.pool.health() for name, handle in self.pools.items() if handle.pool is not None}

    def leave_pools(self) -> None:
        """Leaves the leases this sweep holds; the last sweep to leave a pool shuts it down."""
        import ray

        def stopper(pool: RetrievalPool, lease) -> Callable[[], None]:
            def stop() -> None:
                pool.shutdown()
                ray.kill(lease)

            return stop

        for handle in self.pools.values():
            if handle.lease is not None and handle.pool is not None:
                leave(handle.lease, self.holder, stopper(handle.pool, handle.lease))


def sweep_trials(
    context, config, workers: WorkerSettings, golden_version: str, keys: Sequence[str], rungs
) -> SweepTrials:
    """The settings of each configuration's trial (`config`: the `SweepConfig`); joins the
    retrieval pool of each index, or with `retrieval_actors` starts one."""
    sweep = SweepTrials()
    for key in keys:
        rag = workers.search_space.configs_by_key[key]
        pointer = workers.index_pointer(rag.index_key)
        spec = workers.index(rag.index_key, pointer)
        handle = _pool(context, sweep, rag, pool_name(rag.index_key, pointer["version"]), spec, config.retrieval_actors)
        sweep.trials.append(
            TrialSettings(
                config=rag,
                object_store=workers.object_store.settings(),
                index=spec,
                golden_prefix=layout.golden_prefix(golden_version),
                output_key=layout.trial_key(golden_version, key),
                llm=workers.llm(rag.llm),
                seed=config.seed,
                generation_sample_size=config.generation_sample_size,
                llm_cache_dir=workers.llm_cache_dir,
                retrieval_pool=handle.name if handle.pool is not None else "",
                resume=config.resume,
                rungs=rungs,
                repeats=config.repeats,
                metrics=list(workers.search_space.metrics),
                time_budget_s=config.trial_time_budget_s,
            )
        )
    return sweep


def _pool(context, sweep: SweepTrials, rag: RagConfig, name: str, spec, actors: int) -> PoolHandle:
    """The pool `name` serving `rag`'s index, kept in `sweep.pools`: one started on its own
    (used as it is); else, when one runs that sweeps started or `actors` > 0, that pool (or
    `actors` new replicas) held through its lease."""
    if name not in sweep.pools:
        pool = connect_pool(name)
        if pool is not None and pool_lease(name, create=False) is None:
            handle = PoolHandle(name, pool)
        elif pool is None and actors == 0:
            handle = PoolHandle(name, None)
        else:  # held from now on: a sweep that ends first leaves it running for this one
            lease = join(lambda: pool_lease(name, create=True), sweep.holder)
            handle = PoolHandle(name, start_pool(name, spec, actors or (len(pool.actors) if pool else 1)), lease)
        if handle.pool is not None:
            context.log.info("index %s served by retrieval pool %s", rag.index_key, name)
        sweep.pools[name] = handle
    return sweep.pools[name]


def embed_questions(context, workers: WorkerSettings, configs: list[RagConfig], golden_version: str) -> dict:
    """Embeds the question set once per model that a retriever of `configs` queries with (one
    whose retriever uses embeddings, `RetrieverKind.uses_embeddings`); returns the texts
    embedded now by model (0: reused)."""
    models = sorted({c.embedding_model for c in configs if RETRIEVERS.get(c.retriever)().uses_embeddings})
    settings = [workers.embedding(name) for name in models]
    embedded = embed_question_sets(workers.object_store.settings(), golden_version, settings)
    context.log.info("question embeddings (texts embedded now, 0: reused): %s", embedded)
    return embedded


def run_trials(
    context, config, sweep: SweepTrials, rungs, workers: WorkerSettings, tracker: MlflowTracker, parent: str | None
):
    """Runs the sweep on Ray Tune with live MLflow runs under `parent` (none when MLflow was
    unreachable, `parent` None) and a progress bar, and leaves the retrieval pools it holds.
    Returns (outcomes, each pool's health)."""
    golden_version, cluster = sweep.trials[0].golden_version, workers.ray_cluster
    bar, trial_done = _trial_progress(context, len(sweep.trials))
    live = []
    if parent is not None:
        live.append(LiveTrialRuns.for_trials(tracker, parent, sweep.trials, golden_version, workers.corpus))
    settings = SweepSettings(
        storage_path=cluster.storage_path,
        experiment_name=f"sweep-{golden_version}",
        max_concurrent_trials=cluster.max_concurrent_trials,
        trial_resources=dict(cluster.trial_resources),
        on_trial_done=trial_done,
        scheduler=multi_fidelity_scheduler(config.rank_by, rungs, config.reduction_factor),
        callbacks=tuple(live),
        lost_trial_retries=cluster.lost_trial_retries,
    )
    try:
        outcomes: list[TrialOutcome] = run_sweep(sweep.trials, settings)
        bar.update(bar.total - bar.n)  # trials skipped as finished end without a callback
    finally:
        bar.close()
        health = sweep.health()
        sweep.leave_pools()
    return outcomes, health


def _trial_progress(context, total: int):
    """A progress bar of the trials ended (on stderr) and the sweep's callback that moves it and
    logs each trial's end to Dagster."""
    bar = tqdm(total=total, desc="trials", unit="trial", file=sys.stderr)

    def trial_done(key: str, done: int, total: int) -> None:
        bar.update(done - bar.n)
        bar.set_postfix_str(key)
        context.log.info("trial %s ended (%d/%d)", key, done, total)

    return bar, trial_done
