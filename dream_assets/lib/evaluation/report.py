"""The leaderboard's report: one self-contained HTML page a person can open or send (its figures:
`report_figures`; its per-question views: `question_views`).

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

from dream_assets.lib.evaluation.leaderboard import RANKED_STATUSES, ranked
from dream_assets.lib.evaluation.question_views import QUESTION_ROWS, disagreements, golden_make_up, missed_questions
from dream_assets.lib.evaluation.report_figures import forest_plot, pareto_plot


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
        agreement: for a synthetic golden set, how far such a set's ranking agreed with human
            questions when measured (`dream_assets.lib.golden.agreement.agreement_note`); ''.
        sizing: for a synthetic set sized to the decision, its rounds and why generation
            stopped (`dream_assets.lib.golden.sizing.sizing_note`); ''.
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
    agreement: str = ""
    sizing: str = ""


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
<section id="golden"><h2>Golden set</h2>{_table(golden_make_up(inputs.questions), "golden-make-up")}
{f'<p id="golden-sizing">{html.escape(inputs.sizing)}</p>' if inputs.sizing else ""}
{f'<p id="synthetic-agreement">{html.escape(inputs.agreement)}</p>' if inputs.agreement else ""}</section>
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
