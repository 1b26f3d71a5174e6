"""The contract of a retriever (`RetrieverKind`): what finds a question's nodes in an index.
Registered in `dream_assets.plugins.registry.RETRIEVERS` (entry-point group `dream.retrievers`);
the built-ins (vector, BM25, hybrid) are in `dream_assets.lib.retrieval.retrievers`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING

from dream_assets.plugins.registry import Registry, subclass_of

if TYPE_CHECKING:
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import BaseNode


class RetrieverKind(ABC):
    """One way of retrieving nodes. `uses_embeddings`: False for a retriever that never reads
    a query embedding (the question set's embeddings are then not computed)."""

    uses_embeddings: bool = True

    @abstractmethod
    def build(self, vector: BaseRetriever, nodes: Callable[[], list[BaseNode]], top_k: int) -> BaseRetriever:
        """The LlamaIndex retriever returning `top_k` nodes.

        Args:
            vector: the index's embedding-similarity retriever with that top-k (None for a kind
                whose `uses_embeddings` is False: it is not built).
            nodes: gives the nodes the index embeds (called only by retrievers that need them).
            top_k: nodes to return.
        """


BUILTIN_RETRIEVERS = {
    "vector": "dream_assets.lib.retrieval.retrievers:VectorRetriever",
    "bm25": "dream_assets.lib.retrieval.retrievers:Bm25Retriever",
    "hybrid": "dream_assets.lib.retrieval.retrievers:HybridRetriever",
}
RETRIEVERS = Registry("retriever", "dream.retrievers", BUILTIN_RETRIEVERS, subclass_of(RetrieverKind))
