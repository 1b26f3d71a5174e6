"""Where users' inputs come from: a local folder or an `s3://bucket/prefix` (AWS, MinIO).

`PdfSource` lists the PDFs of the RAG chain; `OscarSource` the OSCAR JSONL shards of the bulk
ingestion pipeline.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from dream_assets.lib.hashing import slugify
from resources.object_store import ObjectInfo, ObjectStoreClient, ObjectStoreSettings


class FileSource(dg.ConfigurableResource):
    """A folder or S3 prefix of input files."""

    uri: str = Field(description="Folder path or s3://bucket/prefix holding the files.")
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None

    def _client(self) -> ObjectStoreClient:
        options: dict = {}
        if self.endpoint_url:
            options["endpoint_url"] = self.endpoint_url
        if self.access_key_id:
            options.update(key=self.access_key_id, secret=self.secret_access_key)
        return ObjectStoreClient(ObjectStoreSettings(root=self.uri, storage_options=options))

    def read(self, info: ObjectInfo) -> bytes:
        """The bytes of one listed file."""
        return self._client().read_bytes(info.key)


class PdfSource(FileSource):
    """A folder or S3 prefix of PDFs; each `*.pdf` under it (recursively) is one document whose
    id is the slug of its file name (`Normans.pdf` is `normans`)."""

    def list_pdfs(self) -> dict[str, ObjectInfo]:
        """Every PDF under the source by document id.

        Raises:
            ValueError: naming both files if two file names give the same document id.
        """
        found: dict[str, ObjectInfo] = {}
        for info in self._client().list(""):
            if not info.key.lower().endswith(".pdf"):
                continue
            document_id = slugify(info.key.rsplit("/", 1)[-1][:-4])
            if document_id in found:
                raise ValueError(f"{found[document_id].key} and {info.key} both map to document id {document_id!r}")
            found[document_id] = info
        return found


class OscarSource(FileSource):
    """A folder or S3 prefix of OSCAR 23.01 shards (`*.jsonl` or `*.jsonl.zst`); each is one
    shard whose id is the slug of its file name (`en_meta_12.jsonl.zst` is `en-meta-12`)."""

    def list_shards(self) -> dict[str, ObjectInfo]:
        """Every shard under the source by shard id.

        Raises:
            ValueError: naming both files if two file names give the same shard id.
        """
        found: dict[str, ObjectInfo] = {}
        for info in self._client().list(""):
            name = info.key.rsplit("/", 1)[-1]
            stem = name.removesuffix(".zst").removesuffix(".jsonl")
            if stem == name.removesuffix(".zst") or stem == name:
                continue
            shard_id = slugify(stem)
            if shard_id in found:
                raise ValueError(f"{found[shard_id].key} and {info.key} both map to shard id {shard_id!r}")
            found[shard_id] = info
        return found
