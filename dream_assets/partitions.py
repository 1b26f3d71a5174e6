"""Every PartitionsDefinition of DREAM: the documents (dynamic, added by discovery) and, as
functions of a search space, its configurations and embedding indexes with the mapping between
them (`sweep_partitions`)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import dagster as dg

from dream_assets.search_space import SearchSpace

# Dagster calls `backfill_policy` beta; DREAM relies on it on purpose (a run over many
# configurations is one Ray Tune sweep), so the notice, raised by Dagster's decorator code as
# each partitioned asset is defined, says nothing to a user: ignored, that message from that module.
warnings.filterwarnings("ignore", r"Parameter `backfill_policy`", dg.BetaWarning, r"dagster\._core\.decorator_utils")

DOCUMENTS = "documents"
document_partitions = dg.DynamicPartitionsDefinition(name=DOCUMENTS)
"""One partition per source document, keyed by the slug of its file name; added by discovery."""


@dataclass(frozen=True)
class SweepPartitions:
    """The partitions a search space defines.

    Attributes:
        rag_configs: one partition per RAG configuration (`RagConfig.key`), in file order.
        embedding_indexes: one partition per (retrieval method, embedding model)
            (`RagConfig.index_key`): the indexes configurations share.
        index_to_configs: each embedding index to the configurations that read it.
    """

    rag_configs: dg.StaticPartitionsDefinition
    embedding_indexes: dg.StaticPartitionsDefinition
    index_to_configs: dg.StaticPartitionMapping


def sweep_partitions(space: SearchSpace) -> SweepPartitions:
    """The partitions of `space` (`SweepPartitions`)."""
    configs = space.configs()
    indexes = sorted(space.index_settings)
    return SweepPartitions(
        rag_configs=dg.StaticPartitionsDefinition([config.key for config in configs]),
        embedding_indexes=dg.StaticPartitionsDefinition(indexes),
        index_to_configs=dg.StaticPartitionMapping(
            {index: [config.key for config in configs if config.index_key == index] for index in indexes}
        ),
    )
