"""The bulk ingestion stages on Ray Data: OSCAR JSONL → records Parquet → chunks → embeddings.

Each stage reads one shard's input from the object store and writes that shard's output folder
with `SaveMode.OVERWRITE`, so a stage that failed half-way and runs again replaces what it left
instead of adding to it. Ray must already be initialised (`RayCluster.connect`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import ray.data
from ray.data.expressions import col

from dream_assets.lib.bulk.oscar import RECORD_COLUMNS, RECORD_SCHEMA, REJECT_COLUMNS, chunk_records, parse_lines
from dream_assets.lib.models.embedding_stage import embed_dataset
from dream_assets.lib.models.embeddings import EmbeddingSettings
from dream_assets.lib.stores.object_store import ObjectStoreClient


@dataclass(frozen=True)
class StageResult:
    """What a stage did: rows in and out, wall seconds, and rows out per second."""

    rows_in: int
    rows_out: int
    seconds: float

    @property
    def rows_per_s(self) -> float:  # noqa: D102
        return self.rows_out / self.seconds if self.seconds else 0.0


def overall_rows_per_s(results: list[StageResult]) -> float:
    """Rows out per second over several stage runs (total rows / total seconds)."""
    return StageResult(0, sum(r.rows_out for r in results), sum(r.seconds for r in results)).rows_per_s


def arrow_filesystem(store: ObjectStoreClient):
    """The store's fsspec filesystem as a pyarrow filesystem, for Ray Data's readers and writers."""
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    return PyFileSystem(FSSpecHandler(store.fs))


_PARSED = RECORD_SCHEMA.append(pa.field("reject_reason", pa.string()))


class _ParseBatch:
    def __init__(self, languages: frozenset[str] | None, excluded_warnings: frozenset[str]) -> None:
        self.languages, self.excluded = languages, excluded_warnings

    def __call__(self, batch: pd.DataFrame) -> pa.Table:
        records, rejects = parse_lines(batch["text"].tolist(), self.languages, self.excluded)
        # rejected lines ride along in the same typed table: the excerpt in `text`, empty fields
        filler = {"language_prob": 0.0, "harmful_pp": 0.0, "quality_warnings": [], "categories": []}
        rows = [{**row, "reject_reason": None} for row in records.to_dict("records")]
        rows += [
            {**{c: filler.get(c, "") for c in RECORD_COLUMNS}, "text": excerpt, "reject_reason": reason}
            for reason, excerpt in rejects[["reason", "excerpt"]].itertuples(index=False)
        ]
        return pa.Table.from_pylist(rows, schema=_PARSED)


def check_decompressed_size(store: ObjectStoreClient, key: str, max_bytes: int) -> int:
    """Decompresses the zstd object at `key` as a stream, in 1 MiB pieces, counting its bytes
    (a zstd frame need not state its size, and a small file can expand a thousandfold); returns
    the count.

    Raises:
        ValueError: naming the object, when it holds more than `max_bytes` decompressed bytes or is
            not valid zstd.
    """
    import zstandard

    size = 0
    try:
        with store.open_read(key) as compressed, zstandard.ZstdDecompressor().stream_reader(compressed) as reader:
            while piece := reader.read(1 << 20):
                size += len(piece)
                if size > max_bytes:
                    raise ValueError(f"{key}: decompresses to more than {max_bytes} bytes (max_decompressed_bytes)")
    except zstandard.ZstdError as error:
        raise ValueError(f"{key}: not valid zstd ({error})") from error
    return size


def parse_shard(
    store: ObjectStoreClient,
    shard_key: str,
    records_prefix: str,
    languages: frozenset[str] | None,
    excluded_warnings: frozenset[str],
    max_decompressed_bytes: int = 8 * 1024**3,
) -> tuple[StageResult, pd.DataFrame]:
    """Reads one OSCAR JSONL shard (`.jsonl` or `.jsonl.zst`, decompressed by Ray Data from the
    extension), keeps and filters its records (`dream_assets.lib.bulk.oscar.parse_lines`) and writes
    them as Parquet under `records_prefix`.

    Returns:
        (lines in / records out / seconds, rejects with `REJECT_COLUMNS`: every line not kept,
        with its reason).

    Raises:
        ValueError: for a `.zst` shard that decompresses to more than `max_decompressed_bytes`
            (`check_decompressed_size`) or is not valid zstd.
    """
    start = time.perf_counter()
    if shard_key.endswith(".zst"):
        check_decompressed_size(store, shard_key, max_decompressed_bytes)
    filesystem = arrow_filesystem(store)
    lines = ray.data.read_text(store.path(shard_key), filesystem=filesystem)
    parsed = lines.map_batches(
        _ParseBatch(languages, excluded_warnings),  # pyright: ignore[reportArgumentType] - a pandas-batch class
        batch_format="pandas",
        batch_size=1024,
    ).materialize()
    records = parsed.filter(expr=col("reject_reason").is_null()).materialize()  # written, then counted
    records.select_columns(RECORD_COLUMNS).write_parquet(
        store.path(records_prefix), filesystem=filesystem, mode=ray.data.SaveMode.OVERWRITE
    )
    kept = records.count()
    rejects = parsed.filter(expr=col("reject_reason").is_not_null()).to_pandas()
    rejects = rejects.rename(columns={"reject_reason": "reason", "text": "excerpt"})
    total = parsed.count()
    rejects = rejects.reindex(columns=REJECT_COLUMNS).astype(str)  # typed even when empty
    return StageResult(total, kept, time.perf_counter() - start), rejects


def chunk_shard(
    store: ObjectStoreClient, records_prefix: str, chunks_prefix: str, chunk_size: int, chunk_overlap: int
) -> StageResult:
    """Splits the records of one shard into character chunks (`chunk_records`) and writes them as
    Parquet under `chunks_prefix`."""
    start = time.perf_counter()
    filesystem = arrow_filesystem(store)
    records = ray.data.read_parquet(store.path(records_prefix), filesystem=filesystem)
    chunks = records.map_batches(
        chunk_records,  # pyright: ignore[reportArgumentType] - a pandas-batch function
        fn_kwargs={"chunk_size": chunk_size, "chunk_overlap": chunk_overlap},
        batch_format="pandas",
    ).materialize()
    chunks.write_parquet(store.path(chunks_prefix), filesystem=filesystem, mode=ray.data.SaveMode.OVERWRITE)
    return StageResult(records.count(), chunks.count(), time.perf_counter() - start)


def embed_shard(
    store: ObjectStoreClient,
    chunks_prefix: str,
    embeddings_prefix: str,
    model: str,
    actors: int,
    batch_size: int,
    num_gpus: float = 0.0,
) -> StageResult:
    """Embeds one shard's chunks with the shared embedding stage
    (`dream_assets.lib.models.embedding_stage.embed_dataset`: `actors` actors, each with
    `num_gpus` GPUs, or one CPU and one thread when 0) and writes chunks with their embeddings
    under `embeddings_prefix`.

    Args:
        store: the object store.
        chunks_prefix: folder of the shard's chunks (`chunk_shard`).
        embeddings_prefix: folder the chunks with embeddings are written to.
        model: a local model directory or a Hugging Face id.
        actors: size of the actor pool (each loads the model once).
        batch_size: texts per forward pass (a Ray Data batch holds up to 16 of them).
        num_gpus: GPUs per actor; 0 runs on CPU (one CPU per actor).
    """
    start = time.perf_counter()
    filesystem = arrow_filesystem(store)
    # read and split first, in their own executions: the actors may take every CPU, and a read
    # or repartition task waiting for one would stall the pipeline
    chunks = ray.data.read_parquet(store.path(chunks_prefix), filesystem=filesystem).materialize()
    rows = chunks.count()
    # Ray Data batches of many forward passes: sentence-transformers sorts each batch by length
    # before splitting it, so texts of similar length share a forward pass and padding is small
    # (one forward pass per Ray batch pads every text to the batch's longest)
    # and as many blocks per actor, so no actor is left with the last one alone
    blocks = actors * max(1, -(-rows // (batch_size * 16 * actors)))
    rows_per_batch = -(-rows // blocks)
    chunks = chunks.repartition(blocks).materialize()
    settings = EmbeddingSettings(name=Path(model).name, model=model, batch_size=batch_size)
    embedded = embed_dataset(chunks, settings, actors, num_gpus, rows_per_batch).materialize()
    embedded.write_parquet(store.path(embeddings_prefix), filesystem=filesystem, mode=ray.data.SaveMode.OVERWRITE)
    return StageResult(rows, embedded.count(), time.perf_counter() - start)


def read_embeddings(store: ObjectStoreClient, prefix: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The chunks under `prefix` (one shard's folder, or the parent of several) and their
    embeddings.

    Returns:
        (chunks without the embedding column, float32 array of shape (chunks, dimensions)),
        in the same row order.
    """
    import pyarrow.parquet as pq

    table = pq.read_table(store.path(prefix), filesystem=arrow_filesystem(store))
    vectors = table.column("embedding").combine_chunks().to_numpy(zero_copy_only=False)
    return table.drop_columns(["embedding"]).to_pandas(), np.asarray(vectors, dtype=np.float32)
