"""``akshift doctor`` on real sandbox clusters: the shared blue (read only, and proven so) and a test-owned
blue seeded with the symptoms the shared seeds lack.

The pure checks, the ARM parsing and the CLI's exit codes are in ``tests/unit/doctor/test_doctor.py``.
"""
from __future__ import annotations

import json
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import support
from support import builders as b
from support.builders import applied_as, kube_proxy_ds

FIXTURES = support.FIXTURES / "arm"
runner = CliRunner()


def app() -> typer.Typer:
    from akshift.cli import app as a
    return a


def _methods_seen(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from kube.client import KubeClient

    seen: list[str] = []
    real = KubeClient.request

    def spy(self: KubeClient, method: str, path: str, **kw: Any) -> dict[str, Any]:
        seen.append(method)
        return real(self, method, path, **kw)

    monkeypatch.setattr(KubeClient, "request", spy)
    return seen


def test_doctor_on_blue_finds_kubenet_and_coredns_custom_and_only_reads(blue: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _methods_seen(monkeypatch)
    r = runner.invoke(app(), ["doctor", "--kubeconfig", str(blue.kubeconfig), "--arm", str(FIXTURES / "kubenet.json"),
                              "--today", "2026-11-20", "-o", "json"])
    assert r.exit_code == 1, r.output
    assert set(seen) == {"GET"} and len(seen) > 20
    found = {f["check"]: f for f in json.loads(r.stdout)["findings"]}
    kubenet = found["kubenet"]
    assert kubenet["severity"] == "warning"
    assert "cluster: 3/3 node(s) labelled kubernetes.azure.com/network-plugin=kubenet" in kubenet["evidence"]
    assert any(e.startswith("cluster: node spec.podCIDR 10.244.") for e in kubenet["evidence"])
    assert found["coredns"]["severity"] == "warning"
    assert "cluster: ConfigMap kube-system/coredns-custom keys: contoso.server, legacy.override" in found["coredns"]["evidence"]
    assert found["kube-proxy"]["severity"] == "ok"
    assert any(e.startswith("cluster: 18 Service(s)") for e in found["kube-proxy"]["evidence"])
    assert found["network-policy-manager"]["severity"] == "info"  # calico, from the ARM description
    assert found["deprecated-apis"]["severity"] == "ok"
    volumes = found["volumes"]  # the seeds' Postgres, Redis and Prometheus disks and the shop's media share
    assert volumes["severity"] == "info"
    assert volumes["evidence"][:2] == ["cluster: 5 PersistentVolume(s) on disk.csi.azure.com",
                                       "cluster: 1 PersistentVolume(s) on file.csi.azure.com"]


def test_doctor_on_a_blue_seeded_with_symptoms_reports_each_with_evidence(fresh_cluster: Any) -> None:
    from kube.client import KubeClient
    from sandbox.profiles import BLUE

    c = fresh_cluster(BLUE)
    with KubeClient.from_kubeconfig(c.kubeconfig) as k:
        for o in symptoms():
            k.create(o)
    r = runner.invoke(app(), ["doctor", "--kubeconfig", str(c.kubeconfig), "--today", "2026-11-20", "-o", "json"])
    assert r.exit_code == 1, r.output
    found = {f["check"]: f for f in json.loads(r.stdout)["findings"]}
    assert found["kube-proxy"]["summary"].startswith("kube-proxy iptables;")
    assert "cluster: DaemonSet kube-system/kube-proxy --proxy-mode=iptables" in found["kube-proxy"]["evidence"]
    assert found["coredns"]["severity"] == "warning" and "resolver workarounds" in found["coredns"]["summary"]
    assert "cluster: Deployment kube-system/coredns replicas 2" in found["coredns"]["evidence"]
    assert any("legacy/reporter (single-request-reopen)" in e for e in found["coredns"]["evidence"])
    assert found["windows-pools"]["severity"] == "warning"
    assert "cluster: 1 node(s) labelled kubernetes.io/os=windows" in found["windows-pools"]["evidence"]
    npm = found["network-policy-manager"]  # azure-npm DaemonSet + a Windows node: the Windows date has passed
    assert npm["severity"] == "critical" and "on Windows nodes retired on 2026-09-30" in npm["summary"]
    assert found["deprecated-apis"]["severity"] == "warning"
    assert any("Ingress extensions/v1beta1 (removed in 1.22" in e and "legacy/reports" in e
               for e in found["deprecated-apis"]["evidence"])
    assert found["service-principal"]["severity"] == "skipped"


def symptoms() -> list[dict[str, Any]]:
    """What a kubenet-era AKS cluster shows that the shared blue seeds do not: test-owned cluster only."""
    ns = b.namespace("legacy")
    kube_proxy = kube_proxy_ds("--proxy-mode=iptables", "--cluster-cidr=10.244.0.0/16")
    kube_proxy["spec"]["template"]["spec"]["hostNetwork"] = True
    coredns = b.deployment("coredns", "kube-system")
    npm = b.daemon_set("azure-npm", "kube-system")
    racer = b.pod("reporter", "legacy", spec=b.pod_spec(dnsConfig={"options": [{"name": "single-request-reopen"}]}))
    plain = b.pod("worker", "legacy")
    ing = b.obj("networking.k8s.io/v1", "Ingress", "reports", "legacy", spec={"defaultBackend": {
        "service": {"name": "reports", "port": {"number": 80}}}})
    applied_as(ing, "extensions/v1beta1")
    win = b.obj("v1", "Node", "akswin000000", labels={
        "kubernetes.io/os": "windows", "kubernetes.azure.com/network-plugin": "azure",
        "kubernetes.azure.com/network-policy": "azure", "type": "kwok"},
        annotations={"kwok.x-k8s.io/node": "fake"})
    win["spec"] = {"taints": [{"key": "os", "value": "windows", "effect": "NoSchedule"}]}
    return [ns, kube_proxy, coredns, npm, racer, plain, ing, win]
