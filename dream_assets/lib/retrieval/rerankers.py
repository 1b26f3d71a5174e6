"""Rerankers: what reorders a configuration's retrieved nodes, one registered class each
(`dream_assets.plugins.registry.RERANKERS`; plug-ins subclass `RerankerKind`).

- `none`: the retriever's order;
- `finetuned`: DREAM's cross-encoder fine-tuned on the golden set's training documents
  (`dream_assets.lib.retrieval.reranker_training`), through LlamaIndex's `SentenceTransformerRerank`.

A reranking configuration fetches `fetch_factor` x top-k candidates and keeps the top-k.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from dream_assets import layout
from dream_assets.plugins.rerankers import RerankerKind

if TYPE_CHECKING:
    from llama_index.core.postprocessor.types import BaseNodePostprocessor


class NoReranker(RerankerKind):
    """The retriever's order, kept."""

    reranks = False

    def postprocessor(self, model_dir, top_n):  # noqa: D102
        return None


class FinetunedReranker(RerankerKind):
    """The fine-tuned cross-encoder of `reranker_job` (its scores replace the retriever's)."""

    def source(self, store) -> str:  # noqa: D102
        if not store.exists(layout.RERANKER_POINTER):
            raise FileNotFoundError("no fine-tuned reranker in the object store: materialise reranker_job first")
        return store.read_json(layout.RERANKER_POINTER)["prefix"]

    def postprocessor(self, model_dir, top_n):  # noqa: D102
        if model_dir is None:
            raise FileNotFoundError("the fine-tuned reranker's files were not downloaded")
        return cross_encoder(model_dir, top_n)


def cross_encoder(model: str, top_n: int) -> BaseNodePostprocessor:
    """LlamaIndex's `SentenceTransformerRerank` on the cross-encoder `model` (a directory or id),
    on the CPU."""
    from llama_index.core.postprocessor import SentenceTransformerRerank

    return SentenceTransformerRerank(model=model, top_n=top_n, device="cpu")


def open_reranker(
    name: str, store, scratch_dir: str, source: str | None = None
) -> Callable[[int], BaseNodePostprocessor] | None:
    """The reranker called `name` ready to use: a function of top-n giving its postprocessor,
    or None for no reranking. Its model files (`source`, else the kind's own) are downloaded
    once per node into `scratch_dir`.

    Raises:
        dream_assets.plugins.registry.UnknownComponentError: if `name` is not a reranker.
        FileNotFoundError: if its model is not in the object store.
    """
    from dream_assets.lib.node_local import download_once
    from dream_assets.plugins.rerankers import RERANKERS

    kind = RERANKERS.get(name)()
    source = kind.source(store) if source is None else source
    model_dir = str(download_once(store, source, scratch_dir, "config.json")) if source else None
    if not kind.reranks:
        return None
    return functools.partial(kind.postprocessor, model_dir)
