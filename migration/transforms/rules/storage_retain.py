"""PersistentVolumes on the source's Azure storage: never carried with reclaim policy ``Delete``.

Why: a carried PV names the very disk or file share the source cluster still
serves (same ARM disk id, same storage account and share). With
``persistentVolumeReclaimPolicy: Delete`` on the target, deleting its claim —
or the claim's namespace — makes the target's CSI driver delete that disk or
share while the source still uses it. The one safe form is ``Retain``: the
target may bind and mount the volume, but never deletes the storage; the
finding says so, so the change is never silent.

An Azure Disk PV that an ``azure-disk-volume`` blocker holds back from apply
(zonal, LRS, in the old node resource group) takes its claim with it: applied
alone, the claim would be provisioned a new, *empty* disk on the target and its
workload would start without its data. The rule reports the claim under the same
blocker code, so plan and apply hold both back and ``--accept-blockers
azure-disk-volume`` releases both.

PVs the volume plan carries as copies (``TransformContext.volume_pvs``) are
not touched: the ``volume-copies`` rule writes the plan's PV whole (already
``Retain``, naming the copy) and ends their run before this rule.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kube.objects import ObjectRef
from migration.findings import azure_disk_evidence, claim_of_held_disk, is_core, source_storage, storage_retained
from migration.transforms.base import TransformResult, replace
from migration.transforms.context import TransformContext


def _held_claim(spec: Mapping[str, Any], ctx: TransformContext) -> ObjectRef | None:
    """The claim of an Azure Disk PV whose disk blocker holds it back, else None."""
    storage = source_storage(spec)
    claim = spec.get("claimRef") or {}
    if storage is None or not storage.startswith("Azure Disk") or not claim.get("name") \
            or not azure_disk_evidence(spec, ctx):
        return None
    return ObjectRef("", "PersistentVolumeClaim", claim.get("namespace") or "", claim["name"])


def applies_to(obj: Mapping[str, Any], ctx: TransformContext) -> bool:
    """Core PVs on Azure Disk or Azure Files (CSI or in-tree) with reclaim policy Delete, or held back."""
    if not is_core(obj, "PersistentVolume") or (obj.get("metadata") or {}).get("name") in ctx.volume_pvs:
        return False
    spec = obj.get("spec") or {}
    if source_storage(spec) is None:
        return False
    return spec.get("persistentVolumeReclaimPolicy") == "Delete" or _held_claim(spec, ctx) is not None


def run(obj: dict[str, Any], ctx: TransformContext) -> TransformResult:
    """Set ``persistentVolumeReclaimPolicy: Retain`` (saying so), and report the claim of a held-back disk."""
    spec = obj["spec"]
    storage = source_storage(spec)
    assert storage is not None  # applies_to checked it
    ref = ObjectRef.of(obj)
    ops, findings = [], []
    if spec.get("persistentVolumeReclaimPolicy") == "Delete":
        ops.append(replace("Retain", "spec", "persistentVolumeReclaimPolicy"))
        findings.append(storage_retained(ref, storage))
    claim = _held_claim(spec, ctx)
    if claim is not None:
        findings.append(claim_of_held_disk(claim, ref, storage))
    return TransformResult.patch(ops, findings)
