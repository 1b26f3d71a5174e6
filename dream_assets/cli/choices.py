"""What `dream`'s options and arguments stand for: the project's files, the corpus a command
works on, the document source, the state directory's lock and store, and results for scripts.
Each turns a bad input into a `UserError` (one line, status 2)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dream_assets.cli.console import UserError

# A project's own files in the working directory (`dream init` writes them), read when present.
PROJECT_SEARCH_SPACE, PROJECT_LLMS = "search_space.yaml", "llms.yaml"


def readable(read, *args):
    """`read(*args)`; a missing corpus, golden set, leaderboard or trial is the user's error."""
    try:
        return read(*args)
    except FileNotFoundError as error:
        raise UserError(str(error)) from error


def formatted(table, output: str) -> str:
    """`table` as JSON records or CSV.

    Raises:
        UserError: for another format.
    """
    if output == "json":
        return table.to_json(orient="records", indent=1) + "\n"
    if output == "csv":
        return table.to_csv(index=False)
    raise UserError(f"--format {output!r}: expected table, json or csv")


def search_space_path(path: Path | None) -> Path | None:
    """`--search-space`, else the project's `search_space.yaml` in the working directory, else
    None (the shipped one)."""
    if path is not None:
        return path.resolve()
    return Path(PROJECT_SEARCH_SPACE).resolve() if Path(PROJECT_SEARCH_SPACE).is_file() else None


@contextmanager
def holding(purpose: str) -> Iterator[None]:
    """Holds the state directory for `purpose` (`dream_assets.state_lock`).

    Raises:
        UserError: naming the holder, when another process holds it.
    """
    from dream_assets.deployments import state_dir
    from dream_assets.state_lock import StateDirectoryBusy, hold_state_directory

    try:
        with hold_state_directory(state_dir(), purpose):
            yield
    except StateDirectoryBusy as error:
        raise UserError(str(error)) from error


def corpus_option(corpus: str | None, source: str | None) -> str:
    """The corpus a command works on: `--corpus`, checked before any work
    (`dream_assets.corpus.check_corpus_name`), else the source folder's name, else the bundled
    corpus'.

    Raises:
        UserError: for a name that is not a valid corpus name.
    """
    from dream_assets.corpus import check_corpus_name, corpus_name

    if corpus is None:
        return corpus_name(source) if source else "squad-demo"
    try:
        return check_corpus_name(corpus)
    except ValueError as error:
        raise UserError(f"--corpus: {error}") from error


# The full-evidence run's choices beside the default run's (measured costs: docs/demo.md): answers
# per configuration in the sweep (the generation tier; the retrieval tier scores every question),
# and the judge: none by default (one answer of the best configuration cost 3 minutes of a
# 15-minute first run on 2 CPUs), the bundled Qwen 1.5B on 2 answers of each of the 2 best
# configurations of tier 1 in the full-evidence run; `--judge-llm NAME` alone judges 1 answer.
DEFAULT_ANSWERS, FULL_EVIDENCE_ANSWERS = 8, 24
DEFAULT_JUDGE_SAMPLE, FULL_EVIDENCE_JUDGE_SAMPLE = 1, 2
# The bundled judge that scores (the 0.5B one parses but judges every answer unfaithful: docs/models.md).
FULL_EVIDENCE_JUDGE = "qwen2.5-coder-1.5b-instruct"


@dataclass(frozen=True)
class Evidence:
    """How much evidence a run gathers: its search space (None: the shipped default), answers per
    configuration, the judge ('' none) and its answers per judged configuration."""

    search_space: Path | None
    answers: int
    judge_llm: str
    judged: int


def evidence_defaults(
    full_evidence: bool, search_space: Path | None, answers: int | None, judge_llm: str | None, judged: int | None
) -> Evidence:
    """A run's evidence: what the user gave, else the default run's (the shipped search space with
    int8 embeddings, `DEFAULT_ANSWERS`, no judge) or, with `full_evidence`, the full-evidence
    run's (`FULL_EVIDENCE_SEARCH_SPACE` with fp32 embeddings, `FULL_EVIDENCE_ANSWERS`,
    `FULL_EVIDENCE_JUDGE` on `FULL_EVIDENCE_JUDGE_SAMPLE` answers)."""
    from dream_assets.search_space import FULL_EVIDENCE_SEARCH_SPACE

    if full_evidence:
        return Evidence(
            search_space or FULL_EVIDENCE_SEARCH_SPACE,
            FULL_EVIDENCE_ANSWERS if answers is None else answers,
            FULL_EVIDENCE_JUDGE if judge_llm is None else judge_llm,
            FULL_EVIDENCE_JUDGE_SAMPLE if judged is None else judged,
        )
    return Evidence(
        search_space,
        DEFAULT_ANSWERS if answers is None else answers,
        "" if judge_llm is None else judge_llm,
        DEFAULT_JUDGE_SAMPLE if judged is None else judged,
    )


def named_corpus(corpus: str | None, store) -> str:
    """`--corpus`, checked (`_corpus`), else the last corpus run (`_latest`)."""
    return corpus_option(corpus, None) if corpus else latest_corpus_run(store)


def source_uri(source: str) -> str:
    """A `--source` as the chain records it: an `s3://` URI as given, a folder as an absolute path."""
    return source if "://" in source else str(Path(source).resolve())


def deployment_resources() -> dict:
    """The resources of this deployment (`DREAM_DEPLOYMENT`) on its state directory."""
    from dream_assets.deployments import deployment, resources_for

    return resources_for(deployment())


def state_store():
    """A client of this deployment's object store."""
    return deployment_resources()["object_store"].client()


def latest_corpus_run(store) -> str:
    """The corpus run last (`dream_assets.corpus.latest_corpus`).

    Raises:
        UserError: when no corpus was run yet.
    """
    from dream_assets.corpus import latest_corpus

    try:
        return latest_corpus(store)
    except FileNotFoundError as error:
        raise UserError(str(error)) from error
