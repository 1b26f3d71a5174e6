"""Which golden reference contexts a retrieved context covers: the ground truth that retrieval
metrics are scored against."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dream_assets.lib.retrieval.retriever import RetrievedContext


def covered_context_ids(retrieved: RetrievedContext, contexts: pd.DataFrame) -> list[str]:
    """Reference contexts that a retrieved context covers, most-overlapping first (see
    `ContextCatalogue.covered`; build a catalogue once to map many retrieved contexts).

    Args:
        retrieved: one retrieved context.
        contexts: the golden set's context catalogue (`context_id`, `document_id`, `start`, `end`).
    """
    return ContextCatalogue(contexts).covered(retrieved)


class ContextCatalogue:
    """The golden set's reference contexts, by document, as arrays for fast span matching.

    Args:
        contexts: the context catalogue (`context_id`, `document_id`, `start`, `end`).
    """

    def __init__(self, contexts: pd.DataFrame) -> None:
        self._by_document = {
            document: (group["context_id"].to_numpy(), group["start"].to_numpy(), group["end"].to_numpy())
            for document, group in contexts.groupby("document_id", sort=False)
        }

    def covered(self, retrieved: RetrievedContext) -> list[str]:
        """Reference contexts that a retrieved context covers, most-overlapping first.

        A retrieved span covers a reference span when their overlap is at least half of the
        shorter of the two: a chunk holding most of a paragraph counts, and so does a sentence
        window lying inside one; a chunk that clips a paragraph's edge does not.
        """
        if retrieved.document_id not in self._by_document:
            return []
        ids, starts, ends = self._by_document[retrieved.document_id]
        overlap = np.clip(np.minimum(ends, retrieved.end) - np.maximum(starts, retrieved.start), 0, None)
        shorter = np.minimum(ends - starts, retrieved.end - retrieved.start)
        covering = np.flatnonzero((overlap > 0) & (overlap * 2 >= shorter))
        order = covering[np.argsort(-overlap[covering], kind="stable")]
        return ids[order].tolist()
