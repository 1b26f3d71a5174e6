"""DREAM from Python, for notebooks and scripts: the chain and its results as `dream run`,
`dream leaderboard`, `dream compare` and `dream report` give them on the command line.

    import dream_assets as dream

    board = dream.run("~/my-docs")                           # the leaderboard, best first
    dream.compare(*board["config_key"][:2])                  # the paired comparison of two
    dream.report(output="report.html")                       # the verdict as one HTML page

Each function works on one state directory: `home`, else `DREAM_HOME`, else `./.dream` of the
working directory. Like `dream --home`, the first call sets the variables every DREAM process
needs in this process' environment (`DREAM_HOME`, `DAGSTER_HOME`, offline model hubs), so one
process works on one state directory. A project's `./search_space.yaml` and `./llms.yaml` (`dream
init`) are read as the command line reads them. Errors the caller can fix (a malformed search
space, no document, a corpus never run) raise `UserError` with the command line's one-line message.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from dream_assets.cli.choices import (
    PROJECT_LLMS,
    corpus_option,
    evidence_defaults,
    holding,
    named_corpus,
    readable,
    search_space_path,
    source_uri,
    state_store,
)
from dream_assets.cli.console import UserError, prepare_environment, report_on_stdout

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["UserError", "compare", "leaderboard", "prepare", "report", "run"]


def prepare(home: str | Path | None = None) -> Path:
    """Sets up this process for state directory `home` (else `DREAM_HOME`, else `./.dream`):
    the environment `dream` sets, and the project's own LLM table (`./llms.yaml`) unless
    `DREAM_LLM_TABLE` names another. Returns the state directory's absolute path."""
    state = prepare_environment(str(home) if home else None)
    if Path(PROJECT_LLMS).is_file():
        os.environ.setdefault("DREAM_LLM_TABLE", str(Path(PROJECT_LLMS).resolve()))
    return state


def run(
    source: str | Path | None = None,
    *,
    corpus: str | None = None,
    home: str | Path | None = None,
    search_space: str | Path | None = None,
    documents: int = 0,
    golden: str = "auto",
    questions_per_document: int = 0,
    generation_minutes: float = 18.0,
    generation_sample_size: int | None = None,
    held_out_fraction: float = 0.3,
    judge_llm: str | None = None,
    judge_sample_size: int | None = None,
    judge_configurations: int = 2,
    full_evidence: bool = False,
    debug: bool = False,
) -> pd.DataFrame:
    """Runs the whole chain on a corpus, as `dream run` does (each argument is its option of the
    same name; see `dream run --help`), printing its progress and verdict, and returns the
    corpus' leaderboard.

    Args:
        source: a folder or `s3://bucket/prefix` of documents: PDF, DOCX, PPTX, HTML, Markdown,
            text (None: the bundled corpus).
        corpus: the corpus' name (default: the source folder's name, `squad-demo` when bundled).
        home: the state directory (see the module's docstring).
        search_space: a search-space YAML (default: `./search_space.yaml` when there, else the
            shipped one; the full-evidence one with `full_evidence`).
        documents: use the first N documents by name (0: all).
        golden: `auto`, `human`, `synthetic`, `both`, or a SQuAD-layout .json file.
        questions_per_document: golden questions per document (0: every human one; synthetic
            ones in rounds until the verdict holds).
        generation_minutes: the time budget of synthetic questions in rounds, minutes.
        generation_sample_size: questions each configuration answers (0: all; default 8, 24
            with `full_evidence`).
        held_out_fraction: the share of questions held out to score the winner.
        judge_llm: the LLM judging ragas' LLM metrics on the top configurations ('' or None:
            none; with `full_evidence` the bundled 1.5B judge).
        judge_sample_size: questions judged per judged configuration (default 1; 2 with
            `full_evidence`).
        judge_configurations: how many of tier 1's best configurations are judged.
        full_evidence: the full-evidence run (fp32 embeddings, more answers, a judge).
        debug: show Dagster's step logs.

    Returns:
        The leaderboard, one row per configuration, best first (`leaderboard`'s columns).

    Raises:
        UserError: a malformed search space, a model that cannot load, no document, a golden
            choice that cannot work, or a state directory another run holds (before any stage).
    """
    from dream_assets.cli.chain import RunOptions, run_chain

    prepare(home)
    report_on_stdout()
    space = search_space_path(Path(search_space) if search_space else None)
    evidence = evidence_defaults(full_evidence, space, generation_sample_size, judge_llm, judge_sample_size)
    source = str(source) if source else None
    options = RunOptions(
        source=source_uri(source) if source else None,
        search_space=evidence.search_space,
        corpus=corpus_option(corpus, source),
        documents=documents,
        golden=golden,
        questions_per_document=questions_per_document,
        generation_minutes=generation_minutes,
        generation_sample_size=evidence.answers,
        held_out_fraction=held_out_fraction,
        judge_llm=evidence.judge_llm,
        judge_sample_size=evidence.judged,
        judge_configurations=judge_configurations,
        debug=debug,
    )
    with holding(f"dream run --corpus {options.corpus}"):
        run_chain(options)
    return leaderboard(options.corpus)


def leaderboard(corpus: str | None = None, *, home: str | Path | None = None) -> pd.DataFrame:
    """A corpus' latest leaderboard (default: the corpus run last), as `dream leaderboard
    --format csv` prints it: one row per configuration, best first, with its tier, metrics, their
    intervals and held-out scores.

    Raises:
        UserError: no corpus has been run, or this one has no leaderboard yet.
    """
    from dream_assets.cli.report import read_leaderboard

    prepare(home)
    store = state_store()
    return readable(read_leaderboard, store, named_corpus(corpus, store))[1]


def compare(
    first: str,
    second: str,
    *,
    corpus: str | None = None,
    metrics: list[str] | None = None,
    home: str | Path | None = None,
) -> pd.DataFrame:
    """The paired comparison of configurations `first` and `second` (their `config_key`s) on the
    corpus' selection split, as `dream compare` prints it: per metric (default: MRR and the
    evidence metrics) the means on the questions both scored, the paired difference with its 95%
    interval, and the paired test's p-value.

    Raises:
        UserError: no corpus has been run, or either configuration has no trial on its golden set.
    """
    from dream_assets.lib.evaluation.metric_catalog import evidence_metrics

    prepare(home)
    store = state_store()
    name = named_corpus(corpus, store)
    chosen = metrics or list(dict.fromkeys(["mrr", *evidence_metrics()]))
    return readable(_paired_comparison, store, name, first, second, chosen)


def report(corpus: str | None = None, *, output: str | Path | None = None, home: str | Path | None = None) -> Path:
    """Writes a corpus' latest leaderboard as one self-contained HTML page, as `dream report`
    does (default: `./dream-report-<corpus>.html`); returns its path.

    Raises:
        UserError: no corpus has been run, or this one has no leaderboard yet.
    """
    from dream_assets.cli.report import write_report_file

    prepare(home)
    store = state_store()
    name = named_corpus(corpus, store)
    return readable(write_report_file, store, name, Path(output) if output else Path(f"dream-report-{name}.html"))


def _paired_comparison(store, corpus: str, first: str, second: str, metrics: list[str]) -> pd.DataFrame:
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
