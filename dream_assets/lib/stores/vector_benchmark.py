"""Query benchmark of vector stores: latency percentiles, QPS at 1 and N concurrent clients, and
recall@k against exact search (NumPy brute force), on real questions."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from dream_assets.lib.stores.pgvector import PgVectorOps


def questions_from_squad(path: str | Path, limit: int) -> list[str]:
    """The first `limit` questions of a SQuAD v2.0 JSON file, in file order (deterministic)."""
    squad = json.loads(Path(path).read_text(encoding="utf-8"))
    questions = [qa["question"] for article in squad["data"] for p in article["paragraphs"] for qa in p["qas"]]
    return questions[:limit]


def exact_top_k(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Row indices of the `k` most similar vectors to each query by inner product (cosine for
    L2-normalised vectors), most similar first: shape (queries, k)."""
    scores = queries @ vectors.T
    top = np.argpartition(-scores, kth=min(k, scores.shape[1] - 1), axis=1)[:, :k]
    order = np.take_along_axis(scores, top, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(top, order, axis=1)


def recall_at_k(found: list[list[str]], exact: list[list[str]]) -> float:
    """Mean over queries of |found ∩ exact| / |exact| (ANN-benchmarks' recall@k)."""
    return float(np.mean([len(set(f) & set(e)) / len(e) for f, e in zip(found, exact, strict=True)]))


def _latency_ms(seconds: list[float]) -> dict[str, float]:
    p50, p95, p99 = np.percentile(np.asarray(seconds) * 1000, [50, 95, 99])
    return {"p50_ms": p50, "p95_ms": p95, "p99_ms": p99}


def _qps(search, queries: np.ndarray, clients: int) -> float:
    """Queries per second with `clients` concurrent clients, each with its own connection and an
    equal share of the queries."""
    shares = [share for share in np.array_split(queries, clients) if len(share)]
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(search, shares))
    return len(queries) / (time.perf_counter() - start)


def benchmark_pgvector(
    store: PgVectorOps,
    tables: dict[str, str],
    ids: list[str],
    vectors: np.ndarray,
    queries: np.ndarray,
    k: int,
    clients: int,
    settings: list[tuple[str, dict[str, int]]],
) -> pd.DataFrame:
    """Measures each (index method, search setting) on pgvector.

    Args:
        store: the database.
        tables: table per index method (`hnsw`, `ivfflat`), each holding the same rows.
        ids: row ids, aligned with `vectors`.
        vectors: every stored embedding, L2-normalised, shape (rows, dimensions).
        queries: L2-normalised query embeddings, shape (queries, dimensions).
        k: neighbours per query.
        clients: concurrent clients of the second QPS figure.
        settings: (method, {"ef_search": n} or {"probes": n}) pairs.

    Returns:
        One row per setting: store, method, setting, recall@k, p50/p95/p99 latency (ms, one
        client), QPS with 1 and `clients` clients.
    """
    exact = [[ids[i] for i in row] for row in exact_top_k(vectors, queries, k)]
    rows = []
    for method, options in settings:
        table = tables[method]

        def search(share: np.ndarray, table=table, options=options):
            return store.query_many(table, share, k, "cosine", **options)

        found, seconds = search(queries)
        rows.append(
            {
                "store": "pgvector",
                "method": method,
                "setting": ", ".join(f"{name}={value}" for name, value in options.items()),
                f"recall@{k}": recall_at_k([[i for i, _ in result] for result in found], exact),
                **_latency_ms(seconds),
                "qps_1_client": _qps(search, queries, 1),
                f"qps_{clients}_clients": _qps(search, queries, clients),
            }
        )
    return pd.DataFrame(rows)
