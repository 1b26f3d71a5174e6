"""Asset checks of the sweep and its leaderboard, on the current golden set of the run's corpus.

None blocks: one failed trial is recorded while the rest goes on, so the leaderboard is still
built from the others; the failed check (severity ERROR, or WARN for low coverage) marks the
asset in the Dagster UI, names the configurations and says why.
"""

import dagster as dg
import pandas as pd

from dream_assets import layout
from dream_assets.corpus import corpus_of
from dream_assets.defs.evaluation.leaderboard import experiment_leaderboard
from dream_assets.defs.evaluation.trials import evaluated_configurations, trial_errors, trial_rows
from dream_assets.defs.metadata import table_metadata
from dream_assets.lib.evaluation.summary import coverage_shortfalls
from dream_assets.search_space import SearchSpace
from resources.object_store import ObjectStore

# The least share of attempted questions each metric of a trial must score (the retrieval tier
# on every question, the answer tier on the answered sample); the judge's goal in issue 15 too.
MIN_COVERAGE = 0.9


def _golden_version(context, store) -> str:
    return store.read_json(layout.golden_pointer(corpus_of(context)))["version"]


@dg.asset_check(
    asset="trial_evaluations",
    description="Every configuration's last trial on the current golden set succeeded.",
)
def trials_succeeded(
    context: dg.AssetCheckExecutionContext, object_store: ObjectStore, search_space: dg.ResourceParam[SearchSpace]
) -> dg.AssetCheckResult:
    """Fails (ERROR) when some configuration's last trial on the current golden set failed,
    with each one's error."""
    store = object_store.client()
    errors = trial_errors(store, _golden_version(context, store), search_space.configs_by_key)
    failures = pd.DataFrame(list(errors.items()), columns=["config_key", "error"])
    return dg.AssetCheckResult(
        passed=not errors,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"failed_trials": len(errors), "failures": table_metadata(failures)},
    )


@dg.asset_check(
    asset="trial_evaluations",
    description=f"Every metric of every trial scored at least {MIN_COVERAGE:.0%} of the questions it attempted.",
)
def metrics_cover_the_questions(
    context: dg.AssetCheckExecutionContext, object_store: ObjectStore, search_space: dg.ResourceParam[SearchSpace]
) -> dg.AssetCheckResult:
    """Warns when a trial's metric scored fewer than `MIN_COVERAGE` of the questions it
    attempted (an LLM failing, answers the metric cannot score): its mean would rest on a
    part of the questions that may not be like the rest."""
    store = object_store.client()
    rows, _ = trial_rows(store, _golden_version(context, store), search_space.configs_by_key)
    shortfalls = coverage_shortfalls(rows, MIN_COVERAGE)
    return dg.AssetCheckResult(
        passed=shortfalls.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "minimum_coverage": MIN_COVERAGE,
            "trials": len(rows),
            "shortfalls": table_metadata(shortfalls),
        },
    )


@dg.asset_check(
    asset=experiment_leaderboard,
    description="Every configuration evaluated on the current golden set is on the leaderboard, scored by its last"
    " trial.",
)
def leaderboard_ranks_every_configuration(
    context: dg.AssetCheckExecutionContext, object_store: ObjectStore, search_space: dg.ResourceParam[SearchSpace]
) -> dg.AssetCheckResult:
    """Fails (ERROR) when the stored leaderboard of the current golden set lacks a
    configuration that has a trial there (`missing`: evaluated after the leaderboard was
    built), ranks a failed one without a score or with its retrieval tier only (`failed`,
    `generation_failed`), holds a table its planned trial did not make (`stale`: not ranked), or
    shows the results of an earlier trial of a configuration whose last trial failed (`stale:
    last trial failed`)."""
    store = object_store.client()
    golden_version = _golden_version(context, store)
    board = store.read_parquet(f"{layout.leaderboard_prefix(golden_version)}/leaderboard.parquet")
    evaluated = evaluated_configurations(store, golden_version, search_space.configs_by_key)
    errors = trial_errors(store, golden_version, search_space.configs_by_key)
    problems: list[dict[str, str]] = [
        {"config_key": key, "problem": "missing"} for key in sorted(evaluated - set(board["config_key"]))
    ]
    for row in board.to_dict("records"):
        key, status = str(row["config_key"]), row["status"]
        if status in ("failed", "generation_failed", "stale"):
            problems.append({"config_key": key, "problem": f"{status}: {row['error']}"})
        elif key in errors:
            problems.append({"config_key": key, "problem": f"stale: last trial failed: {errors[key]}"})
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "configurations": len(board),
            "evaluated": len(evaluated),
            "problems": table_metadata(pd.DataFrame(problems, columns=["config_key", "problem"])),
        },
    )
