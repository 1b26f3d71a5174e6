"""At-scale ingestion: OSCAR JSONL shards → records Parquet → chunks → Ray Data embeddings →
pgvector (and OpenSearch), then a query benchmark on the SQuAD questions.

Every stage is partitioned by input shard (dynamic partitions `oscar_shards`), so a new shard
ingests on its own and a failed shard re-runs alone. Each stage replaces its shard's output
(Ray Data `SaveMode.OVERWRITE`; pgvector upserts keyed by chunk id in one transaction; OpenSearch
documents keyed by chunk id), so re-runs never duplicate rows.
"""

import time

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from dream_assets import layout
from dream_assets.defs.metadata import ROW_COUNT, table_asset_metadata, table_metadata
from dream_assets.lib.hashing import sha256_bytes, slugify
from resources.embeddings import EmbeddingProvider
from resources.object_store import ObjectStore
from resources.opensearch_store import OpenSearchStore
from resources.pdf_source import OscarSource
from resources.ray_cluster import RayCluster
from resources.vector_stores import PgVectorStore

oscar_shard_partitions = dg.DynamicPartitionsDefinition(name="oscar_shards")
"""One partition per OSCAR shard file, keyed by the slug of its name (`en-meta-1`)."""

_SHARDS = {"partitions_def": oscar_shard_partitions, "backfill_policy": dg.BackfillPolicy.single_run()}


def _per_shard_table(rows: list[tuple], header: tuple[str, ...]) -> dg.TableMetadataValue:
    return table_metadata(pd.DataFrame(rows, columns=list(header)))


@dg.asset(**_SHARDS, group_name="ingestion", kinds={"s3"})
def oscar_jsonl(context: dg.AssetExecutionContext, oscar_source: OscarSource, object_store: ObjectStore):
    """The OSCAR 23.01 JSONL shards (`.jsonl` or `.jsonl.zst`), copied from the OSCAR source into
    the object store (`oscar/jsonl/<shard>/<file name>`). Metadata: bytes and SHA-256 per shard."""
    store = object_store.client()
    listing = oscar_source.list_shards()
    rows, missing = [], []
    for shard in context.partition_keys:
        if shard not in listing:
            missing.append(shard)
            context.log.warning("shard %s is no longer under %s", shard, oscar_source.uri)
            continue
        info = listing[shard]
        data = oscar_source.read(info)
        name = info.key.rsplit("/", 1)[-1]
        store.delete(layout.oscar_jsonl_prefix(shard))
        store.write_bytes(f"{layout.oscar_jsonl_prefix(shard)}/{name}", data)
        rows.append((shard, name, len(data), sha256_bytes(data)))
    return dg.MaterializeResult(
        metadata={
            "shards": len(rows),
            "missing_from_source": missing,
            "preview": _per_shard_table(rows, ("shard", "file", "bytes", "sha256")),
        }
    )


class OscarFilterConfig(dg.Config):
    """Which OSCAR records are kept."""

    languages: list[str] = Field(["en"], description="Language identification labels kept (empty keeps all).")
    excluded_quality_warnings: list[str] = Field(
        ["noisy", "short_sentences"],
        description="OSCAR 23.01 annotations that filter a record out (tiny, short_sentences, header, footer, noisy).",
    )


@dg.asset(**_SHARDS, deps=[oscar_jsonl], group_name="ingestion", kinds={"ray", "parquet"})
def oscar_parquet(
    context: dg.AssetExecutionContext, config: OscarFilterConfig, object_store: ObjectStore, ray_cluster: RayCluster
):
    """Kept records of each shard as Parquet (`oscar/records/<shard>/`): record id, URL, date,
    language and its probability, quality warnings, categories, harmful perplexity, text. Read,
    parsed and filtered with Ray Data. Every line not kept is in `oscar/rejects/<shard>.parquet`
    with its reason (malformed JSON, missing field, empty, language, quality warning), counted in
    the metadata with examples."""
    from dream_assets.lib.ingestion import overall_rows_per_s, parse_shard

    store = object_store.client()
    ray_cluster.connect()
    languages = frozenset(config.languages) or None
    rows, results, reasons, examples, failed = [], [], {}, [], {}
    for shard in context.partition_keys:
        sources = store.list(layout.oscar_jsonl_prefix(shard))
        if len(sources) != 1:
            failed[shard] = f"expected one file under {layout.oscar_jsonl_prefix(shard)}, found {len(sources)}"
            continue
        try:
            result, rejects = parse_shard(
                store,
                sources[0].key,
                layout.oscar_records_prefix(shard),
                languages,
                frozenset(config.excluded_quality_warnings),
            )
        except Exception as error:  # noqa: BLE001 - a broken shard is recorded; the others go on
            failed[shard] = f"{type(error).__name__}: {str(error)[:300]}"
            context.log.error("shard %s failed: %s", shard, failed[shard])
            continue
        store.write_parquet(layout.oscar_rejects_key(shard), rejects)
        kinds = rejects["reason"].str.split(":").str[0].value_counts().to_dict()
        for kind, count in kinds.items():
            reasons[kind] = reasons.get(kind, 0) + int(count)
        examples += [f"{shard}: {r.reason} | {r.excerpt[:80]}" for r in rejects.head(2).itertuples()]
        results.append(result)
        rows.append((shard, result.rows_in, result.rows_out, len(rejects), round(result.seconds, 1)))
        context.log.info("shard %s: %d lines, %d records kept, %d rejected", shard, *rows[-1][1:4])
    metadata = {
        "lines": sum(r[1] for r in rows),
        "records": sum(r[2] for r in rows),
        "rejected": sum(r[3] for r in rows),
        "rejected_by_reason": reasons,
        "rejected_examples": examples[:10],
        "records_per_s": overall_rows_per_s(results),
        "shards": _per_shard_table(rows, ("shard", "lines", "records", "rejected", "seconds")),
        "failed_shards": failed,
    }
    if failed:  # the good shards are written; re-run the failed ones alone once fixed
        raise dg.Failure(f"{len(failed)} shard(s) could not be read: {sorted(failed)}", metadata=metadata)
    return dg.MaterializeResult(metadata=metadata)


class ChunkingConfig(dg.Config):
    """Character chunks (the AWS post's setting: 1,000 characters, 100 overlap)."""

    chunk_size: int = Field(1000, description="Characters per chunk.")
    chunk_overlap: int = Field(100, description="Characters shared by consecutive chunks.")


@dg.asset(**_SHARDS, deps=[oscar_parquet], group_name="ingestion", kinds={"ray", "parquet"})
def oscar_chunks(
    context: dg.AssetExecutionContext, config: ChunkingConfig, object_store: ObjectStore, ray_cluster: RayCluster
):
    """Character chunks of each shard's records (`oscar/chunks/<shard>/`), with stable ids
    `<record id>:<offset>`, split by LangChain's `RecursiveCharacterTextSplitter` on Ray Data."""
    from dream_assets.lib.ingestion import chunk_shard, overall_rows_per_s

    if not 0 <= config.chunk_overlap < config.chunk_size:
        raise ValueError(f"chunk_overlap ({config.chunk_overlap}) must be in [0, chunk_size={config.chunk_size})")
    store = object_store.client()
    ray_cluster.connect()
    rows, results = [], []
    for shard in context.partition_keys:
        result = chunk_shard(
            store,
            layout.oscar_records_prefix(shard),
            layout.oscar_chunks_prefix(shard),
            config.chunk_size,
            config.chunk_overlap,
        )
        results.append(result)
        rows.append((shard, result.rows_in, result.rows_out, round(result.seconds, 1)))
        context.log.info("shard %s: %d records → %d chunks in %.1f s", shard, *rows[-1][1:3], result.seconds)
    return dg.MaterializeResult(
        metadata={
            "chunks": sum(r[2] for r in rows),
            "chunks_per_s": overall_rows_per_s(results),
            "shards": _per_shard_table(rows, ("shard", "records", "chunks", "seconds")),
        }
    )


class EmbeddingConfig(dg.Config):
    """How Ray Data embeds the chunks; GPUs are used (one per actor) when the cluster has them."""

    model: str = Field(
        "all-mpnet-base-v2",
        description="A bundled model name (all-mpnet-base-v2 is the AWS post's) or a Hugging Face id.",
    )
    actors: int = Field(2, description="Ray Data actor pool size (each actor loads the model once).")
    batch_size: int = Field(64, description="Chunks per forward pass.")


@dg.asset(
    **_SHARDS,
    deps=[oscar_chunks],
    group_name="ingestion",
    kinds={"ray", "pytorch"},
    op_tags={"dagster-k8s/config": {"container_config": {"resources": {"requests": {"cpu": "1", "memory": "4Gi"}}}}},
)
def oscar_embeddings(
    context: dg.AssetExecutionContext,
    config: EmbeddingConfig,
    object_store: ObjectStore,
    embeddings: EmbeddingProvider,
    ray_cluster: RayCluster,
):
    """Each shard's chunks with their embeddings (`oscar/embeddings/<shard>/`, L2-normalised
    float32), computed by a Ray Data actor pool; `oscar/manifests/embeddings/<shard>.json` records
    the model and chunk count for the stores and the benchmark."""
    import ray

    from dream_assets.lib.ingestion import embed_shard, overall_rows_per_s

    store = object_store.client()
    ray_cluster.connect()
    settings = embeddings.settings_for(config.model)
    gpus = 1.0 if ray.cluster_resources().get("GPU", 0) >= config.actors else 0.0
    rows, results = [], []
    for shard in context.partition_keys:
        result = embed_shard(
            store,
            layout.oscar_chunks_prefix(shard),
            layout.oscar_embeddings_prefix(shard),
            settings.model,
            config.actors,
            config.batch_size,
            gpus,
        )
        store.write_json(layout.oscar_embeddings_manifest(shard), {"model": config.model, "chunks": result.rows_out})
        results.append(result)
        rows.append((shard, result.rows_out, round(result.seconds, 1), round(result.rows_per_s, 1)))
        context.log.info("shard %s: %d chunks embedded in %.1f s", shard, result.rows_out, result.seconds)
    return dg.MaterializeResult(
        metadata={
            "model": config.model,
            "device": "cuda" if gpus else "cpu",
            "embedded": sum(r[1] for r in rows),
            "embeddings_per_s": overall_rows_per_s(results),
            "shards": _per_shard_table(rows, ("shard", "chunks", "seconds", "chunks_per_s")),
        }
    )


def _shard_model(store, shards: list[str]) -> str:
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

    metric: str = Field("cosine", description="cosine or l2.")
    hnsw_m: int = Field(16, description="HNSW: links per node (pgvector's default 16).")
    hnsw_ef_construction: int = Field(64, description="HNSW: candidate list size while building (default 64).")
    ivfflat_lists: int = Field(0, description="IVFFlat lists (0: rows / 1,000, pgvector's advice up to 1M rows).")


@dg.asset(**_SHARDS, deps=[oscar_embeddings], group_name="ingestion", kinds={"postgres"})
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
    from dream_assets.lib.ingestion import read_embeddings

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
            "shards": _per_shard_table(rows, ("shard", "rows", "seconds", "rows_per_s")),
        }
    )


class BenchmarkConfig(dg.Config):
    """What the store query benchmark measures."""

    squad_path: str = Field("", description="SQuAD JSON the questions come from ('': the demo's).")
    questions: int = Field(200, description="SQuAD questions queried.")
    k: int = Field(10, description="Nearest neighbours per query.")
    clients: int = Field(4, description="Concurrent clients for the QPS figure.")
    ef_search: list[int] = Field([10, 40, 100], description="HNSW ef_search settings measured.")
    probes: list[int] = Field([1, 5, 20], description="IVFFlat probes settings measured.")


@dg.asset(deps=[pgvector_index], group_name="ingestion", kinds={"postgres", "pandas"})
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
    from dream_assets.lib.ingestion import read_embeddings
    from dream_assets.lib.vector_benchmark import benchmark_pgvector, questions_from_squad
    from resources.embeddings import make_embedding

    store = object_store.client()
    shards = sorted(context.instance.get_dynamic_partitions(oscar_shard_partitions.name))
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
            figures.append({"stage": asset, "figure": name, "value": round(float(value.value), 1) if value else None})
    return figures


class OpenSearchIndexConfig(dg.Config):
    """k-NN index settings (the AWS post's: HNSW, faiss, L2, m 16, ef_construction 256)."""

    engine: str = Field("faiss", description="k-NN engine.")
    space_type: str = Field("l2", description="Distance.")
    m: int = Field(16, description="HNSW: links per node.")
    ef_construction: int = Field(256, description="HNSW: candidate list size while building.")
    force_merge: bool = Field(False, description="Merge to one segment after loading.")


@dg.asset(**_SHARDS, deps=[oscar_embeddings], group_name="ingestion", kinds={"opensearch"})
def opensearch_index(
    context: dg.AssetExecutionContext,
    config: OpenSearchIndexConfig,
    object_store: ObjectStore,
    opensearch: OpenSearchStore,
):
    """The chunks and embeddings in an OpenSearch k-NN index (`oscar-chunks-<model>`), bulk-loaded
    with refresh off, documents keyed by chunk id (a re-run overwrites), refresh restored after.
    Part of the definitions only when `OPENSEARCH_URL` is set."""
    from dream_assets.lib.ingestion import read_embeddings
    from resources.opensearch_store import bulk_actions, index_body

    store = object_store.client()
    index = oscar_tables(_shard_model(store, context.partition_keys))["opensearch"]
    rows = []
    for shard in context.partition_keys:
        chunks, vectors = read_embeddings(store, layout.oscar_embeddings_prefix(shard))
        body = index_body(vectors.shape[1], config.engine, config.space_type, config.m, config.ef_construction)
        extra = chunks[["record_id", "url"]].to_dict("records")
        start = time.perf_counter()
        loaded = opensearch.load(index, body, bulk_actions(index, chunks["chunk_id"], chunks["text"], vectors, extra))
        rows.append((shard, loaded, round(time.perf_counter() - start, 2)))
    opensearch.finish_load(index, config.force_merge)
    return dg.MaterializeResult(
        metadata={"index": index, "shards": _per_shard_table(rows, ("shard", "documents", "seconds"))}
    )
