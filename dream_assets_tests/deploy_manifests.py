"""deploy/ read as Kubernetes would: the manifests, the Dagster Helm values as the pods the chart
renders from them, every pod's containers, environment and Secret keys; shared by the deploy
tests (`test_deploy_*.py`)."""

import copy
import functools
import json
import re
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
KUBERNETES_VERSION = "1.34.0"
CRD_SCHEMAS = {
    ("ray.io/v1", "RayCluster"): "raycluster.ray.io-v1.schema.json",
    ("argoproj.io/v1alpha1", "Application"): "application.argoproj.io-v1alpha1.schema.json",
}
MANIFEST_FILES = sorted(
    [*DEPLOY.glob("services/*.yaml"), *DEPLOY.glob("kuberay/*.yaml"), *DEPLOY.rglob("argocd/**/*.yaml")]
) + [DEPLOY / "secrets.example.yaml"]
SECRET = "dream-secrets"
DIGEST = re.compile(r"^[^@\s]+:[^@\s]+@sha256:[0-9a-f]{64}$")  # repository:tag@sha256:<64 hex>


def manifest_documents(paths=MANIFEST_FILES) -> list[dict]:
    return copy.deepcopy([doc for path in paths for doc in parsed_manifest(path, path.stat().st_mtime_ns)])


@functools.cache
def parsed_manifest(path: Path, mtime_ns: int) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def of_kind(kind: str, documents: list[dict] | None = None) -> list[dict]:
    return [doc for doc in (manifest_documents() if documents is None else documents) if doc["kind"] == kind]


def helm_values() -> dict:
    return yaml.safe_load((DEPLOY / "helm" / "dagster-values.yaml").read_text())


def crd_schema(doc: dict) -> dict:
    return json.loads((DEPLOY / "schemas" / CRD_SCHEMAS[(doc["apiVersion"], doc["kind"])]).read_text())


def pod_template(spec: dict, labels: dict | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "PodTemplate",
        "metadata": {"name": "t"},
        "template": {"metadata": {"labels": labels or {}}, "spec": spec},
    }


# Every pod DREAM runs ------------------------------------------------------------------------------


def ray_pods(ray: dict) -> dict[str, dict]:
    """The RayCluster's pods as KubeRay creates them: its labels added, the autoscaler sidecar
    (autoscalerOptions, the head's image) in the head pod."""
    name, spec = ray["metadata"]["name"], ray["spec"]
    head = copy.deepcopy(spec["headGroupSpec"]["template"])
    if spec.get("enableInTreeAutoscaling"):
        options = spec.get("autoscalerOptions", {})
        fields = ("env", "envFrom", "securityContext", "resources", "volumeMounts")
        autoscaler = {"name": "autoscaler", "image": options.get("image", head["spec"]["containers"][0]["image"])}
        head["spec"]["containers"].append({**autoscaler, **{key: options[key] for key in fields if key in options}})
    pods = {f"{name}-head": (head, {"ray.io/node-type": "head"})}
    for group in spec["workerGroupSpecs"]:
        pods[f"{name}-{group['groupName']}-worker"] = (group["template"], {"ray.io/node-type": "worker"})
    return {
        pod: {
            "labels": {**template.get("metadata", {}).get("labels", {}), "ray.io/cluster": name, **extra},
            "spec": template["spec"],
        }
        for pod, (template, extra) in pods.items()
    }


def dagster_pods(values: dict) -> dict[str, dict]:
    """The pods the Dagster chart (1.13) and its K8sRunLauncher render from `values`: the run and
    step pods (the run launcher's configuration, which k8s_job_executor's step pods inherit), the
    code server, the webserver and the daemon, each with the storage password the chart adds and
    the chart's init containers (check-db-ready from postgresql.image, the webserver's wait for
    the code server from busybox.image)."""

    def image(spec: dict) -> str:
        return f"{spec['repository']}:{spec['tag']}"

    secret = {"name": values["global"]["postgresqlSecretName"], "key": "postgresql-password"}
    storage = {"name": "DAGSTER_PG_PASSWORD", "valueFrom": {"secretKeyRef": secret}}

    def pod(labels: dict, base: dict, section: dict, init: tuple = (), **container) -> dict:
        container = {
            "name": "dagster",
            "env": [storage, *section.get("env", [])],
            "envFrom": [{"configMapRef": ref} for ref in section.get("envConfigMaps", [])],
            "securityContext": section["securityContext"],
            "volumeMounts": section["volumeMounts"],
            **container,
        }
        shared = {"securityContext": section["securityContext"], "resources": section.get("initContainerResources")}
        spec = {**base, "volumes": section["volumes"], "containers": [container]}
        spec |= {"initContainers": [{"name": name, "image": ref, **shared} for name, ref in init]} if init else {}
        return {"labels": labels, "spec": spec}

    [code] = values["dagster-user-deployments"]["deployments"]
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    run = launcher["runK8sConfig"]
    pods = {
        f"dagster-{kind}": pod(
            {**launcher["labels"], "app.kubernetes.io/component": f"{kind}_worker"},
            run["podSpecConfig"],
            {**launcher, "env": run["containerConfig"]["env"]},
            image=image(code["image"]),
            resources=run["containerConfig"]["resources"],
        )
        for kind in ("run", "step")
    }
    pods["dagster-code-server"] = pod(
        {"component": "user-deployments", "deployment": code["name"], **code["labels"]},
        {"securityContext": code["podSecurityContext"]},
        code,
        image=image(code["image"]),
        resources=code["resources"],
        ports=[{"containerPort": code["port"]}],
    )
    check_db = ("check-db-ready", image(values["postgresql"]["image"]))
    for component, init, ports in (
        ("webserver", (check_db, ("init-user-deployment", image(values["busybox"]["image"]))), [{"containerPort": 80}]),
        ("daemon", (check_db,), []),
    ):
        section = values[f"dagster{component.title()}"]
        pods[f"dagster-{component}"] = pod(
            {"component": f"dagster-{component}", **section["labels"]},
            {"securityContext": section["podSecurityContext"]},
            section,
            init,
            image=image(section["image"]),
            resources=section["resources"],
            ports=ports,
        )
    return pods


def all_pods(documents: list[dict] | None = None, values: dict | None = None) -> dict[str, dict]:
    """Every pod DREAM runs in the namespace, by name: its labels and pod spec (the workloads'
    templates, the RayCluster's pods, the Dagster chart's pods)."""
    documents = manifest_documents() if documents is None else documents
    pods = {}
    for doc in documents:
        if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
            template = doc["spec"]["template"]
            pods[doc["metadata"]["name"]] = {
                "labels": template.get("metadata", {}).get("labels", {}),
                "spec": template["spec"],
            }
        elif doc["kind"] == "RayCluster":
            pods.update(ray_pods(doc))
    pods.update(dagster_pods(helm_values() if values is None else values))
    return {name: copy.deepcopy(pod) for name, pod in pods.items()}  # no spec shared between two pods


def containers_of(spec: dict) -> list[dict]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def environment_of(container: dict, documents: list[dict] | None = None) -> dict[str, str]:
    """A container's environment as the kubelet builds it: its envFrom sources, then its env
    in order, configMapKeyRef and secretKeyRef resolved from the manifests (the Secret's template
    values), each $(NAME) expanded from the variables defined before it."""
    documents = manifest_documents() if documents is None else documents
    maps = {c["metadata"]["name"]: c["data"] for c in of_kind("ConfigMap", documents)}
    secrets = {s["metadata"]["name"]: s["stringData"] for s in of_kind("Secret", documents)}
    environment = {}
    for source in container.get("envFrom", []):
        environment.update(
            maps[source["configMapRef"]["name"]] if "configMapRef" in source else secrets[source["secretRef"]["name"]]
        )
    for variable in container.get("env", []):
        if "value" in variable:
            value = re.sub(r"\$\((\w+)\)", lambda m: environment.get(m[1], m[0]), variable["value"])
        elif "configMapKeyRef" in variable["valueFrom"]:
            ref = variable["valueFrom"]["configMapKeyRef"]
            value = maps[ref["name"]][ref["key"]]
        else:
            ref = variable["valueFrom"]["secretKeyRef"]
            value = secrets[ref["name"]][ref["key"]]
        environment[variable["name"]] = value
    return environment


def secret_keys_of(container: dict) -> dict[str, str]:
    """The container's variables read from a Secret: {variable: Secret key}."""
    return {
        variable["name"]: variable["valueFrom"]["secretKeyRef"]["key"]
        for variable in container.get("env", [])
        if "secretKeyRef" in variable.get("valueFrom", {})
    }


def run_pod_environment() -> dict[str, str]:
    """What a Dagster run pod's process sees (ConfigMap dream-config and the run launcher's env)."""
    return environment_of(all_pods()["dagster-run"]["spec"]["containers"][0])


# Schemas -------------------------------------------------------------------------------------------


def created_buckets() -> set[str]:
    """The buckets the object store's bucket Job creates."""
    [job] = [j for j in of_kind("Job") if j["metadata"]["name"] == "seaweedfs-buckets"]
    script = job["spec"]["template"]["spec"]["containers"][0]["args"][0]
    return set(re.findall(r'"([\w-]+)"', re.search(r"for bucket in \(([^)]*)\)", script)[1]))
