"""OpenSearch k-NN as a Dagster resource: configuration only; the index body, bulk actions,
k-NN query and the operations are `dream_assets.lib.stores.opensearch` (no Dagster)."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from dream_assets.lib.stores.opensearch import OpenSearchOps


class OpenSearchStore(OpenSearchOps, dg.ConfigurableResource):
    """An OpenSearch cluster with the k-NN plugin (`url` from an EnvVar, e.g. OPENSEARCH_URL)."""

    url: str = Field(description="https://user:password@host:9200 or http://host:9200")
    verify_certs: bool = Field(default=True, description="Verify the server's TLS certificate.")
