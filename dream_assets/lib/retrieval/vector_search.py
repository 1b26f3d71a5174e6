"""Vector search over an index's LanceDB tables (`dream_assets.lib.stores.lance_index`), as
LlamaIndex parts: a retriever and a read-only document store.

- `IndexVectorRetriever`: top-k nodes by embedding similarity, exact (`ExactVectorSearch` of
  `dream_assets.lib.stores.lance_index`, over the index's vectors read once into memory) or
  through LanceDB's ANN index, each node read from the index by offset only when it is returned.
- `lance_docstore`: the index's nodes as a LlamaIndex document store (for auto-merging's parent
  lookups and lexical retrievers), read by id on demand.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.core.storage.docstore.keyval_docstore import KVDocumentStore
from llama_index.core.storage.docstore.utils import json_to_doc
from llama_index.core.storage.kvstore.types import DEFAULT_COLLECTION, BaseKVStore

from dream_assets.lib.stores.lance_index import ExactVectorSearch, LanceIndex


class IndexVectorRetriever(BaseRetriever):
    """Top-k nodes of an index by cosine similarity to the query's embedding (given in the
    `QueryBundle`, else embedded here): exact (`ExactVectorSearch`) where the index has no ANN
    index, else LanceDB's search on disk."""

    def __init__(
        self, index: LanceIndex, embed_model: BaseEmbedding, top_k: int, exact: ExactVectorSearch | None
    ) -> None:
        super().__init__()
        self._index, self._embed_model, self._top_k, self._exact = index, embed_model, top_k, exact

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        embedding = query_bundle.embedding
        if embedding is None:
            embedding = self._embed_model.get_query_embedding(query_bundle.query_str)
        if self._exact is not None:
            hits = self._exact.top_k(embedding, self._top_k)
        else:
            [hits] = self._index.search(np.asarray([embedding], dtype=np.float32), self._top_k)
        nodes = self._index.node_json([row for row, _ in hits])
        return [
            NodeWithScore(node=json_to_doc(node), score=score) for node, (_, score) in zip(nodes, hits, strict=True)
        ]


class _LanceNodeStore(BaseKVStore):
    """The `nodes` table as the key-value store behind a LlamaIndex `KVDocumentStore`: the node
    collection read by id; the other collections (reference-document info) are empty. Writes
    are refused: an index version never changes."""

    def __init__(self, index: LanceIndex) -> None:
        self._index = index

    def _is_nodes(self, collection: str) -> bool:
        return collection.endswith("/data") or collection == DEFAULT_COLLECTION

    def get(self, key: str, collection: str = DEFAULT_COLLECTION) -> dict | None:  # noqa: D102
        row = self._index.rows_by_id.get(key) if self._is_nodes(collection) else None
        return None if row is None else self._index.node_json([row])[0]

    def get_all(self, collection: str = DEFAULT_COLLECTION) -> dict[str, dict]:  # noqa: D102
        if not self._is_nodes(collection):
            return {}
        ids = list(self._index.rows_by_id)
        return dict(zip(ids, self._index.node_json(list(self._index.rows_by_id.values())), strict=True))

    async def aget(self, key: str, collection: str = DEFAULT_COLLECTION) -> dict | None:  # noqa: D102
        return self.get(key, collection)

    async def aget_all(self, collection: str = DEFAULT_COLLECTION) -> dict[str, dict]:  # noqa: D102
        return self.get_all(collection)

    def put(self, key: str, val: dict, collection: str = DEFAULT_COLLECTION) -> None:  # noqa: D102
        raise TypeError("an index version is read-only")

    async def aput(self, key: str, val: dict, collection: str = DEFAULT_COLLECTION) -> None:  # noqa: D102
        raise TypeError("an index version is read-only")

    def delete(self, key: str, collection: str = DEFAULT_COLLECTION) -> bool:  # noqa: D102
        raise TypeError("an index version is read-only")

    async def adelete(self, key: str, collection: str = DEFAULT_COLLECTION) -> bool:  # noqa: D102
        raise TypeError("an index version is read-only")


def lance_docstore(index: LanceIndex) -> KVDocumentStore:
    """The index's nodes as a read-only LlamaIndex document store (each read by id on demand)."""
    return KVDocumentStore(_LanceNodeStore(index))


def embedded_nodes(index: LanceIndex) -> list[Any]:
    """The index's embedded nodes (auto-merging: the leaves), as LlamaIndex nodes."""
    return [json_to_doc(node) for node in index.node_json(index.embedded_rows())]
