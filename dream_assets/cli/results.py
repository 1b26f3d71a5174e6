"""`dream leaderboard | report | compare`: the commands that read a corpus' results (registered
on the `dream` command by `dream_assets.cli.app`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dream_assets.cli.choices import formatted, named_corpus, readable, state_store
from dream_assets.cli.console import failures

if TYPE_CHECKING:
    import pandas as pd


def leaderboard(
    corpus: Annotated[str | None, typer.Option(help="Corpus (default: the last one run).")] = None,
    output: Annotated[
        str, typer.Option("--format", help="table (for people), json (records) or csv (every column, for scripts).")
    ] = "table",
) -> None:
    """Print a corpus' latest leaderboard, its verdict and where its plot is."""
    from dream_assets.cli.report import print_leaderboard, read_leaderboard

    with failures():
        store = state_store()
        name = named_corpus(corpus, store)
        if output == "table":
            print_leaderboard(store, name)
            return
        table = readable(read_leaderboard, store, name)[1]
        typer.echo(formatted(table, output), nl=False)


def report(
    corpus: Annotated[str | None, typer.Option(help="Corpus (default: the last one run).")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write it (default: ./dream-report-<corpus>.html).")
    ] = None,
) -> None:
    """Write a corpus' latest leaderboard as one self-contained HTML page (opens offline): the
    verdict, the tiers, the intervals, quality against latency and cost, the questions the
    winner misses, the golden set, the judge and the documents."""
    from dream_assets.cli.report import write_report_file

    with failures():
        store = state_store()
        name = named_corpus(corpus, store)
        path = readable(write_report_file, store, name, output or Path(f"dream-report-{name or 'all'}.html"))
        typer.echo(f"report: {path}")


def compare(
    first: Annotated[str, typer.Argument(help="A configuration key (see `dream leaderboard`).")],
    second: Annotated[str, typer.Argument(help="Another configuration key.")],
    corpus: Annotated[str | None, typer.Option(help="Corpus (default: the last one run).")] = None,
    metric: Annotated[
        list[str] | None, typer.Option(help="Metrics to compare (repeat the option; default: the evidence metrics).")
    ] = None,
    output: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
) -> None:
    """Compare two configurations question by question on the selection split: each metric's
    means on the questions both scored, the paired difference with its 95% interval, and the
    paired test's p-value."""
    from dream_assets.lib.evaluation.metric_catalog import evidence_metrics

    with failures():
        store = state_store()
        name = named_corpus(corpus, store)
        metrics = metric or list(dict.fromkeys(["mrr", *evidence_metrics()]))
        table = readable(compare_configurations, store, name, first, second, metrics)
        if output != "table":
            typer.echo(formatted(table, output), nl=False)
            return
        typer.echo(f"{first} (first) vs {second} (second), corpus {name!r}, selection split:")
        typer.echo(table.to_string(index=False, float_format=lambda value: f"{value:.3f}"))


def compare_configurations(store, corpus: str, first: str, second: str, metrics: list[str]) -> pd.DataFrame:
    """The paired comparison of configurations `first` and `second` on `corpus`' current golden
    set, on its selection split (`dream_assets.lib.evaluation.statistics.paired_comparison`).

    Raises:
        FileNotFoundError: if the corpus has no golden set, or either configuration has no trial
            table on it (naming those that have one).
    """
    from dream_assets import layout
    from dream_assets.cli.report import current_golden
    from dream_assets.lib.evaluation.statistics import paired_comparison
    from dream_assets.lib.golden.splits import HELD_OUT

    golden = current_golden(store, corpus)
    tables = {}
    for key in (first, second):
        table_key = layout.trial_key(golden, key)
        if not store.exists(table_key):
            prefix = f"trial_evaluations/{golden}/"
            names = [info.key[len(prefix) :] for info in store.list(prefix.rstrip("/"))]
            tables = [name for name in names if name.endswith(".parquet") and "/" not in name]
            have = sorted(name.removesuffix(".parquet") for name in tables)
            raise FileNotFoundError(
                f"configuration {key!r} has no trial on corpus {corpus!r}'s golden set {golden};"
                f" evaluated: {', '.join(have) or 'none'}"
            )
        table = store.read_parquet(table_key)
        tables[key] = table[table["split"] != HELD_OUT] if "split" in table else table
    return paired_comparison(tables[first], tables[second], metrics)
