"""An index version as LanceDB tables on disk: the embedded default vector store.

`write_index` puts an index's shards (`dream_assets.lib.retrieval.shards`) together in one
LanceDB database directory (Apache-2.0; embedded, Arrow-based Lance files, no server):

- `nodes`: every node (`row`: its offset in this table, `node_id`, `document_id`, `embedded`,
  `node`: LlamaIndex's docstore JSON), in shard order;
- `vectors`: one row per embedded node (`node_id`, `row`: its offset in `nodes`, `vector`:
  float32 of the model's dimensions), about 1.0 x the bytes of raw float32;
- and, at `ANN_MIN_VECTORS` vectors or more, an approximate (IVF-HNSW with scalar quantisation)
  index on `vectors`, its recall@10 against exact search measured at build time on sampled
  stored vectors and recorded in the manifest.

`LanceIndex` opens it read-only: nodes are read by offset when a search returns them (nothing
parses the whole index); below the ANN threshold the vectors are read once into a float32
matrix for exact search (`dream_assets.lib.retrieval.vector_search`), above it LanceDB searches
its index on disk.
"""

from __future__ import annotations

import json
import warnings
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from lancedb.query import LanceVectorQueryBuilder

# lancedb warns in every child forked after it ran; subprocess's fork-exec children run no Python,
# and the workers DREAM forks (document parsing) never open LanceDB.
warnings.filterwarnings("ignore", message="lancedb fork support is experimental", category=RuntimeWarning)

NODES, VECTORS = "nodes", "vectors"
# From this many vectors an index gets an ANN index (exact search below). Measured on 2 CPUs,
# 384-d MiniLM vectors, p50 per query (benchmarks/bench_scale.py, and 300 of its questions on
# 101,437 ONNX-int8 vectors of the same texts): exact search 0.30 ms at 10,202 vectors and 7.9 ms
# at 100,818 (recall 1); IVF-HNSW-SQ with sqrt(n) partitions 3.6 ms at recall@10 0.914 (20
# probes), 5.9 ms at 0.944 (40), 8.1 ms at 0.953 (40, refine 5), 7.8 ms at 0.967 (80). At 100,000
# vectors exact search is as fast as the ANN index at recall >= 0.95, so the switch sits above
# that; exact search grows linearly (about 12 ms and 230 MB of float32 at 150,000), the ANN index
# much more slowly.
ANN_MIN_VECTORS = 150_000
ANN_NPROBES, ANN_REFINE_FACTOR = 40, 5  # recall@10 0.953 at 100k (above); LanceDB's default: 20, none
RECALL_QUERIES = 200  # stored vectors searched to measure the ANN index's recall@10
ANN_INDEX = {
    "index_type": "IVF_HNSW_SQ",
    "distance_type": "cosine",
    "nprobes": ANN_NPROBES,
    "refine_factor": ANN_REFINE_FACTOR,
}


def _fixed_size(vectors: pa.ChunkedArray) -> tuple[pa.FixedSizeListArray, int]:
    """`list<float32>` rows as a fixed-size list array (LanceDB's vector column), and the size."""
    combined = vectors.combine_chunks()
    dimensions = len(combined[0]) if len(combined) else 0
    flat = pc.call_function("list_flatten", [combined]).cast(pa.float32())
    if len(flat) != dimensions * len(combined):
        raise ValueError(f"vectors of different lengths in one index (expected {dimensions} each)")
    return pa.FixedSizeListArray.from_arrays(flat, dimensions), dimensions


def write_index(directory: str | Path, shards: list[pa.Table], with_vectors: bool = True) -> dict:
    """Writes the index of `shards` as LanceDB tables in `directory` (created).

    Args:
        directory: the LanceDB database directory.
        shards: the documents' shard tables (`SHARD_SCHEMA`), in index order.
        with_vectors: False where the vectors live in an external store (pgvector): only
            `nodes` is written.

    Returns:
        What the manifest records: `nodes`, `vectors` (embedded nodes), `dimensions`, and `ann`
        (None for exact search, else the index type, its parameters and `recall_at_10`).

    Raises:
        ValueError: if there are no shards, or vectors of different lengths.
    """
    import lancedb

    if not shards:
        raise ValueError("an index needs at least one document's shard")
    table = pa.concat_tables(shards)
    db = lancedb.connect(str(directory))
    nodes = table.select(["node_id", "document_id", "embedded", "node"])
    nodes = nodes.add_column(0, "row", pa.array(np.arange(table.num_rows, dtype=np.int64)))
    # "create" where the table is new: "overwrite" of a missing table logs a warning on stderr
    db.create_table(NODES, data=nodes, mode=_mode(directory, NODES))
    embedded = pc.call_function("indices_nonzero", [table.column("embedded")]).cast(pa.int64())
    record: dict = {"nodes": table.num_rows, "vectors": len(embedded), "dimensions": 0, "ann": None}
    if not with_vectors or not len(embedded):
        return record
    vectors, dimensions = _fixed_size(table.column("vector").take(embedded))
    data = pa.table({"node_id": table.column("node_id").take(embedded), "row": embedded, "vector": vectors})
    vector_table = db.create_table(VECTORS, data=data, mode=_mode(directory, VECTORS))
    record["dimensions"] = dimensions
    if len(embedded) >= ANN_MIN_VECTORS:
        record["ann"] = _build_ann(vector_table, data)
    return record


def _mode(directory: str | Path, table: str) -> str:
    """LanceDB's write mode for `table`: replace it where it exists, else create it."""
    return "overwrite" if (Path(directory) / f"{table}.lance").exists() else "create"


def _build_ann(table, data: pa.Table) -> dict:
    """Builds the ANN index on `table` and measures its recall@10 against exact search on
    `RECALL_QUERIES` stored vectors drawn with a fixed seed."""
    from lancedb.index import IvfHnswSq

    rows = data.num_rows
    partitions = max(1, int(np.sqrt(rows)))  # LanceDB's guidance: about sqrt(rows) IVF partitions
    table.create_index("vector", config=IvfHnswSq(distance_type="cosine", num_partitions=partitions))
    rng = np.random.default_rng(0)
    sample = rng.choice(rows, size=min(RECALL_QUERIES, rows), replace=False)
    matrix = _matrix(data.column("vector"))
    exact_search = ExactVectorSearch(data.column("row").to_numpy(), matrix)  # normalised once
    recalls = []
    for query in matrix[sample]:
        exact = {row for row, _ in exact_search.top_k(query, 10)}
        found = _ann_search(table, query, 10)
        recalls.append(len(exact & set(found.column("row").to_pylist())) / len(exact))
    return {**ANN_INDEX, "num_partitions": partitions, "recall_at_10": round(float(np.mean(recalls)), 4)}


def _ann_search(table, query: np.ndarray, k: int) -> pa.Table:
    """`k` nearest rows of `table` to `query` (`row`, `_distance`: cosine distance) through its
    ANN index, `ANN_NPROBES` partitions probed and `ANN_REFINE_FACTOR` x k candidates re-ranked on
    the full vectors."""
    builder = cast("LanceVectorQueryBuilder", table.search(query))
    builder = builder.distance_type("cosine").nprobes(ANN_NPROBES).refine_factor(ANN_REFINE_FACTOR)
    return builder.limit(k).select(["row", "_distance"]).to_arrow()


def _matrix(vectors: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A fixed-size-list vector column as a float32 array of shape (rows, dimensions)."""
    array = vectors.combine_chunks() if isinstance(vectors, pa.ChunkedArray) else vectors
    return array.flatten().to_numpy(zero_copy_only=False).reshape(len(array), -1).astype(np.float32, copy=False)


class ExactVectorSearch:
    """Exact cosine-similarity search as one matrix product per query: what trials search below
    `ANN_MIN_VECTORS`, and what the ANN index's recall is measured against. LlamaIndex's
    `SimpleVectorStore.query` computes the same similarity (`get_top_k_embeddings`) but loops over
    the nodes in Python for each query: about 19 ms a query over 2,000 384-d chunks.

    Args:
        keys: what each row stands for (node offsets), returned with the scores.
        matrix: float32 vectors, shape (len(keys), dimensions).
    """

    def __init__(self, keys: np.ndarray, matrix: np.ndarray) -> None:
        self.keys = keys
        self.matrix = matrix / np.clip(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12, None)

    def top_k(self, query: list[float] | np.ndarray, k: int) -> list[tuple[int, float]]:
        """The `k` most similar keys with their cosine similarity, best first (ties in row order)."""
        vector = np.asarray(query, dtype=np.float32)
        similarities = self.matrix @ (vector / max(float(np.linalg.norm(vector)), 1e-12))
        k = min(k, len(self.keys))
        best = np.argpartition(-similarities, k - 1)[:k]
        best = best[np.lexsort((best, -similarities[best]))]
        return [(int(self.keys[i]), float(similarities[i])) for i in best]


class LanceIndex:
    """An index version written by `write_index`, opened read-only.

    Args:
        directory: its LanceDB database directory.
        manifest: what `write_index` returned (`ann` says how to search).

    Raises:
        FileNotFoundError: if the directory holds no `nodes` table.
    """

    def __init__(self, directory: str | Path, manifest: dict) -> None:
        import lancedb

        self.db = lancedb.connect(str(directory))
        if not (Path(directory) / f"{NODES}.lance").is_dir():
            raise FileNotFoundError(f"index {directory} has no {NODES} table: the stored index is incomplete")
        self.manifest = manifest
        self.nodes = self.db.open_table(NODES)
        self.vectors = self.db.open_table(VECTORS) if (Path(directory) / f"{VECTORS}.lance").is_dir() else None

    @cached_property
    def rows_by_id(self) -> dict[str, int]:
        """Node id -> offset in `nodes` (one column read once, for lookups by id)."""
        data = self._column("row", "node_id")
        return dict(zip(data.column("node_id").to_pylist(), data.column("row").to_pylist(), strict=True))

    def _column(self, *names: str) -> pa.Table:
        """Columns of every node (a scan of those columns only)."""
        return self.nodes.search().select(list(names)).limit(None).to_arrow()

    def node_json(self, rows: list[int]) -> list[dict]:
        """The docstore JSON of the nodes at `rows` (offsets in `nodes`), in that order."""
        if not rows:
            return []
        taken = self.nodes.take_offsets(sorted(set(rows))).select(["row", "node"]).to_arrow()
        by_row = dict(zip(taken.column("row").to_pylist(), taken.column("node").to_pylist(), strict=True))
        return [json.loads(by_row[row]) for row in rows]

    def embedded_rows(self) -> list[int]:
        """Offsets of the embedded nodes (what lexical retrievers index)."""
        data = self._column("row", "embedded")
        return data.filter(data.column("embedded")).column("row").to_pylist()

    def vector_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """(node offsets, float32 matrix of their vectors): the whole vector table in memory, for
        exact search below the ANN threshold.

        Raises:
            ValueError: if the vectors are not in this index (an external store holds them).
        """
        if self.vectors is None:
            raise ValueError("this index keeps its vectors in an external store")
        data = self.vectors.search().select(["row", "vector"]).limit(None).to_arrow()
        return data.column("row").to_numpy(), _matrix(data.column("vector"))

    def search(self, queries: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
        """The `k` nearest stored vectors of each query by cosine similarity, with LanceDB's
        index (approximate) where the index has one: per query, (node offset, similarity), best
        first."""
        if self.vectors is None:
            raise ValueError("this index keeps its vectors in an external store")
        results = []
        for query in np.asarray(queries, dtype=np.float32):
            found = _ann_search(self.vectors, query, k)
            rows, distances = found.column("row").to_pylist(), found.column("_distance").to_pylist()
            results.append([(int(row), 1.0 - float(distance)) for row, distance in zip(rows, distances, strict=True)])
        return results
