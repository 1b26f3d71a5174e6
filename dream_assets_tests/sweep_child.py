"""Runs `sweep_job` over a partition range in this process, so a test can kill -9 it mid-sweep.

Usage: python -m dream_assets_tests.sweep_child STATE_DIR MODELS_DIR RAY_ADDRESS FIRST_KEY LAST_KEY
"""

import sys
from pathlib import Path

import dagster as dg

from dream_assets.definitions import build_definitions
from dream_assets_tests.chain import run_job
from dream_assets_tests.integration.test_resume import resume_resources


def main(state: str, models_dir: str, ray_address: str, first: str, last: str) -> None:
    """Materialises trial_evaluations for first..last with the resume test's resources."""
    defs = build_definitions(resume_resources(Path(state), Path(models_dir), ray_address))
    with dg.instance_for_test() as instance:
        run_job(defs, instance, "sweep_job", [first, last])


if __name__ == "__main__":
    main(*sys.argv[1:])
