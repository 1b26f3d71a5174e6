"""A Ray cluster of separate `ray start` nodes on 127.0.0.1, and the sockets a process tree
listens on.

Each node has its own `--temp-dir`, its own working directory and its own scratch directory
(`DREAM_NODE_SCRATCH` in its environment, which every Ray worker on it inherits): the nodes
share no directory that DREAM writes, only the servers (S3, MLflow, PostgreSQL) they talk to.
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from dream_assets.lib.stores.embedded_postgres import free_port
from dream_assets_tests.servers.process import stop, wait_for_http

# the custom resource worker nodes advertise, which trials can request (RayCluster.trial_resources)
TRIAL_RESOURCE = "dream_trials"


@dataclass
class RayNode:
    """One node we started: its `name` (also its Ray node name), the `ray start --block`
    process, its own `directory` (working directory, `tmp/` Ray temp dir, `scratch/`)."""

    name: str
    process: subprocess.Popen
    directory: Path

    @property
    def scratch(self) -> Path:
        """The node's own scratch root (`DREAM_NODE_SCRATCH`)."""
        return self.directory / "scratch"

    def raylet_pid(self) -> int:
        """The pid of this node's raylet (a child of `ray start`).

        Raises:
            LookupError: if the node has no raylet (it died or was killed).
        """
        import psutil

        for child in psutil.Process(self.process.pid).children(recursive=True):
            if child.name() == "raylet":
                return child.pid
        raise LookupError(f"node {self.name} has no raylet")


@dataclass
class RayHead:
    """A Ray cluster we started: its GCS `address` (what RAY_ADDRESS holds), the head's
    `ray start` process (stopping it stops the head), the head's temp `directory` (session
    logs), the dashboard URL (state API) and the worker nodes."""

    address: str
    process: subprocess.Popen
    directory: Path
    dashboard: str = ""
    workers: list[RayNode] = field(default_factory=list)
    started: int = 0  # worker nodes started so far (names worker-1, worker-2, ...)

    def add_worker(self, root: Path | None = None, num_cpus: int = 1, timeout_s: float = 90.0) -> RayNode:
        """Starts the next worker node (`worker-<n>`, in `root / worker-<n>`; by default beside
        the head's directory) that joins this head, with `num_cpus` CPUs and as many
        `TRIAL_RESOURCE`, and waits until the head counts it alive."""
        name = f"worker-{self.started + 1}"
        directory = (root or self.directory.parent.parent) / name
        (directory / "scratch").mkdir(parents=True, exist_ok=True)
        log = directory / "ray.log"
        process = subprocess.Popen(
            [
                *_ray_start(directory, num_cpus),
                f"--address={self.address}",
                f"--node-name={name}",
                f"--resources={json.dumps({TRIAL_RESOURCE: num_cpus})}",
                "--object-store-memory=500000000",
            ],
            cwd=directory,
            stdout=open(log, "wb"),  # noqa: SIM115 - lives as long as the node
            stderr=subprocess.STDOUT,
            env=_node_env(directory),
        )
        node = RayNode(name, process, directory)
        self.started += 1
        deadline = time.monotonic() + timeout_s
        while name not in self.alive_nodes():
            if process.poll() is not None or time.monotonic() > deadline:
                stop(process)
                raise RuntimeError(f"worker {name} did not join: {log.read_text()[-3000:]}")
            time.sleep(0.5)
        self.workers.append(node)
        return node

    def alive_nodes(self) -> dict[str, str]:
        """Node name to Ray node id of every node the head counts alive (state API)."""
        url = f"{self.dashboard}/api/v0/nodes?limit=100&detail=1"
        with urllib.request.urlopen(url, timeout=10) as response:
            nodes = json.load(response)["data"]["result"]["result"]
        return {node["node_name"]: node["node_id"] for node in nodes if node["state"] == "ALIVE"}

    def kill_raylet(self, node: RayNode) -> None:
        """SIGKILLs the raylet of `node` (the node is lost: its workers and objects with it),
        then stops what is left of it."""
        os.kill(node.raylet_pid(), signal.SIGKILL)
        self.workers.remove(node)
        try:
            node.process.wait(timeout=30)  # `ray start --block` exits when its raylet dies
        except subprocess.TimeoutExpired:
            stop(node.process)

    def nodes_that_ran(self, suffix: str, at_least: int = 1, timeout_s: float = 20.0) -> dict[str, int]:
        """Ray node name to the number of tasks of this process' Ray job whose name ends with
        `suffix` it ran (Ray's state API: `ray.util.state.list_tasks`), e.g.
        `_trainable.__ray_ready__` for Tune trials (one per trial actor; `train` runs once per
        report). Workers report task events about once a second: this waits up to `timeout_s`
        for `at_least` such tasks in all."""
        deadline = time.monotonic() + timeout_s
        while True:
            counts = self._task_nodes(suffix)
            if sum(counts.values()) >= at_least or time.monotonic() > deadline:
                return counts
            time.sleep(0.5)

    def _task_nodes(self, suffix: str) -> dict[str, int]:
        import ray
        from ray.util.state import list_nodes, list_tasks

        names = {node.node_id: node.node_name for node in list_nodes(address=self.dashboard, limit=100)}
        job = ray.get_runtime_context().get_job_id()
        tasks = list_tasks(
            address=self.dashboard,
            filters=[("job_id", "=", job)],
            detail=True,
            limit=10000,
            raise_on_missing_output=False,
        )
        counts: dict[str, int] = {}
        for task in tasks:
            if task.name.endswith(suffix) and task.node_id:
                name = names.get(task.node_id, task.node_id)
                counts[name] = counts.get(name, 0) + 1
        return counts

    def stop(self) -> None:
        """Stops every worker node, then the head."""
        for node in self.workers:
            stop(node.process)
        stop(self.process)


def _ray_start(directory: Path, num_cpus: int) -> list[str]:
    return [
        str(Path(sys.executable).parent / "ray"),
        "start",
        "--block",
        f"--num-cpus={num_cpus}",
        "--node-ip-address=127.0.0.1",
        f"--temp-dir={directory / 'tmp'}",
        # each node's dashboard agent serves its logs (the state API's `get_log`); on one machine
        # they would all want the default port, and all but the first run without HTTP
        f"--dashboard-agent-listen-port={free_port()}",
    ]


def _node_env(directory: Path) -> dict[str, str]:
    """A node's environment: this one's, its own scratch directory, and the repository on
    PYTHONPATH, so its workers import the test harness' own modules (an LLM provider that
    crashes, `dream_assets_tests.crashing_llm`), which the installed package does not carry."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])])
    scratch = str(directory / "scratch")
    return {**os.environ, "RAY_AUTH_MODE": "disabled", "DREAM_NODE_SCRATCH": scratch, "PYTHONPATH": path}


def start_ray_head(directory: Path, num_cpus: int = 2, timeout_s: float = 90.0) -> RayHead:
    """Starts a Ray head node (`ray start --head --block`) on 127.0.0.1 (node address and
    dashboard; see `listeners` for what Ray binds elsewhere), with token authentication off;
    `num_cpus=0` keeps tasks and trials off it, as on a production head."""
    directory.mkdir(parents=True, exist_ok=True)
    port, dashboard = free_port(), free_port()
    log = directory / "ray.log"
    process = subprocess.Popen(
        [
            *_ray_start(directory, num_cpus),
            "--head",
            f"--port={port}",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dashboard}",
        ],
        cwd=directory,
        stdout=open(log, "wb"),  # noqa: SIM115 - lives as long as the node
        stderr=subprocess.STDOUT,
        env=_node_env(directory),
    )
    wait_for_http(f"http://127.0.0.1:{dashboard}/api/version", process, log, timeout_s)
    return RayHead(f"127.0.0.1:{port}", process, directory / "tmp", f"http://127.0.0.1:{dashboard}")


def start_ray_cluster(directory: Path, workers: int = 2, cpus_per_worker: int = 1) -> RayHead:
    """A head with no CPUs and `workers` worker nodes (`worker-1`, ...) of `cpus_per_worker`
    CPUs each, every node in its own directory under `directory`."""
    head = start_ray_head(directory / "head", num_cpus=0)
    try:
        for _ in range(workers):
            head.add_worker(directory, num_cpus=cpus_per_worker)
    except Exception:
        head.stop()
        raise
    return head


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
