"""A sweep killed with SIGKILL half-way and run again: nothing finished is redone.

The sweep runs in a child process (`dream_assets_tests.sweep_child`, the Dagster run's process,
which drives Ray Tune) connected to a real Ray head; the test kills its whole process group once
one trial has finished and the other has answered some questions, then materialises the same
partitions again in process and checks what was done twice.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from dream_assets import layout
from dream_assets.definitions import build_definitions, local_resources
from dream_assets.partitions import CONFIGS_BY_KEY
from dream_assets_tests.chain import metadata, run_job
from resources.ray_cluster import RayCluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
INDEX = "chunks256o32_minilm-l6"
CONFIGS = [f"{INDEX}_gemma-3-270m_k2", f"{INDEX}_gemma-3-270m_k4"]
QUESTIONS = 8


def resume_resources(state: Path, models_dir: Path, ray_address: str) -> dict:
    """Embedded resources under `state`, the bundled models in `models_dir`, a Ray head at
    `ray_address` running one trial at a time (so the kill lands between two trials' work)."""
    resources = local_resources(state, str(ROOT / "data" / "demo" / "squad" / "pdfs"))
    resources["embeddings"] = resources["embeddings"].model_copy(update={"models_dir": str(models_dir)})
    resources["llms"] = resources["llms"].model_copy(update={"models_dir": str(models_dir)})
    resources["ray_cluster"] = RayCluster(
        address=ray_address,
        max_concurrent_trials=1,
        storage_path=str(state / "ray_results"),
        scratch_dir=str(state / "scratch"),
    )
    return resources


def _parts(store, version: str, key: str) -> int:
    return len(store.list(layout.trial_key(version, key).removesuffix(".parquet") + ".parts"))


def test_a_killed_sweep_resumes_without_redoing_trials_questions_or_runs(tmp_path, models_dir, ray_head, ray_session):
    state = tmp_path / "state"
    resources = resume_resources(state, models_dir, ray_head.address)
    defs = build_definitions(resources)
    store = resources["object_store"].client()
    with dg.instance_for_test() as instance:
        documents = ["normans", "force"]
        instance.add_dynamic_partitions("documents", documents)
        run_job(defs, instance, "ingest_job", documents)
        golden_config = {"ops": {"golden_dataset": {"config": {"questions_per_document": QUESTIONS // 2}}}}
        version = metadata(run_job(defs, instance, "golden_job", run_config=golden_config), "golden_dataset")["version"]
        run_job(defs, instance, "index_job", [INDEX])

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
        assert table["retrieved_contexts"].map(len).eq(CONFIGS_BY_KEY[second].top_k).all()

        tracker = resources["tracker"]
        runs = tracker.client().search_runs([tracker.experiment_id()])
        assert len(runs) == 3  # the sweep's parent and one run per configuration, no duplicate
