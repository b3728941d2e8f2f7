"""``VolumeMove``: one Azure Disk carried to the new cluster — an incremental snapshot and a new disk made from it.

Why it is shaped so: a PersistentVolume's data on Azure Disk cannot follow its
claim to another cluster by itself (the disk is attached to one VM, pinned to a
zone, and lives in the old cluster's node resource group, which Azure deletes
with the cluster). The copy is declared, not scripted, so it is idempotent and
resumable like the rest of the stack: Pulumi's state knows which snapshots and
disks exist, a rerun creates nothing twice, and an interrupted run resumes.

* The **source disk is only referenced** (``creationData.sourceResourceId``):
  nothing here can modify or delete it.
* The **snapshot is incremental** (cheap, fast, and the lineage: it records
  the source disk) and lives in the *target* resource group, not the old node
  resource group that goes away with the old cluster. It is kept on delete
  (``retain_on_delete``): the evidence of where the data came from outlives
  the stack.
* The **new disk** is created from the snapshot (``Copy``) in the target
  resource group, in a zone the new node pools cover (none for ZRS, which
  attaches in every zone), with the source's SKU (ZRS stays ZRS). It inherits
  the snapshot's size. It is **protected**: a later program that stops
  declaring it fails instead of deleting a volume's data.

The migration engine decides everything (``migration.volumes``); this
component takes the decided values as plain arguments. :func:`program` is the
Automation API inline program ``deploy.disk_mover.PulumiDiskMover`` runs.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pulumi
from pulumi_azure_native import compute

from stacks.errors import ConfigError, Problem

TOKEN = "akshift:index:VolumeMove"

DISK_SKUS = frozenset(s.value for s in compute.DiskStorageAccountTypes)
# Premium SSD v2 and Ultra disks exist only as zonal disks.
ZONAL_ONLY_SKUS = frozenset({"PremiumV2_LRS", "UltraSSD_LRS"})
_DISK_ID = re.compile(r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/disks/[^/]+$",
                      re.IGNORECASE)
_AZURE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,78}[A-Za-z0-9_]$")


@dataclasses.dataclass(frozen=True)
class VolumeMoveArgs:
    """Inputs of :class:`VolumeMove`.

    Attributes:
        source_disk_id: ARM id of the source disk (only read).
        resource_group_name: target resource group of the snapshot and the new disk.
        location: Azure region; the source disk's (incremental snapshots stay in their region).
        snapshot_name, disk_name: Azure names (deterministic per source disk, so reruns converge).
        sku: SKU of the new disk (``Premium_ZRS`` when the source was ``Premium_ZRS``).
        zone: Azure zone number of the new disk (``"1"``); None for ZRS or a regional disk.
        claim: ``namespace/name`` of the claim the disk serves (tags, error keys).
        tags: further tags on both resources.
    """

    source_disk_id: pulumi.Input[str]
    resource_group_name: str
    location: str
    snapshot_name: str
    disk_name: str
    sku: str
    zone: str | None = None
    claim: str = ""
    tags: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def of(cls, copy: Any, tags: Mapping[str, str] | None = None) -> VolumeMoveArgs:
        """Arguments from a planned copy (a ``migration.volumes.DiskCopy``, read by attribute)."""
        return cls(source_disk_id=copy.source_disk_id, resource_group_name=copy.resource_group,
                   location=copy.location, snapshot_name=copy.snapshot_name, disk_name=copy.disk_name,
                   sku=copy.sku, zone=copy.zone, claim=copy.claim, tags=dict(tags or {}))


# --------------------------------------------------------------------------- pure builders


def validate(args: VolumeMoveArgs) -> None:
    """Check the arguments, reporting every problem with the key it comes from.

    Raises:
        ConfigError: naming ``volumes[<claim>].<field>``.
    """
    key = f"volumes[{args.claim or args.disk_name}]"
    problems = []
    if args.sku not in DISK_SKUS:
        problems.append(Problem((f"{key}.sku",), f"{args.sku!r} is not a managed disk SKU "
                                                   f"({', '.join(sorted(DISK_SKUS))})"))
    if args.sku.endswith("_ZRS") and args.zone:
        problems.append(Problem((f"{key}.zone", f"{key}.sku"),
                                f"a {args.sku} disk is zone-redundant and takes no zone (got {args.zone})"))
    if args.sku in ZONAL_ONLY_SKUS and not args.zone:
        problems.append(Problem((f"{key}.zone", f"{key}.sku"), f"{args.sku} disks are zonal only; give a zone"))
    if args.zone is not None and not args.zone.isdigit():
        problems.append(Problem((f"{key}.zone",), f"{args.zone!r} is not an Azure zone number such as \"1\""))
    if isinstance(args.source_disk_id, str) and not _DISK_ID.match(args.source_disk_id):
        problems.append(Problem((f"{key}.sourceDiskId",), f"{args.source_disk_id!r} is not a managed disk's ARM id"))
    for field, name in (("snapshotName", args.snapshot_name), ("diskName", args.disk_name)):
        if not _AZURE_NAME.match(name):
            problems.append(Problem((f"{key}.{field}",), f"{name!r} is not a valid disk or snapshot name "
                                                        "(2-80 letters, digits, _ . -; no trailing . or -)"))
    if not args.location or not args.resource_group_name:
        problems.append(Problem((f"{key}.location", f"{key}.resourceGroupName"), "give the region and the group"))
    if problems:
        raise ConfigError(problems)


def lineage_tags(args: VolumeMoveArgs) -> dict[str, pulumi.Input[str]]:
    """Tags recording where the data came from, on the snapshot and the disk (seen in the portal and by az)."""
    tags: dict[str, pulumi.Input[str]] = {"akshift-source-disk": args.source_disk_id}
    if args.claim:
        tags["akshift-claim"] = args.claim
    return {**tags, **dict(args.tags)}


def snapshot_inputs(args: VolumeMoveArgs) -> dict[str, Any]:
    """Inputs of the incremental snapshot of the source disk."""
    return {
        "snapshot_name": args.snapshot_name,
        "resource_group_name": args.resource_group_name,
        "location": args.location,
        "creation_data": {"create_option": compute.DiskCreateOption.COPY, "source_resource_id": args.source_disk_id},
        "incremental": True,
        # Snapshot storage: zone-redundant when the data was (the region supports ZRS then); otherwise LRS,
        # the cheapest, since the snapshot is the lineage and the copy source, not the live data.
        "sku": {"name": "Standard_ZRS" if args.sku.endswith("_ZRS") else "Standard_LRS"},
        "tags": lineage_tags(args),
    }


def disk_inputs(args: VolumeMoveArgs, snapshot_id: pulumi.Input[str]) -> dict[str, Any]:
    """Inputs of the new disk made from the snapshot.

    No ``disk_size_gb``: a disk copied from a snapshot has the source's exact size, while a size
    taken from the PV (which may lag an expansion done outside Kubernetes) could ask Azure to shrink.
    """
    inputs: dict[str, Any] = {
        "disk_name": args.disk_name,
        "resource_group_name": args.resource_group_name,
        "location": args.location,
        "creation_data": {"create_option": compute.DiskCreateOption.COPY, "source_resource_id": snapshot_id},
        "sku": {"name": args.sku},
        "tags": lineage_tags(args),
    }
    if args.zone:
        inputs["zones"] = [args.zone]
    return inputs


# --------------------------------------------------------------------------- the component


class VolumeMove(pulumi.ComponentResource):
    """An incremental snapshot of a source disk and a new disk made from it.

    Outputs:
        snapshot_id: ARM id of the snapshot (the lineage: its source is the source disk).
        disk_id: ARM id of the new disk (the green PV's ``volumeHandle``).
    """

    snapshot_id: pulumi.Output[str]
    disk_id: pulumi.Output[str]

    def __init__(self, name: str, args: VolumeMoveArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        validate(args)
        super().__init__(TOKEN, name, None, opts)
        # Kept when the stack forgets it: the snapshot proves where the new disk's data came from.
        snapshot = compute.Snapshot(f"{name}-snapshot", **snapshot_inputs(args),
                                    opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True))
        # Protected on its own (not through the component's opts): it holds the volume's data from
        # the first second on, whatever the caller passes, and Pulumi must never delete or replace it.
        disk = compute.Disk(f"{name}-disk", **disk_inputs(args, snapshot.id),
                            opts=pulumi.ResourceOptions(parent=self, protect=True))
        self.snapshot_id = snapshot.id
        self.disk_id = disk.id
        self.register_outputs({"snapshot_id": self.snapshot_id, "disk_id": self.disk_id})


def resource_name(claim: str) -> str:
    """The logical name of a claim's VolumeMove: ``<namespace>.<claim>``; it must never change.

    Namespaces are DNS labels (no dots), so the first dot separates them from the claim name.

    >>> resource_name("data/data-postgres-0")
    'data.data-postgres-0'
    """
    namespace, _, name = claim.partition("/")
    return f"{namespace}.{name}"


def program(copies: Sequence[Any]) -> Callable[[], None]:
    """The inline program declaring every copy of a run; exports ``volumes``: claim → snapshot and disk ids.

    Args:
        copies: planned copies (``migration.volumes.DiskCopy``, read by attribute), all of the run's each time.

    Returns:
        The program function for the Automation API.
    """
    def run() -> None:
        out = {}
        for c in sorted(copies, key=lambda c: c.claim):
            move = VolumeMove(resource_name(c.claim), VolumeMoveArgs.of(c))
            out[c.claim] = {"snapshotId": move.snapshot_id, "diskId": move.disk_id}
        pulumi.export("volumes", out)

    return run
