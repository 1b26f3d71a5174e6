"""DREAM as a tool, not a clone: the wheel built from this repository, installed into a fresh
virtual environment of CPython 3.13 outside it (no editable install), finds its shipped
configuration and demo corpus, answers `--version`, runs as `python -m dream_assets`, starts a
project with `dream init`, runs the chain on two bundled documents and keeps its state in
`./.dream` of the working directory.

The dependencies come from `requirements/runtime-py3.13.txt`, installed by `make test` into
`.venv-py3.13` (DREAM_TEST_PYTHON313_ENV); the fresh venv reads them through a `.pth` file, so
DREAM itself is only the wheel."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CHECK = """
import json, sys, dream_assets
from dream_assets import package_data as p
from dream_assets.search_space import load_search_space
print(json.dumps({"module": dream_assets.__file__, "python": list(sys.version_info[:2]),
                  "pdfs": len(list(p.DEMO_PDFS.glob("*.pdf"))), "squad": p.DEMO_SQUAD.is_file(),
                  "configs": len(load_search_space().configs())}))
"""
# two configurations: the project's own search space, edited after `dream init`
SEARCH_SPACE = """
retrieval:
  - {method: chunks, chunk_size: 256, chunk_overlap: 32}
  - {method: sentence_window, window_size: 2}
embedding_models: [all-MiniLM-L6-v2]
llms: [gemma-3-270m]
top_k: [2]
"""


@pytest.fixture(scope="module")
def python313_env() -> Path:
    """The CPython 3.13 environment `make test` installs from `requirements/runtime-py3.13.txt`."""
    env = os.environ.get("DREAM_TEST_PYTHON313_ENV")
    if not env:
        pytest.skip("the wheel test runs under `make test`, which installs Python 3.13's environment")
    assert (Path(env) / ".installed").is_file(), f"{env}: not installed (`make test` installs it)"
    return Path(env)


def test_the_wheel_installs_and_runs_under_python_3_13_outside_the_repository(tmp_path, python313_env, models_dir):
    dist = tmp_path / "dist"
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist)]
    subprocess.run([*build, str(ROOT)], check=True, capture_output=True, timeout=300)
    [wheel] = dist.glob("dream-*-py3-none-any.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "dream_assets/config/search_space.yaml" in names and "dream_assets/config/judge_calibration.json" in names
    assert sum(name.startswith("dream_assets/data/demo/squad/pdfs/") for name in names) == 16
    assert not [name for name in names if name.startswith("dream_assets_tests/")]

    venv = tmp_path / "venv"
    subprocess.run([python313_env / "bin" / "python", "-m", "venv", str(venv)], check=True, timeout=120)
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = Path(subprocess.check_output([venv / "bin" / "python", "-c", purelib], text=True).strip())
    dependencies = subprocess.check_output([python313_env / "bin" / "python", "-c", purelib], text=True).strip()
    (site / "dependencies.pth").write_text(dependencies + "\n")  # the locked packages; DREAM only from the wheel
    install = [venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)]
    subprocess.run(install, check=True, capture_output=True, timeout=300)

    work = tmp_path / "my-project"
    (work / ".dream").mkdir(parents=True)
    (work / ".dream" / "models").symlink_to(models_dir, target_is_directory=True)  # assembled once a session
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }

    def run(*command: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(command, capture_output=True, text=True, cwd=work, env=env, timeout=timeout)

    dream = str(venv / "bin" / "dream")
    version = run(dream, "--version")
    assert version.returncode == 0 and version.stdout.strip() == "dream 0.1.0", version.stderr
    checked = run(str(venv / "bin" / "python"), "-c", CHECK)
    assert checked.returncode == 0, checked.stderr[-2000:]
    found = json.loads(checked.stdout.strip().splitlines()[-1])
    assert found["module"].startswith(str(site)) and not found["module"].startswith(str(ROOT))
    assert found["python"] == [3, 13]
    assert (found["pdfs"], found["squad"]) == (16, True) and found["configs"] > 0
    board = run(dream, "leaderboard")  # nothing run yet: one line, status 2
    assert board.returncode == 2 and board.stderr.startswith("dream: "), board.stderr[-2000:]

    init = run(str(venv / "bin" / "python"), "-m", "dream_assets", "init")
    assert init.returncode == 0, init.stderr[-2000:]
    shipped = ROOT / "dream_assets" / "config" / "search_space.yaml"
    assert (work / "search_space.yaml").read_text() == shipped.read_text()
    assert (work / "llms.yaml").is_file()
    (work / "search_space.yaml").write_text(SEARCH_SPACE, encoding="utf-8")

    # the chain on two bundled articles and their human questions, read from the installed package
    chain = run(dream, "run", "--documents", "2", "--judge-llm", "", "--generation-sample-size", "2", timeout=900)
    assert chain.returncode == 0, chain.stderr[-3000:]
    assert "Traceback" not in chain.stderr + chain.stdout
    assert "DREAM leaderboard of corpus 'squad-demo'" in chain.stdout
    state = work / ".dream"
    assert (state / "dagster_home" / "dagster.yaml").is_file()
    pointer = json.loads((state / "object_store" / "corpora" / "squad-demo" / "golden_dataset.json").read_text())
    board = run(dream, "leaderboard", "--format", "json")
    assert board.returncode == 0, board.stderr[-2000:]
    records = json.loads(board.stdout)
    leaderboard = state / "object_store" / "experiment_leaderboard" / pointer["version"] / "leaderboard.parquet"
    written = pd.read_parquet(leaderboard)
    assert [record["config_key"] for record in records] == written["config_key"].tolist() and len(records) == 2
    assert not (ROOT / ".dream" / "object_store" / "experiment_leaderboard" / pointer["version"]).exists()
