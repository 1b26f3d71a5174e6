"""Bulk ingestion: OSCAR JSONL records, character chunks and embeddings on Ray Data."""
