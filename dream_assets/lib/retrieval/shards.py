"""Per-document index shards: one document's nodes and their vectors, computed once.

A shard holds what one document contributes to an index: every node its retrieval method makes
of it (for auto-merging, every level) and the vector of each node the method embeds. It is
content-addressed by `shard_version`: the document (its id and SHA-256), the parser and its
version, the retrieval method and its parameters, and the embedding model and backend. An index
of a corpus is then its documents' shards put together (`dream_assets.lib.stores.lance_index`):
a new or changed document computes only its own shard, a removed one is left out, and a re-run
embeds nothing.

Stored as Parquet at `embedding_shards/<version>.parquet` (`SHARD_SCHEMA`): `node_id`,
`document_id`, `embedded`, `node` (the node as LlamaIndex's document store serialises it, spans
and relationships included) and `vector` (float32, null for a node that is stored but not
embedded).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import BaseNode, MetadataMode
from llama_index.core.storage.docstore.utils import doc_to_json

from dream_assets.hashing import content_hash
from dream_assets.lib.models.embedding_stage import embed_texts
from dream_assets.lib.models.embeddings import EmbeddingSettings, make_embedding
from dream_assets.lib.retrieval.nodes import build_nodes
from dream_assets.plugins.methods import RetrievalMethodBase
from dream_assets.plugins.parsers import ParsedDocument

SHARD_SCHEMA = pa.schema(
    [
        ("node_id", pa.string()),
        ("document_id", pa.string()),
        ("embedded", pa.bool_()),
        ("node", pa.string()),
        ("vector", pa.list_(pa.float32())),
    ]
)


def shard_version(document: ParsedDocument, method: RetrievalMethodBase, embedding: EmbeddingSettings) -> str:
    """Content hash of what one document's shard depends on: the document's id and SHA-256, its
    parser and parser version, the method and its parameters, the embedding model's name and
    backend (not its path: the same model is the same wherever it is installed)."""
    return content_hash(
        [
            document.document_id,
            document.sha256,
            document.parser,
            document.parser_version,
            method.model_dump(mode="json"),
            embedding.name,
            embedding.backend,
        ]
    )


def shard_key(version: str) -> str:
    """Object-store key of the shard of `version`."""
    return f"embedding_shards/{version}.parquet"


def shard_table(nodes: list[BaseNode], embedded_ids: set[str], vectors: dict[str, np.ndarray]) -> pa.Table:
    """One document's nodes as a shard (`SHARD_SCHEMA`): `vectors` by node id for the
    `embedded_ids`."""
    return pa.table(
        {
            "node_id": [node.node_id for node in nodes],
            "document_id": [str(node.metadata["document_id"]) for node in nodes],
            "embedded": [node.node_id in embedded_ids for node in nodes],
            "node": [json.dumps(doc_to_json(node), ensure_ascii=False) for node in nodes],
            "vector": [vectors[node.node_id].tolist() if node.node_id in embedded_ids else None for node in nodes],
        },
        schema=SHARD_SCHEMA,
    )


def compute_shards(
    documents: list[ParsedDocument],
    method: RetrievalMethodBase,
    embedding: EmbeddingSettings | None,
    ray_connect: Callable[[], object] | None = None,
    show_progress: bool = False,
    model: BaseEmbedding | None = None,
) -> dict[str, pa.Table]:
    """The shards of `documents` by document id: each document split by the method's node
    parser on its own, the nodes to embed of all of them embedded in one batch
    (`dream_assets.lib.models.embedding_stage.embed_texts`: on the Ray cluster with
    `ray_connect` and enough texts, else in this process), each node embedded as LlamaIndex's
    `VectorStoreIndex` embeds it (its content in `MetadataMode.EMBED`).

    Args:
        documents: the documents.
        method: the retrieval method.
        embedding: the embedding model's settings (None when `model` is given).
        ray_connect: see `embed_texts`.
        show_progress: progress bar of in-process embedding.
        model: the embedding model already loaded here: everything is embedded with it, in
            this process.

    Raises:
        ValueError: if a document's method yields no node, or neither `embedding` nor `model`
            is given.
    """
    if embedding is None and model is None:
        raise ValueError("compute_shards needs the embedding model's settings or the model")
    if model is None and method.splits_by_embedding:  # the node parser embeds: load it here
        model = make_embedding(embedding)  # pyright: ignore[reportArgumentType] - checked above
    parsed = {}
    for document in documents:
        nodes, embedded = build_nodes([document], method, model)
        if not nodes:
            raise ValueError(f"{document.document_id}: the {method.slug} method made no node of it")
        parsed[document.document_id] = (nodes, embedded)
    to_embed = [node for _, embedded in parsed.values() for node in embedded]
    texts = [node.get_content(metadata_mode=MetadataMode.EMBED) for node in to_embed]
    matrix = embed_texts(texts, embedding, ray_connect, model, show_progress)
    vectors = {node.node_id: matrix[row] for row, node in enumerate(to_embed)}
    return {
        document_id: shard_table(nodes, {node.node_id for node in embedded}, vectors)
        for document_id, (nodes, embedded) in parsed.items()
    }


def write_shard(store, key: str, table: pa.Table) -> None:
    """Stores a shard at `key` (Parquet, zstd)."""
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    store.write_bytes(key, buffer.getvalue())


def read_shard(store, key: str) -> pa.Table:
    """The shard stored at `key`.

    Raises:
        FileNotFoundError: if none is.
    """
    return pq.read_table(io.BytesIO(store.read_bytes(key))).cast(SHARD_SCHEMA)


def ensure_shards(
    store,
    documents: list[ParsedDocument],
    method: RetrievalMethodBase,
    embedding: EmbeddingSettings,
    ray_connect: Callable[[], object] | None = None,
    show_progress: bool = False,
) -> tuple[list[pa.Table], list[str], int, int]:
    """The shards of `documents` (in their order), computing and storing only those not stored.

    Returns:
        (shards, their versions, nodes embedded now, shards computed now).
    """
    versions = [shard_version(document, method, embedding) for document in documents]
    stored = {version: store.exists(shard_key(version)) for version in versions}
    missing = [document for document, version in zip(documents, versions, strict=True) if not stored[version]]
    built = compute_shards(missing, method, embedding, ray_connect, show_progress) if missing else {}
    embedded_now = 0
    for document, version in zip(documents, versions, strict=True):
        if document.document_id in built:
            table = built[document.document_id]
            write_shard(store, shard_key(version), table)
            embedded_now += sum(table.column("embedded").to_pylist())
    tables = [
        built[document.document_id] if document.document_id in built else read_shard(store, shard_key(version))
        for document, version in zip(documents, versions, strict=True)
    ]
    return tables, versions, embedded_now, len(built)
