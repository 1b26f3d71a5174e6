"""DREAM's settings from the environment, in one object (pydantic-settings).

Every environment variable DREAM reads is a field of `DreamSettings` (the README's settings
table lists them). `settings()` reads the environment afresh on each call, because the `dream`
command sets some variables (`DREAM_HOME`, `DREAM_LLM_TABLE`) for itself and its subprocesses
before the resources are built. The Kubernetes deployment's resources read theirs through
Dagster's `EnvVar` at run time (`dream_assets.deployments.k8s_resources`), named by the same
fields' variables. Variables DREAM sets for its own child processes (`DREAM_INTRA_OP_THREADS`,
`DREAM_CONFIGURATION_HASH`) are not settings.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class DreamSettings(BaseSettings):
    """What the environment configures (each field: `DREAM_<FIELD>`, unless it says another name).

    Raises (on construction):
        pydantic.ValidationError: naming the variable, when one holds a value of the wrong kind
            (`DREAM_SENSOR_INTERVAL_S=soon`).
    """

    model_config = SettingsConfigDict(env_prefix="DREAM_", extra="ignore", populate_by_name=True)

    home: Path | None = Field(
        default=None, description="The state directory (default: `./.dream` of the working directory)."
    )
    deployment: str = Field(
        default="local", description="`local`: embedded defaults; `k8s`: the cluster's services (deploy/)."
    )
    pdf_source: str | None = Field(
        default=None, description="`dream run --source`, and the documents of `dream ui`'s definitions."
    )
    search_space: Path | None = Field(default=None, description="`--search-space` of `dream run` and `dream ui`.")
    llm_table: Path | None = Field(
        default=None, description="The LLM table: prices, rate limits, retries (default: `./llms.yaml`, else shipped)."
    )
    llm_api_base: str | None = Field(default=None, description="An OpenAI-compatible endpoint for LLMs not bundled.")
    llm_api_key: SecretStr | None = Field(default=None, description="That endpoint's key.")
    pg_dsn: SecretStr | None = Field(default=None, description="PostgreSQL + pgvector (ingestion; `k8s` indexes).")
    oscar_source: str | None = Field(
        default=None, description="OSCAR JSONL shards of the bulk ingestion (default: `<home>/oscar_inbox`)."
    )
    s3_bucket: str | None = Field(default=None, description="`k8s`: the object store's bucket.")
    tune_storage: str | None = Field(default=None, description="`k8s`: Ray Tune's results, an `s3://` URI.")
    node_scratch: Path | None = Field(default=None, description="Ray nodes' local copies of indexes and models.")
    sensor_interval_s: int = Field(default=30, gt=0, description="Seconds between two looks at each watched source.")
    refresh_lock_wait_s: float = Field(
        default=3600.0, ge=0, description="Seconds a refresh waits for a state directory a `dream run` holds."
    )
    ray_address: str | None = Field(
        default=None,
        validation_alias=AliasChoices("RAY_ADDRESS"),
        description="A Ray cluster to join (default: a local Ray started in-process).",
    )
    opensearch_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENSEARCH_URL"),
        description="An OpenSearch cluster for the bulk ingestion's second store.",
    )

    def state_dir(self) -> Path:
        """The state directory, absolute: `home`, else `./.dream` of the working directory."""
        return (self.home or Path.cwd() / ".dream").resolve()


def env_name(field: str) -> str:
    """The environment variable of `DreamSettings` field `field` (`home` → `DREAM_HOME`)."""
    alias = DreamSettings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"DREAM_{field.upper()}"


def settings() -> DreamSettings:
    """The settings as the environment holds them now.

    Raises:
        pydantic.ValidationError: when a variable holds a value of the wrong kind.
    """
    return DreamSettings()
