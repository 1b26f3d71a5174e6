"""The three DREAM retrieval methods on LlamaIndex: retrieval over a persisted index (node
parsing and index building: `dream_assets.lib.nodes`).

- chunks: `SentenceSplitter` chunks with overlap, top-k by cosine similarity;
- sentence window: `SentenceWindowNodeParser` sentences, each replaced by its window of
  neighbouring sentences by `MetadataReplacementPostProcessor` after retrieval;
- auto-merging: `HierarchicalNodeParser` levels, leaves indexed, `AutoMergingRetriever` merges
  leaves into their parent when enough siblings are retrieved.

Every retrieved context carries its character span in the parsed document, so it can be scored
against ground-truth reference contexts (`dream_assets.lib.context_matching`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from llama_index.core import StorageContext, load_index_from_storage
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.node_parser import get_leaf_nodes
from llama_index.core.postprocessor import MetadataReplacementPostProcessor
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.retrievers import AutoMergingRetriever, BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.core.vector_stores.types import BasePydanticVectorStore

from dream_assets.lib.nodes import embedding_dimensions
from dream_assets.rag_config import AutoMergingMethod, RetrievalMethod, SentenceWindowMethod


@dataclass(frozen=True)
class RetrievedContext:
    """One retrieved context: the node id, its document, its [start, end) character span in the
    parsed text, the text handed to the LLM, and the retriever's similarity score."""

    node_id: str
    document_id: str
    start: int
    end: int
    text: str
    score: float


class Retriever:
    """Top-k retrieval of one method over a persisted index.

    Args:
        persist_dir: directory written by `build_index`.
        method: the retrieval method the index was built with.
        embed_model: the embedding model it was built with (queries are embedded with it).
        top_k: number of nodes fetched by similarity (before auto-merging).
        vector_store: the external store the index was built into, or None for the in-memory
            store persisted in `persist_dir`.
        reranker: directory (or id) of a cross-encoder; when set, `rerank_factor` x top-k
            candidates are fetched and LlamaIndex's `SentenceTransformerRerank` keeps the top-k
            by cross-encoder score (scores become the cross-encoder's).
        rerank_factor: candidates per kept context when reranking.
        retriever: `vector` (embedding similarity), `bm25` (LlamaIndex `BM25Retriever` over the
            index's embedded nodes, English stemming), or `hybrid` (both through
            `QueryFusionRetriever` in `reciprocal_rerank` mode: reciprocal rank fusion with
            k = 60, Cormack, Clarke and Buettcher, SIGIR 2009; scores become fused scores).
            Auto-merging then merges whatever the base retriever returns.
    """

    def __init__(
        self,
        persist_dir: str | Path,
        method: RetrievalMethod,
        embed_model: BaseEmbedding,
        top_k: int,
        vector_store: BasePydanticVectorStore | None = None,
        reranker: str | None = None,
        rerank_factor: int = 3,
        retriever: str = "vector",
    ) -> None:
        if retriever not in ("vector", "bm25", "hybrid"):
            raise ValueError(f"retriever must be vector, bm25 or hybrid, got {retriever!r}")
        for name in ("docstore.json", *([] if vector_store is not None else ["default__vector_store.json"])):
            if not (Path(persist_dir) / name).exists():  # LlamaIndex would load an empty store in its place
                raise FileNotFoundError(f"index {persist_dir} has no {name}: the stored index is incomplete")
        storage = StorageContext.from_defaults(persist_dir=str(persist_dir), vector_store=vector_store)
        self.index = load_index_from_storage(storage, embed_model=embed_model)
        self.embed_model = embed_model
        self.method = method
        self.top_k = top_k
        self._retrievers: dict[int, BaseRetriever] = {}
        self._rerankers: dict[int, BaseNodePostprocessor] = {}
        self.reranker, self.rerank_factor = reranker, rerank_factor
        self.mode = retriever
        self._exact = None  # ExactVectorSearch over the in-memory store, built on first use
        self.last_latency_s = 0.0
        self.postprocessor = (
            MetadataReplacementPostProcessor(target_metadata_key="window")
            if isinstance(method, SentenceWindowMethod)
            else None
        )

    def _retriever(self, top_k: int) -> BaseRetriever:
        if top_k not in self._retrievers:
            fetched = top_k * self.rerank_factor if self.reranker else top_k
            base = self._base_retriever(fetched)
            if isinstance(self.method, AutoMergingMethod):
                base = AutoMergingRetriever(base, self.index.storage_context, verbose=False)
            self._retrievers[top_k] = base
        return self._retrievers[top_k]

    def _base_retriever(self, top_k: int) -> BaseRetriever:
        stored = getattr(getattr(self.index.vector_store, "data", None), "embedding_dict", None)
        if stored:  # LlamaIndex's in-memory store: the same exact search, vectorised
            from dream_assets.lib.exact_search import ExactVectorRetriever, ExactVectorSearch

            if self._exact is None:
                self._exact = ExactVectorSearch(stored)
            vector = ExactVectorRetriever(self._exact, self.index.docstore, self.embed_model, top_k)
        else:  # an external store (pgvector) searches itself
            vector = self.index.as_retriever(similarity_top_k=top_k)
        if self.mode == "vector":
            return vector
        from llama_index.core.llms import MockLLM
        from llama_index.core.retrievers import QueryFusionRetriever
        from llama_index.retrievers.bm25 import BM25Retriever

        # the nodes the vector index holds (auto-merging: the leaves; parents are merged in later)
        nodes = get_leaf_nodes(list(self.index.docstore.docs.values()))
        bm25 = BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=min(top_k, len(nodes)), language="en")
        if self.mode == "bm25":
            return bm25
        # one query, no rewriting: the LLM is never called (MockLLM keeps LlamaIndex from
        # resolving its default OpenAI one)
        return QueryFusionRetriever(
            [vector, bm25],
            llm=MockLLM(),
            mode="reciprocal_rerank",
            similarity_top_k=top_k,
            num_queries=1,
            use_async=False,
        )

    def _contexts(self, query: QueryBundle, top_k: int) -> list[RetrievedContext]:
        nodes: list[NodeWithScore] = self._retriever(top_k).retrieve(query)
        if self.postprocessor is not None:
            nodes = self.postprocessor.postprocess_nodes(nodes)
        if self.reranker:
            if top_k not in self._rerankers:
                from llama_index.core.postprocessor import SentenceTransformerRerank

                self._rerankers[top_k] = SentenceTransformerRerank(model=self.reranker, top_n=top_k, device="cpu")
            nodes = self._rerankers[top_k].postprocess_nodes(nodes, query)
        return [
            RetrievedContext(
                node_id=item.node.node_id,
                document_id=item.node.metadata["document_id"],
                start=int(item.node.metadata["span_start"]),
                end=int(item.node.metadata["span_end"]),
                text=item.node.get_content(),
                score=float(item.score or 0.0),
            )
            for item in nodes
        ]

    def retrieve(self, question: str) -> list[RetrievedContext]:
        """Returns the retrieved contexts for one question, best first; sets `last_latency_s`
        (seconds, query embedding included)."""
        start = time.perf_counter()
        contexts = self._contexts(QueryBundle(question), self.top_k)
        self.last_latency_s = time.perf_counter() - start
        return contexts

    def _dimensions(self) -> int:
        """Length of the index's vectors: one stored vector's (in memory), else a probe embedding."""
        data = getattr(self.index.vector_store, "data", None)
        stored = getattr(data, "embedding_dict", None)
        if stored:
            return len(next(iter(stored.values())))
        return embedding_dimensions(self.embed_model)

    def retrieve_batch(
        self,
        queries: list[str] | list[list[float]],
        top_k: int,
        embeddings: list[list[float]] | None = None,
    ) -> list[list[RetrievedContext]]:
        """Retrieved contexts of each query, best first.

        Args:
            queries: question texts, or (vector retrieval only) their embeddings.
            top_k: nodes fetched per query (before auto-merging).
            embeddings: the texts' embeddings by this index's model, computed once per question
                set (`dream_assets.lib.query_embeddings`); without them texts are embedded here
                in one batch (`get_text_embedding_batch`), and only when the mode uses vectors
                (`bm25` embeds nothing).

        Raises:
            ValueError: if an embedding's length differs from the index's, embeddings are given
                for other than plain vector retrieval, or `embeddings` and `queries` differ in
                length.
        """
        if not queries:
            return []
        if not isinstance(queries[0], str):
            if self.reranker or self.mode != "vector":
                raise ValueError(f"a {self.mode} retriever{' with a reranker' if self.reranker else ''} needs texts")
            texts, embeddings = [""] * len(queries), [list(map(float, vector)) for vector in queries]
        else:
            texts = list(queries)
        if embeddings is None and self.mode != "bm25":
            embeddings = self.embed_model.get_text_embedding_batch(texts)
        elif embeddings is not None:
            if len(embeddings) != len(texts):
                raise ValueError(f"{len(embeddings)} embeddings for {len(texts)} queries")
            expected = self._dimensions()
            wrong = [len(vector) for vector in embeddings if len(vector) != expected]
            if wrong:
                raise ValueError(f"query embeddings of length {wrong[0]} for an index of {expected}-d embeddings")
        vectors = embeddings if embeddings is not None else [None] * len(texts)
        return [
            self._contexts(QueryBundle(text, embedding=vector), top_k)
            for text, vector in zip(texts, vectors, strict=True)
        ]
