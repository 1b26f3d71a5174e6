"""The experiment leaderboard: one row per configuration, sorted, and its parallel-coordinates
plot (plotly)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

PARAM_COLUMNS = ["retrieval.method", "embedding_model", "llm", "top_k", "retriever", "reranker"]
STATUS_ORDER = {"ok": 2, "stopped_early": 1, "failed": 0}
PLOT_METRICS = ["hit_rate", "mrr", "f1", "semantic_similarity", "generation_latency_p50_s"]


def build_leaderboard(rows: list[dict], rank_by: str = "mrr") -> pd.DataFrame:
    """Sorts trial rows into a leaderboard.

    Args:
        rows: one dict per configuration: `config_key`, the `RagConfig.params()`, the trial
            metrics, `status` (`ok`; `stopped_early` by a multi-fidelity search, its metrics on
            fewer questions; or `failed`) and `error`.
        rank_by: metric to sort by, descending (then `f1`, then the key, for a stable order),
            within each status: evaluated on every question first, then stopped early, then
            failed.

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
    """Parallel-coordinates plot: the configuration's parameters (categorical axes) then its
    metrics, one line per successful configuration, coloured by `rank_by`."""
    ok = table[table["status"] == "ok"]
    dimensions = []
    for column in PARAM_COLUMNS:
        if column not in ok:
            continue
        values = ok[column].astype(str)
        categories = sorted(values.unique())
        dimensions.append(
            {
                "label": column,
                "values": values.map(categories.index).tolist(),
                "tickvals": list(range(len(categories))),
                "ticktext": categories,
            }
        )
    for column in PLOT_METRICS:
        if column in ok and ok[column].notna().any():
            dimensions.append({"label": column, "values": ok[column].tolist()})
    figure = go.Figure(
        go.Parcoords(
            line={"color": ok[rank_by].tolist(), "colorscale": "Viridis", "showscale": True}, dimensions=dimensions
        )
    )
    figure.update_layout(
        title=f"DREAM leaderboard, coloured by {rank_by}", width=1200, height=550, margin={"l": 120, "r": 60}
    )
    return figure


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
