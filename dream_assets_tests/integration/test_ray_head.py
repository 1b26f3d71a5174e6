"""What a Ray head node started like the harness (and deploy/) starts it exposes on the network.

Ray 2.60 binds its gRPC servers (GCS, raylet, dashboard agent) to every interface, and the
runtime-env agent, Ray Client server and metrics exporters to the machine's address or 0.0.0.0,
whatever `--node-ip-address` says; no flag confines them. What can be confined is: the dashboard
(HTTP, job submission) listens on 127.0.0.1 only. This test pins both facts, so a Ray upgrade
that changes either shows here; README ("Network exposure") and the NetworkPolicy in
deploy/kuberay/ say what to do about the rest.
"""

import ipaddress

import pytest

from dream_assets_tests.servers import listeners

pytestmark = pytest.mark.integration

# Ray components known to listen beyond loopback in Ray 2.60 (see the module docstring)
RAY_WIDE_LISTENERS = {
    "gcs_server",
    "raylet",
    "ray::DashboardAgent",
    "ray::RuntimeEnvAgent",
    "ray.util.client.server",  # Ray Client, on the machine's address
    "monitor.py",  # autoscaler metrics, 0.0.0.0:44217
    "dashboard.py",  # dashboard metrics, 0.0.0.0:44227 (its HTTP server is on 127.0.0.1)
    "ray::<worker>",  # a worker process (idle, a task or an actor): its core worker's gRPC server
}
RAY_AGENTS = {"ray::DashboardAgent", "ray::RuntimeEnvAgent"}


def _component(name: str) -> str:
    """A listener's component: worker processes (`ray::IDLE`, `ray::<Actor>`, `ray::<task>`,
    named after what they run) are one component, `ray::<worker>`."""
    return "ray::<worker>" if name.startswith("ray::") and name not in RAY_AGENTS else name


def test_ray_head_dashboard_is_loopback_only_and_wider_listeners_are_known(ray_head):
    found = listeners(ray_head.process)
    gcs_port = int(ray_head.address.rsplit(":", 1)[1])
    dashboard = [(ip, port) for name, ip, port in found if name == "dashboard.py" and ip == "127.0.0.1"]
    assert dashboard, found  # the dashboard's HTTP server, on loopback
    dashboard_ports = {port for _, port in dashboard}
    assert not [entry for entry in found if entry[2] in dashboard_ports and entry[1] != "127.0.0.1"]
    assert any(name == "gcs_server" and port == gcs_port for name, _, port in found)
    wide = sorted(
        {
            (name, ip, port)
            for name, ip, port in found
            if not ipaddress.ip_address(ip.removeprefix("::ffff:")).is_loopback
        }
    )
    assert {_component(name) for name, _, _ in wide} <= RAY_WIDE_LISTENERS, wide
