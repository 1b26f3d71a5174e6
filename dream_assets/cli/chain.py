"""`dream run`: the whole chain on one corpus, each stage one Dagster run over all its partitions:
ingest → golden set → embedding indexes → sweep (Ray Tune) → judge → leaderboard → best
configuration.

Runs, materialisations and metadata land in the Dagster instance under `DAGSTER_HOME` (tagged
with their corpus, `dream/corpus`), so `dream ui` shows them afterwards.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from tqdm import tqdm

from dream_assets.cli.console import UserError, one_line_console
from dream_assets.cli.report import print_checks, print_golden_summary, print_leaderboard
from dream_assets.defs.stages import (
    Stage,
    golden_run_config,
    leaderboard_run_config,
    run_stage,
    stage_tags,
    sweep_run_config,
)

logger = logging.getLogger("dream")
GOLDEN_CHOICES = ("auto", "human", "synthetic", "both")


@dataclass(frozen=True)
class RunOptions:
    """`dream run`'s options (see its help)."""

    corpus: str
    documents: int
    golden: str
    questions_per_document: int
    generation_sample_size: int
    held_out_fraction: float
    judge_llm: str
    judge_sample_size: int
    judge_configurations: int
    source: str | None = None
    search_space: Path | None = None
    debug: bool = False
    generation_minutes: float = 0


def golden_config(
    golden: str, bundled: bool, document_ids: list[str], questions_per_document: int, generation_minutes: float = 0
) -> dict:
    """The `golden_dataset` run config of `--golden`: `auto` is the bundled SQuAD file on the
    bundled corpus and synthetic questions otherwise; a path is a SQuAD-layout file read as the
    human set; `human` and `both` read the bundled file. Synthetic questions without a fixed
    `questions_per_document` (0) are generated in rounds sized to the decision
    (`sized_to_decision`), within `generation_minutes` when given.

    Raises:
        UserError: for an unknown choice, a file that is missing or not SQuAD-shaped, or a human
            set none of whose article titles is one of `document_ids` (checked before any work,
            when there are documents).
    """
    from dream_assets.defs.golden.assets import DEMO_SQUAD
    from dream_assets.lib.golden.squad import read_squad, squad_document_ids

    squad_path = None
    if golden == "auto":
        source = "human" if bundled else "synthetic"
    elif golden in GOLDEN_CHOICES:
        source = golden
    elif golden.lower().endswith(".json") or Path(golden).exists():
        source, squad_path = "human", str(Path(golden).resolve())
    else:
        raise UserError(
            f"--golden {golden!r}: expected one of {', '.join(GOLDEN_CHOICES)} or a SQuAD-layout .json file"
        )
    config: dict = {"source": source, "questions_per_document": questions_per_document}
    if source != "human" and not questions_per_document:
        config["sized_to_decision"] = True
        if generation_minutes:
            config["max_generation_minutes"] = generation_minutes
    if source == "synthetic":
        return config
    squad_path = squad_path or str(DEMO_SQUAD)
    try:
        squad = read_squad(squad_path)
    except (FileNotFoundError, ValueError) as error:
        raise UserError(f"--golden: {error}") from error
    titles = squad_document_ids(squad)
    if document_ids and not set(titles.values()) & set(document_ids):
        shown = ", ".join(f"{title!r}→{slug}" for title, slug in list(titles.items())[:4])
        raise UserError(
            f"golden set {squad_path} matches none of the {len(document_ids)} documents: its {len(titles)} article"
            f" titles ({shown}{', ...' if len(titles) > 4 else ''}) are matched to document ids (the slugs of the"
            f" file names: {', '.join(document_ids[:4])}{', ...' if len(document_ids) > 4 else ''});"
            " use --golden synthetic to generate questions from your documents"
        )
    return {**config, "squad_path": squad_path}


def run_chain(options: RunOptions) -> int:
    """Runs every stage on the corpus and prints the leaderboard, the verdict and where to look.

    Raises:
        UserError: when the search space is malformed or names a model that cannot load, no
            document is found, or the golden choice cannot work (all before any stage).
    """
    from dream_assets.corpus import write_corpus
    from dream_assets.definitions import build_definitions
    from dream_assets.deployments import deployment, executor_for, resources_for
    from dream_assets.partitions import DOCUMENTS
    from dream_assets.search_space import SearchSpaceError, load_search_space

    try:
        space = load_search_space(options.search_space)
    except SearchSpaceError as error:
        raise UserError(str(error)) from error
    resources = resources_for(deployment(), options.source)
    defs = build_definitions(resources, executor_for(deployment()), space)
    _check_models(space, resources["llms"], options.judge_llm, options.search_space)
    instance = dg.DagsterInstance.get()
    document_source = resources["document_source"]
    listing = document_source.list_documents()
    found = sorted(listing)
    documents = found[: options.documents] if options.documents else found
    if not documents:
        raise UserError(f"no document found under {document_source.uri}")
    golden = golden_config(
        options.golden, _bundled(document_source.uri), documents, options.questions_per_document,
        options.generation_minutes,
    )  # fmt: skip
    golden.update(held_out_fraction=options.held_out_fraction)
    store = resources["object_store"].client()
    instance.add_dynamic_partitions(DOCUMENTS, documents)
    write_corpus(store, options.corpus, documents, document_source.uri, {d: listing[d].etag for d in documents})
    logger.info(
        "corpus %r: %d documents of %s; golden set: %s",
        options.corpus,
        len(documents),
        document_source.uri,
        golden["source"],
    )
    stages = _stages(options, space, documents, golden)
    timings, checks = _run_stages(defs, instance, stages, options.corpus, options.debug)
    print_golden_summary(store, options.corpus)
    print_leaderboard(store, options.corpus, timings)
    print_checks(checks)
    return 0


def _bundled(source_uri: str) -> bool:
    """Whether `source_uri` is the bundled demo corpus' folder (`--golden auto` is human there)."""
    from dream_assets.deployments import DEMO_PDFS

    return "://" not in source_uri and Path(source_uri).resolve() == DEMO_PDFS.resolve()


def _check_models(space, llms, judge_llm: str, path: Path | None) -> None:
    """Raises a `UserError` naming each model of the search space's grid (and the judge) that
    cannot be loaded here (`dream_assets.lib.models.bundled.model_problems`)."""
    from dream_assets.lib.models.bundled import model_problems
    from dream_assets.search_space import default_search_space_file

    names = [*space.llms, *([judge_llm] if judge_llm else [])]
    problems = model_problems(space.embedding_models, names, llms.api_base, llms.served_by_providers())
    if problems:
        raise UserError(f"search space {path or default_search_space_file()}: {'; '.join(problems)}")


def _stages(options: RunOptions, space, documents: list[str], golden: dict) -> list[Stage]:
    """The stages of a whole run: every document, index and configuration."""
    from dream_assets.partitions import sweep_partitions

    partitions = sweep_partitions(space)
    configs = partitions.rag_configs.get_partition_keys()
    reranker = any(config.reranker != "none" for config in space.configs())
    return [
        Stage("ingest: copy and parse documents", "ingest_job", documents),
        # the indexes first: a synthetic set sized to the decision is scored on their retrieval tier
        Stage("embedding indexes", "index_job", partitions.embedding_indexes.get_partition_keys()),
        Stage("golden dataset", "golden_job", None, golden_run_config(golden)),
        *([Stage("reranker: training pairs, fine-tuning", "reranker_job")] if reranker else []),
        Stage(
            f"sweep: {len(configs)} configurations on Ray Tune",
            "sweep_job",
            configs,
            sweep_run_config(options.generation_sample_size),
        ),
        Stage(
            "judge, leaderboard and best configuration",
            "leaderboard_job",
            None,
            leaderboard_run_config(options.judge_llm, options.judge_sample_size, options.judge_configurations),
        ),
    ]


def _run_stages(defs: dg.Definitions, instance: dg.DagsterInstance, stages: list[Stage], corpus: str, debug: bool):
    """Runs each stage (one Dagster run, tagged with `corpus`), a progress bar over stages;
    returns (title, seconds) of each and the asset-check evaluations of every stage. Dagster's
    events print one line each, warnings and up (`debug`: Dagster's own console logger, every
    event in full)."""
    timings, checks = [], []
    with tqdm(total=len(stages), unit="stage", file=sys.stdout) as bar:
        for stage in stages:
            bar.set_description(stage.title)
            started = time.perf_counter()
            level, console = ("DEBUG", None) if debug else ("WARNING", one_line_console)
            result = run_stage(defs, instance, stage, stage_tags(stage, corpus), level, console)
            checks += result.get_asset_check_evaluations()
            timings.append((stage.title, time.perf_counter() - started))
            bar.update()
    return timings, checks


def watch(options: RunOptions) -> dict:
    """Binds `options.corpus` to `options.source` with the options of its refreshes
    (`dream_assets.corpus.watch_corpus`); returns the binding. The source may be empty yet.

    Raises:
        UserError: when the source cannot be listed, the corpus name is not valid, or the
            golden choice cannot work on the documents already there.
    """
    from dream_assets.corpus import watch_corpus
    from dream_assets.defs.refresh.plan import RefreshOptions
    from dream_assets.deployments import deployment, resources_for

    resources = resources_for(deployment(), options.source)
    source = resources["document_source"]
    try:
        documents = sorted(source.list_documents())
    except Exception as error:
        raise UserError(f"cannot list {source.uri}: {error}") from error
    golden = golden_config(options.golden, _bundled(source.uri), documents, options.questions_per_document)
    golden.update(held_out_fraction=options.held_out_fraction)
    refresh = RefreshOptions(
        golden=golden,
        generation_sample_size=options.generation_sample_size,
        judge_llm=options.judge_llm,
        judge_sample_size=options.judge_sample_size,
        judge_configurations=options.judge_configurations,
    )
    try:
        binding = watch_corpus(resources["object_store"].client(), options.corpus, source.uri, refresh.model_dump())
    except ValueError as error:
        raise UserError(str(error)) from error
    logger.info(
        "corpus %r watches %s (%d documents there now): `dream ui` starts the daemon, whose"
        " watched_corpus_sensor refreshes the corpus after each change (golden set: %s)",
        options.corpus,
        source.uri,
        len(documents),
        golden["source"],
    )
    return binding
