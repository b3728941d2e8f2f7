"""Findings about what would act twice after the move (issue 13 item 7): GitOps, Azure operators,
load-balancer annotations, hard-coded old addresses, AAD Pod Identity, and the source pod CIDR."""
from __future__ import annotations

from typing import Any

import pytest

from migration import continuity
from migration.stages import _pod_cidr
from migration.transforms import TransformContext, transform

from support import builders as b

CTX = TransformContext(source_pod_cidr="10.244.0.0/16", source_node_ips=frozenset({"10.240.0.4"}))


def _codes(obj: dict[str, Any], ctx: TransformContext = CTX) -> set[str]:
    return {f.code for f in continuity.find(obj, ctx)}


@pytest.mark.parametrize(("obj", "code"), [
    pytest.param(b.custom("Application", "shop", "argocd", "argoproj.io/v1alpha1",
                          spec={"syncPolicy": {"automated": {"prune": True}}}), "gitops-auto-sync", id="argo-auto-sync"),
    pytest.param(b.custom("Kustomization", "apps", "flux-system", "kustomize.toolkit.fluxcd.io/v1", spec={}),
                 "gitops-auto-sync", id="flux-kustomization"),
    pytest.param(b.custom("HelmRelease", "web", "shop", "helm.toolkit.fluxcd.io/v2", spec={}),
                 "gitops-auto-sync", id="flux-helm-release"),
    pytest.param(b.custom("ResourceGroup", "rg", "shop", "resources.azure.com/v1api20200601", spec={}),
                 "azure-operator-resource", id="azure-service-operator"),
    pytest.param(b.custom("Account", "sa", None, "storage.azure.upbound.io/v1beta1", spec={}),
                 "azure-operator-resource", id="crossplane-azure"),
    pytest.param(b.service("web", type="LoadBalancer",
                           annotations={"service.beta.kubernetes.io/azure-dns-label-name": "shop"}),
                 "azure-dns-label-name", id="dns-label"),
    pytest.param(b.service("web", type="LoadBalancer",
                           annotations={"service.beta.kubernetes.io/azure-load-balancer-internal-subnet": "apps"}),
                 "azure-internal-subnet", id="internal-subnet"),
    pytest.param(b.service("web", type="LoadBalancer", loadBalancerSourceRanges=["10.244.3.0/24"]),
                 "lb-source-ranges-old-network", id="source-ranges-on-old-pods"),
    pytest.param(b.service("web", type="LoadBalancer", loadBalancerSourceRanges=["10.240.0.0/16"]),
                 "lb-source-ranges-old-network", id="source-ranges-on-the-old-node-subnet"),
    pytest.param(b.service("web", externalIPs=["52.1.2.3"]), "service-external-ips", id="external-ips"),
    pytest.param(b.config_map("upstreams", data={"nginx.conf": "upstream api { server 10.244.1.17:8080; }"}),
                 "hard-coded-old-address", id="config-map-old-pod-ip"),
    pytest.param(b.config_map("nodes", data={"peer": "10.240.0.4"}), "hard-coded-old-address",
                 id="config-map-old-node-ip"),
    pytest.param(b.config_map("proxy", data={"trusted": "10.240.0.0/22"}), "hard-coded-old-address",
                 id="config-map-old-node-subnet"),
    pytest.param(b.config_map("acl", data={"allow": "10.0.0.0/8"}), "hard-coded-old-address",
                 id="config-map-range-wider-than-the-old-pod-cidr"),
    pytest.param(b.custom("Probe", "p", "shop", "monitoring.coreos.com/v1", spec={"targets": ["10.244.9.9:9100"]}),
                 "hard-coded-old-address", id="custom-resource-old-pod-ip"),
    pytest.param(b.deployment(), None, id="plain-deployment"),
    pytest.param(b.custom("AzureIdentityBinding", "id", "shop", "aadpodidentity.k8s.io/v1", spec={}),
                 "aad-pod-identity", id="aad-pod-identity-binding"),
])
def test_objects_that_would_act_twice_or_point_at_the_old_cluster_get_a_finding(obj: dict[str, Any],
                                                                                 code: str | None) -> None:
    assert _codes(obj) == ({code} if code else set())


def test_a_suspended_flux_kustomization_and_a_manual_argo_application_get_none() -> None:
    assert not _codes(b.custom("Kustomization", "apps", "flux-system", "kustomize.toolkit.fluxcd.io/v1",
                               spec={"suspend": True}))
    assert not _codes(b.custom("Application", "shop", "argocd", "argoproj.io/v1alpha1", spec={"syncPolicy": {}}))


def test_pods_labelled_for_aad_pod_identity_are_a_blocker_through_the_transform() -> None:
    deploy = b.deployment()
    deploy["spec"]["template"]["metadata"]["labels"]["aadpodidbinding"] = "shop-identity"
    findings = transform(deploy, CTX).findings
    assert [(f.code, f.severity.value) for f in findings if f.code == "aad-pod-identity"] == [
        ("aad-pod-identity", "blocker")]


def test_an_address_outside_the_old_networks_is_not_reported() -> None:
    assert not _codes(b.config_map("x", data={"dns": "168.63.129.16", "version": "1.2.3.4.5"}))


def test_a_range_beside_the_old_networks_or_the_default_route_is_not_reported() -> None:
    # 10.240.4.0/24 is next to the old node 10.240.0.4, 10.245.0.0/16 next to the old pod CIDR; 0.0.0.0/0 is anyone.
    assert not _codes(b.config_map("x", data={"near": "10.240.4.0/24 10.245.0.0/16", "any": "0.0.0.0/0"}))
    assert not _codes(b.service("web", type="LoadBalancer", loadBalancerSourceRanges=["0.0.0.0/0", "10.245.0.0/16"]))


@pytest.mark.parametrize(("pod_cidrs", "expected"), [
    pytest.param(["10.244.0.0/24", "10.244.1.0/24"], "10.244.0.0/16", id="aks-default"),
    pytest.param(["172.20.0.0/24", "172.21.255.0/24"], "172.20.0.0/15", id="wider-than-a-slash-16"),
    pytest.param([], None, id="no-kubenet-nodes"),
])
def test_the_source_pod_cidr_is_read_from_the_nodes_pod_cidrs(pod_cidrs: list[str], expected: str | None) -> None:
    nodes = [{"spec": {"podCIDR": c}} for c in pod_cidrs]
    assert _pod_cidr(nodes) == expected
