"""`dream run | init | watch | leaderboard | report | compare | serve | ui | mlflow-ui`, on Typer (what
their options stand for: `dream_assets.cli.choices`).

Every command works on one state directory (`--home`, default `DREAM_HOME`, else `.dream/` in the
working directory) with the embedded defaults of `dream_assets.definitions`. Expected failures end with one
line on stderr and a non-zero status (`--debug` shows the traceback). `dream run` holds the state
directory's lock (`dream_assets.state_lock`): a second one on the same directory exits with status
2 and one line naming the first.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from dream_assets import api
from dream_assets.api import prepare
from dream_assets.cli.choices import (
    DEFAULT_ANSWERS,
    DEFAULT_JUDGE_SAMPLE,
    FULL_EVIDENCE_JUDGE,
    PROJECT_LLMS,
    PROJECT_SEARCH_SPACE,
    corpus_option,
    deployment_resources,
    named_corpus,
    search_space_path,
    source_uri,
    state_store,
)
from dream_assets.cli.console import UserError, debugging, failures, report_on_stdout, set_debug
from dream_assets.cli.results import compare, leaderboard, report
from dream_assets.settings import env_name, settings

app = typer.Typer(
    help="DREAM: find, with evidence, the RAG configuration that works best on your documents, and serve it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
SEARCH_SPACE_HELP = "Search-space YAML (default: ./search_space.yaml when there, else the shipped one)."


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"dream {version('dream')}")
        raise typer.Exit()


@app.callback()
def _options(
    home: Annotated[
        str | None,
        typer.Option(envvar=env_name("home"), help="State directory (default: .dream/ in the working directory)."),
    ] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks and Dagster's step logs.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print DREAM's version and exit.")
    ] = False,
) -> None:
    prepare(home)  # the environment, and the project's own LLM table (`dream init` writes one)
    set_debug(debug)
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(message)s")
    report_on_stdout()
    if not debug:  # MLflow's own INFO lines (database migrations), read when mlflow is imported
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")


@app.command()
def run(
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            "--pdfs",
            envvar=env_name("pdf_source"),
            help="Folder or s3://bucket/prefix of documents: PDF, DOCX, PPTX, HTML, Markdown, text (default: the"
            " bundled corpus; --pdfs is the same option's older name).",
        ),
    ] = None,
    golden: Annotated[
        str, typer.Option(help="Golden set: auto, human, synthetic, both, or a SQuAD-layout .json file.")
    ] = "auto",
    search_space: Annotated[
        Path | None, typer.Option(help=SEARCH_SPACE_HELP, exists=True, envvar=env_name("search_space"))
    ] = None,
    corpus: Annotated[str | None, typer.Option(help="Corpus name (default: the source folder's name).")] = None,
    documents: Annotated[int, typer.Option(help="Use the first N documents by name (0: all).")] = 0,
    questions_per_document: Annotated[
        int,
        typer.Option(
            help="Golden questions per document (0: every human one; synthetic ones in rounds until the verdict holds)."
        ),
    ] = 0,
    generation_minutes: Annotated[
        float, typer.Option(help="Synthetic questions in rounds: generation's time budget, minutes.")
    ] = 18.0,
    generation_sample_size: Annotated[
        int | None,
        typer.Option(
            help="Questions each configuration answers (0: all; default 8, 24 with --full-evidence).",
            show_default=False,
        ),
    ] = None,
    held_out_fraction: Annotated[float, typer.Option(help="Share of questions held out to score the winner.")] = 0.3,
    judge_llm: Annotated[
        str | None,
        typer.Option(
            help="LLM judging ragas' LLM metrics on the top configurations (default: none; with --full-evidence"
            f" {FULL_EVIDENCE_JUDGE}).",
            show_default=False,
        ),
    ] = None,
    judge_sample_size: Annotated[
        int | None,
        typer.Option(
            help="Questions judged per judged configuration (default 1; 2 with --full-evidence).", show_default=False
        ),
    ] = None,
    judge_configurations: Annotated[int, typer.Option(help="Best configurations of tier 1 judged.")] = 2,
    full_evidence: Annotated[
        bool,
        typer.Option(
            "--full-evidence",
            help="The full-evidence run: embeddings in fp32 on torch (search_space.full.yaml, unless --search-space"
            " or ./search_space.yaml; their indexes take about 3 times as long), 24 answers per configuration, and"
            f" {FULL_EVIDENCE_JUDGE} judging 2 answers of each of tier 1's best 2 (docs/demo.md: what each costs).",
        ),
    ] = False,
) -> None:
    """Run the whole chain on a corpus: ingest, indexes, golden set, sweep, leaderboard, winner."""
    with failures():
        api.run(
            source, corpus=corpus, search_space=search_space, documents=documents, golden=golden,
            questions_per_document=questions_per_document, generation_minutes=generation_minutes,
            generation_sample_size=generation_sample_size, held_out_fraction=held_out_fraction,
            judge_llm=judge_llm, judge_sample_size=judge_sample_size, judge_configurations=judge_configurations,
            full_evidence=full_evidence, debug=debugging(),
        )  # fmt: skip


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="The project's folder (created if missing).")] = Path("."),
    force: Annotated[bool, typer.Option(help="Replace files that are there.")] = False,
) -> None:
    """Start a project: write a starter search_space.yaml and llms.yaml (copies of the shipped
    defaults, to edit), which `dream` commands run in that folder read."""
    from dream_assets.package_data import config_file

    with failures():
        directory.mkdir(parents=True, exist_ok=True)
        targets = [directory / PROJECT_SEARCH_SPACE, directory / PROJECT_LLMS]
        if not force and (there := [str(target) for target in targets if target.exists()]):
            raise UserError(f"{', '.join(there)} already there: edit them, or `dream init --force` to replace them")
        for target in targets:
            target.write_text(config_file(target.name).read_text(encoding="utf-8"), encoding="utf-8")
            typer.echo(f"wrote {target}")
        typer.echo(
            "next: edit search_space.yaml (the configurations to compare), then, in this folder,\n"
            "  dream run --source /path/to/your/documents   (or s3://bucket/prefix)"
        )


@app.command()
def watch(
    source: Annotated[str, typer.Option("--source", "--pdfs", help="Folder or s3://bucket/prefix to watch.")],
    corpus: Annotated[str | None, typer.Option(help="Corpus name (default: the source folder's name).")] = None,
    golden: Annotated[
        str, typer.Option(help="Golden set: auto (synthetic), human, synthetic, both, or a SQuAD-layout .json file.")
    ] = "auto",
    questions_per_document: Annotated[
        int, typer.Option(help="Golden questions per document (0: every human one; synthetic ones in rounds).")
    ] = 0,
    generation_sample_size: Annotated[
        int, typer.Option(help="Questions each configuration answers (0: all).")
    ] = DEFAULT_ANSWERS,
    held_out_fraction: Annotated[float, typer.Option(help="Share of questions held out to score the winner.")] = 0.3,
    judge_llm: Annotated[str, typer.Option(help="LLM judging tier 1 on each refresh ('' skips it).")] = "",
    judge_sample_size: Annotated[
        int, typer.Option(help="Questions judged per judged configuration.")
    ] = DEFAULT_JUDGE_SAMPLE,
    judge_configurations: Annotated[int, typer.Option(help="Best configurations of tier 1 judged.")] = 2,
) -> None:
    """Watch a source: each change (documents added, changed, deleted) refreshes the corpus'
    indexes, golden set, tier 1, leaderboard and served winner (`dream ui` runs the sensor)."""
    from dream_assets.cli.chain import RunOptions
    from dream_assets.cli.chain import watch as watch_source

    with failures():
        options = RunOptions(
            source=source_uri(source),
            corpus=corpus_option(corpus, source),
            documents=0,
            golden=golden,
            questions_per_document=questions_per_document,
            generation_sample_size=generation_sample_size,
            held_out_fraction=held_out_fraction,
            judge_llm=judge_llm,
            judge_sample_size=judge_sample_size,
            judge_configurations=judge_configurations,
        )
        watch_source(options)


app.command()(leaderboard)
app.command()(report)
app.command()(compare)


@app.command()
def serve(
    corpus: Annotated[
        str | None, typer.Option(help="Corpus whose winner to serve (default: the last one run).")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 5001,
    version: Annotated[
        str, typer.Option(help="Registered model version, `latest`, or an alias (default: the winner, `champion`).")
    ] = "champion",
    follow: Annotated[
        bool, typer.Option(help="Serve the alias' new version when a refresh moves it (restarts the server).")
    ] = True,
    follow_interval: Annotated[float, typer.Option(help="Seconds between two looks at the alias.")] = 10.0,
) -> None:
    """Serve a corpus' best configuration with MLflow's model server (POST /invocations); the
    model loads only if its configuration and model files hash as the registry recorded."""
    from dream_assets.cli.follow import model_uri, serve_following, server_environment
    from dream_assets.serving import registered_model_name

    with failures():
        store = state_store()
        name = registered_model_name(named_corpus(corpus, store))
        tracker = deployment_resources()["tracker"]
        os.environ["MLFLOW_TRACKING_URI"] = tracker.tracking_uri
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        client = MlflowClient(tracker.tracking_uri)
        try:
            client.get_registered_model(name)
        except MlflowException as error:
            raise UserError(f"no model {name!r} is registered: `dream run` registers the winner") from error
        uri, resolved = model_uri(client, name, version)
        server_args = ["--host", host, "--port", str(port)]
        try:
            env = server_environment(client, name, resolved or version)
        except ValueError as error:
            raise UserError(str(error)) from error
        if follow and resolved is not None:  # an alias that exists: follow it
            raise typer.Exit(serve_following(client, name, version, server_args, follow_interval))
        os.environ.update(env)
        _exec(["mlflow", "models", "serve", "-m", uri, "--env-manager", "local", *server_args])


@app.command()
def ui(
    port: Annotated[int, typer.Option(help="Port of the Dagster UI.")] = 3000,
    search_space: Annotated[
        Path | None, typer.Option(help=SEARCH_SPACE_HELP, exists=True, envvar=env_name("search_space"))
    ] = None,
) -> None:
    """Open the Dagster UI and daemon (dagster dev) on this state directory."""
    from dream_assets.corpus import corpus_record, current_corpus
    from resources.object_store import LocalObjectStore

    # `dagster dev` loads the definitions in a subprocess of its own: the search space and the
    # document source reach it through its environment (`dream_assets.definitions.defs`)
    if (chosen := search_space_path(search_space)) is not None:
        os.environ[env_name("search_space")] = str(chosen)
    # the deployment's document source (a run launched from the UI reads it) is the last corpus
    # run's, unless set
    store = LocalObjectStore(root=str(settings().state_dir() / "object_store")).client()
    corpus = current_corpus(store)
    if settings().pdf_source is None and corpus:
        os.environ[env_name("pdf_source")] = corpus_record(store, corpus)["source"]
    # `dagster dev` says `dg dev` (another package) supersedes it: nothing for a user to act on
    os.environ["PYTHONWARNINGS"] = "ignore:Function `dev_command` is superseded"
    _exec(["dagster", "dev", "-m", "dream_assets.definitions", "-h", "127.0.0.1", "-p", str(port)])


@app.command("mlflow-ui")
def mlflow_ui(port: Annotated[int, typer.Option(help="Port of the MLflow UI.")] = 5000) -> None:
    """Open the MLflow UI on this state directory's tracking store."""
    with failures():
        uri = deployment_resources()["tracker"].tracking_uri
        _exec(["mlflow", "ui", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port", str(port)])


def _exec(command: list[str]) -> None:
    """Replaces this process with `command` from this environment's bin directory, which leads
    its PATH (MLflow's server starts `uvicorn` by name)."""
    bin_dir = Path(sys.executable).parent
    os.environ["PATH"] = os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")])
    executable = bin_dir / command[0]
    os.execv(str(executable), [str(executable), *command[1:]])


def main() -> None:
    """Console-script entry point."""
    app()
