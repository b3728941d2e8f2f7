"""Carrying PersistentVolume data to the new cluster: plan, move, verify, roll back.

Why a package, one concern per module:

* :mod:`.model` — the records and the Enums of every status; the
  :class:`DiskMover` protocol the Azure side implements
  (``deploy.disk_mover.PulumiDiskMover``, ``sandbox.disk_mover.FakeAzureDiskMover``).
* :mod:`.azure` — Azure's ids and names (disk ids, share handles, zones, sizes).
* :mod:`.writers` — who writes each claim on the source, and how to stop them.
* :mod:`.plan` — per claim, how its data reaches the target (pure), the green
  PV, and the plan file; :func:`planned_pvs` is what the transform receives.
* :mod:`.state` — typed, immutable state records, written crash-safe.
* :mod:`.move` — the move as pure decisions plus a thin runner that saves after
  each transition (the shape of ``cutover.engine`` + ``cutover.runner``).
* :mod:`.verify` — every claim bound to a volume carrying the source's data.

Order in a run: inventory → volume plan → transform (fed the plan) → move →
apply → verify; :func:`migration.pipeline.migrate` sequences it.
"""
from migration.volumes.azure import azure_names, parse_disk_id, parse_share_handle, size_gib, zone_number
from migration.volumes.model import (
    DiskCopy,
    DiskCopyResult,
    DiskMover,
    MoveReport,
    Quiesce,
    Strategy,
    TargetFacts,
    VolumeKind,
    VolumeMove,
    VolumeResult,
    VolumeStatus,
    VolumeVerification,
    Writer,
    WriterResult,
    WriterStatus,
)
from migration.volumes.move import move_volumes, quiesce, rollback, wait_released
from migration.volumes.plan import (
    PLAN_FILE,
    green_pv,
    parse_zone_map,
    plan_findings,
    plan_from_snapshot,
    planned_pvs,
    read_plan,
    source_region,
    target_facts,
    volume_handle,
    volume_plan,
    write_plan,
)
from migration.volumes.state import STATE_FILE, VolumeState, VolumeStore
from migration.volumes.verify import verify_volumes
from migration.volumes.writers import writers_by_claim

MOVE_REPORT = "volumes-move.json"
VERIFY_REPORT = "volumes-verify.json"

__all__ = [
    "MOVE_REPORT", "PLAN_FILE", "STATE_FILE", "VERIFY_REPORT", "DiskCopy", "DiskCopyResult", "DiskMover",
    "MoveReport", "Quiesce", "Strategy", "TargetFacts", "VolumeKind", "VolumeMove", "VolumeResult", "VolumeState",
    "VolumeStatus", "VolumeStore", "VolumeVerification", "Writer", "WriterResult", "WriterStatus", "azure_names",
    "green_pv", "move_volumes", "parse_disk_id", "parse_share_handle", "parse_zone_map", "plan_findings",
    "plan_from_snapshot", "planned_pvs", "quiesce", "read_plan", "rollback", "size_gib", "source_region",
    "target_facts", "verify_volumes", "volume_handle", "volume_plan", "wait_released", "write_plan",
    "writers_by_claim", "zone_number",
]
