"""Stores: the object store, vector stores (in memory, pgvector, OpenSearch), an embedded
PostgreSQL, the vector-query benchmark."""
