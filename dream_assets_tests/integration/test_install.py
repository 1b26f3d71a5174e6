"""DREAM as a tool, not a clone: the wheel built from this repository, installed into a fresh
virtual environment outside it (no editable install), finds its shipped configuration and demo
corpus, answers `--version`, runs as `python -m dream_assets`, starts a project with `dream init`
and keeps its state in `./.dream` of the working directory."""

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CHECK = """
import json, dream_assets
from dream_assets import package_data as p
from dream_assets.search_space import load_search_space
print(json.dumps({"module": dream_assets.__file__, "pdfs": len(list(p.DEMO_PDFS.glob("*.pdf"))),
                  "squad": p.DEMO_SQUAD.is_file(), "configs": len(load_search_space().configs())}))
"""


def test_the_wheel_works_outside_the_repository(tmp_path):
    import json

    dist = tmp_path / "dist"
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist)]
    build.append(str(ROOT))
    subprocess.run(build, check=True, capture_output=True, timeout=300)
    [wheel] = dist.glob("dream-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "dream_assets/config/search_space.yaml" in names and "dream_assets/config/judge_calibration.json" in names
    assert sum(name.startswith("dream_assets/data/demo/squad/pdfs/") for name in names) == 16
    assert not [name for name in names if name.startswith("dream_assets_tests/")]

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = Path(subprocess.check_output([venv / "bin" / "python", "-c", purelib], text=True).strip())
    # the locked dependencies from this environment (a path, so its editable install of DREAM is
    # not loaded); DREAM itself only from the wheel
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    install = [venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)]
    subprocess.run(install, check=True, capture_output=True, timeout=300)

    work = tmp_path / "my-project"
    work.mkdir()
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}

    def run(*command: str) -> subprocess.CompletedProcess:
        return subprocess.run(command, capture_output=True, text=True, cwd=work, env=env, timeout=300)

    version = run(str(venv / "bin" / "dream"), "--version")
    assert version.returncode == 0 and version.stdout.strip() == "dream 0.1.0", version.stderr
    checked = run(str(venv / "bin" / "python"), "-c", CHECK)
    assert checked.returncode == 0, checked.stderr[-2000:]
    found = json.loads(checked.stdout.strip().splitlines()[-1])
    assert found["module"].startswith(str(site)) and not found["module"].startswith(str(ROOT))
    assert (found["pdfs"], found["squad"]) == (16, True) and found["configs"] > 0
    init = run(str(venv / "bin" / "python"), "-m", "dream_assets", "init")
    assert init.returncode == 0, init.stderr[-2000:]
    shipped = ROOT / "dream_assets" / "config" / "search_space.yaml"
    assert (work / "search_space.yaml").read_text() == shipped.read_text()
    assert (work / "llms.yaml").is_file()
    board = run(str(venv / "bin" / "dream"), "leaderboard")  # nothing run yet: one line, status 2
    assert board.returncode == 2 and board.stderr.startswith("dream: "), board.stderr[-2000:]
    assert (work / ".dream" / "dagster_home" / "dagster.yaml").is_file()  # the state in ./.dream
