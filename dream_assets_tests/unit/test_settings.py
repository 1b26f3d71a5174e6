"""One settings object for the environment DREAM reads (`dream_assets.settings`)."""

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from dream_assets.settings import DreamSettings, env_name, settings

ROOT = Path(__file__).resolve().parents[2]


def test_each_setting_is_read_from_its_variable(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in DreamSettings.model_fields:
        monkeypatch.delenv(env_name(name), raising=False)
    assert settings().state_dir() == tmp_path / ".dream" and settings().sensor_interval_s == 30
    monkeypatch.setenv("DREAM_HOME", "state")
    monkeypatch.setenv("DREAM_SENSOR_INTERVAL_S", "5")
    monkeypatch.setenv("DREAM_LLM_API_KEY", "sk-test")
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    chosen = settings()
    assert chosen.state_dir() == tmp_path / "state" and chosen.sensor_interval_s == 5
    assert chosen.ray_address == "ray://head:10001"
    assert chosen.llm_api_key is not None and "sk-test" not in repr(chosen)  # a secret is not printed


def test_a_malformed_setting_names_its_variable(monkeypatch):
    monkeypatch.setenv("DREAM_SENSOR_INTERVAL_S", "soon")
    with pytest.raises(ValidationError, match="sensor_interval_s"):
        settings()


def test_the_readme_lists_every_setting_and_no_other():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Settings", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `([A-Z_0-9]+)` \|", section, re.MULTILINE)
    assert listed == [env_name(name) for name in DreamSettings.model_fields]


def test_the_code_reads_dreams_variables_only_through_the_settings():
    """No module but `dream_assets/settings.py` reads a `DREAM_*` variable from `os.environ` (the
    command may set them for its subprocesses)."""
    reads = re.compile(r"os\.(?:environ\.get\(|environ\[|getenv\()\s*\"(DREAM_[A-Z_0-9]+)\"(?![\])]?\s*=[^=])")
    found = {}
    for path in [*ROOT.joinpath("dream_assets").rglob("*.py"), *ROOT.joinpath("resources").rglob("*.py")]:
        names = set(reads.findall(path.read_text(encoding="utf-8"))) - {"DREAM_INTRA_OP_THREADS"}
        if names:
            found[str(path.relative_to(ROOT))] = sorted(names)
    assert found == {}
