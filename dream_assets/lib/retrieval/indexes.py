"""Embedding indexes put together from per-document shards, content-addressed.

An index version is the hash of its documents' shard versions (`dream_assets.lib.retrieval.shards`)
and where its vectors are kept, so an index whose version is stored is never built again, and a
new one embeds only the documents whose shards are not stored yet, whoever asks for it (the
`embedding_index` asset, or a search trial that drew a chunker the grid does not have).

An index directory holds `manifest.json` (written last: its presence means the index is complete)
and `lancedb/`, the LanceDB tables of `dream_assets.lib.stores.lance_index` (with an external
vector store such as pgvector, only the nodes; the vectors are in its table).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.storage.docstore.utils import json_to_doc
from llama_index.core.vector_stores.types import BasePydanticVectorStore

from dream_assets import layout
from dream_assets.hashing import content_hash
from dream_assets.lib.retrieval.shards import compute_shards, ensure_shards
from dream_assets.lib.stores.lance_index import write_index
from dream_assets.lib.stores.vector_stores import table_name
from dream_assets.plugins.methods import RetrievalMethodBase
from dream_assets.plugins.parsers import ParsedDocument
from dream_assets.plugins.vector_stores import VectorStoreSettings

LANCE_DIR = "lancedb"
MANIFEST = "manifest.json"


def corpus_version(documents: list[ParsedDocument]) -> str:
    """Hash of the parsed corpus: its documents' ids and SHA-256s."""
    return content_hash(sorted((d.document_id, d.sha256) for d in documents))


def index_version(shard_versions: list[str], vector_store_kind: str = "lancedb") -> str:
    """Content hash of an index: its shards' versions (in the index's document order, which is
    the corpus's sorted by document id) and the vector store kind."""
    return content_hash([list(shard_versions), vector_store_kind])


def write_index_dir(
    directory: str | Path,
    shards: list[pa.Table],
    vector_store: BasePydanticVectorStore | None = None,
    extra: dict | None = None,
    write_manifest: bool = True,
) -> dict:
    """Writes an index of `shards` into `directory`: its LanceDB tables, the vectors added to
    `vector_store` instead when one is given (cleared first, so a build that died half-way and
    is run again stores each node once), then `manifest.json` (unless `write_manifest` is False:
    the caller stores it last).

    Returns:
        The manifest: `nodes`, `embedded` (= vectors stored), `dimensions`, `ann` and `extra`'s
        entries.
    """
    directory = Path(directory)
    record = write_index(directory / LANCE_DIR, shards, with_vectors=vector_store is None)
    if vector_store is not None:
        vector_store.clear()
        for shard in shards:
            rows = shard.filter(shard.column("embedded"))
            nodes = []
            for node_json, vector in zip(
                rows.column("node").to_pylist(), rows.column("vector").to_pylist(), strict=True
            ):
                node = json_to_doc(json.loads(node_json))
                node.embedding = vector
                nodes.append(node)
            if nodes:
                vector_store.add(nodes)
        record["dimensions"] = _dimensions(shards)
    manifest = {**record, "embedded": record["vectors"], **(extra or {})}
    if write_manifest:
        (directory / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


def build_index(
    documents: list[ParsedDocument],
    method: RetrievalMethodBase,
    embed_model: BaseEmbedding,
    persist_dir: str | Path,
    vector_store: BasePydanticVectorStore | None = None,
    show_progress: bool = False,
) -> tuple[int, int]:
    """Parses, embeds (in this process, with `embed_model`) and writes an index of `documents`
    in `persist_dir`, storing no shard (the object-store path with shards is `ensure_index`).

    Returns:
        (number of nodes stored, number of nodes embedded).
    """
    shards = compute_shards(documents, method, None, model=embed_model, show_progress=show_progress)
    manifest = write_index_dir(persist_dir, [shards[d.document_id] for d in documents], vector_store)
    return manifest["nodes"], manifest["embedded"]


def ensure_index(
    store,
    documents: list[ParsedDocument],
    index_key: str,
    method: RetrievalMethodBase,
    embedding,
    vector_store: VectorStoreSettings | None = None,
    ray_connect: Callable[[], object] | None = None,
    show_progress: bool = False,
) -> dict:
    """The stored index of `documents` for (`method`, `embedding`), built from their shards and
    uploaded first if its version is not in the object store; only documents whose shard is not
    stored are split and embedded.

    Args:
        store: object-store client.
        documents: the parsed corpus (one parser's parse, named in each document).
        index_key: the index's readable key (`RagConfig.index_key`).
        method: the retrieval method (its node parser).
        embedding: the embedding model's `EmbeddingSettings`.
        vector_store: where the vectors go (default: the index's own LanceDB tables); an
            external store's table is named for the index version (`table_name`).
        ray_connect: connects to the Ray cluster, to embed there when there are enough texts
            (`dream_assets.lib.models.embedding_stage.embed_texts`).
        show_progress: progress bar of in-process embedding.

    Returns:
        The index pointer: `version`, `prefix`, `table` (the external store's table, or None),
        `built` (whether it was built now), `embedded` (nodes embedded now), `nodes`, `shards`
        (documents), `shards_built` (documents split and embedded now), `ann` (None, or the ANN
        index and its recall@10).
    """
    settings = vector_store or VectorStoreSettings()
    ordered = sorted(documents, key=lambda document: document.document_id)
    shards, versions, embedded, shards_built = ensure_shards(
        store, ordered, method, embedding, ray_connect, show_progress
    )
    version = index_version(versions, settings.kind)
    prefix = layout.index_prefix(index_key, version)
    table = table_name(index_key, version)
    external = settings.backend().llama_store(table, _dimensions(shards))
    if not store.exists(f"{prefix}/{MANIFEST}"):
        with tempfile.TemporaryDirectory() as directory:
            extra: dict[str, object] = {"shards": dict(zip([d.document_id for d in ordered], versions, strict=True))}
            extra["table"] = table if external is not None else None
            manifest = write_index_dir(directory, shards, external, extra, write_manifest=False)
            store.upload_dir(directory, prefix)
        # written last: its presence means the whole index is stored
        store.write_json(f"{prefix}/{MANIFEST}", manifest)
        built = True
    else:
        manifest, built = store.read_json(f"{prefix}/{MANIFEST}"), False
    return {
        "version": version,
        "prefix": prefix,
        "table": manifest.get("table"),
        "built": built,
        "embedded": embedded,
        "nodes": manifest["nodes"],
        "shards": len(versions),
        "shards_built": shards_built,
        "ann": manifest.get("ann"),
    }


def _dimensions(shards: list[pa.Table]) -> int:
    """Length of the shards' vectors (0 when none has one)."""
    for shard in shards:
        present = shard.column("vector").drop_null()
        if len(present):
            return len(present[0])
    return 0
