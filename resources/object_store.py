"""Object store as Dagster resources: one role, two implementations (a local directory; S3,
MinIO or any S3 API). They hold configuration and give plain `ObjectStoreSettings`; the client
is `dream_assets.lib.stores.object_store.ObjectStoreClient` (no Dagster), built in any process.
Keys are '/'-separated paths relative to the store's root; a key that would leave the root
(`..`, an absolute path, a backslash) is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from dream_assets.lib.stores.object_store import ObjectStoreClient, ObjectStoreSettings


class ObjectStore(dg.ConfigurableResource):
    """The object-store role: where PDFs, parsed documents, golden sets, indexes and evaluation
    tables live. Assets take this type; definitions.py picks the implementation."""

    def settings(self) -> ObjectStoreSettings:
        """Plain settings for a Ray worker to open the same store."""
        raise NotImplementedError

    def client(self) -> ObjectStoreClient:
        """A client of this store."""
        return ObjectStoreClient(self.settings())


class LocalObjectStore(ObjectStore):
    """A local directory (the embedded default, under the state directory)."""

    root: str = Field(description="Absolute path of the store's root directory.")

    def settings(self) -> ObjectStoreSettings:
        """Plain settings: the root directory."""
        return ObjectStoreSettings(root=str(Path(self.root).resolve()))


# Bounded waits of every S3 client: 4 tries (standard mode's backoff), 5 s to connect, 60 s for a
# response; a store that is down fails in seconds, naming the endpoint.
S3_CLIENT_CONFIG: dict[str, Any] = {
    "retries": {"max_attempts": 4, "mode": "standard"},
    "connect_timeout": 5,
    "read_timeout": 60,
}


class S3ObjectStore(ObjectStore):
    """An S3 bucket prefix on AWS S3, MinIO or any S3 API (set `endpoint_url` for non-AWS)."""

    bucket: str = Field(description="S3 bucket name.")
    prefix: str = Field(default="dream", description="Key prefix of everything DREAM stores in the bucket.")
    endpoint_url: str | None = Field(default=None, description="S3 API endpoint (MinIO, SeaweedFS); None for AWS.")
    region_name: str = Field(default="us-east-1", description="S3 region.")
    access_key_id: str | None = Field(
        default=None, description="S3 access key id (from an EnvVar); None: the default chain."
    )
    secret_access_key: str | None = Field(default=None, description="S3 secret key (from an EnvVar).")

    def settings(self) -> ObjectStoreSettings:
        """Plain settings: `s3://bucket/prefix` with the endpoint and credentials."""
        options: dict[str, Any] = {
            "client_kwargs": {"region_name": self.region_name},
            "config_kwargs": S3_CLIENT_CONFIG,
        }
        if self.endpoint_url:
            options["endpoint_url"] = self.endpoint_url
        if self.access_key_id:
            options.update(key=self.access_key_id, secret=self.secret_access_key)
        root = f"s3://{self.bucket}/{self.prefix.strip('/')}".rstrip("/")
        return ObjectStoreSettings(root=root, storage_options=options)
