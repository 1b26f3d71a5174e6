"""The experiment leaderboard: every configuration of the sweep on the current golden set, with
the evidence that separates them and the held-out verdict on the winner."""

import base64
import tempfile

import dagster as dg
import pandas as pd

from dream_assets import layout
from dream_assets.corpus import corpus_of
from dream_assets.defs.evaluation.assets import sweep_run, trial_evaluations
from dream_assets.defs.golden.assets import read_current_golden
from dream_assets.lib.leaderboard import add_evidence, build_leaderboard, parallel_coordinates, save_plot, verdict
from dream_assets.lib.summary import summarize
from dream_assets.partitions import CONFIGS_BY_KEY
from resources.object_store import ObjectStore
from resources.tracking import MlflowTracker

# Columns of the leaderboard shown in the Dagster UI (and printed by the demo), when present.
SHOWN = [
    "rank",
    "tier",
    "config_key",
    "hit_rate",
    "mrr",
    "mrr_n",
    "mrr_ci95_low",
    "mrr_ci95_high",
    "mrr_p_holm",
    "held_out/mrr",
    "held_out/mrr_n",
    "held_out/mrr_ci95_low",
    "held_out/mrr_ci95_high",
    "f1",
    "f1_n",
    "semantic_similarity",
    "generation_latency_p50_s",
    "prompt_tokens_per_question",
    "cost_usd",
    "errors",
    "status",
]


class LeaderboardConfig(dg.Config):
    """`rank_by`: the metric the leaderboard sorts and tiers by (descending, on the selection
    split)."""

    rank_by: str = "mrr"


@dg.asset(deps=[trial_evaluations], group_name="evaluation", kinds={"plotly", "mlflow"}, code_version="2")
def experiment_leaderboard(
    context: dg.AssetExecutionContext, config: LeaderboardConfig, object_store: ObjectStore, tracker: MlflowTracker
) -> dg.MaterializeResult:
    """One row per configuration evaluated on the current golden set, sorted by `rank_by` on
    the selection split: its metrics with their `n`, coverage, latencies (p50/p95), tokens,
    cost and failure counts by reason; bootstrap 95% intervals (`<metric>_ci95_low/high`) and
    paired tests against the first configuration (`<metric>_p_vs_best`); `tier`: configurations
    not significantly worse than their tier's best after Holm's correction; and each metric on
    the held-out split (`held_out/<metric>`, with intervals), the unbiased score of a
    configuration picked on the selection split. Stored with its parallel-coordinates plot
    (`experiment_leaderboard/<golden version>/leaderboard.parquet`, `.html`, `.png`); logged
    to the sweep's MLflow parent run, which it closes. Metadata: the verdict."""
    store = object_store.client()
    corpus = corpus_of(context)
    golden_version, _, _ = read_current_golden(store, corpus)
    rows, tables, answered = [], {}, {}
    for key, rag in CONFIGS_BY_KEY.items():
        table_key = layout.trial_key(golden_version, key)
        error_key = layout.trial_error_key(golden_version, key)
        if store.exists(table_key):
            tables[key] = store.read_parquet(table_key)
            rows.append({"config_key": key, **rag.params(), **summarize(tables[key]), "error": ""})
            answered[key] = rows[-1]["generated_questions"]
        elif store.exists(error_key):
            rows.append(
                {"config_key": key, **rag.params(), "status": "failed", "error": store.read_json(error_key)["error"]}
            )
    if not rows:
        raise ValueError(f"no trial evaluated on golden set {golden_version}: materialise trial_evaluations first")
    for row in rows:  # stopped early by a multi-fidelity search: answered fewer than the others
        if row["config_key"] in answered:
            row["status"] = "ok" if answered[row["config_key"]] >= max(answered.values()) else "stopped_early"
    table = add_evidence(build_leaderboard(rows, config.rank_by), tables, config.rank_by)
    prefix = layout.leaderboard_prefix(golden_version)
    store.write_parquet(f"{prefix}/leaderboard.parquet", table)
    parent = sweep_run(tracker, golden_version, corpus)
    with tempfile.TemporaryDirectory() as directory:
        html, png = save_plot(parallel_coordinates(table, config.rank_by), directory)
        tracker.log_table(parent, table, "leaderboard.parquet")
        for path in (html, png):
            if path is not None:
                store.write_bytes(f"{prefix}/{path.name}", path.read_bytes())
                tracker.log_file(parent, path)
        image = base64.b64encode(png.read_bytes()).decode() if png else None
    tracker.finish(parent)
    said = verdict(table, config.rank_by)
    context.log.info("leaderboard of %d configurations; %s", len(table), said)
    metadata = {
        "corpus": corpus or "(every document partition)",
        "golden_version": golden_version,
        "configurations": len(table),
        "best": str(table.iloc[0]["config_key"]),
        "verdict": said,
        "tier_1": int(table["tier"].eq(1).sum()) if "tier" in table else 0,
        "leaderboard": dg.MetadataValue.md(shown(table).to_markdown(index=False, floatfmt=".3f")),
        "plot_html": dg.MetadataValue.path(store.uri(f"{prefix}/leaderboard.html")),
        "mlflow_sweep_run": dg.MetadataValue.url(tracker.run_url(parent)),
    }
    if image:
        metadata["plot"] = dg.MetadataValue.md(f"![leaderboard](data:image/png;base64,{image})")
    return dg.MaterializeResult(metadata=metadata)


def shown(table: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard's columns a person reads first (`SHOWN`, those present), tiers and counts
    as integers."""
    columns = table[[column for column in SHOWN if column in table]].copy()
    for column in columns:
        if column == "tier" or column.endswith("_n"):
            columns[column] = columns[column].round().astype("Int64")
    return columns
