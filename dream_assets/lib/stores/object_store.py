"""Object store client, without Dagster: a local directory, S3, MinIO or any S3 API (fsspec).

`ObjectStoreClient` is built from plain `ObjectStoreSettings`, so Ray workers connect inside the
worker; `resources.object_store`'s `LocalObjectStore` and `S3ObjectStore` are the Dagster
resources that give the settings.
Keys are '/'-separated paths relative to the store's root; a key that would leave the root
(`..`, an absolute path, a backslash) is refused.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import fsspec
import pandas as pd
from pydantic import BaseModel, Field


class ObjectStoreSettings(BaseModel):
    """What a worker needs to open the store: `root` (a directory path or `s3://bucket/prefix`)
    and fsspec `storage_options` (credentials and endpoint for S3; empty for a directory)."""

    root: str
    storage_options: dict[str, Any] = Field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object: its key, size in bytes and version tag (S3 ETag, or size and mtime of a
    local file)."""

    key: str
    size: int
    etag: str


def safe_key(key: str) -> str:
    """Normalises a key and refuses any that would escape the store's root.

    Raises:
        ValueError: naming the key, if it is empty, absolute, holds a backslash or a NUL, or has a
            `..` segment.
    """
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise ValueError(f"object key {key!r} must be a non-empty relative '/'-separated path")
    parts = key.split("/")
    if ".." in parts:
        raise ValueError(f"object key {key!r} must not contain a '..' segment")
    return posixpath.normpath(key)


class ObjectStoreClient:
    """Reads and writes objects under one root through fsspec (local files or s3fs)."""

    def __init__(self, settings: ObjectStoreSettings) -> None:
        self.settings = settings
        self.fs, root = fsspec.core.url_to_fs(settings.root, **settings.storage_options)
        self.root = root.rstrip("/")
        self.is_local = self.fs.protocol in ("file", "local") or "file" in self.fs.protocol

    def path(self, key: str) -> str:
        """The filesystem path (without protocol) of `key`; the root itself for an empty key."""
        return f"{self.root}/{safe_key(key)}" if key else self.root

    def uri(self, key: str) -> str:
        """The full URI of `key` (`s3://...` or an absolute local path), for lineage records."""
        path = self.path(key)
        return path if self.is_local else f"s3://{path}"

    def exists(self, key: str) -> bool:
        """Whether an object is stored at `key`."""
        return self.fs.exists(self.path(key))

    def read_bytes(self, key: str) -> bytes:
        """Returns the object's bytes.

        Raises:
            FileNotFoundError: if nothing is stored at `key`.
        """
        return self.fs.cat_file(self.path(key))

    def write_bytes(self, key: str, data: bytes) -> str:
        """Stores `data` at `key`, replacing any object there; atomic (a reader sees the old or
        the new object, never a part). Returns the object's URI."""
        path = self.path(key)
        if self.is_local:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            temporary = f"{path}.tmp-{uuid.uuid4().hex}"
            with open(temporary, "wb") as file:
                file.write(data)
            os.replace(temporary, path)
        else:
            self.fs.pipe_file(path, data)
        return self.uri(key)

    def open_read(self, key: str) -> BinaryIO:
        """A binary file object reading the object at `key` (stream it; close it after).

        Raises:
            FileNotFoundError: if nothing is stored at `key`.
        """
        return self.fs.open(self.path(key), "rb")

    def write_stream(self, key: str, source: BinaryIO, max_bytes: int) -> tuple[int, str]:
        """Stores what `source` holds at `key`, streamed in 1 MiB pieces (never whole in memory),
        atomically as `write_bytes`. Returns (bytes, SHA-256 hex digest).

        Raises:
            ValueError: naming the key, when `source` holds more than `max_bytes` bytes (nothing
                is stored then).
        """
        import hashlib

        path, digest, size = self.path(key), hashlib.sha256(), 0
        temporary = f"{path}.tmp-{uuid.uuid4().hex}"
        if self.is_local:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        target = open(temporary, "wb") if self.is_local else self.fs.open(temporary, "wb")  # noqa: SIM115
        try:
            with target:
                while piece := source.read(1 << 20):
                    size += len(piece)
                    if size > max_bytes:
                        raise ValueError(f"{key}: more than {max_bytes} bytes")
                    digest.update(piece)
                    target.write(piece)
            if self.is_local:
                os.replace(temporary, path)
            else:
                self.fs.mv(temporary, path)
        finally:
            if self.fs.exists(temporary):
                self.fs.rm(temporary)
        return size, digest.hexdigest()

    def read_json(self, key: str) -> Any:
        """Returns the decoded JSON object at `key`."""
        return json.loads(self.read_bytes(key))

    def write_json(self, key: str, value: Any) -> str:
        """Stores `value` as UTF-8 JSON at `key`; returns its URI."""
        return self.write_bytes(key, json.dumps(value, ensure_ascii=False, indent=1).encode())

    def read_parquet(self, key: str) -> pd.DataFrame:
        """Returns the Parquet table at `key`."""
        return pd.read_parquet(io.BytesIO(self.read_bytes(key)))

    def write_parquet(self, key: str, frame: pd.DataFrame) -> str:
        """Stores `frame` as Parquet at `key`; returns its URI."""
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return self.write_bytes(key, buffer.getvalue())

    def list(self, prefix: str) -> list[ObjectInfo]:
        """Every object under `prefix` ('' for all), recursively, sorted by key; empty if none."""
        base = self.path(prefix)
        if not self.fs.exists(base):
            return []
        infos = []
        for path, info in sorted(self.fs.find(base, detail=True).items()):
            key = path[len(self.root) + 1 :] if path.startswith(self.root) else path
            if info.get("type") == "directory" or ".tmp-" in key:
                continue
            etag = info.get("ETag") or f"{info.get('size')}-{info.get('mtime', '')}"
            infos.append(ObjectInfo(key, int(info.get("size") or 0), str(etag).strip('"')))
        return infos

    def delete(self, prefix: str) -> None:
        """Deletes the object or every object under `prefix`; no error if none exists."""
        path = self.path(prefix)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)

    def upload_dir(self, local_dir: str | Path, prefix: str) -> str:
        """Copies every file under `local_dir` to `prefix`; returns the prefix's URI."""
        for file in sorted(Path(local_dir).rglob("*")):
            if file.is_file():
                self.write_bytes(f"{prefix}/{file.relative_to(local_dir).as_posix()}", file.read_bytes())
        return self.uri(prefix)

    def download_dir(self, prefix: str, local_dir: str | Path) -> Path:
        """Copies every object under `prefix` into `local_dir`, keeping relative paths.

        Raises:
            FileNotFoundError: if nothing is stored under `prefix`.
        """
        objects = self.list(prefix)
        if not objects:
            raise FileNotFoundError(f"no object under {self.uri(prefix)}")
        local = Path(local_dir)
        for info in objects:
            target = local / info.key[len(safe_key(prefix)) + 1 :]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.read_bytes(info.key))
        return local
