"""Vector stores as Dagster resources: configuration only (the DSN from an `EnvVar`); the
stores themselves are `dream_assets.lib.stores.vector_stores` (no Dagster), opened from `settings()` in any
process.

- `LanceVectorStore` (the embedded default): LanceDB tables inside each index, stored with it
  in the object store.
- `PgVectorStore`: PostgreSQL with pgvector; its bulk operations (`PgVectorOps`) run in the
  asset's own process.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from dream_assets.lib.stores.pgvector import PgVectorOps
from dream_assets.plugins.vector_stores import VectorStoreSettings


class VectorStore(dg.ConfigurableResource):
    """Where the RAG chain's embedding indexes keep their vectors: a registered kind
    (`dream_assets.plugins.registry.VECTOR_STORES`) and its connection string, if any."""

    kind: str = Field(default="lancedb", description="A registered vector store: lancedb, pgvector or a plug-in's.")
    dsn: str | None = Field(default=None, description="Connection string of the store, if it has one (an EnvVar).")

    def settings(self) -> VectorStoreSettings:
        """Plain settings for workers."""
        return VectorStoreSettings(kind=self.kind, dsn=self.dsn)


class LanceVectorStore(VectorStore):
    """LanceDB tables inside each index version, stored with it in the object store (the
    embedded default): exact search on small indexes, an ANN index on large ones."""


class PgVectorStore(PgVectorOps, VectorStore):
    """A PostgreSQL database with the pgvector extension (`CREATE EXTENSION vector` is run on
    first use, which needs the right to create it)."""

    kind: str = Field(default="pgvector", description="The registered vector store: pgvector.")
    dsn: str = Field(  # pyright: ignore[reportIncompatibleVariableOverride] - required here, optional in the role
        description="libpq connection string, e.g. postgresql://user@host:5432/db (from an EnvVar)."
    )
