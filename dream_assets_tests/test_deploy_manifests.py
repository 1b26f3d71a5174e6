"""deploy/ validated offline: Kubernetes manifests against the OpenAPI schemas of Kubernetes
1.34 (kubernetes-validate), CRs against their CRD schemas stored in deploy/schemas, the Dagster
Helm values by key path and as the pods the chart renders from them, and the k8s deployment's
wiring against the manifests' services."""

import re
from urllib.parse import urlparse

import dagster as dg
import jsonschema
import kubernetes_validate
import pytest

from dream_assets.definitions import build_definitions
from dream_assets.deployments import executor_for, k8s_resources
from dream_assets_tests.deploy_manifests import (
    CRD_SCHEMAS,
    DEPLOY,
    KUBERNETES_VERSION,
    MANIFEST_FILES,
    all_pods,
    containers_of,
    crd_schema,
    created_buckets,
    dagster_pods,
    environment_of,
    helm_values,
    manifest_documents,
    of_kind,
    pod_template,
    ray_pods,
    run_pod_environment,
)


@pytest.mark.parametrize("path", MANIFEST_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_manifest_validates(path):
    for doc in manifest_documents([path]):
        if (doc["apiVersion"], doc["kind"]) in CRD_SCHEMAS:
            jsonschema.validate(doc, crd_schema(doc))
        else:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        if doc["kind"] == "RayCluster":  # its pod templates, the autoscaler container in the head's
            for pod in ray_pods(doc).values():
                kubernetes_validate.validate(pod_template(pod["spec"], pod["labels"]), KUBERNETES_VERSION, strict=True)


def test_the_dagster_charts_pods_validate():
    """The Kubernetes fragments of the Helm values (security contexts, env, volumes, resources),
    assembled into the pods the chart renders, are valid pod specs."""
    for pod in dagster_pods(helm_values()).values():
        kubernetes_validate.validate(pod_template(pod["spec"], pod["labels"]), KUBERNETES_VERSION, strict=True)


def test_validation_catches_mistakes():
    [ray] = of_kind("RayCluster")
    broken = {**ray, "spec": {**ray["spec"], "workerGroupSpec": []}}  # typo of workerGroupSpecs
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, crd_schema(ray))
    [service] = [s for s in of_kind("Service") if s["metadata"]["name"] == "seaweedfs"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate({**service, "spec": {"portz": []}}, KUBERNETES_VERSION, strict=True)


def test_ray_worker_groups_have_autoscaling_bounds():
    [ray] = of_kind("RayCluster")
    for group in ray["spec"]["workerGroupSpecs"]:
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    gpu = [g for g in ray["spec"]["workerGroupSpecs"] if g["groupName"] == "gpu"]
    assert gpu and gpu[0]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_dagster_helm_values_key_paths():
    values = helm_values()
    [deployment] = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "dream_assets.definitions"]
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": False}  # runs get the launcher's keys only
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    configmaps = {c["metadata"]["name"] for c in of_kind("ConfigMap")}
    for holder in (deployment, launcher):
        assert {c["name"] for c in holder["envConfigMaps"]} <= configmaps
    for section in (deployment, launcher, values["dagsterWebserver"], values["dagsterDaemon"]):
        assert "envSecrets" not in section  # the whole Secret in a pod: keys go one by one (env)
    assert set(launcher["runK8sConfig"]) == {"podSpecConfig", "containerConfig"}
    # Dagster's storage: database dagster of the namespace's PostgreSQL, not the chart's own
    postgresql = values["postgresql"]
    assert postgresql["enabled"] is False and values["generatePostgresqlPasswordSecret"] is False
    assert (postgresql["postgresqlHost"], postgresql["service"]["port"]) == ("postgres.dream.svc.cluster.local", 5432)
    assert (postgresql["postgresqlUsername"], postgresql["postgresqlDatabase"]) == ("dagster", "dagster")
    [init] = [c for c in of_kind("ConfigMap") if c["metadata"]["name"] == "postgres-init"]
    assert "CREATE DATABASE dagster OWNER dagster;" in init["data"]["10-roles.sh"]
    # step logs go to a bucket the bucket Job creates, at the object store the manifests provide
    logs = values["computeLogManager"]
    assert logs["type"] == "S3ComputeLogManager"
    s3 = logs["config"]["s3ComputeLogManager"]
    assert s3["endpointUrl"] == run_pod_environment()["AWS_ENDPOINT_URL"]
    assert s3["bucket"] in created_buckets()


def test_k8s_resources_read_only_variables_the_manifests_provide():
    provided = run_pod_environment()
    wanted = {
        value.env_var_name
        for resource in k8s_resources().values()
        for key, value in vars(resource).items()
        if not key.startswith("_") and isinstance(value, dg.EnvVar)
    }
    assert {"AWS_SECRET_ACCESS_KEY", "MLFLOW_TRACKING_URI", "RAY_ADDRESS", "DREAM_LLM_API_BASE"} <= wanted
    assert wanted <= provided.keys(), wanted - provided.keys()


def test_service_urls_point_at_services_the_manifests_create():
    services = {s["metadata"]["name"]: {p["port"] for p in s["spec"]["ports"]} for s in of_kind("Service")}
    for ray in of_kind("RayCluster"):  # KubeRay creates <name>-head-svc with the head's ports
        head = ray["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
        services[f"{ray['metadata']['name']}-head-svc"] = {p["containerPort"] for p in head["ports"]}
    urls = {}
    for name, pod in all_pods().items():
        for container in containers_of(pod["spec"]):
            for key, value in environment_of(container).items():
                if "://" in value and not value.startswith("s3://"):
                    urls[f"{name}: {key}"] = value
            urls.update({f"{name}: args": a for a in container.get("args", []) if re.match(r"^postgresql\S*://", a)})
    ini = [c for c in of_kind("ConfigMap") if c["metadata"]["name"] == "mlflow-auth"][0]["data"]["basic_auth.ini"]
    urls["mlflow: auth database"] = re.search(r"database_uri = (\S+)", ini)[1]
    run_pod = {key.removeprefix("dagster-run: ") for key in urls if key.startswith("dagster-run: ")}
    assert {"AWS_ENDPOINT_URL", "MLFLOW_TRACKING_URI", "RAY_ADDRESS", "DREAM_LLM_API_BASE", "DREAM_PG_DSN"} <= run_pod
    assert "mlflow: args" in urls and "rag-server: DREAM_PG_DSN" in urls
    for name, url in urls.items():
        parsed = urlparse(url)
        service, namespace = parsed.hostname.split(".")[:2]
        assert namespace == "dream", name
        assert parsed.port in services.get(service, set()), (name, url)


def test_k8s_definitions_load_with_the_manifests_environment(monkeypatch):
    for key, value in run_pod_environment().items():
        monkeypatch.setenv(key, value)
    defs = build_definitions(k8s_resources(), executor_for("k8s"))
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def("sweep_job").executor_def.name == "k8s"


# Pod Security Standard "restricted", bounded resources, pinned images -------------------------------
