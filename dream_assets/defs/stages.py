"""Stages of the chain: each one Dagster run of one job over a range of its partitions, tagged with
its corpus. `dream run` (`dream_assets.cli.chain`) and a watched corpus' refresh
(`dream_assets.defs.refresh`) both run their stages with `run_stage`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import dagster as dg

from dream_assets.corpus import TAG_CORPUS

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


@dataclass(frozen=True)
class Stage:
    """One run of the chain.

    Attributes:
        title: what the run does, as shown to a person.
        job: the job's name (`dream_assets.defs.jobs`).
        keys: the partition keys it covers, contiguous in their definition's order; None for
            an unpartitioned job.
        run_config: the run's config (op configs), without loggers.
    """

    title: str
    job: str
    keys: Sequence[str] | None = None
    run_config: dict = field(default_factory=dict)


def key_ranges(ordered: Sequence[str], wanted: set[str] | Sequence[str]) -> list[list[str]]:
    """`wanted` as runs of keys contiguous in `ordered` (a run covers one partition range, so a
    set of keys that is not contiguous takes one run per range), in `ordered`'s order.

    Raises:
        KeyError: naming the keys of `wanted` that are not in `ordered`.
    """
    wanted = set(wanted)
    if missing := wanted - set(ordered):
        raise KeyError(f"partition keys not defined: {sorted(missing)}")
    ranges: list[list[str]] = []
    previous = False
    for key in ordered:
        inside = key in wanted
        if inside and previous:
            ranges[-1].append(key)
        elif inside:
            ranges.append([key])
        previous = inside
    return ranges


def golden_run_config(golden: dict) -> dict:
    """The golden stage's run config from `golden_config`'s result."""
    return {"ops": {"golden_dataset": {"config": golden}}}


def sweep_run_config(generation_sample_size: int) -> dict:
    """The sweep stage's run config."""
    return {"ops": {"trial_evaluations": {"config": {"generation_sample_size": generation_sample_size}}}}


def leaderboard_run_config(judge_llm: str, sample_size: int, configurations: int) -> dict:
    """The judge-and-leaderboard stage's run config."""
    judge = {"judge_llm": judge_llm, "sample_size": sample_size, "configurations": configurations}
    return {"ops": {"judge_evaluations": {"config": judge}}}


def stage_tags(stage: Stage, corpus: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The run tags of `stage`: its corpus (`dream/corpus`), its partition range, and `extra`."""
    tags = {TAG_CORPUS: corpus, **(extra or {})}
    if stage.keys:
        tags.update({RANGE_START: stage.keys[0], RANGE_END: stage.keys[-1]})
    return tags


def run_stage(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    stage: Stage,
    tags: dict[str, str],
    log_level: str = "WARNING",
    console: dg.LoggerDefinition | None = None,
) -> dg.ExecuteInProcessResult:
    """Runs `stage` in this process against `instance` (its run, events and materialisations are
    the instance's like any other run's), its console logger at `log_level` (`console`
    replaces Dagster's console logger when given).

    Raises:
        dagster.DagsterError: what the run raised (Dagster re-raises a failed step's error).
    """
    job = defs.resolve_job_def(stage.job)
    if console is not None:
        job = job.with_logger_defs({"console": console})
    config = {**stage.run_config, "loggers": {"console": {"config": {"log_level": log_level}}}}
    return job.execute_in_process(instance=instance, tags=tags, run_config=config)
