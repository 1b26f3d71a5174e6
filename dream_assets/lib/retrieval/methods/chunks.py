"""Fixed-size chunks with overlap (LlamaIndex `SentenceSplitter`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from dream_assets.plugins.methods import RetrievalMethodBase


class ChunksMethod(RetrievalMethodBase):
    """Fixed-size chunks with overlap (LlamaIndex `SentenceSplitter`), sizes in tokens."""

    method: Literal["chunks"] = "chunks"  # pyright: ignore[reportIncompatibleVariableOverride] - the name narrowed
    chunk_size: int = Field(default=512, gt=16, description="Tokens per chunk.")
    chunk_overlap: int = Field(default=64, ge=0, description="Tokens shared by neighbouring chunks, below chunk_size.")

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunksMethod:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(f"chunk_overlap {self.chunk_overlap} must be below chunk_size {self.chunk_size}")
        return self

    @property
    def slug(self) -> str:
        """Readable id, e.g. `chunks512o64`."""
        return f"chunks{self.chunk_size}o{self.chunk_overlap}"

    def node_parser(self, embed_model=None):  # noqa: D102
        from llama_index.core.node_parser import SentenceSplitter

        return SentenceSplitter(chunk_size=self.chunk_size, chunk_overlap=self.chunk_overlap)

    @classmethod
    def suggest(cls, trial, space) -> None:
        """Draws `chunk_size`, then `chunk_overlap` up to half of it."""
        size = space.draw(trial, "chunk_size", space.dimension("chunk_size"))
        space.draw(trial, "chunk_overlap", space.dimension("chunk_overlap"), high=size // 2)
