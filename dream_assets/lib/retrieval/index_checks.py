"""What an embedding index holds, read back from where it is stored, and what is wrong with it:
the check behind the `embedding_index` asset's `embedding_index_vectors` asset check.

An index version is stored under its object-store prefix (`dream_assets.lib.retrieval.indexes`:
`manifest.json` written last, with the nodes stored and embedded at build time, and the LanceDB
tables under `lancedb/`); its vectors are in the LanceDB table `vectors` (the default) or in the
pgvector table `data_<table>` (LlamaIndex's `PGVectorStore`: columns `node_id`, `embedding`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from dream_assets.lib.retrieval.indexes import LANCE_DIR
from dream_assets.lib.stores.lance_index import LanceIndex


@contextmanager
def _opened(store, prefix: str) -> Iterator[LanceIndex]:
    """The index's LanceDB tables, read in place from a local object store, else from a copy."""
    if store.is_local:
        yield LanceIndex(store.path(f"{prefix}/{LANCE_DIR}"), {})
        return
    with tempfile.TemporaryDirectory() as directory:
        store.download_dir(f"{prefix}/{LANCE_DIR}", directory)
        yield LanceIndex(Path(directory), {})


def stored_vector_dimensions(store, prefix: str, table: str | None, dsn: str | None = None) -> pd.Series:
    """The length of every stored vector of one index version, by node id (0 for a node whose
    vector is null); a node stored twice appears twice.

    Args:
        store: the object-store client.
        prefix: the index version's prefix (`embedding_index/<index key>/<version>`).
        table: its pgvector table (without `data_`), None for its own LanceDB tables.
        dsn: libpq connection string of the pgvector database (with `table`).

    Raises:
        ValueError: if `table` is set without `dsn`.
        FileNotFoundError: if the index's tables are missing from `prefix`.
    """
    if table is None:
        with _opened(store, prefix) as index:
            if index.vectors is None:
                raise FileNotFoundError(f"no vectors table under {store.uri(prefix)}")
            data = index.vectors.search().select(["node_id", "vector"]).limit(None).to_arrow()
        lengths = [len(vector or []) for vector in data.column("vector").to_pylist()]
        return pd.Series(lengths, index=data.column("node_id").to_pylist(), dtype="int64")
    if not dsn:
        raise ValueError(f"index table {table!r} is in pgvector but no dsn is set")
    import psycopg
    from psycopg import sql

    from dream_assets.lib.stores.pgvector import CONNECT_TIMEOUT_S

    query = sql.SQL("SELECT node_id, coalesce(vector_dims(embedding), 0) FROM {}").format(
        sql.Identifier(f"data_{table}")
    )
    with psycopg.connect(dsn, connect_timeout=CONNECT_TIMEOUT_S) as connection:
        rows = connection.execute(query).fetchall()
    return pd.Series([dims for _, dims in rows], index=[node_id for node_id, _ in rows], dtype="int64")


def referenced_nodes(store, prefix: str) -> set[str]:
    """Ids of the nodes the index says it embeds (its `nodes` table's `embedded` rows)."""
    with _opened(store, prefix) as index:
        data = index.nodes.search().select(["node_id", "embedded"]).limit(None).to_arrow()
    return {
        node
        for node, embedded in zip(data.column("node_id").to_pylist(), data.column("embedded").to_pylist(), strict=True)
        if embedded
    }


def index_problems(
    manifest: dict, dimensions: pd.Series, expected_dimension: int, referenced: set[str] | None = None
) -> list[str]:
    """What is wrong with one stored index version ([] when nothing is).

    Args:
        manifest: its `manifest.json` (`embedded`: the nodes the build embedded).
        dimensions: `stored_vector_dimensions`.
        expected_dimension: the length of its embedding model's vectors.
        referenced: `referenced_nodes` (ignored when empty).

    Returns:
        One sentence per problem: vectors fewer or more than the nodes embedded, a node stored
        twice, null vectors, vectors of another length, nodes the index refers to without a
        vector.
    """
    problems = []
    if len(dimensions) != manifest["embedded"]:
        problems.append(f"{len(dimensions)} vectors stored for {manifest['embedded']} nodes embedded")
    if dimensions.index.duplicated().any():
        problems.append(f"{int(dimensions.index.duplicated().sum())} node(s) stored twice")
    if (dimensions == 0).any():
        problems.append(f"{int((dimensions == 0).sum())} node(s) without a vector")
    wrong = dimensions[(dimensions != 0) & (dimensions != expected_dimension)]
    if len(wrong):
        problems.append(
            f"{len(wrong)} vector(s) of length {sorted(set(wrong))} instead of the model's {expected_dimension}"
        )
    if referenced:
        unembedded = referenced - set(dimensions.index)
        if unembedded:
            problems.append(f"{len(unembedded)} node(s) of the index without a stored vector")
    return problems
