"""The sandbox's stand-in for the Azure side of a volume move: copies recorded, not made.

Why here: no Azure exists on this machine, so the sandbox (and the demo, and
the tests) need a :class:`migration.volumes.model.DiskMover` that answers as
Azure would; it lives with the other stand-ins, never in the pipeline.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from migration.errors import ApplyError, MigrationError
from migration.volumes.model import DiskCopy, DiskCopyResult


class FakeAzureDiskMover:
    """The sandbox's stand-in for Azure: no Azure exists here, so copies are recorded, not made.

    It answers what :class:`deploy.disk_mover.PulumiDiskMover` answers on Azure — the ARM ids of a snapshot and a disk
    named after the request (:attr:`DiskCopy.snapshot_id`, :attr:`DiskCopy.disk_id`, derived from the
    source disk id) — so everything downstream (green PVs, binding, verify, resume) runs for real.
    The Azure resources themselves are tested only through Pulumi mocks
    (``tests/mocks/test_volume_component.py``). Never use it against a real cluster: its disks do not exist.

    Args:
        fail: claim keys whose copy fails (to test partial runs and resume).

    Attributes:
        created: ARM ids "created", in order; an idempotent rerun adds nothing.
        lineage: snapshot id → the source disk id it was taken from.
        calls: how many times :meth:`copy` ran.
    """

    def __init__(self, fail: Iterable[str] = ()) -> None:
        self.fail = set(fail)
        self.created: list[str] = []
        self.lineage: dict[str, str] = {}
        self.calls = 0

    def copy(self, requests: Sequence[DiskCopy]) -> dict[str, DiskCopyResult | MigrationError]:
        self.calls += 1
        out: dict[str, DiskCopyResult | MigrationError] = {}
        for r in requests:
            if r.claim in self.fail:
                out[r.claim] = ApplyError("the sandbox mover was told to fail this copy", ref=r.claim)
                continue
            for rid in (r.snapshot_id, r.disk_id):
                if rid not in self.created:
                    self.created.append(rid)
            self.lineage[r.snapshot_id] = r.source_disk_id
            out[r.claim] = DiskCopyResult(r.claim, r.snapshot_id, r.disk_id)
        return out
