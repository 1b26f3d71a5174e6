"""The NetworkPolicies evaluated pod to pod: each pod reaches only the services it uses, no
policy admits every pod, rag-server cannot reach Ray, and MLflow asks every client to log in.
Each check is also run on a broken copy of a policy, to prove it can fail."""

import copy

from dream_assets_tests.deploy_manifests import (
    all_pods,
    environment_of,
    of_kind,
    secret_keys_of,
)

_NAMESPACE_LABELS = {"kubernetes.io/metadata.name": "dream"}


def _selects(selector: dict, labels: dict) -> bool:
    """Whether a label selector (matchLabels and matchExpressions) selects `labels`."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, values = expression["key"], expression.get("values", [])
        present = key in labels
        matches = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels[key] not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[expression["operator"]]
        if not matches:
            return False
    return True


def _rule_admits(rule: dict, peers_key: str, labels: dict, port: int) -> bool:
    """Whether an ingress (`from`) or egress (`to`) rule of a policy in namespace dream admits a
    pod of that namespace with `labels`, over TCP on `port` (no peers: every source; no ports:
    every port; an ipBlock names addresses outside the pods')."""
    peers = rule.get(peers_key) or [{"podSelector": {}, "namespaceSelector": {}}]
    if not any(
        "ipBlock" not in peer
        and _selects(peer.get("namespaceSelector", {}), _NAMESPACE_LABELS)
        and _selects(peer.get("podSelector", {}), labels)
        for peer in peers
    ):
        return False
    ports = rule.get("ports") or [{}]
    return any(
        p.get("protocol", "TCP") == "TCP" and p.get("port", port) <= port <= p.get("endPort", p.get("port", port))
        for p in ports
    )


def _policy_types(policy: dict) -> list[str]:
    spec = policy["spec"]
    return spec.get("policyTypes") or ["Ingress", *(["Egress"] if "egress" in spec else [])]


def _admitted(policies: list[dict], pods: dict[str, dict], client: str, server: str, port: int) -> bool:
    """Whether the NetworkPolicies admit a TCP connection from pod `client` to pod `server` on
    `port`: the client's egress and the server's ingress must both allow it (a pod that no policy
    selects for a direction is not restricted in it)."""

    def allows(pod: str, direction: str, peers_key: str, peer: str) -> bool:
        selecting = [
            p
            for p in policies
            if direction in _policy_types(p) and _selects(p["spec"]["podSelector"], pods[pod]["labels"])
        ]
        rules = [rule for p in selecting for rule in p["spec"].get(direction.lower(), [])]
        return not selecting or any(_rule_admits(rule, peers_key, pods[peer]["labels"], port) for rule in rules)

    return allows(client, "Egress", "to", server) and allows(server, "Ingress", "from", client)


def _flows(policies: list[dict], pods: dict[str, dict]) -> set[tuple[str, str, int]]:
    """Every (client, server, port) the policies admit between two pods, over the ports the
    servers' containers declare."""
    return {
        (client, server, port["containerPort"])
        for server, pod in pods.items()
        for container in pod["spec"]["containers"]
        for port in container.get("ports", [])
        for client in pods
        if client != server and _admitted(policies, pods, client, server, port["containerPort"])
    }


_SERVICES = {("seaweedfs", 8333), ("postgres", 5432), ("mlflow", 5000), ("opensearch", 9200)}
_CLIENTS_OF = {
    "dagster-run": _SERVICES | {("dream-ray-head", 10001)},
    "dagster-step": _SERVICES | {("dream-ray-head", 10001)},
    "dream-ray-head": _SERVICES,
    "dream-ray-cpu-worker": _SERVICES | {("dream-ray-head", port) for port in (6379, 8265, 10001)},
    "dream-ray-gpu-worker": _SERVICES | {("dream-ray-head", port) for port in (6379, 8265, 10001)},
    "rag-server": _SERVICES,
    "mlflow": {("postgres", 5432), ("seaweedfs", 8333)},
    "dagster-webserver": {("postgres", 5432), ("seaweedfs", 8333), ("dagster-code-server", 4000)},
    "dagster-daemon": {("postgres", 5432), ("dagster-code-server", 4000)},
    "dagster-code-server": {("postgres", 5432), ("seaweedfs", 8333)},
    "seaweedfs-buckets": {("seaweedfs", 8333)},
    "mlflow-users": {("mlflow", 5000)},
}
_FLOWS = {(client, server, port) for client, servers in _CLIENTS_OF.items() for server, port in servers}


def test_network_policies_admit_exactly_the_flows_the_system_needs():
    """Pod to pod, on every declared port: Dagster's run/step pods reach the services and the Ray
    head's client port; Ray pods reach each other and the services; rag-server the services (read
    credentials) and nothing of Ray; the databases, OpenSearch and the UIs open no connection."""
    policies, pods = of_kind("NetworkPolicy"), all_pods()
    assert _flows(policies, pods) == _FLOWS
    # Ray pods talk to each other on any port (raylets, object managers, workers); nobody else does
    assert _admitted(policies, pods, "dream-ray-head", "dream-ray-cpu-worker", 45123)
    assert _admitted(policies, pods, "dream-ray-gpu-worker", "dream-ray-cpu-worker", 45123)
    assert not _admitted(policies, pods, "dagster-run", "dream-ray-cpu-worker", 45123)
    # the default-deny covers every pod, both ways
    [deny] = [p for p in policies if p["metadata"]["name"] == "dream-default-deny"]
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_rag_server_cannot_reach_the_ray_head():
    """rag-server takes users' HTTP requests: it must not reach any Ray port (the Ray Client and
    job APIs run code on the cluster)."""
    policies, pods = of_kind("NetworkPolicy"), all_pods()
    head_ports = {p["containerPort"] for c in pods["dream-ray-head"]["spec"]["containers"] for p in c.get("ports", [])}
    assert head_ports == {6379, 8265, 10001}
    for port in head_ports:
        assert not _admitted(policies, pods, "rag-server", "dream-ray-head", port), port
    assert not _admitted(policies, pods, "rag-server", "dream-ray-cpu-worker", 45123)
    # the check can fail: the former rule (the Ray pods admitted every pod of the namespace) and
    # an egress to the head let rag-server in
    broken = copy.deepcopy(policies)
    [ray] = [p for p in broken if p["metadata"]["name"] == "dream-ray"]
    ray["spec"]["ingress"] = [{"from": [{"podSelector": {}}]}]
    [egress] = [p for p in broken if p["metadata"]["name"] == "dream-egress-rag-server"]
    egress["spec"]["egress"].append({"to": [{"podSelector": {"matchLabels": {"app": "dream-ray-head"}}}]})
    assert _admitted(broken, pods, "rag-server", "dream-ray-head", 10001)


def _open_peers(policies: list[dict]) -> list[str]:
    """Rules that admit every pod of a namespace (podSelector {} as a peer) or, for other than
    rag-server's public port, every source (a rule without peers)."""
    problems = []
    for policy in policies:
        name = policy["metadata"]["name"]
        for direction, peers_key in (("ingress", "from"), ("egress", "to")):
            for rule in policy["spec"].get(direction, []):
                if any(peer.get("podSelector") == {} for peer in rule.get(peers_key, [])):
                    problems.append(f"{name}: {peers_key} podSelector {{}}")
                if not rule.get(peers_key) and (name, direction) != ("dream-rag-server", "ingress"):
                    problems.append(f"{name}: {direction} from anywhere")
    return problems


def test_network_policies_name_their_peers():
    policies = of_kind("NetworkPolicy")
    assert _open_peers(policies) == []
    [public] = [p for p in policies if p["metadata"]["name"] == "dream-rag-server"]
    assert public["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 5001}]}]
    broken = copy.deepcopy(policies)
    [mlflow] = [p for p in broken if p["metadata"]["name"] == "dream-mlflow"]
    mlflow["spec"]["ingress"][0]["from"].append({"podSelector": {}})
    assert _open_peers(broken) == ["dream-mlflow: from podSelector {}"]


def test_only_the_pods_that_need_them_reach_dns_the_llm_and_the_kubernetes_api():
    policies, pods = of_kind("NetworkPolicy"), all_pods()

    def reaching(port: int, peer_key: str) -> set[str]:
        return {
            name
            for name, pod in pods.items()
            for p in policies
            if "Egress" in _policy_types(p) and _selects(p["spec"]["podSelector"], pod["labels"])
            for rule in p["spec"].get("egress", [])
            if any(peer_key in peer for peer in rule.get("to", []))
            and {"protocol": "TCP", "port": port} in rule["ports"]
        }

    assert reaching(53, "namespaceSelector") == pods.keys()  # DNS, in kube-system
    assert reaching(8000, "ipBlock") == {"dagster-run", "dagster-step", "rag-server", *(p for p in pods if "ray" in p)}
    assert reaching(443, "ipBlock") - reaching(8000, "ipBlock") == {"dagster-webserver", "dagster-daemon"}
    # the API server: whoever creates pods (the daemon and webserver runs, run pods steps, the
    # Ray head's autoscaler workers), not step pods or rag-server
    assert reaching(6443, "ipBlock") == {"dagster-run", "dagster-webserver", "dagster-daemon", "dream-ray-head"}


# MLflow, PostgreSQL and object-store credentials ------------------------------------------------------


def _mlflow_auth_problems(pods: dict[str, dict], policies: list[dict]) -> list[str]:
    """MLflow served without its basic-auth app, or a pod the policies admit to MLflow without a
    user and password from the Secret (MLflow's client reads MLFLOW_TRACKING_USERNAME/PASSWORD)."""
    server = pods["mlflow"]["spec"]["containers"][0]
    problems = [] if "--app-name basic-auth" in " ".join(server["args"]) else ["mlflow: no basic-auth app"]
    if secret_keys_of(server).get("MLFLOW_AUTH_ADMIN_PASSWORD") != "MLFLOW_ADMIN_PASSWORD":
        problems.append("mlflow: admin password not from the Secret")
    for client in {c for c, s, _ in _flows(policies, pods) if s == "mlflow"} - {"mlflow-users"}:
        container = pods[client]["spec"]["containers"][0]
        user = environment_of(container).get("MLFLOW_TRACKING_USERNAME")
        if user not in ("dream-pipeline", "dream-serve") or "MLFLOW_TRACKING_PASSWORD" not in secret_keys_of(container):
            problems.append(f"{client}: no MLflow user")
    return problems


def test_mlflow_requires_authentication():
    pods, policies = all_pods(), of_kind("NetworkPolicy")
    assert _mlflow_auth_problems(pods, policies) == []
    assert environment_of(pods["rag-server"]["spec"]["containers"][0])["MLFLOW_TRACKING_USERNAME"] == "dream-serve"
    anonymous = copy.deepcopy(pods)
    args = anonymous["mlflow"]["spec"]["containers"][0]["args"]
    args[:] = [a for a in args if a not in ("--app-name", "basic-auth")]
    assert _mlflow_auth_problems(anonymous, policies) == ["mlflow: no basic-auth app"]
    userless = copy.deepcopy(pods)
    env = userless["rag-server"]["spec"]["containers"][0]["env"]
    env[:] = [v for v in env if not v["name"].startswith("MLFLOW_TRACKING")]
    assert _mlflow_auth_problems(userless, policies) == ["rag-server: no MLflow user"]
