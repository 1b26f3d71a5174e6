"""The experiment leaderboard: every configuration of the sweep on the current golden set, with
the evidence that separates them and the held-out verdict on the winner."""

import base64
import tempfile
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from dream_assets import layout
from dream_assets.corpus import corpus_of
from dream_assets.defs.evaluation.judging import judge_evaluations
from dream_assets.defs.evaluation.mlflow_runs import replay_pending, sweep_run
from dream_assets.defs.evaluation.report import REPORT_NAME, report_key, write_report
from dream_assets.defs.evaluation.trials import ranked_trials, read_calibration, read_judged
from dream_assets.defs.metadata import table_asset_metadata, table_metadata
from dream_assets.defs.readers import read_current_golden, read_golden_sizing, read_parsed_documents
from dream_assets.defs.refresh.lineage import record_leaderboard
from dream_assets.defs.refresh.plan import TAG_REFRESH_RUN
from dream_assets.lib.evaluation.judging import judge_summary
from dream_assets.lib.evaluation.leaderboard import parallel_coordinates, ranked, save_plot, verdict
from dream_assets.lib.evaluation.tiers import RAGAS_JUDGE_METRICS
from dream_assets.lib.golden.agreement import is_synthetic, read_agreement
from dream_assets.lib.retrieval.indexes import corpus_version
from dream_assets.search_space import SearchSpace
from resources.object_store import ObjectStore
from resources.tracking import MlflowTracker

TAG_JUDGE_LLM = "dream.judge_llm"
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
    """How the leaderboard ranks."""

    rank_by: str = Field(
        default="mrr", description="The metric the leaderboard sorts and tiers by (descending, on the selection split)."
    )


@dg.asset(deps=[judge_evaluations], group_name="evaluation", kinds={"plotly", "mlflow"}, code_version="3")
def experiment_leaderboard(
    context: dg.AssetExecutionContext,
    config: LeaderboardConfig,
    object_store: ObjectStore,
    tracker: MlflowTracker,
    search_space: dg.ResourceParam[SearchSpace],
) -> dg.MaterializeResult:
    """One row per configuration evaluated on the current golden set, sorted by `rank_by` on
    the selection split: its metrics with their `n`, coverage, latencies (p50/p95), tokens,
    cost and failure counts by reason; bootstrap 95% intervals (`<metric>_ci95_low/high`) and
    paired tests against the first configuration (`<metric>_p_vs_best`); `tier`: configurations
    not significantly worse than their tier's best after Holm's correction; and each metric on
    the held-out split (`held_out/<metric>`, with intervals), the unbiased score of a
    configuration picked on the selection split; for the configurations the judge scored
    (`judge_evaluations`), ragas' LLM-judged metrics with their `n` and coverage. Stored with
    its parallel-coordinates plot (`experiment_leaderboard/<golden version>/leaderboard.parquet`,
    `.html`, `.png`) and its report (`report.html`, `dream_assets.lib.evaluation.report`); logged to
    the sweep's MLflow parent run, which it closes, with the judge's
    calibration as `judge_calibration/<figure>` metrics (this run's judged answers) and
    `judge_calibration/reference/<figure>` (the judge model's 100-answer benchmark). Metadata:
    the verdict and the calibration; on a named corpus, its lineage (`record_leaderboard`: the
    corpus version, the documents added and removed since the previous leaderboard, the refresh
    run that ran it)."""
    store = object_store.client()
    corpus = corpus_of(context)
    golden_version, questions, _ = read_current_golden(store, corpus)
    table, _ = ranked_trials(store, golden_version, config.rank_by, search_space.configs_by_key)
    judge_table = read_judged(store, golden_version)
    if judge_table is not None:
        table = with_judge_spend(table.merge(judge_summary(judge_table), on="config_key", how="left"))
    prefix = layout.leaderboard_prefix(golden_version)
    store.write_parquet(f"{prefix}/leaderboard.parquet", table)
    parent = sweep_run(tracker, golden_version, corpus)
    replay_pending(context, store, tracker)  # trial records a sweep queued while MLflow was down
    image = _store_and_log_plot(store, tracker, parent, table, config.rank_by, prefix)
    calibration = read_calibration(store, golden_version) if judge_table is not None else None
    if calibration:
        tracker.log_trial(parent, {}, calibration_metrics(calibration))
        tracker.client().set_tag(parent, TAG_JUDGE_LLM, calibration["judge_llm"])  # a tag: a later judge may differ
    said = verdict(table, config.rank_by)
    _store_and_log_report(store, tracker, parent, corpus, golden_version, table, said)
    tracker.finish(parent)
    context.log.info("leaderboard of %d configurations; %s", len(table), said)
    metadata = {
        "corpus": corpus or "(every document partition)",
        "golden_version": golden_version,
        "configurations": len(table),
        "best": str(table.iloc[0]["config_key"]),
        "verdict": said,
        "tier_1": int(table["tier"].eq(1).sum()) if "tier" in table else 0,
        "leaderboard": table_metadata(shown(table)),
        **table_asset_metadata(table),
        "report": dg.MetadataValue.path(store.uri(report_key(golden_version))),
        "plot_html": dg.MetadataValue.path(store.uri(f"{prefix}/leaderboard.html")),
        "mlflow_sweep_run": dg.MetadataValue.url(tracker.run_url(parent)),
    }
    if corpus:
        metadata.update(_lineage(context, store, corpus, golden_version))
    if is_synthetic(questions):  # how far such a verdict agrees with humans'
        metadata["synthetic_agreement"] = dg.MetadataValue.json(read_agreement())
    if sizing := read_golden_sizing(store, golden_version):  # how large the set was made, and why
        metadata["golden_sizing"] = sizing["note"]
    if calibration:
        metadata["judged"] = table_metadata(judged(table))
        metadata["judge_calibration"] = dg.MetadataValue.json(calibration)
    if image:
        metadata["plot"] = dg.MetadataValue.md(f"![leaderboard](data:image/png;base64,{image})")
    return dg.MaterializeResult(metadata=metadata)


def _lineage(context, store, corpus: str, golden_version: str) -> dict:
    """Records the leaderboard as `corpus`' last (`record_leaderboard`); returns its lineage."""
    documents = list(read_parsed_documents(context.instance, store, corpus).values())
    ids = [document.document_id for document in documents]
    version, refresh_run = corpus_version(documents), context.run.tags.get(TAG_REFRESH_RUN, "")
    return record_leaderboard(store, corpus, golden_version, version, ids, context.run_id, refresh_run)


def _store_and_log_plot(store, tracker: MlflowTracker, parent: str, table: pd.DataFrame, rank_by: str, prefix: str):
    """Draws the parallel-coordinates plot; stores it beside the leaderboard (`.html`, `.png`)
    and logs it with the table to the sweep's MLflow run (the figure through `log_figure`, the
    table as Parquet and as an MLflow table). Returns the PNG, base64, or None if it could not
    be rendered."""
    figure = parallel_coordinates(table, rank_by)
    tracker.log_figure(parent, figure, "leaderboard.html")
    tracker.log_table(parent, table, "leaderboard.parquet")
    tracker.log_preview_table(parent, table, "leaderboard")
    with tempfile.TemporaryDirectory() as directory:
        html, png = save_plot(figure, directory)
        for path in (html, png):
            if path is not None:
                store.write_bytes(f"{prefix}/{path.name}", path.read_bytes())
        if png is None:
            return None
        tracker.log_file(parent, png)
        return base64.b64encode(png.read_bytes()).decode()


def _store_and_log_report(store, tracker: MlflowTracker, parent: str, corpus: str, golden: str, table, said: str):
    """Writes the leaderboard's report (`dream_assets.defs.evaluation.report`) beside it and logs
    it to the sweep's MLflow run (`report.html`); none when it ranks no configuration."""
    if ranked(table).empty:
        return
    page = write_report(store, corpus, golden, table, said)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / REPORT_NAME
        path.write_text(page, encoding="utf-8")
        tracker.log_file(parent, path)


def with_judge_spend(table: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard with the judge's spend on each configuration counted in its `cost_usd`
    (answers plus judging), `answer_cost_usd` keeping the answers' part; unchanged without a
    `judge_cost_usd` column."""
    if "judge_cost_usd" not in table:
        return table
    answers = table["cost_usd"]
    position = list(table.columns).index("cost_usd")
    table = table.assign(cost_usd=answers + table["judge_cost_usd"].fillna(0.0))
    table.insert(position + 1, "answer_cost_usd", answers)
    return table


def judged(table: pd.DataFrame) -> pd.DataFrame:
    """The judged configurations' rows: key, rank, tier, ragas' LLM-judged metrics and the
    answers judged (`judged_n`); empty when nothing was judged."""
    if "faithfulness_n" not in table:
        return pd.DataFrame()
    rows = table[table["faithfulness_n"].notna()]
    columns = ["rank", "tier", "config_key", *[name for name in RAGAS_JUDGE_METRICS if name in rows]]
    part = rows[[column for column in columns if column in rows]].copy()
    part["judged_n"] = rows[[f"{name}_n" for name in RAGAS_JUDGE_METRICS if f"{name}_n" in rows]].max(axis=1)
    return shown_types(part)


def calibration_metrics(calibration: dict) -> dict[str, float]:
    """The judge's calibration record as flat MLflow metrics: `judge_calibration/<figure>` for
    this run's judged answers, `judge_calibration/reference/<figure>` for the benchmark's."""
    metrics = {f"judge_calibration/{name}": value for name, value in calibration.get("this_run", {}).items()}
    for name, value in calibration.get("reference", {}).items():
        if isinstance(value, int | float):
            metrics[f"judge_calibration/reference/{name}"] = float(value)
    return metrics


def shown(table: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard's columns a person reads first (`SHOWN`, with each plug-in metric and its
    `n` after the built-in ones, and the parser when configurations differ in it; those present),
    tiers and counts as integers."""
    from dream_assets.lib.evaluation.metric_catalog import plugin_metric_names

    at = SHOWN.index("generation_latency_p50_s")
    plugins = [column for name in plugin_metric_names() for column in (name, f"{name}_n")]
    columns = SHOWN[:at] + plugins + SHOWN[at:]
    if "parser" in table and table["parser"].nunique() > 1:  # the parser is a dimension of this sweep
        columns.insert(columns.index("config_key") + 1, "parser")
    return shown_types(table[[column for column in columns if column in table]].copy())


def shown_types(columns: pd.DataFrame) -> pd.DataFrame:
    """`columns` with the tier and every count (`*_n`) as integers."""
    for column in map(str, columns.columns):
        if column == "tier" or column.endswith("_n"):
            columns[column] = columns[column].round().astype("Int64")
    return columns
