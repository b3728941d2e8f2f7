"""Metadata allowlist: keep name, namespace, labels and annotations; drop status and controller stamps.

Why an allowlist (kubectl-neat ``neatMetadata``, velero ``resetMetadata``):
everything else in ``metadata`` is either assigned by the old API server (uid,
resourceVersion, creationTimestamp, managedFields, generation, selfLink) or
is decided by ``rules/identity.py`` (finalizers, ownerReferences and
managedFields: what of them stays, and how the applier re-points and restores them). ``generateName`` is kept
only when there is no name, since the API server ignores it otherwise.

``status`` is dropped: controllers on the target recompute it, and apply would
ignore it for resources with a status subresource anyway.

Annotations are user data except the ones listed in
:data:`CONTROLLER_ANNOTATIONS`, which Kubernetes components and CNI plugins
write to record old-cluster state; carrying them would mislead the target's
controllers (a PVC's ``selected-node`` names a node that does not exist there).
"""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from migration.transforms.base import TransformResult, remove
from migration.transforms.context import TransformContext

KEPT_FIELDS = frozenset({"name", "namespace", "labels", "annotations"})
# Decided by rules/identity.py (which finalizers, owners and field managers stay), not dropped here.
IDENTITY_FIELDS = frozenset({"finalizers", "ownerReferences", "managedFields"})

# annotation → who writes it (and so why it is dropped).
CONTROLLER_ANNOTATIONS: Mapping[str, str] = MappingProxyType({
    "kubectl.kubernetes.io/last-applied-configuration": "kubectl client-side apply bookkeeping of the old cluster",
    "deployment.kubernetes.io/revision": "Deployment controller rollout counter",
    "deployment.kubernetes.io/desired-replicas": "Deployment controller, on ReplicaSets",
    "deployment.kubernetes.io/max-replicas": "Deployment controller, on ReplicaSets",
    "deprecated.daemonset.template.generation": "DaemonSet controller rollout counter",
    "pv.kubernetes.io/bind-completed": "PV controller binding state",
    "pv.kubernetes.io/bound-by-controller": "PV controller binding state",
    "pv.kubernetes.io/migrated-to": "CSI migration of in-tree volumes",
    "volume.beta.kubernetes.io/storage-provisioner": "PV controller, names the provisioner it waits for",
    "volume.kubernetes.io/storage-provisioner": "PV controller, names the provisioner it waits for",
    "volume.kubernetes.io/selected-node": "scheduler, names an old node for delayed binding",
    "kubernetes.io/psp": "PodSecurityPolicy admission (removed in 1.25)",
    "kubernetes.io/limit-ranger": "LimitRanger admission note",
    "control-plane.alpha.kubernetes.io/leader": "legacy leader election record",
    "endpoints.kubernetes.io/last-change-trigger-time": "endpoints controller",
    "batch.kubernetes.io/job-tracking": "Job controller tracking mode",
    "autoscaling.alpha.kubernetes.io/conditions": "HPA controller status, as seen through autoscaling/v1",
    "autoscaling.alpha.kubernetes.io/current-metrics": "HPA controller status, as seen through autoscaling/v1",
    "kubernetes.io/config.hash": "kubelet, on static and mirror pods",
    "kubernetes.io/config.mirror": "kubelet, on mirror pods",
    "kubernetes.io/config.seen": "kubelet",
    "kubernetes.io/config.source": "kubelet",
    "cni.projectcalico.org/podIP": "Calico IPAM: the pod's old address",
    "cni.projectcalico.org/podIPs": "Calico IPAM: the pod's old addresses",
    "cni.projectcalico.org/containerID": "Calico: the old sandbox container",
})


def applies_to(obj: Mapping[str, Any], ctx: TransformContext) -> bool:
    """Every object has metadata to clean."""
    return True


def run(obj: dict[str, Any], ctx: TransformContext) -> TransformResult:
    """Remove non-allowlisted metadata fields, controller annotations and status."""
    ops = []
    meta = obj.get("metadata") or {}
    for key in sorted(meta):
        if key == "generateName" and not meta.get("name"):
            continue
        if key not in KEPT_FIELDS and key not in IDENTITY_FIELDS:
            ops.append(remove("metadata", key))
    annotations = meta.get("annotations")
    if isinstance(annotations, Mapping):
        dropped = sorted(k for k in annotations if k in CONTROLLER_ANNOTATIONS)
        if dropped and len(dropped) == len(annotations):
            ops.append(remove("metadata", "annotations"))
        else:
            ops.extend(remove("metadata", "annotations", k) for k in dropped)
    if "status" in obj:
        ops.append(remove("status"))
    return TransformResult.patch(ops)
