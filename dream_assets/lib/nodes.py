"""Node parsing and index building for the three DREAM retrieval methods (LlamaIndex node
parsers), with every node's character span in its parsed document, so that retrieved contexts
can be scored against ground-truth reference contexts."""

from __future__ import annotations

from pathlib import Path

from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.node_parser import (
    HierarchicalNodeParser,
    NodeParser,
    SentenceSplitter,
    SentenceWindowNodeParser,
    get_leaf_nodes,
)
from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import BasePydanticVectorStore

from dream_assets.lib.parsing import ParsedDocument
from dream_assets.rag_config import AutoMergingMethod, ChunksMethod, RetrievalMethod, SentenceWindowMethod

_PRIVATE_METADATA = ["document_id", "span_start", "span_end", "window", "original_text"]


def node_parser(method: RetrievalMethod) -> NodeParser:
    """Returns the LlamaIndex node parser of a retrieval method."""
    if isinstance(method, ChunksMethod):
        return SentenceSplitter(chunk_size=method.chunk_size, chunk_overlap=method.chunk_overlap)
    if isinstance(method, SentenceWindowMethod):
        return SentenceWindowNodeParser.from_defaults(window_size=method.window_size)
    return HierarchicalNodeParser.from_defaults(chunk_sizes=list(method.chunk_sizes))


def _to_llama_document(document: ParsedDocument) -> Document:
    return Document(
        text=document.text,
        id_=document.document_id,
        metadata={"document_id": document.document_id},
        excluded_embed_metadata_keys=_PRIVATE_METADATA,
        excluded_llm_metadata_keys=_PRIVATE_METADATA,
    )


def build_nodes(documents: list[ParsedDocument], method: RetrievalMethod) -> tuple[list[BaseNode], list[BaseNode]]:
    """Splits documents into nodes.

    Returns:
        (all nodes, nodes to embed): the same list except for auto-merging, whose parents are
        stored but only its leaves are embedded. Each node's metadata holds `span_start` and
        `span_end`: the span of the text it gives the LLM (for sentence window, the window).
    """
    nodes = node_parser(method).get_nodes_from_documents([_to_llama_document(d) for d in documents])
    _set_absolute_spans(nodes)
    for node in nodes:
        node.excluded_embed_metadata_keys = _PRIVATE_METADATA
        node.excluded_llm_metadata_keys = _PRIVATE_METADATA
    if isinstance(method, SentenceWindowMethod):
        _set_window_spans(nodes, method.window_size)
    if isinstance(method, AutoMergingMethod):
        return nodes, get_leaf_nodes(nodes)
    return nodes, nodes


def _set_absolute_spans(nodes: list[BaseNode]) -> None:
    """Sets `span_start`/`span_end` to offsets in the document text.

    LlamaIndex gives a node's offsets relative to the text it was split from: the document for
    flat parsers, the parent node for `HierarchicalNodeParser`'s lower levels, so a node's
    absolute start is its own plus its parent's absolute start.
    """
    by_id = {node.node_id: node for node in nodes}
    starts: dict[str, int] = {}

    def absolute_start(node: BaseNode) -> int:
        if node.node_id not in starts:
            parent = node.parent_node
            offset = absolute_start(by_id[parent.node_id]) if parent is not None else 0
            starts[node.node_id] = offset + (node.start_char_idx or 0)
        return starts[node.node_id]

    for node in nodes:
        node.metadata["span_start"] = absolute_start(node)
        node.metadata["span_end"] = node.metadata["span_start"] + len(node.get_content())


def _set_window_spans(nodes: list[BaseNode], window_size: int) -> None:
    """Sets each sentence node's span to that of its window (the sentences it is replaced by)."""
    by_document: dict[str, list[BaseNode]] = {}
    for node in nodes:
        by_document.setdefault(node.metadata["document_id"], []).append(node)
    for sentences in by_document.values():
        for index, node in enumerate(sentences):
            first = sentences[max(0, index - window_size)]
            last = sentences[min(len(sentences) - 1, index + window_size)]
            node.metadata["span_start"] = first.start_char_idx
            node.metadata["span_end"] = last.end_char_idx


def build_index(
    documents: list[ParsedDocument],
    method: RetrievalMethod,
    embed_model: BaseEmbedding,
    persist_dir: str | Path,
    vector_store: BasePydanticVectorStore | None = None,
    show_progress: bool = False,
) -> tuple[int, int]:
    """Parses, embeds and persists an index (LlamaIndex storage layout) in `persist_dir`.

    Args:
        documents: the parsed documents.
        method: the retrieval method (its node parser).
        embed_model: the embedding model of the nodes.
        persist_dir: local directory the index is written to.
        vector_store: where the vectors go; None keeps them in LlamaIndex's in-memory store,
            persisted in `persist_dir`. An external store is cleared first, so a build that died
            half-way and is run again leaves each node stored once.
        show_progress: draw LlamaIndex's progress bar of the nodes embedded (on stderr).

    Returns:
        (number of nodes stored, number of nodes embedded).
    """
    all_nodes, embedded = build_nodes(documents, method)
    if vector_store is not None:
        vector_store.clear()
    storage = StorageContext.from_defaults(vector_store=vector_store)
    storage.docstore.add_documents(all_nodes)
    index = VectorStoreIndex(embedded, storage_context=storage, embed_model=embed_model, show_progress=show_progress)
    index.storage_context.persist(persist_dir=str(persist_dir))
    return len(all_nodes), len(embedded)


def embedding_dimensions(embed_model: BaseEmbedding) -> int:
    """Length of the model's embedding vectors (one probe embedding)."""
    return len(embed_model.get_text_embedding("dimensions"))
