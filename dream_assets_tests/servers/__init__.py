"""Real servers for integration tests, started and stopped by pytest fixtures (see conftest):
one launcher per server."""

from dream_assets.lib.stores.embedded_postgres import PostgresServer, free_port, start_postgres
from dream_assets_tests.servers.dagster_ui import DagsterUI, start_dagster_ui
from dream_assets_tests.servers.mlflow_server import start_mlflow
from dream_assets_tests.servers.openai_stub import OpenAIStub, schema_instance, start_openai_stub, start_schema_llm
from dream_assets_tests.servers.process import stop, wait_for_http
from dream_assets_tests.servers.ray_head import (
    TRIAL_RESOURCE,
    RayHead,
    RayNode,
    listeners,
    start_ray_cluster,
    start_ray_head,
)
from dream_assets_tests.servers.s3 import S3Server, start_seaweedfs

__all__ = [
    "DagsterUI",
    "OpenAIStub",
    "PostgresServer",
    "RayHead",
    "RayNode",
    "S3Server",
    "TRIAL_RESOURCE",
    "free_port",
    "listeners",
    "schema_instance",
    "start_dagster_ui",
    "start_mlflow",
    "start_openai_stub",
    "start_postgres",
    "start_ray_cluster",
    "start_ray_head",
    "start_schema_llm",
    "start_seaweedfs",
    "stop",
    "wait_for_http",
]
