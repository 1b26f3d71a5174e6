"""Retrieval: retrieval methods, nodes and content-addressed indexes, retrievers and rerankers,
exact search, question embeddings, context matching, the Ray retrieval pool, the fine-tuned
reranker's training."""
