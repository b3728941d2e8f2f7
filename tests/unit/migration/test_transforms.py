"""Transform rules and runner: golden pairs per rule, whiteout tables, conflict handling, properties.

Golden pairs live in ``tests/fixtures/transforms/<rule>/<case>.raw.yaml`` with
either ``<case>.cleaned.yaml`` (the whole pipeline's output) or
``<case>.excluded.txt`` (a substring of the whiteout reason). Optional
``<case>.ctx.yaml`` holds TransformContext arguments, and
``<case>.findings.yaml`` the exact set of finding codes (absent: none). Each
case must show its directory's rule at work, so a golden pair can never pass
because nothing happened. The one exception is a case that shows where the rule
must *not* act: ``<case>.unchanged.txt`` says why and names, on its first line
(``twin: <case>``), a case of the same directory where the rule does act on a
similar object — the contrast, not the absence of work, is what it proves; the
rule must still apply to it and must return neither patches nor findings.
Regenerate cleaned files after a deliberate change with ``AKSHIFT_UPDATE_GOLDEN=1``
and review the diff.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kube.objects import ObjectRef
from migration.errors import PlanError, TransformError
from migration.findings import Severity
from migration.transforms import (
    RULE_NAMES,
    RULES,
    RegisteredRule,
    TransformContext,
    TransformResult,
    selectorless_services,
    served_with_crds,
    transform,
)
from migration.transforms.base import apply_ops, overlaps, remove, replace

import support
from support import builders as b

FIXTURES = support.FIXTURES / "transforms"
CTX = TransformContext()


def _cases() -> list[Any]:
    cases = []
    for raw in sorted(FIXTURES.glob("*/*.raw.yaml")):
        rule, case = raw.parent.name, raw.name.removesuffix(".raw.yaml")
        cases.append(pytest.param(raw.parent, rule, case, id=f"{rule}/{case}"))
    return cases


def _ctx_from(path: Path) -> TransformContext:
    if not path.exists():
        return CTX
    return TransformContext(**yaml.safe_load(path.read_text()))


@pytest.mark.parametrize(("folder", "rule", "case"), _cases())
def test_golden_raw_object_transforms_to_cleaned_object(folder: Path, rule: str, case: str) -> None:
    raw = yaml.safe_load((folder / f"{case}.raw.yaml").read_text())
    outcome = transform(raw, _ctx_from(folder / f"{case}.ctx.yaml"))

    excluded = folder / f"{case}.excluded.txt"
    if excluded.exists():
        assert outcome.excluded_by == rule
        assert excluded.read_text().strip() in outcome.excluded
        return
    cleaned = folder / f"{case}.cleaned.yaml"
    if os.environ.get("AKSHIFT_UPDATE_GOLDEN"):
        cleaned.write_text(yaml.safe_dump(outcome.obj, sort_keys=True, default_flow_style=False))
    assert outcome.obj == yaml.safe_load(cleaned.read_text())
    findings_file = folder / f"{case}.findings.yaml"
    expected = set(yaml.safe_load(findings_file.read_text())) if findings_file.exists() else set()
    assert {f.code for f in outcome.findings} == expected
    assert not outcome.conflicts
    # The directory's rule must have acted on its own case: patched it or reported something.
    entry = next(r for r in RULES if r.name == rule)
    ctx = _ctx_from(folder / f"{case}.ctx.yaml")
    assert entry.rule.applies_to(raw, ctx), f"{rule} does not apply to its own golden case"
    result = entry.rule.run(copy.deepcopy(raw), ctx)
    unchanged = folder / f"{case}.unchanged.txt"
    if unchanged.exists():
        twin = unchanged.read_text().splitlines()[0].removeprefix("twin:").strip()
        assert (folder / f"{twin}.raw.yaml").exists() and not (folder / f"{twin}.unchanged.txt").exists(), \
            f"{case}.unchanged.txt must name a case of {rule} where the rule acts (twin: <case>)"
        assert not result.ops and not result.findings, f"{rule} acted on {case}, marked unchanged"
        return
    assert result.ops or result.findings, f"{rule} did nothing in its own golden case"


def test_every_rule_has_golden_cases() -> None:
    assert {p.name for p in FIXTURES.iterdir() if p.is_dir()} == set(RULE_NAMES)


# --------------------------------------------------------------------------
# Whiteouts: what is left out, and what must not be.
# --------------------------------------------------------------------------

WHITED_OUT = [
    pytest.param(b.owned_by(b.pod("web-abc"), "ReplicaSet", "web-7d9f"), CTX, "owned by ReplicaSet",
                 id="pod-of-replica-set"),
    pytest.param(b.owned_by(b.obj("apps/v1", "ReplicaSet", "web-7d9f", "shop"), "Deployment", "web"), CTX,
                 "owned by Deployment", id="replica-set-of-deployment"),
    pytest.param(b.owned_by(b.job(), "CronJob", "nightly", api_version="batch/v1"), CTX, "owned by CronJob",
                 id="job-of-cron-job"),
    pytest.param(b.obj("apps/v1", "ControllerRevision", "db-5c4b", "shop", revision=1), CTX, "rollout history",
                 id="controller-revision"),
    pytest.param(b.obj("v1", "Endpoints", "web", "shop"), TransformContext(selectorless_services=frozenset()),
                 "endpoints controller", id="endpoints-of-selector-service"),
    pytest.param(b.obj("v1", "Endpoints", "web", "shop",
                       annotations={"endpoints.kubernetes.io/last-change-trigger-time": "2024-05-02T09:14:00Z"}),
                 CTX, "endpoints controller", id="endpoints-with-controller-stamp-when-services-unknown"),
    pytest.param(b.obj("discovery.k8s.io/v1", "EndpointSlice", "web-x8k2", "shop", addressType="IPv4",
                       labels={"endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}),
                 CTX, "endpointslice-controller", id="controller-endpoint-slice"),
    pytest.param(b.obj("v1", "Endpoints", "kubernetes", "default"), TransformContext(
        selectorless_services=frozenset({"default/kubernetes"})), "old API server", id="kubernetes-endpoints"),
    pytest.param(b.service("kubernetes", "default", selector={}), CTX, "old API server", id="kubernetes-service"),
    pytest.param(b.obj("v1", "Event", "web.17c", "shop", reason="Pulled"), CTX, "Events", id="core-event"),
    pytest.param(b.obj("events.k8s.io/v1", "Event", "web.17c", "shop"), CTX, "Events", id="events-k8s-io-event"),
    pytest.param(b.obj("coordination.k8s.io/v1", "Lease", "operator-lock", "shop"), CTX, "Leases", id="lease"),
    pytest.param(b.config_map("kube-root-ca.crt"), CTX, "kube-root-ca.crt", id="root-ca-config-map"),
    pytest.param(b.service_account("default"), CTX, "'default' ServiceAccount", id="plain-default-service-account"),
    pytest.param(b.namespace("kube-system"), CTX, "kube-system namespace exists on every cluster",
                 id="kube-system-namespace"),
    pytest.param(b.deployment("coredns", "kube-system"), CTX, "managed by AKS (name coredns",
                 id="kube-system-content-aks-owns"),
    pytest.param(b.deployment("metrics", "kube-system", labels={"addonmanager.kubernetes.io/mode": "Reconcile"}), CTX,
                 "managed by AKS (label addonmanager.kubernetes.io/mode=Reconcile)", id="kube-system-addon"),
    pytest.param(b.obj("v1", "ConfigMap", "x", "kube-system", labels={"kubernetes.azure.com/managedby": "aks"}), CTX,
                 "managed by AKS (label kubernetes.azure.com/managedby=aks)", id="kube-system-managed-by-aks"),
    pytest.param(b.config_map("x", "kube-node-lease"), CTX, "system namespace", id="kube-node-lease-content"),
    pytest.param(b.crd("crd.projectcalico.org", "IPPool"), CTX, "Calico", id="calico-crd-on-cilium"),
    pytest.param(b.custom("IPPool", "default-ipv4", None, "crd.projectcalico.org/v1"), CTX, "Calico",
                 id="calico-resource-on-cilium"),
    pytest.param(b.obj("v1", "Node", "aks-nodepool1-0"), CTX, "Nodes", id="node"),
    pytest.param(b.obj("v1", "ComponentStatus", "etcd-0"), CTX, "ComponentStatus", id="component-status"),
    pytest.param(b.obj("storage.k8s.io/v1", "CSINode", "aks-nodepool1-0"), CTX, "CSI drivers", id="csi-node"),
    pytest.param(b.obj("storage.k8s.io/v1", "VolumeAttachment", "csi-123"), CTX, "attached",
                 id="volume-attachment"),
    pytest.param(b.obj("certificates.k8s.io/v1", "CertificateSigningRequest", "csr-x"), CTX, "CA", id="csr"),
    pytest.param(b.obj("authentication.k8s.io/v1", "TokenReview", "r"), CTX, "requests", id="token-review"),
    pytest.param(b.obj("apiregistration.k8s.io/v1", "APIService", "v1.apps", spec={"group": "apps"}), CTX,
                 "built-in", id="built-in-api-service"),
    pytest.param(b.obj("apiregistration.k8s.io/v1", "APIService", "v1beta1.metrics.k8s.io", spec={
        "service": {"namespace": "kube-system", "name": "metrics-server"}}), CTX, "kube-system",
                 id="api-service-backed-by-kube-system"),
    pytest.param(b.obj("rbac.authorization.k8s.io/v1", "ClusterRole", "system:node"), CTX, "'system:'",
                 id="system-cluster-role"),
    pytest.param(b.obj("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "system:basic-user"), CTX,
                 "'system:'", id="system-cluster-role-binding"),
    pytest.param(b.obj("rbac.authorization.k8s.io/v1", "ClusterRole", "admin",
                       labels={"kubernetes.io/bootstrapping": "rbac-defaults"}), CTX, "bootstrap",
                 id="bootstrapped-admin-role"),
    pytest.param(b.obj("storage.k8s.io/v1", "StorageClass", "managed-csi", provisioner="disk.csi.azure.com",
                       labels={"addonmanager.kubernetes.io/mode": "EnsureExists"}), CTX, "addon-manager",
                 id="aks-storage-class"),
    pytest.param(b.obj("scheduling.k8s.io/v1", "PriorityClass", "system-node-critical", value=2000001000), CTX,
                 "built into", id="system-priority-class"),
    pytest.param(b.obj("flowcontrol.apiserver.k8s.io/v1", "FlowSchema", "exempt",
                       annotations={"apf.kubernetes.io/autoupdate-spec": "true"}), CTX, "priority-and-fairness",
                 id="bootstrap-flow-schema"),
    pytest.param(b.pod("kube-proxy-x", annotations={"kubernetes.io/config.mirror": "abc"}), CTX, "static pod",
                 id="mirror-pod"),
]


@pytest.mark.parametrize(("obj", "ctx", "reason"), WHITED_OUT)
def test_object_is_whited_out_with_a_reason(obj: dict[str, Any], ctx: TransformContext, reason: str) -> None:
    outcome = transform(obj, ctx)
    assert outcome.obj is None and not outcome.kept
    assert reason in outcome.excluded
    assert not outcome.patches and not outcome.findings


PLATFORM = [
    pytest.param(b.deployment("calico-typha", "calico-system"), "calico-system", "Cilium", id="calico-system-on-cilium"),
    pytest.param(b.deployment("tigera-operator", "tigera-operator",
                              labels={"addonmanager.kubernetes.io/mode": "Reconcile"}), "tigera-operator", "Cilium",
                 id="tigera-operator-on-cilium"),
    pytest.param(b.deployment("gatekeeper", "gatekeeper-system"), "gatekeeper-system", "Azure Policy",
                 id="gatekeeper-on-cilium"),
    pytest.param(b.webhook_configuration("gatekeeper", service=("gatekeeper-system", "gatekeeper-webhook")),
                 "gatekeeper-system", "install Gatekeeper", id="webhook-backed-by-skipped-namespace"),
]


@pytest.mark.parametrize(("obj", "namespace", "instead"), PLATFORM)
def test_add_on_namespace_content_is_excluded_with_a_finding_saying_what_the_target_provides_instead(
        obj: dict[str, Any], namespace: str, instead: str) -> None:
    outcome = transform(obj, CTX)
    assert not outcome.kept and outcome.excluded_by == "platform-namespaces"
    assert namespace in outcome.excluded and instead in outcome.excluded
    (finding,) = outcome.findings
    assert finding.code == "platform-namespace-not-carried" and finding.ref == outcome.ref
    assert instead in finding.fix and namespace in finding.message


KUBE_SYSTEM_CARRIED = [
    pytest.param(b.obj("v1", "Secret", "sh.helm.release.v1.sealed-secrets.v1", "kube-system", type="helm.sh/release.v1",
                       labels={"name": "sealed-secrets", "owner": "helm"}), "Helm release sealed-secrets",
                 id="helm-release-secret"),
    pytest.param(b.deployment("sealed-secrets-controller", "kube-system",
                              labels={"app.kubernetes.io/managed-by": "Helm"},
                              annotations={"meta.helm.sh/release-name": "sealed-secrets"}),
                 "Helm release sealed-secrets", id="helm-chart-deployment"),
    pytest.param(b.obj("rbac.authorization.k8s.io/v1", "Role", "cert-manager:leaderelection", "kube-system",
                       labels={"app.kubernetes.io/managed-by": "Helm"},
                       annotations={"meta.helm.sh/release-name": "cert-manager"}), "Helm release cert-manager",
                 id="other-namespaces-chart-role"),
    pytest.param(b.obj("v1", "Secret", "sealed-secrets-keyqxw7c", "kube-system", type="kubernetes.io/tls",
                       labels={"sealedsecrets.bitnami.com/sealed-secrets-key": "active"}), "user content",
                 id="controller-made-sealing-key"),
]


@pytest.mark.parametrize(("obj", "why"), KUBE_SYSTEM_CARRIED)
def test_user_content_in_kube_system_is_carried_and_reported(obj: dict[str, Any], why: str) -> None:
    outcome = transform(obj, CTX)
    assert outcome.kept
    assert [f.message for f in outcome.findings if f.code == "kube-system-user-content" and why in f.message]


def test_coredns_custom_is_carried_although_aks_labels_it_ensure_exists() -> None:
    cm = b.obj("v1", "ConfigMap", "coredns-custom", "kube-system",
               labels={"addonmanager.kubernetes.io/mode": "EnsureExists"},
               data={"corp.server": "corp:53 { forward . 10.50.0.4 }"})
    outcome = transform(cm, TransformContext(target_coredns_custom={}))
    assert outcome.kept and outcome.obj is not None and outcome.obj["data"] == cm["data"]
    assert {f.code for f in outcome.findings} == {"coredns-custom-merged"}


def test_coredns_custom_never_clobbers_a_key_the_target_holds_differently() -> None:
    cm = b.config_map("coredns-custom", "kube-system", data={"corp.server": "source", "same.server": "x"})
    outcome = transform(cm, TransformContext(target_coredns_custom={"corp.server": "target", "same.server": "x"}))
    assert outcome.obj is not None and outcome.obj["data"] == {"same.server": "x"}
    conflict = next(f for f in outcome.findings if f.code == "coredns-custom-conflict")
    assert "corp.server" in conflict.message and conflict.severity.value == "warning"


KEPT = [
    pytest.param(b.pod("debug"), CTX, id="bare-pod"),
    pytest.param(b.owned_by(b.config_map(), "Widget", "w1", controller=False, api_version="example.com/v1"), CTX,
                 id="non-controller-owner"),
    pytest.param(b.obj("v1", "Endpoints", "external-db", "shop", subsets=[{"addresses": [{"ip": "10.1.2.3"}]}]),
                 TransformContext(selectorless_services=frozenset({"shop/external-db"})),
                 id="endpoints-of-selectorless-service"),
    pytest.param(b.obj("v1", "Endpoints", "external-db", "shop"), CTX,
                 id="endpoints-without-controller-stamp-when-services-unknown"),
    pytest.param(b.obj("discovery.k8s.io/v1", "EndpointSlice", "external-db-1", "shop", addressType="IPv4",
                       labels={"endpointslice.kubernetes.io/managed-by": "my-operator"}), CTX,
                 id="user-managed-endpoint-slice"),
    pytest.param(b.service_account("default", imagePullSecrets=[{"name": "acr"}]), CTX,
                 id="default-service-account-with-pull-secret"),
    pytest.param(b.service_account("default", annotations={"azure.workload.identity/client-id": "abc"}), CTX,
                 id="default-service-account-with-workload-identity"),
    pytest.param(b.deployment("calico-typha", "calico-system"), TransformContext(target_dataplane="azure"),
                 id="calico-system-when-target-is-not-cilium"),
    pytest.param(b.deployment("app", "kube-system-tools"), CTX, id="namespace-that-only-looks-like-a-system-one"),
    pytest.param(b.namespace("default"), CTX, id="default-namespace"),
    pytest.param(b.namespace("app-routing-system", labels={"addonmanager.kubernetes.io/mode": "Reconcile"}), CTX,
                 id="add-on-namespace-users-may-share"),
    pytest.param(b.obj("rbac.authorization.k8s.io/v1", "ClusterRole", "shop-reader"), CTX, id="user-cluster-role"),
    pytest.param(b.obj("scheduling.k8s.io/v1", "PriorityClass", "high", value=1000), CTX, id="user-priority-class"),
    pytest.param(b.obj("apiregistration.k8s.io/v1", "APIService", "v1beta1.custom.metrics.k8s.io", spec={
        "service": {"namespace": "monitoring", "name": "prometheus-adapter"}}), CTX, id="user-aggregated-api"),
    pytest.param(b.service("kubernetes", "shop"), CTX, id="service-named-kubernetes-elsewhere"),
    pytest.param(b.custom("Service", "hello", api_version="serving.knative.dev/v1"), CTX, id="knative-service"),
    pytest.param(b.secret(), CTX, id="opaque-secret"),
]


@pytest.mark.parametrize(("obj", "ctx"), KEPT)
def test_object_is_kept(obj: dict[str, Any], ctx: TransformContext) -> None:
    outcome = transform(obj, ctx)
    assert outcome.kept, outcome.excluded
    assert outcome.obj["metadata"]["name"] == obj["metadata"]["name"]


# --------------------------------------------------------------------------
# Per-rule behaviour not worth a golden file.
# --------------------------------------------------------------------------

def _svc(**kw: Any) -> dict[str, Any]:
    return transform(b.service(**kw), CTX).obj["spec"]


def test_headless_service_keeps_cluster_ip_none() -> None:
    spec = _svc(cluster_ip="None")
    assert spec["clusterIP"] == "None" and spec["clusterIPs"] == ["None"]


def test_cluster_ip_service_loses_its_allocated_address() -> None:
    spec = _svc(cluster_ip="10.0.0.12")
    assert "clusterIP" not in spec and "clusterIPs" not in spec


@pytest.mark.parametrize(("svc_type", "keep", "expected"), [
    pytest.param("NodePort", False, None, id="node-port-dropped-by-default"),
    pytest.param("NodePort", True, 30080, id="node-port-kept-when-asked"),
    pytest.param("LoadBalancer", True, 30080, id="load-balancer-node-port-kept-when-asked"),
])
def test_node_ports_are_dropped_unless_kept_on_purpose(svc_type: str, keep: bool, expected: int | None) -> None:
    svc = b.service(type=svc_type, ports=[b.port(80, node_port=30080)])
    spec = transform(svc, TransformContext(keep_node_ports=keep)).obj["spec"]
    assert spec["ports"][0].get("nodePort") == expected


def test_dual_stack_ip_families_are_kept() -> None:
    spec = _svc(ipFamilies=["IPv4", "IPv6"], ipFamilyPolicy="PreferDualStack")
    assert spec["ipFamilies"] == ["IPv4", "IPv6"] and spec["ipFamilyPolicy"] == "PreferDualStack"


def test_default_ip_families_are_dropped() -> None:
    spec = _svc(ipFamilies=["IPv4"], ipFamilyPolicy="SingleStack")
    assert "ipFamilies" not in spec and "ipFamilyPolicy" not in spec


@pytest.mark.parametrize(("cidr", "target", "expected", "codes"), [
    pytest.param("10.244.0.0/16", "192.168.0.0/16", "192.168.0.0/16", set(), id="equal-rewritten"),
    pytest.param("10.244.0.0/16", None, "10.244.0.0/16", {"old-pod-cidr-ipblock"}, id="equal-without-target"),
    pytest.param("10.244.7.0/24", "192.168.0.0/16", "10.244.7.0/24", {"old-pod-cidr-ipblock"}, id="node-range"),
    pytest.param("10.0.0.0/8", "10.128.0.0/16", "10.0.0.0/8", set(), id="supernet-covering-both"),
    pytest.param("10.0.0.0/8", "192.168.0.0/16", "10.0.0.0/8", {"old-pod-cidr-ipblock"},
                 id="supernet-missing-target"),
    pytest.param("172.16.0.0/12", "192.168.0.0/16", "172.16.0.0/12", set(), id="unrelated"),
])
def test_ipblock_on_the_old_pod_cidr_is_rewritten_only_when_faithful(cidr: str, target: str | None, expected: str, codes: set[str]) -> None:
    ctx = TransformContext(target_pod_cidr=target, target_dataplane="azure")
    outcome = transform(b.network_policy(ingress_cidrs=[cidr]), ctx)
    assert outcome.obj["spec"]["ingress"][0]["from"][0]["ipBlock"]["cidr"] == expected
    assert {f.code for f in outcome.findings} == codes


def test_rewritten_ipblock_on_cilium_target_is_flagged_as_not_matching_pods() -> None:
    outcome = transform(b.network_policy(ingress_cidrs=["10.244.0.0/16"]),
                        TransformContext(target_pod_cidr="192.168.0.0/16"))
    assert outcome.obj["spec"]["ingress"][0]["from"][0]["ipBlock"]["cidr"] == "192.168.0.0/16"
    assert [f.code for f in outcome.findings] == ["ipblock-pod-traffic-cilium"]


def test_node_pool_already_renamed_is_left_alone_and_not_flagged() -> None:
    deploy = b.deployment(spec=b.pod_spec(node_selector={"agentpool": "system2"}))
    outcome = transform(deploy, TransformContext(node_pool_map={"nodepool1": "system2"}))
    assert outcome.obj["spec"]["template"]["spec"]["nodeSelector"] == {"agentpool": "system2"}
    assert not outcome.findings


def test_pool_known_on_target_is_not_flagged_without_a_mapping() -> None:
    deploy = b.deployment(spec=b.pod_spec(node_selector={"agentpool": "user"}))
    assert not transform(deploy, TransformContext(target_node_pools=frozenset({"user"}))).findings


def test_unmapped_pool_is_a_blocker_when_the_target_pools_are_known() -> None:
    deploy = b.deployment(spec=b.pod_spec(node_selector={"agentpool": "user"}))
    [finding] = transform(deploy, TransformContext(target_node_pools=frozenset({"system"}))).findings
    assert finding.code == "unmapped-node-pool" and finding.severity.value == "blocker"
    assert finding.path == "/spec/template/spec/nodeSelector/agentpool"


def test_cron_job_pool_selector_is_rewritten_in_the_job_template() -> None:
    cron = b.cron_job(spec=b.pod_spec(node_selector={"kubernetes.azure.com/agentpool": "old"}))
    out = transform(cron, TransformContext(node_pool_map={"old": "new"})).obj
    assert out["spec"]["jobTemplate"]["spec"]["template"]["spec"]["nodeSelector"] == {
        "kubernetes.azure.com/agentpool": "new"}


@pytest.mark.parametrize(("api_version", "kind", "expected"), [
    pytest.param("batch/v1beta1", "CronJob", "batch/v1", id="cron-job"),
    pytest.param("autoscaling/v2beta2", "HorizontalPodAutoscaler", "autoscaling/v2", id="hpa"),
    pytest.param("extensions/v1beta1", "Ingress", "networking.k8s.io/v1", id="extensions-ingress"),
    pytest.param("networking.k8s.io/v1beta1", "IngressClass", "networking.k8s.io/v1", id="ingress-class"),
    pytest.param("apps/v1", "Deployment", "apps/v1", id="served-version-untouched"),
])
def test_deprecated_api_version_is_rewritten_to_the_served_one(api_version: str, kind: str, expected: str) -> None:
    out = transform(b.obj(api_version, kind, "x", "shop", spec={}), CTX).obj
    assert out["apiVersion"] == expected


def test_unserved_version_without_conversion_is_a_blocker_finding() -> None:
    crd_obj = b.custom("Widget", api_version="example.com/v1alpha1")
    ctx = TransformContext(target_served=frozenset({"v1", "apps/v1"}))
    [finding] = transform(crd_obj, ctx).findings
    assert finding.code == "unserved-api-version" and finding.severity.value == "blocker"
    assert "example.com/v1alpha1" in finding.message


def test_custom_resource_served_by_a_migrated_crd_is_not_flagged() -> None:
    served = served_with_crds({"v1"}, [b.crd("example.com", "Widget", versions=("v1", "v1alpha1"))])
    ctx = TransformContext(target_served=served)
    assert not transform(b.custom("Widget", api_version="example.com/v1alpha1"), ctx).findings


def test_selectorless_services_are_collected_from_the_inventory() -> None:
    objs = [b.service("web"), b.service("external-db", selector={}),
            b.service("alias", selector={}, type="ExternalName", cluster_ip=None), b.config_map()]
    assert selectorless_services(objs) == frozenset({"shop/external-db"})


# --------------------------------------------------------------------------
# The runner: patch log, conflicts, errors, purity.
# --------------------------------------------------------------------------

class _FixedRule:
    """A test rule proposing fixed operations (a module-like object with applies_to/run)."""

    def __init__(self, *ops: dict[str, Any], whiteout: str | None = None, boom: bool = False):
        self.ops, self.whiteout, self.boom = ops, whiteout, boom

    def applies_to(self, obj: dict[str, Any], ctx: TransformContext) -> bool:
        return True

    def run(self, obj: dict[str, Any], ctx: TransformContext) -> TransformResult:
        if self.boom:
            raise KeyError("spec")
        obj["metadata"]["name"] = "mutated-by-a-careless-rule"  # must not leak to the caller or other rules
        return TransformResult.exclude(self.whiteout) if self.whiteout else TransformResult.patch(self.ops)


def _rules(*rules: _FixedRule) -> tuple[RegisteredRule, ...]:
    return tuple(RegisteredRule(f"r{i}", i, r) for i, r in enumerate(rules))


def test_conflicting_patches_are_recorded_and_the_earlier_rule_wins() -> None:
    rules = _rules(_FixedRule(replace(3, "spec", "replicas")), _FixedRule(replace(5, "spec", "replicas")))
    outcome = transform(b.deployment(), CTX, rules)
    assert outcome.obj["spec"]["replicas"] == 3
    [conflict] = outcome.conflicts
    assert (conflict.winner, conflict.loser, conflict.path) == ("r0", "r1", "/spec/replicas")
    assert conflict.loser_op["value"] == 5


def test_patch_under_a_replaced_parent_is_a_conflict() -> None:
    rules = _rules(_FixedRule(replace({}, "spec", "selector")),
                   _FixedRule(replace("x", "spec", "selector", "matchLabels", "app")))
    outcome = transform(b.deployment(), CTX, rules)
    assert outcome.obj["spec"]["selector"] == {}
    assert [c.path for c in outcome.conflicts] == ["/spec/selector/matchLabels/app"]


def test_identical_and_redundant_removals_are_not_conflicts() -> None:
    rules = _rules(_FixedRule(remove("spec", "selector")), _FixedRule(remove("spec", "selector")),
                   _FixedRule(remove("spec", "selector", "matchLabels")))
    outcome = transform(b.deployment(), CTX, rules)
    assert "selector" not in outcome.obj["spec"]
    assert not outcome.conflicts
    assert [p.rule for p in outcome.patches] == ["r0"]


def test_first_whiteout_wins_and_later_rules_do_not_run() -> None:
    rules = _rules(_FixedRule(replace(1, "spec", "replicas")), _FixedRule(whiteout="first"),
                   _FixedRule(boom=True))
    outcome = transform(b.deployment(), CTX, rules)
    assert (outcome.excluded, outcome.excluded_by, outcome.obj) == ("first", "r1", None)


def test_a_failing_rule_raises_transform_error_naming_rule_and_object() -> None:
    with pytest.raises(TransformError, match=r"Deployment.apps shop/web: rule r0 failed: KeyError") as info:
        transform(b.deployment(), CTX, _rules(_FixedRule(boom=True)))
    assert "exclude the object" in info.value.fix


def test_patch_that_does_not_fit_raises_transform_error() -> None:
    with pytest.raises(TransformError, match="does not fit"):
        transform(b.deployment(), CTX, _rules(_FixedRule(replace(1, "spec", "nope"))))


def test_rules_receive_copies_so_the_input_is_never_mutated() -> None:
    deploy = b.live(b.deployment())
    before = copy.deepcopy(deploy)
    outcome = transform(deploy, CTX, (*_rules(_FixedRule()), *RULES))
    assert deploy == before
    assert outcome.obj["metadata"]["name"] == "web"


def test_patch_log_names_each_rule_and_its_operations() -> None:
    outcome = transform(b.live(b.service(type="LoadBalancer", ports=[b.port(80, node_port=31000)])), CTX)
    log = outcome.patch_log()
    assert [p["rule"] for p in log["patches"]] == ["metadata", "service"]
    assert {"op": "remove", "path": "/spec/clusterIP"} in log["patches"][1]["ops"]


@pytest.mark.parametrize(("a", "b_", "expected"), [
    pytest.param("/spec", "/spec/x", True, id="parent"),
    pytest.param("/spec/x", "/spec/x", True, id="equal"),
    pytest.param("/spec/x", "/spec/xy", False, id="sibling-with-common-prefix"),
    pytest.param("/metadata/annotations/a~1b", "/metadata/annotations/a", False, id="escaped-slash"),
])
def test_pointers_overlap_when_equal_or_nested(a: str, b_: str, expected: bool) -> None:
    assert overlaps(a, b_) is expected and overlaps(b_, a) is expected


def test_apply_ops_handles_escaped_keys_and_lists() -> None:
    doc = {"metadata": {"annotations": {"a/b": "1", "c~d": "2"}}, "items": [1, 2, 3]}
    out = apply_ops(doc, [remove("metadata", "annotations", "a/b"), replace(9, "items", 1),
                          {"op": "add", "path": "/items/-", "value": 4},
                          remove("metadata", "annotations", "c~d")])
    assert out == {"metadata": {"annotations": {}}, "items": [1, 9, 3, 4]}
    assert doc["items"] == [1, 2, 3]


@pytest.mark.parametrize("kwargs", [
    pytest.param({"source_pod_cidr": "10.244.0.1/16"}, id="host-bits-set"),
    pytest.param({"target_pod_cidr": "not-a-cidr"}, id="garbage"),
    pytest.param({"target_dataplane": "calico"}, id="unknown-dataplane"),
])
def test_invalid_context_is_a_plan_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(PlanError):
        TransformContext(**kwargs)


def test_context_freezes_the_mappings_it_is_given() -> None:
    pools = {"a": "b"}
    ctx = TransformContext(node_pool_map=pools)
    pools["a"] = "c"
    assert ctx.node_pool_map["a"] == "b"
    with pytest.raises(TypeError):
        ctx.node_pool_map["x"] = "y"  # type: ignore[index]


# --------------------------------------------------------------------------
# Properties over generated objects.
# --------------------------------------------------------------------------

_names = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)
_labels = st.dictionaries(st.sampled_from(["app", "tier", "agentpool"]), _names, max_size=3)


@st.composite
def _objects(draw: st.DrawFn) -> dict[str, Any]:
    name, ns = draw(_names), draw(st.sampled_from(["shop", "ml", "default"]))
    pool = draw(st.sampled_from(["nodepool1", "gpu", "user"]))
    spec = b.pod_spec(node_selector={"agentpool": pool} if draw(st.booleans()) else None,
                      host_network=draw(st.booleans()))
    builders = [
        lambda: b.deployment(name, ns, spec=spec, labels=draw(_labels)),
        lambda: b.service(name, ns, type=draw(st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer"])),
                          ports=[b.port(80, node_port=draw(st.integers(30000, 32767)))],
                          cluster_ip=draw(st.sampled_from(["10.0.0.9", "None"]))),
        lambda: b.job(name, ns, manual_selector=draw(st.booleans())),
        lambda: b.pod(name, ns, spec=spec),
        lambda: b.network_policy(name, ns, ingress_cidrs=draw(st.lists(
            st.sampled_from(["10.244.0.0/16", "10.244.1.0/24", "10.0.0.0/8", "172.16.0.0/12"]), max_size=3))),
        lambda: b.pvc(name, ns),
        lambda: b.config_map(name, ns),
    ]
    o = draw(st.sampled_from(builders))()
    return b.live(o) if draw(st.booleans()) else o


_PROPERTY_CTX = TransformContext(target_pod_cidr="192.168.0.0/16", node_pool_map={"nodepool1": "system2"})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_objects())
def test_transform_is_idempotent_and_pure(obj: dict[str, Any]) -> None:
    before = copy.deepcopy(obj)
    first = transform(obj, _PROPERTY_CTX)
    assert obj == before
    second = transform(first.obj, _PROPERTY_CTX)
    assert second.obj == first.obj
    assert not second.patches, second.patch_log()
    assert set(second.findings) == set(first.findings)


def test_job_with_manual_selector_keeps_its_selector_and_labels() -> None:
    job = b.job(manual_selector=True)
    out = transform(job, CTX).obj
    assert out["spec"]["selector"] == {"matchLabels": {"app": "migrate"}}
    assert out["spec"]["template"]["metadata"]["labels"] == {"app": "migrate"}


@pytest.mark.parametrize(("meta", "expected"), [
    pytest.param({"generateName": "run-", "namespace": "shop"}, {"generateName": "run-", "namespace": "shop"},
                 id="generate-name-kept-without-name"),
    pytest.param({"name": "run-x7k2p", "generateName": "run-", "namespace": "shop"},
                 {"name": "run-x7k2p", "namespace": "shop"}, id="generate-name-dropped-beside-name"),
    pytest.param({"name": "a", "finalizers": ["kubernetes.io/pvc-protection", "foregroundDeletion"],
                  "ownerReferences": [{"kind": "Widget", "name": "w", "controller": False}]},
                 {"name": "a"}, id="system-finalizers-and-owners-of-unknown-fate-dropped"),
    pytest.param({"name": "a", "finalizers": ["x", "kubernetes"]}, {"name": "a", "finalizers": ["x"]},
                 id="user-finalizers-kept"),
])
def test_metadata_keeps_only_allowlisted_fields(meta: dict[str, Any], expected: dict[str, Any]) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {}}
    assert transform(cm, CTX).obj["metadata"] == expected


# --------------------------------------------------------------------------
# Calico policies through the transform stage (migration/transforms/stage.py).
# --------------------------------------------------------------------------

_DENY_EGRESS = {"apiVersion": "crd.projectcalico.org/v1", "kind": "GlobalNetworkPolicy",
                "metadata": {"name": "default.default-deny-egress"},
                "spec": {"order": 2000, "selector": "all()", "types": ["Egress"],
                         "egress": [{"action": "Allow", "protocol": "UDP",
                                     "destination": {"selector": "k8s-app == 'kube-dns'",
                                                     "namespaceSelector": "projectcalico.org/name == 'kube-system'",
                                                     "ports": [53]}}]}}
_PASS = {"apiVersion": "crd.projectcalico.org/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "default.hand-over", "namespace": "shop"},
         "spec": {"selector": "app == 'web'", "types": ["Ingress"], "ingress": [{"action": "Pass"}]}}


def _calico_run(tmp_path: Path, ctx: TransformContext, *objs: dict[str, Any]) -> tuple[Any, Any]:
    from migration.snapshot import Snapshot, SnapshotWriter
    from migration.transforms import transform_snapshot

    with SnapshotWriter(tmp_path / "snapshot", exclude_secrets=True) as w:
        for o in objs:
            w.write(o)
    results = transform_snapshot(Snapshot(tmp_path / "snapshot"), tmp_path / "transformed", ctx,
                                 exclude_secrets=True)
    return results, Snapshot(tmp_path / "transformed")


def test_calico_policies_are_translated_written_and_their_source_recorded_as_translated(tmp_path: Path) -> None:
    _, out = _calico_run(tmp_path, TransformContext(target_node_dns="localdns"), _DENY_EGRESS)
    (policy,) = list(out.objects())
    assert policy["kind"] == "CiliumClusterwideNetworkPolicy"
    assert policy["metadata"]["annotations"]["akshift.io/source"] == \
        "GlobalNetworkPolicy.crd.projectcalico.org default.default-deny-egress"
    assert "169.254.10.10/32" in str(policy["spec"]) and "169.254.10.11/32" in str(policy["spec"])
    (excluded,) = list(out.excluded())
    assert excluded["rule"] == "calico-translation"
    assert excluded["reason"].startswith("translated to CiliumClusterwideNetworkPolicy.cilium.io default-deny-egress")
    assert {f.code for f in out.findings()} >= {"calico-policy-translated", "calico-dns-node-local"}


def test_an_untranslatable_calico_policy_is_recorded_blocked_with_a_blocker_naming_the_rule(tmp_path: Path) -> None:
    _, out = _calico_run(tmp_path, CTX, _PASS)
    assert list(out.objects()) == []
    (excluded,) = list(out.excluded())
    assert excluded["reason"].startswith("blocked: not translated")
    blockers = [f for f in out.findings() if f.severity.value == "blocker"]
    assert blockers and all(f.code == "calico-policy-untranslatable" for f in blockers)
    assert any("/spec/ingress/0" in f.path for f in blockers)


def test_a_target_that_does_not_serve_cilium_gets_a_blocker_on_the_translated_policy(tmp_path: Path) -> None:
    _, out = _calico_run(tmp_path, TransformContext(target_served=frozenset({"v1", "networking.k8s.io/v1"})),
                         _DENY_EGRESS)
    blockers = [f for f in out.findings() if f.severity.value == "blocker"]
    assert [(f.code, f.ref.kind) for f in blockers] == [("unserved-api-version", "CiliumClusterwideNetworkPolicy")]


def test_calico_objects_are_carried_untouched_when_the_target_keeps_calico(tmp_path: Path) -> None:
    _, out = _calico_run(tmp_path, TransformContext(target_dataplane="azure"), _DENY_EGRESS)
    (policy,) = list(out.objects())
    assert policy["kind"] == "GlobalNetworkPolicy" and list(out.excluded()) == []


def test_a_translation_never_takes_the_place_of_a_source_object_of_the_same_name(tmp_path: Path) -> None:
    allow = {"apiVersion": "crd.projectcalico.org/v1", "kind": "NetworkPolicy",
             "metadata": {"name": "default.web", "namespace": "shop"},
             "spec": {"selector": "app == 'web'", "types": ["Ingress"],
                      "ingress": [{"action": "Allow", "source": {"selector": "app == 'lb'"}}]}}
    existing = b.obj("networking.k8s.io/v1", "NetworkPolicy", "web", "shop", spec={"podSelector": {}})
    _, out = _calico_run(tmp_path, CTX, allow, existing)
    assert [o["kind"] for o in out.objects()] == ["NetworkPolicy"]
    assert next(iter(out.objects()))["spec"] == {"podSelector": {}}
    assert any(f.code == "calico-policy-untranslatable" and "already has an object" in f.message
               for f in out.findings())


def test_a_calico_policy_translated_to_a_kubernetes_one_gets_the_node_local_dns_rule_once(tmp_path: Path) -> None:
    # The translation writes the node-local rule itself; the network-policy-dns rule then sees it covered.
    allow_dns = {"apiVersion": "crd.projectcalico.org/v1", "kind": "NetworkPolicy",
                 "metadata": {"name": "default.egress", "namespace": "shop"},
                 "spec": {"selector": "app == 'web'", "types": ["Egress"],
                          "egress": [{"action": "Allow", "protocol": "UDP",
                                      "destination": {"namespaceSelector": "projectcalico.org/name == 'kube-system'",
                                                      "ports": [53]}}]}}
    _, out = _calico_run(tmp_path, TransformContext(target_node_dns="localdns"), allow_dns)
    (policy,) = list(out.objects())
    assert policy["kind"] == "NetworkPolicy"
    assert str(policy["spec"]).count("169.254.10.10/32") == 1
    assert "network-policy-dns-node-local" not in {f.code for f in out.findings()}


def _egress_policy(*rules: dict[str, Any], namespace: str = "shop") -> dict[str, Any]:
    return b.obj("networking.k8s.io/v1", "NetworkPolicy", "lockdown", namespace,
                 spec={"podSelector": {}, "policyTypes": ["Egress"], "egress": list(rules)})


_KUBE_DNS = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
             "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}


@pytest.mark.parametrize(("policy", "added"), [
    pytest.param(_egress_policy({"to": [_KUBE_DNS], "ports": [{"port": 50, "endPort": 60, "protocol": "UDP"}]}),
                 [{"protocol": "UDP", "port": 53}], id="port-range-holding-53"),
    pytest.param(_egress_policy({"to": [_KUBE_DNS], "ports": [{"port": 53}]}),
                 [{"protocol": "TCP", "port": 53}], id="protocol-defaults-to-tcp"),
    pytest.param(_egress_policy({"to": [_KUBE_DNS]}), [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                 id="every-port-to-kube-dns"),
    pytest.param(_egress_policy({"to": [{"namespaceSelector": {}}], "ports": [{"port": 53, "protocol": "UDP"}]}),
                 [{"protocol": "UDP", "port": 53}], id="every-namespace"),
    pytest.param(_egress_policy({"to": [{"podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                                 "ports": [{"port": 53, "protocol": "UDP"}]}, namespace="kube-system"),
                 [{"protocol": "UDP", "port": 53}], id="pod-selector-in-kube-system-itself"),
    pytest.param(_egress_policy({"to": [_KUBE_DNS], "ports": [{"port": 53, "protocol": "SCTP"}]}), None,
                 id="sctp-is-not-dns"),
    pytest.param(_egress_policy({"to": [_KUBE_DNS], "ports": [{"port": 443}]}), None, id="other-port-to-kube-dns"),
    pytest.param(_egress_policy({"to": [{"podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                                 "ports": [{"port": 53, "protocol": "UDP"}]}), None,
                 id="pod-selector-alone-stays-in-the-policys-namespace"),
    pytest.param(_egress_policy({"to": [{"namespaceSelector": {"matchLabels": {"name": "kube-system"}}}],
                                 "ports": [{"port": 53, "protocol": "UDP"}]}), None,
                 id="a-label-the-targets-kube-system-does-not-carry"),
    pytest.param(_egress_policy({"to": [{"ipBlock": {"cidr": "10.0.0.10/32"}}], "ports": [{"port": 53, "protocol": "UDP"}]}),
                 None, id="ip-block-of-the-kube-dns-service-is-not-kube-dns"),
    pytest.param(_egress_policy({"to": [_KUBE_DNS], "ports": [{"port": 53, "protocol": "UDP"}]},
                                {"to": [{"ipBlock": {"cidr": "169.254.0.0/16"}}], "ports": [{"port": 53, "protocol": "UDP"}]}),
                 None, id="node-local-addresses-already-allowed"),
    pytest.param(_egress_policy({"to": [_KUBE_DNS], "ports": [{"port": 53, "protocol": "UDP"}]},
                                {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16"]}}],
                                 "ports": [{"port": 53, "protocol": "UDP"}]}),
                 [{"protocol": "UDP", "port": 53}], id="anywhere-except-link-local-is-not-allowed-yet"),
])
def test_which_policies_get_egress_to_the_node_local_dns(policy: dict[str, Any], added: list[Any] | None) -> None:
    outcome = transform(policy, TransformContext(target_node_dns="localdns"))
    extra = outcome.obj["spec"]["egress"][len(policy["spec"]["egress"]):]
    if added is None:
        assert extra == [] and "network-policy-dns-node-local" not in {f.code for f in outcome.findings}
    else:
        assert extra == [{"to": [{"ipBlock": {"cidr": "169.254.10.10/32"}}, {"ipBlock": {"cidr": "169.254.10.11/32"}}],
                          "ports": added}]
        [finding] = [f for f in outcome.findings if f.code == "network-policy-dns-node-local"]
        assert finding.severity is Severity.INFO and "169.254.10.10, 169.254.10.11" in finding.message


def test_the_node_local_dns_addresses_are_one_table() -> None:
    from migration.node_dns import NODE_LOCAL_DNS
    from migration.policies import calico

    assert calico.NODE_LOCAL_DNS is NODE_LOCAL_DNS
    assert dict(NODE_LOCAL_DNS) == {"localdns": ("169.254.10.10", "169.254.10.11"), "nodelocaldns": ("169.254.20.10",)}


def test_target_node_dns_must_be_one_the_translation_knows() -> None:
    with pytest.raises(PlanError, match="target_node_dns"):
        TransformContext(target_node_dns="coredns")


class _Target:
    """Just enough of a KubeClient for the node-DNS and coredns-custom probes: reads of named objects."""

    def __init__(self, objects: dict[tuple[str, str], dict[str, Any]]):
        self.objects = objects

    def read(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        return self.objects.get((obj["kind"], obj["metadata"]["name"]))


@pytest.mark.parametrize(("labels", "objects", "expected"), [
    pytest.param({"kubernetes.azure.com/localdns-state": "enabled"}, {}, "localdns", id="aks-localdns-node-label"),
    pytest.param({}, {("DaemonSet", "node-local-dns"): {"kind": "DaemonSet"}}, "nodelocaldns",
                 id="nodelocal-dnscache-daemonset"),
    pytest.param({"kubernetes.azure.com/localdns-state": "disabled"}, {}, None, id="neither"),
])
def test_the_targets_node_local_dns_is_detected(labels: dict[str, str], objects: dict[Any, Any],
                                                expected: str | None) -> None:
    from migration.stages import node_dns

    nodes = [{"metadata": {"name": "aks-system-0", "labels": labels}}]
    assert node_dns(_Target(objects), nodes) == expected  # type: ignore[arg-type]


def test_the_target_node_dns_option_accepts_only_what_the_translation_knows() -> None:
    from akshift.options import node_dns
    from errors import AkshiftError, ErrorKind

    assert node_dns("LocalDNS") == "localdns" and node_dns(None) is None
    with pytest.raises(AkshiftError, match="--target-node-dns 'coredns'") as e:
        node_dns("coredns")
    assert e.value.kind is ErrorKind.BAD_INPUT


# --------------------------------------------------------------------------
# A rehearsal (--empty-volumes): nothing on the target names the source's storage.
# --------------------------------------------------------------------------

def _zonal_disk_pv() -> dict[str, Any]:
    return yaml.safe_load((FIXTURES / "empty-volumes" / "zonal-csi-disk.raw.yaml").read_text())


def test_a_rehearsal_leaves_the_source_disk_pv_out_and_says_its_claim_starts_empty() -> None:
    outcome = transform(_zonal_disk_pv(), TransformContext(empty_volumes=True))
    assert outcome.obj is None and outcome.excluded_by == "empty-volumes"
    [finding] = outcome.findings
    assert finding.code == "volume-data-not-copied" and finding.severity is Severity.WARNING
    assert finding.ref == ObjectRef("", "PersistentVolumeClaim", "data", "pg-data-postgres-0")
    assert "starts empty" in finding.message and "none of the source's data was copied" in finding.message


def test_a_rehearsal_claim_loses_its_volume_name_so_the_target_provisions_its_own_disk() -> None:
    claim = b.pvc("pg-data-postgres-0", "data", volume_name="pvc-7a1e2f3c")
    cleaned = transform(claim, TransformContext(empty_volumes=True)).obj
    assert cleaned is not None and "volumeName" not in cleaned["spec"]


def test_without_empty_volumes_the_source_disk_pv_is_held_back_by_its_blocker_as_before() -> None:
    outcome = transform(_zonal_disk_pv(), TransformContext(old_node_resource_group="mc_rg-shop-prod_aks-shop-prod_westeurope"))
    assert outcome.obj is not None
    assert "azure-disk-volume" in {f.code for f in outcome.findings if f.severity is Severity.BLOCKER}
    assert "volume-data-not-copied" not in {f.code for f in outcome.findings}


def test_a_rehearsal_leaves_pvs_on_other_storage_to_the_other_rules() -> None:
    nfs = b.obj("v1", "PersistentVolume", "nfs-share", spec={
        "nfs": {"server": "10.0.0.4", "path": "/export"}, "persistentVolumeReclaimPolicy": "Retain",
        "claimRef": {"namespace": "shop", "name": "media"}})
    outcome = transform(nfs, TransformContext(empty_volumes=True))
    assert outcome.obj is not None and not outcome.excluded
