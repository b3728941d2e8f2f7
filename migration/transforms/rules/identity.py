"""Identity metadata: finalizers, ownerReferences and managedFields, kept so the object stays itself.

Why (issue 13 items 1–2): the metadata allowlist drops everything the old API
server assigned, but three fields are not the server's:

* **finalizers** a user or a tool without a controller on the target put there
  (Argo CD's ``resources-finalizer.argocd.argoproj.io``) are kept; finalizers of
  Kubernetes' own controllers (``kubernetes.io/…``, ``*.kubernetes.io/…``,
  ``foregroundDeletion``, ``orphan``) are dropped — the target's controllers add
  them back.
* **ownerReferences** to objects that will exist on the target
  (:attr:`TransformContext.carried_keys`) are kept with the source's uids; the
  applier applies the object without them and re-points them to the target's
  uids once their owners exist (:mod:`migration.identity`). References to owners
  that are not carried are dropped with an info finding. With the facts unknown
  (``carried_keys`` None) they are dropped, as before.
* **managedFields** are kept as the source recorded them: after applying, the
  applier writes them back (re-stamped, as Velero restores them), so every field
  is owned by the manager that owned it on the source and only akshift's own
  rewrites are akshift's.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kube.objects import ObjectRef
from migration.findings import Finding, Severity
from migration.transforms.base import TransformResult, remove, replace
from migration.transforms.context import TransformContext
from migration.transforms.ownership import owner_keys

# Finalizers the target's own controllers add back (never a user's promise).
SYSTEM_FINALIZERS = frozenset({"kubernetes", "foregroundDeletion", "orphan"})
OWNER_DROPPED = "owner-not-carried"


def system_finalizer(name: str) -> bool:
    """Whether a finalizer belongs to Kubernetes itself (its controllers add it back on the target).

    >>> system_finalizer("kubernetes.io/pvc-protection"), system_finalizer("resources-finalizer.argocd.argoproj.io")
    (True, False)
    """
    domain = name.partition("/")[0] if "/" in name else ""
    return name in SYSTEM_FINALIZERS or domain == "kubernetes.io" or domain.endswith(".kubernetes.io") \
        or domain.endswith(".k8s.io")


def applies_to(obj: Mapping[str, Any], ctx: TransformContext) -> bool:
    """Objects with finalizers, ownerReferences or managedFields."""
    meta = obj.get("metadata") or {}
    return bool(meta.get("finalizers") or meta.get("ownerReferences") or meta.get("managedFields"))


def run(obj: dict[str, Any], ctx: TransformContext) -> TransformResult:
    """Keep user finalizers, references to carried owners and the source's managedFields."""
    meta = obj.get("metadata") or {}
    ops = []
    findings = []
    finalizers = meta.get("finalizers")
    if finalizers is not None:
        kept = [f for f in finalizers if not system_finalizer(f)]
        if not kept:
            ops.append(remove("metadata", "finalizers"))
        elif kept != finalizers:
            ops.append(replace(kept, "metadata", "finalizers"))
    owners = meta.get("ownerReferences")
    if owners is not None:
        ns = meta.get("namespace") or ""
        kept_owners = [o for o in owners if ctx.carried_keys is not None
                       and any(k in ctx.carried_keys for k in owner_keys(o, ns))]
        for o in owners:
            if ctx.carried_keys is not None and o not in kept_owners:
                findings.append(Finding(
                    OWNER_DROPPED, Severity.INFO, ObjectRef.of(obj),
                    f"ownerReference to {o.get('kind')} {o.get('name')} dropped: that owner is not carried to the "
                    "target (a reference to a uid that does not exist there would make the target's garbage "
                    "collector delete this object)",
                    "nothing to do unless the owner is recreated on the target; then re-link it", "/metadata/ownerReferences"))
        if not kept_owners:
            ops.append(remove("metadata", "ownerReferences"))
        elif kept_owners != owners:
            ops.append(replace(kept_owners, "metadata", "ownerReferences"))
    return TransformResult.patch(ops, findings)
