"""Telling a crash of the code from a lost node, when a Tune trial's worker process dies.

Ray reports both the same way, as an `ActorDiedError` ("Worker unexpectedly exits with a
connection error code 2"). What differs: when the worker died of a fatal signal (SIGILL from an
instruction the CPU lacks, SIGSEGV, SIGABRT, SIGBUS, SIGFPE), Ray's failure signal handler and
Python's faulthandler write it to the worker's own stderr log (`*** SIGILL received at ...`,
`Fatal Python error: Illegal instruction`) and the node stays alive; when the node is lost, its
raylet is gone. Each trial records where it runs (`TrialAttempt`: node id, pid) in the object
store as it starts; the driver reads it back and asks Ray whether that node is alive and what
the worker's log says. A crash is recorded with its signal and not run again (the same code on
the same kind of CPU dies the same way); anything else keeps being treated as a lost node.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import signal
import time

from pydantic import BaseModel

logger = logging.getLogger(__name__)

FATAL_SIGNALS = ("SIGILL", "SIGSEGV", "SIGABRT", "SIGBUS", "SIGFPE")
# what Ray's failure signal handler (absl) and Python's faulthandler write as the process dies
_RAY_HANDLER = re.compile(r"\*\*\* (SIG[A-Z]+) received at time=")
_FAULTHANDLER = {
    "Illegal instruction": "SIGILL",
    "Segmentation fault": "SIGSEGV",
    "Aborted": "SIGABRT",
    "Bus error": "SIGBUS",
    "Floating-point exception": "SIGFPE",
}
_FAULTHANDLER_LINE = re.compile(r"Fatal Python error: (" + "|".join(map(re.escape, _FAULTHANDLER)) + ")")


class TrialAttempt(BaseModel):
    """Where one attempt of a trial runs: the Ray node (`node_id`, `node_ip`), the worker's
    `pid`, and when it started (`started_at`, seconds since the epoch)."""

    node_id: str
    node_ip: str
    pid: int
    started_at: float

    @classmethod
    def here(cls) -> TrialAttempt:
        """This process, inside a Ray worker."""
        import ray

        context = ray.get_runtime_context()
        return cls(
            node_id=context.get_node_id(),
            node_ip=ray.util.get_node_ip_address(),
            pid=os.getpid(),
            started_at=time.time(),
        )


def fatal_signal(log_text: str) -> str:
    """The fatal signal a worker's stderr log says it died of ('SIGILL', ...), or '' when the
    log names none (the last one named, for a log that holds several)."""
    found = [(match.start(), match.group(1)) for match in _RAY_HANDLER.finditer(log_text)]
    found += [(match.start(), _FAULTHANDLER[match.group(1)]) for match in _FAULTHANDLER_LINE.finditer(log_text)]
    named = [name for _, name in sorted(found) if name in FATAL_SIGNALS]
    return named[-1] if named else ""


def describe_signal(name: str) -> str:
    """'SIGILL (Illegal instruction)' for 'SIGILL'."""
    return f"{name} ({signal.strsignal(signal.Signals[name])})"


def node_is_alive(node_id: str) -> bool:
    """Whether the Ray node `node_id` is alive (the GCS's view, `ray.nodes()`)."""
    import ray

    return any(node["NodeID"] == node_id and node["Alive"] for node in ray.nodes())


def worker_stderr(node_id: str, pid: int) -> str:
    """The stderr log of worker process `pid` on node `node_id` (`worker-*-<pid>.err`): read from
    disk when the node is this process' own, else through Ray's state API (the node's dashboard
    agent serves its logs); '' when it cannot be read."""
    import ray

    node = ray._private.worker.global_worker.node  # pyright: ignore[reportAttributeAccessIssue] - this process' own Ray node
    if node is not None and node.node_id == node_id:
        paths = glob.glob(os.path.join(node.get_logs_dir_path(), f"worker-*-{pid}.err"))
        text = ""
        for path in paths:
            with open(path, encoding="utf-8", errors="replace") as file:
                text += file.read()
        return text
    try:
        from ray.util.state import get_log

        return "".join(get_log(node_id=node_id, pid=pid, suffix="err", tail=-1, errors="replace"))
    except Exception as error:  # noqa: BLE001 - no dashboard, or the node went away: nothing to read
        logger.info("the log of worker %d on node %s could not be read: %s", pid, node_id, error)
        return ""


def worker_crash(attempt: TrialAttempt) -> str:
    """Why the worker of `attempt` died, when it was a crash of the code: its node is still
    alive and the worker's log names a fatal signal. Returns a one-line reason naming the
    signal, or '' (the node is gone, or no signal is named: treat it as lost)."""
    if not node_is_alive(attempt.node_id):
        return ""
    name = fatal_signal(worker_stderr(attempt.node_id, attempt.pid))
    if not name:
        return ""
    hint = " (an instruction this CPU lacks: a native build for another CPU?)" if name == "SIGILL" else ""
    return (
        f"WorkerCrashedError: the trial's worker (pid {attempt.pid} on node {attempt.node_ip}) died of"
        f" {describe_signal(name)}{hint} while its node stayed alive: a crash of the code, not a lost node;"
        " not run again"
    )
