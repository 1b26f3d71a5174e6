"""DREAM: Distributed RAG Experimentation on Dagster, Ray Tune and MLflow.

The Python API (`dream_assets.api`), for notebooks and scripts: `run` the chain on a corpus,
read its `leaderboard`, `compare` two configurations, write its `report`. They are imported on
first use, so `import dream_assets` stays light (the Dagster definitions are
`dream_assets.definitions`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dream_assets.api import UserError, compare, leaderboard, prepare, report, run

__all__ = ["UserError", "compare", "leaderboard", "prepare", "report", "run"]


def __getattr__(name: str) -> Any:
    """The API's names, imported from `dream_assets.api` when first asked for."""
    if name in __all__:
        from dream_assets import api

        return getattr(api, name)
    raise AttributeError(f"module 'dream_assets' has no attribute {name!r}")
