"""Bulk ingestion figures on this machine: Ray Data embedding throughput against plain
`SentenceTransformer.encode`, pgvector binary COPY against the AWS post's 100-row multi-row
INSERT, and (with `--corpus`) the whole pipeline on 100k+ chunks of real text with the query
benchmark (recall@10 vs latency at three ef_search / probes settings).

Usage: python benchmarks/bench_ingestion.py [--rows N] [--corpus]
(`--corpus` runs `make ingest-demo` with the GCIDE dictionary added: Debian's dict-gcide.)
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _load_model_seconds(model_path: str) -> float:
    start = time.perf_counter()
    from sentence_transformers import SentenceTransformer

    SentenceTransformer(model_path, device="cpu").encode(["warm-up"])
    return time.perf_counter() - start


def embedding_ratio(texts: list[str], model_path: str, actors: int, batch_size: int) -> tuple[float, float, float]:
    """(chunks/s of Ray Data with `actors` one-CPU actors end to end, the same without the
    actors' start-up (a fresh Ray worker importing sentence-transformers and loading the model,
    measured apart), chunks/s of one process encoding with every core, model already imported)."""
    import ray
    import torch
    from sentence_transformers import SentenceTransformer

    from dream_assets.lib.bulk.ingestion import embed_shard
    from dream_assets.lib.stores.object_store import ObjectStoreClient, ObjectStoreSettings

    torch.set_num_threads(os.cpu_count() or 2)
    start = time.perf_counter()
    SentenceTransformer(model_path, device="cpu").encode(texts, batch_size=batch_size, normalize_embeddings=True)
    plain = len(texts) / (time.perf_counter() - start)

    import pandas as pd

    store = ObjectStoreClient(ObjectStoreSettings(root=tempfile.mkdtemp()))
    store.write_parquet("chunks/part.parquet", pd.DataFrame({"chunk_id": range(len(texts)), "text": texts}))
    ray.init(num_cpus=os.cpu_count() or 2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        startup = ray.get(ray.remote(num_cpus=1)(_load_model_seconds).remote(model_path))
        result = embed_shard(store, "chunks", "embeddings", model_path, actors, batch_size)
    finally:
        ray.shutdown()
    return result.rows_per_s, result.rows_out / (result.seconds - startup), plain


def copy_vs_insert(dsn: str, rows: int, dimensions: int = 384) -> tuple[float, float]:
    """(rows/s of `PgVectorStore.upsert` (binary COPY into staging, then upsert), rows/s of the
    AWS post's method: 100-row multi-row INSERTs with vectors as pgvector text literals, one
    commit each), same server, same rows (unit vectors of `dimensions`)."""
    import psycopg
    from pgvector.psycopg import register_vector

    from resources.vector_stores import PgVectorStore

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(rows, dimensions)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"record-{i // 3}:{(i % 3) * 900}" for i in range(rows)]
    texts = [f"chunk text {i} " * 40 for i in range(rows)]
    store = PgVectorStore(dsn=dsn)
    start = time.perf_counter()
    store.upsert("bench_copy", ids, texts, vectors)
    copy_rate = rows / (time.perf_counter() - start)
    literals = ["[" + ",".join(f"{x:.8g}" for x in vector) + "]" for vector in vectors]
    with psycopg.connect(dsn) as connection:
        register_vector(connection)
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS bench_insert (id text PRIMARY KEY, text text, embedding vector({dimensions}))"
        )
        connection.commit()
        start = time.perf_counter()
        for first in range(0, rows, 100):
            part = slice(first, first + 100)
            batch = list(zip(ids[part], texts[part], literals[part], strict=True))
            values = ", ".join(["(%s, %s, %s::vector)"] * len(batch))
            connection.execute(
                f"INSERT INTO bench_insert (id, text, embedding) VALUES {values}",  # noqa: S608 - placeholders only
                [value for row in batch for value in row],
            )
            connection.commit()
        insert_rate = rows / (time.perf_counter() - start)
    return copy_rate, insert_rate


def main() -> None:
    """Prints every figure."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20000, help="rows of the COPY vs INSERT comparison")
    parser.add_argument("--chunks", type=int, default=2000, help="chunks of the embedding comparison")
    parser.add_argument("--corpus", action="store_true", help="also run the 100k-chunk pipeline and query benchmark")
    parser.add_argument("--skip-embedding", action="store_true", help="skip the embedding comparison")
    args = parser.parse_args()

    from dream_assets.defs.golden.assets import DEMO_SQUAD
    from dream_assets.lib.bulk.oscar import chunk_records, parse_lines, squad_paragraph_records
    from resources.embeddings import EmbeddingProvider

    records = [json.dumps(r) for r in squad_paragraph_records(DEMO_SQUAD)]
    chunks = chunk_records(parse_lines(records)[0])["text"].tolist()
    texts = (chunks * (args.chunks // len(chunks) + 1))[: args.chunks]
    home = Path(os.environ.get("DREAM_HOME", ".dream"))
    model = str(EmbeddingProvider(models_dir=str(home / "models")).settings_for("all-MiniLM-L6-v2").model)
    if not args.skip_embedding:
        _print_embedding(texts, model)
    _print_copy(args.rows)
    if args.corpus:
        from dream_assets.ingest_demo import main as ingest

        ingest(["--gcide-records", "130000", "--shards", "8", "--model", "all-MiniLM-L6-v2", "--batch-size", "128",
                "--questions", "500", "--clients", "4"])  # fmt: skip


def _print_embedding(texts: list[str], model: str) -> None:
    ray_rate, steady_rate, plain_rate = embedding_ratio(texts, model, actors=2, batch_size=64)
    print(f"embedding {len(texts)} real chunks, all-MiniLM-L6-v2, CPU ({os.cpu_count()} cores)")
    print(f"  Ray Data, 2 actors x 1 CPU, end to end      {ray_rate:8.1f} chunks/s")
    print(f"  Ray Data, without actor start-up            {steady_rate:8.1f} chunks/s")
    print(f"  one process, encode(), every core           {plain_rate:8.1f} chunks/s")
    print(
        f"  ratio end to end / without start-up         {ray_rate / plain_rate:8.2f} / {steady_rate / plain_rate:.2f}"
    )


def _print_copy(rows: int) -> None:
    from dream_assets.lib.stores.embedded_postgres import start_postgres

    directory = Path(tempfile.mkdtemp(prefix="dream-bench-pg-"))
    directory.chmod(0o755)
    postgres = start_postgres(directory / "pg")
    try:
        copy_rate, insert_rate = copy_vs_insert(postgres.dsn, rows)
    finally:
        postgres.stop()
    print(f"pgvector load, {rows} rows x 384-d")
    print(f"  binary COPY + upsert         {copy_rate:10,.0f} rows/s")
    print(f"  100-row multi-row INSERT     {insert_rate:10,.0f} rows/s")
    print(f"  ratio                        {copy_rate / insert_rate:10.1f}x  (goal >= 5x)")


if __name__ == "__main__":
    main()
