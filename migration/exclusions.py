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

Other reasons (Events, Leases, system namespaces…) say the object means
nothing on the target; they are accounted as given.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kube.client import KubeClient
from kube.errors import ApiError
from kube.objects import ObjectRef, controller_owner
from migration.transforms.ownership import owner_group, remade_by

OWNED = "owned by "
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


def exclusion_holds(target: KubeClient, read: Callable[[str], dict[str, Any]], ref: ObjectRef,
                    entry: Mapping[str, Any], source_index: Mapping[str, str]) -> tuple[bool, str]:
    """Whether one exclusion's reason holds on the target.

    Args:
        target: the new cluster (only read).
        read: reads a raw snapshot object by its path (Secrets decrypted).
        ref: the excluded object.
        entry: its ``excluded.jsonl`` entry (``reason``, ``source``).
        source_index: object key → raw snapshot path (to walk owner chains).

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


__all__ = ["OWNED", "TARGET_MADE", "blocked_owner", "exclusion_holds"]
