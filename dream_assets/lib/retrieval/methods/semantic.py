"""Semantic chunking: a chunk ends where the embedding distance between neighbouring sentence
groups jumps (LlamaIndex `SemanticSplitterNodeParser`, after Greg Kamradt's "5 levels of text
splitting", 2024)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dream_assets.plugins.methods import RetrievalMethodBase


class SemanticMethod(RetrievalMethodBase):
    """Chunks split by embedding distance: each sentence is embedded with `buffer_size`
    sentences either side (by the index's own embedding model), and a chunk ends between two
    sentences whose cosine distance is above the `breakpoint_percentile_threshold`-th
    percentile of the document's distances. Chunk sizes follow the text, not a token budget."""

    method: Literal["semantic"] = "semantic"  # pyright: ignore[reportIncompatibleVariableOverride] - the name narrowed
    splits_by_embedding = True
    breakpoint_percentile_threshold: int = Field(
        default=95, ge=1, le=99, description="Percentile of sentence distances above which a chunk ends."
    )
    buffer_size: int = Field(default=1, ge=0, description="Sentences either side embedded with each sentence.")

    @property
    def slug(self) -> str:
        """Readable id, e.g. `semantic95b1`."""
        return f"semantic{self.breakpoint_percentile_threshold}b{self.buffer_size}"

    def node_parser(self, embed_model=None):  # noqa: D102
        from llama_index.core.node_parser import SemanticSplitterNodeParser

        if embed_model is None:
            raise ValueError("the semantic method needs the index's embedding model to split")
        return SemanticSplitterNodeParser.from_defaults(
            embed_model=embed_model,
            breakpoint_percentile_threshold=self.breakpoint_percentile_threshold,
            buffer_size=self.buffer_size,
        )
