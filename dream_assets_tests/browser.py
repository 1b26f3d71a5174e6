"""Headless Chromium from the Debian packages (`make test` installs package chromium when it
can), driven by Playwright for Python, and where the screenshots go."""

import contextlib
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# the flags a closed network and a root user need: no sandbox (root), no background requests to
# Google's hosts (refused here, and slow to fail), no GPU
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def screenshots_dir() -> Path:
    """Where screenshots are saved as test artifacts: `$DREAM_TEST_ARTIFACTS/screenshots`, by
    default `test-artifacts/screenshots` in the repository (ignored by git)."""
    folder = Path(os.environ.get("DREAM_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextlib.contextmanager
def chromium_page(width: int = 1600, height: int = 1000):
    """A page of a headless Chromium; skips the test, saying why, where no Chromium is installed."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("no Chromium: install Debian's package chromium (`make test` does, as root with apt-get)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(60_000)
            yield page
        finally:
            browser.close()
