"""The contract of a reranker (`RerankerKind`): what reorders a configuration's retrieved nodes.
Registered in `dream_assets.plugins.registry.RERANKERS` (entry-point group `dream.rerankers`);
the built-ins (none, the fine-tuned cross-encoder) are in `dream_assets.lib.retrieval.rerankers`.
A reranking configuration fetches `fetch_factor` x top-k candidates and keeps the top-k."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from dream_assets.plugins.registry import Registry, subclass_of

if TYPE_CHECKING:
    from llama_index.core.postprocessor.types import BaseNodePostprocessor


class RerankerKind(ABC):
    """One way of reranking retrieved nodes (`reranks`: False only for `none`)."""

    fetch_factor: int = 3
    reranks: bool = True

    def source(self, store) -> str:
        """Object-store prefix of the reranker's model files ('' for none), downloaded to each
        node's scratch directory before use and recorded with a deployed configuration.

        Raises:
            FileNotFoundError: if the model it needs is not in the object store.
        """
        return ""

    @abstractmethod
    def postprocessor(self, model_dir: str | None, top_n: int) -> BaseNodePostprocessor | None:
        """The LlamaIndex postprocessor keeping `top_n` nodes (`model_dir`: the downloaded
        `source`, or None), or None for no reranking."""


BUILTIN_RERANKERS = {
    "none": "dream_assets.lib.retrieval.rerankers:NoReranker",
    "finetuned": "dream_assets.lib.retrieval.rerankers:FinetunedReranker",
}
RERANKERS = Registry("reranker", "dream.rerankers", BUILTIN_RERANKERS, subclass_of(RerankerKind))
