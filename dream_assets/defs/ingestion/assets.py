"""At-scale ingestion: OSCAR JSONL shards → records Parquet → chunks → Ray Data embeddings
(the stores they are loaded into and the query benchmark: `stores.py`).

Every stage is partitioned by input shard (dynamic partitions `oscar_shards`), so a new shard
ingests on its own and a failed shard re-runs alone. Each stage replaces its shard's output
(Ray Data `SaveMode.OVERWRITE`; pgvector upserts keyed by chunk id in one transaction; OpenSearch
documents keyed by chunk id), so re-runs never duplicate rows.
"""

import dagster as dg
import pandas as pd
from pydantic import Field

from dream_assets import layout
from dream_assets.defs.metadata import table_metadata
from dream_assets.defs.pods import pod_resources
from resources.embeddings import EmbeddingProvider
from resources.object_store import ObjectStore
from resources.ray_cluster import RayCluster
from resources.sources import OscarSource

OSCAR_SHARDS = "oscar_shards"
oscar_shard_partitions = dg.DynamicPartitionsDefinition(name=OSCAR_SHARDS)
"""One partition per OSCAR shard file, keyed by the slug of its name (`en-meta-1`)."""

SHARDS = {"partitions_def": oscar_shard_partitions, "backfill_policy": dg.BackfillPolicy.single_run()}


def per_shard_table(rows: list[tuple], header: tuple[str, ...]) -> dg.TableMetadataValue:
    """One row per shard as a Dagster table with columns `header`."""
    return table_metadata(pd.DataFrame(rows, columns=list(header)))


class OscarCopyConfig(dg.Config):
    """Bounds on copying one shard."""

    max_bytes: int = Field(
        default=4 * 1024**3,
        description="Shards over this size (as listed, compressed) are skipped unread (4 GiB; OSCAR 23.01's"
        " shards are about 1 GiB of zstd).",
    )


@dg.asset(**SHARDS, group_name="ingestion", kinds={"s3"})
def oscar_jsonl(
    context: dg.AssetExecutionContext, config: OscarCopyConfig, oscar_source: OscarSource, object_store: ObjectStore
):
    """The OSCAR 23.01 JSONL shards (`.jsonl` or `.jsonl.zst`), copied from the OSCAR source into
    the object store (`oscar/jsonl/<shard>/<file name>`), streamed. A shard listed over
    `max_bytes` is skipped without a byte read (`too_large`, in the metadata). Metadata: bytes
    and SHA-256 per shard."""
    store = object_store.client()
    listing = oscar_source.list_shards()
    rows, missing, too_large = [], [], {}
    for shard in context.partition_keys:
        if shard not in listing:
            missing.append(shard)
            context.log.warning("shard %s is no longer under %s", shard, oscar_source.uri)
            continue
        info = listing[shard]
        if info.size > config.max_bytes:
            too_large[shard] = f"{info.size} bytes > max_bytes {config.max_bytes}"
            context.log.warning("shard %s skipped: %s", shard, too_large[shard])
            continue
        name = info.key.rsplit("/", 1)[-1]
        store.delete(layout.oscar_jsonl_prefix(shard))
        size, sha256 = oscar_source.copy_to(info, store, f"{layout.oscar_jsonl_prefix(shard)}/{name}", config.max_bytes)
        rows.append((shard, name, size, sha256))
    return dg.MaterializeResult(
        metadata={
            "shards": len(rows),
            "missing_from_source": missing,
            "too_large": too_large,
            "preview": per_shard_table(rows, ("shard", "file", "bytes", "sha256")),
        }
    )


class OscarFilterConfig(dg.Config):
    """Which OSCAR records are kept."""

    languages: list[str] = Field(default=["en"], description="Language identification labels kept (empty keeps all).")
    excluded_quality_warnings: list[str] = Field(
        default=["noisy", "short_sentences"],
        description="OSCAR 23.01 annotations that filter a record out (tiny, short_sentences, header, footer, noisy).",
    )
    max_decompressed_bytes: int = Field(
        default=8 * 1024**3,
        description="A .zst shard that decompresses to more is failed unread by Ray Data (8 GiB; checked by a"
        " streamed pass).",
    )


@dg.asset(**SHARDS, deps=[oscar_jsonl], group_name="ingestion", kinds={"ray", "parquet"})
def oscar_parquet(
    context: dg.AssetExecutionContext, config: OscarFilterConfig, object_store: ObjectStore, ray_cluster: RayCluster
):
    """Kept records of each shard as Parquet (`oscar/records/<shard>/`): record id, URL, date,
    language and its probability, quality warnings, categories, harmful perplexity, text. Read,
    parsed and filtered with Ray Data. Every line not kept is in `oscar/rejects/<shard>.parquet`
    with its reason (malformed JSON, missing field, empty, language, quality warning), counted in
    the metadata with examples."""
    from dream_assets.lib.bulk.ingestion import overall_rows_per_s, parse_shard

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
                config.max_decompressed_bytes,
            )
        except Exception as error:  # noqa: BLE001 - a broken shard is recorded; the others go on
            failed[shard] = f"{type(error).__name__}: {str(error)[:300]}"
            context.log.error("shard %s failed: %s", shard, failed[shard])
            continue
        store.write_parquet(layout.oscar_rejects_key(shard), rejects)
        kinds = rejects["reason"].str.split(":").str[0].value_counts().to_dict()
        for kind, count in kinds.items():
            reasons[kind] = reasons.get(kind, 0) + int(count)
        examples += [f"{shard}: {r['reason']} | {str(r['excerpt'])[:80]}" for r in rejects.head(2).to_dict("records")]
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
        "shards": per_shard_table(rows, ("shard", "lines", "records", "rejected", "seconds")),
        "failed_shards": failed,
    }
    if failed:  # the good shards are written; re-run the failed ones alone once fixed
        raise dg.Failure(f"{len(failed)} shard(s) could not be read: {sorted(failed)}", metadata=metadata)
    return dg.MaterializeResult(metadata=metadata)


class ChunkingConfig(dg.Config):
    """Character chunks (the AWS post's setting: 1,000 characters, 100 overlap)."""

    chunk_size: int = Field(default=1000, description="Characters per chunk.")
    chunk_overlap: int = Field(default=100, description="Characters shared by consecutive chunks.")


@dg.asset(**SHARDS, deps=[oscar_parquet], group_name="ingestion", kinds={"ray", "parquet"})
def oscar_chunks(
    context: dg.AssetExecutionContext, config: ChunkingConfig, object_store: ObjectStore, ray_cluster: RayCluster
):
    """Character chunks of each shard's records (`oscar/chunks/<shard>/`), with stable ids
    `<record id>:<offset>`, split by LangChain's `RecursiveCharacterTextSplitter` on Ray Data."""
    from dream_assets.lib.bulk.ingestion import chunk_shard, overall_rows_per_s

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
            "shards": per_shard_table(rows, ("shard", "records", "chunks", "seconds")),
        }
    )


class EmbeddingConfig(dg.Config):
    """How Ray Data embeds the chunks; GPUs are used (one per actor) when the cluster has them."""

    model: str = Field(
        default="all-mpnet-base-v2",
        description="A bundled model name (all-mpnet-base-v2 is the AWS post's) or a Hugging Face id.",
    )
    actors: int = Field(default=2, description="Ray Data actor pool size (each actor loads the model once).")
    batch_size: int = Field(default=64, description="Chunks per forward pass.")


@dg.asset(
    **SHARDS,
    deps=[oscar_chunks],
    group_name="ingestion",
    kinds={"ray", "pytorch"},
    op_tags=pod_resources("1", "4Gi"),
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

    from dream_assets.lib.bulk.ingestion import embed_shard, overall_rows_per_s

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
            "shards": per_shard_table(rows, ("shard", "chunks", "seconds", "chunks_per_s")),
        }
    )
