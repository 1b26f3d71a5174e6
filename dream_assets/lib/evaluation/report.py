"""The leaderboard's report: one self-contained HTML page a person can open or send.

The page holds the verdict in one sentence, the leaderboard with its tiers, a forest plot of each
configuration's 95% interval on the ranking metric, quality against latency and cost with the
Pareto front, the questions the winner misses and those the tier-1 configurations disagree on
(with the retrieved and reference contexts), the golden set's make-up, the judge's calibration
and the parse outcome of every document. plotly.js is inlined: the page needs no network.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

# Tier colours: tier 1 stands out, later tiers fade (cycled past the fifth).
TIER_COLOURS = ["#1b7837", "#2166ac", "#7f7f7f", "#b2abd2", "#d9d9d9"]
RANKED_STATUSES = ("ok", "stopped_early")
# How much of a context the per-question view shows (characters).
CONTEXT_CHARS = 400
# Rows of each per-question table.
QUESTION_ROWS = 25


@dataclass(frozen=True)
class ReportInputs:
    """What the report is drawn from.

    Attributes:
        corpus: the corpus' name ('' for every document partition).
        golden_version: the golden set's version.
        leaderboard: the leaderboard table (`experiment_leaderboard`), best first.
        rank_by: the metric it ranks by (a column of `leaderboard`).
        verdict: the verdict sentence (`dream_assets.lib.evaluation.leaderboard.verdict`).
        trials: per-question trial tables by configuration key, at least the winner's and the
            tier-1 configurations' (columns `question_id`, `document_id`, `user_input`, `split`,
            `hit_rate`, `reference_contexts`, `retrieved_contexts`).
        questions: the golden set's questions (`document_id`, `split`, `synthesizer_name`).
        documents: one dict per (document, parser): `document_id`, `parser`, `outcome`
            ('parsed' or 'quarantined'), `reason`, `detail`, `language`, `characters`.
        calibration: the judge's calibration record, or None when nothing was judged.
        judged: the judged configurations' rows (`dream_assets.defs.evaluation.leaderboard.judged`).
    """

    corpus: str
    golden_version: str
    leaderboard: pd.DataFrame
    rank_by: str
    verdict: str
    trials: dict[str, pd.DataFrame]
    questions: pd.DataFrame
    documents: list[dict] = field(default_factory=list)
    calibration: dict | None = None
    judged: pd.DataFrame = field(default_factory=pd.DataFrame)


def tier_colour(tier: float) -> str:
    """The colour of tier `tier` (1-based) in every plot of the report."""
    if pd.isna(tier):
        return TIER_COLOURS[-1]
    return TIER_COLOURS[min(int(tier), len(TIER_COLOURS)) - 1]


def ranked(table: pd.DataFrame) -> pd.DataFrame:
    """The configurations the leaderboard ranks (status ok or stopped early), best first."""
    return table[table["status"].isin(RANKED_STATUSES)]


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


def _clip(text, limit: int = CONTEXT_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first(values) -> str:
    """The first of a list-like cell ('' when empty or missing)."""
    if values is None or isinstance(values, float):
        return ""
    values = list(values)
    return str(values[0]) if values else ""


def _clip_first(values) -> str:
    return _clip(_first(values))


def _spread(rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` taken one document at a time (each document's first, then each one's second, …),
    so that the first rows shown cover every document."""
    turn = rows.groupby("document_id", sort=False).cumcount()
    return rows.assign(_turn=turn.to_numpy()).sort_values("_turn", kind="stable").drop(columns="_turn")


def missed_questions(trial: pd.DataFrame, limit: int = QUESTION_ROWS) -> pd.DataFrame:
    """The questions configuration `trial` retrieved no reference context for (hit rate 0),
    with the first reference context and the top retrieved one, at most `limit` rows (in the
    golden set's order, one document at a time: `_spread`).

    Returns:
        Columns question_id, document, split, question, reference context, top retrieved context.
    """
    if "hit_rate" not in trial:
        return pd.DataFrame()
    missed = _spread(trial[trial["hit_rate"].eq(0)].drop_duplicates("question_id")).head(limit)
    return pd.DataFrame(
        {
            "question_id": missed["question_id"],
            "document": missed["document_id"],
            "split": missed.get("split", ""),
            "question": missed["user_input"].map(_clip),
            "reference answer": missed["reference"].map(_clip) if "reference" in missed else "",
            "reference context": missed["reference_contexts"].map(_clip_first),
            "top retrieved context": missed["retrieved_contexts"].map(_clip_first),
        }
    ).reset_index(drop=True)


def disagreements(trials: dict[str, pd.DataFrame], keys: list[str], limit: int = QUESTION_ROWS) -> pd.DataFrame:
    """The questions on which configurations `keys` (tier 1) disagree: some retrieve a reference
    context (hit rate 1), others none, with which do, at most `limit` rows.

    Returns:
        Columns question_id, document, question, retrieved by, missed by, reference context;
        empty with fewer than two configurations.
    """
    keys = [key for key in keys if key in trials and "hit_rate" in trials[key]]
    if len(keys) < 2:
        return pd.DataFrame()
    hits = pd.DataFrame(
        {key: trials[key].drop_duplicates("question_id").set_index("question_id")["hit_rate"] for key in keys}
    ).dropna()
    first = trials[keys[0]].drop_duplicates("question_id").set_index("question_id")
    split = hits[(hits.max(axis=1) > 0) & (hits.min(axis=1) == 0)]
    order = _spread(first.loc[split.index, ["document_id"]]).index
    split = split.loc[order].head(limit)
    return pd.DataFrame(
        {
            "question_id": split.index,
            "document": first.loc[split.index, "document_id"].to_numpy(),
            "question": first.loc[split.index, "user_input"].map(_clip).to_numpy(),
            "retrieved by": [", ".join(k for k in keys if row[k] > 0) for _, row in split.iterrows()],
            "missed by": [", ".join(k for k in keys if row[k] == 0) for _, row in split.iterrows()],
            "reference context": first.loc[split.index, "reference_contexts"].map(_clip_first).to_numpy(),
        }
    )


def golden_make_up(questions: pd.DataFrame) -> pd.DataFrame:
    """Questions of the golden set by document and kind (`synthesizer_name`, 'human' for human
    questions) and split, with a total row."""
    kind = questions.get("synthesizer_name", pd.Series("unknown", index=questions.index)).fillna("unknown")
    split = questions.get("split", pd.Series("selection", index=questions.index)).fillna("selection")
    counts = pd.crosstab([questions["document_id"], kind], split, margins=True, margins_name="total")
    counts.index = counts.index.set_names(["document", "kind"])
    return counts.reset_index()


def _table(frame: pd.DataFrame, table_id: str) -> str:
    """`frame` as an HTML table (every cell escaped), or a line saying it is empty."""
    if frame.empty:
        return f'<p id="{table_id}" class="empty">none</p>'
    table = frame.to_html(index=False, escape=True, table_id=table_id, na_rep="", float_format=lambda v: f"{v:.3f}")
    return f'<div class="scroll">{table}</div>'


def _figure(figure: go.Figure, div_id: str) -> str:
    return figure.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config={"displaylogo": False})


def _leaderboard_columns(table: pd.DataFrame, rank_by: str) -> pd.DataFrame:
    held = f"held_out/{rank_by}"
    columns = [
        "rank",
        "tier",
        "config_key",
        rank_by,
        f"{rank_by}_ci95_low",
        f"{rank_by}_ci95_high",
        f"{rank_by}_n",
        held,
        f"{held}_ci95_low",
        f"{held}_ci95_high",
        "hit_rate",
        "f1",
        "retrieval_latency_p50_s",
        "generation_latency_p50_s",
        "prompt_tokens_per_question",
        "cost_usd",
        "status",
        "error",
    ]
    shown = table[[column for column in dict.fromkeys(columns) if column in table]].copy()
    for column in ("tier", f"{rank_by}_n"):
        if column in shown:
            shown[column] = shown[column].round().astype("Int64")
    return shown


def _calibration(calibration: dict | None, judged: pd.DataFrame) -> str:
    if not calibration:
        return "<p>Nothing was judged in this run (answers are scored on token F1 and retrieval alone).</p>"
    parts = [f"<p>Judge: {html.escape(str(calibration.get('judge_llm', '')))}</p>"]
    figures = {
        label: figure
        for label, figure in (("this run", calibration.get("this_run")), ("benchmark", calibration.get("reference")))
        if isinstance(figure, dict) and figure
    }
    if figures:
        frame = pd.DataFrame(figures).T.reset_index(names="figures of")
        parts.append(_table(frame, "calibration"))
    parts.append(_table(judged, "judged"))
    return "\n".join(parts)


def render_report(inputs: ReportInputs) -> str:
    """The report as one HTML document (UTF-8 text, plotly.js inlined: about 4.7 MB).

    Raises:
        ValueError: if the leaderboard ranks no configuration.
    """
    table = inputs.leaderboard
    rows = ranked(table)
    if rows.empty:
        raise ValueError(f"golden set {inputs.golden_version}: the leaderboard ranks no configuration")
    winner = str(rows.iloc[0]["config_key"])
    tier_1 = rows[rows["tier"].eq(1)]["config_key"].tolist() if "tier" in rows else [winner]
    winner_trial = inputs.trials.get(winner, pd.DataFrame())
    missed = missed_questions(winner_trial) if not winner_trial.empty else pd.DataFrame()
    missed_total = int(winner_trial["hit_rate"].eq(0).sum()) if "hit_rate" in winner_trial else 0
    disagreeing = disagreements(inputs.trials, tier_1)
    unranked = table[~table["status"].isin(RANKED_STATUSES)][["config_key", "status", "error"]]
    documents = pd.DataFrame(inputs.documents)
    parsed = int(documents["outcome"].eq("parsed").sum()) if not documents.empty else 0
    title = f"DREAM report: corpus {inputs.corpus or '(every document)'}, golden set {inputs.golden_version}"
    summary = {
        "corpus": inputs.corpus,
        "golden_version": inputs.golden_version,
        "winner": winner,
        "rank_by": inputs.rank_by,
        "tier_1": tier_1,
        "configurations": len(table),
        "questions": len(inputs.questions),
    }
    forest = _figure(forest_plot(table, inputs.rank_by), "forest-plot")
    pareto = _figure(pareto_plot(table, inputs.rank_by), "pareto-plot")
    data = json.dumps(summary).replace("</", "<\\/")  # no `</script>` inside the script element
    body = f"""
<h1>{html.escape(title)}</h1>
<p id="verdict" class="verdict">{html.escape(inputs.verdict)}</p>
<nav><a href="#leaderboard">Leaderboard</a> · <a href="#forest">Intervals</a> · <a href="#pareto">Cost</a>
 · <a href="#questions">Questions</a> · <a href="#golden">Golden set</a> · <a href="#judge">Judge</a>
 · <a href="#documents">Documents</a></nav>
<section id="leaderboard"><h2>Leaderboard</h2>
<p>Ranked by {html.escape(inputs.rank_by)} on the selection split; tier 1: not significantly worse than the best
(paired tests, Holm-corrected); held-out: the unbiased score of a configuration picked on the selection split.</p>
{_table(_leaderboard_columns(table, inputs.rank_by), "leaderboard-table")}
<h3>Not ranked</h3>{_table(unranked, "unranked")}</section>
<section id="forest"><h2>Intervals</h2>{forest}</section>
<section id="pareto"><h2>Quality against latency and cost</h2>{pareto}</section>
<section id="questions"><h2>Questions</h2>
<h3>Questions the winner misses</h3>
<p>{missed_total} of {winner_trial["question_id"].nunique() if not winner_trial.empty else 0} questions: no
reference context among {html.escape(winner)}'s retrieved contexts (the first {QUESTION_ROWS} shown).</p>
{_table(missed, "missed")}
<h3>Questions the tier-1 configurations disagree on</h3>
<p>One retrieves a reference context, another none ({len(tier_1)} configuration(s) in tier 1).</p>
{_table(disagreeing, "disagreements")}</section>
<section id="golden"><h2>Golden set</h2>{_table(golden_make_up(inputs.questions), "golden-make-up")}</section>
<section id="judge"><h2>Judge</h2>{_calibration(inputs.calibration, inputs.judged)}</section>
<section id="documents"><h2>Documents</h2><p>{parsed} of {len(documents)} parsed (document × parser).</p>
{_table(documents, "documents-table")}</section>
<script type="application/json" id="report-data">{data}</script>
"""
    style = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1400px;padding:0 1em;color:#222}
.verdict{font-size:1.2em;background:#eef6ee;border-left:4px solid #1b7837;padding:.6em 1em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;
vertical-align:top}th{background:#f3f3f3;text-align:left}nav{margin:1em 0}section{margin-top:2em}
.scroll{overflow-x:auto}"""
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{style}</style><script>{get_plotlyjs()}</script></head><body>{body}</body></html>\n"
    )
