"""What `dream`'s options and arguments stand for: the project's files, the corpus a command
works on, the document source, the state directory's lock and store, and results for scripts.
Each turns a bad input into a `UserError` (one line, status 2)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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
