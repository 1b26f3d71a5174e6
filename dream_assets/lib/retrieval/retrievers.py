"""Retrievers: what finds a question's nodes in an index, one registered class each
(`dream_assets.plugins.registry.RETRIEVERS`; plug-ins subclass `RetrieverKind`).

- `vector`: top-k by embedding similarity (the index's own store);
- `bm25`: LlamaIndex's `BM25Retriever` over the index's embedded nodes (English stemming);
- `hybrid`: both, fused by `QueryFusionRetriever` in `reciprocal_rerank` mode: reciprocal rank
  fusion with k = 60 (Cormack, Clarke and Buettcher, SIGIR 2009).

The retrieval method then wraps the result (auto-merging merges whatever the retriever returns).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dream_assets.plugins.retrievers import RetrieverKind

if TYPE_CHECKING:
    pass


class VectorRetriever(RetrieverKind):
    """Top-k by embedding similarity."""

    def build(self, vector, nodes, top_k):  # noqa: D102
        return vector


def _bm25(nodes: list, top_k: int):
    from llama_index.retrievers.bm25 import BM25Retriever

    return BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=min(top_k, len(nodes)), language="en")


class Bm25Retriever(RetrieverKind):
    """Lexical: BM25 (Robertson and Zaragoza 2009) over the embedded nodes, English stemming."""

    uses_embeddings = False

    def build(self, vector, nodes, top_k):  # noqa: D102
        return _bm25(nodes(), top_k)


class HybridRetriever(RetrieverKind):
    """Vector and BM25 fused by reciprocal rank fusion (k = 60); scores become fused scores."""

    def build(self, vector, nodes, top_k):  # noqa: D102
        from llama_index.core.llms import MockLLM
        from llama_index.core.retrievers import QueryFusionRetriever
        from llama_index.core.retrievers.fusion_retriever import FUSION_MODES

        # one query, no rewriting: the LLM is never called (MockLLM keeps LlamaIndex from
        # resolving its default OpenAI one)
        return QueryFusionRetriever(
            [vector, _bm25(nodes(), top_k)],
            llm=MockLLM(),
            mode=FUSION_MODES.RECIPROCAL_RANK,
            similarity_top_k=top_k,
            num_queries=1,
            use_async=False,
        )
