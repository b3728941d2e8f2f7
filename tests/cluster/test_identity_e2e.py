"""Objects stay themselves, on real sandbox clusters (issue 13 items 1–5 and 7; issue 12 item 5).

The source objects are applied the way real tools apply them: ``kubectl apply
--server-side`` with each tool's own field manager, no last-applied
annotation. After ``akshift migrate``, the same tool applies again as itself on
both clusters: no conflict, and a field it stops declaring is removed on both.
"""
from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from akshift.cli import app
from kube.client import KubeClient
from migration.applier import wait_established
from sandbox.cluster import LocalCluster, binary
from sandbox.profiles import BLUE, GREEN

runner = CliRunner()
NS = "identity"
TOOL = "team-tool"


def kubectl_apply(kubeconfig: Path, docs: list[dict[str, Any]], manager: str) -> subprocess.CompletedProcess[str]:
    """``kubectl apply --server-side`` as ``manager`` (what Helm 4, Flux and Argo CD do)."""
    return subprocess.run([binary("kubectl"), "--kubeconfig", str(kubeconfig), "apply", "--server-side",
                           f"--field-manager={manager}", "-f", "-"], input=yaml.safe_dump_all(docs),
                          capture_output=True, text=True, timeout=60)


def _settings(data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": NS}, "data": data}


def _source_objects() -> list[dict[str, Any]]:
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        _settings({"colour": "blue", "size": "large"}),
        {"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"},
         "metadata": {"name": "protected", "namespace": NS, "finalizers": ["example.com/keep"]}},
        # An address in a range that is not blue's nodes' podCIDRs: old only when --source-pod-cidr says so.
        {"apiVersion": "v1", "kind": "ConfigMap", "data": {"primary": "10.250.7.7:5432"},
         "metadata": {"name": "peers", "namespace": NS}},
        {"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"},
         "metadata": {"name": "leaving", "namespace": NS, "finalizers": ["example.com/hold"]}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": NS},
         "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}},
                               "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}},
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web", "namespace": NS},
         "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                  "minReplicas": 2, "maxReplicas": 5,
                  "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                      "type": "Utilization", "averageUtilization": 70}}}]}},
    ]


# Helm's Service: a nodePort the chart pins (external load balancers target it) and one the server allocates.
EDGE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "edge", "namespace": NS},
        "spec": {"type": "NodePort", "selector": {"app": "web"},
                 "ports": [{"name": "http", "port": 80, "nodePort": 30555}, {"name": "https", "port": 443}]}}
# Helm's LoadBalancer Service with every address a user may choose: a pinned clusterIP (both sandboxes'
# service CIDR is 10.0.0.0/16), a healthCheckNodePort, a nodePort and a loadBalancerIP.
PINNED = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "pinned", "namespace": NS},
          "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local", "clusterIP": "10.0.77.77",
                   "healthCheckNodePort": 31556, "loadBalancerIP": "20.50.60.70", "selector": {"app": "web"},
                   "ports": [{"name": "http", "port": 80, "nodePort": 30556}]}}
# Pinned to an old node pool: akshift rewrites the pool name, its only field on the target.
BATCH = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "batch", "namespace": NS},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "batch"}},
                  "template": {"metadata": {"labels": {"app": "batch"}},
                               "spec": {"nodeSelector": {"agentpool": "userpool"},
                                        "containers": [{"name": "batch", "image": "busybox:1.37"}]}}}}
# An internal load balancer whose subnet, source ranges (the old pod CIDR) and external IPs are the old network's.
INTERNAL = {"apiVersion": "v1", "kind": "Service", "metadata": {
    "name": "internal", "namespace": NS,
    "annotations": {"service.beta.kubernetes.io/azure-load-balancer-internal": "true",
                    "service.beta.kubernetes.io/azure-load-balancer-internal-subnet": "snet-aks-old"}},
    "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 443}],
             "loadBalancerSourceRanges": ["10.244.0.0/16"], "externalIPs": ["203.0.113.10"]}}
# Azure Service Operator's CRD (trimmed) and a resource group it reconciles in Azure.
ASO_CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "resourcegroups.resources.azure.com"},
           "spec": {"group": "resources.azure.com", "scope": "Namespaced",
                    "names": {"kind": "ResourceGroup", "plural": "resourcegroups", "singular": "resourcegroup",
                              "listKind": "ResourceGroupList"},
                    "versions": [{"name": "v1api20200601", "served": True, "storage": True,
                                  "schema": {"openAPIV3Schema": {"type": "object",
                                                                 "x-kubernetes-preserve-unknown-fields": True}}}]}}
ASO_RG = {"apiVersion": "resources.azure.com/v1api20200601", "kind": "ResourceGroup",
          "metadata": {"name": "rg-identity", "namespace": NS}, "spec": {"location": "westeurope"}}


def _trimmed_crd(group: str, kind: str, plural: str, version: str, scope: str = "Namespaced") -> dict[str, Any]:
    """A tool's CRD trimmed to what the API server needs (the real ones hold large schemas)."""
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {"group": group, "scope": scope,
                     "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
                     "versions": [{"name": version, "served": True, "storage": True, "subresources": {"status": {}},
                                   "schema": {"openAPIV3Schema": {"type": "object",
                                                                  "x-kubernetes-preserve-unknown-fields": True}}}]}}


# Flux's Kustomization, reconciling a git path every ten minutes, not suspended (as Flux's bootstrap writes it).
FLUX_CRD = _trimmed_crd("kustomize.toolkit.fluxcd.io", "Kustomization", "kustomizations", "v1")
FLUX_KS = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
           "metadata": {"name": "apps", "namespace": NS},
           "spec": {"interval": "10m", "path": "./apps", "prune": True,
                    "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}}
# A Crossplane managed resource of the Azure provider (cluster-scoped, as provider-upjet-azure serves them).
CROSSPLANE_CRD = _trimmed_crd("storage.azure.upbound.io", "Account", "accounts", "v1beta1", scope="Cluster")
CROSSPLANE_MR = {"apiVersion": "storage.azure.upbound.io/v1beta1", "kind": "Account",
                 "metadata": {"name": "stidentity"},
                 "spec": {"forProvider": {"location": "West Europe", "accountTier": "Standard",
                                          "accountReplicationType": "LRS", "resourceGroupName": "rg-identity"},
                          "providerConfigRef": {"name": "default"}}}
# Tightened after the ConfigMaps exist: the namespace is over it on the source.
QUOTA = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "few-configs", "namespace": NS},
         "spec": {"hard": {"configmaps": "2"}}}


@pytest.fixture(scope="module")
def clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("identity")
    blue = LocalCluster(BLUE, root / "blue").start()
    green = LocalCluster(GREEN, root / "green").start()
    try:
        applied = kubectl_apply(blue.kubeconfig, _source_objects(), TOOL)
        assert applied.returncode == 0, applied.stderr
        with KubeClient.from_kubeconfig(blue.kubeconfig) as k:
            settings = k.read(_settings({}))
            # A garbage-collection link (not a controller): the child goes when 'settings' goes.
            child = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"x": "1"},
                     "metadata": {"name": "child", "namespace": NS, "ownerReferences": [
                         {"apiVersion": "v1", "kind": "ConfigMap", "name": "settings",
                          "uid": settings["metadata"]["uid"]}]}}
            assert kubectl_apply(blue.kubeconfig, [child], "operator").returncode == 0
            assert kubectl_apply(blue.kubeconfig, [EDGE, PINNED], "helm").returncode == 0
            assert kubectl_apply(blue.kubeconfig, [BATCH], TOOL).returncode == 0
            assert kubectl_apply(blue.kubeconfig, [INTERNAL], "helm").returncode == 0
            assert kubectl_apply(blue.kubeconfig, [ASO_CRD, FLUX_CRD, CROSSPLANE_CRD], "helm").returncode == 0
            assert wait_established(k, [ASO_CRD, FLUX_CRD, CROSSPLANE_CRD]) == []
            aso = kubectl_apply(blue.kubeconfig, [ASO_RG], "kubectl")
            assert aso.returncode == 0, aso.stderr
            # Each as its tool applies it: Flux's kustomize-controller and Crossplane (server-side, their managers).
            for obj, manager in ((FLUX_KS, "kustomize-controller"), (CROSSPLANE_MR, "crossplane")):
                done = kubectl_apply(blue.kubeconfig, [obj], manager)
                assert done.returncode == 0, done.stderr
            # A garbage-collection link to an owner that is never carried (Nodes register themselves).
            node = k.get("/api/v1/nodes")["items"][0]["metadata"]
            bound = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"x": "1"},
                     "metadata": {"name": "node-bound", "namespace": NS, "ownerReferences": [
                         {"apiVersion": "v1", "kind": "Node", "name": node["name"], "uid": node["uid"]}]}}
            assert kubectl_apply(blue.kubeconfig, [bound], "operator").returncode == 0
            assert kubectl_apply(blue.kubeconfig, [QUOTA], TOOL).returncode == 0
            deadline = time.monotonic() + 30
            while not (k.read(QUOTA).get("status") or {}).get("used") and time.monotonic() < deadline:
                time.sleep(0.5)
            k.delete({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "leaving", "namespace": NS}})
            assert k.read({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": "leaving", "namespace": NS}})["metadata"].get("deletionTimestamp")
        key = root / "age.key"
        assert runner.invoke(app, ["keygen", str(key)]).exit_code == 0
        out = root / "run"
        result = runner.invoke(app, ["migrate", "--source", str(blue.kubeconfig), "--target", str(green.kubeconfig),
                                     "--out", str(out), "--age-identity", str(key), "--namespace", NS,
                                     "--ready-timeout", "10", "--output", "json"])
        yield {"blue": blue, "green": green, "out": out, "result": result, "key": key}
    finally:
        green.stop()
        blue.stop()


def _read(cluster: LocalCluster, name: str) -> dict[str, Any] | None:
    with KubeClient.from_kubeconfig(cluster.kubeconfig) as k:
        return k.read({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NS}})


def test_the_migration_of_the_identity_namespace_succeeds(clusters: dict[str, Any]) -> None:
    assert clusters["result"].exit_code == 0, clusters["result"].output
    verify = json.loads((clusters["out"] / "verify.json").read_text())
    assert verify["unaccounted"] == [] and verify["problems"] == []


def test_each_field_is_owned_on_the_target_by_the_manager_that_owned_it_on_the_source(clusters: dict[str, Any]) -> None:
    source, target = _read(clusters["blue"], "settings"), _read(clusters["green"], "settings")
    fields = {m["manager"]: m["fieldsV1"] for m in target["metadata"]["managedFields"]}
    # Nothing was rewritten, so akshift owns only its carry marker, metadata.name.
    assert fields.pop("akshift") == {"f:metadata": {"f:name": {}}}
    assert fields == {m["manager"]: m["fieldsV1"] for m in source["metadata"]["managedFields"]}


@pytest.mark.parametrize("side", ["blue", "green"])
def test_the_original_manager_applies_again_without_conflict_and_a_dropped_field_is_removed(
        clusters: dict[str, Any], side: str) -> None:
    cluster = clusters[side]
    result = kubectl_apply(cluster.kubeconfig, [_settings({"colour": "green"})], TOOL)
    assert result.returncode == 0, result.stderr
    assert _read(cluster, "settings")["data"] == {"colour": "green"}


def test_a_user_finalizer_is_kept(clusters: dict[str, Any]) -> None:
    assert _read(clusters["green"], "protected")["metadata"]["finalizers"] == ["example.com/keep"]


def test_an_object_being_deleted_on_the_source_does_not_come_back(clusters: dict[str, Any]) -> None:
    assert _read(clusters["green"], "leaving") is None
    excluded = [json.loads(line) for line in (clusters["out"] / "transformed" / "excluded.jsonl").read_text().splitlines()]
    assert any(e["ref"]["name"] == "leaving" and "being deleted" in e["reason"] for e in excluded)


def test_a_garbage_collection_link_is_re_pointed_to_the_owner_on_the_target(clusters: dict[str, Any]) -> None:
    child, owner = _read(clusters["green"], "child"), _read(clusters["green"], "settings")
    assert [o["uid"] for o in child["metadata"]["ownerReferences"]] == [owner["metadata"]["uid"]]
    # The operator that set the reference still owns it, at the target's uid.
    operator = next(m["fieldsV1"] for m in child["metadata"]["managedFields"] if m["manager"] == "operator")
    assert list(operator["f:metadata"]["f:ownerReferences"]) == [f'k:{{"uid":"{owner["metadata"]["uid"]}"}}']
    time.sleep(2)  # the target's garbage collector would have deleted it by now if the uid were wrong
    assert _read(clusters["green"], "child") is not None


def test_a_node_port_the_chart_chose_is_kept_and_an_allocated_one_is_not_carried(clusters: dict[str, Any]) -> None:
    with KubeClient.from_kubeconfig(clusters["green"].kubeconfig) as k:
        edge = k.read(EDGE)
    ports = {p["name"]: p["nodePort"] for p in edge["spec"]["ports"]}
    assert ports["http"] == 30555
    transformed = yaml.safe_load((clusters["out"] / "transformed" / NS / "core.Service" / "edge.yaml").read_text())
    assert [p.get("nodePort") for p in transformed["spec"]["ports"]] == [30555, None]


def test_an_autoscaled_deployments_replicas_are_left_to_its_hpa(clusters: dict[str, Any]) -> None:
    transformed = yaml.safe_load((clusters["out"] / "transformed" / NS / "apps.Deployment" / "web.yaml").read_text())
    assert "replicas" not in transformed["spec"]
    with KubeClient.from_kubeconfig(clusters["green"].kubeconfig) as k:
        assert k.read(transformed) is not None


def test_a_namespace_over_its_quota_is_reported_and_every_object_in_it_is_reproduced(clusters: dict[str, Any]) -> None:
    report = json.loads((clusters["out"] / "report.json").read_text())
    assert "namespace-over-quota" in {f["code"] for f in report["findings"]}
    for name in ("settings", "protected", "child", "node-bound"):
        assert _read(clusters["green"], name) is not None, name
    with KubeClient.from_kubeconfig(clusters["green"].kubeconfig) as k:
        assert k.read(QUOTA)["status"]["hard"] == {"configmaps": "2"}


def test_the_plan_dry_runs_objects_of_a_namespace_it_creates_and_removes_its_scratch_namespace(
        clusters: dict[str, Any], tmp_path: Path) -> None:
    from migration import stages
    from migration.snapshot import SnapshotWriter

    ns = "brand-new"
    objs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ok", "namespace": ns}, "data": {"a": "b"}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "bad-port", "namespace": ns},
             "spec": {"ports": [{"port": 70000}], "selector": {"app": "x"}}}]
    with SnapshotWriter(tmp_path / "transformed", stage="transformed", exclude_secrets=True) as w:
        for o in objs:
            w.write(o)
    with KubeClient.from_kubeconfig(clusters["green"].kubeconfig) as k:
        planned = {o.ref: o for o in stages.plan(k, tmp_path / "transformed")}
        left = [n["metadata"]["name"] for n in k.get("/api/v1/namespaces")["items"]
                if n["metadata"]["name"].startswith(stages.SCRATCH_PREFIX) and not n["metadata"].get("deletionTimestamp")]
    assert planned[f"Service {ns}/bad-port"].action == "rejected" and "70000" in planned[f"Service {ns}/bad-port"].message
    assert planned[f"ConfigMap {ns}/ok"].action == "create"
    assert left == []


def test_akshift_owns_only_its_rewrite_of_an_old_node_pool_name_and_the_tool_keeps_the_rest(
        clusters: dict[str, Any]) -> None:
    with KubeClient.from_kubeconfig(clusters["blue"].kubeconfig) as s, \
            KubeClient.from_kubeconfig(clusters["green"].kubeconfig) as t:
        source, target = s.read(BATCH), t.read(BATCH)
    assert target["spec"]["template"]["spec"]["nodeSelector"] == {"agentpool": "apps"}
    fields = {(m["manager"], m["operation"]): m["fieldsV1"] for m in target["metadata"]["managedFields"]
              if not m.get("subresource")}
    # nodeSelector is an atomic map: the tool owned it whole on the source, akshift owns it whole now.
    selector = {"f:spec": {"f:template": {"f:spec": {"f:nodeSelector": {}}}}}
    assert fields.pop(("akshift", "Apply")) == {"f:metadata": {"f:name": {}}, **selector}
    tool = next(m["fieldsV1"] for m in source["metadata"]["managedFields"] if m["manager"] == TOOL)
    assert "f:nodeSelector" in json.dumps(tool) and "f:nodeSelector" not in json.dumps(fields[(TOOL, "Apply")])
    # Everything else the tool declared is still the tool's.
    assert fields[(TOOL, "Apply")]["f:spec"]["f:template"]["f:spec"]["f:containers"] == \
        tool["f:spec"]["f:template"]["f:spec"]["f:containers"]


def test_a_chosen_cluster_ip_health_check_node_port_node_port_and_load_balancer_ip_are_kept(
        clusters: dict[str, Any]) -> None:
    with KubeClient.from_kubeconfig(clusters["green"].kubeconfig) as k:
        spec = k.read(PINNED)["spec"]
    assert (spec["clusterIP"], spec["healthCheckNodePort"], spec["loadBalancerIP"], spec["ports"][0]["nodePort"]) == \
        ("10.0.77.77", 31556, "20.50.60.70", 30556)
    transformed = yaml.safe_load((clusters["out"] / "transformed" / NS / "core.Service" / "edge.yaml").read_text())
    assert "clusterIP" not in transformed["spec"]  # allocated by blue's API server: green allocates its own


def test_a_reference_to_an_owner_that_is_not_carried_is_dropped_with_a_finding(clusters: dict[str, Any]) -> None:
    bound = _read(clusters["green"], "node-bound")
    assert bound is not None and "ownerReferences" not in bound["metadata"]
    report = json.loads((clusters["out"] / "report.json").read_text())
    assert [(f["code"], f["ref"]["kind"]) for f in report["findings"] if f["ref"]["name"] == "node-bound"] == \
        [("owner-not-carried", "ConfigMap")]


def test_every_excluded_object_is_in_the_report_with_its_reason_and_counted_by_reason(clusters: dict[str, Any]) -> None:
    out = clusters["out"]
    excluded = [json.loads(line) for line in (out / "transformed" / "excluded.jsonl").read_text().splitlines()]
    report = json.loads((out / "report.json").read_text())
    results = {json.dumps(e["ref"], sort_keys=True): e for e in report["results"]["objects"]}
    kinds = {e["ref"]["kind"] for e in excluded}
    assert {"ReplicaSet", "Pod"} <= kinds  # the Deployments' ReplicaSets and Pods, owned by what is carried
    for e in excluded:
        entry = results[json.dumps(e["ref"], sort_keys=True)]
        assert entry["status"] == "excluded" and e["reason"] in entry["message"], entry
    by_reason = report["summary"]["excluded_by_reason"]
    assert sum(by_reason.values()) == len(excluded)
    markdown = (out / "report.md").read_text()
    assert f"## Excluded by reason ({len(excluded)})" in markdown
    assert "| owned by ReplicaSet, whose controller recreates it on the target |" in markdown


def test_the_source_pod_cidr_is_read_from_the_kubenet_nodes_and_can_be_overridden(
        clusters: dict[str, Any], tmp_path: Path) -> None:
    from migration import stages
    from migration.snapshot import Snapshot, SnapshotWriter

    with SnapshotWriter(tmp_path / "snap", stage="snapshot", exclude_secrets=True) as w:
        w.write({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    snapshot = Snapshot(tmp_path / "snap")
    for side, profile in (("blue", BLUE), ("green", GREEN)):
        with KubeClient.from_kubeconfig(clusters[side].kubeconfig) as k:
            nodes = k.get("/api/v1/nodes")["items"]
        assert nodes and all(n["spec"].get("podCIDR") for n in nodes)
        assert stages.build_context(nodes, None, snapshot).source_pod_cidr == profile.pod_cidr
    assert stages.build_context(nodes, None, snapshot, source_pod_cidr="10.250.0.0/16").source_pod_cidr == \
        "10.250.0.0/16"


def test_the_source_pod_cidr_flag_overrides_the_nodes_pod_cidrs_in_the_transform_command(
        clusters: dict[str, Any], tmp_path: Path) -> None:
    import shutil

    def old_addresses(run: Path) -> set[str]:
        report = (run / "transformed" / "findings.jsonl").read_text().splitlines()
        return {f["ref"]["name"] for f in map(json.loads, report) if f["code"] == "hard-coded-old-address"}

    # The migration read blue's pod CIDR from its nodes (10.244.0.0/16): 10.250.7.7 was nobody's address.
    assert "peers" not in old_addresses(clusters["out"])
    run = tmp_path / "run"
    shutil.copytree(clusters["out"] / "snapshot", run / "snapshot")
    result = runner.invoke(app, ["transform", "--out", str(run), "--age-identity", str(clusters["key"]),
                                 "--source-pod-cidr", "10.250.0.0/16", "--output", "json"])
    assert result.exit_code == 0, result.output
    # Told the pods were in 10.250.0.0/16, the same snapshot's address is an old pod's.
    assert "peers" in old_addresses(run)


def _webhook(name: str, service: str, ns: str) -> dict[str, Any]:
    """A fail-closed webhook whose rules match nothing anyone creates (it must not break the shared cluster)."""
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": name},
            "webhooks": [{"name": f"{name}.example.com", "failurePolicy": "Fail", "sideEffects": "None",
                          "admissionReviewVersions": ["v1"],
                          "clientConfig": {"service": {"namespace": ns, "name": service, "path": "/validate"}},
                          "rules": [{"apiGroups": ["example.com"], "apiVersions": ["v1"], "operations": ["CREATE"],
                                     "resources": ["nothings"]}]}]}


def test_the_applier_registers_a_webhook_only_once_its_backend_answers_and_reports_one_that_never_does(
        clusters: dict[str, Any]) -> None:
    from kube.order import apply_tiers
    from migration.applier import Action, Outcome, run_tiers
    from migration.readiness import service_ready

    ns = "identity-webhooks"
    guard = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "guard", "namespace": ns},
             "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "guard"}},
                      "template": {"metadata": {"labels": {"app": "guard"}},
                                   "spec": {"containers": [{"name": "guard", "image": "guard:1"}]}}}}
    objs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}, guard,
            *({"apiVersion": "v1", "kind": "Service", "metadata": {"name": n, "namespace": ns},
               "spec": {"selector": {"app": n}, "ports": [{"port": 443, "targetPort": 8443}]}} for n in ("guard", "nobody")),
            _webhook("identity-guard", "guard", ns), _webhook("identity-nobody", "nobody", ns)]
    ready_when_registered: dict[str, bool] = {}
    # The bound is the test's choice (the product's default is 60 s): long enough for the guard's kwok pod to
    # become Ready on a loaded machine, short enough that waiting it out for the backend that never answers
    # does not dominate the module (it was 20 s).
    bound = 10
    with KubeClient.from_kubeconfig(clusters["green"].kubeconfig) as k:
        def step(obj: dict[str, Any]) -> Outcome:
            if obj["kind"] == "ValidatingWebhookConfiguration":
                svc = obj["webhooks"][0]["clientConfig"]["service"]
                ready_when_registered[obj["metadata"]["name"]] = service_ready(k, (svc["namespace"], svc["name"]))
            k.apply(obj, field_manager="identity-test")
            return Outcome(obj["metadata"]["name"], obj["kind"], Action.CREATED)

        try:
            started = time.monotonic()
            outcomes = run_tiers(k, apply_tiers(objs), step, backend_timeout=bound)
            waited = time.monotonic() - started
        finally:
            for name in ("identity-guard", "identity-nobody"):
                k.delete(_webhook(name, "", ns))
    assert ready_when_registered == {"identity-guard": True, "identity-nobody": False}
    failed = [o for o in outcomes if o.action is Action.FAILED]
    assert [(o.ref, f"backend not Ready within {bound}s" in o.message and "identity-nobody" in o.message)
            for o in failed] == [(f"Service {ns}/nobody", True)]
    assert waited >= bound  # the bound was waited out for the backend that never answers, then it went on


def test_continuity_findings_name_the_old_networks_load_balancer_settings_gitops_and_azure_operator_resources(
        clusters: dict[str, Any]) -> None:
    report = json.loads((clusters["out"] / "report.json").read_text())
    found = {(f["code"], f["ref"]["kind"], f["ref"]["name"]) for f in report["findings"]}
    assert {("azure-internal-subnet", "Service", "internal"), ("lb-source-ranges-old-network", "Service", "internal"),
            ("service-external-ips", "Service", "internal"),
            ("azure-operator-resource", "ResourceGroup", "rg-identity"),
            ("gitops-auto-sync", "Kustomization", "apps"),
            ("azure-operator-resource", "Account", "stidentity")} <= found
    advice = {f["ref"]["kind"]: f["fix"] for f in report["findings"]
              if f["code"] in ("gitops-auto-sync", "azure-operator-resource")}
    assert "suspend" in advice["Kustomization"] and "Orphan" in advice["Account"]
    with KubeClient.from_kubeconfig(clusters["green"].kubeconfig) as k:  # warnings: carried all the same
        for obj in (INTERNAL, ASO_RG, FLUX_KS, CROSSPLANE_MR):
            assert k.read(obj) is not None, obj["metadata"]["name"]
        # …and still their tools' own, so flux and crossplane keep managing them after the cutover.
        managers = {m["manager"] for obj in (FLUX_KS, CROSSPLANE_MR)
                    for m in k.read(obj)["metadata"]["managedFields"]}
    assert {"kustomize-controller", "crossplane"} <= managers


def _never_ready_backend(ns: str) -> list[dict[str, Any]]:
    """A namespace and a Service whose selector matches no pod: a backend that never has a ready endpoint."""
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "nobody", "namespace": ns},
             "spec": {"selector": {"app": "nobody"}, "ports": [{"port": 443, "targetPort": 8443}]}}]


# A backend that never answers needs no long bound to be waited out: 4 s keeps the two tests below cheap.
NEVER_READY_BOUND = 4


def _run_recording(k: KubeClient, objs: list[dict[str, Any]], bound: float) -> tuple[list[Any], dict[str, float]]:
    """``run_tiers`` with a step that applies each object and records when (seconds after the start)."""
    from kube.order import apply_tiers
    from migration.applier import Action, Outcome, run_tiers

    applied_at: dict[str, float] = {}
    started = time.monotonic()

    def step(obj: dict[str, Any]) -> Outcome:
        applied_at[f"{obj['kind']} {obj['metadata']['name']}"] = time.monotonic() - started
        k.apply(obj, field_manager="identity-test")
        return Outcome(obj["metadata"]["name"], obj["kind"], Action.CREATED)

    return run_tiers(k, apply_tiers(objs), step, backend_timeout=bound), applied_at


def test_an_api_service_is_registered_only_after_its_backend_was_waited_for_and_one_never_ready_is_reported(
        clusters: dict[str, Any]) -> None:
    from migration.applier import Action

    ns = "identity-aggregated"
    api = {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
           "metadata": {"name": "v1alpha1.nothing.identity.example.com"},
           "spec": {"group": "nothing.identity.example.com", "version": "v1alpha1", "groupPriorityMinimum": 1000,
                    "versionPriority": 15, "insecureSkipTLSVerify": True,
                    "service": {"namespace": ns, "name": "nobody", "port": 443}}}
    with KubeClient.from_kubeconfig(clusters["green"].kubeconfig) as k:
        try:
            outcomes, applied_at = _run_recording(k, [*_never_ready_backend(ns), api], NEVER_READY_BOUND)
            registered = k.read(api)
        finally:
            k.delete(api)  # an unavailable aggregated API would break discovery for the module's later tests
    failed = [(o.ref, o.message) for o in outcomes if o.action is Action.FAILED]
    assert failed == [(f"Service {ns}/nobody", f"backend not Ready within {NEVER_READY_BOUND}s (no ready endpoint); "
                                               f"applied anyway what it serves: APIService {api['metadata']['name']}")]
    # Registered after the bound was waited out (the Service's tier went first, without a wait).
    assert applied_at[f"APIService {api['metadata']['name']}"] >= NEVER_READY_BOUND > applied_at["Service nobody"]
    assert registered is not None


def test_custom_resources_whose_conversion_webhook_backend_is_not_ready_wait_out_the_bound_and_are_reported(
        clusters: dict[str, Any]) -> None:
    from migration.applier import Action

    ns = "identity-conversion"
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.identity.example.com"},
           "spec": {"group": "identity.example.com", "scope": "Namespaced",
                    "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
                    "conversion": {"strategy": "Webhook", "webhook": {
                        "conversionReviewVersions": ["v1"],
                        "clientConfig": {"service": {"namespace": ns, "name": "nobody", "path": "/convert"}}}},
                    "versions": [{"name": version, "served": True, "storage": version == "v2",
                                  "schema": {"openAPIV3Schema": {"type": "object",
                                                                 "x-kubernetes-preserve-unknown-fields": True}}}
                                 for version in ("v1", "v2")]}}
    # Created at the storage version: the API server needs no conversion to store them, so they are applied
    # after the wait; it is reading them at v1 that would fail while the backend is down.
    widgets = [{"apiVersion": "identity.example.com/v2", "kind": "Widget",
                "metadata": {"name": name, "namespace": ns}, "spec": {"size": 1}} for name in ("small", "large")]
    with KubeClient.from_kubeconfig(clusters["green"].kubeconfig) as k:
        try:
            outcomes, applied_at = _run_recording(k, [*_never_ready_backend(ns), crd, *widgets], NEVER_READY_BOUND)
        finally:
            k.delete(crd)
    failed = [(o.ref, o.message) for o in outcomes if o.action is Action.FAILED]
    assert failed == [(f"Service {ns}/nobody", f"backend not Ready within {NEVER_READY_BOUND}s (no ready endpoint); "
                                               "applied anyway what it serves: Widget large, Widget small")]
    # The CRD itself needs no wait (it is the conversion's definition, not served by it); its Widgets do.
    assert applied_at["CustomResourceDefinition widgets.identity.example.com"] < NEVER_READY_BOUND
    assert min(applied_at["Widget small"], applied_at["Widget large"]) >= NEVER_READY_BOUND


def test_verify_counts_an_exclusion_as_a_gap_once_its_reason_no_longer_holds_on_the_target(
        clusters: dict[str, Any]) -> None:
    # Last in this module: it deletes Deployment web on green (orphaning its ReplicaSet). The source's
    # ReplicaSet was excluded as "owned by Deployment web, whose controller recreates it": no longer true.
    with KubeClient.from_kubeconfig(clusters["green"].kubeconfig) as k:
        web = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": NS}}
        k.request("DELETE", k.path_of(web), body={"propagationPolicy": "Orphan"})
        deadline = time.monotonic() + 30
        while k.read(web) is not None and time.monotonic() < deadline:
            time.sleep(0.5)
    result = runner.invoke(app, ["verify", "--target", str(clusters["green"].kubeconfig), "--out", str(clusters["out"]),
                                 "--age-identity", str(clusters["key"]), "--ready-timeout", "5"])
    assert result.exit_code == 1, result.output
    problems = json.loads((clusters["out"] / "verify.json").read_text())["problems"]
    gaps = {p["object"]: p["message"] for p in problems if p["object"].startswith("ReplicaSet.apps identity/web-")}
    assert gaps and all(m.startswith("excluded as 'owned by Deployment web, whose controller recreates it")
                        and m.endswith("its owner Deployment web is not on the target") for m in gaps.values()), gaps
