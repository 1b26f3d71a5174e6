"""The leaderboard of one corpus as a person reads it on the terminal."""

from __future__ import annotations

import io
import logging
import textwrap
from pathlib import Path

import pandas as pd

from dream_assets import layout

logger = logging.getLogger("dream")
# The terminal table's width (characters): it fits a 100-column terminal.
TERMINAL_WIDTH = 100


def current_golden(store, corpus: str) -> str:
    """The version of `corpus`' current golden set.

    Raises:
        FileNotFoundError: if the corpus has no golden set yet.
    """
    pointer_key = layout.golden_pointer(corpus)
    if not store.exists(pointer_key):
        raise FileNotFoundError(f"corpus {corpus!r} has no golden set yet: `dream run --corpus {corpus}` first")
    return store.read_json(pointer_key)["version"]


def read_leaderboard(store, corpus: str) -> tuple[str, pd.DataFrame]:
    """(golden version, the latest leaderboard) of `corpus`.

    Raises:
        FileNotFoundError: if the corpus has no golden set or no leaderboard yet.
    """
    golden = current_golden(store, corpus)
    board = f"{layout.leaderboard_prefix(golden)}/leaderboard.parquet"
    if not store.exists(board):
        raise FileNotFoundError(f"corpus {corpus!r} has no leaderboard on golden set {golden}: `dream run` first")
    return golden, store.read_parquet(board)


def golden_summary(questions: pd.DataFrame, failures: pd.DataFrame | None) -> str:
    """One paragraph on a golden set, wrapped to `TERMINAL_WIDTH`: its questions by source and,
    for synthetic ones, by kind with their mean lexical overlap (share of the question's content
    words found in its contexts); the rejected synthetic items by reason."""
    parts = []
    for source, rows in questions.groupby("golden_source", sort=True) if "golden_source" in questions else []:
        text = f"{len(rows)} {source}"
        if source == "synthetic" and "question_kind" in rows:
            kinds = rows.groupby("question_kind")["lexical_overlap"].agg(["size", "mean"])
            text += " (" + ", ".join(f"{kind} {row['size']:.0f}" for kind, row in kinds.iterrows())
            text += "; lexical overlap " + ", ".join(f"{kind} {row['mean']:.2f}" for kind, row in kinds.iterrows())
            text += ")"
        parts.append(text)
    line = f"golden set: {len(questions)} questions: " + "; ".join(parts)
    if failures is not None and len(failures):
        reasons = failures["reason"].map(lambda reason: reason.split(":", 1)[0]).value_counts()
        line += f"; {len(failures)} synthetic items rejected: " + ", ".join(f"{r} {n}" for r, n in reasons.items())
    return textwrap.fill(line, TERMINAL_WIDTH)


def print_golden_summary(store, corpus: str) -> None:
    """Prints `golden_summary` of `corpus`' current golden set and, when it was sized to the
    decision, how many rounds it took and why generation stopped.

    Raises:
        FileNotFoundError: if the corpus has no golden set yet.
    """
    from dream_assets.defs.readers import read_golden_sizing

    version = current_golden(store, corpus)
    prefix = layout.golden_prefix(version)
    failures_key = f"{prefix}/failures.parquet"
    failures = store.read_parquet(failures_key) if store.exists(failures_key) else None
    logger.info(golden_summary(store.read_parquet(f"{prefix}/questions.parquet"), failures))
    if note := read_golden_sizing(store, version).get("note"):
        logger.info(textwrap.fill(note, TERMINAL_WIDTH))


def print_leaderboard(store, corpus: str, timings: list[tuple[str, float]] | None = None) -> None:
    """Prints the latest leaderboard of `corpus`: the table (tier, metrics with their n and
    intervals, the held-out columns), the verdict, the deployable winner, stage timings when
    given, and where to look.

    Raises:
        FileNotFoundError: if the corpus has no golden set or no leaderboard yet.
    """
    from dream_assets.defs.evaluation.leaderboard import judged
    from dream_assets.defs.evaluation.report import ranking_metric
    from dream_assets.defs.readers import read_golden_sizing
    from dream_assets.lib.evaluation.leaderboard import verdict
    from dream_assets.lib.golden.agreement import agreement_note, is_synthetic, read_agreement

    golden, table = read_leaderboard(store, corpus)
    questions = store.read_parquet(f"{layout.golden_prefix(golden)}/questions.parquet")
    answered = int(table["generated_questions"].max()) if "generated_questions" in table else 0
    intro = (
        f"DREAM leaderboard of corpus {corpus!r}: {len(table)} configurations, {len(questions)} questions"
        f" retrieved ({answered} answered per configuration), {questions['document_id'].nunique()} documents,"
        f" golden set {golden}; tier 1: not significantly worse than the best (paired tests, Holm-corrected)"
    )
    logger.info("\n" + textwrap.fill(intro, TERMINAL_WIDTH) + "\n")
    rank_by = ranking_metric(table)
    logger.info(terminal_table(table, rank_by))
    logger.info("\n" + textwrap.fill(verdict(table, rank_by), TERMINAL_WIDTH))
    if note := read_golden_sizing(store, golden).get("note"):  # how large the set was made, and why
        logger.info(textwrap.fill(note, TERMINAL_WIDTH))
    if is_synthetic(questions) and (note := agreement_note(read_agreement())):
        logger.info(textwrap.fill(note, TERMINAL_WIDTH))
    for row in table[table["status"].isin(["failed", "generation_failed"])].itertuples():
        kept = "; its retrieval metrics are above, not ranked" if row.status == "generation_failed" else ""
        tier = getattr(row, "failed_tier", "") or "retrieval"
        logger.info(f"{row.config_key}: its {tier} tier failed{kept}: {row.error}")
    for row in table[table["status"].eq("stale")].itertuples():
        logger.info(f"{row.config_key}: not ranked, stale: {row.error}")
    _print_judged(store, golden, judged(table))
    best = f"{layout.best_configuration_prefix(golden)}/best_rag_configuration.yaml"
    if store.exists(best):
        logger.info(f"best configuration: {store.uri(best)}\n  serve it: dream serve --corpus {corpus}")
    if timings:
        total = sum(seconds for _, seconds in timings)
        logger.info(
            "\nstage timings: "
            + ", ".join(f"{title} {seconds:.0f} s" for title, seconds in timings)
            + f"; total {total:.0f} s"
        )
    logger.info(f"""
Where to look:
  report:     dream report        (one HTML page: verdict, tiers, intervals, cost, missed questions)
  plot:       {store.uri(f"{layout.leaderboard_prefix(golden)}/leaderboard.html")} (and leaderboard.png beside it)
  Dagster UI: dream ui          (then http://127.0.0.1:3000: asset graph, partitions, runs tagged dream/corpus)
  MLflow UI:  dream mlflow-ui   (then http://127.0.0.1:5000: experiment 'dream', one parent run per sweep)""")


def write_report_file(store, corpus: str, path: Path) -> Path:
    """Renders the report of `corpus`' latest leaderboard (`dream_assets.defs.evaluation.report`),
    keeps it beside the leaderboard in the object store and writes it to `path`. Returns `path`.

    Raises:
        FileNotFoundError: if the corpus has no golden set or no leaderboard yet.
    """
    from dream_assets.defs.evaluation.report import ranking_metric, write_report
    from dream_assets.lib.evaluation.leaderboard import verdict

    golden, table = read_leaderboard(store, corpus)
    page = write_report(store, corpus, golden, table, verdict(table, ranking_metric(table)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def _figure(value) -> str:
    """A metric as three decimals, '' when missing."""
    return "" if value is None or pd.isna(value) else f"{value:.3f}"


def _with_interval(row, metric: str) -> str:
    """`metric`'s value of `row` and its 95% interval, `0.802 .787–.817` ('' when missing)."""
    value, low, high = (row.get(name) for name in (metric, f"{metric}_ci95_low", f"{metric}_ci95_high"))
    if not _figure(value) or not _figure(low) or not _figure(high):
        return _figure(value)
    return f"{value:.3f} {_figure(low).removeprefix('0')}–{_figure(high).removeprefix('0')}"


def terminal_table(table: pd.DataFrame, rank_by: str, width: int = TERMINAL_WIDTH) -> str:
    """The leaderboard as a person reads it on a terminal of `width` columns (rich): rank, tier,
    configuration key, the parser when configurations differ in it, `rank_by` with its 95%
    interval, its held-out score, F1, each installed plug-in metric, latency p50 per question
    (retrieval plus generation, seconds), and the status when any row is not `ok`; the number of
    questions behind each metric in the caption. Every line fits `width` (a key too long to fit
    wraps). Every column: `dream leaderboard --format csv`."""

    def n(metric: str) -> int:
        column = f"{metric}_n"
        return int(table[column].max()) if column in table and table[column].notna().any() else 0

    held = f"held_out/{rank_by}"
    statuses = not table["status"].eq("ok").all()
    parsers = "parser" in table and table["parser"].nunique() > 1  # the parser is a dimension of this sweep
    from dream_assets.lib.evaluation.metric_catalog import plugin_metric_names

    plugins = [name for name in plugin_metric_names() if name in table]  # installed `dream.metrics` plug-ins
    caption = f"questions behind each mean: {rank_by} {n(rank_by)}, held-out {n(held)}, F1 {n('f1')} (answered)"
    grid = _ranked_grid(caption)
    if parsers:
        grid.add_column("parser")
    grid.add_column(f"{rank_by} [95% CI]", no_wrap=True)
    grid.add_column("held-out", no_wrap=True)
    grid.add_column("F1", justify="right", no_wrap=True)
    for name in plugins:
        grid.add_column(name, justify="right", overflow="fold")
    grid.add_column("s/q", justify="right", no_wrap=True)
    if statuses:
        grid.add_column("status", overflow="fold")
    for _, row in table.iterrows():
        latency = sum(row.get(column, 0) or 0 for column in ("retrieval_latency_p50_s", "generation_latency_p50_s"))
        cells = [
            *_ranked_cells(row),
            *([str(row["parser"])] if parsers else []),
            _with_interval(row, rank_by),
            _figure(row.get(held)),
            _figure(row.get("f1")),
            *(_figure(row.get(name)) for name in plugins),
            f"{latency:.2f}" if latency == latency else "",
        ]
        grid.add_row(*cells, *([str(row["status"])] if statuses else []))
    return _rendered(grid, width)


def _judged_table(table: pd.DataFrame, width: int = TERMINAL_WIDTH) -> str:
    """The judged configurations' scores as a table that fits `width` columns (rich)."""
    short = {
        "faithfulness": "faithful",
        "answer_relevancy": "relevant",
        "context_precision": "ctx prec",
        "context_recall": "ctx rec",
        "answer_correctness": "correct",
        "judged_n": "n",
    }
    grid = _ranked_grid()
    metrics = [name for name in short if name in table]
    for name in metrics:
        grid.add_column(short[name], justify="right", no_wrap=True)
    for _, row in table.iterrows():
        cells = [_figure(row[name]) if name != "judged_n" else str(row[name]) for name in metrics]
        grid.add_row(*_ranked_cells(row), *cells)
    return _rendered(grid, width)


def _ranked_grid(caption: str | None = None):
    """A rich table of configurations, its first columns rank, tier and key (which wraps)."""
    from rich import box
    from rich.table import Table

    grid = Table(box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), show_edge=False, caption=caption, caption_justify="left")
    grid.add_column("#", justify="right")
    grid.add_column("tier", justify="right")
    grid.add_column("configuration", overflow="fold")
    return grid


def _ranked_cells(row) -> list[str]:
    """The cells of `_ranked_grid`'s first columns for one leaderboard row."""
    tier = row.get("tier")
    return [str(row["rank"]), "" if tier is None or pd.isna(tier) else str(int(tier)), str(row["config_key"])]


def _rendered(grid, width: int) -> str:
    """`grid` as plain text `width` columns wide, without trailing spaces."""
    from rich.console import Console

    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(grid)
    return "\n".join(line.rstrip() for line in console.export_text().rstrip().splitlines())


def print_checks(evaluations: list) -> None:
    """One line on the asset checks of a run's stages: how many passed, then each that did not,
    with its asset and severity (a blocking failure has already stopped the run)."""
    if not evaluations:
        return
    failed = [e for e in evaluations if not e.passed]
    line = f"asset checks: {len(evaluations) - len(failed)} of {len(evaluations)} passed"
    if failed:
        named = (f"{e.check_name} on {e.asset_key.to_user_string()} ({e.severity.value.lower()})" for e in failed)
        line += "; failed: " + ", ".join(named) + " (details: dream ui, each asset's Checks tab)"
    logger.info(line)


def _print_judged(store, golden: str, table) -> None:
    """The judge's scores of the top configurations and its calibration, when it judged."""
    from dream_assets.defs.evaluation.trials import read_calibration

    calibration = read_calibration(store, golden)
    if table.empty or not calibration:
        return
    logger.info(f"\nJudged by {calibration['judge_llm']} (ragas' LLM metrics, n: answers judged):")
    logger.info(_judged_table(table))
    figures = [("this run", calibration.get("this_run", {})), ("benchmark", calibration.get("reference", {}))]
    for label, figure in figures:
        if figure:
            nan = float("nan")
            rho, rho_n = figure.get("answer_correctness_spearman", nan), figure.get("answer_correctness_spearman_n", 0)
            auc, auc_n = figure.get("faithfulness_auroc", nan), figure.get("faithfulness_auroc_n", 0)
            line = (
                f"judge calibration, {label}: Spearman vs token F1 {rho:.2f} (n {rho_n:.0f}),"
                f" faithfulness AUROC real vs swapped contexts {auc:.2f} (n {auc_n:.0f})"
            )
            logger.info(textwrap.fill(line, TERMINAL_WIDTH, subsequent_indent="  "))
