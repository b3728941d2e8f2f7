"""Which owners will exist on the target, and which owned objects their controllers make again there.

Why: an object owned by another (a ReplicaSet's Pods, a CronJob's Jobs) is
left out only because its owner's controller makes it again on the target.
That holds only when the owner is carried (or itself made again) and its
controller certainly runs there. Only kube-controller-manager's controllers
certainly run on every target, and each makes only certain kinds:
:data:`REMADE_BY_OWNER` lists them. Everything else owned by an object is
carried (issue 13 item 1), with its ownerReferences re-pointed at apply:

* objects owned by a custom resource (a SealedSecret's Secret, a cert-manager
  Certificate's Secret, a Prometheus's StatefulSet) are data. Nothing on the
  target is guaranteed to unseal, re-issue or reconcile them — the operator
  may not be carried, may not be running yet, or may hold a key the target
  lacks — and carrying loses nothing: an operator that runs there later
  writes the same content over them;
* objects a built-in owner does not make (a StatefulSet's claims, which its
  controller would make again *empty*; a ConfigMap a user marked as owned by a
  Deployment) are data too.

The facts are computed once per snapshot (:func:`ownership_facts`) before the
rules run, from the objects' metadata, and kept in
:class:`migration.transforms.context.TransformContext`.
"""
from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping
from types import MappingProxyType
from typing import Any

from kube.objects import ObjectRef, controller_owner, group_of

# (owner group, owner kind) → the (group, kind)s its kube-controller-manager controller makes from the
# owner's spec, on every cluster. An owned object of any other pair is carried.
REMADE_BY_OWNER: Mapping[tuple[str, str], frozenset[tuple[str, str]]] = MappingProxyType({
    ("apps", "Deployment"): frozenset({("apps", "ReplicaSet")}),  # the deployment controller, from the template
    ("apps", "ReplicaSet"): frozenset({("", "Pod")}),  # the replicaset controller
    ("apps", "StatefulSet"): frozenset({("", "Pod")}),  # not its claims: they hold data (made again empty)
    ("apps", "DaemonSet"): frozenset({("", "Pod")}),  # one per target node
    ("", "ReplicationController"): frozenset({("", "Pod")}),
    ("batch", "Job"): frozenset({("", "Pod")}),  # the job controller runs the pods the Job still needs
    ("batch", "CronJob"): frozenset({("batch", "Job")}),  # the next runs come from the schedule
    ("", "Service"): frozenset({("discovery.k8s.io", "EndpointSlice")}),  # the endpointslice controller
})


def owner_keys(owner: Mapping[str, Any], namespace: str) -> tuple[str, str]:
    """The keys an ownerReference may name: the owner in the dependent's namespace, or cluster-scoped.

    Args:
        owner: one ownerReference.
        namespace: the dependent's namespace (``""`` when cluster-scoped).

    Returns:
        ``(namespaced key, cluster-scoped key)``.
    """
    group = owner_group(owner)
    kind, name = owner.get("kind") or "", owner.get("name") or ""
    return ObjectRef(group, kind, namespace, name).key, ObjectRef(group, kind, "", name).key


def owner_group(owner: Mapping[str, Any]) -> str:
    """The API group of an ownerReference."""
    return (owner.get("apiVersion") or "").rpartition("/")[0]


def remade_by(owner: Mapping[str, Any], obj: Mapping[str, Any]) -> bool:
    """Whether the owner's built-in controller makes objects of ``obj``'s kind (:data:`REMADE_BY_OWNER`).

    Args:
        owner: the object's controller ownerReference.
        obj: the owned object (or a probe with its ``apiVersion`` and ``kind``).

    Returns:
        True when kube-controller-manager makes it again from the owner on any cluster.
    """
    made = REMADE_BY_OWNER.get((owner_group(owner), owner.get("kind") or ""), frozenset())
    return (group_of(obj), obj.get("kind") or "") in made


def ownership_facts(objs: Iterable[Mapping[str, Any]],
                    excluded: Callable[[Mapping[str, Any]], bool]) -> dict[str, frozenset[str]]:
    """``carried_keys`` for a :class:`TransformContext`.

    Args:
        objs: every object of the snapshot (Secrets may be left out: they own nothing).
        excluded: whether an object is left out for a reason other than its owner
            (a system namespace, a kind never migrated, being deleted).

    Returns:
        ``{"carried_keys": …}``: keys of objects that will exist on the target (carried, or made
        again by their owner's controller).
    """
    carried = {ObjectRef.of(obj).key for obj in objs if not excluded(obj)}
    return {"carried_keys": frozenset(carried)}


def recreated_by_owner(obj: Mapping[str, Any], carried_keys: Container[str] | None) -> tuple[bool, str]:
    """Whether the object's controller owner will exist on the target with a controller that makes it again.

    Args:
        obj: the object.
        carried_keys: from :func:`ownership_facts`; None when unknown (then an owner of
            :data:`REMADE_BY_OWNER` is trusted to be carried).

    Returns:
        ``(holds, why)``: ``why`` says which part fails when it does not hold.
    """
    owner = controller_owner(obj)
    if owner is None:
        return False, "no controller owner"
    what = f"{owner.get('kind')} {owner.get('name')}"
    if not remade_by(owner, obj):
        return False, f"no built-in controller of {what} makes a {obj.get('kind')} again"
    if carried_keys is None:
        return True, ""
    ns = (obj.get("metadata") or {}).get("namespace") or ""
    if not any(k in carried_keys for k in owner_keys(owner, ns)):
        return False, f"its owner {what} is not carried to the target"
    return True, ""


__all__ = ["REMADE_BY_OWNER", "owner_group", "owner_keys", "ownership_facts", "recreated_by_owner", "remade_by"]
