"""A sweep killed with SIGKILL half-way and run again: nothing finished is redone. A worker
node killed mid-sweep: its trial runs again on the node that remains.

The first sweep runs in a child process (`dream_assets_tests.sweep_child`, the Dagster run's
process, which drives Ray Tune) connected to the real multi-node Ray cluster; the test kills its
whole process group once one trial has finished and the other has answered some questions, then
materialises the same partitions again in process and checks what was done twice. The second
kills the raylet of one of the two worker nodes (SIGKILL) while both trials run, one per node.
"""

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import pytest

from dream_assets import layout
from dream_assets.definitions import build_definitions
from dream_assets.deployments import local_resources
from dream_assets.lib.tracking.mlflow_client import TAG_KIND
from dream_assets.search_space import load_search_space
from dream_assets_tests.chain import metadata, run_job
from dream_assets_tests.servers import TRIAL_RESOURCE
from resources.ray_cluster import RayCluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
INDEX = "chunks256o32_minilm-l6"
CONFIGS = [f"{INDEX}_gemma-3-270m_k2", f"{INDEX}_gemma-3-270m_k4"]
QUESTIONS = 8


def resume_resources(state: Path, models_dir: Path, ray_address: str, max_concurrent_trials: int = 1) -> dict:
    """Embedded resources under `state`, the bundled models in `models_dir`, a Ray cluster at
    `ray_address` running one trial at a time by default (so the kill lands between two
    trials' work), trials on the worker nodes."""
    resources = local_resources(state, str(ROOT / "data" / "demo" / "squad" / "pdfs"))
    resources["embeddings"] = resources["embeddings"].model_copy(update={"models_dir": str(models_dir)})
    resources["llms"] = resources["llms"].model_copy(update={"models_dir": str(models_dir)})
    resources["ray_cluster"] = RayCluster(
        address=ray_address,
        max_concurrent_trials=max_concurrent_trials,
        storage_path=str(state / "ray_results"),
        scratch_dir=str(state / "scratch"),
        trial_resources={"CPU": 1, TRIAL_RESOURCE: 1},
    )
    return resources


def _prepare(defs, instance, questions: int) -> str:
    """Ingests two documents, draws `questions` golden questions, builds the index; returns the
    golden version."""
    documents = ["normans", "force"]
    instance.add_dynamic_partitions("documents", documents)
    run_job(defs, instance, "ingest_job", documents)
    golden_config = {"ops": {"golden_dataset": {"config": {"questions_per_document": questions // 2}}}}
    version = metadata(run_job(defs, instance, "golden_job", run_config=golden_config), "golden_dataset")["version"]
    run_job(defs, instance, "index_job", [INDEX])
    return version


def _parts(store, version: str, key: str) -> int:
    return len(store.list(layout.trial_key(version, key).removesuffix(".parquet") + ".parts"))


def test_a_killed_sweep_resumes_without_redoing_trials_questions_or_runs(tmp_path, models_dir, ray_head, ray_session):
    state = tmp_path / "state"
    resources = resume_resources(state, models_dir, ray_head.address)
    defs = build_definitions(resources)
    store = resources["object_store"].client()
    with dg.instance_for_test() as instance:
        version = _prepare(defs, instance, QUESTIONS)
        child = subprocess.Popen(
            [sys.executable, "-m", "dream_assets_tests.sweep_child", str(state), str(models_dir), ray_head.address]
            + CONFIGS,
            cwd=ROOT,
            start_new_session=True,  # its own process group: the kill takes every child with it
            stdout=open(tmp_path / "child.log", "wb"),  # noqa: SIM115 - closed with the process
            stderr=subprocess.STDOUT,
        )
        done = [layout.trial_key(version, key).replace(".parquet", ".done.json") for key in CONFIGS]
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline and child.poll() is None:
            finished = [key for key, marker in zip(CONFIGS, done, strict=True) if store.exists(marker)]
            if len(finished) == 1 and _parts(store, version, next(k for k in CONFIGS if k not in finished)) >= 2:
                break
            time.sleep(0.05)
        assert child.poll() is None, (tmp_path / "child.log").read_text()[-3000:]
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        [first] = [key for key, marker in zip(CONFIGS, done, strict=True) if store.exists(marker)]
        [second] = [key for key in CONFIGS if key != first]
        kept = _parts(store, version, second)
        assert 2 <= kept < QUESTIONS
        first_record = store.read_json(done[CONFIGS.index(first)])

        again = metadata(run_job(defs, instance, "sweep_job", CONFIGS), "trial_evaluations")
        assert (again["skipped_trials"], again["resumed_questions"], again["failed_trials"]) == (1, kept, 0)
        assert store.read_json(done[CONFIGS.index(first)]) == first_record  # not evaluated again
        table = store.read_parquet(layout.trial_key(version, second))
        assert table["question_id"].is_unique and len(table) == QUESTIONS
        assert int(table["resumed"].sum()) == kept
        metrics = store.read_json(done[CONFIGS.index(second)])["metrics"]
        # questions answered before the kill are not asked again; at most one answered question
        # can have been cached by the LLM cache and killed before it was written
        assert metrics["llm_calls"] + metrics["llm_cache_hits"] == QUESTIONS - kept
        assert metrics["llm_cache_hits"] <= 1
        assert _parts(store, version, second) == 0
        assert table["retrieved_contexts"].map(len).eq(load_search_space().configs_by_key[second].top_k).all()

        tracker = resources["tracker"]
        runs = tracker.client().search_runs([tracker.experiment_id()])
        assert len(runs) == 3  # the sweep's parent and one run per configuration, no duplicate


class _NodeKiller(threading.Thread):
    """Kills the raylet of the worker node `victim` once each trial has saved `after` answers."""

    def __init__(self, cluster, victim, store, version: str, after: int):
        super().__init__(daemon=True)
        self.cluster, self.victim, self.store, self.version, self.after = cluster, victim, store, version, after
        self.saved: dict[str, int] = {}  # answers each trial had saved when the node was killed
        self.error: BaseException | None = None

    def run(self):
        try:
            deadline = time.monotonic() + 400
            while time.monotonic() < deadline:
                saved = {key: _parts(self.store, self.version, key) for key in CONFIGS}
                if min(saved.values()) >= self.after:
                    self.saved = saved
                    self.cluster.kill_raylet(self.victim)
                    return
                time.sleep(0.05)
            raise TimeoutError(f"the trials did not save {self.after} answers each")
        except BaseException as error:  # noqa: BLE001 - reported by the test
            self.error = error


def test_a_killed_worker_node_s_trial_runs_again_on_the_other_node(tmp_path, models_dir, ray_head, ray_session):
    questions = 12
    resources = resume_resources(tmp_path / "state", models_dir, ray_head.address, max_concurrent_trials=2)
    defs = build_definitions(resources)
    store = resources["object_store"].client()
    victim, survivor = ray_head.workers[:2]
    try:
        with dg.instance_for_test() as instance:
            version = _prepare(defs, instance, questions)
            killer = _NodeKiller(ray_head, victim, store, version, after=2)
            killer.start()
            sweep = metadata(run_job(defs, instance, "sweep_job", CONFIGS), "trial_evaluations")
            killer.join()
            assert killer.error is None, killer.error
            # each trial ran on its own node; the one on the killed node ran again on the other
            placement = ray_head.nodes_that_ran("_trainable.__ray_ready__", at_least=3)
            assert placement == {victim.name: 1, survivor.name: 2}, placement
    finally:
        if len(ray_head.workers) < 2:
            ray_head.add_worker()  # the session's cluster has two worker nodes again
    assert (sweep["trials"], sweep["failed_trials"], sweep["skipped_trials"]) == (2, 0, 0)
    resumed = {}
    for key in CONFIGS:
        table = store.read_parquet(layout.trial_key(version, key))
        assert table["question_id"].is_unique and len(table) == questions
        assert (table["error"] == "").all()
        resumed[key] = int(table["resumed"].sum())
    # the lost trial resumed from the answers it had saved (at least those seen before the
    # kill); the other one never stopped
    [lost] = [key for key, count in resumed.items() if count]
    assert resumed[lost] >= killer.saved[lost] >= 2 and sweep["resumed_questions"] == resumed[lost]
    metrics = store.read_json(layout.trial_key(version, lost).replace(".parquet", ".done.json"))["metrics"]
    # the other node's LLM cache holds none of its answers: every remaining question is asked
    assert metrics["llm_calls"] + metrics["llm_cache_hits"] == questions - resumed[lost]
    logging.getLogger(__name__).warning(  # the figures, in the test's captured log
        "killed %s with saved answers %s; placement %s; lost %s resumed %d, then asked %d, cache hits %d",
        *(victim.name, killer.saved, placement, lost, resumed[lost], metrics["llm_calls"], metrics["llm_cache_hits"]),
    )
    tracker = resources["tracker"]
    runs = tracker.client().search_runs([tracker.experiment_id()])
    assert len(runs) == 3  # the sweep's parent and one run per configuration, no duplicate
    trial_runs = [run for run in runs if run.data.tags[TAG_KIND] == "trial"]
    assert sorted(run.info.status for run in trial_runs) == ["FINISHED", "FINISHED"]  # the lost one too
