"""The size of the Kubernetes pod a step (or a run) gets under the k8s deployment."""


def pod_resources(cpu: str, memory: str) -> dict:
    """The `dagster-k8s/config` tag giving a step's (or run's) pod `cpu` and `memory` (Kubernetes
    quantities, e.g. "4" and "12Gi") as both its requests and its limits: the Guaranteed QoS
    class, and never requests above the limits the run launcher sets by default (which
    Kubernetes refuses), since dagster-k8s merges a tag over the launcher's resources."""
    resources = {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}}
    return {"dagster-k8s/config": {"container_config": {"resources": resources}}}
