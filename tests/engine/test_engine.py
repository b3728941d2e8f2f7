"""The real Pulumi engine and Kubernetes provider drive the sandbox through the engine gateway (deploy.engine).

What they pin: a Kubernetes program goes up, is a no-op the second time and is destroyed, opened the way
the disk mover opens its stacks (an inline program with its own project and backend); and a Pulumi
traffic router moves weights on a real stack — each step previewed, confined to the switch, ``up``
held to that plan, the weights read back from what the deployed resources report — and refuses a step
that would carry another pending change along, putting the config back and deploying nothing.

Why one stack for both: each ``up`` of an inline program costs seconds of engine and provider start-up and
the Deployment's rollout; the program that the router drives holds the plain workload too (a Deployment the
router's steps must leave alone), so the module deploys once and destroys once. The tests run in file order:
the no-op preview before the router's pending change, the destroy last.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from kube.client import KubeClient
from sandbox import build
from sandbox.cluster import LocalCluster


def _engine(pulumi_env: dict[str, str]) -> Any:
    from deploy.backend import backend_at
    from deploy.engine import Engine

    return Engine(build.TOOLS["pulumi"].dir, pulumi_env, backend_at(pulumi_env["PULUMI_BACKEND_URL"]))


def _program(kubeconfig: str):
    """A Kubernetes workload (namespace, ConfigMap, a Deployment whose ready replicas are exported) and a
    stand-in for the prod program's switch: a ``TrafficSwitch`` whose weights live in a ConfigMap on green,
    exported from the ConfigMap's *outputs* (what the cluster holds), plus one resource outside the switch."""

    def program() -> None:
        import pulumi
        import pulumi_kubernetes as k8s

        config = pulumi.Config("akshift")
        provider = k8s.Provider("green", kubeconfig=kubeconfig, enable_server_side_apply=True,
                                enable_config_map_mutable=True)
        opts = pulumi.ResourceOptions(provider=provider)
        ns = k8s.core.v1.Namespace("engine-smoke", metadata={"name": "engine-smoke"}, opts=opts)
        k8s.core.v1.ConfigMap("settings", metadata={"name": "settings", "namespace": ns.metadata.name},
                              data={"LOG_LEVEL": "info"}, opts=opts)
        dep = k8s.apps.v1.Deployment(
            "api",
            metadata={"name": "api", "namespace": ns.metadata.name},
            spec={"replicas": 2, "selector": {"match_labels": {"app": "api"}},
                  "template": {"metadata": {"labels": {"app": "api"}},
                               "spec": {"containers": [{"name": "api", "image": "nginx:1.27"}]}}},
            opts=opts,
        )
        pulumi.export("ready_replicas", dep.status.ready_replicas)

        router_ns = k8s.core.v1.Namespace("router-engine", metadata={"name": "router-engine"}, opts=opts)
        k8s.core.v1.ConfigMap("other", metadata={"name": "other", "namespace": router_ns.metadata.name},
                              data={"value": config.get("other") or "first"}, opts=opts)
        switch = pulumi.ComponentResource("akshift:index:TrafficSwitch", "traffic")
        weights = {str(k): str(v) for k, v in config.require_object("traffic")["weights"].items()}
        profile = k8s.core.v1.ConfigMap(
            "traffic-profile", metadata={"name": "traffic-profile", "namespace": router_ns.metadata.name},
            data=weights, opts=pulumi.ResourceOptions(provider=provider, parent=switch))
        live = profile.data.apply(lambda d: {k: int(v) for k, v in (d or {}).items()})
        switch.register_outputs({"weights": live})
        pulumi.export("traffic", {"weights": live})

    return program


@pytest.fixture(scope="module")
def deployed(green: LocalCluster, pulumi_env: dict[str, str]) -> Iterator[dict[str, Any]]:
    """The program, up once on green (blue 100 %, green 0 %) through the Automation API; destroyed at the end
    by the last test (or here, if it did not run)."""
    from deploy.engine import open_inline

    stack = open_inline(_engine(pulumi_env), "akshift-router-engine", "cutover", _program(green.kubeconfig.read_text()))
    stack.set_configs({"akshift:traffic.weights.blue": "100", "akshift:traffic.weights.green": "0"})
    state: dict[str, Any] = {"stack": stack}
    try:
        state["up"] = stack.up()
        yield state
    finally:
        if not state.get("destroyed"):
            stack.destroy()


def test_pulumi_up_of_a_kubernetes_program_against_green_through_automation_api(
    deployed: dict[str, Any], green: LocalCluster
) -> None:
    result = deployed["up"]
    assert result.result == "succeeded"
    assert result.changes.get("create", 0) >= 4  # stack, provider, ns, cm, deployment
    # The provider's await logic returns only once the Deployment rolled out.
    assert result.outputs["ready_replicas"] == 2
    with KubeClient.from_kubeconfig(green.kubeconfig) as k:
        d = k.get("/apis/apps/v1/namespaces/engine-smoke/deployments/api")
        assert {c["type"]: c["status"] for c in d["status"]["conditions"]}["Available"] == "True"
        managers = {m["manager"] for m in d["metadata"]["managedFields"]}
        assert "pulumi-kubernetes" in " ".join(managers)

    again = deployed["stack"].preview()
    assert set(again.changes) == {"same"}, again.changes


# --------------------------------------------------------------------------- the Pulumi traffic router


def test_the_pulumi_router_moves_weights_step_by_step_held_to_each_previewed_plan(
    deployed: dict[str, Any], green: LocalCluster
) -> None:
    from cutover.errors import RouterError
    from cutover.routers import PulumiTrafficRouter

    stack = deployed["stack"]
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": "router-engine", "name": "traffic-profile"}}
    assert deployed["up"].succeeded
    router = PulumiTrafficRouter("cutover", stack_factory=lambda: stack)
    assert router.weights() == {"blue": 100, "green": 0}

    router.set_weights({"blue": 90, "green": 10})
    assert router.weights() == {"blue": 90, "green": 10}
    with KubeClient.from_kubeconfig(green.kubeconfig) as k:
        assert k.read(ref)["data"] == {"blue": "90", "green": "10"}
    assert stack.history()[0].result == "succeeded"

    stack.set_config("akshift:other", "pending")  # a change that is not the cutover's to deploy
    with pytest.raises(RouterError, match="outside the traffic switch: update kubernetes:core/v1:ConfigMap other"):
        router.set_weights({"blue": 50, "green": 50})
    assert stack.config("akshift:traffic.weights.blue") == "90"  # the config is put back
    assert router.weights() == {"blue": 90, "green": 10}
    with KubeClient.from_kubeconfig(green.kubeconfig) as k:
        assert k.read(ref)["data"] == {"blue": "90", "green": "10"}


def test_destroy_removes_what_the_program_deployed(deployed: dict[str, Any], green: LocalCluster) -> None:
    deployed["stack"].destroy()
    deployed["destroyed"] = True
    ref = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"namespace": "engine-smoke", "name": "api"}}
    with KubeClient.from_kubeconfig(green.kubeconfig) as k:
        deadline = time.monotonic() + 60
        while k.read(ref) is not None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert k.read(ref) is None, "destroy left the Deployment behind"
