"""OpenSearch k-NN as a Dagster resource: configuration only; the index body, bulk actions,
k-NN query and the operations are `clients.opensearch` (no Dagster)."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from clients.opensearch import OpenSearchOps, bulk_actions, index_body, knn_query

__all__ = ["OpenSearchStore", "bulk_actions", "index_body", "knn_query"]


class OpenSearchStore(OpenSearchOps, dg.ConfigurableResource):
    """An OpenSearch cluster with the k-NN plugin (`url` from an EnvVar, e.g. OPENSEARCH_URL)."""

    url: str = Field(description="https://user:password@host:9200 or http://host:9200")
    verify_certs: bool = Field(True, description="Verify the server's TLS certificate.")
