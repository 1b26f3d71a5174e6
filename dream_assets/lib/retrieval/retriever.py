"""Retrieval over a persisted index, for any registered retrieval method, retriever and reranker.

Node parsing and index building: `dream_assets.lib.retrieval.nodes`. A question is retrieved in three steps:

1. the retriever (`dream_assets.lib.retrieval.retrievers`: vector, BM25, hybrid) finds top-k nodes
   (`fetch_factor` x top-k when reranking);
2. the method wraps it (`RetrievalMethodBase.wrap_retriever`: auto-merging merges leaves into
   their parent) and post-processes the nodes (`postprocessor`: sentence window replaces each
   sentence by its window);
3. the reranker (`dream_assets.lib.retrieval.rerankers`) keeps the top-k.

Every retrieved context carries its character span in the parsed document, so it can be scored
against ground-truth reference contexts (`dream_assets.lib.retrieval.context_matching`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.core.vector_stores.types import BasePydanticVectorStore

from dream_assets.lib.retrieval.indexes import LANCE_DIR, MANIFEST
from dream_assets.lib.retrieval.nodes import embedding_dimensions
from dream_assets.lib.retrieval.rerankers import cross_encoder
from dream_assets.lib.retrieval.vector_search import IndexVectorRetriever, embedded_nodes, lance_docstore
from dream_assets.lib.stores.lance_index import ExactVectorSearch, LanceIndex
from dream_assets.plugins.methods import RetrievalMethodBase
from dream_assets.plugins.retrievers import RETRIEVERS


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


class ContextRetriever(Protocol):
    """What the retrieval tier queries: an index's `Retriever`, or a retrieval pool's
    (`dream_assets.lib.retrieval.pool.PoolRetriever`)."""

    top_k: int

    def retrieve_batch(
        self, queries: list[str], top_k: int, embeddings: list[list[float]] | None = None
    ) -> list[list[RetrievedContext]]:
        """Retrieved contexts of each query, best first."""
        ...


class Retriever:
    """Top-k retrieval of one method over a persisted index.

    Args:
        persist_dir: an index directory (`dream_assets.lib.retrieval.indexes`: `manifest.json`
            and its LanceDB tables).
        method: the retrieval method the index was built with.
        embed_model: the embedding model it was built with (queries are embedded with it); None
            for a retriever that reads no embedding (`bm25`), which then loads no model.
        top_k: number of nodes fetched by similarity (before auto-merging).
        vector_store: the external store the index's vectors were added to, or None for its own
            LanceDB tables.
        reranker: a function of top-n giving the reranking postprocessor
            (`dream_assets.lib.retrieval.rerankers.open_reranker`), or the directory (or id) of a
            cross-encoder (LlamaIndex's `SentenceTransformerRerank`); when set, `rerank_factor`
            x top-k candidates are fetched and the reranker keeps the top-k (scores become its
            own).
        rerank_factor: candidates per kept context when reranking.
        retriever: a registered retriever's name (`dream_assets.lib.retrieval.retrievers`: `vector`,
            `bm25`, `hybrid`) or a plug-in's.

    Raises:
        dream_assets.plugins.registry.UnknownComponentError: for an unknown retriever.
        FileNotFoundError: if the stored index is incomplete.
    """

    def __init__(
        self,
        persist_dir: str | Path,
        method: RetrievalMethodBase,
        embed_model: BaseEmbedding | None,
        top_k: int,
        vector_store: BasePydanticVectorStore | None = None,
        reranker: str | Callable[[int], BaseNodePostprocessor] | None = None,
        rerank_factor: int = 3,
        retriever: str = "vector",
    ) -> None:
        self.kind = RETRIEVERS.get(retriever)()
        manifest_path = Path(persist_dir) / MANIFEST
        if not manifest_path.exists():  # written last: without it the index is not complete
            raise FileNotFoundError(f"index {persist_dir} has no {MANIFEST}: the stored index is incomplete")
        self.lance = LanceIndex(Path(persist_dir) / LANCE_DIR, json.loads(manifest_path.read_text()))
        if vector_store is None and self.lance.vectors is None and self.kind.uses_embeddings:
            raise FileNotFoundError(f"index {persist_dir} keeps its vectors in an external store: name it")
        self.storage_context = StorageContext.from_defaults(docstore=lance_docstore(self.lance))
        self.external = vector_store
        self.embed_model = embed_model
        self.method = method
        self.top_k = top_k
        self._retrievers: dict[int, BaseRetriever] = {}
        self._rerankers: dict[int, BaseNodePostprocessor] = {}
        self.reranker, self.rerank_factor = reranker, rerank_factor
        self.mode = retriever
        self._exact: ExactVectorSearch | None = None  # below the ANN threshold, built on first use
        self.last_latency_s = 0.0
        self.postprocessor = method.postprocessor()

    def _retriever(self, top_k: int) -> BaseRetriever:
        if top_k not in self._retrievers:
            fetched = top_k * self.rerank_factor if self.reranker else top_k
            vector = self._vector_retriever(fetched) if self.kind.uses_embeddings else None
            base = self.kind.build(vector, self._embedded_nodes, fetched)  # pyright: ignore[reportArgumentType] - None where unused
            self._retrievers[top_k] = self.method.wrap_retriever(base, self.storage_context)
        return self._retrievers[top_k]

    def _model(self) -> BaseEmbedding:
        """The embedding model; a ValueError where the retriever was opened without one."""
        if self.embed_model is None:
            raise ValueError(f"the {self.mode} retriever was opened without an embedding model")
        return self.embed_model

    def _vector_retriever(self, top_k: int) -> BaseRetriever:
        if self.external is not None:  # an external store searches itself, nodes and all
            index = VectorStoreIndex.from_vector_store(self.external, embed_model=self._model())
            return index.as_retriever(similarity_top_k=top_k)
        if self.lance.manifest.get("ann") is None and self._exact is None:
            self._exact = ExactVectorSearch(*self.lance.vector_matrix())
        return IndexVectorRetriever(self.lance, self._model(), top_k, self._exact)

    def _embedded_nodes(self) -> list:
        """The nodes the vector index holds (for auto-merging, the leaves)."""
        return embedded_nodes(self.lance)

    def _contexts(self, query: QueryBundle, top_k: int) -> list[RetrievedContext]:
        nodes: list[NodeWithScore] = self._retriever(top_k).retrieve(query)
        if self.postprocessor is not None:
            nodes = self.postprocessor.postprocess_nodes(nodes)
        if self.reranker:
            if top_k not in self._rerankers:
                reranker = self.reranker
                make = reranker if callable(reranker) else lambda n: cross_encoder(reranker, n)
                self._rerankers[top_k] = make(top_k)
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
        """Length of the index's vectors: the manifest's, else a probe embedding."""
        return int(self.lance.manifest.get("dimensions") or 0) or embedding_dimensions(self._model())

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
                set (`dream_assets.lib.retrieval.query_embeddings`); without them texts are embedded here
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
            texts: list[str] = [""] * len(queries)
            embeddings = [[float(value) for value in vector] for vector in queries]
        else:
            texts = [str(query) for query in queries]
        if embeddings is None and self.kind.uses_embeddings:
            embeddings = self._model().get_text_embedding_batch(texts)
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
