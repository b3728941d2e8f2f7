"""Which built-in API versions Kubernetes removed, and in which release: data for the deprecated-API check.

Why a table: discovery only says what a server serves *now*; it cannot say
that a team's manifests (visible in ``kubectl.kubernetes.io/last-applied-configuration``)
still name ``extensions/v1beta1`` and will fail on the new cluster. The
removals below are the upstream Kubernetes deprecation guide's; each row is one
group/version, the kinds it carried, the release that stopped serving it and
where the kinds went. Custom resources are not listed: their CRDs say it
themselves (``spec.versions[].deprecated``), which the check reads.
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Removal:
    """One group/version no longer served from ``removed_in`` on."""

    api_version: str
    kinds: frozenset[str]
    removed_in: tuple[int, int]
    replacement: str

    @property
    def removed_in_text(self) -> str:
        return f"{self.removed_in[0]}.{self.removed_in[1]}"


def _r(api_version: str, kinds: str, removed_in: str, replacement: str) -> Removal:
    major, minor = removed_in.split(".")
    return Removal(api_version, frozenset(kinds.split()), (int(major), int(minor)), replacement)


REMOVALS: tuple[Removal, ...] = (
    _r("extensions/v1beta1", "Deployment DaemonSet ReplicaSet", "1.16", "apps/v1"),
    _r("extensions/v1beta1", "NetworkPolicy", "1.16", "networking.k8s.io/v1"),
    _r("extensions/v1beta1", "PodSecurityPolicy", "1.16", "policy/v1beta1, itself removed in 1.25 (use Pod Security admission)"),
    _r("extensions/v1beta1", "Ingress", "1.22", "networking.k8s.io/v1"),
    _r("apps/v1beta1", "Deployment StatefulSet ReplicaSet", "1.16", "apps/v1"),
    _r("apps/v1beta2", "Deployment StatefulSet DaemonSet ReplicaSet", "1.16", "apps/v1"),
    _r("networking.k8s.io/v1beta1", "Ingress IngressClass", "1.22", "networking.k8s.io/v1"),
    _r("rbac.authorization.k8s.io/v1beta1", "ClusterRole ClusterRoleBinding Role RoleBinding", "1.22", "rbac.authorization.k8s.io/v1"),
    _r("admissionregistration.k8s.io/v1beta1", "MutatingWebhookConfiguration ValidatingWebhookConfiguration", "1.22",
       "admissionregistration.k8s.io/v1"),
    _r("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition", "1.22", "apiextensions.k8s.io/v1"),
    _r("apiregistration.k8s.io/v1beta1", "APIService", "1.22", "apiregistration.k8s.io/v1"),
    _r("certificates.k8s.io/v1beta1", "CertificateSigningRequest", "1.22", "certificates.k8s.io/v1"),
    _r("coordination.k8s.io/v1beta1", "Lease", "1.22", "coordination.k8s.io/v1"),
    _r("scheduling.k8s.io/v1beta1", "PriorityClass", "1.22", "scheduling.k8s.io/v1"),
    _r("storage.k8s.io/v1beta1", "StorageClass VolumeAttachment CSINode CSIDriver", "1.22", "storage.k8s.io/v1"),
    _r("batch/v1beta1", "CronJob", "1.25", "batch/v1"),
    _r("discovery.k8s.io/v1beta1", "EndpointSlice", "1.25", "discovery.k8s.io/v1"),
    _r("events.k8s.io/v1beta1", "Event", "1.25", "events.k8s.io/v1"),
    _r("autoscaling/v2beta1", "HorizontalPodAutoscaler", "1.25", "autoscaling/v2"),
    _r("policy/v1beta1", "PodDisruptionBudget", "1.25", "policy/v1"),
    _r("policy/v1beta1", "PodSecurityPolicy", "1.25", "Pod Security admission (namespace labels)"),
    _r("node.k8s.io/v1beta1", "RuntimeClass", "1.25", "node.k8s.io/v1"),
    _r("autoscaling/v2beta2", "HorizontalPodAutoscaler", "1.26", "autoscaling/v2"),
    _r("flowcontrol.apiserver.k8s.io/v1beta1", "FlowSchema PriorityLevelConfiguration", "1.26", "flowcontrol.apiserver.k8s.io/v1"),
    _r("storage.k8s.io/v1beta1", "CSIStorageCapacity", "1.27", "storage.k8s.io/v1"),
    _r("flowcontrol.apiserver.k8s.io/v1beta2", "FlowSchema PriorityLevelConfiguration", "1.29", "flowcontrol.apiserver.k8s.io/v1"),
    _r("flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema PriorityLevelConfiguration", "1.32", "flowcontrol.apiserver.k8s.io/v1"),
)


def removal_of(api_version: str, kind: str) -> Removal | None:
    """The removal of ``kind`` in ``api_version``, or None when that pair was never removed.

    >>> removal_of("extensions/v1beta1", "Ingress").removed_in
    (1, 22)
    >>> removal_of("apps/v1", "Deployment") is None
    True
    """
    for r in REMOVALS:
        if r.api_version == api_version and kind in r.kinds:
            return r
    return None
