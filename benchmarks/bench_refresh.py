"""One document added to a watched corpus: from the upload to the served winner answering from it,
against the first full `dream run` of the corpus.

On a state directory of its own (`--home`), it runs `dream run --documents 15 --judge-llm ''` on
the bundled corpus (the first 15 articles by name; timed: the first full run), binds the corpus to
a folder holding those 15 PDFs (`dream watch`'s binding, with the run's options), then copies the
16th article (`Yuan_dynasty.pdf`) into the folder: the upload. The refresh the sensor would start
(`corpus_refresh_job`, its run config from the same listing) runs in this process on the
deployment's definitions, then `dream serve` (following `champion`) is asked a golden question
about the new article.

Prints: the first run's seconds; the refresh's seconds by stage; nodes embedded by index against
the new article's nodes; golden questions added and moved; LLM answers asked again for questions
that existed before (not from the cache) against those asked for new ones; the upload to the
served answer in seconds, its contexts' documents, and the ratio to the first run. The sensor's
debounce (two looks, `DREAM_SENSOR_INTERVAL_S` apart, 30 s by default) comes on top in a daemon.

Usage: python benchmarks/bench_refresh.py [--home /tmp/bench-refresh]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PDFS = ROOT / "data" / "demo" / "squad" / "pdfs"
SQUAD = ROOT / "data" / "demo" / "squad" / "dev-v2.0.json"
CORPUS = "squad-demo"
NEW = "Yuan_dynasty.pdf"


def dream(home: Path, *args: str, **kwargs) -> subprocess.Popen | subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("dream")), "--home", str(home), *args]
    if kwargs.pop("background", False):
        return subprocess.Popen(command, start_new_session=True, **kwargs)
    return subprocess.run(command, check=True, **kwargs)


def first_run(home: Path) -> float:
    """`dream run` on the first 15 articles; its seconds (0 when the home has it already)."""
    if (home / "object_store" / "corpora" / CORPUS / "leaderboard.json").exists():
        return 0.0
    started = time.perf_counter()
    dream(home, "run", "--documents", "15", "--judge-llm", "")
    return time.perf_counter() - started


def refresh(home: Path, folder: Path) -> tuple[float, str]:
    """Runs the refresh the sensor would start for `folder`'s listing; (seconds, run id)."""
    import dagster as dg

    from dream_assets.corpus import TAG_CORPUS
    from dream_assets.definitions import deployment_definitions
    from resources.sources import DocumentSource

    listing = {d: info.etag for d, info in DocumentSource(uri=str(folder)).list_documents().items()}
    defs = deployment_definitions()
    config = {"ops": {"refresh_corpus": {"config": {"listing": listing}}}}
    started = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        result = defs.resolve_job_def("corpus_refresh_job").execute_in_process(
            instance=instance, tags={TAG_CORPUS: CORPUS}, run_config=config
        )
    return time.perf_counter() - started, result.run_id


def stage_report(run_id: str) -> None:
    """Each stage's seconds, and what its materialisations say about the work done."""
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        stages = instance.get_runs(dg.RunsFilter(tags={"dream/refresh_run": run_id}))
        stats = {run.run_id: instance.get_run_stats(run.run_id) for run in stages}
        for run in sorted(stages, key=lambda r: stats[r.run_id].start_time or 0):
            seconds = (stats[run.run_id].end_time or 0) - (stats[run.run_id].start_time or 0)
            print(f"  stage {run.job_name:18s} {seconds:7.1f} s")
        ids = {run.run_id for run in stages}
        for asset in ("embedding_index", "golden_dataset", "experiment_leaderboard"):
            records = instance.fetch_materializations(dg.AssetKey(asset), limit=50).records
            for record in [r for r in records if r.run_id in ids][:1]:
                meta = {k: v.value for k, v in record.asset_materialization.metadata.items()}  # type: ignore[union-attr]
                keep = ("embedded_nodes", "questions_added", "questions_moved", "questions_retired", "documents_added")
                print(f"  {asset}: " + ", ".join(f"{k}={meta[k]}" for k in keep if k in meta))


def reasked(home: Path, new_document: str) -> tuple[int, int]:
    """LLM answers asked (not from the cache) on the corpus' current golden set by the
    re-evaluated trials: (for questions of other documents, for the new document's)."""
    import pandas as pd

    store = home / "object_store"
    pointer = json.loads((store / "corpora" / CORPUS / "golden_dataset.json").read_text())
    old = new = 0
    for table in (store / "trial_evaluations" / pointer["version"]).glob("*.parquet"):
        frame = pd.read_parquet(table)
        if "generated" not in frame:
            continue
        asked = frame["generated"].astype(bool) & ~frame.get("cached", pd.Series(False, index=frame.index)).astype(bool)
        new += int((asked & (frame["document_id"] == new_document)).sum())
        old += int((asked & (frame["document_id"] != new_document)).sum())
    return old, new


def ask_served(home: Path, question: str, timeout_s: float = 300) -> dict:
    """Starts `dream serve` on a free port, asks `question`, stops it; the prediction."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = dream(home, "serve", "--corpus", CORPUS, "--port", str(port), background=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    body = json.dumps({"dataframe_records": [{"question": question}]}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", body, {"Content-Type": "application/json"})
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(request, timeout=120) as response:
                    return json.load(response)["predictions"][0]
            except OSError:
                time.sleep(1)
        raise SystemExit(f"dream serve did not answer in {timeout_s} s")
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # type: ignore[union-attr]
        server.wait(timeout=60)  # type: ignore[union-attr]


def documents_of(home: Path, context_ids: list[str]) -> set[str]:
    from dream_assets.lib.stores.lance_index import LanceIndex

    documents = {}
    for manifest in (home / "object_store" / "embedding_index").glob("*/*/manifest.json"):
        if not (manifest.parent / "lancedb").exists():
            continue
        index = LanceIndex(manifest.parent / "lancedb", {})
        wanted = [index.rows_by_id[i] for i in context_ids if i in index.rows_by_id]
        for node in index.node_json(wanted):
            documents[node["__data__"]["id_"]] = node["__data__"]["metadata"]["document_id"]
    return {documents.get(i, "?") for i in context_ids}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path("/tmp/bench-refresh"))
    args = parser.parse_args()
    home = args.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DREAM_HOME"] = str(home)
    os.environ["DAGSTER_HOME"] = str(home / "dagster_home")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    models = ROOT / ".dream" / "models"
    if models.is_dir() and not (home / "models").exists():
        (home / "models").symlink_to(models, target_is_directory=True)
    (home / "dagster_home").mkdir(exist_ok=True)
    shutil.copy(ROOT / "config" / "dagster.yaml", home / "dagster_home" / "dagster.yaml")

    first_s = first_run(home)
    print(f"first full run (dream run, 15 documents): {first_s:.1f} s" if first_s else "first run: already there")

    from dream_assets.corpus import watch_corpus
    from resources.object_store import LocalObjectStore

    folder = home / "watched"
    folder.mkdir(exist_ok=True)
    for pdf in sorted(PDFS.glob("*.pdf"))[:15]:
        shutil.copy2(pdf, folder / pdf.name)  # the same mtime: the version the first run applied
    store = LocalObjectStore(root=str(home / "object_store")).client()
    golden = {"source": "human", "squad_path": str(SQUAD), "questions_per_document": 0, "held_out_fraction": 0.3}
    watch_corpus(store, CORPUS, str(folder), {"golden": golden, "generation_sample_size": 12, "judge_llm": ""})

    uploaded = time.perf_counter()
    shutil.copy(PDFS / NEW, folder / NEW)
    refresh_s, run_id = refresh(home, folder)
    print(f"refresh after one upload ({NEW}): {refresh_s:.1f} s")
    stage_report(run_id)
    old, new = reasked(home, "yuan-dynasty")
    print(f"LLM answers asked on the new golden set: {old} for existing questions, {new} for the new article's")

    import pandas as pd

    pointer = json.loads((home / "object_store" / "corpora" / CORPUS / "golden_dataset.json").read_text())
    questions = pd.read_parquet(home / "object_store" / pointer["prefix"] / "questions.parquet")
    question = questions.loc[questions["document_id"] == "yuan-dynasty", "user_input"].iloc[0]
    served = ask_served(home, question)
    served_s = time.perf_counter() - uploaded
    documents = sorted(documents_of(home, served["context_ids"]))
    print(f"upload to served answer: {served_s:.1f} s; contexts from {documents}")
    if first_s:
        print(f"ratio to the first full run: {served_s / first_s:.3f}")


if __name__ == "__main__":
    main()
