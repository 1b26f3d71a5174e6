"""Ray: a local Ray started in-process (the embedded default) or an existing cluster."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

# Environment of every Ray worker: models load offline, and each worker keeps to its CPU share.
WORKER_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "OMP_NUM_THREADS": "1",
}


class RayCluster(dg.ConfigurableResource):
    """Where Ray tasks and Tune trials run.

    With `address` unset, `connect` starts a local Ray with `num_cpus` CPUs inside the Dagster
    step (the embedded default); with `address` set (`ray://head:10001` for Ray Client, or
    `auto`), it joins that cluster. Ray 2.60 enables token authentication by itself when
    `~/.ray/auth_token` exists, so set `RAY_AUTH_MODE` explicitly in the environment (the
    Makefile and deploy/ do: `disabled` locally, `token` on a cluster).
    """

    address: str | None = Field(default=None, description="Cluster address; None starts Ray locally.")
    num_cpus: int = Field(default=2, description="CPUs of a local Ray.")
    max_concurrent_trials: int = Field(default=2, description="Tune trials running at once.")
    storage_path: str = Field(
        description=(
            "Ray Tune results directory: an absolute path (one machine) or a URI that every run"
            " pod reaches, e.g. s3://bucket/ray_results (pyarrow's S3 filesystem, which reads"
            " AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from the environment),"
            " so that Tuner.restore works from a new pod."
        )
    )
    scratch_dir: str = Field(
        description=(
            "Node-local directory where each node caches downloaded indexes and LLM answers (a"
            " miss on another node downloads or asks again); a node with DREAM_NODE_SCRATCH in"
            " its environment keeps them under that directory instead."
        )
    )
    trial_resources: dict[str, float] = Field(
        default={"CPU": 1.0},
        description=(
            "Ray resources each Tune trial reserves; add a custom resource (e.g. dream_trials: 1)"
            " to keep trials on the nodes started with it (ray start --resources)."
        ),
    )
    lost_trial_retries: int = Field(
        default=2,
        ge=0,
        description=(
            "Times a trial whose worker or node was lost runs again on the remaining nodes,"
            " resuming from its saved answers (a trial's own error is never retried)."
        ),
    )

    def connect(self) -> None:
        """Initialises Ray in this process once (a second call is a no-op)."""
        import ray

        if ray.is_initialized():
            return
        runtime_env = {"env_vars": WORKER_ENV}
        if self.address:
            ray.init(address=self.address, runtime_env=runtime_env, log_to_driver=False)
        else:
            ray.init(
                num_cpus=self.num_cpus,
                include_dashboard=False,
                runtime_env=runtime_env,
                log_to_driver=False,
                configure_logging=False,
            )
