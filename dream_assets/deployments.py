"""The resource set of each deployment, chosen once by name (`DREAM_DEPLOYMENT`).

- `local` (default): embedded services under the state directory `DREAM_HOME` (default
  `.dream/` in the project): a local-directory object store, local Ray, MLflow on SQLite, bundled
  models; the PDFs come from `DREAM_PDF_SOURCE` (default: the bundled demo corpus);
- `k8s`: S3 (SeaweedFS in deploy/), PostgreSQL + pgvector, the MLflow server, the Ray cluster and an
  OpenAI-compatible LLM endpoint, every address and credential from environment variables (see
  deploy/).

The bulk ingestion pipeline's PostgreSQL is `DREAM_PG_DSN` in both (`make ingest-demo` starts an
embedded one and sets it); its OpenSearch asset is defined only when `OPENSEARCH_URL` is set.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from dream_assets import package_data
from dream_assets.settings import env_name, settings
from resources.embeddings import EmbeddingProvider
from resources.llm import LlmProvider
from resources.object_store import LocalObjectStore, S3ObjectStore
from resources.opensearch_store import OpenSearchStore
from resources.ray_cluster import RayCluster
from resources.sources import DocumentSource, OscarSource
from resources.tracking import MlflowTracker
from resources.vector_stores import LanceVectorStore, PgVectorStore

DEMO_PDFS = package_data.DEMO_PDFS


def state_dir() -> Path:
    """The local state directory: `DREAM_HOME`, else `.dream/` in the working directory."""
    return settings().state_dir()


def local_resources(home: Path, document_source: str) -> dict:
    """Embedded defaults: everything under `home`, nothing to install or start by hand."""
    chosen = settings()
    return {
        "document_source": DocumentSource(uri=document_source),
        "object_store": LocalObjectStore(root=str(home / "object_store")),
        "embeddings": EmbeddingProvider(models_dir=str(home / "models")),
        "llms": LlmProvider(
            models_dir=str(home / "models"),
            api_base=chosen.llm_api_base,
            api_key=dg.EnvVar(env_name("llm_api_key")) if chosen.llm_api_key else None,
            **_llm_table(),
        ),
        "ray_cluster": RayCluster(
            address=chosen.ray_address,
            num_cpus=os.cpu_count() or 2,
            storage_path=str(home / "ray_results"),
            scratch_dir=str(home / "scratch"),
        ),
        "tracker": MlflowTracker(
            tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
            artifact_location=(home / "mlflow" / "artifacts").as_uri(),
        ),
        "vector_store": LanceVectorStore(),
        "oscar_source": OscarSource(uri=chosen.oscar_source or str(home / "oscar_inbox")),
        "pgvector": PgVectorStore(dsn=dg.EnvVar("DREAM_PG_DSN")),
        **_opensearch(),
    }


def _llm_table() -> dict:
    """The LLM table named by `DREAM_LLM_TABLE`, else the resource's default (config/llms.yaml)."""
    table = settings().llm_table
    return {"llm_table": str(table)} if table else {}


def _opensearch() -> dict:
    """The OpenSearch resource when `OPENSEARCH_URL` is set (no OpenSearch installs from the
    registries this project builds from, so it is never embedded)."""
    url = dg.EnvVar(env_name("opensearch_url"))
    return {"opensearch": OpenSearchStore(url=url)} if settings().opensearch_url else {}


def k8s_resources() -> dict:
    """Cluster services, configured by environment variables set from deploy/ manifests."""
    return {
        "document_source": DocumentSource(
            uri=dg.EnvVar("DREAM_PDF_SOURCE"),
            endpoint_url=dg.EnvVar("AWS_ENDPOINT_URL"),
            access_key_id=dg.EnvVar("AWS_ACCESS_KEY_ID"),
            secret_access_key=dg.EnvVar("AWS_SECRET_ACCESS_KEY"),
        ),
        "object_store": S3ObjectStore(
            bucket=dg.EnvVar("DREAM_S3_BUCKET"),
            endpoint_url=dg.EnvVar("AWS_ENDPOINT_URL"),
            access_key_id=dg.EnvVar("AWS_ACCESS_KEY_ID"),
            secret_access_key=dg.EnvVar("AWS_SECRET_ACCESS_KEY"),
        ),
        "embeddings": EmbeddingProvider(models_dir="/opt/dream/models"),
        "llms": LlmProvider(
            models_dir="/opt/dream/models",
            api_base=dg.EnvVar("DREAM_LLM_API_BASE"),
            api_key=dg.EnvVar("DREAM_LLM_API_KEY"),
            **_llm_table(),
        ),
        "ray_cluster": RayCluster(
            address=dg.EnvVar("RAY_ADDRESS"),
            storage_path=dg.EnvVar("DREAM_TUNE_STORAGE"),  # s3://...: survives the run pod
            scratch_dir="/tmp/dream/scratch",  # each Ray pod's own disk
            trial_resources={"CPU": 1, "dream_trials": 1},  # the cpu worker group (deploy/kuberay)
        ),
        "tracker": MlflowTracker(tracking_uri=dg.EnvVar("MLFLOW_TRACKING_URI")),
        "vector_store": PgVectorStore(dsn=dg.EnvVar("DREAM_PG_DSN")),
        "oscar_source": OscarSource(
            uri=dg.EnvVar("DREAM_OSCAR_SOURCE"),
            endpoint_url=dg.EnvVar("AWS_ENDPOINT_URL"),
            access_key_id=dg.EnvVar("AWS_ACCESS_KEY_ID"),
            secret_access_key=dg.EnvVar("AWS_SECRET_ACCESS_KEY"),
        ),
        "pgvector": PgVectorStore(dsn=dg.EnvVar("DREAM_PG_DSN")),
        **_opensearch(),
    }


def deployment() -> str:
    """The deployment name: `DREAM_DEPLOYMENT`, else `local`."""
    return settings().deployment


def resources_for(deployment: str, document_source: str | None = None) -> dict:
    """The resource set of a deployment name; locally, the PDFs come from `document_source`, else
    `DREAM_PDF_SOURCE`, else the bundled demo corpus (on k8s, always `DREAM_PDF_SOURCE`).

    Raises:
        ValueError: for an unknown deployment name.
    """
    if deployment == "local":
        return local_resources(state_dir(), document_source or settings().pdf_source or str(DEMO_PDFS))
    if deployment == "k8s":
        return k8s_resources()
    raise ValueError(f"DREAM_DEPLOYMENT must be 'local' or 'k8s', not {deployment!r}")


def executor_for(deployment: str) -> dg.ExecutorDefinition | None:
    """On Kubernetes every step gets its own pod (sized by the assets' `dagster-k8s/config`
    op tags); locally Dagster's default executor."""
    if deployment == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    return None
