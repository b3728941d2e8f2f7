"""The sandbox is a real cluster: Deployments become Available, nodes look like AKS, nothing is orphaned."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kube.client import KubeClient
from sandbox.cluster import LocalCluster
from sandbox.profiles import BLUE, GREEN, node_objects, pool_sizes

from support import ROOT


def _wait_available(k: KubeClient, ns: str, name: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = k.get(f"/apis/apps/v1/namespaces/{ns}/deployments/{name}")
        conds = {c["type"]: c["status"] for c in d.get("status", {}).get("conditions", [])}
        if conds.get("Available") == "True" and d["status"].get("availableReplicas") == d["spec"]["replicas"]:
            return d
        time.sleep(0.3)
    raise AssertionError(f"deployment {ns}/{name} not Available after {timeout}s: {d.get('status')}")


def test_deployment_created_on_green_becomes_available(green: LocalCluster) -> None:
    with KubeClient.from_kubeconfig(green.kubeconfig) as k:
        k.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "sandbox-smoke"}}, field_manager="test")
        k.apply({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "sandbox-smoke"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}},
        }, field_manager="test")
        d = _wait_available(k, "sandbox-smoke", "web")
        assert d["status"]["readyReplicas"] == 3
        pods = k.get("/api/v1/namespaces/sandbox-smoke/pods")["items"]
        assert len(pods) == 3
        # Overlay hands out pod IPs from the green pod CIDR, per node.
        assert all(p["status"]["podIP"].startswith("192.168.") for p in pods)


def test_blue_nodes_carry_kubenet_labels_and_pod_cidrs(blue: LocalCluster) -> None:
    with KubeClient.from_kubeconfig(blue.kubeconfig) as k:
        nodes = k.get("/api/v1/nodes")["items"]
    assert len(nodes) == 3
    assert {n["metadata"]["labels"]["kubernetes.azure.com/network-plugin"] for n in nodes} == {"kubenet"}
    assert {n["metadata"]["labels"]["agentpool"] for n in nodes} == {"nodepool1", "userpool"}
    assert all(n["spec"]["podCIDR"].startswith("10.244.") for n in nodes)
    assert all(n["metadata"]["name"].startswith("aks-") and "-vmss" in n["metadata"]["name"] for n in nodes)


def test_green_nodes_look_like_overlay_cilium() -> None:
    labels = node_objects(GREEN, 3)[0]["metadata"]["labels"]
    assert labels["kubernetes.azure.com/azure-cni-overlay"] == "true"
    assert labels["kubernetes.azure.com/ebpf-dataplane"] == "cilium"


@pytest.mark.parametrize("nodes", [3, 10, 999, 1000])
def test_pool_sizes_add_up_to_the_requested_node_count(nodes: int) -> None:
    assert sum(n for _, n in pool_sizes(BLUE, nodes)) == nodes
    assert len({o["metadata"]["name"] for o in node_objects(BLUE, nodes)}) == nodes


def test_node_count_outside_3_to_1000_is_refused(tmp_path: Path) -> None:
    from sandbox.cluster import SandboxError

    with pytest.raises(SandboxError, match="between 3 and 1000"):
        LocalCluster(BLUE, tmp_path / "x", nodes=2).start()


def test_killing_the_owner_leaves_no_control_plane_process(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from sandbox.cluster import LocalCluster
        from sandbox.profiles import GREEN
        c = LocalCluster(GREEN, Path({str(tmp_path / 'owned')!r}), nodes=3).start()
        print(" ".join(str(p.pid) for p in c.procs.values()), flush=True)
        time.sleep(600)
    """)
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                             cwd=ROOT)
    pids = [int(p) for p in owner.stdout.readline().split()]
    assert len(pids) == 5
    assert all(_alive(p) for p in pids)
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    deadline = time.monotonic() + 15
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if _alive(p)], "control-plane processes outlived their owner"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False
