"""DREAM as a tool, not a clone, with a user's own component beside it: the wheel built from
this repository and the example metric plug-in (`examples/dream-metric-example`), both installed
into a fresh virtual environment of CPython 3.13 outside the repository (no editable install).
There DREAM finds its shipped configuration and demo corpus, answers `--version`, runs as
`python -m dream_assets`, starts a project with `dream init`, and runs the chain on two bundled
documents, chunks against semantic chunking, keeping its state in `./.dream` of the working
directory; the plug-in's metric is scored, tested, plotted, printed and tracked.

The dependencies come from `requirements/runtime-py3.13.txt`, installed by `make test` into
`.venv-py3.13` (DREAM_TEST_PYTHON313_ENV); the fresh venv reads them through a `.pth` file, so
DREAM and the plug-in are only their wheels."""

import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from dream_assets_tests.integration.test_cli import PYTHON_WARNING

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "dream-metric-example"
CHECK = """
import json, sys, dream_assets
from dream_assets import package_data as p
from dream_assets.search_space import load_search_space
print(json.dumps({"module": dream_assets.__file__, "python": list(sys.version_info[:2]),
                  "pdfs": len(list(p.DEMO_PDFS.glob("*.pdf"))), "squad": p.DEMO_SQUAD.is_file(),
                  "configs": len(load_search_space().configs())}))
"""
# the project's own search space, written over the starter one after `dream init`
SEARCH_SPACE = """
retrieval:
  - {method: chunks, chunk_size: 256, chunk_overlap: 32}
  - {method: semantic, breakpoint_percentile_threshold: 90}
embedding_models: [all-MiniLM-L6-v2]
llms: [gemma-3-270m]
top_k: [2]
"""


@dataclass(frozen=True)
class Installed:
    """What the user's session left: the wheel, the venv, the working directory and each
    command's outcome (`init`, `run`, and the first `leaderboard`, before any run)."""

    wheel: Path
    venv: Path
    work: Path
    commands: dict[str, subprocess.CompletedProcess]

    @property
    def state(self) -> Path:
        return self.work / ".dream"

    def leaderboard(self) -> tuple[Path, pd.DataFrame]:
        [board] = (self.state / "object_store" / "experiment_leaderboard").glob("*/leaderboard.parquet")
        return board.parent, pd.read_parquet(board)


@pytest.fixture(scope="module")
def installed(tmp_path_factory, models_dir) -> Installed:
    """Builds both wheels, installs them into a fresh Python 3.13 venv and runs, in a new working
    directory: `dream --version`, the package check, `dream leaderboard` (nothing yet), `python
    -m dream_assets init`, then `dream run` on two bundled documents with the project's space."""
    env313 = os.environ.get("DREAM_TEST_PYTHON313_ENV")
    if not env313:
        pytest.skip("the wheel test runs under `make test`, which installs Python 3.13's environment")
    assert (Path(env313) / ".installed").is_file(), f"{env313}: not installed (`make test` installs it)"
    root = tmp_path_factory.mktemp("installed")
    dist = root / "dist"
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist)]
    for project in (ROOT, EXAMPLE):
        subprocess.run([*build, str(project)], check=True, capture_output=True, timeout=300)
    [wheel] = dist.glob("dream-*-py3-none-any.whl")

    venv = root / "venv"
    subprocess.run([Path(env313) / "bin" / "python", "-m", "venv", str(venv)], check=True, timeout=120)
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = Path(subprocess.check_output([venv / "bin" / "python", "-c", purelib], text=True).strip())
    dependencies = subprocess.check_output([Path(env313) / "bin" / "python", "-c", purelib], text=True).strip()
    (site / "dependencies.pth").write_text(dependencies + "\n")  # the locked packages, not DREAM
    install = [venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-index"]
    subprocess.run([*install, *map(str, dist.glob("*.whl"))], check=True, capture_output=True, timeout=300)

    work = root / "my-project"
    (work / ".dream").mkdir(parents=True)
    (work / ".dream" / "models").symlink_to(models_dir, target_is_directory=True)  # assembled once a session
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(root),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }

    def run(*command: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(command, capture_output=True, text=True, cwd=work, env=env, timeout=timeout)

    dream, python = str(venv / "bin" / "dream"), str(venv / "bin" / "python")
    commands = {"version": run(dream, "--version"), "check": run(python, "-c", CHECK)}
    commands["empty leaderboard"] = run(dream, "leaderboard")
    commands["init"] = run(python, "-m", "dream_assets", "init")
    commands["starter space"] = subprocess.CompletedProcess([], 0, (work / "search_space.yaml").read_text())
    (work / "search_space.yaml").write_text(SEARCH_SPACE, encoding="utf-8")
    # the chain on two bundled articles and their human questions, read from the installed package
    commands["run"] = run(dream, "run", "--documents", "2", "--judge-llm", "", "--generation-sample-size", "2",
                          timeout=900)  # fmt: skip
    commands["leaderboard"] = run(dream, "leaderboard", "--format", "json")
    return Installed(wheel, venv, work, commands)


def test_the_wheel_installs_and_runs_under_python_3_13_outside_the_repository(installed):
    names = zipfile.ZipFile(installed.wheel).namelist()
    assert "dream_assets/config/search_space.yaml" in names and "dream_assets/config/judge_calibration.json" in names
    assert sum(name.startswith("dream_assets/data/demo/squad/pdfs/") for name in names) == 16
    assert not [name for name in names if name.startswith("dream_assets_tests/")]

    commands = installed.commands
    assert commands["version"].returncode == 0 and commands["version"].stdout.strip() == "dream 0.1.0"
    assert commands["check"].returncode == 0, commands["check"].stderr[-2000:]
    found = json.loads(commands["check"].stdout.strip().splitlines()[-1])
    assert found["module"].startswith(str(installed.venv)) and not found["module"].startswith(str(ROOT))
    assert found["python"] == [3, 13]
    assert (found["pdfs"], found["squad"]) == (16, True) and found["configs"] > 0
    empty = commands["empty leaderboard"]  # nothing run yet: one line, status 2
    assert empty.returncode == 2 and empty.stderr.startswith("dream: "), empty.stderr[-2000:]
    assert commands["init"].returncode == 0, commands["init"].stderr[-2000:]
    shipped = ROOT / "dream_assets" / "config" / "search_space.yaml"
    assert commands["starter space"].stdout == shipped.read_text() and (installed.work / "llms.yaml").is_file()

    chain = commands["run"]
    assert chain.returncode == 0, chain.stderr[-3000:]
    assert "Traceback" not in chain.stderr + chain.stdout and not PYTHON_WARNING.findall(chain.stderr)
    assert "DREAM leaderboard of corpus 'squad-demo'" in chain.stdout
    assert (installed.state / "dagster_home" / "dagster.yaml").is_file()
    pointer = json.loads(
        (installed.state / "object_store" / "corpora" / "squad-demo" / "golden_dataset.json").read_text()
    )
    folder, board = installed.leaderboard()
    assert folder.name == pointer["version"]
    assert commands["leaderboard"].returncode == 0, commands["leaderboard"].stderr[-2000:]
    records = json.loads(commands["leaderboard"].stdout)
    assert [record["config_key"] for record in records] == board["config_key"].tolist() and len(records) == 2


def test_an_installed_metric_plugin_is_scored_tested_plotted_printed_and_tracked(installed):
    run = installed.commands["run"]
    assert run.returncode == 0, run.stderr[-3000:]
    folder, board = installed.leaderboard()
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

    client = MlflowClient(f"sqlite:///{installed.state / 'mlflow' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("dream").experiment_id], "tags.`dream.config_key` != ''")
    tracked = {r.data.tags["dream.config_key"]: r.data.metrics.get("precision_at_k") for r in runs}
    assert tracked == pytest.approx(dict(zip(board["config_key"], board["precision_at_k"], strict=True)))


def test_the_semantic_method_competes_in_the_sweep(installed):
    assert installed.commands["run"].returncode == 0, installed.commands["run"].stderr[-3000:]
    _, board = installed.leaderboard()
    semantic = board.set_index("config_key").loc["semantic90b1_minilm-l6_gemma-3-270m_k2"]
    assert semantic["status"] == "ok" and semantic["retrieval.method"] == "semantic"
    assert 0 < semantic["mrr"] <= 1 and semantic["mrr_n"] > 100
    [manifest] = (installed.state / "object_store" / "embedding_index").glob("semantic90b1_minilm-l6/*/manifest.json")
    assert json.loads(manifest.read_text())["nodes"] > 0
