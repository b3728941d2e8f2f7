"""Whiteout: leave out objects the target cluster makes itself, or that mean nothing there.

Why: applying them would fight a controller (a ReplicaSet's Pods, Endpoints),
carry stale cluster-local state (Events, Leases, node objects), or overwrite
what AKS installs on the new cluster (kube-system, bootstrap RBAC, add-on
objects). Everything else is kept — losing a user object is worse than
carrying a harmless one — so each test below is narrow and says why.

Shaped as data: :data:`NEVER_MIGRATED` lists kinds by ``(group, kind)`` with a
reason; the few tests that need more than the kind are small functions in
:data:`TESTS`, tried in order; the first reason wins.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from kube.objects import controller_owner, group_of
from migration.transforms.base import TransformResult
from migration.transforms.context import TransformContext
from migration.transforms.ownership import recreated_by_owner
from migration.transforms.rules import platform_namespaces

# (group, kind) → why it is never migrated.
NEVER_MIGRATED: Mapping[tuple[str, str], str] = MappingProxyType({
    ("", "Event"): "Events are a record of the old cluster's past",
    ("events.k8s.io", "Event"): "Events are a record of the old cluster's past",
    ("coordination.k8s.io", "Lease"): "Leases are leader-election and heartbeat state of the old cluster",
    ("", "Node"): "Nodes register themselves on the target",
    ("", "ComponentStatus"): "ComponentStatus is a read-only health view",
    ("", "Binding"): "Bindings are scheduler decisions of the old cluster",
    ("apps", "ControllerRevision"): "ControllerRevisions are rollout history the target's controllers rebuild",
    ("storage.k8s.io", "CSINode"): "CSINode objects are registered by each node's CSI drivers",
    ("storage.k8s.io", "VolumeAttachment"): "VolumeAttachments record which old node has a volume attached",
    ("storage.k8s.io", "CSIStorageCapacity"): "CSIStorageCapacity is published by the CSI provisioner",
    ("certificates.k8s.io", "CertificateSigningRequest"): "CSRs were signed by the old cluster's CA",
    ("authentication.k8s.io", "TokenReview"): "review objects are requests, not state",
    ("authentication.k8s.io", "SelfSubjectReview"): "review objects are requests, not state",
    ("authorization.k8s.io", "SubjectAccessReview"): "review objects are requests, not state",
    ("authorization.k8s.io", "SelfSubjectAccessReview"): "review objects are requests, not state",
    ("authorization.k8s.io", "LocalSubjectAccessReview"): "review objects are requests, not state",
    ("authorization.k8s.io", "SelfSubjectRulesReview"): "review objects are requests, not state",
    ("metrics.k8s.io", "NodeMetrics"): "metrics are measurements of the old cluster",
    ("metrics.k8s.io", "PodMetrics"): "metrics are measurements of the old cluster",
    ("networking.k8s.io", "IPAddress"): "IPAddresses are the old cluster's ClusterIP allocations",
    ("networking.k8s.io", "ServiceCIDR"): "ServiceCIDRs come from the target's own configuration",
    ("internal.apiserver.k8s.io", "StorageVersion"): "StorageVersions are API server internals",
})

# Labels that only Kubernetes or AKS put on the objects they manage themselves.
MANAGED_LABELS: Mapping[str, str] = MappingProxyType({
    "kubernetes.io/bootstrapping": "bootstrap RBAC the target's API server creates itself",
    "addonmanager.kubernetes.io/mode": "managed by AKS's addon-manager, which installs its own copy on the target",
    "kube-aggregator.kubernetes.io/automanaged": "an API service the target's API server registers itself",
})

ENDPOINTSLICE_CONTROLLERS = frozenset({"endpointslice-controller.k8s.io", "endpointslicemirroring-controller.k8s.io"})
RBAC_KINDS = frozenset({"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"})

# The service-account admission plugin's controller creates these two in every namespace.
_DEFAULT_SA_CONTROLLER_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})

Test = Callable[[Mapping[str, Any], TransformContext], "str | None"]


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _skipped_namespace(obj: Mapping[str, Any], ctx: TransformContext) -> str | None:
    meta = _meta(obj)
    ns = meta.get("namespace") or (meta.get("name") if obj.get("kind") == "Namespace" and group_of(obj) == "" else None)
    if ns == "kube-system":
        return None  # decided object by object by the platform-namespaces rule (AKS's vs the user's)
    if ns in ctx.system_namespaces:
        return f"system namespace {ns}: the target cluster has its own"
    if ns in ctx.skipped_namespaces:
        return f"namespace {ns} belongs to an add-on the {ctx.target_dataplane} target replaces or reinstalls"
    return None


def _skipped_group(obj: Mapping[str, Any], ctx: TransformContext) -> str | None:
    group = group_of(obj)
    if obj.get("kind") == "CustomResourceDefinition":
        group = (obj.get("spec") or {}).get("group") or ""
    if group in ctx.skipped_groups:
        return f"API group {group} belongs to Calico, which the Cilium target replaces"
    return None


def _never_migrated(obj: Mapping[str, Any], ctx: TransformContext) -> str | None:
    return NEVER_MIGRATED.get((group_of(obj), obj.get("kind") or ""))


def _owned(obj: Mapping[str, Any], ctx: TransformContext) -> str | None:
    # Only when a built-in controller makes this kind again from a carried owner
    # (migration/transforms/ownership.py: REMADE_BY_OWNER); otherwise it is carried. Objects owned by
    # custom resources (a SealedSecret's Secret) and a StatefulSet's claims are data.
    owner = controller_owner(obj)
    if owner is None:
        return None
    holds, _ = recreated_by_owner(obj, ctx.carried_keys)
    if holds:
        return f"owned by {owner.get('kind')} {owner.get('name')}, whose controller recreates it on the target"
    return None


def excluded_regardless_of_owner(obj: Mapping[str, Any], ctx: TransformContext) -> bool:
    """Whether a test other than ownership leaves the object out (for :func:`ownership_facts`).

    The platform-namespaces rule's decisions count too: kube-system objects AKS manages and
    objects of add-on namespaces the target skips are not carried (kube-system user content is).
    """
    return platform_namespaces.excluded_regardless_of_owner(obj, ctx) or \
        any(test(obj, ctx) for test in TESTS if test is not _owned)


def _managed_label(obj: Mapping[str, Any], ctx: TransformContext) -> str | None:
    if obj.get("kind") == "Namespace":
        return None  # users put objects in add-on namespaces too; re-applying a namespace is harmless
    if obj.get("kind") == "ConfigMap" and _meta(obj).get("namespace") == "kube-system" \
            and _meta(obj).get("name") == "coredns-custom":
        return None  # AKS creates it empty (EnsureExists); its content is the user's (the coredns-custom rule)
    labels = _meta(obj).get("labels") or {}
    for label, why in MANAGED_LABELS.items():
        if label in labels:
            return f"{why} (label {label})"
    return None


def _mirror_pod(obj: Mapping[str, Any], ctx: TransformContext) -> str | None:
    if obj.get("kind") == "Pod" and "kubernetes.io/config.mirror" in (_meta(obj).get("annotations") or {}):
        return "mirror of a static pod defined on an old node"
    return None


def _bootstrap_rbac(obj: Mapping[str, Any], ctx: TransformContext) -> str | None:
    if obj.get("kind") in RBAC_KINDS and group_of(obj) == "rbac.authorization.k8s.io" \
            and (_meta(obj).get("name") or "").startswith("system:"):
        return "'system:' RBAC objects are bootstrapped by the target's API server and controllers"
    return None


def _builtin_priority_class(obj: Mapping[str, Any], ctx: TransformContext) -> str | None:
    if obj.get("kind") == "PriorityClass" and (_meta(obj).get("name") or "").startswith("system-"):
        return "'system-' PriorityClasses are built into every cluster"
    return None


def _bootstrap_flow_control(obj: Mapping[str, Any], ctx: TransformContext) -> str | None:
    if group_of(obj) == "flowcontrol.apiserver.k8s.io" \
            and (_meta(obj).get("annotations") or {}).get("apf.kubernetes.io/autoupdate-spec") == "true":
        return "API priority-and-fairness defaults maintained by the target's API server"
    return None


def _kubernetes_service(obj: Mapping[str, Any], ctx: TransformContext) -> str | None:
    meta = _meta(obj)
    if obj.get("kind") in ("Service", "Endpoints", "EndpointSlice") and meta.get("namespace") == "default":
        service = (meta.get("labels") or {}).get("kubernetes.io/service-name") if obj.get("kind") == "EndpointSlice" \
            else meta.get("name")
        if service == "kubernetes":
            return "the 'kubernetes' Service points at the old API server; the target has its own"
    return None


def _endpoints(obj: Mapping[str, Any], ctx: TransformContext) -> str | None:
    if obj.get("kind") != "Endpoints" or group_of(obj) != "":
        return None
    meta = _meta(obj)
    if ctx.selectorless_services is not None:
        if f"{meta.get('namespace')}/{meta.get('name')}" in ctx.selectorless_services:
            return None
        return "Endpoints of a Service with a selector are maintained by the endpoints controller"
    # Without the Service list we keep Endpoints unless the controller's stamp is on them:
    # a needless controller-managed copy is overwritten harmlessly, a lost user copy is not.
    if "endpoints.kubernetes.io/last-change-trigger-time" in (meta.get("annotations") or {}):
        return "Endpoints maintained by the endpoints controller (last-change-trigger-time stamp)"
    return None


def _endpoint_slice(obj: Mapping[str, Any], ctx: TransformContext) -> str | None:
    if obj.get("kind") != "EndpointSlice" or group_of(obj) != "discovery.k8s.io":
        return None
    manager = (_meta(obj).get("labels") or {}).get("endpointslice.kubernetes.io/managed-by")
    if manager in ENDPOINTSLICE_CONTROLLERS:
        return f"EndpointSlice maintained by {manager}"
    return None  # slices managed by users or third-party controllers are data


def _root_ca(obj: Mapping[str, Any], ctx: TransformContext) -> str | None:
    if obj.get("kind") == "ConfigMap" and _meta(obj).get("name") == "kube-root-ca.crt":
        return "kube-root-ca.crt is published into every namespace with the target's own CA"
    return None


def _default_service_account(obj: Mapping[str, Any], ctx: TransformContext) -> str | None:
    # The 'default' ServiceAccount exists in every namespace; we drop it unless the user
    # customised it (pull secrets, workload identity, labels…), which is data to keep.
    if obj.get("kind") != "ServiceAccount" or group_of(obj) != "" or _meta(obj).get("name") != "default":
        return None
    meta = _meta(obj)
    annotations = set(meta.get("annotations") or {}) - _DEFAULT_SA_CONTROLLER_ANNOTATIONS
    if meta.get("labels") or annotations or obj.get("imagePullSecrets") \
            or "automountServiceAccountToken" in obj:
        return None
    return "the 'default' ServiceAccount is created in every namespace by the target"


def _aggregated_api(obj: Mapping[str, Any], ctx: TransformContext) -> str | None:
    if obj.get("kind") != "APIService" or group_of(obj) != "apiregistration.k8s.io":
        return None
    service = (obj.get("spec") or {}).get("service")
    if not service:
        return "built-in API group served by the API server itself"
    if service.get("namespace") in ctx.skipped_namespaces:
        return f"served from namespace {service.get('namespace')}, which the target provides itself"
    return None


def _system_webhook(obj: Mapping[str, Any], ctx: TransformContext) -> str | None:
    if obj.get("kind") not in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
        return None
    hooks = obj.get("webhooks") or ()
    namespaces = {((h.get("clientConfig") or {}).get("service") or {}).get("namespace") for h in hooks}
    if hooks and namespaces <= ctx.skipped_namespaces:
        return f"every backend is in {', '.join(sorted(str(n) for n in namespaces))}, which the target provides itself"
    return None


TESTS: tuple[Test, ...] = (
    _skipped_namespace, _skipped_group, _never_migrated, _owned, _mirror_pod, _managed_label,
    _bootstrap_rbac, _builtin_priority_class, _bootstrap_flow_control, _kubernetes_service,
    _endpoints, _endpoint_slice, _root_ca, _default_service_account, _aggregated_api, _system_webhook,
)

# Service-account token Secrets are not listed here: service_account_token.py
# excludes the generated ones and keeps hand-made ones, which are user intent.


def applies_to(obj: Mapping[str, Any], ctx: TransformContext) -> bool:
    """Every object is considered."""
    return True


def run(obj: dict[str, Any], ctx: TransformContext) -> TransformResult:
    """Exclude the object when any test gives a reason; otherwise change nothing."""
    for test in TESTS:
        reason = test(obj, ctx)
        if reason:
            return TransformResult.exclude(reason)
    return TransformResult.patch()
