"""The Dagster UI and daemon as `dream ui` starts them (`dagster dev`), and its GraphQL API."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from dream_assets.lib.stores.embedded_postgres import free_port
from dream_assets_tests.servers.process import wait_for_http

LOCATION = "dream_assets.definitions"  # `dagster dev -m dream_assets.definitions`
REPOSITORY = "__repository__"


@dataclass
class DagsterUI:
    """A running `dream ui`: its base `url` and process (its own process group)."""

    url: str
    process: subprocess.Popen
    log: Path

    def graphql(self, query: str, **variables) -> dict:
        """The `data` of a GraphQL request to the webserver.

        Raises:
            AssertionError: with the errors, if the response has any.
        """
        body = json.dumps({"query": query, "variables": variables}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.load(response)
        assert not answer.get("errors"), answer["errors"]
        return answer["data"]

    def stop(self) -> None:
        """Stops the webserver, the daemon and their runs (the whole process group): SIGTERM,
        then SIGKILL after 10 s (`dagster dev`'s webserver can take a minute to exit after its
        daemon has stopped: measured 60 s in the daemon test)."""
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        # `dagster dev` can exit before its code server or a run worker: none outlives the test
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def start_dagster_ui(home: Path, env: dict[str, str], timeout_s: float = 240) -> DagsterUI:
    """Runs `dream --home HOME ui` (webserver and daemon) on a free port with `env` as its
    whole environment, and waits until the code location has loaded."""
    port = free_port()
    log = home / "dagster-ui.log"
    command = [str(Path(sys.executable).with_name("dream")), "--home", str(home), "ui", "--port", str(port)]
    process = subprocess.Popen(
        command,
        env=env,
        cwd=home,
        start_new_session=True,  # its own process group: stopping it stops the daemon and runs
        stdout=open(log, "wb"),  # noqa: SIM115 - lives as long as the process
        stderr=subprocess.STDOUT,
    )
    ui = DagsterUI(f"http://127.0.0.1:{port}", process, log)
    wait_for_http(f"{ui.url}/server_info", process, log, timeout_s)
    deadline = time.monotonic() + timeout_s
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
    while time.monotonic() < deadline:
        entries = ui.graphql(query)["workspaceOrError"]["locationEntries"]
        if entries and all(entry["loadStatus"] == "LOADED" for entry in entries):
            return ui
        time.sleep(1)
    ui.stop()
    raise RuntimeError(f"the code location did not load: {log.read_text()[-3000:]}")
