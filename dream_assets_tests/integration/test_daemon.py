"""The Dagster daemon, not a test, carries an upload through to the served winner.

`dream watch` binds a corpus to a prefix of the S3 server; `dream ui` (`dagster dev`: webserver
and daemon) runs on a state directory of its own, its S3 keys in the environment as deployed;
`dream serve` serves the corpus' winner and follows its `champion` alias. The test only uploads
and deletes objects: the daemon's ticks of `watched_corpus_sensor` start each refresh, whose
stages are Dagster runs of the chain's jobs.
"""

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from dream_assets import layout
from dream_assets.lib.stores.lance_index import LanceIndex
from dream_assets_tests.integration.test_cli import _free_port, _wait_for, dream, new_home, user_env
from dream_assets_tests.servers import start_dagster_ui

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PDFS = Path(__file__).resolve().parents[2] / "data" / "demo" / "squad" / "pdfs"
# one configuration: tier 1 is that configuration, and every refresh re-evaluates it
SEARCH_SPACE = """
retrieval:
  - {method: chunks, chunk_size: 256, chunk_overlap: 32}
embedding_models: [all-MiniLM-L6-v2]
llms: [gemma-3-270m]
top_k: [2]
"""
RUNS = """query($tags: [ExecutionTag!]) { runsOrError(filter: {tags: $tags}) {
  ... on Runs { results { runId jobName status creationTime startTime endTime tags { key value } } } } }"""


def _refreshes(ui) -> list[dict]:
    """The sensor's refresh runs, oldest first."""
    tags = [{"key": "dagster/sensor_name", "value": "watched_corpus_sensor"}]
    runs = ui.graphql(RUNS, tags=tags)["runsOrError"]["results"]
    return sorted(runs, key=lambda run: run["creationTime"])


def _wait(what: str, ready, ui, timeout_s: float = 420):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := ready():
            return value
        assert ui.process.poll() is None, ui.log.read_text()[-3000:]
        time.sleep(1)
    raise AssertionError(f"{what} after {timeout_s} s: {ui.log.read_text()[-3000:]}")


def _refreshed(ui, count: int) -> dict | None:
    """The `count`-th refresh once it succeeded; fails on a failed one."""
    runs = _refreshes(ui)
    if len(runs) < count:
        return None
    run = runs[count - 1]
    assert run["status"] not in ("FAILURE", "CANCELED"), f"refresh {count} ended {run['status']}"
    return run if run["status"] == "SUCCESS" else None


def _ask(port: int, question: str) -> dict:
    body = json.dumps({"dataframe_records": [{"question": question}]}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.load(response)["predictions"][0]


def _documents_of(store: Path, served: dict | None) -> set[str]:
    """The documents of a served answer's contexts, read from every version of the index (the
    server may still be on an earlier one); empty while the server restarts (`served` None)."""
    if served is None:
        return set()
    documents = {}
    for manifest in (store / "embedding_index" / "chunks256o32_minilm-l6").glob("*/manifest.json"):
        documents.update(_node_documents(manifest.parent / "lancedb"))
    return {documents[node_id] for node_id in served["context_ids"]}


def _try_ask(port: int, question: str) -> dict | None:
    """`_ask`, or None while the server restarts on a new version."""
    try:
        return _ask(port, question)
    except OSError:
        return None


def _index_nodes(store: Path) -> pd.Series:
    """Nodes per document of the corpus' current index."""
    pointer = json.loads((store / layout.index_pointer("chunks256o32_minilm-l6", "inbox")).read_text())
    return pd.Series(_node_documents(store / pointer["prefix"] / "lancedb")).value_counts()


def _node_documents(directory: Path) -> dict[str, str]:
    """The document of every node of one LanceDB index, by node id."""
    index = LanceIndex(directory, {})
    nodes = index.node_json(list(index.rows_by_id.values()))
    return {node["__data__"]["id_"]: node["__data__"]["metadata"]["document_id"] for node in nodes}


def _questions(store: Path, document: str) -> pd.Series:
    """The corpus' current golden questions about `document`."""
    pointer = json.loads((store / layout.golden_pointer("inbox")).read_text())
    questions = pd.read_parquet(store / pointer["prefix"] / "questions.parquet")
    return questions.loc[questions["document_id"] == document, "user_input"]


def _stage_metadata(home: Path, refresh_run: str, asset: str) -> dict:
    """The metadata of `asset`'s materialisation by a stage of refresh `refresh_run`."""
    with dg.DagsterInstance.from_config(str(home / "dagster_home")) as instance:
        stages = {run.run_id for run in instance.get_runs(dg.RunsFilter(tags={"dream/refresh_run": refresh_run}))}
        events = instance.fetch_materializations(dg.AssetKey(asset), limit=100).records
        [event] = [e for e in events if e.run_id in stages][:1]
        return {k: v.value for k, v in event.asset_materialization.metadata.items()}  # pyright: ignore[reportOptionalMemberAccess]


def test_an_upload_reaches_the_served_winner_through_the_daemon(tmp_path, models_dir, s3_server, s3_bucket):
    client, bucket = s3_bucket
    home = new_home(tmp_path / "home", models_dir, SEARCH_SPACE)
    store = home / "object_store"
    env = user_env("AWS_")
    env.update(
        AWS_ENDPOINT_URL=s3_server.endpoint_url,
        AWS_ACCESS_KEY_ID=s3_server.access_key_id,
        AWS_SECRET_ACCESS_KEY=s3_server.secret_access_key,
        DREAM_PDF_SOURCE=f"s3://{bucket}/inbox",  # the deployment's source: its endpoint and keys
        DREAM_SENSOR_INTERVAL_S="2",
        DREAM_SEARCH_SPACE=str(home / "search_space.yaml"),
    )
    source = f"s3://{bucket}/inbox"
    watched = dream(home, "watch", "--source", source, "--corpus", "inbox", "--golden", "human",
                    "--questions-per-document", "6", "--generation-sample-size", "2", env=env)  # fmt: skip
    assert watched.returncode == 0, watched.stderr[-3000:]
    assert "corpus 'inbox' watches" in watched.stdout and "(0 documents there now)" in watched.stdout
    ui = start_dagster_ui(home, env)
    server = None
    try:
        uploaded = time.time()
        client.put_object(Bucket=bucket, Key="inbox/Normans.pdf", Body=(PDFS / "Normans.pdf").read_bytes())
        first = _wait("the first refresh did not succeed", lambda: _refreshed(ui, 1), ui)
        first_s = first["endTime"] - uploaded
        assert {t["key"]: t["value"] for t in first["tags"]}["dream/corpus"] == "inbox"

        port = _free_port()
        command = [str(Path(sys.executable).with_name("dream")), "--home", str(home), "serve", "--corpus", "inbox",
                   "--port", str(port), "--follow-interval", "2"]  # fmt: skip
        server = subprocess.Popen(command, env=env, cwd=home.parent, start_new_session=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
        _wait_for(f"http://127.0.0.1:{port}/ping", server)
        served = _ask(port, _questions(store, "normans").iloc[0])
        assert served["error"] == "" and _documents_of(store, served) == {"normans"}

        # a second document: only its nodes are embedded, and the served winner follows
        uploaded = time.time()
        client.put_object(Bucket=bucket, Key="inbox/Force.pdf", Body=(PDFS / "Force.pdf").read_bytes())
        second = _wait("the second refresh did not succeed", lambda: _refreshed(ui, 2), ui)
        second_s = second["endTime"] - uploaded
        nodes = _index_nodes(store)
        indexed = _stage_metadata(home, second["runId"], "embedding_index")
        assert indexed["embedded_nodes"] == nodes["force"] and nodes["normans"] > 0
        leaderboard = _stage_metadata(home, second["runId"], "experiment_leaderboard")
        assert leaderboard["documents_added"] == ["force"] and leaderboard["refresh_run"] == second["runId"]
        golden = _stage_metadata(home, second["runId"], "golden_dataset")
        asked = _questions(store, "force")
        assert golden["questions_moved"] == 0 and golden["questions_added"] == len(asked) > 0
        question = asked.iloc[0]
        follows = lambda: "force" in _documents_of(store, _try_ask(port, question))  # noqa: E731
        _wait("dream serve did not follow the alias", follows, ui, 120)

        # the same object again: the same ETag, and no refresh
        client.put_object(Bucket=bucket, Key="inbox/Force.pdf", Body=(PDFS / "Force.pdf").read_bytes())
        time.sleep(8)  # four ticks
        assert len(_refreshes(ui)) == 2

        # deleted: its nodes leave the served index, its questions are retired
        client.delete_object(Bucket=bucket, Key="inbox/Force.pdf")
        third = _wait("the third refresh did not succeed", lambda: _refreshed(ui, 3), ui)
        assert "force" not in _index_nodes(store)
        assert _stage_metadata(home, third["runId"], "golden_dataset")["questions_retired"] == len(asked)
        assert _stage_metadata(home, third["runId"], "experiment_leaderboard")["documents_removed"] == ["force"]
        gone = lambda: (answer := _try_ask(port, question)) and "force" not in _documents_of(store, answer)  # noqa: E731
        _wait("the served index still has force", gone, ui, 120)
    finally:
        try:
            if server is not None:
                with contextlib.suppress(ProcessLookupError):  # it may have exited on its own
                    os.killpg(server.pid, signal.SIGTERM)
                server.wait(timeout=60)
        finally:
            ui.stop()
    logging.getLogger(__name__).warning("upload to refreshed winner: first %.1f s, second %.1f s", first_s, second_s)
