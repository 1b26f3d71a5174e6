"""The experiment leaderboard: one row per configuration, sorted, and its parallel-coordinates
plot (plotly)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

PARAM_COLUMNS = ["parser", "retrieval.method", "embedding_model", "llm", "top_k", "retriever", "reranker"]
STATUS_ORDER = {"ok": 3, "stopped_early": 2, "generation_failed": 1, "failed": 0, "stale": -1}
# The statuses the leaderboard ranks: evaluated on every question, or stopped early by a search.
RANKED_STATUSES = ("ok", "stopped_early")


def ranked(table: pd.DataFrame) -> pd.DataFrame:
    """The configurations the leaderboard ranks (status ok or stopped early), best first."""
    return table[table["status"].isin(RANKED_STATUSES)]


def plot_columns() -> list[str]:
    """The plot's metric axes: the tier, the plotted retrieval metrics (`Metric.plotted`,
    `dream_assets.lib.evaluation.metric_catalog`), held-out MRR, the plotted answer metrics, latency."""
    from dream_assets.lib.evaluation.metric_catalog import plotted_metrics

    return [
        "tier",
        *plotted_metrics("retrieval"),
        "held_out/mrr",
        *plotted_metrics("answer"),
        "generation_latency_p50_s",
    ]


def build_leaderboard(rows: list[dict], rank_by: str = "mrr") -> pd.DataFrame:
    """Sorts trial rows into a leaderboard.

    Args:
        rows: one dict per configuration: `config_key`, the `RagConfig.params()`, the trial
            metrics, `status` (`ok`; `stopped_early` by a multi-fidelity search, its metrics on
            fewer questions; `generation_failed`, its retrieval metrics only; `failed`; or
            `stale`, a table not made by its planned trial, no metrics) and `error`.
        rank_by: metric to sort by, descending (then `f1`, then the key, for a stable order),
            within each status: evaluated on every question first, then stopped early, then
            those whose generation tier failed, then failed, then stale.

    Returns:
        The table with a 1-based `rank` column first.

    Raises:
        ValueError: if no row has the `rank_by` metric.
    """
    table = pd.DataFrame(rows)
    if rank_by not in table:
        raise ValueError(f"rank_by {rank_by!r} is not a metric of any trial; columns: {sorted(table.columns)}")
    keys = [rank_by] + (["f1"] if "f1" in table and rank_by != "f1" else [])
    table = table.sort_values(
        by=["status", *keys, "config_key"],
        ascending=[False, *([False] * len(keys)), True],
        key=lambda column: column.map(STATUS_ORDER) if column.name == "status" else column,
        na_position="last",
    ).reset_index(drop=True)
    table.insert(0, "rank", range(1, len(table) + 1))
    return table


def parallel_coordinates(table: pd.DataFrame, rank_by: str) -> go.Figure:
    """Parallel-coordinates plot: the parameters that vary between configurations (categorical
    axes; the fixed ones are named in the title), then the tier (1 on top) and the metrics, each
    labelled with its `n`; one line per successful configuration, coloured by `rank_by`."""
    ok = table[table["status"] == "ok"]
    dimensions, fixed = [], []
    for column in PARAM_COLUMNS:
        if column not in ok:
            continue
        values = ok[column].astype(str)
        categories = sorted(values.unique())
        if len(categories) == 1:
            fixed.append(f"{column} {categories[0]}")
            continue
        dimensions.append(
            {
                "label": column.removeprefix("retrieval."),
                "values": values.map(categories.index).tolist(),
                "tickvals": list(range(len(categories))),
                "ticktext": categories,
            }
        )
    for column in plot_columns():
        if column in ok and ok[column].notna().any():
            dimension = {"label": column, "values": ok[column].tolist()}
            if f"{column}_n" in ok:
                dimension["label"] = f"{column} (n={int(ok[f'{column}_n'].max())})"
            if column == "tier":
                dimension["range"] = [float(ok["tier"].max()), 1.0]
                dimension["tickvals"] = sorted({float(tier) for tier in ok["tier"].dropna()})
            dimensions.append(dimension)
    figure = go.Figure(
        go.Parcoords(
            line={"color": ok[rank_by].tolist(), "colorscale": "Viridis", "showscale": True},
            dimensions=dimensions,
            labelangle=-20,
        )
    )
    title = f"DREAM leaderboard, coloured by {rank_by}" + (f"<br><sup>{', '.join(fixed)}</sup>" if fixed else "")
    figure.update_layout(title=title, width=1400, height=620, margin={"l": 150, "r": 60, "t": 150})
    return figure


def add_evidence(table: pd.DataFrame, tables: dict[str, pd.DataFrame], rank_by: str, seed: int = 0) -> pd.DataFrame:
    """Adds the statistics that say which differences are real to a `build_leaderboard` table.

    On the selection split (the rows the configurations were ranked on): bootstrap 95%
    intervals (`<metric>_ci95_low/high`) and the paired test against the first configuration
    (`<metric>_p_vs_best`) of `rank_by` and the evidence metrics (`Metric.evidence`: hit rate,
    MRR, nDCG, F1 and plug-ins); tiers by `rank_by`,
    Holm-corrected (`tier`, `<rank_by>_p_holm`; `dream_assets.lib.evaluation.statistics.holm_tiers`). On
    the held-out split: the same intervals as `held_out/<metric>_ci95_low/high`.

    Args:
        table: the leaderboard, best first (`config_key`, `status`).
        tables: per-question tables by configuration key (a `split` column marks held-out rows).
        rank_by: the ranking metric.
        seed: seed of the resamples.
    """
    from dream_assets.lib.evaluation.metric_catalog import evidence_metrics
    from dream_assets.lib.evaluation.statistics import holm_tiers, leaderboard_statistics
    from dream_assets.lib.golden.splits import HELD_OUT

    ranked = [key for key in table["config_key"] if key in tables]
    if not ranked:
        return table
    metrics = list(dict.fromkeys([rank_by, *evidence_metrics()]))
    held = {
        key: t["split"].eq(HELD_OUT) if "split" in t else pd.Series(False, index=t.index) for key, t in tables.items()
    }
    selection = {key: tables[key][~held[key]] for key in ranked}
    statistics = pd.DataFrame.from_dict(leaderboard_statistics(selection, ranked[0], metrics, seed), orient="index")
    tiers = pd.DataFrame.from_dict(holm_tiers(selection, ranked, rank_by, seed=seed), orient="index")
    table = table.join(statistics, on="config_key").join(tiers, on="config_key")
    held_out = {key: tables[key][held[key]] for key in ranked if held[key].any()}
    if held_out:
        intervals = leaderboard_statistics(held_out, next(iter(held_out)), metrics, seed)
        renamed = {
            key: {f"held_out/{name}": value for name, value in row.items() if "_ci95_" in name}
            for key, row in intervals.items()
        }
        table = table.join(pd.DataFrame.from_dict(renamed, orient="index"), on="config_key")
    return table


def verdict(table: pd.DataFrame, rank_by: str) -> str:
    """The sentence DREAM quotes: the winner picked on the selection split and its score on the
    held-out split with its 95% interval and `n` (the unbiased estimate), and its tier's size."""
    best = table.iloc[0]
    held = f"held_out/{rank_by}"
    selection = f"{rank_by} {best[rank_by]:.3f} on {int(best.get(f'{rank_by}_n', 0))} selection questions"
    if held in table and pd.notna(best[held]):
        low, high = best.get(f"{held}_ci95_low"), best.get(f"{held}_ci95_high")
        quoted = (
            f"held-out {rank_by} {best[held]:.3f} [95% CI {low:.3f}, {high:.3f}]"
            f" on {int(best[f'{held}_n'])} held-out questions"
        )
    else:
        quoted = "no held-out split (see the golden set's metadata): its score is the selection score"
    tier = table["tier"].eq(1).sum() if "tier" in table else 1
    return (
        f"winner {best['config_key']}: {quoted}; picked on {selection};"
        f" {tier} configuration(s) in tier 1 (not significantly worse, Holm-corrected)"
    )


def save_plot(figure: go.Figure, directory: str | Path) -> tuple[Path, Path | None]:
    """Writes `leaderboard.html` and, when kaleido can render, `leaderboard.png`.

    Returns:
        (html path, png path or None if the PNG could not be rendered).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    html = directory / "leaderboard.html"
    figure.write_html(html, include_plotlyjs=True)
    png = directory / "leaderboard.png"
    try:
        figure.write_image(png)
    except (ValueError, RuntimeError, OSError):
        return html, None
    return html, png
