"""Stopping the servers we started and waiting for them to answer."""

import subprocess
import time
from pathlib import Path


def stop(process: subprocess.Popen) -> None:
    """Stops a server process we started (by its pid, never by name)."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_for_http(url: str, process: subprocess.Popen, log: Path, timeout_s: float) -> None:
    """Polls `url` until it answers HTTP 200.

    Raises:
        RuntimeError: with the end of `log` if the process exits or `timeout_s` passes first.
    """
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    process.terminate()
    raise RuntimeError(f"{url} did not come up: {log.read_text()[-3000:]}")
