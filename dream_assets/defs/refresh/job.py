"""The refresh of a watched corpus: one run of `corpus_refresh_job`, which the sensor starts, and
whose stages are Dagster runs of the chain's own jobs (tagged with the corpus and this run's id,
`dream/refresh_run`), so each materialisation shows in the UI with the run that caused it."""

import time
from collections.abc import Callable

import dagster as dg
from pydantic import Field

from dream_assets import layout
from dream_assets.corpus import TAG_CORPUS, applied_versions, write_corpus
from dream_assets.defs.metadata import table_metadata
from dream_assets.defs.pods import pod_resources
from dream_assets.defs.refresh.plan import TAG_REFRESH_RUN, CorpusChanges, RefreshOptions, refresh_stages, tier_one
from dream_assets.defs.stages import run_stage, stage_tags
from dream_assets.partitions import DOCUMENTS
from dream_assets.search_space import SearchSpace
from dream_assets.settings import settings
from dream_assets.state_lock import hold_local_state
from resources.object_store import ObjectStore

# Seconds a refresh waits for the local state directory (the sensor starts none while it is held;
# this covers a `dream run` started between the sensor's look and the refresh): an hour, about a
# full first run of the bundled corpus on 2 CPUs.
REFRESH_LOCK_WAIT_S = settings().refresh_lock_wait_s


class RefreshConfig(dg.Config):
    """What the sensor saw: the corpus' source listing it settled on."""

    listing: dict[str, str] = Field(description="Document id to the source's version (ETag) of each listed document.")


def corpus_refresh_job(definitions: Callable[[], dg.Definitions]) -> dg.JobDefinition:
    """`corpus_refresh_job`: one op, `refresh_corpus`, running the stages of `refresh_stages` from
    the jobs of `definitions()` (the Definitions this job is part of; a function, since they
    are built after it)."""

    @dg.op(name="refresh_corpus", tags={"kind": "dagster"})
    def refresh_corpus(
        context: dg.OpExecutionContext,
        config: RefreshConfig,
        object_store: ObjectStore,
        search_space: dg.ResourceParam[SearchSpace],
    ) -> dg.Output[None]:
        """Brings the run's corpus (`dream/corpus`) to the listing in `config`: adds the new
        documents' partitions, records the corpus' documents, runs each stage, and records the
        listing as applied once every stage succeeded (a failed refresh is retried by the next
        change: the sensor's run key hashes what was applied and the listing).

        Locally, the stages run holding the state directory (`dream_assets.state_lock`),
        waiting up to `REFRESH_LOCK_WAIT_S` for a `dream run` that holds it.

        Raises:
            dagster.Failure: if the run has no corpus or the corpus is not watched.
            dream_assets.state_lock.StateDirectoryBusy: if the state directory stayed held.
            dagster.DagsterError: what a failed stage raised.
        """
        store = object_store.client()
        corpus = context.run.tags.get(TAG_CORPUS, "")
        if not corpus or not store.exists(layout.watch_key(corpus)):
            raise dg.Failure(f"corpus {corpus!r} is not watched: `dream watch --corpus NAME --source URI` binds one")
        binding = store.read_json(layout.watch_key(corpus))
        options = RefreshOptions.model_validate(binding["options"])
        applied = applied_versions(store, corpus)
        changes = CorpusChanges.between(applied, config.listing)
        instance = context.instance
        known = set(instance.get_dynamic_partitions(DOCUMENTS))
        if new := [d for d in changes.added if d not in known]:
            instance.add_dynamic_partitions(DOCUMENTS, new)
        # the corpus is the listing from now on (its golden set and indexes read this record);
        # what was applied is recorded only once every stage succeeded
        write_corpus(store, corpus, sorted(config.listing), binding["source"], applied)
        configs = tier_one(store, corpus, search_space)
        stages = refresh_stages(search_space, options, changes, instance.get_dynamic_partitions(DOCUMENTS), configs)
        context.log.info(
            "refresh of %s: %d added, %d changed, %d deleted; re-evaluating %s",
            corpus,
            len(changes.added),
            len(changes.changed),
            len(changes.deleted),
            ", ".join(configs) if configs else "every configuration (no leaderboard yet)",
        )
        timings = []
        with hold_local_state(f"refresh of corpus {corpus} (run {context.run_id})", REFRESH_LOCK_WAIT_S, context.log):
            for number, stage in enumerate(stages, 1):
                started = time.perf_counter()
                tags = stage_tags(stage, corpus, {TAG_REFRESH_RUN: context.run_id})
                result = run_stage(definitions(), instance, stage, tags, "INFO")
                seconds = time.perf_counter() - started
                timings.append({"stage": stage.title, "run_id": result.run_id, "seconds": seconds})
                context.log.info("stage %d/%d %s: %.1f s (run %s)", number, len(stages), stage.title, *_last(timings))
        write_corpus(store, corpus, sorted(config.listing), binding["source"], config.listing)
        return dg.Output(
            None,
            metadata={
                "corpus": corpus,
                "added": changes.added,
                "changed": changes.changed,
                "deleted": changes.deleted,
                "configurations": configs or "every configuration",
                "seconds": round(sum(row["seconds"] for row in timings), 1),
                "stages": table_metadata(_rounded(timings)),
            },
        )

    # its one op runs in the run's process (on Kubernetes, the run's pod, sized like the index
    # step; no step pod or subprocess of its own: it only launches the stages' runs and waits)
    tags = {"dream/kind": "refresh", **pod_resources("4", "12Gi")}

    @dg.job(name="corpus_refresh_job", tags=tags, executor_def=dg.in_process_executor)
    def refresh_job() -> None:
        """Refreshes a watched corpus (`watched_corpus_sensor` starts it)."""
        refresh_corpus()

    return refresh_job


def _last(timings: list[dict]) -> tuple[float, str]:
    return timings[-1]["seconds"], timings[-1]["run_id"]


def _rounded(timings: list[dict]):
    import pandas as pd

    return pd.DataFrame(timings).assign(seconds=lambda frame: frame["seconds"].round(1))
