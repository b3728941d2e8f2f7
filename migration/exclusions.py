"""Whether an exclusion's reason holds on the target: the truthful half of verify (issue 12 item 5).

Why: verify accounts for every source object — present on the target, or
excluded with a reason. A reason that is false on the target ("owned by X,
whose controller recreates it" when nothing recreates it) used to pass with
exit 0 while the object was gone. Here each checkable reason is checked
against the target:

* **owned by X, whose controller recreates it** — each link of the chain of
  controller owners (a Pod's ReplicaSet's Deployment) must be one a built-in
  controller makes again (:data:`migration.transforms.ownership.REMADE_BY_OWNER`),
  up to an owner present on the target; past a link no built-in controller
  makes (an owner that is a custom resource, whose operator may not run there),
  the object itself must be on the target.
* **made by the target in every namespace** (the ``default`` ServiceAccount,
  ``kube-root-ca.crt``) — the object exists on the target.
* **managed by AKS: the target's AKS installs its own** (the
  ``platform-namespaces`` rule, kube-system) — the target has an object of the
  same kind and name in its kube-system, or, for what a Cilium target replaces
  by design (kube-proxy, azure-npm, Calico's old kube-system components), the
  replacement (:func:`migration.transforms.rules.platform_namespaces.counterparts`).
  An object a controller made (a coredns Pod, its ReplicaSet, kube-dns's
  EndpointSlices) is judged by the top of its chain of controller owners in the
  source snapshot (the Deployment, the Service), whose name the target's AKS
  uses too. The target's kube-system is listed once per kind
  (:class:`KubeSystemNames`), not read object by object.

Other reasons (Events, Leases, node bootstrap tokens, system namespaces,
cluster-scoped objects with AKS's add-on label, add-on namespaces the target
replaces…) say the object means nothing on the target or cannot be matched by
name; they are accounted as given (docs/migration.md lists them and why).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kube.client import KubeClient
from kube.errors import ApiError
from kube.objects import ObjectRef, controller_owner, group_of
from migration.transforms.ownership import owner_group, owner_keys, remade_by
from migration.transforms.rules import platform_namespaces
from migration.transforms.rules.whiteout import NEVER_MIGRATED

OWNED = "owned by "
AKS_RULE = "platform-namespaces"  # the rule whose "managed by AKS" exclusions are checked against kube-system
KUBE_SYSTEM = "kube-system"
# (group, kind, name) of objects the target creates itself in every namespace.
TARGET_MADE = frozenset({("", "ServiceAccount", "default"), ("", "ConfigMap", "kube-root-ca.crt")})
def _probe(ref: ObjectRef, api_version: str) -> dict[str, Any]:
    meta = {"name": ref.name, **({"namespace": ref.namespace} if ref.namespace else {})}
    return {"apiVersion": api_version, "kind": ref.kind, "metadata": meta}


def _exists(target: KubeClient, ref: ObjectRef, api_version: str) -> bool:
    try:
        return target.read(_probe(ref, api_version)) is not None
    except (ApiError, KeyError, ValueError):
        return False  # a kind the target does not serve


class KubeSystemNames:
    """The names of the target's kube-system objects, listed once per kind and remembered.

    Verify checks every AKS-managed exclusion against the target; one list per kind (a handful: ConfigMap,
    Deployment, DaemonSet, Service, ServiceAccount…) instead of a GET per excluded object.
    """

    def __init__(self, target: KubeClient):
        self._target = target
        self._names: dict[tuple[str, str], tuple[frozenset[str], str]] = {}

    def names(self, group: str, kind: str) -> tuple[frozenset[str], str]:
        """``(names, problem)``: the kube-system objects of that kind, and why they could not be listed ("" if
        they were: a kind the target does not serve, or a list it refused)."""
        if (group, kind) not in self._names:
            self._names[group, kind] = self._list(group, kind)
        return self._names[group, kind]

    def _list(self, group: str, kind: str) -> tuple[frozenset[str], str]:
        what = f"{kind}{'.' + group if group else ''}"
        try:
            res = next((r for r in self._target.resources().values() if r.group == group and r.kind == kind), None)
            if res is None:
                return frozenset(), f"the target does not serve {what}"
            return frozenset(o["metadata"]["name"] for o in self._target.list(res, namespace=KUBE_SYSTEM)), ""
        except ApiError as e:
            return frozenset(), f"the target's kube-system {what} objects could not be listed ({e.message})"


def _top_owner(read: Callable[[str], dict[str, Any]], obj: dict[str, Any],
               source_index: Mapping[str, str]) -> dict[str, Any]:
    """The top of an object's chain of controller owners within the source snapshot (the object itself if none)."""
    seen: set[str] = set()
    while (owner := controller_owner(obj)) is not None:
        ns = (obj.get("metadata") or {}).get("namespace") or ""
        keys = owner_keys(owner, ns)
        path = next((source_index[k] for k in keys if k in source_index), None)
        if path is None or keys[0] in seen:
            break
        seen.add(keys[0])
        obj = read(path)
    return obj


def _aks_counterpart_holds(obj: dict[str, Any], read: Callable[[str], dict[str, Any]],
                           source_index: Mapping[str, str], kube_system: KubeSystemNames) -> tuple[bool, str]:
    """Whether the target's kube-system has what accounts for excluding an AKS-managed object."""
    subject = _top_owner(read, obj, source_index)
    wanted = platform_namespaces.counterparts(subject)
    problems = []
    for group, kind, name in wanted:
        names, problem = kube_system.names(group, kind)
        if name in names:
            return True, ""
        if problem:
            problems.append(problem)
    own_group, own_kind, own_name = wanted[0]
    lacks = f"the target has no {own_kind}{'.' + own_group if own_group else ''} kube-system/{own_name}"
    if len(wanted) > 1:
        group, kind, name = wanted[1]
        lacks += f", nor {kind}{'.' + group if group else ''} kube-system/{name}, which replaces it on a Cilium target"
    via = f" (the {subject.get('kind')} this object was made for)" if subject is not obj else ""
    return False, (lacks + via + ("; " + "; ".join(problems) if problems else "")
                   + ": enable the add-on on the target, or carry the object")


def exclusion_holds(target: KubeClient, read: Callable[[str], dict[str, Any]], ref: ObjectRef,
                    entry: Mapping[str, Any], source_index: Mapping[str, str], *,
                    kube_system: KubeSystemNames | None = None) -> tuple[bool, str]:
    """Whether one exclusion's reason holds on the target.

    Args:
        target: the new cluster (only read).
        read: reads a raw snapshot object by its path (Secrets decrypted).
        ref: the excluded object.
        entry: its ``excluded.jsonl`` entry (``rule``, ``reason``, ``source``).
        source_index: object key → raw snapshot path (to walk owner chains).
        kube_system: the target's kube-system names, shared across calls (one list per kind for the whole
            verify); a new one when None.

    Returns:
        ``(holds, why_not)``.
    """
    reason = entry.get("reason") or ""
    if (ref.group, ref.kind, ref.name) in TARGET_MADE \
            and _exists(target, ObjectRef("", "Namespace", "", ref.namespace), "v1"):
        # (in a namespace the target does not have, the namespace's own exclusion is the reason)
        obj = read(entry["source"]) if entry.get("source") else {"apiVersion": "v1"}
        if not _exists(target, ref, obj.get("apiVersion") or "v1"):
            return False, "the target has not made its own"
        return True, ""
    if entry.get("rule") == AKS_RULE and ref.namespace == KUBE_SYSTEM and entry.get("source"):
        obj = read(entry["source"])
        if platform_namespaces.aks_managed(obj) is not None and not platform_namespaces.is_bootstrap_token(obj) \
                and (group_of(obj), obj.get("kind") or "") not in NEVER_MIGRATED:
            return _aks_counterpart_holds(obj, read, source_index, kube_system or KubeSystemNames(target))
    if not reason.startswith(OWNED) or not entry.get("source"):
        return True, ""
    obj = read(entry["source"])
    seen: set[str] = set()
    while (owner := controller_owner(obj)) is not None:
        owner_ref = ObjectRef(owner_group(owner), owner.get("kind") or "", ref.namespace, owner.get("name") or "")
        if owner_ref.key in seen:
            return False, "its chain of owners loops"
        seen.add(owner_ref.key)
        if not remade_by(owner, obj):  # no built-in controller makes it: only its presence accounts for it
            if _exists(target, ref, read(entry["source"]).get("apiVersion") or ""):
                return True, ""
            return False, (f"nothing recreated it: no built-in controller of {owner_ref.kind} {owner_ref.name} "
                           f"makes a {obj.get('kind')}")
        path = source_index.get(owner_ref.key) or source_index.get(ObjectRef(owner_ref.group, owner_ref.kind, "",
                                                                             owner_ref.name).key)
        if path is None:
            return False, f"its owner {owner_ref.kind} {owner_ref.name} was not in the source snapshot"
        parent = read(path)
        if _exists(target, ObjectRef.of(parent), parent.get("apiVersion") or ""):
            return True, ""  # the owner is there, and its controller makes the object's kind
        if controller_owner(parent) is None:
            return False, f"its owner {owner_ref.kind} {owner_ref.name} is not on the target"
        obj = parent  # the owner is itself made by its own owner: look one level up
    return False, "it names no controller owner"


def blocked_owner(read: Callable[[str], dict[str, Any]], ref: ObjectRef, entry: Mapping[str, Any],
                  source_index: Mapping[str, str], blocked: Mapping[str, str]) -> str | None:
    """The owner an excluded object waits for when a blocker holds that owner back, else None.

    An object excluded as "owned by X" has no owner on the target while X (or an owner above it) is
    held back by an unaccepted blocker finding: that is the blocker's doing, reported as such (the
    object is ``blocked`` with its owner), not a false exclusion reason.

    Args:
        read: reads a raw snapshot object by its path.
        ref: the excluded object.
        entry: its ``excluded.jsonl`` entry (``reason``, ``source``).
        source_index: object key → raw snapshot path (to walk owner chains).
        blocked: keys of the objects held back, and why.

    Returns:
        ``"<Kind> <name>"`` of the held-back owner, or None.
    """
    if not blocked or not (entry.get("reason") or "").startswith(OWNED) or not entry.get("source"):
        return None
    obj = read(entry["source"])
    seen: set[str] = set()
    while (owner := controller_owner(obj)) is not None:
        owner_ref = ObjectRef(owner_group(owner), owner.get("kind") or "", ref.namespace, owner.get("name") or "")
        keys = (owner_ref.key, ObjectRef(owner_ref.group, owner_ref.kind, "", owner_ref.name).key)
        if owner_ref.key in seen:
            return None
        seen.add(owner_ref.key)
        if any(k in blocked for k in keys):
            return f"{owner_ref.kind} {owner_ref.name}"
        path = next((source_index[k] for k in keys if k in source_index), None)
        if path is None:
            return None
        obj = read(path)
    return None


__all__ = ["AKS_RULE", "OWNED", "TARGET_MADE", "KubeSystemNames", "blocked_owner", "exclusion_holds"]
