"""A trial whose worker dies of a signal on a live node, on the real multi-node Ray cluster: a
crash of the code, recorded with its signal and not run again as a lost node; the other
configuration is ranked, and the crashed one keeps its retrieval tier on the leaderboard.

The chain as a user's script runs it against a Ray cluster (RAY_ADDRESS) through DREAM's
Python API (`dream_assets.run`, what `dream run` calls), with an LLM table that serves one of the
two LLMs of the search space by `dream_assets_tests.crashing_llm`, whose LLM kills its process
with SIGILL when asked, as a llama.cpp build with an instruction the CPU lacks did (issue 30).
"""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from dream_assets_tests.integration.test_cli import dream_command, new_home

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]

SEARCH_SPACE = """
retrieval:
  - {method: chunks, chunk_size: 256, chunk_overlap: 32}
embedding_models: [all-MiniLM-L6-v2]
llms: [gemma-3-270m, sigill-llm]
top_k: [2]
"""
SCRIPT = """
import sys
import dream_assets as dream

home, space = sys.argv[1:]
board = dream.run(documents=2, questions_per_document=0, search_space=space, generation_sample_size=4,
                  judge_llm="", home=home)
print("returned:", " ".join(board["config_key"]))
"""
CRASHED, HEALTHY = "chunks256o32_minilm-l6_sigill-llm_k2", "chunks256o32_minilm-l6_gemma-3-270m_k2"


@pytest.fixture(scope="module")
def crash_run(tmp_path_factory, models_dir, ray_head):
    root = tmp_path_factory.mktemp("crash")
    home = new_home(root / "home", models_dir, SEARCH_SPACE)
    table = root / "llms.yaml"
    table.write_text(
        yaml.safe_dump({"models": {"sigill-llm": {"provider": "dream_assets_tests.crashing_llm:SigillProvider"}}})
    )
    _, env = dream_command(home, env={"RAY_ADDRESS": ray_head.address, "DREAM_LLM_TABLE": str(table)},
                           pythonpath=str(ROOT))  # fmt: skip  # the provider is the harness' own module
    script = [sys.executable, "-c", SCRIPT, str(home), str(home / "search_space.yaml")]
    run = subprocess.run(script, capture_output=True, text=True, timeout=900, env=env, cwd=root)
    return home, run


def test_a_worker_killed_by_sigill_is_one_failure_naming_the_signal_not_a_lost_node(crash_run):
    home, run = crash_run
    assert run.returncode == 0, run.stderr[-3000:]
    [record_path] = (home / "object_store" / "trial_evaluations").glob(f"*/{CRASHED}.error.json")
    record = json.loads(record_path.read_text())
    assert record["failed_tier"] == "generation"
    assert "died of SIGILL (Illegal instruction)" in record["error"] and "not a lost node" in record["error"]
    assert list(record_path.parent.glob("*.error.json")) == [record_path]  # the other trial did not fail
    # no node-loss retry: one Tune experiment (a retry runs the lost trials as `<name>-retry<n>`),
    # which ran each configuration once
    [experiment] = [path for path in (home / "ray_results").iterdir() if path.is_dir()]
    assert "retry" not in experiment.name
    assert sorted(path.name for path in experiment.iterdir() if path.is_dir()) == sorted([CRASHED, HEALTHY])


def test_the_other_configuration_is_ranked_and_the_crashed_one_keeps_its_retrieval_tier(crash_run):
    home, run = crash_run
    [board_path] = (home / "object_store" / "experiment_leaderboard").glob("*/leaderboard.parquet")
    board = pd.read_parquet(board_path).set_index("config_key")
    healthy, crashed = board.loc[HEALTHY], board.loc[CRASHED]
    assert healthy["rank"] == 1 and healthy["status"] == "ok" and healthy["tier"] == 1
    # answered by the bundled LLM: the sample of 4, over the selection and held-out splits
    assert healthy["generated_questions"] == 4 and healthy["f1_n"] + healthy["held_out/f1_n"] == 4
    assert crashed["status"] == "generation_failed" and crashed["failed_tier"] == "generation"
    assert "SIGILL" in crashed["error"]
    assert 0 < crashed["mrr_n"] == healthy["mrr_n"] and 0 <= crashed["mrr"] <= 1 and 0 <= crashed["hit_rate"] <= 1
    assert pd.isna(crashed["f1"]) and crashed["generated_questions"] == 0
    assert f"{CRASHED}: its generation tier failed; its retrieval metrics are above, not ranked" in run.stdout
    assert f"winner {HEALTHY}" in run.stdout
    assert f"returned: {' '.join(board.index)}" in run.stdout  # the API's leaderboard, best first
