"""One writer per state directory: a second holder is refused with the first's name, and the lock
leaves with its holder, however it exits."""

import os
import signal
import subprocess
import sys
import time

import pytest

from dream_assets.state_lock import StateDirectoryBusy, hold_state_directory, state_directory_holder

HOLDER = """
import sys, time
from pathlib import Path
from dream_assets.state_lock import hold_state_directory
with hold_state_directory(Path(sys.argv[1]), "dream run --corpus contracts"):
    print("held", flush=True)
    time.sleep(600)
"""


def _holder(home) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(home)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    return process


def test_a_second_holder_is_refused_with_the_first_s_name(tmp_path):
    home = tmp_path / "home"
    first = _holder(home)
    try:
        holder = state_directory_holder(home)
        assert holder is not None and holder["pid"] == first.pid
        with pytest.raises(StateDirectoryBusy, match=rf"in use by dream run --corpus contracts \(pid {first.pid}, "):
            with hold_state_directory(home, "second"):
                pytest.fail("the second holder entered")
    finally:
        first.kill()
        first.wait()


def test_the_lock_leaves_with_a_killed_holder_and_a_waiting_one_gets_it(tmp_path):
    home = tmp_path / "home"
    first = _holder(home)
    started = time.monotonic()
    os.kill(first.pid, signal.SIGKILL)  # no clean exit: the kernel releases the lock
    first.wait()
    with hold_state_directory(home, "second", wait_s=30, poll_s=0.05):
        assert (state_directory_holder(home) or {}).get("purpose") == "second"
        assert time.monotonic() - started < 30
    assert state_directory_holder(home) is None


def test_a_bounded_wait_ends_with_the_error(tmp_path):
    home = tmp_path / "home"
    first = _holder(home)
    try:
        started = time.monotonic()
        with pytest.raises(StateDirectoryBusy):
            with hold_state_directory(home, "second", wait_s=0.5, poll_s=0.1):
                pytest.fail("the second holder entered")
        assert 0.5 <= time.monotonic() - started < 10
    finally:
        first.kill()
        first.wait()
