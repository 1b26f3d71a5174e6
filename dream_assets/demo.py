"""Runs the whole DREAM chain end to end on the local Dagster instance (`make demo`).

PDFs are discovered from the PDF source and added as `documents` partitions, then each stage
runs as one Dagster run over all its partitions: ingest → golden set → embedding indexes →
sweep (Ray Tune) → leaderboard. Runs, materialisations and metadata land in the Dagster instance
under `DAGSTER_HOME`, so `dagster dev` shows them afterwards.

Usage: python -m dream_assets.demo [--documents N] [--questions-per-document N] [--golden SOURCE]
    [--generation-sample-size N] [--held-out-fraction F]
"""

import argparse
import logging
import os
import sys
import time

import dagster as dg
from tqdm import tqdm

logger = logging.getLogger("dream.demo")

# Questions each configuration answers with the LLM in the demo: chosen so that the demo stays
# near 15 minutes on 2 cores (see README, "What `make demo` does").
GENERATION_SAMPLE_SIZE = 12
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def _run(
    defs: dg.Definitions,
    job_name: str,
    instance: dg.DagsterInstance,
    keys: list[str] | None,
    run_config: dict | None = None,
) -> str:
    """Executes a job over the partition range `keys[0]..keys[-1]` (all of them, in order)."""
    tags = {RANGE_START: keys[0], RANGE_END: keys[-1]} if keys else {}
    config = {**(run_config or {}), "loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    result = defs.resolve_job_def(job_name).execute_in_process(instance=instance, tags=tags, run_config=config)
    return result.run_id


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=0, help="use the first N PDFs by name (0: all)")
    parser.add_argument(
        "--questions-per-document", type=int, default=0, help="golden questions per document (0: every one)"
    )
    parser.add_argument(
        "--generation-sample-size",
        type=int,
        default=GENERATION_SAMPLE_SIZE,
        help="questions each configuration answers with its LLM (every question is retrieved; 0: all)",
    )
    parser.add_argument(
        "--held-out-fraction", type=float, default=0.3, help="share of the questions held out to score the winner"
    )
    parser.add_argument(
        "--golden", choices=["human", "synthetic", "both"], default="human", help="golden set source (see README)"
    )
    parser.add_argument("--judge-llm", default="", help="LLM judging ragas' LLM metrics ('' skips them)")
    parser.add_argument("--judge-sample-size", type=int, default=0, help="questions per trial the judge scores")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    report = logging.StreamHandler(sys.stdout)  # the demo's own output: plain lines on stdout
    logger.addHandler(report)
    logger.setLevel(logging.INFO)
    logger.propagate = False

    from dream_assets import layout
    from dream_assets.definitions import defs, state_dir
    from dream_assets.defs.evaluation.leaderboard import shown
    from dream_assets.lib.leaderboard import verdict
    from dream_assets.partitions import (
        SEARCH_SPACE_CONFIGS,
        document_partitions,
        embedding_index_partitions,
        rag_config_partitions,
    )

    home = state_dir()
    instance = dg.DagsterInstance.get()
    pdf_source = defs.resources["pdf_source"]
    found = sorted(pdf_source.list_pdfs())
    documents = found[: args.documents] if args.documents else found
    if not documents:
        logger.error("no PDF found under %s", pdf_source.uri)
        return 1
    instance.add_dynamic_partitions(document_partitions.name, documents)
    configs = rag_config_partitions.get_partition_keys()
    stages = [
        ("ingest: copy and parse PDFs", "ingest_job", documents, None),
        (
            "golden dataset",
            "golden_job",
            None,
            {
                "ops": {
                    "golden_dataset": {
                        "config": {
                            "questions_per_document": args.questions_per_document,
                            "source": args.golden,
                            "held_out_fraction": args.held_out_fraction,
                        }
                    }
                }
            },
        ),
        ("embedding indexes", "index_job", embedding_index_partitions.get_partition_keys(), None),
        *(
            [("reranker: training pairs, fine-tuning", "reranker_job", None, None)]
            if any(config.reranker != "none" for config in SEARCH_SPACE_CONFIGS)
            else []
        ),
        (
            f"sweep: {len(configs)} configurations on Ray Tune",
            "sweep_job",
            configs,
            {
                "ops": {
                    "trial_evaluations": {
                        "config": {
                            "judge_llm": args.judge_llm,
                            "judge_sample_size": args.judge_sample_size,
                            "generation_sample_size": args.generation_sample_size,
                        }
                    }
                }
            },
        ),
        ("leaderboard", "leaderboard_job", None, None),
    ]
    started = time.perf_counter()
    timings = []
    with tqdm(total=len(stages), unit="stage", file=sys.stdout) as bar:
        for title, job, keys, run_config in stages:
            bar.set_description(title)
            stage_start = time.perf_counter()
            _run(defs, job, instance, keys, run_config)
            timings.append((title, time.perf_counter() - stage_start))
            bar.update()
    total = time.perf_counter() - started

    store = defs.resources["object_store"].client()
    golden = store.read_json(layout.GOLDEN_POINTER)["version"]
    table = store.read_parquet(f"{layout.leaderboard_prefix(golden)}/leaderboard.parquet")
    questions = len(store.read_parquet(f"{layout.golden_prefix(golden)}/questions.parquet"))
    logger.info(
        f"\nDREAM leaderboard: {len(table)} configurations, {questions} questions retrieved"
        f" ({args.generation_sample_size or questions} answered per configuration),"
        f" golden set {golden}, {len(documents)} documents; tier 1: not significantly worse than"
        " the best (paired tests, Holm-corrected); <metric>_n: questions behind each mean\n"
    )
    logger.info(shown(table).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    logger.info("\n" + verdict(table, "mrr"))
    logger.info(
        "\nstage timings: "
        + ", ".join(f"{title} {seconds:.0f} s" for title, seconds in timings)
        + f"; total {total:.0f} s"
    )
    plot = store.uri(f"{layout.leaderboard_prefix(golden)}/leaderboard.html")
    logger.info(f"""
Where to look:
  plot:       {plot} (and leaderboard.png beside it)
  Dagster UI: make dagster-ui   (then http://127.0.0.1:3000: asset graph, partitions, runs, metadata)
  MLflow UI:  make mlflow-ui    (then http://127.0.0.1:5000: experiment 'dream', one parent run per sweep)
  state:      {home}""")
    return 0


if __name__ == "__main__":
    from dream_assets.definitions import state_dir

    os.environ.setdefault("DAGSTER_HOME", str(state_dir() / "dagster_home"))
    os.makedirs(os.environ["DAGSTER_HOME"], exist_ok=True)
    sys.exit(main())
