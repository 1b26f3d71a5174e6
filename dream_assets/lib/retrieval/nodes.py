"""Node parsing for any registered retrieval method (its LlamaIndex node parser,
`dream_assets.lib.retrieval.methods`), with every node's character span in its parsed document, so
that retrieved contexts can be scored against ground-truth reference contexts. Shards and indexes
of the nodes: `dream_assets.lib.retrieval.shards`, `dream_assets.lib.retrieval.indexes`."""

from __future__ import annotations

from llama_index.core import Document
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import BaseNode

from dream_assets.plugins.methods import RetrievalMethodBase
from dream_assets.plugins.parsers import ParsedDocument

_PRIVATE_METADATA = ["document_id", "span_start", "span_end", "window", "original_text"]


def _to_llama_document(document: ParsedDocument) -> Document:
    return Document(
        text=document.text,
        id_=document.document_id,
        metadata={"document_id": document.document_id},
        excluded_embed_metadata_keys=_PRIVATE_METADATA,
        excluded_llm_metadata_keys=_PRIVATE_METADATA,
    )


def build_nodes(
    documents: list[ParsedDocument], method: RetrievalMethodBase, embed_model: BaseEmbedding | None = None
) -> tuple[list[BaseNode], list[BaseNode]]:
    """Splits documents into nodes with the method's node parser.

    Args:
        documents: the parsed documents.
        method: the retrieval method.
        embed_model: the index's embedding model (methods that split by embedding need it).

    Returns:
        (all nodes, nodes to embed): the same list except where the method embeds fewer
        (auto-merging stores its parents but embeds its leaves). Each node's metadata holds
        `span_start` and `span_end`: the span of the text it gives the LLM (for sentence
        window, the window).
    """
    parser = method.node_parser(embed_model)
    nodes = parser.get_nodes_from_documents([_to_llama_document(d) for d in documents])
    _set_absolute_spans(nodes)
    for node in nodes:
        node.excluded_embed_metadata_keys = _PRIVATE_METADATA
        node.excluded_llm_metadata_keys = _PRIVATE_METADATA
    return nodes, method.finish_nodes(nodes)


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
            starts[node.node_id] = offset + (getattr(node, "start_char_idx", None) or 0)
        return starts[node.node_id]

    for node in nodes:
        node.metadata["span_start"] = absolute_start(node)
        node.metadata["span_end"] = node.metadata["span_start"] + len(node.get_content())


def embedding_dimensions(embed_model: BaseEmbedding) -> int:
    """Length of the model's embedding vectors (one probe embedding)."""
    return len(embed_model.get_text_embedding("dimensions"))
