"""Bring your own component, as a user does: the example metric plug-in
(`examples/dream-metric-example`) pip-installed, and the semantic method named in a search
space, through one `dream run` sweep on the bundled corpus."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dream_assets_tests.integration.test_cli import PYTHON_WARNING, dream, new_home

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dream-metric-example"
SEARCH_SPACE = """
retrieval:
  - {method: chunks, chunk_size: 256, chunk_overlap: 32}
  - {method: semantic, breakpoint_percentile_threshold: 90}
embedding_models: [all-MiniLM-L6-v2]
llms: [gemma-3-270m]
top_k: [2]
"""


@pytest.fixture(scope="module")
def plugin_run(tmp_path_factory, models_dir):
    """`pip install` of the example into a folder of its own (on PYTHONPATH, as a user's
    environment would have it), then `dream run` with it: 2 documents, the human golden set,
    chunks against semantic chunking."""
    root = tmp_path_factory.mktemp("plugins")
    source, site = root / "dream-metric-example", root / "site"
    shutil.copytree(EXAMPLE, source)
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
               "--target", str(site), str(source)]  # fmt: skip
    subprocess.run(install, check=True, capture_output=True, timeout=300)
    home = new_home(root / "home", models_dir, SEARCH_SPACE)
    run = dream(home, "run", "--documents", "2", "--questions-per-document", "0", "--search-space",
                str(home / "search_space.yaml"), "--generation-sample-size", "2", "--judge-llm", "",
                pythonpath=str(site))  # fmt: skip
    return home, run


def _leaderboard(home: Path) -> tuple[Path, pd.DataFrame]:
    [board] = (home / "object_store" / "experiment_leaderboard").glob("*/leaderboard.parquet")
    return board.parent, pd.read_parquet(board)


def test_an_installed_metric_plugin_is_scored_tested_plotted_printed_and_tracked(plugin_run):
    home, run = plugin_run
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr and not PYTHON_WARNING.findall(run.stderr), run.stderr[-3000:]
    folder, board = _leaderboard(home)
    assert len(board) == 2 and board["precision_at_k"].between(0, 1).all()
    # of k = 2 contexts at least one covers a reference whenever there is a hit: hit/k <= p <= hit
    assert (board["precision_at_k"] <= board["hit_rate"] + 1e-9).all()
    assert (board["precision_at_k"] >= board["hit_rate"] / 2 - 1e-9).all()
    assert (board["precision_at_k_n"] == board["mrr_n"]).all() and board["held_out/precision_at_k_n"].gt(0).all()
    assert board["precision_at_k_p_vs_best"].notna().all() and board["precision_at_k_ci95_low"].notna().all()
    assert "precision_at_k" in (folder / "leaderboard.html").read_text(encoding="utf-8")
    [header] = [line for line in run.stdout.splitlines() if line.split()[:3] == ["#", "tier", "configuration"]]
    assert "precision_at_k" in header.split()  # printed in the terminal table
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("dream").experiment_id], "tags.`dream.config_key` != ''")
    tracked = {r.data.tags["dream.config_key"]: r.data.metrics.get("precision_at_k") for r in runs}
    assert tracked == pytest.approx(dict(zip(board["config_key"], board["precision_at_k"], strict=True)))


def test_the_semantic_method_competes_in_the_sweep(plugin_run):
    home, run = plugin_run
    assert run.returncode == 0, run.stderr[-3000:]
    _, board = _leaderboard(home)
    semantic = board.set_index("config_key").loc["semantic90b1_minilm-l6_gemma-3-270m_k2"]
    assert semantic["status"] == "ok" and semantic["retrieval.method"] == "semantic"
    assert 0 < semantic["mrr"] <= 1 and semantic["mrr_n"] > 100
    [manifest] = (home / "object_store" / "embedding_index").glob("semantic90b1_minilm-l6/*/manifest.json")
    assert json.loads(manifest.read_text())["nodes"] > 0
