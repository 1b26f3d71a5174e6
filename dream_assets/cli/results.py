"""`dream leaderboard | report | compare`: the commands that read a corpus' results (registered
on the `dream` command by `dream_assets.cli.app`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dream_assets import api
from dream_assets.cli.choices import formatted, named_corpus, state_store
from dream_assets.cli.console import failures


def leaderboard(
    corpus: Annotated[str | None, typer.Option(help="Corpus (default: the last one run).")] = None,
    output: Annotated[
        str, typer.Option("--format", help="table (for people), json (records) or csv (every column, for scripts).")
    ] = "table",
) -> None:
    """Print a corpus' latest leaderboard, its verdict and where its plot is."""
    from dream_assets.cli.report import print_leaderboard

    with failures():
        if output == "table":
            store = state_store()
            print_leaderboard(store, named_corpus(corpus, store))
            return
        typer.echo(formatted(api.leaderboard(corpus), output), nl=False)


def report(
    corpus: Annotated[str | None, typer.Option(help="Corpus (default: the last one run).")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write it (default: ./dream-report-<corpus>.html).")
    ] = None,
) -> None:
    """Write a corpus' latest leaderboard as one self-contained HTML page (opens offline): the
    verdict, the tiers, the intervals, quality against latency and cost, the questions the
    winner misses, the golden set, the judge and the documents."""
    with failures():
        typer.echo(f"report: {api.report(corpus, output=output)}")


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
    with failures():
        name = named_corpus(corpus, state_store())
        table = api.compare(first, second, corpus=name, metrics=metric)
        if output != "table":
            typer.echo(formatted(table, output), nl=False)
            return
        typer.echo(f"{first} (first) vs {second} (second), corpus {name!r}, selection split:")
        typer.echo(table.to_string(index=False, float_format=lambda value: f"{value:.3f}"))
