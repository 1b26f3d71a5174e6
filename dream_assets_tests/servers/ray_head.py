"""A Ray head node started with `ray start`, and the sockets a process tree listens on."""

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from dream_assets_tests.servers.process import wait_for_http
from resources.embedded_postgres import free_port


@dataclass
class RayHead:
    """A Ray head node we started: its GCS `address` (what RAY_ADDRESS holds), the `ray start`
    process (stopping it stops the node) and the node's temp `directory` (session logs)."""

    address: str
    process: subprocess.Popen
    directory: Path


def start_ray_head(directory: Path, num_cpus: int = 2, timeout_s: float = 90.0) -> RayHead:
    """Starts a Ray head node (`ray start --head --block`) on 127.0.0.1 (node address and
    dashboard; see `listeners` for what Ray binds elsewhere), with token authentication off."""
    directory.mkdir(parents=True, exist_ok=True)
    port, dashboard = free_port(), free_port()
    log = directory / "ray.log"
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "ray"),
            "start",
            "--head",
            "--block",
            f"--num-cpus={num_cpus}",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dashboard}",
            f"--temp-dir={directory / 'tmp'}",
        ],
        stdout=open(log, "wb"),  # noqa: SIM115 - lives as long as the node
        stderr=subprocess.STDOUT,
        env=env,
    )
    wait_for_http(f"http://127.0.0.1:{dashboard}/api/version", process, log, timeout_s)
    return RayHead(f"127.0.0.1:{port}", process, directory / "tmp")


def listeners(process: subprocess.Popen) -> list[tuple[str, str, int]]:
    """Listening TCP sockets of a process and all its descendants: (component, IP, port); the
    component is the executable's name, or for Python the script or module it runs
    (`dashboard.py`, `ray.util.client.server`)."""
    import psutil

    root = psutil.Process(process.pid)
    found = []
    for member in [root, *root.children(recursive=True)]:
        try:
            connections = member.net_connections(kind="tcp")
            # Ray retitles some processes (setproctitle): the command line may come as one string
            name, arguments = member.name(), " ".join(member.cmdline()).split()
        except psutil.Error:  # exited meanwhile
            continue
        if name.startswith("python"):
            scripts = [Path(a).name for a in arguments[1:] if a.endswith(".py")]
            modules = [arguments[i + 1] for i, a in enumerate(arguments[:-1]) if a == "-m"]
            name = (modules or scripts or [name])[0]
        found += [(name, c.laddr.ip, c.laddr.port) for c in connections if c.status == psutil.CONN_LISTEN]
    return found
