"""How a configuration's Ray workers are set up: the one builder of the plain settings (an index's
`IndexSpec`, an LLM's `LlmSettings`, the node-local cache directories) that the sweep, the range
search, the winner, the reranker and the retrieval pool hand to their workers, from the
resources of the run and its search space."""

from __future__ import annotations

from dataclasses import dataclass

from dream_assets.defs.readers import current_index_pointer
from dream_assets.lib.models.embeddings import EmbeddingSettings
from dream_assets.lib.retrieval.index_spec import IndexSpec
from dream_assets.plugins.llm_providers import LlmSettings
from dream_assets.search_space import SearchSpace
from resources.embeddings import EmbeddingProvider
from resources.llm import LlmProvider
from resources.object_store import ObjectStore
from resources.ray_cluster import RayCluster
from resources.vector_stores import VectorStore


@dataclass(frozen=True)
class WorkerSettings:
    """The resources and search space a run's workers are configured from, and the corpus it is
    about (`dream_assets.corpus`; '' for every document partition)."""

    object_store: ObjectStore
    embeddings: EmbeddingProvider
    llms: LlmProvider
    vector_store: VectorStore
    ray_cluster: RayCluster
    search_space: SearchSpace
    corpus: str = ""

    @property
    def scratch_dir(self) -> str:
        """Each node's scratch directory (indexes and reranker weights are downloaded there)."""
        return self.ray_cluster.scratch_dir

    @property
    def llm_cache_dir(self) -> str:
        """Each node's LLM answer cache (`dream_assets.lib.node_local`)."""
        return f"{self.ray_cluster.scratch_dir}/llm_cache"

    def index_pointer(self, index_key: str) -> dict:
        """The pointer (`version`, `prefix`, `table`) to the current version of index
        `index_key` on the corpus.

        Raises:
            ValueError: if `index_key` is not an index of the search space.
            FileNotFoundError: if that index was never built.
        """
        known = self.search_space.index_settings
        if index_key not in known:
            raise ValueError(f"index_key {index_key!r} is not an index of the search space: {sorted(known)}")
        return current_index_pointer(self.object_store.client(), index_key, self.corpus)

    def index(self, index_key: str, pointer: dict | None = None) -> IndexSpec:
        """How a worker opens the version of index `index_key` that `pointer` names (by default
        the current one, `index_pointer`).

        Raises:
            ValueError, FileNotFoundError: as `index_pointer`.
        """
        pointer = pointer or self.index_pointer(index_key)
        method, embedding_model, _ = self.search_space.index_settings[index_key]
        return IndexSpec(
            method=method,
            embedding=self.embedding(embedding_model),
            object_store=self.object_store.settings(),
            index_prefix=pointer["prefix"],
            vector_store=self.vector_store.settings(),
            vector_table=pointer.get("table"),
            scratch_dir=self.scratch_dir,
        )

    def embedding(self, name: str) -> EmbeddingSettings:
        """The settings of embedding model `name` (a bundled one is assembled the first time)."""
        return self.embeddings.settings_for(name)

    def llm(self, name: str) -> LlmSettings:
        """The settings of LLM `name` (its LLM-table entry applied)."""
        return self.llms.settings_for(name)
