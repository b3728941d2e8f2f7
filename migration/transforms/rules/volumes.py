"""PersistentVolumeClaims and PersistentVolumes: undo the old cluster's binding bookkeeping.

Why: a PVC's ``spec.volumeName`` and a PV's ``claimRef.uid``/``resourceVersion``
record a binding made by the old PV controller between objects whose uids do
not exist on the target; a PV whose claimRef uid matches no claim is treated as
Released and never binds. The claimRef's namespace and name are kept, so a
migrated PV stays pre-bound to its migrated claim, and the claim (without
``volumeName``) binds to it — or, when the PV is not migrated (the
snapshot/restore path), is provisioned afresh.

The binding *annotations* (``pv.kubernetes.io/bind-completed`` …) are removed
by the metadata rule's controller-annotation list: one owner per field.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from migration.findings import is_core
from migration.transforms.base import TransformResult, remove
from migration.transforms.context import TransformContext


def applies_to(obj: Mapping[str, Any], ctx: TransformContext) -> bool:
    """Core PersistentVolumeClaims and PersistentVolumes."""
    return is_core(obj, "PersistentVolumeClaim") or is_core(obj, "PersistentVolume")


def _azure_disk(spec: Mapping[str, Any]) -> bool:
    return (spec.get("csi") or {}).get("driver") == "disk.csi.azure.com" or "azureDisk" in spec


def run(obj: dict[str, Any], ctx: TransformContext) -> TransformResult:
    """Clear the PVC's volumeName, or the PV claimRef's uid and resourceVersion.

    An Azure Disk PV that no claim holds is excluded: carried over, it would point the new
    cluster at the old cluster's disk, and any matching claim there could bind and attach it
    while the old cluster may still use it. Its data moves with ``akshift volumes`` or by hand.
    """
    spec = obj.get("spec") or {}
    if obj["kind"] == "PersistentVolumeClaim":
        return TransformResult.patch([remove("spec", "volumeName")] if "volumeName" in spec else [])
    if _azure_disk(spec) and not spec.get("claimRef"):
        return TransformResult.exclude("unclaimed Azure Disk PersistentVolume: its disk belongs to the old cluster; "
                                       "snapshot and restore it (akshift volumes) if its data is needed")
    claim = spec.get("claimRef") or {}
    return TransformResult.patch([remove("spec", "claimRef", key)
                                  for key in ("uid", "resourceVersion") if key in claim])
