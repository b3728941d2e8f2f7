"""A rehearsal's PersistentVolumes on the source's Azure storage: left out, so their claims start empty.

Why: a rehearsal on a test cluster runs next to the old cluster, which keeps
serving. A carried PV names the very disk or share the old cluster uses: an
Azure Disk cannot be attached by two clusters (and a zonal LRS disk not even in
another zone), and a share mounted on test would let test's pods write into the
old cluster's data. Holding such PVs back (the ``azure-disk-volume`` blocker)
keeps the old data safe but leaves the rehearsal's claims and their workloads
held back too, so verify on test never passes. With ``--empty-volumes`` the
user says "this run is a rehearsal": every PV on the source's Azure Disks or
Azure Files is excluded here, before any later rule could carry it (the
``volumes`` rule already clears each claim's ``volumeName``), so on the
target each claim is provisioned a new, empty volume by its storage class —
the target's own storage, deleted with the target — and nothing on the target
names, attaches or can delete the source's storage. The data is not copied,
and that is never silent: each claim gets a ``volume-data-not-copied``
finding, which verify records (``Verification.data_not_copied``) so that such
a cluster is never vouched for to serve (the cutover's preflight refuses it).

PVs on other storage (NFS, host paths …) are left to the other rules.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kube.objects import ObjectRef
from migration.findings import is_core, source_storage, volume_data_not_copied
from migration.transforms.base import TransformResult
from migration.transforms.context import TransformContext


def applies_to(obj: Mapping[str, Any], ctx: TransformContext) -> bool:
    """Core PVs on Azure Disk or Azure Files (CSI or in-tree), in a rehearsal (``ctx.empty_volumes``)."""
    return ctx.empty_volumes and is_core(obj, "PersistentVolume") \
        and source_storage(obj.get("spec") or {}) is not None


def run(obj: dict[str, Any], ctx: TransformContext) -> TransformResult:
    """Exclude the PV; report its claim (if it has one) as starting empty."""
    spec = obj.get("spec") or {}
    storage = source_storage(spec)
    assert storage is not None  # applies_to checked it
    claim = spec.get("claimRef") or {}
    findings = []
    if claim.get("name"):
        findings.append(volume_data_not_copied(
            ObjectRef("", "PersistentVolumeClaim", claim.get("namespace") or "", claim["name"]),
            ObjectRef.of(obj), storage))
    return TransformResult.exclude(f"rehearsal (--empty-volumes): points at the source's {storage}, which the "
                                   "target must never attach, write or delete; its claim starts empty", findings)
