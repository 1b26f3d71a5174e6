"""Where users' PDFs come from: a local folder or an `s3://bucket/prefix` (AWS, MinIO)."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from dream_assets.lib.hashing import slugify
from resources.object_store import ObjectInfo, ObjectStoreClient, ObjectStoreSettings


class PdfSource(dg.ConfigurableResource):
    """A folder or S3 prefix of PDFs; each `*.pdf` under it (recursively) is one document whose
    id is the slug of its file name (`Normans.pdf` is `normans`)."""

    uri: str = Field(description="Folder path or s3://bucket/prefix holding the PDFs.")
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

    def read(self, info: ObjectInfo) -> bytes:
        """The bytes of one PDF listed by `list_pdfs`."""
        return self._client().read_bytes(info.key)
