"""Vector stores without Dagster: where embedding indexes keep their vectors.

Each kind is a `VectorStoreBackend` registered in `dream_assets.plugins.registry.VECTOR_STORES`
(`dream.vector_stores` entry points for plug-ins), opened from plain `VectorStoreSettings` in
any process (a Ray worker imports no Dagster):

- `lancedb` (`LanceBackend`, the embedded default): the index's own LanceDB tables, stored with
  it in the object store (`dream_assets.lib.stores.lance_index`): exact search below
  `ANN_MIN_VECTORS` vectors, an ANN index from there.
- `pgvector` (`PgVectorBackend`): PostgreSQL with pgvector (`dream_assets.lib.stores.pgvector`).

The Dagster resources (`resources.vector_stores`) only hold configuration and give settings.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from dream_assets.plugins.vector_stores import VectorStoreBackend, VectorStoreSettings

if TYPE_CHECKING:
    from llama_index.core.vector_stores.types import BasePydanticVectorStore


class LanceBackend(VectorStoreBackend):
    """LanceDB tables inside the index (`dream_assets.lib.stores.lance_index`): no server; the
    vectors travel with the index in the object store."""

    def llama_store(self, table, dimensions):  # noqa: D102
        return None


def table_name(index_key: str, version: str) -> str:
    """The pgvector table name (without LlamaIndex's `data_` prefix) of one index version:
    lower case letters, digits and `_`, at most 48 characters so derived index names fit
    PostgreSQL's 63."""
    return re.sub(r"[^a-z0-9_]", "_", f"{index_key}_{version}".lower())[-48:].lstrip("_")


def llama_vector_store(settings: VectorStoreSettings, table: str, dimensions: int) -> BasePydanticVectorStore | None:
    """The LlamaIndex store of `settings`' kind for `table` (`VectorStoreBackend.llama_store`).

    Raises:
        ValueError: if the kind is pgvector and no DSN is set.
    """
    return settings.backend().llama_store(table, dimensions)
