"""Jobs: one per stage, each partitioned like its assets so a run covers a partition range."""

from __future__ import annotations

import dagster as dg

ingest_job = dg.define_asset_job("ingest_job", selection=["source_documents", "parsed_documents"])
golden_job = dg.define_asset_job("golden_job", selection=["golden_dataset"])
index_job = dg.define_asset_job("index_job", selection=["embedding_index"])
retrieval_pool_job = dg.define_asset_job("retrieval_pool_job", selection=["retrieval_pool"])
sweep_job = dg.define_asset_job("sweep_job", selection=["trial_evaluations"])
leaderboard_job = dg.define_asset_job(
    "leaderboard_job", selection=["judge_evaluations", "experiment_leaderboard", "best_rag_configuration"]
)
range_search_job = dg.define_asset_job("range_search_job", selection=["range_search"])
oscar_ingest_job = dg.define_asset_job(
    "oscar_ingest_job", selection=["oscar_jsonl", "oscar_parquet", "oscar_chunks", "oscar_embeddings", "pgvector_index"]
)
opensearch_job = dg.define_asset_job("opensearch_job", selection=["opensearch_index"])
vector_benchmark_job = dg.define_asset_job("vector_benchmark_job", selection=["vector_query_benchmark"])
reranker_job = dg.define_asset_job("reranker_job", selection=["reranker_training_pairs", "finetuned_reranker"])
