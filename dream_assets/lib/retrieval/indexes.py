"""Content-addressed embedding indexes: a version is the hash of what the index holds, so an
index whose version is stored is never embedded again, whoever asks for it (the
`embedding_index` asset, or a search trial that drew a chunker the grid does not have)."""

from __future__ import annotations

import tempfile

from dream_assets import layout
from dream_assets.hashing import content_hash
from dream_assets.plugins.methods import RetrievalMethod
from dream_assets.plugins.parsers import DEFAULT_PARSER, ParsedDocument


def corpus_version(documents: list[ParsedDocument]) -> str:
    """Hash of the parsed corpus: its documents' ids and SHA-256s."""
    return content_hash(sorted((d.document_id, d.sha256) for d in documents))


def index_version(
    corpus: str,
    method: RetrievalMethod,
    embedding_model: str,
    vector_store_kind: str = "in_memory",
    parser: str = DEFAULT_PARSER,
    parser_version: str = "",
) -> str:
    """Content hash of (parsed corpus version, retrieval method and parameters, embedding model,
    vector store kind, and for another parser than the default its name and version: the default
    parser's indexes keep the versions they had before parsers were a dimension)."""
    parts = [corpus, method.model_dump(mode="json"), embedding_model, vector_store_kind]
    return content_hash(parts if parser == DEFAULT_PARSER else [*parts, parser, parser_version])


def ensure_index(store, documents: list[ParsedDocument], index_key: str, method: RetrievalMethod, embedding) -> dict:
    """The stored in-memory index of `documents` for (`method`, `embedding`), built and
    uploaded first if its version is not in the object store (`manifest.json` is written last:
    its presence means the index is complete).

    Args:
        store: object-store client.
        documents: the parsed corpus (one parser's parse, named in each document).
        index_key: the index's readable key (`RagConfig.index_key`).
        method: the retrieval method (its node parser).
        embedding: the embedding model's `EmbeddingSettings`.

    Returns:
        The index pointer: `version`, `prefix`, `table` (None), `built` (whether it was built now)
        and `embedded` (nodes embedded now).
    """
    from dream_assets.lib.models.embeddings import make_embedding
    from dream_assets.lib.retrieval.nodes import build_index

    parser = documents[0].parser if documents else DEFAULT_PARSER
    parser_version = documents[0].parser_version if documents else ""
    version = index_version(corpus_version(documents), method, embedding.name, "in_memory", parser, parser_version)
    prefix = layout.index_prefix(index_key, version)
    embedded, built = 0, not store.exists(f"{prefix}/manifest.json")
    if built:
        with tempfile.TemporaryDirectory() as directory:
            nodes, embedded = build_index(documents, method, make_embedding(embedding), directory)
            store.upload_dir(directory, prefix)
        store.write_json(f"{prefix}/manifest.json", {"nodes": nodes, "embedded": embedded, "table": None})
    return {"version": version, "prefix": prefix, "table": None, "built": built, "embedded": embedded}
