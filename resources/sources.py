"""Where users' inputs come from: a local folder or an `s3://bucket/prefix` (AWS, MinIO).

`DocumentSource` lists the documents of the RAG chain (PDF, DOCX, PPTX, HTML, Markdown, text);
`OscarSource` the OSCAR JSONL shards of the bulk
ingestion pipeline.
"""

from __future__ import annotations

from pathlib import PurePosixPath

import dagster as dg
from pydantic import Field

from dream_assets.hashing import file_ids
from dream_assets.lib.stores.object_store import ObjectInfo, ObjectStoreClient, ObjectStoreSettings


class FileSource(dg.ConfigurableResource):
    """A folder or S3 prefix of input files."""

    uri: str = Field(description="Folder path or s3://bucket/prefix holding the files.")
    endpoint_url: str | None = Field(default=None, description="S3 API endpoint of an s3:// source; None for AWS.")
    access_key_id: str | None = Field(default=None, description="S3 access key id (from an EnvVar).")
    secret_access_key: str | None = Field(default=None, description="S3 secret key (from an EnvVar).")

    def _client(self) -> ObjectStoreClient:
        from resources.object_store import S3_CLIENT_CONFIG

        options: dict = {"config_kwargs": S3_CLIENT_CONFIG} if self.uri.startswith("s3://") else {}
        if self.endpoint_url:
            options["endpoint_url"] = self.endpoint_url
        if self.access_key_id:
            options.update(key=self.access_key_id, secret=self.secret_access_key)
        return ObjectStoreClient(ObjectStoreSettings(root=self.uri, storage_options=options))

    def with_uri(self, uri: str):
        """The same kind of source, with the same endpoint and credentials, at `uri` (a watched
        corpus' source in the deployment's object store)."""
        return type(self)(
            uri=uri,
            endpoint_url=self.endpoint_url,
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
        )

    def copy_to(self, info: ObjectInfo, store: ObjectStoreClient, key: str, max_bytes: int) -> tuple[int, str]:
        """Copies one listed file to `key` of `store`, streamed (`ObjectStoreClient.write_stream`);
        returns (bytes, SHA-256).

        Raises:
            ValueError: if the file holds more than `max_bytes` bytes (it grew since the listing).
            FileNotFoundError: if it is gone.
        """
        with self._client().open_read(info.key) as source:
            return store.write_stream(key, source, max_bytes)

    def list_files(self) -> list[ObjectInfo]:
        """Every file under the source, recursively, sorted by key (its path under the source).
        An S3 prefix is listed by dagster-aws's `get_objects` (ETag and size per object; keys
        ending in `/`, folder markers, are skipped); a folder by the object-store client."""
        if not self.uri.startswith("s3://"):
            return self._client().list("")
        import boto3
        from dagster_aws.s3.sensor import get_objects

        bucket, _, prefix = self.uri.removeprefix("s3://").partition("/")
        prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        from botocore.config import Config

        from resources.object_store import S3_CLIENT_CONFIG

        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=Config(**S3_CLIENT_CONFIG),
        )
        objects = get_objects(bucket, prefix, client=client)
        return sorted(
            (
                ObjectInfo(item["Key"][len(prefix) :], int(item.get("Size") or 0), str(item.get("ETag", "")).strip('"'))
                for item in objects
                if not item["Key"].endswith("/")
            ),
            key=lambda info: info.key,
        )


class DocumentSource(FileSource):
    """A folder or S3 prefix of documents; each file under it (recursively; hidden files, whose
    name starts with `.`, left out) is one document whose id is the slug of its file name
    without its suffix (`Normans.pdf` is `normans`), with a hash of its path when that slug is
    empty or shared (`dream_assets.hashing.file_ids`). PDFs and the shared converter's formats
    (`dream_assets.lib.documents.formats.CONVERTED_SUFFIXES`: DOCX, PPTX, HTML, Markdown, text)
    are read; any other file is listed too, and quarantined with its reason when parsed."""

    def list_documents(self) -> dict[str, ObjectInfo]:
        """Every document under the source by document id (the file's key, its path under the
        source, is `ObjectInfo.key`)."""
        infos = {info.key: info for info in self.list_files() if not info.key.rsplit("/", 1)[-1].startswith(".")}
        stems = {key: PurePosixPath(key).stem or PurePosixPath(key).name for key in infos}
        return {document_id: infos[key] for document_id, key in file_ids(stems).items()}


class OscarSource(FileSource):
    """A folder or S3 prefix of OSCAR 23.01 shards (`*.jsonl` or `*.jsonl.zst`); each is one
    shard whose id is the slug of its file name (`en_meta_12.jsonl.zst` is `en-meta-12`)."""

    def list_shards(self) -> dict[str, ObjectInfo]:
        """Every shard under the source by shard id (`dream_assets.hashing.file_ids`: the
        slug of its name, with a hash of its path when that slug is empty or shared)."""
        infos, stems = {}, {}
        for info in self.list_files():
            name = info.key.rsplit("/", 1)[-1]
            stem = name.removesuffix(".zst").removesuffix(".jsonl")
            if stem == name.removesuffix(".zst") or stem == name:
                continue
            infos[info.key], stems[info.key] = info, stem
        return {shard_id: infos[key] for shard_id, key in file_ids(stems).items()}
