"""Which owners will exist on the target, and which API groups have a controller there.

Why: an object owned by another (a ReplicaSet's Pods, a SealedSecret's Secret)
is left out only because its owner's controller makes it again on the target.
That holds only when the owner is carried (or itself recreated) and something
runs its controller there: kube-controller-manager for the built-in kinds, a
carried workload for a custom resource's group. Otherwise leaving it out loses
it (issue 13 item 1), so the transform carries it instead.

The facts are computed once per snapshot (:func:`ownership_facts`) before the
rules run, from the objects' metadata and the carried workloads' RBAC, and
kept in :class:`migration.transforms.context.TransformContext`.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kube.objects import ObjectRef, controller_owner

# API groups whose kinds kube-controller-manager (or the API server) controls on every cluster.
BUILTIN_CONTROLLED_GROUPS = frozenset({"", "apps", "batch", "discovery.k8s.io", "autoscaling", "policy",
                                       "networking.k8s.io", "storage.k8s.io", "rbac.authorization.k8s.io",
                                       "apiextensions.k8s.io", "apiregistration.k8s.io", "coordination.k8s.io"})

WORKLOADS = frozenset({("apps", "Deployment"), ("apps", "StatefulSet"), ("apps", "DaemonSet")})
BINDINGS = frozenset({"ClusterRoleBinding", "RoleBinding"})
ROLES = frozenset({"ClusterRole", "Role"})


def owner_keys(owner: Mapping[str, Any], namespace: str) -> tuple[str, str]:
    """The keys an ownerReference may name: the owner in the dependent's namespace, or cluster-scoped.

    Args:
        owner: one ownerReference.
        namespace: the dependent's namespace (``""`` when cluster-scoped).

    Returns:
        ``(namespaced key, cluster-scoped key)``.
    """
    group = (owner.get("apiVersion") or "").rpartition("/")[0]
    kind, name = owner.get("kind") or "", owner.get("name") or ""
    return ObjectRef(group, kind, namespace, name).key, ObjectRef(group, kind, "", name).key


def owner_group(owner: Mapping[str, Any]) -> str:
    """The API group of an ownerReference."""
    return (owner.get("apiVersion") or "").rpartition("/")[0]


def ownership_facts(objs: Iterable[Mapping[str, Any]],
                    excluded: Callable[[Mapping[str, Any]], bool]) -> dict[str, frozenset[str]]:
    """``carried_keys`` and ``controlled_groups`` for a :class:`TransformContext`.

    Args:
        objs: every object of the snapshot (Secrets may be left out: they own nothing).
        excluded: whether an object is left out for a reason other than its owner
            (a system namespace, a kind never migrated, being deleted).

    Returns:
        ``carried_keys``: keys of objects that will exist on the target (carried, or
        recreated by their controller); ``controlled_groups``: API groups a carried
        workload's ServiceAccount may act on (``*`` for all), plus the built-in ones.
    """
    carried: set[str] = set()
    workloads: list[Mapping[str, Any]] = []
    bindings: list[Mapping[str, Any]] = []
    roles: dict[str, list[Mapping[str, Any]]] = {}
    for obj in objs:
        if excluded(obj):
            continue
        ref = ObjectRef.of(obj)
        carried.add(ref.key)
        if (ref.group, ref.kind) in WORKLOADS:
            workloads.append(obj)
        elif ref.group == "rbac.authorization.k8s.io" and ref.kind in BINDINGS:
            bindings.append(obj)
        elif ref.group == "rbac.authorization.k8s.io" and ref.kind in ROLES:
            roles[ref.key] = list(obj.get("rules") or ())
    accounts = set()
    for w in workloads:
        meta = w.get("metadata") or {}
        pod = ((w.get("spec") or {}).get("template") or {}).get("spec") or {}
        accounts.add((meta.get("namespace") or "", pod.get("serviceAccountName") or pod.get("serviceAccount") or "default"))
    groups = set(BUILTIN_CONTROLLED_GROUPS)
    for b in bindings:
        ns = (b.get("metadata") or {}).get("namespace") or ""
        subjects = {(s.get("namespace") or ns, s.get("name")) for s in b.get("subjects") or ()
                    if s.get("kind") == "ServiceAccount"}
        if not subjects & accounts:
            continue
        role = b.get("roleRef") or {}
        role_ns = ns if role.get("kind") == "Role" else ""
        for rule in roles.get(ObjectRef("rbac.authorization.k8s.io", role.get("kind") or "", role_ns,
                                        role.get("name") or "").key, ()):
            groups.update(rule.get("apiGroups") or ())
    return {"carried_keys": frozenset(carried), "controlled_groups": frozenset(groups)}


def recreated_by_owner(obj: Mapping[str, Any], carried_keys: frozenset[str] | None,
                       controlled_groups: frozenset[str] | None) -> tuple[bool, str]:
    """Whether the object's controller owner will exist on the target with a controller to recreate it.

    Args:
        obj: the object.
        carried_keys, controlled_groups: from :func:`ownership_facts`; None when unknown
            (then an owner is trusted, as before these facts existed).

    Returns:
        ``(holds, why)``: ``why`` says which part fails when it does not hold.
    """
    owner = controller_owner(obj)
    if owner is None:
        return False, "no controller owner"
    if carried_keys is None or controlled_groups is None:
        return True, ""
    ns = (obj.get("metadata") or {}).get("namespace") or ""
    what = f"{owner.get('kind')} {owner.get('name')}"
    if not any(k in carried_keys for k in owner_keys(owner, ns)):
        return False, f"its owner {what} is not carried to the target"
    group = owner_group(owner)
    if group not in controlled_groups and "*" not in controlled_groups:
        return False, f"no carried workload runs a controller for {what} (API group {group})"
    return True, ""


__all__ = ["BUILTIN_CONTROLLED_GROUPS", "owner_group", "owner_keys", "ownership_facts",
           "recreated_by_owner"]
