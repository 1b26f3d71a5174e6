"""OpenSearch k-NN: index body, bulk actions and k-NN query (pure functions, checked offline
against the documented formats), and `OpenSearchOps`, which sends them with opensearch-py (mixed
into the Dagster resource `resources.opensearch_store.OpenSearchStore`; no Dagster here).

Formats: k-NN vector field with an HNSW method definition
(https://docs.opensearch.org/latest/mappings/supported-field-types/knn-vector/, "Method
definitions"), the `knn` query (https://docs.opensearch.org/latest/query-dsl/specialized/k-nn/),
and the bulk API's `_op_type`/`_index`/`_id` actions of `opensearchpy.helpers.bulk`.
The `nmslib` engine is deprecated (OpenSearch 2.19+): `faiss` or `lucene` only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np

Engine = Literal["faiss", "lucene"]
SpaceType = Literal["l2", "cosinesimil", "innerproduct"]


def index_body(
    dimensions: int,
    engine: Engine = "faiss",
    space_type: SpaceType = "l2",
    m: int = 16,
    ef_construction: int = 256,
    shards: int = 1,
    replicas: int = 0,
) -> dict[str, Any]:
    """Body of `PUT /<index>`: k-NN enabled, refresh off for the bulk load (restored after by
    `OpenSearchStore.finish_load`), an `embedding` knn_vector with an HNSW method, and the chunk's
    text and ids. Defaults follow the AWS ingestion post: HNSW m 16, ef_construction 256, L2.

    Raises:
        ValueError: for a non-positive dimension or HNSW parameter.
    """
    if min(dimensions, m, ef_construction) <= 0:
        raise ValueError(f"dimensions ({dimensions}), m ({m}) and ef_construction ({ef_construction}) must be > 0")
    return {
        "settings": {
            "index": {
                "knn": True,
                "number_of_shards": shards,
                "number_of_replicas": replicas,
                "refresh_interval": "-1",
            }
        },
        "mappings": {
            "properties": {
                "embedding": {
                    "type": "knn_vector",
                    "dimension": dimensions,
                    "method": {
                        "name": "hnsw",
                        "space_type": space_type,
                        "engine": engine,
                        "parameters": {"m": m, "ef_construction": ef_construction},
                    },
                },
                "chunk_id": {"type": "keyword"},
                "record_id": {"type": "keyword"},
                "url": {"type": "keyword"},
                "text": {"type": "text"},
            }
        },
    }


def bulk_actions(
    index: str, ids: Sequence[str], texts: Sequence[str], vectors: np.ndarray, extra: Sequence[dict] | None = None
) -> Iterator[dict[str, Any]]:
    """Index actions for `opensearchpy.helpers.bulk`, one per chunk, `_id` = chunk id, so a
    re-run overwrites instead of duplicating."""
    for position, (chunk_id, text, vector) in enumerate(zip(ids, texts, vectors, strict=True)):
        yield {
            "_op_type": "index",
            "_index": index,
            "_id": chunk_id,
            "_source": {
                "chunk_id": chunk_id,
                "text": text,
                "embedding": [float(x) for x in vector],
                **(extra[position] if extra else {}),
            },
        }


def knn_query(vector: np.ndarray, k: int, ef_search: int | None = None) -> dict[str, Any]:
    """Body of `POST /<index>/_search` for the `k` nearest chunks (ids and scores only).
    `ef_search` goes in `method_parameters` (OpenSearch 2.16+, faiss and lucene)."""
    clause: dict[str, Any] = {"vector": [float(x) for x in vector], "k": k}
    if ef_search is not None:
        clause["method_parameters"] = {"ef_search": ef_search}
    return {"size": k, "_source": ["chunk_id"], "query": {"knn": {"embedding": clause}}}


class OpenSearchOps:
    """Loading and searching an OpenSearch cluster with the k-NN plugin at `url`
    (`verify_certs`: check its TLS certificate); set by the class that mixes it in."""

    url: str
    verify_certs: bool

    def client(self):
        """An opensearch-py client."""
        from opensearchpy import OpenSearch

        return OpenSearch(hosts=[self.url], verify_certs=self.verify_certs, timeout=60)

    def load(self, index: str, body: dict, actions: Iterator[dict]) -> int:
        """Creates `index` with `body` if missing, then bulk-loads `actions`; returns rows loaded.

        Raises:
            opensearchpy.helpers.BulkIndexError: listing the failed items, if any fails.
        """
        from opensearchpy import helpers

        client = self.client()
        if not client.indices.exists(index=index):
            client.indices.create(index=index, body=body)
        loaded, _ = helpers.bulk(client, actions, chunk_size=500, request_timeout=120)
        return loaded

    def finish_load(self, index: str, force_merge: bool = False) -> None:
        """Restores the refresh interval (1 s), refreshes, and optionally force-merges to one
        segment (faster search, slow to run)."""
        client = self.client()
        client.indices.put_settings(index=index, body={"index": {"refresh_interval": "1s"}})
        client.indices.refresh(index=index)
        if force_merge:
            client.indices.forcemerge(index=index, params={"max_num_segments": 1})

    def search(self, index: str, vector: np.ndarray, k: int, ef_search: int | None = None) -> list[str]:
        """Chunk ids of the `k` nearest chunks, nearest first."""
        hits = self.client().search(index=index, body=knn_query(vector, k, ef_search))["hits"]["hits"]
        return [hit["_id"] for hit in hits]
