"""kube-system and the add-on namespaces: exclude what AKS or the target provides, carry what the user put there.

Why a rule of its own, before the whiteouts: excluding a whole namespace as
"the target has its own" lost real user content — the ``coredns-custom``
forward zones, Helm charts installed into kube-system (sealed-secrets with its
sealing key), other charts' leader-election Roles — and dropped Calico's and
Gatekeeper's namespaces without saying what the new cluster then lacks. So
every object of these namespaces gets a decision here, and every decision is a
line in the report:

* **kube-system**: objects AKS manages — the add-on manager's label
  (``addonmanager.kubernetes.io/mode``), ``kubernetes.azure.com/managedby: aks``,
  ``kubernetes.io/cluster-service: "true"``, names AKS owns
  (:data:`AKS_OWNED_NAMES`, :data:`AKS_OWNED_PREFIXES`), bootstrap tokens —
  are excluded with that reason: the target's AKS installs its own, or, for
  what a Cilium target replaces by design (kube-proxy, azure-npm, Calico's
  old kube-system components: :data:`REPLACED_ON_CILIUM`), its replacement
  does the work. Verify holds the target to that reason
  (:func:`counterparts`, :mod:`migration.exclusions`). Everything
  else is user content and is carried (with an info finding): Helm releases
  (their ``sh.helm.release.v1.*`` Secrets and the objects labelled
  ``app.kubernetes.io/managed-by: Helm`` with that ``meta.helm.sh/release-name``),
  and other objects users put there. ``coredns-custom`` is user content although
  AKS labels it ``EnsureExists`` (AKS creates it empty, the user fills it); the
  ``coredns-custom`` rule merges it into the target's. Objects a built-in
  controller makes again from a carried owner are left to the whiteout rule;
  other owned objects are user content like the rest.
* **calico-system, tigera-operator, gatekeeper-system** (when the target runs
  Cilium: ``ctx.skipped_namespaces``): excluded, each object with a finding
  naming it and what the target must provide instead (:data:`PLATFORM`).
  Webhook configurations whose every backend is in such a namespace too.
* kube-public and kube-node-lease hold only what every cluster generates: the
  whiteout rule excludes them with their reason.
"""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from kube.objects import ObjectRef, controller_owner, group_of
from migration.findings import Finding, Severity
from migration.transforms.base import TransformResult
from migration.transforms.context import TransformContext
from migration.transforms.ownership import recreated_by_owner

KUBE_SYSTEM = "kube-system"
COREDNS_CUSTOM = "coredns-custom"
HELM_RELEASE_PREFIX = "sh.helm.release.v1."
HELM_RELEASE_ANNOTATION = "meta.helm.sh/release-name"

USER_CONTENT = "kube-system-user-content"
PLATFORM_NAMESPACE = "platform-namespace-not-carried"

# Labels that mark an object AKS manages (its add-on manager, its components); the target's AKS has its own.
AKS_LABELS: Mapping[str, str | None] = MappingProxyType({
    "addonmanager.kubernetes.io/mode": None,
    "kubernetes.azure.com/managedby": "aks",
    "kubernetes.io/cluster-service": "true",
})

# kube-system names AKS (or the control plane) creates on every cluster, whatever their labels.
AKS_OWNED_NAMES = frozenset({
    "coredns", "coredns-autoscaler", "kube-dns", "kube-proxy", "metrics-server", "konnectivity-agent",
    "tunnelfront", "aks-link", "cloud-node-manager", "azure-ip-masq-agent", "azure-ip-masq-agent-config",
    "azure-ip-masq-agent-config-reconciled", "azure-cns", "azure-npm", "cilium", "cilium-config", "cilium-operator",
    "extension-apiserver-authentication", "kube-apiserver-legacy-service-account-token-tracking",
    "cluster-autoscaler-status", "overlay-upgrade-data", "aks-webhook-admission-controller", "csi-azuredisk-node",
    "csi-azurefile-node", "csi-azuredisk-controller", "csi-azurefile-controller", "csi-blob-node",
    "kube-root-ca.crt", "local-dns", "localdns", "node-local-dns", "omsagent", "ama-logs", "ama-metrics",
    "retina-agent", "eraser-controller-manager",
    # ServiceAccounts kube-controller-manager creates for its controllers
    "attachdetach-controller", "bootstrap-signer", "certificate-controller", "clusterrole-aggregation-controller",
    "cronjob-controller", "daemon-set-controller", "deployment-controller", "disruption-controller",
    "endpoint-controller", "endpointslice-controller", "endpointslicemirroring-controller",
    "ephemeral-volume-controller", "expand-controller", "generic-garbage-collector", "horizontal-pod-autoscaler",
    "job-controller", "legacy-service-account-token-cleaner", "namespace-controller", "node-controller",
    "persistent-volume-binder", "pod-garbage-collector", "pv-protection-controller", "pvc-protection-controller",
    "replicaset-controller", "replication-controller", "resourcequota-controller", "root-ca-cert-publisher",
    "service-account-controller", "service-cidrs-controller", "service-controller", "statefulset-controller",
    "token-cleaner", "ttl-after-finished-controller", "ttl-controller", "validatingadmissionpolicy-status-controller",
    "volumeattributesclass-protection-controller", "selinux-warning-controller", "cloud-provider",
    "tagging-controller",
})
AKS_OWNED_PREFIXES = ("bootstrap-token-", "csi-azure", "azure-policy", "azure-wi-webhook", "ama-", "omsagent-",
                      "cilium-", "konnectivity-", "keda-", "aks-", "coredns-autoscaler", "kube-proxy-",
                      "cloud-node-manager", "retina-", "microsoft-defender-")

# kube-system objects a Cilium target does not install again because something else does their work there:
# name (or name prefix, ``name-…``) → the kube-system object that takes over (group, kind, name), and what it
# takes over. The exclusion reason says so, and verify accounts for the object when that replacement is on the
# target (migration/exclusions.py). Kubenet itself is a kubelet plugin, not a kube-system add-on: nothing of it
# is listed; azure-cns exists on Azure CNI targets only, so no source object needs it as a counterpart.
REPLACED_ON_CILIUM: Mapping[str, tuple[str, str, str, str]] = MappingProxyType({
    "kube-proxy": ("apps", "DaemonSet", "cilium", "Cilium's kube-proxy replacement serves Services"),
    "azure-npm": ("apps", "DaemonSet", "cilium", "Cilium enforces network policy"),
    "calico-node": ("apps", "DaemonSet", "cilium", "Cilium is the dataplane and enforces network policy"),
    "calico-typha": ("apps", "DaemonSet", "cilium", "Cilium is the dataplane and enforces network policy"),
    "calico-kube-controllers": ("apps", "DaemonSet", "cilium", "Cilium is the dataplane and enforces network policy"),
})

# What each add-on namespace held and what the target must provide instead.
PLATFORM: Mapping[str, tuple[str, str]] = MappingProxyType({
    "calico-system": ("Calico's dataplane (calico-node, calico-kube-controllers, typha)",
                      "nothing to install: Azure CNI powered by Cilium is the target's dataplane and enforces "
                      "network policy; the Calico policies themselves are translated to Cilium or reported as "
                      "blockers (codes calico-policy-*)"),
    "tigera-operator": ("the Tigera operator that installs and upgrades Calico",
                        "nothing to install: the target runs Cilium, which AKS manages; Calico policies are "
                        "translated separately"),
    "gatekeeper-system": ("OPA Gatekeeper (admission policy: constraint templates and constraints)",
                          "install Gatekeeper on the target (Helm chart gatekeeper/gatekeeper) or enable the Azure "
                          "Policy add-on (az aks enable-addons --addons azure-policy), before cutover; the "
                          "ConstraintTemplate and constraint custom resources are carried and take effect once it runs"),
})


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _namespace(obj: Mapping[str, Any]) -> str | None:
    meta = _meta(obj)
    if obj.get("kind") == "Namespace" and group_of(obj) == "":
        return meta.get("name")
    return meta.get("namespace")


def _webhook_namespaces(obj: Mapping[str, Any]) -> set[str] | None:
    if obj.get("kind") not in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
        return None
    hooks = obj.get("webhooks") or ()
    namespaces = [((h.get("clientConfig") or {}).get("service") or {}).get("namespace") for h in hooks]
    if not hooks or not all(isinstance(ns, str) for ns in namespaces):
        return None  # a URL backend, or no webhook: not served from a namespace
    return {str(ns) for ns in namespaces}


def _platform_namespace(obj: Mapping[str, Any], ctx: TransformContext) -> str | None:
    """The add-on namespace the object belongs to (or whose backends serve it), when the target skips it."""
    skipped = ctx.skipped_namespaces - ctx.system_namespaces
    ns = _namespace(obj)
    if ns in skipped:
        return ns
    hooks = _webhook_namespaces(obj)
    if hooks and hooks <= skipped:
        return sorted(hooks)[0]
    return None


def applies_to(obj: Mapping[str, Any], ctx: TransformContext) -> bool:
    """Objects of kube-system, of an add-on namespace the target skips, or webhooks served only from one."""
    return _namespace(obj) == KUBE_SYSTEM or _platform_namespace(obj, ctx) is not None


def is_bootstrap_token(obj: Mapping[str, Any]) -> bool:
    """A node bootstrap token Secret: a credential of the old cluster's nodes, meaningless on the target."""
    return obj.get("kind") == "Secret" and obj.get("type") == "bootstrap.kubernetes.io/token"


def aks_managed(obj: Mapping[str, Any]) -> str | None:
    """Why a kube-system object is AKS's (a label or a name AKS owns), None when it is user content."""
    meta = _meta(obj)
    name = meta.get("name") or ""
    if obj.get("kind") == "ConfigMap" and name == COREDNS_CUSTOM:
        return None  # AKS creates it empty (EnsureExists); its content is the user's
    labels = meta.get("labels") or {}
    for label, value in AKS_LABELS.items():
        if label in labels and (value is None or str(labels[label]).lower() == value):
            return f"label {label}={labels[label]}"
    if is_bootstrap_token(obj):
        return "a bootstrap token of the old cluster's nodes"
    if name in AKS_OWNED_NAMES or name.startswith(AKS_OWNED_PREFIXES):
        return f"name {name}, which AKS owns in kube-system"
    return None


def replaced_on_cilium(obj: Mapping[str, Any]) -> tuple[str, str, str, str] | None:
    """What replaces an AKS kube-system object on a Cilium target (:data:`REPLACED_ON_CILIUM`), else None."""
    name = _meta(obj).get("name") or ""
    for key, replacement in REPLACED_ON_CILIUM.items():
        if name == key or name.startswith(key + "-"):
            return replacement
    return None


def counterparts(obj: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """The kube-system objects whose presence on a target accounts for excluding this AKS-managed one:
    ``(group, kind, name)`` of the object itself (the target's AKS installs its own), then what replaces it
    by design on a Cilium target, if anything."""
    own = (group_of(obj), str(obj.get("kind") or ""), str(_meta(obj).get("name") or ""))
    replacement = replaced_on_cilium(obj)
    return [own] + ([replacement[:3]] if replacement and replacement[:3] != own else [])


def helm_release(obj: Mapping[str, Any]) -> str | None:
    """The Helm release an object belongs to (its release Secret, or its release-name annotation), else None."""
    meta = _meta(obj)
    name = meta.get("name") or ""
    if obj.get("kind") == "Secret" and name.startswith(HELM_RELEASE_PREFIX):
        return (meta.get("labels") or {}).get("name") or name.removeprefix(HELM_RELEASE_PREFIX).rsplit(".v", 1)[0]
    labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
    if str(labels.get("app.kubernetes.io/managed-by", "")).lower() == "helm":
        return annotations.get(HELM_RELEASE_ANNOTATION) or labels.get("app.kubernetes.io/instance") or "?"
    return None


def excluded_regardless_of_owner(obj: Mapping[str, Any], ctx: TransformContext) -> bool:
    """Whether this rule leaves the object out whatever its owner (for the ownership facts).

    True for objects of an add-on namespace the target skips, the kube-system Namespace and kube-system
    objects AKS manages; False for kube-system user content (carried) and every other object.
    """
    if not applies_to(obj, ctx):
        return False
    if _platform_namespace(obj, ctx) is not None or obj.get("kind") == "Namespace":
        return True
    return aks_managed(obj) is not None


def _platform(obj: Mapping[str, Any], ns: str, ref: ObjectRef) -> TransformResult:
    held, instead = PLATFORM.get(ns, (f"the add-on of namespace {ns}", "install that add-on on the target"))
    finding = Finding(PLATFORM_NAMESPACE, Severity.WARNING if ns == "gatekeeper-system" else Severity.INFO, ref,
                      f"not carried: {ns} held {held}, which the Cilium target does not run from the source's "
                      "objects", f"the target must provide instead: {instead}")
    return TransformResult(whiteout=f"namespace {ns} belongs to {held}; the target provides instead: {instead}",
                           findings=(finding,))


def run(obj: dict[str, Any], ctx: TransformContext) -> TransformResult:
    """Exclude what AKS or the target provides (with the reason, and a finding for add-on namespaces);
    carry kube-system user content with an info finding."""
    ref = ObjectRef.of(obj)
    ns = _platform_namespace(obj, ctx)
    if ns is not None:
        return _platform(obj, ns, ref)
    if obj.get("kind") == "Namespace":
        return TransformResult.exclude("the kube-system namespace exists on every cluster")
    if is_bootstrap_token(obj):
        return TransformResult.exclude("a bootstrap token of the old cluster's nodes: the target's nodes join "
                                       "with tokens of their own")
    why = aks_managed(obj)
    if why:
        replacement = replaced_on_cilium(obj) if ctx.cilium_target else None
        if replacement:
            group, kind, name, what = replacement
            return TransformResult.exclude(f"managed by AKS ({why}): replaced on the Cilium target by "
                                           f"{kind}{'.' + group if group else ''} kube-system/{name} ({what})")
        return TransformResult.exclude(f"managed by AKS ({why}): the target's AKS installs its own")
    if controller_owner(obj) is not None and recreated_by_owner(obj, ctx.carried_keys)[0]:
        return TransformResult.patch()  # the whiteout rule excludes it: its owner's controller makes it again
    release = helm_release(obj)
    if release:
        message = (f"carried from kube-system with Helm release {release}: user content, not managed by AKS; "
                   "Helm on the target sees the release as installed")
    elif obj.get("kind") == "ConfigMap" and _meta(obj).get("name") == COREDNS_CUSTOM:
        return TransformResult.patch()  # the coredns-custom rule reports what it merges
    else:
        message = "carried from kube-system: user content (no AKS label, not a name AKS owns)"
    return TransformResult.patch(findings=[Finding(
        USER_CONTENT, Severity.INFO, ref, message,
        "check that nothing on the target's AKS uses the same name in kube-system (the plan reports a "
        "conflict if something does)")])
