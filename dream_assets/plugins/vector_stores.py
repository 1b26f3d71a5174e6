"""The contract of a vector store (`VectorStoreBackend`): where an embedding index keeps its
vectors, opened from plain settings in any process. Registered in
`dream_assets.plugins.registry.VECTOR_STORES` (entry-point group `dream.vector_stores`); the
built-ins (LanceDB, pgvector) are in `dream_assets.lib.stores.vector_stores`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, Field

from dream_assets.plugins.registry import Registry, registered, subclass_of

if TYPE_CHECKING:
    from llama_index.core.vector_stores.types import BasePydanticVectorStore


class VectorStoreBackend(ABC):
    """One kind of vector store, opened on its settings."""

    def __init__(self, settings: VectorStoreSettings) -> None:
        self.settings = settings

    @abstractmethod
    def llama_store(self, table: str, dimensions: int) -> BasePydanticVectorStore | None:
        """The LlamaIndex vector store an index of `dimensions`-d vectors is built into and
        read from, named `table` (`table_name`), or None for the index's own LanceDB tables
        (`dream_assets.lib.stores.lance_index`)."""


BUILTIN_VECTOR_STORES = {
    "lancedb": "dream_assets.lib.stores.vector_stores:LanceBackend",
    "pgvector": "dream_assets.lib.stores.pgvector:PgVectorBackend",
}
VECTOR_STORES = Registry("vector store", "dream.vector_stores", BUILTIN_VECTOR_STORES, subclass_of(VectorStoreBackend))


# the name of a registered vector store (an unknown one is a validation error naming the known)
StoreKind = Annotated[str, registered(VECTOR_STORES)]


class VectorStoreSettings(BaseModel):
    """What a worker needs to open the vector store: `kind` (a registered vector store) and,
    for pgvector, the libpq `dsn` (left out of repr: it may hold a password)."""

    kind: StoreKind = "lancedb"
    dsn: str | None = Field(default=None, repr=False)

    def backend(self) -> VectorStoreBackend:
        """The registered backend of `kind`, opened on these settings."""
        return VECTOR_STORES.get(self.kind)(self)
