"""The report's figures (plotly): each configuration's interval on the ranking metric, and
quality against latency and cost with the Pareto front; one colour per tier in both."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dream_assets.lib.evaluation.leaderboard import ranked

# Tier colours: tier 1 stands out, later tiers fade (cycled past the fifth).
TIER_COLOURS = ["#1b7837", "#2166ac", "#7f7f7f", "#b2abd2", "#d9d9d9"]


def tier_colour(tier: float) -> str:
    """The colour of tier `tier` (1-based) in every plot of the report."""
    if pd.isna(tier):
        return TIER_COLOURS[-1]
    return TIER_COLOURS[min(int(tier), len(TIER_COLOURS)) - 1]


def forest_plot(table: pd.DataFrame, rank_by: str) -> go.Figure:
    """Each ranked configuration's mean `rank_by` on the selection split with its bootstrap 95%
    interval (`<rank_by>_ci95_low/high`), one row per configuration, best on top, coloured by
    tier; the held-out score of each, where there is one, as an open marker.

    Raises:
        KeyError: if `table` has no `rank_by` column.
    """
    rows = ranked(table).iloc[::-1]  # plotly draws the first category at the bottom
    figure = go.Figure()
    low, high = f"{rank_by}_ci95_low", f"{rank_by}_ci95_high"
    for tier, part in rows.groupby(rows.get("tier", pd.Series(1, index=rows.index)), sort=True):
        error = {}
        if low in part and high in part:
            error = {
                "type": "data",
                "symmetric": False,
                "array": (part[high] - part[rank_by]).tolist(),
                "arrayminus": (part[rank_by] - part[low]).tolist(),
            }
        figure.add_trace(
            go.Scatter(
                x=part[rank_by],
                y=part["config_key"],
                mode="markers",
                marker={"color": tier_colour(tier), "size": 10},
                error_x=error,
                name=f"tier {int(tier)}",
                hovertemplate=f"%{{y}}<br>{rank_by} %{{x:.3f}}<extra>tier {int(tier)}</extra>",
            )
        )
    held = f"held_out/{rank_by}"
    if held in rows and rows[held].notna().any():
        figure.add_trace(
            go.Scatter(
                x=rows[held],
                y=rows["config_key"],
                mode="markers",
                marker={"color": "black", "symbol": "circle-open", "size": 9},
                name="held-out",
                hovertemplate=f"%{{y}}<br>held-out {rank_by} %{{x:.3f}}<extra></extra>",
            )
        )
    figure.update_layout(
        title=f"{rank_by} on the selection split, 95% bootstrap intervals, coloured by tier",
        xaxis_title=rank_by,
        yaxis={"categoryorder": "array", "categoryarray": rows["config_key"].tolist()},
        height=max(320, 60 + 28 * len(rows)),
        margin={"l": 20, "r": 20, "t": 60, "b": 40},
        legend={"orientation": "h", "y": -0.15},
    )
    return figure


def pareto_front(quality: pd.Series, cost: pd.Series) -> pd.Series:
    """Which points no other point dominates: none has at least their quality at no more cost,
    and better on one of the two (higher quality is better, lower cost is better).

    Args:
        quality: one value per point (higher is better).
        cost: one value per point, on `quality`'s index (lower is better).

    Returns:
        A boolean Series on that index; points with a missing value are never on the front.
    """
    front = pd.Series(False, index=quality.index)
    present = quality.notna() & cost.notna()
    for label in quality.index[present]:
        q, c = quality[label], cost[label]
        others = present & (quality >= q) & (cost <= c) & ((quality > q) | (cost < c))
        front[label] = not others.any()
    return front


def _cost_axis(rows: pd.DataFrame) -> tuple[pd.Series, str]:
    """The cost per question of each configuration: USD where any configuration costs money,
    else prompt tokens (what a paid LLM would charge for)."""
    answered = rows.get("generated_questions", pd.Series(float("nan"), index=rows.index)).replace(0, float("nan"))
    if "cost_usd" in rows and rows["cost_usd"].fillna(0).gt(0).any():
        return rows["cost_usd"] / answered, "cost per answered question (USD)"
    if "prompt_tokens_per_question" in rows:
        return rows["prompt_tokens_per_question"], "prompt tokens per answered question"
    return pd.Series(float("nan"), index=rows.index), "cost (not measured)"


def pareto_plot(table: pd.DataFrame, rank_by: str) -> go.Figure:
    """Quality (`rank_by`) against latency (retrieval p50 plus generation p50, seconds per
    question) and against cost per answered question, one point per ranked configuration
    coloured by tier; the Pareto front (`pareto_front`) of each panel drawn as a line."""
    rows = ranked(table)
    latency = pd.Series(0.0, index=rows.index)
    for column in ("retrieval_latency_p50_s", "generation_latency_p50_s"):
        if column in rows:
            latency = latency + rows[column].fillna(0)
    cost, cost_title = _cost_axis(rows)
    figure = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.06)
    colours = [tier_colour(tier) for tier in rows.get("tier", pd.Series(1, index=rows.index))]
    for column, x in enumerate([latency, cost], start=1):
        figure.add_trace(
            go.Scatter(
                x=x,
                y=rows[rank_by],
                mode="markers",
                marker={"color": colours, "size": 10},
                text=rows["config_key"],
                hovertemplate=f"%{{text}}<br>{rank_by} %{{y:.3f}}<br>%{{x:.3g}}<extra></extra>",
                showlegend=False,
            ),
            row=1,
            col=column,
        )
        front = pareto_front(rows[rank_by], x)
        line = pd.DataFrame({"x": x[front], "y": rows[rank_by][front]}).sort_values("x")
        figure.add_trace(
            go.Scatter(
                x=line["x"],
                y=line["y"],
                mode="lines",
                line={"color": "#d6604d", "dash": "dot"},
                name="Pareto front",
                showlegend=column == 1,
            ),
            row=1,
            col=column,
        )
    figure.update_xaxes(title_text="latency p50 per question (s): retrieval + generation", row=1, col=1)
    figure.update_xaxes(title_text=cost_title, row=1, col=2)
    figure.update_yaxes(title_text=rank_by, row=1, col=1)
    figure.update_layout(
        title=f"{rank_by} against latency and cost (colour: tier; dotted: the Pareto front)",
        height=460,
        margin={"l": 20, "r": 20, "t": 60, "b": 40},
    )
    return figure
