"""PersistentVolumes on the source's Azure storage: never carried with reclaim policy ``Delete``.

Why: a carried PV names the very disk or file share the source cluster still
serves (same ARM disk id, same storage account and share). With
``persistentVolumeReclaimPolicy: Delete`` on the target, deleting its claim —
or the claim's namespace — makes the target's CSI driver delete that disk or
share while the source still uses it. The one safe form is ``Retain``: the
target may bind and mount the volume, but never deletes the storage; the
finding says so, so the change is never silent.

PVs the volume plan carries as copies (``TransformContext.volume_pvs``) are
not touched: the ``volume-copies`` rule writes the plan's PV whole (already
``Retain``, naming the copy) and ends their run before this rule.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kube.objects import ObjectRef
from migration.findings import is_core, source_storage, storage_retained
from migration.transforms.base import TransformResult, replace
from migration.transforms.context import TransformContext


def applies_to(obj: Mapping[str, Any], ctx: TransformContext) -> bool:
    """Core PVs on Azure Disk or Azure Files (CSI or in-tree) whose reclaim policy is Delete."""
    if not is_core(obj, "PersistentVolume") or (obj.get("metadata") or {}).get("name") in ctx.volume_pvs:
        return False
    spec = obj.get("spec") or {}
    return spec.get("persistentVolumeReclaimPolicy") == "Delete" and source_storage(spec) is not None


def run(obj: dict[str, Any], ctx: TransformContext) -> TransformResult:
    """Set ``persistentVolumeReclaimPolicy: Retain`` and say so in a finding."""
    storage = source_storage(obj["spec"])
    assert storage is not None  # applies_to checked it
    return TransformResult.patch([replace("Retain", "spec", "persistentVolumeReclaimPolicy")],
                                 [storage_retained(ObjectRef.of(obj), storage)])
