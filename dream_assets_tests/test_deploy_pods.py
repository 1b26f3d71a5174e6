"""Least privilege, pod by pod: every pod meets the Pod Security Standard "restricted" with
bounded resources and images pinned by digest, reads only the Secret keys of its role, runs Ray
with its token, and talks to PostgreSQL and the object store as its own role or identity. Each
check is also run on a broken copy of a manifest, to prove it can fail."""

import copy
import json
import re
from urllib.parse import urlparse

from dream_assets_tests.deploy_manifests import (
    DEPLOY,
    DIGEST,
    SECRET,
    all_pods,
    containers_of,
    created_buckets,
    environment_of,
    helm_values,
    of_kind,
    run_pod_environment,
    secret_keys_of,
)

_RESTRICTED_VOLUMES = set("configMap csi downwardAPI emptyDir ephemeral persistentVolumeClaim projected secret".split())


def _restricted_violations(spec: dict) -> list[str]:
    """What keeps a pod spec from the Pod Security Standard "restricted" (the checks of Kubernetes'
    pod security admission that bear on fields DREAM sets), and from DREAM's own rules: a
    read-only root filesystem, CPU and memory requests and limits on every container."""
    pod = spec.get("securityContext", {})
    problems = [flag for flag in ("hostNetwork", "hostPID", "hostIPC") if spec.get(flag)]
    problems += [f"volume {v['name']}" for v in spec.get("volumes", []) if not set(v) - {"name"} <= _RESTRICTED_VOLUMES]
    for container in containers_of(spec):
        context, name = container.get("securityContext", {}), container["name"]
        if context.get("runAsNonRoot", pod.get("runAsNonRoot")) is not True:
            problems.append(f"{name}: runAsNonRoot")
        if context.get("runAsUser", pod.get("runAsUser")) == 0:
            problems.append(f"{name}: runAsUser 0")
        seccomp = context.get("seccompProfile") or pod.get("seccompProfile") or {}
        if seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile")
        if context.get("privileged") or context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: privilege escalation")
        capabilities = context.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []) or set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: capabilities")
        if any(port.get("hostPort") for port in container.get("ports", [])):
            problems.append(f"{name}: hostPort")
        if context.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: writable root filesystem")
        for bound in ("requests", "limits"):
            if {"cpu", "memory"} - set(container.get("resources", {}).get(bound, {})):
                problems.append(f"{name}: no cpu and memory {bound}")
    return problems


def test_the_namespace_enforces_the_restricted_standard():
    [namespace] = of_kind("Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    # the KubeRay operator runs in a namespace of its own
    [operator] = [a for a in of_kind("Application") if a["metadata"]["name"] == "kuberay-operator"]
    assert operator["spec"]["destination"]["namespace"] != namespace["metadata"]["name"]


def test_every_pod_is_restricted_and_bounded():
    pods = all_pods()
    assert {"seaweedfs", "postgres", "opensearch", "rag-server", "dream-ray-head", "dagster-run"} <= pods.keys()
    for name, pod in pods.items():
        assert _restricted_violations(pod["spec"]) == [], name
    # no privileged init container raises vm.max_map_count: OpenSearch stores without mmap
    opensearch = pods["opensearch"]["spec"]["containers"][0]
    assert {"name": "node.store.allow_mmap", "value": "false"} in opensearch["env"]
    # broken copies: each rule catches its mistake
    spec = pods["rag-server"]["spec"]
    without_context = copy.deepcopy(spec)
    del without_context["securityContext"], without_context["containers"][0]["securityContext"]
    assert {"rag-server: runAsNonRoot", "rag-server: seccompProfile"} <= set(_restricted_violations(without_context))
    escalating = copy.deepcopy(spec)
    escalating["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    assert _restricted_violations(escalating) == ["rag-server: privilege escalation"]
    unlimited = copy.deepcopy(pods["opensearch"]["spec"])
    del unlimited["initContainers"][0]["resources"]["limits"]
    assert _restricted_violations(unlimited) == ["config: no cpu and memory limits"]
    privileged_init = copy.deepcopy(pods["opensearch"]["spec"])
    privileged_init["initContainers"][0]["securityContext"] = {"privileged": True}
    assert "config: privilege escalation" in _restricted_violations(privileged_init)


def _unpinned_images(pods: dict[str, dict]) -> list[str]:
    return [c["image"] for pod in pods.values() for c in containers_of(pod["spec"]) if not DIGEST.match(c["image"])]


def test_images_are_pinned_by_digest_from_one_list():
    pods = all_pods()
    assert _unpinned_images(pods) == []
    listed = {line for line in (DEPLOY / "images.txt").read_text().splitlines() if line and not line.startswith("#")}
    used = {c["image"] for pod in pods.values() for c in containers_of(pod["spec"])}
    assert used == listed  # every image in the list, with the list's digest; no stale entry
    broken = copy.deepcopy(pods)
    broken["mlflow"]["spec"]["containers"][0]["image"] = "registry.example.com/dream:0.1.0"
    assert _unpinned_images(broken) == ["registry.example.com/dream:0.1.0"]


# Secrets: key by key, each pod only the keys of its role ---------------------------------------------


def _s3_keys(*identities: str) -> set[str]:
    return {f"S3_{who}_{half}" for who in identities for half in ("ACCESS_KEY_ID", "SECRET_ACCESS_KEY")}


_PIPELINE_KEYS = {"RAY_AUTH_TOKEN", "PG_DREAM_APP_PASSWORD", "MLFLOW_PIPELINE_PASSWORD", "DREAM_LLM_API_KEY"}
_PIPELINE_KEYS |= _s3_keys("PIPELINE")
_SECRET_KEYS_BY_POD = {
    "seaweedfs": _s3_keys("ADMIN", "PIPELINE", "MLFLOW", "SERVING", "DAGSTER", "INBOX"),  # the identities file
    "seaweedfs-buckets": _s3_keys("ADMIN"),
    "postgres": {"POSTGRES_PASSWORD", "postgresql-password"}  # and the roles' passwords, for the init script
    | {f"PG_{role}_PASSWORD" for role in ("DREAM_APP", "DREAM_SERVE", "MLFLOW")},
    "mlflow": {"MLFLOW_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY", "PG_MLFLOW_PASSWORD"} | _s3_keys("MLFLOW"),
    "mlflow-users": {"MLFLOW_ADMIN_PASSWORD", "MLFLOW_PIPELINE_PASSWORD", "MLFLOW_SERVE_PASSWORD"},
    "opensearch": set(),
    "rag-server": {"MLFLOW_SERVE_PASSWORD", "PG_DREAM_SERVE_PASSWORD", "DREAM_LLM_API_KEY"} | _s3_keys("SERVING"),
    **dict.fromkeys(["dream-ray-head", "dream-ray-cpu-worker", "dream-ray-gpu-worker"], _PIPELINE_KEYS),
    **dict.fromkeys(["dagster-run", "dagster-step"], _PIPELINE_KEYS | {"postgresql-password"}),
    **dict.fromkeys(["dagster-code-server", "dagster-webserver"], _s3_keys("DAGSTER") | {"postgresql-password"}),
    "dagster-daemon": {"postgresql-password"},
}


def _whole_secret_mounts(spec: dict) -> list[str]:
    """Secrets a pod takes whole (envFrom of a Secret, a Secret volume without `items`), where it
    should name the keys it reads."""
    problems = [
        f"{c['name']}: envFrom {source['secretRef']['name']}"
        for c in containers_of(spec)
        for source in c.get("envFrom", [])
        if "secretRef" in source
    ]
    for volume in spec.get("volumes", []):
        sources = [volume] + [s for s in volume.get("projected", {}).get("sources", [])]
        problems += [f"volume {volume['name']}" for s in sources if "secret" in s and not s["secret"].get("items")]
    return problems


def test_no_pod_takes_a_secret_whole():
    pods = all_pods()
    for name, pod in pods.items():
        assert _whole_secret_mounts(pod["spec"]) == [], name
    enveloped = copy.deepcopy(pods["rag-server"]["spec"])
    enveloped["containers"][0]["envFrom"].append({"secretRef": {"name": SECRET}})
    assert _whole_secret_mounts(enveloped) == [f"rag-server: envFrom {SECRET}"]
    mounted = copy.deepcopy(pods["mlflow"]["spec"])
    mounted["volumes"].append({"name": "keys", "secret": {"secretName": SECRET}})
    assert _whole_secret_mounts(mounted) == ["volume keys"]
    mounted["volumes"][-1]["secret"]["items"] = [{"key": "MLFLOW_ADMIN_PASSWORD", "path": "admin"}]
    assert _whole_secret_mounts(mounted) == []


def _secret_keys_by_pod(pods: dict[str, dict]) -> dict[str, set[str]]:
    return {name: {k for c in containers_of(p["spec"]) for k in secret_keys_of(c).values()} for name, p in pods.items()}


def test_each_pod_reads_only_the_secret_keys_of_its_role():
    pods = all_pods()
    assert _secret_keys_by_pod(pods) == _SECRET_KEYS_BY_POD
    [secret] = of_kind("Secret")
    assert set().union(*_SECRET_KEYS_BY_POD.values()) == secret["stringData"].keys()  # each key exists, has a use
    # references point at the Secret; a key given to a pod that has no use for it is caught
    sources = [
        v.get("valueFrom", {}) for p in pods.values() for c in containers_of(p["spec"]) for v in c.get("env", [])
    ]
    assert {source["secretKeyRef"]["name"] for source in sources if "secretKeyRef" in source} == {SECRET}
    broken = copy.deepcopy(pods)
    broken["rag-server"]["spec"]["containers"][0]["env"].append(
        {"name": "RAY_AUTH_TOKEN", "valueFrom": {"secretKeyRef": {"name": SECRET, "key": "RAY_AUTH_TOKEN"}}}
    )
    assert _secret_keys_by_pod(broken) != _SECRET_KEYS_BY_POD


# Ray token -----------------------------------------------------------------------------------------


def _ray_token_problems(pods: dict[str, dict]) -> list[str]:
    """Ray pods (every container: Ray, the autoscaler, what KubeRay copies into its init
    container) and Ray's clients (Dagster's run and step pods) without RAY_AUTH_MODE=token and
    RAY_AUTH_TOKEN from the Secret."""
    problems = []
    for name, pod in pods.items():
        if "ray.io/cluster" not in pod["labels"] and pod["labels"].get("app") != "dagster-run":
            continue
        for container in pod["spec"]["containers"]:
            modes = [v.get("value") for v in container.get("env", []) if v["name"] == "RAY_AUTH_MODE"]
            if modes != ["token"] or secret_keys_of(container).get("RAY_AUTH_TOKEN") != "RAY_AUTH_TOKEN":
                problems.append(f"{name}/{container['name']}")
    return problems


def test_ray_requires_its_token():
    pods = all_pods()
    assert _ray_token_problems(pods) == []
    assert {"dream-ray-head", "dream-ray-cpu-worker", "dagster-run", "dagster-step"} <= pods.keys()
    [config] = [c for c in of_kind("ConfigMap") if c["metadata"]["name"] == "dream-config"]
    assert "RAY_AUTH_MODE" not in config["data"]  # no pod gets `disabled` from the ConfigMap
    disabled = copy.deepcopy(pods)
    [mode] = [v for v in disabled["dream-ray-head"]["spec"]["containers"][1]["env"] if v["name"] == "RAY_AUTH_MODE"]
    mode["value"] = "disabled"
    assert _ray_token_problems(disabled) == ["dream-ray-head/autoscaler"]
    tokenless = copy.deepcopy(pods)
    env = tokenless["dagster-step"]["spec"]["containers"][0]["env"]
    env[:] = [v for v in env if v["name"] != "RAY_AUTH_TOKEN"]
    assert "dagster-step/dagster" in _ray_token_problems(tokenless)


# NetworkPolicies -----------------------------------------------------------------------------------


def _postgres_roles(pods: dict[str, dict]) -> dict[str, str]:
    """The PostgreSQL role of every PostgreSQL URL in the pods' environments and arguments."""
    roles = {}
    for name, pod in pods.items():
        for container in containers_of(pod["spec"]):
            texts = [*environment_of(container).values(), *container.get("args", [])]
            roles.update({f"{name}: {url}": urlparse(url).username for url in texts if url.startswith("postgresql")})
    return roles


def test_postgres_clients_use_their_own_non_superuser_role():
    pods = all_pods()
    roles = _postgres_roles(pods)
    by_pod = {key.split(":")[0]: role for key, role in roles.items()}
    pipeline = ["dagster-run", "dagster-step", "dream-ray-head", "dream-ray-cpu-worker", "dream-ray-gpu-worker"]
    assert by_pod == {"mlflow": "mlflow", "rag-server": "dream_serve", **dict.fromkeys(pipeline, "dream_app")}
    init = [c for c in of_kind("ConfigMap") if c["metadata"]["name"] == "postgres-init"][0]["data"]["10-roles.sh"]
    created = dict(re.findall(r"CREATE ROLE (\w+) LOGIN (NOSUPERUSER) ", init))
    assert set(by_pod.values()) | {helm_values()["postgresql"]["postgresqlUsername"]} <= created.keys()
    assert "GRANT SELECT ON TABLES TO dream_serve" in init and "CREATE ON SCHEMA public TO dream_serve" not in init
    # every database a client names is created (dream: the image's POSTGRES_DB), and no other
    ini = [c for c in of_kind("ConfigMap") if c["metadata"]["name"] == "mlflow-auth"][0]["data"]["basic_auth.ini"]
    auth = urlparse(re.search(r"database_uri = (\S+)", ini)[1])
    databases = {urlparse(key.split(": ", 1)[1]).path.lstrip("/") for key in roles} | {auth.path.lstrip("/")}
    databases.add(helm_values()["postgresql"]["postgresqlDatabase"])  # Dagster's storage
    assert databases == set(re.findall(r"CREATE DATABASE (\w+) ", init)) | {"dream"}
    assert auth.username == "mlflow" and auth.password is None  # from PGPASSWORD
    broken = copy.deepcopy(pods)
    [dsn] = [v for v in broken["rag-server"]["spec"]["containers"][0]["env"] if v["name"] == "DREAM_PG_DSN"]
    dsn["value"] = dsn["value"].replace("dream_serve", "postgres")
    assert "postgres" in _postgres_roles(broken).values()


def _s3_identities(pods: dict[str, dict]) -> dict[str, list[str]]:
    """The object store's identities as the Secret key of their access key: {key: actions}."""
    [init] = pods["seaweedfs"]["spec"]["initContainers"]
    [config] = [v["value"] for v in init["env"] if v["name"] == "S3_CONFIG"]
    keys = secret_keys_of(init)
    return {
        keys[re.fullmatch(r"\$\((\w+)\)", identity["credentials"][0]["accessKey"])[1]]: identity["actions"]
        for identity in json.loads(config)["identities"]
    }


def _s3_rights(pods: dict[str, dict]) -> dict[str, set[str]]:
    """Each pod's object-store actions, from the identity of the access key it holds."""
    identities = _s3_identities(pods)
    return {
        name: set(identities[secret_keys_of(container)["AWS_ACCESS_KEY_ID"]])
        for name, pod in pods.items()
        for container in pod["spec"]["containers"]
        if "AWS_ACCESS_KEY_ID" in secret_keys_of(container)
    }


def test_each_component_has_its_own_object_store_identity():
    pods = all_pods()
    rights = _s3_rights(pods)
    bucket = run_pod_environment()["DREAM_S3_BUCKET"]
    inbox = urlparse(run_pod_environment()["DREAM_PDF_SOURCE"]).hostname
    logs = helm_values()["computeLogManager"]["config"]["s3ComputeLogManager"]["bucket"]
    assert rights["rag-server"] == {f"Read:{bucket}", f"List:{bucket}"}  # the served model, read-only
    assert {f"Write:{bucket}", f"Read:{inbox}", f"Write:{logs}"} <= rights["dagster-run"] == rights["dream-ray-head"]
    assert f"Write:{inbox}" not in rights["dagster-run"]
    assert rights["mlflow"] == {"Read:mlflow", "Write:mlflow", "List:mlflow"}
    assert (
        rights["dagster-webserver"] == rights["dagster-code-server"]
        and f"Write:{bucket}" not in rights["dagster-webserver"]
    )
    assert [name for name, actions in rights.items() if "Admin" in actions] == ["seaweedfs-buckets"]
    named = {action.split(":")[1] for actions in _s3_identities(pods).values() for action in actions if ":" in action}
    assert named == created_buckets() == {bucket, inbox, logs, "mlflow"}
    broken = copy.deepcopy(pods)
    [init] = broken["seaweedfs"]["spec"]["initContainers"]
    [config] = [v for v in init["env"] if v["name"] == "S3_CONFIG"]
    config["value"] = config["value"].replace('"actions": ["Read:dream", "List:dream"]', '"actions": ["Admin"]')
    assert "Admin" in _s3_rights(broken)["rag-server"]


# The image -----------------------------------------------------------------------------------------


def _step_resources_problems(tags_by_step: dict[str, dict]) -> list[str]:
    """Steps (and runs) whose `dagster-k8s/config` tag sets requests without equal limits."""
    problems = []
    for step, tags in tags_by_step.items():
        config = tags.get("dagster-k8s/config", {})
        config = json.loads(config) if isinstance(config, str) else config  # Dagster keeps tags as JSON text
        resources = config.get("container_config", {}).get("resources")
        if resources is not None and resources.get("limits") != resources.get("requests"):
            problems.append(step)
    return problems


def test_every_sized_step_asks_for_limits_equal_to_its_requests():
    from dream_assets.definitions import build_definitions
    from dream_assets.deployments import k8s_resources

    defs = build_definitions(k8s_resources())
    tags = {
        **{
            assets.node_def.name: dict(assets.node_def.tags)
            for assets in defs.resolve_asset_graph().assets_defs
            if assets.is_executable
        },
        **{job.name: dict(job.tags) for job in defs.resolve_all_job_defs()},
    }
    sized = [step for step, step_tags in tags.items() if "dagster-k8s/config" in step_tags]
    assert len(sized) >= 6 and not _step_resources_problems(tags)
    # requests above the run launcher's limits: a pod Kubernetes refuses
    requests_only = {"container_config": {"resources": {"requests": {"cpu": "4"}}}}
    broken = {"embedding_index": {"dagster-k8s/config": requests_only}}
    assert _step_resources_problems(broken) == ["embedding_index"]
