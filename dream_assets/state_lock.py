"""One writer per state directory: `dream run` and each refresh of a watched corpus hold an
exclusive lock on `<DREAM_HOME>/dream.lock` while they work.

Two runs on one state directory would share the Dagster and MLflow SQLite stores, the corpus'
current pointers and the embedded Ray session; the second is told which process holds the
directory instead. The lock is the kernel's (`fcntl.flock`): it is released when its holder exits,
however it exits (a `kill -9` included), and the file is not inherited by child processes
(Python opens files close-on-exec, PEP 446), so a surviving Ray worker does not keep it. The file
holds the holder's process id, purpose and start time, for the message.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = "dream.lock"


class StateDirectoryBusy(RuntimeError):
    """Another process holds the state directory's lock."""


def lock_path(home: Path) -> Path:
    """The lock file of state directory `home`."""
    return Path(home) / LOCK_FILE


@contextmanager
def hold_state_directory(home: Path, purpose: str, wait_s: float = 0.0, poll_s: float = 1.0) -> Iterator[None]:
    """Holds the exclusive lock of state directory `home` for the block.

    Args:
        home: the state directory (created if missing).
        purpose: what holds it, for the message another process prints (e.g. `dream run
            --corpus contracts`).
        wait_s: seconds to wait for a holder to finish (0: fail at once).
        poll_s: seconds between two tries while waiting.

    Raises:
        StateDirectoryBusy: naming the holder (process id, purpose, since when), when the lock
            is still held after `wait_s` seconds.
    """
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    with open(lock_path(home), "a+", encoding="utf-8") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StateDirectoryBusy(_busy_message(home)) from None
                time.sleep(poll_s)
        record = {"pid": os.getpid(), "purpose": purpose, "since": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(record))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def state_directory_holder(home: Path) -> dict | None:
    """The holder of `home`'s lock (`pid`, `purpose`, `since`), or None when nobody holds it."""
    path = lock_path(Path(home))
    if not path.exists():
        return None
    with open(path, encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _record(path)
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def _record(path: Path) -> dict:
    """The holder's record in the lock file (empty fields while it is being written)."""
    try:
        return json.loads(path.read_text(encoding="utf-8") or "{}")
    except ValueError:
        return {}


def _busy_message(home: Path) -> str:
    """One line naming the lock's holder and what to do."""
    holder = _record(lock_path(home))
    purpose, pid, since = (
        holder.get("purpose", "another DREAM process"),
        holder.get("pid", "?"),
        holder.get("since", "?"),
    )
    who = f"{purpose} (pid {pid}, since {since})"
    return f"state directory {home} is in use by {who}: wait for it to finish, or use another --home / DREAM_HOME"


def _local_home() -> Path | None:
    """The state directory of the local deployment (`DREAM_HOME`), None on another deployment
    (its runs share servers, not a directory)."""
    from dream_assets.deployments import deployment, state_dir

    return state_dir() if deployment() == "local" else None


@contextmanager
def hold_local_state(purpose: str, wait_s: float, log=None) -> Iterator[None]:
    """`hold_state_directory` on the local deployment's state directory, waiting up to `wait_s`
    seconds (logged on `log` when it has to wait); nothing on another deployment.

    Raises:
        StateDirectoryBusy: when the directory stayed held for `wait_s` seconds.
    """
    home = _local_home()
    if home is None:
        yield
        return
    if log is not None and (holder := state_directory_holder(home)):
        log.info("waiting up to %.0f s for %s to release %s", wait_s, holder.get("purpose", "another process"), home)
    with hold_state_directory(home, purpose, wait_s=wait_s):
        yield


def local_state_holder() -> dict | None:
    """The holder of the local deployment's state directory (`state_directory_holder`); None
    when nobody holds it or on another deployment."""
    home = _local_home()
    return state_directory_holder(home) if home is not None else None
