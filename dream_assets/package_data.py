"""Files DREAM ships inside its package, found with `importlib.resources` so that they resolve the
same in a wheel installed anywhere as in a checkout: the configuration defaults
(`dream_assets/config/`: search space, LLM table, judge calibration, Dagster instance settings)
and the demo corpus (`dream_assets/data/demo/squad/`: 16 Wikipedia articles as PDFs and the SQuAD
2.0 dev set). A checkout keeps `config/` and `data/` at its root as links to these folders.

DREAM is installed as files (pip's default), not imported from a zip archive: these are paths.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

PACKAGE_ROOT = Path(str(files("dream_assets")))
CONFIG_DIR = PACKAGE_ROOT / "config"
DEMO_DIR = PACKAGE_ROOT / "data" / "demo" / "squad"
DEMO_PDFS = DEMO_DIR / "pdfs"
DEMO_SQUAD = DEMO_DIR / "dev-v2.0.json"


def config_file(name: str) -> Path:
    """The shipped configuration file `name` (`search_space.yaml`, `llms.yaml`,
    `judge_calibration.json`, `dagster.yaml`)."""
    return CONFIG_DIR / name
