"""Findings about what keeps acting on the world after the move (issue 13 item 7).

Why a module of its own: these objects are carried faithfully, and that is the
problem — two clusters then run the same thing. An Argo CD Application with
auto-sync or an unsuspended Flux Kustomization reconciles the same git repo
from both clusters; Azure Service Operator and Crossplane resources reconcile
(and on deletion delete) the same Azure resources; a LoadBalancer's DNS label
is unique per region; addresses of the old kubenet pods and nodes written into
configuration point at nothing on the new cluster; AAD Pod Identity does not
run on the target. None of it can be rewritten safely, so each gets a finding
with the advice (suspend sync, or detach on delete, until cutover).

:func:`find` runs on every kept, transformed object (the transform runner calls it
next to :func:`migration.findings.find`).
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from kube.objects import ObjectRef, group_of, pod_specs, ptr
from migration.findings import Finding, Severity, is_core

if TYPE_CHECKING:
    from migration.transforms.context import TransformContext

GITOPS_AUTO_SYNC = "gitops-auto-sync"
AZURE_OPERATOR = "azure-operator-resource"
DNS_LABEL = "azure-dns-label-name"
INTERNAL_SUBNET = "azure-internal-subnet"
SOURCE_RANGES = "lb-source-ranges-old-network"
EXTERNAL_IPS = "service-external-ips"
OLD_ADDRESS = "hard-coded-old-address"
AAD_POD_IDENTITY = "aad-pod-identity"

DNS_LABEL_ANNOTATION = "service.beta.kubernetes.io/azure-dns-label-name"
INTERNAL_SUBNET_ANNOTATION = "service.beta.kubernetes.io/azure-load-balancer-internal-subnet"
AAD_POD_IDENTITY_LABEL = "aadpodidbinding"
AAD_POD_IDENTITY_GROUP = "aadpodidentity.k8s.io"
_IPV4 = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?:/(\d{1,2}))?(?![\d.])")
# Groups of the built-in API: their objects are not "custom resources" scanned for addresses.
_SCANNED_CORE_KINDS = frozenset({"ConfigMap"})


def _gitops(obj: Mapping[str, Any], ref: ObjectRef) -> Iterator[Finding]:
    group, kind, spec = group_of(obj), obj.get("kind"), obj.get("spec") or {}
    if group == "argoproj.io" and kind in ("Application", "ApplicationSet"):
        policy = spec.get("syncPolicy") if kind == "Application" else \
            ((spec.get("template") or {}).get("spec") or {}).get("syncPolicy")
        if (policy or {}).get("automated") is not None:
            yield Finding(GITOPS_AUTO_SYNC, Severity.WARNING, ref,
                          f"Argo CD {kind} with automated sync: once carried, the Argo CD of both clusters sync the "
                          "same git source, and prune or self-heal on one undoes the other",
                          "disable automated sync on one side (or point the new one at its own branch) until cutover",
                          "/spec/syncPolicy/automated" if kind == "Application" else "/spec/template/spec/syncPolicy")
    elif (group, kind) in (("kustomize.toolkit.fluxcd.io", "Kustomization"), ("helm.toolkit.fluxcd.io", "HelmRelease")) \
            and not spec.get("suspend"):
        yield Finding(GITOPS_AUTO_SYNC, Severity.WARNING, ref,
                      f"Flux {kind} not suspended: the Flux of both clusters reconcile the same source",
                      "set spec.suspend: true on one side (flux suspend) until cutover", "/spec/suspend")


def _azure_operator(obj: Mapping[str, Any], ref: ObjectRef) -> Iterator[Finding]:
    group = group_of(obj)
    if obj.get("kind") == "CustomResourceDefinition":
        return
    if group.endswith(".azure.com") and group != "kubernetes.azure.com":
        yield Finding(AZURE_OPERATOR, Severity.WARNING, ref,
                      f"Azure Service Operator resource ({group}): the operators of both clusters reconcile the same "
                      "Azure resource, and deleting it on either deletes it in Azure",
                      "annotate it serviceoperator.azure.com/reconcile-policy: skip on one side (detach-on-delete) "
                      "until cutover")
    elif group.endswith("azure.upbound.io") or group == "azure.crossplane.io" or group.endswith(".azure.crossplane.io"):
        yield Finding(AZURE_OPERATOR, Severity.WARNING, ref,
                      f"Crossplane managed Azure resource ({group}): both clusters' providers reconcile it, and "
                      "deleting it on either deletes it in Azure",
                      "set spec.managementPolicies: [Observe] (or deletionPolicy: Orphan) on one side until cutover")


def _networks(ctx: TransformContext) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(ctx.source_pod_cidr)]


def _node_addresses(ctx: TransformContext) -> list[ipaddress.IPv4Address]:
    out = []
    for ip in ctx.source_node_ips:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            continue
        if isinstance(address, ipaddress.IPv4Address):
            out.append(address)
    return out


def _old_address(value: str, ctx: TransformContext) -> str | None:
    """The first old pod or node address (or range) in a string, None when none.

    An address or range is old when it overlaps the old pod CIDR (an address in it, a range inside it, or a
    wider range that includes it) or holds an old node's address (the node itself, or a range of the node
    subnet: only the nodes' addresses are known, not the subnet). A default route (``/0``) names every
    address, not the old network's, and is left alone.

    >>> from migration.transforms import TransformContext
    >>> ctx = TransformContext(source_pod_cidr="10.244.0.0/16", source_node_ips=frozenset({"10.240.0.4"}))
    >>> [_old_address(v, ctx) for v in ("10.240.0.0/16", "10.240.0.4", "10.0.0.0/8", "10.241.0.0/16", "0.0.0.0/0")]
    ['10.240.0.0/16', '10.240.0.4', '10.0.0.0/8', None, None]
    """
    nodes = _node_addresses(ctx)
    for match in _IPV4.finditer(value):
        try:
            net = ipaddress.ip_network(match.group(0), strict=False)
        except ValueError:
            continue
        if not isinstance(net, ipaddress.IPv4Network) or net.prefixlen == 0:
            continue
        if any(isinstance(n, ipaddress.IPv4Network) and net.overlaps(n) for n in _networks(ctx)) \
                or any(a in net for a in nodes):
            return match.group(0)
    return None


def _strings(value: Any, tokens: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, str):
        yield tokens, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _strings(v, (*tokens, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, (*tokens, i))


def _addresses(obj: Mapping[str, Any], ref: ObjectRef, ctx: TransformContext) -> Iterator[Finding]:
    group = group_of(obj)
    custom = "." in group and not group.endswith(".k8s.io") and obj.get("kind") != "CustomResourceDefinition"
    if not (custom or (group == "" and obj.get("kind") in _SCANNED_CORE_KINDS)):
        return
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata", "status")}
    for tokens, text in _strings(body):
        address = _old_address(text, ctx)
        if address:
            yield Finding(OLD_ADDRESS, Severity.WARNING, ref,
                          f"holds {address}, an address of the old cluster's kubenet pods or nodes: on the new "
                          "cluster it points at nothing (or at something else)",
                          "replace it with a Service DNS name, or with the new address after cutover", ptr(*tokens))
            return  # one per object: the first names the problem


def _load_balancer(obj: Mapping[str, Any], ref: ObjectRef, ctx: TransformContext) -> Iterator[Finding]:
    if not is_core(obj, "Service"):
        return
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    spec = obj.get("spec") or {}
    if annotations.get(DNS_LABEL_ANNOTATION):
        yield Finding(DNS_LABEL, Severity.WARNING, ref,
                      f"DNS label {annotations[DNS_LABEL_ANNOTATION]!r} is unique per Azure region: the new load "
                      "balancer cannot take it while the old one holds it",
                      "remove it on the old Service at cutover (or give the new one another label and move clients "
                      "through a CNAME)", ptr("metadata", "annotations", DNS_LABEL_ANNOTATION))
    if annotations.get(INTERNAL_SUBNET_ANNOTATION):
        yield Finding(INTERNAL_SUBNET, Severity.WARNING, ref,
                      f"internal load balancer in subnet {annotations[INTERNAL_SUBNET_ANNOTATION]!r}: it must exist in "
                      "the new cluster's virtual network",
                      "create the subnet in the target VNet (or change the annotation) before apply",
                      ptr("metadata", "annotations", INTERNAL_SUBNET_ANNOTATION))
    for i, source_range in enumerate(spec.get("loadBalancerSourceRanges") or ()):
        if _old_address(str(source_range), ctx):
            yield Finding(SOURCE_RANGES, Severity.WARNING, ref,
                          f"loadBalancerSourceRanges names {source_range}, a range of the old cluster's pods or nodes",
                          "replace it with the new cluster's ranges", ptr("spec", "loadBalancerSourceRanges", i))
    if spec.get("externalIPs"):
        yield Finding(EXTERNAL_IPS, Severity.WARNING, ref,
                      f"externalIPs {', '.join(spec['externalIPs'])}: traffic to them must be routed to the new "
                      "cluster's nodes",
                      "move the routes (or the addresses) to the new nodes at cutover", ptr("spec", "externalIPs"))


def _aad_pod_identity(obj: Mapping[str, Any], ref: ObjectRef) -> Iterator[Finding]:
    if group_of(obj) == AAD_POD_IDENTITY_GROUP:
        yield Finding(AAD_POD_IDENTITY, Severity.BLOCKER, ref,
                      "AAD Pod Identity (deprecated) does not run on the new cluster: its pods lose their Azure identity",
                      "move to Microsoft Entra Workload ID (a federated credential on the managed identity and the "
                      "azure.workload.identity/use label)")
        return
    for tokens, _pod in pod_specs(obj):
        holder: Any = obj  # a Pod's labels are its own; a template's sit beside its pod spec
        for t in tokens[:-1]:
            holder = holder[t]
        labels: Mapping[str, Any] = (holder.get("metadata") or {}).get("labels") or {}
        if AAD_POD_IDENTITY_LABEL in labels:
            yield Finding(AAD_POD_IDENTITY, Severity.BLOCKER, ref,
                          f"pods labelled {AAD_POD_IDENTITY_LABEL}={labels[AAD_POD_IDENTITY_LABEL]} rely on AAD Pod "
                          "Identity, which does not run on the new cluster",
                          "move to Microsoft Entra Workload ID before cutover")
            return


def find(obj: Mapping[str, Any], ctx: TransformContext) -> list[Finding]:
    """The continuity findings of one (transformed) object.

    Args:
        obj: a Kubernetes object; not modified.
        ctx: the transform context (the source's pod CIDR and node addresses).

    Returns:
        The findings; empty when nothing keeps acting on the world twice.
    """
    ref = ObjectRef.of(obj)
    return [*_gitops(obj, ref), *_azure_operator(obj, ref), *_load_balancer(obj, ref, ctx),
            *_addresses(obj, ref, ctx), *_aad_pod_identity(obj, ref)]


__all__ = ["find"]
