"""Embedding indexes: one per (parser, retrieval method, embedding model), shared by every
configuration that differs only in LLM or top-k, put together from per-document shards
identified by content hash, so an unchanged document is never embedded twice."""

import time

import dagster as dg
import pandas as pd
from pydantic import Field

from dream_assets import layout
from dream_assets.corpus import corpus_of
from dream_assets.defs.documents.assets import parsed_documents
from dream_assets.defs.metadata import table_metadata
from dream_assets.defs.pods import pod_resources
from dream_assets.defs.readers import read_parsed_documents
from dream_assets.defs.workers import WorkerSettings
from dream_assets.lib.retrieval.indexes import corpus_version, ensure_index
from dream_assets.lib.retrieval.pool import pool_name, start_pool
from dream_assets.partitions import SweepPartitions
from dream_assets.search_space import SearchSpace
from resources.embeddings import EmbeddingProvider
from resources.llm import LlmProvider
from resources.object_store import ObjectStore
from resources.ray_cluster import RayCluster
from resources.vector_stores import VectorStore


def indexing_assets(partitions: SweepPartitions) -> list[dg.AssetsDefinition]:
    """`embedding_index` and `retrieval_pool`, one partition per index of the search space."""
    embedding_index = dg.asset(
        name="embedding_index",
        partitions_def=partitions.embedding_indexes,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[dg.AssetDep(parsed_documents, partition_mapping=dg.AllPartitionMapping())],
        group_name="indexing",
        kinds={"llamaindex", "pytorch"},
        # Dagster marks the index and everything downstream stale when this changes: bump it when
        # node parsing or what an index holds changes (its data is content-addressed already).
        code_version="2",  # 2: shards and LanceDB tables
        # On Kubernetes (k8s_job_executor) this step embeds in its own pod: size it for the models.
        op_tags=pod_resources("4", "12Gi"),
    )(_embedding_index)
    retrieval_pool = dg.asset(
        name="retrieval_pool",
        partitions_def=partitions.embedding_indexes,
        deps=[embedding_index],
        group_name="indexing",
        kinds={"ray"},
    )(_retrieval_pool)
    return [embedding_index, retrieval_pool]


def _embedding_index(
    context: dg.AssetExecutionContext,
    object_store: ObjectStore,
    embeddings: EmbeddingProvider,
    vector_store: VectorStore,
    ray_cluster: RayCluster,
    search_space: dg.ResourceParam[SearchSpace],
) -> dg.MaterializeResult:
    """Embedding index of the parsed corpus, put together from per-document shards
    (`embedding_shards/<shard version>.parquet`: one document's nodes and vectors) into
    `embedding_index/<index_key>/<version>/`: LanceDB tables by default; with pgvector, the
    vectors in the table `data_<index_key>_<version>` and the nodes in the object store.

    A shard's version hashes the document (id, SHA-256), its parser and version, the node parser
    and its parameters, the embedding model and backend: only documents whose shard is not stored
    are split and embedded (on the Ray cluster when there are enough texts). The index version
    hashes its shards' versions and the vector store kind; a stored version is reused
    (`manifest.json` is written last, so its presence means the index is complete). Metadata per
    partition: nodes, documents, shards built, nodes embedded, ANN recall@10 (large indexes),
    seconds, reuse.
    """
    store_settings = vector_store.settings()
    store = object_store.client()
    corpus = corpus_of(context)
    by_parser: dict[str, list] = {}
    rows = []
    for index_key in context.partition_keys:
        settings = search_space.index_settings[index_key]
        parser = settings[2]
        if parser not in by_parser:
            by_parser[parser] = list(read_parsed_documents(context.instance, store, corpus, parser).values())
        if not by_parser[parser]:
            raise ValueError(f"no document parsed by {parser}: materialise parsed_documents first")
        row = _store_index(
            store, by_parser[parser], index_key, settings, corpus, embeddings, store_settings, ray_cluster
        )
        context.log.info(
            "index %s %s: %s, %d of %d documents split and %d nodes embedded in %.1f s",
            index_key,
            row["version"],
            row["status"],
            row["shards_built"],
            row["documents"],
            row["embedded"],
            row["seconds"],
        )
        prefix, where = row.pop("prefix"), row.pop("vector_store")
        observed = {name: value for name, value in row.items() if name not in ("index", "status")}
        reused = row["status"] == "reused"
        metadata = {**observed, "reused": reused, "uri": store.uri(prefix), "vector_store": where}
        context.log_event(dg.AssetObservation(asset_key=context.asset_key, partition=index_key, metadata=metadata))
        rows.append({**row, "seconds": round(row["seconds"], 1)})
    embedded_total = sum(row["embedded"] for row in rows)
    return dg.MaterializeResult(
        metadata={
            "corpus": corpus or "(every document partition)",
            "corpus_version": {parser: corpus_version(documents) for parser, documents in by_parser.items()},
            "documents": {parser: len(documents) for parser, documents in by_parser.items()},
            "embedded_nodes": embedded_total,
            "indexes": table_metadata(pd.DataFrame(rows)),
        }
    )


def _store_index(
    store, documents, index_key: str, settings, corpus: str, embeddings, store_settings, ray_cluster
) -> dict:
    """Builds and uploads index `index_key` (`settings`: its retrieval method, embedding model and
    parser) of `documents` (that parser's) from their shards unless its version is stored
    (`ensure_index`: only documents without a stored shard are split and embedded), then points
    the corpus at it. Returns its row: index, version, status (built, reused), nodes, documents,
    shards_built, embedded, ann_recall_at_10, seconds, prefix, vector_store."""
    method, embedding_model, _ = settings
    start = time.perf_counter()
    pointer = ensure_index(
        store,
        documents,
        index_key,
        method,
        embeddings.settings_for(embedding_model),
        store_settings,
        ray_connect=ray_cluster.connect,
        show_progress=True,
    )
    version, prefix, table = pointer["version"], pointer["prefix"], pointer["table"]
    # the corpus version lets a reader tell an index of this corpus from a stale one
    record = {"version": version, "prefix": prefix, "table": table, "corpus_version": corpus_version(documents)}
    store.write_json(layout.index_pointer(index_key, corpus), record)
    ann = pointer["ann"]
    return {
        "index": index_key,
        "version": version,
        "status": "built" if pointer["built"] else "reused",
        "nodes": pointer["nodes"],
        "documents": pointer["shards"],
        "shards_built": pointer["shards_built"],
        "embedded": pointer["embedded"],
        "ann_recall_at_10": ann["recall_at_10"] if ann else None,
        "seconds": time.perf_counter() - start,
        "prefix": prefix,
        "vector_store": f"pgvector table data_{table}"
        if table
        else f"{store_settings.kind} (exact)"
        if not ann
        else f"{store_settings.kind} ({ann['index_type']})",
    }


class RetrievalPoolConfig(dg.Config):
    """The Ray actors that serve one index to many workers."""

    actors: int = Field(default=2, description="Index replicas (Ray actors).")
    num_cpus: float = Field(default=0.0, description="CPUs reserved per actor (0 shares the node with trials).")
    detached: bool = Field(
        default=True,
        description="Keep the actors after this run, found by name by later runs on the same Ray cluster (on the"
        " embedded local Ray they end with the process).",
    )


def _retrieval_pool(
    context: dg.AssetExecutionContext,
    config: RetrievalPoolConfig,
    object_store: ObjectStore,
    embeddings: EmbeddingProvider,
    llms: LlmProvider,
    vector_store: VectorStore,
    ray_cluster: RayCluster,
    search_space: dg.ResourceParam[SearchSpace],
) -> dg.MaterializeResult:
    """A pool of Ray retrieval actors serving the current version of this index
    (`retrieval-<index key>-<version>`): each actor loads the index once; sweeps and training
    loops on the cluster find it by name (`dream_assets.lib.retrieval.pool.connect_pool`), so
    concurrent trials share one loaded index. Metadata: each actor's health (process, node,
    index load time, calls served). A pool of an older version is left to its owner."""
    index_key = context.partition_key
    workers = WorkerSettings(
        object_store, embeddings, llms, vector_store, ray_cluster, search_space, corpus_of(context)
    )
    pointer = workers.index_pointer(index_key)
    spec = workers.index(index_key, pointer)
    ray_cluster.connect()
    name = pool_name(index_key, pointer["version"])
    pool = start_pool(name, spec, config.actors, detached=config.detached, num_cpus=config.num_cpus)
    health = pool.health()
    context.log.info("retrieval pool %s: %d actors, %s", name, len(pool.actors), health)
    return dg.MaterializeResult(
        metadata={
            "pool": name,
            "actors": len(pool.actors),
            "healthy": sum("error" not in actor for actor in health),
            "health": table_metadata(pd.DataFrame(health)),
        },
        data_version=dg.DataVersion(pointer["version"]),
    )
