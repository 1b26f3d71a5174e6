"""Runs the bulk ingestion pipeline end to end on the local Dagster instance (`make ingest-demo`).

Builds OSCAR 23.01-layout shards from real text (the SQuAD paragraphs of the demo corpus, plus
optionally the GCIDE dictionary from Debian's `dict-gcide` package, for a corpus of 100k+
chunks), starts an embedded PostgreSQL + pgvector when `DREAM_PG_DSN` is unset, then runs
`oscar_ingest_job` over every shard and `vector_benchmark_job`, printing each stage's figures.

Usage: python -m dream_assets.ingest_demo [--shards N] [--gcide-records N] [--model NAME]
"""

import argparse
import gzip
import json
import logging
import os
import re
import sys
import time
from pathlib import Path

import dagster as dg
from tqdm import tqdm

from dream_assets.settings import settings

logger = logging.getLogger("dream.ingest_demo")

GCIDE = Path("/usr/share/dictd/gcide.dict.dz")


def gcide_entries(limit: int) -> list[tuple[str, str]]:
    """(URL, text) of the first `limit` entries of the GNU Collaborative International Dictionary
    of English (GCIDE, GPL; Debian package `dict-gcide`), whitespace collapsed.

    Raises:
        FileNotFoundError: naming the package to install, if it is not installed.
    """
    if not GCIDE.exists():
        raise FileNotFoundError(f"{GCIDE} is missing: install Debian's dict-gcide (apt-get install dict-gcide)")
    text = gzip.decompress(GCIDE.read_bytes()).decode("utf-8", errors="replace")
    entries = []
    for index, block in enumerate(re.split(r"\n\s*\n(?=\S)", text)):
        body = " ".join(block.split())
        if body and not body.startswith("00-database") and len(body) > 40:
            entries.append((f"gcide://entry/{index}", body))
        if len(entries) >= limit:
            break
    return entries


def build_shards(directory: Path, shards: int, gcide_records: int) -> list[Path]:
    """Writes the demo shards (SQuAD paragraphs, then GCIDE entries) to `directory`.

    Shards that are there already are kept when they are the user's own (no marker file) or
    the same demo corpus; a demo corpus of other sizes is replaced (its marker,
    `dream-demo-corpus.json`, records the sizes it was written with).
    """
    from dream_assets.defs.golden.assets import DEMO_SQUAD
    from dream_assets.lib.bulk.oscar import oscar_records, squad_paragraph_records, write_shards

    marker = directory / "dream-demo-corpus.json"
    wanted = {"shards": shards, "gcide_records": gcide_records}
    existing = sorted(directory.glob("*.jsonl*"))
    if existing and (not marker.exists() or json.loads(marker.read_text()) == wanted):
        return existing
    for path in existing:
        path.unlink()
    records = squad_paragraph_records(DEMO_SQUAD)
    if gcide_records:
        records += oscar_records(gcide_entries(gcide_records))
    paths = write_shards(records, directory, shards)
    marker.write_text(json.dumps(wanted))
    return paths


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--shards", type=int, default=4, help="shards the corpus is written as")
    parser.add_argument("--gcide-records", type=int, default=0, help="GCIDE entries added to the corpus")
    parser.add_argument("--model", default="all-mpnet-base-v2", help="embedding model (bundled name or HF id)")
    parser.add_argument("--actors", type=int, default=2, help="Ray Data embedding actors")
    parser.add_argument("--batch-size", type=int, default=64, help="chunks per forward pass")
    parser.add_argument("--questions", type=int, default=200, help="SQuAD questions of the query benchmark")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients of the QPS figure")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logger.addHandler(logging.StreamHandler(sys.stdout))
    logger.setLevel(logging.INFO)
    logger.propagate = False

    from dream_assets.deployments import state_dir

    home = state_dir()
    inbox = Path(settings().oscar_source or home / "oscar_inbox")
    paths = build_shards(inbox, args.shards, args.gcide_records)
    logger.info("%d shards in %s (%.1f MB)", len(paths), inbox, sum(p.stat().st_size for p in paths) / 1e6)
    postgres = None
    if settings().pg_dsn is None:
        from dream_assets.lib.stores.embedded_postgres import start_postgres

        postgres = start_postgres(home / "postgres")
        os.environ["DREAM_PG_DSN"] = postgres.dsn
        logger.info("embedded PostgreSQL + pgvector on %s", postgres.dsn.rsplit("@", 1)[1])
    try:
        return _run(args, home)
    finally:
        if postgres is not None:
            postgres.stop()


def _run(args: argparse.Namespace, home: Path) -> int:
    import ray.data

    from dream_assets.definitions import build_definitions
    from dream_assets.deployments import deployment, executor_for, resources_for

    # the command line shows one progress bar per job; Ray Data's own per-operator lines go
    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    from dream_assets.defs.ingestion.assets import OSCAR_SHARDS

    resources = resources_for(deployment())
    defs = build_definitions(resources, executor_for(deployment()))
    instance = dg.DagsterInstance.get()
    shards = sorted(resources["oscar_source"].list_shards())
    instance.add_dynamic_partitions(OSCAR_SHARDS, shards)
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    embed = {"model": args.model, "actors": args.actors, "batch_size": args.batch_size}
    benchmark = {"questions": args.questions, "clients": args.clients}
    jobs = [
        ("oscar_ingest_job", {"ops": {"oscar_embeddings": {"config": embed}}}, shards),
        ("vector_benchmark_job", {"ops": {"vector_query_benchmark": {"config": benchmark}}}, None),
    ]
    for name, config, keys in tqdm(jobs, desc="ingestion", unit="job", file=sys.stdout):
        start = time.perf_counter()
        tags = {}
        if keys:
            tags = {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}
        result = defs.resolve_job_def(name).execute_in_process(
            instance=instance, tags=tags, run_config={**config, **quiet}, raise_on_error=False
        )
        logger.info("%s: %s in %.0f s", name, "ok" if result.success else "FAILED", time.perf_counter() - start)
        seen = set()
        for event in result.get_asset_materialization_events():
            if event.asset_key in seen:  # one per partition, same metadata
                continue
            seen.add(event.asset_key)
            metadata = event.materialization.metadata
            shown = {k: v.value for k, v in metadata.items() if not isinstance(v.value, str) or len(v.value) < 80}
            logger.info("  %s: %s", event.asset_key.to_user_string() if event.asset_key else "", shown)
        if not result.success:
            return 1
    store = resources["object_store"].client()
    logger.info("\n%s", store.read_bytes("oscar/benchmark/results.md").decode())
    logger.info("Dagster UI: make dagster-ui (DAGSTER_HOME=%s)", os.environ.get("DAGSTER_HOME", ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
