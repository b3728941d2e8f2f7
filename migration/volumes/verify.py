"""Verify a volume move: every claim on the target Bound to a volume that carries the source's data.

Why by lineage and not by reading data: akshift cannot mount a disk to compare
bytes, but it recorded every link of the chain — planned source disk →
snapshot → new disk (the state file) → green PV (its handle and annotations)
→ the claim bound to it — so verify checks each link against the plan and the
state, and a claim still binding is polled until a timeout.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

from kube.client import KubeClient
from migration.volumes.model import (
    SOURCE_SNAPSHOT_ANNOTATION,
    SOURCE_VOLUME_ANNOTATION,
    Strategy,
    VolumeMove,
    VolumeResult,
    VolumeStatus,
)
from migration.volumes.plan import volume_handle
from migration.volumes.state import VolumeState


def check_claim(target: KubeClient, m: VolumeMove, state: VolumeState) -> VolumeResult:
    """One claim's verdict: ``verified``, or ``mismatch`` with what is wrong."""
    base = VolumeResult(m.key, m.strategy, VolumeStatus.MISMATCH, pv=m.pv_name)

    def mismatch(message: str) -> VolumeResult:
        return dataclasses.replace(base, message=message)

    def verified(message: str, snapshot_id: str = "", disk_id: str = "") -> VolumeResult:
        return dataclasses.replace(base, status=VolumeStatus.VERIFIED, message=message, snapshot_id=snapshot_id,
                                   disk_id=disk_id)

    if m.strategy is Strategy.BLOCKED:
        return dataclasses.replace(base, message=f"not moved: {m.reason}", findings=m.findings)
    claim = target.read({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "metadata": {"namespace": m.namespace, "name": m.claim}})
    if m.strategy is Strategy.NOTHING_TO_MOVE:
        return verified(m.reason + ("" if claim else " (claim not on green yet)"))
    waiting = ""
    if claim is None and not m.claim_on_source:
        # Its workload has not created the claim on either cluster yet: the PV must be in place for it.
        waiting = "; the claim is not created yet (its PV waits for it)"
    elif claim is None:
        return mismatch("the claim is not on green (run `akshift apply`)")
    else:
        phase = (claim.get("status") or {}).get("phase")
        bound = (claim.get("spec") or {}).get("volumeName")
        if phase != "Bound" or bound != m.pv_name:
            return mismatch(f"claim is {phase or 'unknown'}, bound to {bound or 'nothing'}; "
                            f"expected Bound to {m.pv_name}")
    pv = target.read({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": m.pv_name}}) or {}
    annotations = (pv.get("metadata") or {}).get("annotations") or {}
    handle = volume_handle(pv)
    if m.strategy is Strategy.SAME_SHARE:
        if handle != m.handle:
            return mismatch(f"PV {m.pv_name} mounts {handle}, not the source's share {m.handle}")
        return verified(f"carries the source's share {m.handle}{waiting}")
    rec = state.copies.get(m.key)
    if rec is None:
        return mismatch("no copy recorded for this claim (run `akshift volumes move`)")
    problems = []
    if handle != rec.disk_id:
        problems.append(f"PV {m.pv_name} mounts {handle}, not the copy {rec.disk_id}")
    if rec.source_disk_id != m.handle:
        problems.append(f"the recorded copy was taken from {rec.request.source_disk_id}, not from the "
                        f"planned source {m.handle}")
    if annotations.get(SOURCE_VOLUME_ANNOTATION) != m.handle:
        problems.append(f"PV lineage names source {annotations.get(SOURCE_VOLUME_ANNOTATION)!r}, expected {m.handle}")
    if annotations.get(SOURCE_SNAPSHOT_ANNOTATION) != rec.snapshot_id:
        problems.append(f"PV lineage names snapshot {annotations.get(SOURCE_SNAPSHOT_ANNOTATION)!r}, expected "
                        f"{rec.snapshot_id}")
    if problems:
        return mismatch("; ".join(problems))
    return verified(f"carries {rec.disk_id}, made from snapshot {rec.snapshot_id} of {m.handle}{waiting}",
                    snapshot_id=rec.snapshot_id, disk_id=rec.disk_id)


def verify_volumes(target: KubeClient, moves: Sequence[VolumeMove], state: VolumeState, *,
                   timeout: float = 60.0, poll: float = 0.5) -> list[VolumeResult]:
    """Check that every claim on the target is Bound to a volume carrying the source's data.

    Disk copies are checked by lineage: the claim is Bound to the planned PV, whose handle is the
    recorded new disk, whose annotations name the planned source disk and the recorded snapshot,
    and the recorded snapshot was taken from that source. Same shares: bound to the source's share.
    Blocked volumes are reported as not moved. Claims still binding are polled until ``timeout``.

    Returns:
        One result per planned claim (``verified`` or ``mismatch``).
    """
    deadline = time.monotonic() + timeout
    while True:
        checks = [check_claim(target, m, state) for m in moves]
        waiting = [c for c in checks if not c.ok and c.strategy is not Strategy.BLOCKED]
        if not waiting or time.monotonic() >= deadline:
            return checks
        time.sleep(poll)


__all__ = ["check_claim", "verify_volumes"]
