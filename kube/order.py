"""Apply order: which objects go to the target first, as a data table with a reason per line.

Why a table (velero ``defaultRestorePriorities``, helm ``kind_sorter.go``,
lightkube ``sort_objects.py``): the order is a policy people need to read and
argue about, not an algorithm. Each tier lists ``(group, kind)`` pairs and
says why it must precede the next. Objects of kinds not in the table are
custom resources (or built-ins we have no opinion on) and go to the
``custom resources`` tier: after the built-in workloads and Ingresses, before
quotas, aggregated APIs and admission control. Ties inside a tier are broken by
namespace (cluster-scoped objects first), then kind, then API group, then name
(:func:`sort_key`), so the order is total and stable across runs.

Two deliberate departures from a naive "workloads, then Services, then
policies" order, both as in helm's install order:

* **NetworkPolicies before workloads**: a pod that starts before its policy
  runs unprotected for a moment; a policy without pods costs nothing.
* **Services before workloads**: pods get ``<SVC>_SERVICE_HOST`` environment
  variables only for Services that exist when they start, and some
  applications still read them. Endpoints follow readiness, so no traffic
  reaches pods before they are Ready either way.

What the applier (``migration.applier.run_tiers``) does around the tiers, as
the reasons below say: before a tier, it waits (bounded) until the backend
Service of every fail-closed admission webhook, APIService and CRD conversion
webhook the tier's objects need has a ready endpoint (``migration.readiness``);
after a tier, it waits for its CRDs to be Established and its ResourceQuotas'
``status.hard``. There is no teardown order: nothing deletes by tier (sync
deletes one object at a time, decommission deletes the cluster).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from kube.objects import group_of


@dataclasses.dataclass(frozen=True)
class Tier:
    """One step of the apply order."""

    name: str
    kinds: frozenset[tuple[str, str]]
    reason: str


def _tier(name: str, kinds: Iterable[tuple[str, str]], reason: str) -> Tier:
    return Tier(name, frozenset(kinds), reason)


CUSTOM = "custom resources"

APPLY_ORDER: tuple[Tier, ...] = (
    _tier("crds", [("apiextensions.k8s.io", "CustomResourceDefinition")],
          "custom resources cannot be created before their CRD is Established; the applier waits for that condition"),
    _tier("namespaces", [("", "Namespace")],
          "every namespaced object needs its namespace"),
    _tier("limits", [("", "LimitRange")],
          "the LimitRanger admission plugin injects default requests and limits only into pods created after "
          "it, as they were on the source"),
    _tier("classes", [("storage.k8s.io", "StorageClass"), ("scheduling.k8s.io", "PriorityClass"),
                      ("node.k8s.io", "RuntimeClass"), ("networking.k8s.io", "IngressClass"),
                      ("snapshot.storage.k8s.io", "VolumeSnapshotClass")],
          "admission rejects pods naming an unknown priority or runtime class, and defaults PVC storage classes "
          "and Ingress classes only from classes that exist at creation"),
    _tier("service-accounts", [("", "ServiceAccount")],
          "pods naming a missing ServiceAccount are rejected by the ServiceAccount admission plugin"),
    _tier("cluster-roles", [("rbac.authorization.k8s.io", "ClusterRole")],
          "bindings are checked against the role they grant (RBAC escalation check); roles first"),
    _tier("cluster-role-bindings", [("rbac.authorization.k8s.io", "ClusterRoleBinding")],
          "grants workloads their cluster-wide permissions before they start"),
    _tier("roles", [("rbac.authorization.k8s.io", "Role")],
          "bindings are checked against the role they grant; roles first"),
    _tier("role-bindings", [("rbac.authorization.k8s.io", "RoleBinding")],
          "grants workloads their namespace permissions before they start"),
    _tier("config", [("", "ConfigMap"), ("", "Secret")],
          "pods referencing a missing ConfigMap or Secret hang in ContainerCreating or fail their env"),
    _tier("persistent-volumes", [("", "PersistentVolume")],
          "pre-bound volumes exist before their claims, so a claim binds to its migrated volume instead of "
          "provisioning an empty disk"),
    _tier("persistent-volume-claims", [("", "PersistentVolumeClaim")],
          "pods mounting a missing claim are not scheduled"),
    _tier("network-policies", [("networking.k8s.io", "NetworkPolicy")],
          "policies exist before pods start, so no pod runs unprotected (helm orders them early too)"),
    _tier("services", [("", "Service"), ("", "Endpoints"), ("discovery.k8s.io", "EndpointSlice")],
          "pods get service environment variables only for Services created before them"),
    _tier("workloads", [("apps", "Deployment"), ("apps", "StatefulSet"), ("apps", "DaemonSet"),
                        ("apps", "ReplicaSet"), ("", "ReplicationController"), ("batch", "Job"),
                        ("batch", "CronJob"), ("", "Pod"), ("", "PodTemplate")],
          "everything they reference exists now; ReplicaSets, Pods and Jobs that a built-in controller makes again "
          "from a carried owner were whited out (migration/transforms/ownership.py), these are the rest"),
    _tier("autoscaling", [("autoscaling", "HorizontalPodAutoscaler"), ("policy", "PodDisruptionBudget")],
          "they reference workloads by name; the HPA controller errors until its target exists"),
    _tier("ingress", [("networking.k8s.io", "Ingress")],
          "Ingresses route to Services, which exist now"),
    _tier(CUSTOM, [],
          "custom resources: their CRDs are Established (the applier waited after the crds tier), their operators' "
          "workloads were applied, and before this tier the applier waits (bounded) until the backend Service of "
          "each conversion webhook their CRDs name has a ready endpoint"),
    _tier("quotas", [("", "ResourceQuota")],
          "after everything they govern (object counts of any type, custom resources included): every source "
          "object is reproduced even in a namespace already over a tightened quota, as on the source; the "
          "applier then waits until the quota controller has filled status.hard in, and the transform reports "
          "quotas the source was already over"),
    _tier("aggregated-apis", [("apiregistration.k8s.io", "APIService")],
          "an APIService whose backend is not running breaks discovery for every client; registered after "
          "everything but admission control, once the applier waited (bounded) until its backend Service has a "
          "ready endpoint"),
    _tier("admission", [("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
                        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
                        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
                        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
                        ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
                        ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding")],
          "admission control last: a webhook applied before its backend exists would reject everything after it, "
          "and objects admitted on the source should not be re-judged by policies applied mid-migration; the "
          "applier first waits (bounded) until the backend Service of each webhook that fails closed "
          "(failurePolicy Fail) has a ready endpoint"),
)

# Groups that served the same kinds before they moved; objects are normally
# rewritten by the api-version rule before ordering, but raw snapshots are ordered too.
_ALIASED: Mapping[tuple[str, str], tuple[str, str]] = MappingProxyType({
    ("extensions", "Ingress"): ("networking.k8s.io", "Ingress"),
    ("extensions", "NetworkPolicy"): ("networking.k8s.io", "NetworkPolicy"),
    ("extensions", "Deployment"): ("apps", "Deployment"),
    ("extensions", "DaemonSet"): ("apps", "DaemonSet"),
    ("extensions", "ReplicaSet"): ("apps", "ReplicaSet"),
})

_TIER_OF: Mapping[tuple[str, str], int] = MappingProxyType(
    {kind: i for i, tier in enumerate(APPLY_ORDER) for kind in tier.kinds})
CUSTOM_TIER: int = next(i for i, tier in enumerate(APPLY_ORDER) if tier.name == CUSTOM)


def tier(obj: Mapping[str, Any]) -> int:
    """The apply tier of an object (an index into :data:`APPLY_ORDER`).

    Args:
        obj: a Kubernetes object dict.

    Returns:
        The tier index; :data:`CUSTOM_TIER` for kinds not in the table.
    """
    key = (group_of(obj), obj.get("kind") or "")
    return _TIER_OF.get(_ALIASED.get(key, key), CUSTOM_TIER)


def sort_key(obj: Mapping[str, Any]) -> tuple[int, str, str, str, str]:
    """Total, stable apply order: tier, then namespace, kind, group and name.

    Args:
        obj: a Kubernetes object dict.

    Returns:
        A tuple to sort by; cluster-scoped objects sort before namespaced ones of the same tier.
    """
    meta = obj.get("metadata") or {}
    return (tier(obj), meta.get("namespace") or "", obj.get("kind") or "", group_of(obj), meta.get("name") or "")


def apply_tiers(objs: Iterable[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """Group objects into apply steps.

    The applier applies each group (concurrently within it) and finishes it before
    the next; the waits around each group are in the module docstring.

    Args:
        objs: the objects to apply; not modified.

    Returns:
        Non-empty groups in apply order, each sorted by :func:`sort_key`.
    """
    groups: dict[int, list[Mapping[str, Any]]] = {}
    for obj in sorted(objs, key=sort_key):
        groups.setdefault(tier(obj), []).append(obj)
    return [groups[i] for i in sorted(groups)]


def tier_name(index: int) -> str:
    """Human name of a tier index (for reports)."""
    return APPLY_ORDER[index].name
