"""Readers of the sweep's results in the object store, shared by the judge and the leaderboard:
the ranked trials of a golden set, and the judge's scores and calibration."""

from __future__ import annotations

import pandas as pd

from dream_assets import layout
from dream_assets.lib.evaluation.leaderboard import add_evidence, build_leaderboard
from dream_assets.lib.evaluation.summary import summarize
from dream_assets.lib.evaluation.trial_settings import planned_key, table_fingerprint
from dream_assets.rag_config import RagConfig


def ranked_trials(
    store, golden_version: str, rank_by: str, configs: dict[str, RagConfig]
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Every configuration of `configs` (by key) with a trial on golden set `golden_version`, ranked by `rank_by` with
    its evidence (`add_evidence`: intervals, paired tests, Holm tiers), and each successful
    trial's per-question table by configuration key.

    Raises:
        ValueError: when no trial was evaluated on that golden set, or none can be ranked (every
            table stale, every trial failed).
    """
    rows, tables = trial_rows(store, golden_version, configs)
    if not rows:
        raise ValueError(f"no trial evaluated on golden set {golden_version}: materialise trial_evaluations first")
    if not any(row["status"] in ("ok", "stopped_early", "generation_failed") for row in rows):
        reasons = sorted({f"{row['status']}: {row['error']}" for row in rows})
        raise ValueError(f"no trial on golden set {golden_version} can be ranked: {'; '.join(reasons)}")
    return add_evidence(build_leaderboard(rows, rank_by), tables, rank_by), tables


def trial_rows(store, golden_version: str, configs: dict[str, RagConfig]) -> tuple[list[dict], dict[str, pd.DataFrame]]:
    """One row per configuration of `configs` with a trial on golden set `golden_version`: its key, its
    parameters, its trial metrics (`summarize`), `status` and `failed_tier`; and the per-question
    table of each trial that can be ranked, by configuration key.

    `status` is `ok`; `stopped_early` (answered fewer questions than the others, stopped by a
    multi-fidelity search); `generation_failed` (its retrieval tier finished, then answering
    failed: its retrieval metrics are kept, `failed_tier` is `generation`, and it is not ranked
    against the others); `failed` (nothing was scored, `failed_tier` `retrieval`); or `stale` (its
    table was not made by the trial the golden set's latest sweep planned, `stale_reason`: left
    by a killed or stopped run with another sample size, LLM, seed or index; not ranked), each
    with its `error`. A configuration whose table is there is `ok` even if a later attempt failed
    (see `trial_errors`)."""
    rows, tables, answered = [], {}, {}
    planned = {key: planned_key(layout.trial_key(golden_version, key)) for key in configs}
    plans = {key: store.read_json(place) for key, place in planned.items() if store.exists(place)}
    latest = max(plans.values(), key=lambda plan: plan["planned_at"])["sweep"] if plans else ""
    for key, rag in configs.items():
        table_key = layout.trial_key(golden_version, key)
        error_key = layout.trial_error_key(golden_version, key)
        if store.exists(table_key):
            table = store.read_parquet(table_key)
            if reason := stale_reason(table, plans.get(key), latest):
                rows.append({"config_key": key, **rag.params(), "status": "stale", "error": reason, "failed_tier": ""})
                continue
            tables[key] = table
            rows.append({"config_key": key, **rag.params(), **summarize(table), "error": "", "failed_tier": ""})
            answered[key] = rows[-1]["generated_questions"]
        elif store.exists(error_key):
            rows.append({"config_key": key, **rag.params(), **_failure(store, store.read_json(error_key))})
    for row in rows:  # stopped early by a multi-fidelity search: answered fewer than the others
        if row["config_key"] in answered:
            row["status"] = "ok" if answered[row["config_key"]] >= max(answered.values()) else "stopped_early"
    return rows, tables


def stale_reason(table: pd.DataFrame, plan: dict | None, latest_sweep: str) -> str:
    """Why a trial `table` cannot be ranked ('' when it can): it must carry the fingerprint its
    sweep planned (`table_fingerprint`, `planned_record`), and that sweep must have had the
    golden set's latest sweep settings `latest_sweep` (`TrialSettings.sweep_identity`)."""
    made_by = table_fingerprint(table) or "an unstamped trial"
    if plan is None:
        return f"no sweep planned this table (made by {made_by}): evaluate the configuration again"
    if made_by != plan["fingerprint"]:
        return (
            f"table made by {made_by}, its last sweep planned {plan['fingerprint']} (another sample size, LLM,"
            " seed, repeats or index; that run stopped before writing its own): evaluate the configuration again"
        )
    if plan["sweep"] != latest_sweep:
        return (
            "evaluated under sweep settings (seed, generation sample size, repeats, metric plug-ins) other than"
            " the latest sweep's on this golden set: evaluate the configuration again"
        )
    return ""


def _failure(store, record: dict) -> dict:
    """The row of a failed trial from its error record: the retrieval tier's metrics when it
    finished before the generation tier failed (`generation_failed`), else none (`failed`)."""
    retrieval = record.get("retrieval_table", "")
    if retrieval and store.exists(retrieval):
        metrics = summarize(store.read_parquet(retrieval))
        return {**metrics, "status": "generation_failed", "error": record["error"], "failed_tier": "generation"}
    return {"status": "failed", "error": record["error"], "failed_tier": record.get("failed_tier", "retrieval")}


def evaluated_configurations(store, golden_version: str, configs: dict[str, RagConfig]) -> set[str]:
    """The configurations of `configs` with a trial on golden set `golden_version`: a per-question table or
    an error record (the rows of `trial_rows`, without reading the tables)."""
    keys = (layout.trial_key, layout.trial_error_key)
    return {key for key in configs if any(store.exists(place(golden_version, key)) for place in keys)}


def trial_errors(store, golden_version: str, configs: dict[str, RagConfig]) -> dict[str, str]:
    """The error of every configuration of `configs` whose last trial on golden set `golden_version` failed
    (its `<config key>.error.json`, removed when a later trial succeeds), by configuration key."""
    return {
        key: store.read_json(layout.trial_error_key(golden_version, key))["error"]
        for key in configs
        if store.exists(layout.trial_error_key(golden_version, key))
    }


def read_judged(store, golden_version: str) -> pd.DataFrame | None:
    """The judge's per-answer table of golden set `golden_version` (`judge_evaluations`), or
    None when the last judge run judged nothing."""
    key = layout.judged_key(golden_version)
    return store.read_parquet(key) if store.exists(key) else None


def read_calibration(store, golden_version: str) -> dict | None:
    """The judge's calibration record of golden set `golden_version` (`judge_evaluations`), or
    None."""
    key = layout.judge_calibration_key(golden_version)
    return store.read_json(key) if store.exists(key) else None
