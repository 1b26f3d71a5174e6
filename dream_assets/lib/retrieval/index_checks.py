"""What an embedding index holds, read back from where it is stored, and what is wrong with it:
the check behind the `embedding_index` asset's `embedding_index_vectors` asset check.

An index version is stored as LlamaIndex's persisted storage under its object-store prefix
(`manifest.json` written last, with the nodes stored and embedded at build time); its vectors are
in the persisted `default__vector_store.json` (the in-memory store) or in the pgvector table
`data_<table>` (LlamaIndex's `PGVectorStore`: columns `node_id`, `embedding`).
"""

from __future__ import annotations

import json

import pandas as pd


def stored_vector_dimensions(store, prefix: str, table: str | None, dsn: str | None = None) -> pd.Series:
    """The length of every stored vector of one index version, by node id (0 for a node whose
    vector is null); a node stored twice appears twice.

    Args:
        store: the object-store client.
        prefix: the index version's prefix (`embedding_index/<index key>/<version>`).
        table: its pgvector table (without `data_`), None for the in-memory store.
        dsn: libpq connection string of the pgvector database (with `table`).

    Raises:
        ValueError: if `table` is set without `dsn`.
        FileNotFoundError: if the in-memory store's vectors are missing from `prefix`.
    """
    if table is None:
        vectors = store.read_json(f"{prefix}/default__vector_store.json")["embedding_dict"]
        return pd.Series({node_id: len(vector or []) for node_id, vector in vectors.items()}, dtype="int64")
    if not dsn:
        raise ValueError(f"index table {table!r} is in pgvector but no dsn is set")
    import psycopg
    from psycopg import sql

    query = sql.SQL("SELECT node_id, coalesce(vector_dims(embedding), 0) FROM {}").format(
        sql.Identifier(f"data_{table}")
    )
    with psycopg.connect(dsn) as connection:
        rows = connection.execute(query).fetchall()
    return pd.Series([dims for _, dims in rows], index=[node_id for node_id, _ in rows], dtype="int64")


def referenced_nodes(store, prefix: str) -> set[str]:
    """Ids of the nodes the persisted vector index refers to (its `index_store.json`'s
    `nodes_dict`); empty for an index whose vector store holds the text (pgvector), where
    LlamaIndex keeps no such list."""
    data = store.read_json(f"{prefix}/index_store.json")["index_store/data"]
    return {node for entry in data.values() for node in json.loads(entry["__data__"]).get("nodes_dict", {})}


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
