"""Every PartitionsDefinition of DREAM, and the mapping between configurations and indexes."""

from __future__ import annotations

import warnings

import dagster as dg

from dream_assets.rag_config import load_search_space

# Dagster calls `backfill_policy` beta; DREAM relies on it on purpose (a run over many
# configurations is one Ray Tune sweep), so the notice, raised by Dagster's decorator code as
# each partitioned asset is defined, says nothing to a user: ignored, that message from that module.
warnings.filterwarnings("ignore", r"Parameter `backfill_policy`", dg.BetaWarning, r"dagster\._core\.decorator_utils")

document_partitions = dg.DynamicPartitionsDefinition(name="documents")
"""One partition per source PDF, keyed by the slug of its file name; added by discovery."""

_SEARCH_SPACE = load_search_space()
SEARCH_SPACE_CONFIGS = _SEARCH_SPACE.configs()
SEARCH_SPACE_METRICS = list(_SEARCH_SPACE.metrics)
"""Metrics the search space names by import path, scored in every trial beside the known ones."""

rag_config_partitions = dg.StaticPartitionsDefinition([config.key for config in SEARCH_SPACE_CONFIGS])
"""One partition per RAG configuration of `config/search_space.yaml`."""

embedding_index_partitions = dg.StaticPartitionsDefinition(
    sorted({config.index_key for config in SEARCH_SPACE_CONFIGS})
)
"""One partition per (retrieval method, embedding model): the index configurations share."""

index_to_configs = dg.StaticPartitionMapping(
    {
        index_key: [config.key for config in SEARCH_SPACE_CONFIGS if config.index_key == index_key]
        for index_key in embedding_index_partitions.get_partition_keys()
    }
)
"""Maps each embedding index to the configurations that read it."""

CONFIGS_BY_KEY = {config.key: config for config in SEARCH_SPACE_CONFIGS}
