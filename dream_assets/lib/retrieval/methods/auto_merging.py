"""Hierarchical auto-merging: leaves indexed, parents merged in at query time."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from dream_assets.plugins.methods import RetrievalMethodBase


class AutoMergingMethod(RetrievalMethodBase):
    """Hierarchical chunks, leaves indexed, parents merged in when most of their children are
    retrieved (LlamaIndex `HierarchicalNodeParser` + `AutoMergingRetriever`); sizes in tokens,
    largest first."""

    method: Literal["auto_merging"] = "auto_merging"  # pyright: ignore[reportIncompatibleVariableOverride] - the name narrowed
    chunk_sizes: tuple[Annotated[int, Field(gt=16)], ...] = Field(
        default=(1024, 256, 64), min_length=2, description="Tokens per level, largest first."
    )

    @model_validator(mode="after")
    def _largest_first(self) -> AutoMergingMethod:
        if list(self.chunk_sizes) != sorted(set(self.chunk_sizes), reverse=True):
            raise ValueError(f"chunk_sizes {list(self.chunk_sizes)} must be distinct and largest first")
        return self

    @property
    def slug(self) -> str:
        """Readable id, e.g. `automerge1024-256-64`."""
        return "automerge" + "-".join(str(size) for size in self.chunk_sizes)

    def node_parser(self, embed_model=None):  # noqa: D102
        from llama_index.core.node_parser import HierarchicalNodeParser

        return HierarchicalNodeParser.from_defaults(chunk_sizes=list(self.chunk_sizes))

    def finish_nodes(self, nodes):
        """Every level is stored; only the leaves are embedded."""
        from llama_index.core.node_parser import get_leaf_nodes

        return get_leaf_nodes(nodes)

    def wrap_retriever(self, retriever, storage_context):  # noqa: D102
        from llama_index.core.retrievers import AutoMergingRetriever

        # any base retriever (vector, BM25, hybrid) works: AutoMergingRetriever only calls retrieve
        return AutoMergingRetriever(retriever, storage_context, verbose=False)  # pyright: ignore[reportArgumentType]
