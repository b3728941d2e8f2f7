"""The real Pulumi engine and Kubernetes provider drive the sandbox through the Automation API."""
from __future__ import annotations

import time

import pytest

from kube.client import KubeClient
from sandbox import build
from sandbox.cluster import LocalCluster

pytestmark = [pytest.mark.cluster, pytest.mark.engine]


def _program(kubeconfig: str):
    def program() -> None:
        import pulumi
        import pulumi_kubernetes as k8s

        provider = k8s.Provider("green", kubeconfig=kubeconfig, enable_server_side_apply=True)
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

    return program


def test_pulumi_up_of_a_kubernetes_program_against_green_through_automation_api(
    green: LocalCluster, pulumi_env: dict[str, str], tmp_path
) -> None:
    from pulumi import automation as auto

    cmd = auto.PulumiCommand(root=str(build.TOOLS["pulumi"].dir))
    stack = auto.create_or_select_stack(
        stack_name="engine-smoke",
        project_name="akshift-engine-smoke",
        program=_program(green.kubeconfig.read_text()),
        opts=auto.LocalWorkspaceOptions(work_dir=str(tmp_path), env_vars=pulumi_env, pulumi_command=cmd,
                                        pulumi_home=pulumi_env["PULUMI_HOME"]),
    )
    result = stack.up(on_output=None)
    assert result.summary.result == "succeeded"
    assert result.summary.resource_changes.get("create", 0) >= 4  # stack, provider, ns, cm, deployment
    # The provider's await logic returns only once the Deployment rolled out.
    assert result.outputs["ready_replicas"].value == 2
    with KubeClient.from_kubeconfig(green.kubeconfig) as k:
        d = k.get("/apis/apps/v1/namespaces/engine-smoke/deployments/api")
        assert {c["type"]: c["status"] for c in d["status"]["conditions"]}["Available"] == "True"
        managers = {m["manager"] for m in d["metadata"]["managedFields"]}
        assert "pulumi-kubernetes" in " ".join(managers)

    again = stack.preview()
    assert set(again.change_summary) == {"same"}, again.change_summary
    stack.destroy()
    ref = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"namespace": "engine-smoke", "name": "api"}}
    with KubeClient.from_kubeconfig(green.kubeconfig) as k:
        deadline = time.monotonic() + 60
        while k.read(ref) is not None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert k.read(ref) is None, "destroy left the Deployment behind"
