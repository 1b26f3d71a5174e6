"""The OSCAR chunks' stores: pgvector (HNSW and IVFFlat tables) and OpenSearch, loaded from the
embeddings of `assets.py`, and a query benchmark of them on the SQuAD questions. Rows are keyed
by chunk id (pgvector upserts in one transaction, OpenSearch documents by id), so re-runs never
duplicate them.
"""

import time
from collections.abc import Sequence
from typing import Literal

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from dream_assets import layout
from dream_assets.defs.ingestion.assets import OSCAR_SHARDS, SHARDS, oscar_embeddings, per_shard_table
from dream_assets.defs.metadata import ROW_COUNT, table_asset_metadata, table_metadata
from dream_assets.hashing import slugify
from resources.embeddings import EmbeddingProvider
from resources.object_store import ObjectStore
from resources.opensearch_store import OpenSearchStore
from resources.vector_stores import PgVectorStore


def _shard_model(store, shards: Sequence[str]) -> str:
    models = {store.read_json(layout.oscar_embeddings_manifest(shard))["model"] for shard in shards}
    if len(models) != 1:
        raise ValueError(f"shards {shards} were embedded with different models {sorted(models)}: re-embed them")
    return models.pop()


def oscar_tables(model: str) -> dict[str, str]:
    """The pgvector tables of the OSCAR chunks embedded with `model`, one per index method (the
    planner would pick one index if both were on one table, so each is measured on its own), and
    the OpenSearch index (`opensearch`)."""
    base = f"oscar_chunks_{slugify(model).replace('-', '_')}"
    return {"hnsw": f"{base}_hnsw", "ivfflat": f"{base}_ivfflat", "opensearch": base.replace("_", "-")}


# Share of a table's rows from which a load drops the indexes and rebuilds them after.
BULK_LOAD_SHARE = 0.1


class PgvectorIndexConfig(dg.Config):
    """The pgvector indexes built after loading (pgvector's defaults)."""

    metric: Literal["cosine", "l2"] = Field(default="cosine", description="cosine or l2.")
    hnsw_m: int = Field(default=16, description="HNSW: links per node (pgvector's default 16).")
    hnsw_ef_construction: int = Field(default=64, description="HNSW: candidate list size while building (default 64).")
    ivfflat_lists: int = Field(
        default=0, description="IVFFlat lists (0: rows / 1,000, pgvector's advice up to 1M rows)."
    )


@dg.asset(**SHARDS, deps=[oscar_embeddings], group_name="ingestion", kinds={"postgres"})
def pgvector_index(
    context: dg.AssetExecutionContext, config: PgvectorIndexConfig, object_store: ObjectStore, pgvector: PgVectorStore
):
    """The chunks and embeddings in PostgreSQL + pgvector (tables `oscar_chunks_<model>_hnsw` and
    `_ivfflat`, the same rows): each shard bulk-loaded with binary COPY and upserted by chunk id in
    one transaction, then each table's index built after loading, as pgvector advises. A bulk
    load (incoming rows at least `BULK_LOAD_SHARE` of the table's) drops both indexes first and
    rebuilds them: measured, COPY into a table with its HNSW index ran at 823 rows/s instead of
    about 90,000. A small increment keeps HNSW (kept up to date by the inserts); IVFFlat is
    always rebuilt, since its lists come from the data.
    """
    from dream_assets.lib.bulk.ingestion import read_embeddings

    store = object_store.client()
    tables = oscar_tables(_shard_model(store, context.partition_keys))
    shards = {shard: read_embeddings(store, layout.oscar_embeddings_prefix(shard)) for shard in context.partition_keys}
    incoming = sum(len(chunks) for chunks, _ in shards.values())
    bulk = incoming >= BULK_LOAD_SHARE * pgvector.rows_if_exists(tables["hnsw"])
    if bulk:
        pgvector.drop_index(tables["hnsw"], "hnsw", config.metric)
        pgvector.drop_index(tables["ivfflat"], "ivfflat", config.metric)
    context.log.info("%d rows to load: %s", incoming, "bulk load, indexes rebuilt after" if bulk else "increment")
    rows, loaded_total, load_seconds = [], 0, 0.0
    for shard, (chunks, vectors) in shards.items():
        ids, texts = chunks["chunk_id"].tolist(), chunks["text"].tolist()
        start = time.perf_counter()
        loaded = pgvector.upsert(tables["hnsw"], ids, texts, vectors)
        seconds = time.perf_counter() - start
        pgvector.upsert(tables["ivfflat"], ids, texts, vectors)
        loaded_total, load_seconds = loaded_total + loaded, load_seconds + seconds
        rows.append((shard, loaded, round(seconds, 2), round(loaded / max(seconds, 1e-9))))
        context.log.info("shard %s: %d rows loaded in %.2f s", shard, loaded, seconds)
    start = time.perf_counter()
    hnsw = pgvector.build_index(
        tables["hnsw"], "hnsw", config.metric, m=config.hnsw_m, ef_construction=config.hnsw_ef_construction
    )
    hnsw_seconds = time.perf_counter() - start
    start = time.perf_counter()
    lists = config.ivfflat_lists or None
    ivfflat = pgvector.build_index(tables["ivfflat"], "ivfflat", config.metric, lists=lists, rebuild=True)
    ivfflat_seconds = time.perf_counter() - start
    total = pgvector.count(tables["hnsw"])
    return dg.MaterializeResult(
        metadata={
            "tables": [tables["hnsw"], tables["ivfflat"]],
            "rows_in_table": total,
            ROW_COUNT: total,
            "rows_loaded": loaded_total,
            "bulk_load": bulk,
            "copy_rows_per_s": loaded_total / max(load_seconds, 1e-9),
            "indexes": [hnsw, ivfflat],
            "hnsw_build_seconds": hnsw_seconds,
            "ivfflat_build_seconds": ivfflat_seconds,
            "shards": per_shard_table(rows, ("shard", "rows", "seconds", "rows_per_s")),
        }
    )


class BenchmarkConfig(dg.Config):
    """What the store query benchmark measures."""

    squad_path: str = Field(default="", description="SQuAD JSON the questions come from ('': the demo's).")
    questions: int = Field(default=200, description="SQuAD questions queried.")
    k: int = Field(default=10, description="Nearest neighbours per query.")
    clients: int = Field(default=4, description="Concurrent clients for the QPS figure.")
    ef_search: list[int] = Field(default=[10, 40, 100], description="HNSW ef_search settings measured.")
    probes: list[int] = Field(default=[1, 5, 20], description="IVFFlat probes settings measured.")


@dg.asset(deps=["pgvector_index"], group_name="ingestion", kinds={"postgres", "pandas"})
def vector_query_benchmark(
    context: dg.AssetExecutionContext,
    config: BenchmarkConfig,
    object_store: ObjectStore,
    embeddings: EmbeddingProvider,
    pgvector: PgVectorStore,
):
    """Query benchmark of the stores on real questions: SQuAD questions embedded with the
    chunks' model, k-nearest queries against pgvector HNSW (per `ef_search`) and IVFFlat (per
    `probes`): p50/p95/p99 latency, QPS with 1 and `clients` concurrent clients, recall@k against
    exact search (NumPy brute force over every stored embedding). Written to
    `oscar/benchmark/results.parquet` and `.md`; the table is in the metadata, with the ingest
    throughput of each stage from their latest materialisations."""
    from dream_assets.defs.golden.assets import DEMO_SQUAD
    from dream_assets.lib.bulk.ingestion import read_embeddings
    from dream_assets.lib.models.embeddings import make_embedding
    from dream_assets.lib.stores.vector_benchmark import benchmark_pgvector, questions_from_squad

    store = object_store.client()
    shards = sorted(context.instance.get_dynamic_partitions(OSCAR_SHARDS))
    model = _shard_model(store, shards)
    chunks, vectors = read_embeddings(store, "oscar/embeddings")
    questions = questions_from_squad(config.squad_path or str(DEMO_SQUAD), config.questions)
    embed_model = make_embedding(embeddings.settings_for(model))
    queries = np.asarray(embed_model.get_text_embedding_batch(questions), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    settings = [("hnsw", {"ef_search": value}) for value in config.ef_search]
    settings += [("ivfflat", {"probes": value}) for value in config.probes]
    table = benchmark_pgvector(
        pgvector, oscar_tables(model), chunks["chunk_id"].tolist(), vectors, queries, config.k, config.clients, settings
    )
    throughput = _stage_throughput(context.instance)
    store.write_parquet("oscar/benchmark/results.parquet", table)
    markdown = table.to_markdown(index=False, floatfmt=".3f")
    store.write_bytes("oscar/benchmark/results.md", markdown.encode())
    context.log.info("benchmark on %d chunks, %d questions:\n%s", len(chunks), len(questions), markdown)
    return dg.MaterializeResult(
        metadata={
            "chunks": len(chunks),
            "questions": len(questions),
            "model": model,
            "results": table_metadata(table),
            "ingest_throughput": table_metadata(pd.DataFrame(throughput)),
            **table_asset_metadata(table),
        }
    )


def _stage_throughput(instance: dg.DagsterInstance) -> list[dict]:
    figures = []
    for asset, name in (
        ("oscar_parquet", "records_per_s"),
        ("oscar_chunks", "chunks_per_s"),
        ("oscar_embeddings", "embeddings_per_s"),
        ("pgvector_index", "copy_rows_per_s"),
    ):
        event = instance.get_latest_materialization_event(dg.AssetKey(asset))
        if event is not None and event.asset_materialization is not None:
            value = event.asset_materialization.metadata.get(name)
            number = value.value if value is not None and isinstance(value.value, int | float) else None
            figures.append(
                {"stage": asset, "figure": name, "value": round(float(number), 1) if number is not None else None}
            )
    return figures


class OpenSearchIndexConfig(dg.Config):
    """k-NN index settings (the AWS post's: HNSW, faiss, L2, m 16, ef_construction 256)."""

    engine: Literal["faiss", "lucene"] = Field(default="faiss", description="k-NN engine.")
    space_type: Literal["l2", "cosinesimil", "innerproduct"] = Field(default="l2", description="Distance.")
    m: int = Field(default=16, description="HNSW: links per node.")
    ef_construction: int = Field(default=256, description="HNSW: candidate list size while building.")
    force_merge: bool = Field(default=False, description="Merge to one segment after loading.")


@dg.asset(**SHARDS, deps=[oscar_embeddings], group_name="ingestion", kinds={"opensearch"})
def opensearch_index(
    context: dg.AssetExecutionContext,
    config: OpenSearchIndexConfig,
    object_store: ObjectStore,
    opensearch: OpenSearchStore,
):
    """The chunks and embeddings in an OpenSearch k-NN index (`oscar-chunks-<model>`), bulk-loaded
    with refresh off, documents keyed by chunk id (a re-run overwrites), refresh restored after.
    Part of the definitions only when `OPENSEARCH_URL` is set."""
    from dream_assets.lib.bulk.ingestion import read_embeddings
    from dream_assets.lib.stores.opensearch import bulk_actions, index_body

    store = object_store.client()
    index = oscar_tables(_shard_model(store, context.partition_keys))["opensearch"]
    rows = []
    for shard in context.partition_keys:
        chunks, vectors = read_embeddings(store, layout.oscar_embeddings_prefix(shard))
        body = index_body(vectors.shape[1], config.engine, config.space_type, config.m, config.ef_construction)
        extra = chunks[["record_id", "url"]].to_dict("records")
        start = time.perf_counter()
        loaded = opensearch.load(
            index, body, bulk_actions(index, chunks["chunk_id"].tolist(), chunks["text"].tolist(), vectors, extra)
        )
        rows.append((shard, loaded, round(time.perf_counter() - start, 2)))
    opensearch.finish_load(index, config.force_merge)
    return dg.MaterializeResult(
        metadata={"index": index, "shards": per_shard_table(rows, ("shard", "documents", "seconds"))}
    )
