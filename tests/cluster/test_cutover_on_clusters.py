"""The cutover's pieces that act on a cluster, on real sandbox clusters: blue's freeze and the ready gate.

The cutover's decisions, driver, gates and routers without clusters are in ``tests/unit/cutover/``;
whole cutovers through a real HAProxy are in ``tests/cluster/test_cutover_e2e.py``.
"""
from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from cutover.gates import GateSet, parse_gates


def test_the_freeze_refuses_new_deployments_on_blue_and_unfreeze_lifts_it(fresh_cluster: Any) -> None:
    from cutover import freeze
    from kube.client import KubeClient
    from kube.errors import ApiError
    from sandbox.profiles import BLUE

    cluster = fresh_cluster(BLUE)
    labels = {"app": "web"}

    def deployment(name: str, ns: str = "default", image: str = "nginx:1.27") -> dict[str, Any]:
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
                "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                         "template": {"metadata": {"labels": labels},
                                      "spec": {"containers": [{"name": "web", "image": image}]}}}}

    with KubeClient.from_kubeconfig(cluster.kubeconfig) as k:
        k.create(deployment("existing"))
        freeze.freeze(k, "blue", "green")
        with pytest.raises(ApiError) as e:
            k.create(deployment("new-release"))
        assert e.value.status == 403 and "blue is frozen by akshift during the cutover to green" in e.value.detail
        with pytest.raises(ApiError, match="frozen"):
            k.apply(deployment("existing", image="nginx:1.28"), field_manager="ci", force=True)
        # What controllers need still works: metadata-only updates, /scale, and the exempt system namespaces.
        k.patch_merge(deployment("existing"), {"metadata": {"annotations": {"team": "shop"}}})
        k.patch_merge(deployment("existing"), {"spec": {"replicas": 2}}, subresource="scale")
        k.create(deployment("addon", ns="kube-system"))
        freeze.freeze(k, "blue", "green")  # idempotent
        freeze.unfreeze(k, "blue")
        k.create(deployment("after-cutover"))
        assert k.read(freeze.freeze_policy("blue", "green")) is None


def test_ready_gate_reads_a_workload_on_a_real_cluster(green: Any) -> None:
    from kube.client import KubeClient

    # The session's shared green, in a namespace of this test's own (a fresh cluster cost a start and a stop).
    ns = "ready-gate"
    labels = {"app": "web"}
    with KubeClient.from_kubeconfig(green.kubeconfig) as k, httpx.Client() as http:
        k.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        k.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
                  "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                           "template": {"metadata": {"labels": labels},
                                        "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}})
        gs = GateSet(parse_gates([f"ready:deployment/{ns}/web", f"ready:deployment/{ns}/missing"]), http=http,
                     kube=k)
        deadline = time.monotonic() + 60
        while not (results := gs.evaluate())[0].ok and time.monotonic() < deadline:
            time.sleep(0.5)
        assert results[0].ok, results[0].detail
        assert not results[1].ok and "does not exist" in results[1].detail

