"""One trial's settings, as plain data (`TrialSettings`: URIs, model names, paths; never a
resource or a live client), its identity (`fingerprint`) and where it keeps what it produced.

Resume: each answer is written to the object store as it completes
(`<table>.parts/<fingerprint>/<question id>.r<repeat>.parquet`); the retrieval tier before the
generation tier starts (`<table>.retrieval/<fingerprint>.parquet`); a finished trial writes its
table and then `<table>.done.json` with the fingerprint and metrics (`finished_metrics`).

Binding: every table a trial writes carries its fingerprint (`stamp`, read back by
`table_fingerprint`), and a sweep records, before it runs, the fingerprint it expects of each of
its trials (`<table>.planned.json`, `planned_record`); the leaderboard ranks a table only when
the two agree and the plan belongs to the golden set's latest sweep settings
(`dream_assets.defs.evaluation.trials.trial_rows`), so a table left by a killed or stopped run
with another sample size, LLM or seed is never ranked.
"""

from __future__ import annotations

import time

import pandas as pd
from pydantic import BaseModel, Field

from dream_assets.hashing import content_hash
from dream_assets.lib.retrieval.index_spec import IndexSpec
from dream_assets.lib.stores.object_store import ObjectStoreSettings
from dream_assets.plugins.llm_providers import LlmSettings
from dream_assets.rag_config import RagConfig


class TimeBudgetSpent(TimeoutError):
    """A trial ran past its `TrialSettings.time_budget_s`."""


# Key of the fingerprint in a trial table's Parquet metadata (pandas `DataFrame.attrs`).
FINGERPRINT_ATTR = "dream.trial_fingerprint"


class TrialSettings(BaseModel):
    """Everything one trial needs, as plain data.

    Attributes:
        config: the RAG configuration evaluated.
        object_store: how to open the object store.
        index: the configuration's embedding index (where it is, its embedding model, the
            node-local scratch directory it and the reranker are downloaded to).
        golden_prefix: object-store prefix of the golden set (`questions.parquet`,
            `contexts.parquet`).
        output_key: object-store key of the per-question table this trial writes.
        llm: the answering LLM.
        seed: seed of the generation sample and the rung order.
        generation_sample_size: questions answered by the LLM (0: all), drawn with `seed`, the
            same for every configuration; every question is retrieved and scored.
        llm_cache_dir: directory of the LLM answer cache ('' for none), shared by the trials on
            one node, each node keeping its own (`dream_assets.lib.node_local`).
        retrieval_pool: name of a running retrieval pool serving this index
            (`dream_assets.lib.retrieval.pool`); '' (or a pool that is gone) loads the index in
            the trial.
        resume: skip the trial if it finished before with the same fingerprint, and the
            answers an interrupted run of it gave (see the module docstring); False answers
            every question again (the LLM cache still answers repeated prompts).
        rungs: multi-fidelity evaluation: growing numbers of sampled questions answered (the
            last: the whole sample), prefixes of the sample's seeded order; metrics are
            reported after each rung (with `generated_questions`, the time attribute of
            `ASHAScheduler`), so a scheduler can stop a weak configuration early. Empty: the
            whole sample, one report.
        time_budget_s: seconds the trial may run (0: no limit); past it, the trial stops at its
            next answer with `TimeBudgetSpent` (its retrieval tier and its answers so far kept: a
            run again resumes from them). Not in the fingerprint.
        repeats: answers per question, the LLM sampling with seeds `llm.seed`, `llm.seed + 1`,
            ... (for an LLM run with temperature > 0); the table has one row per (question,
            `repeat`) for answered questions, and answer metrics report the spread between
            repeats (`<metric>_repeat_std`).
    """

    config: RagConfig
    object_store: ObjectStoreSettings
    index: IndexSpec
    golden_prefix: str
    output_key: str
    llm: LlmSettings
    seed: int = 0
    generation_sample_size: int = Field(default=0, ge=0)
    llm_cache_dir: str = ""
    retrieval_pool: str = ""
    resume: bool = True
    rungs: list[int] = []
    repeats: int = Field(default=1, ge=1)
    metrics: list[str] = []
    time_budget_s: float = Field(default=0.0, ge=0.0)

    def fingerprint(self) -> str:
        """Hash of everything that changes this trial's results (not where it runs, how fast,
        or which pool serves it); a metric plug-in's name is in it, so a finished trial is
        scored again when one is installed."""
        from dream_assets.lib.evaluation.metric_catalog import plugin_metric_names

        plugins = plugin_metric_names(self.metrics)
        return content_hash(
            {
                **({"metric_plugins": plugins} if plugins else {}),
                "config": self.config.identity(),
                # the index version is content-addressed: corpus, chunker and embedding model
                "index": [self.index.index_prefix, self.index.vector_table],
                "golden": self.golden_prefix,
                "llm": self.llm.identity(),
                "seed": self.seed,
                "generation_sample_size": self.generation_sample_size,
                "repeats": self.repeats,
            },
            length=16,
        )

    def sweep_identity(self) -> str:
        """Hash of the settings every trial of one sweep shares (seed, generation sample size,
        repeats, metric plug-ins): tables of one golden set made under another are not ranked
        beside this sweep's."""
        from dream_assets.lib.evaluation.metric_catalog import plugin_metric_names

        return content_hash(
            {
                "seed": self.seed,
                "generation_sample_size": self.generation_sample_size,
                "repeats": self.repeats,
                "metric_plugins": plugin_metric_names(self.metrics),
            },
            length=16,
        )

    @property
    def golden_version(self) -> str:
        """The golden set's version (the last part of `golden_prefix`)."""
        return self.golden_prefix.rstrip("/").rsplit("/", 1)[-1]

    @property
    def parts_prefix(self) -> str:
        """Object-store prefix of the answers given so far by this trial's fingerprint."""
        return f"{self.output_key.removesuffix('.parquet')}.parts/{self.fingerprint()}"

    @property
    def retrieval_key(self) -> str:
        """Object-store key of this fingerprint's retrieval tier (every question retrieved and
        scored, nothing answered), written before the generation tier starts: what the
        leaderboard keeps of a trial whose generation tier failed."""
        return f"{self.output_key.removesuffix('.parquet')}.retrieval/{self.fingerprint()}.parquet"

    @property
    def attempt_key(self) -> str:
        """Object-store key of where the trial's latest attempt runs
        (`dream_assets.lib.evaluation.worker_crash.TrialAttempt`)."""
        return f"{self.output_key.removesuffix('.parquet')}.attempt.json"

    @property
    def done_key(self) -> str:
        """Object-store key of the finished trial's record (fingerprint and metrics)."""
        return f"{self.output_key.removesuffix('.parquet')}.done.json"

    @property
    def planned_key(self) -> str:
        """Object-store key of the sweep's plan for this trial (`planned_record`)."""
        return planned_key(self.output_key)


def planned_key(output_key: str) -> str:
    """Object-store key of the plan recorded for the trial writing table `output_key`."""
    return f"{output_key.removesuffix('.parquet')}.planned.json"


def planned_record(settings: TrialSettings) -> dict:
    """What a sweep records of a trial before running it: the `fingerprint` its table must
    carry, the `sweep` identity (`TrialSettings.sweep_identity`) and `planned_at` (Unix
    seconds), by which the leaderboard knows the golden set's latest sweep settings."""
    return {"fingerprint": settings.fingerprint(), "sweep": settings.sweep_identity(), "planned_at": time.time()}


def stamp(table: pd.DataFrame, settings: TrialSettings) -> pd.DataFrame:
    """`table` carrying the fingerprint of the trial that made it (kept in its Parquet
    metadata by `DataFrame.to_parquet`)."""
    table.attrs[FINGERPRINT_ATTR] = settings.fingerprint()
    return table


def table_fingerprint(table: pd.DataFrame) -> str:
    """The fingerprint a trial table was stamped with (`stamp`); '' for a table made before
    tables were stamped."""
    return str(table.attrs.get(FINGERPRINT_ATTR, ""))


def finished_metrics(store, settings: TrialSettings) -> dict[str, float] | None:
    """The metrics of an earlier run of this very trial (its `done.json` and its table both
    carry this fingerprint), or None when it has to run."""
    if not (store.exists(settings.done_key) and store.exists(settings.output_key)):
        return None
    fingerprint = settings.fingerprint()
    record = store.read_json(settings.done_key)
    if record.get("fingerprint") != fingerprint:
        return None
    if table_fingerprint(store.read_parquet(settings.output_key)) != fingerprint:
        return None  # a later run with other settings wrote the table, then stopped
    return record["metrics"]
