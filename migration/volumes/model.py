"""The records of a volume move: what is planned, what happened, and the protocol of the Azure side.

Why one module of plain frozen records and Enums: the plan (:mod:`.plan`), the
state file (:mod:`.state`), the move (:mod:`.move`), the verify
(:mod:`.verify`), the transform (through its context) and the CLI all speak
about the same few things — a claim's strategy, a writer, a disk copy, a
per-claim result — and every status is an Enum member (whose value is the
string the JSON files and reports have always carried), so no module compares
bare status strings.
"""
from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from kube.objects import ObjectRef
from migration.errors import MigrationError
from migration.findings import Finding

DISK_CSI = "disk.csi.azure.com"
FILE_CSI = "file.csi.azure.com"
IN_TREE_DISK = "kubernetes.io/azure-disk"
IN_TREE_FILE = "kubernetes.io/azure-file"

# Node and PV labels naming a zone. The Azure Disk CSI driver writes its own key on
# the PVs it provisions; older in-tree PVs carry the (deprecated) failure-domain one.
ZONE_KEYS = ("topology.disk.csi.azure.com/zone", "topology.kubernetes.io/zone",
             "failure-domain.beta.kubernetes.io/zone")
REGION_KEYS = ("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region")
# The key green PVs use: the one the CSI driver itself sets on nodes and PVs.
PV_ZONE_KEY = "topology.disk.csi.azure.com/zone"

# Annotations on a green PV recording where its data came from (read back by verify).
ANNOTATION_PREFIX = "akshift.io/"
SOURCE_VOLUME_ANNOTATION = "akshift.io/source-volume"
SOURCE_SNAPSHOT_ANNOTATION = "akshift.io/source-snapshot"
STRATEGY_ANNOTATION = "akshift.io/volume-strategy"

# Managed disk SKUs Azure can snapshot and restore with createOption Copy.
DISK_SKUS = frozenset({"Standard_LRS", "StandardSSD_LRS", "Premium_LRS", "PremiumV2_LRS", "UltraSSD_LRS",
                       "StandardSSD_ZRS", "Premium_ZRS"})
# What AKS's managed-csi class provisions when no skuName is set anywhere.
DEFAULT_DISK_SKU = "StandardSSD_LRS"

# Finding codes of the volume plan and move (stable: users filter on them).
ZONE_NOT_COVERED = "volume-zone-not-covered"
REGION_MISMATCH = "volume-region-mismatch"
UNSCALABLE_WRITER = "volume-unscalable-writer"
UNSUPPORTED_DRIVER = "volume-unsupported-driver"
PV_MISSING = "volume-pv-missing"
TARGET_UNKNOWN = "volume-target-unknown"
COPY_GROUP_UNKNOWN = "volume-copy-group-unknown"
COPY_IN_NODE_GROUP = "volume-copy-in-node-resource-group"
SKU_ASSUMED = "volume-sku-assumed"
SHARE_IN_NODE_GROUP = "volume-share-in-node-resource-group"
SHARE_SECRET_MISSING = "volume-share-secret-missing"
SHARE_NETWORK = "volume-share-network-rules"
WRITERS_RUNNING = "volume-writers-running"
RELEASED = "volume-released"


class VolumeKind(str, enum.Enum):
    DISK = "azure-disk"
    FILES = "azure-files"
    OTHER = "other"


class Strategy(str, enum.Enum):
    """What happens to one claim's data."""

    COPY_DISK = "copy-disk"              # quiesce, snapshot, new disk, static PV on green
    SAME_SHARE = "same-share"            # static PV on green pointing at the same Azure Files share
    NOTHING_TO_MOVE = "nothing-to-move"  # no data on the source (unbound or ephemeral claim)
    BLOCKED = "blocked"                  # a finding says why; the volume is left as it is


class Quiesce(str, enum.Enum):
    """How akshift stops a writer on the source; NONE: it cannot (the volume is blocked)."""

    SCALE = "scale"      # spec.replicas → 0 through the scale subresource
    SUSPEND = "suspend"  # CronJob spec.suspend → true (its running Jobs must finish)
    NONE = "none"


class VolumeStatus(enum.StrEnum):
    """What happened to one claim in a move or a verify (the ``status`` of reports and JSON)."""

    MOVED = "moved"                      # copied; green PV in place
    SHARED = "shared"                    # same share; green PV in place
    NOTHING_TO_MOVE = "nothing-to-move"  # no data to carry
    BLOCKED = "blocked"                  # a finding; left as it is
    WAITING = "waiting"                  # writers running, not quiesced
    FAILED = "failed"                    # an error; a rerun resumes
    VERIFIED = "verified"                # verify: carries the source's data
    MISMATCH = "mismatch"                # verify: it does not (yet)

    @property
    def ok(self) -> bool:
        """Whether the claim needs nothing more."""
        return self in (VolumeStatus.MOVED, VolumeStatus.SHARED, VolumeStatus.NOTHING_TO_MOVE, VolumeStatus.VERIFIED)


class WriterStatus(enum.StrEnum):
    """What happened to one writer on the source."""

    STOPPED = "stopped"
    RESTORED = "restored"
    UNCHANGED = "unchanged"
    FAILED = "failed"


@dataclasses.dataclass(frozen=True)
class Writer:
    """A workload that mounts a claim on the source.

    Attributes:
        api_version, kind, namespace, name: the workload.
        quiesce: how akshift stops it before the disk is snapshotted.
        replicas: declared replicas in the snapshot (scalable kinds), else None.
        read_only: it mounts the claim read-only (not a writer: never blocks, never stopped).
        why: for ``Quiesce.NONE``, what kind of user it is and why it cannot be stopped.
    """

    api_version: str
    kind: str
    namespace: str
    name: str
    quiesce: Quiesce
    replicas: int | None = None
    read_only: bool = False
    why: str = ""

    @property
    def key(self) -> str:
        """The workload's :attr:`kube.objects.ObjectRef.key`."""
        return ObjectRef.of(self.stub()).key

    def stub(self) -> dict[str, Any]:
        """A minimal object dict naming the workload, for :class:`kube.client.KubeClient` paths."""
        return {"apiVersion": self.api_version, "kind": self.kind,
                "metadata": {"namespace": self.namespace, "name": self.name}}

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "quiesce": self.quiesce.value}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Writer:
        return cls(**{**d, "quiesce": Quiesce(d["quiesce"])})


@dataclasses.dataclass(frozen=True)
class DiskCopy:
    """The Azure side of one disk move, exactly as the disk mover receives it.

    Attributes:
        claim: ``namespace/name`` of the claim (the key of the move everywhere).
        source_disk_id: ARM id of the source disk; only ever read.
        subscription: subscription of the snapshot and the new disk.
        resource_group: target resource group of the snapshot and the new disk (never blue's node
            resource group: AKS deletes that group, and whatever is in it, with the old cluster).
        location: Azure region (incremental snapshots and disks made from them stay in the source's).
        zone: Azure zone number of the new disk (``"2"``); None for ZRS or a regional disk.
        sku: disk SKU of the new disk (ZRS when the source was ZRS).
        size_gib: size of the source volume in GiB (informational: the copy inherits the disk's size).
        snapshot_name, disk_name: Azure names, derived from the source disk id so reruns converge.
    """

    claim: str
    source_disk_id: str
    subscription: str
    resource_group: str
    location: str
    zone: str | None
    sku: str
    size_gib: int
    snapshot_name: str
    disk_name: str

    @property
    def snapshot_id(self) -> str:
        """The ARM id the snapshot gets (ids are deterministic from subscription, group and name)."""
        return (f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
                f"/providers/Microsoft.Compute/snapshots/{self.snapshot_name}")

    @property
    def disk_id(self) -> str:
        """The ARM id the new disk gets: known from the plan, before the disk exists (the transform uses it)."""
        return (f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
                f"/providers/Microsoft.Compute/disks/{self.disk_name}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DiskCopy:
        return cls(**d)


@dataclasses.dataclass(frozen=True)
class TargetFacts:
    """What the plan needs to know about the new cluster.

    Attributes:
        region: its Azure region (``westeurope``); None when unknown.
        zones: zone labels its nodes carry (``westeurope-1``); empty when its nodes are not zonal.
        resource_group: where snapshots and new disks are created: the green stack's own disk-copy group
            (its ``diskCopyResourceGroup`` output), never the node resource group, which AKS deletes with
            the cluster (and the copies and lineage snapshots with it). None: unknown, disks are not planned.
        node_resource_group: the target's AKS node resource group, read from its Nodes (refused as
            ``resource_group``).
        subscription: the target's subscription; None when unknown (the source disk's is used).
        zone_map: source zone label → target zone label, to restore into another zone
            (``""`` keys a regional source disk).
        known: whether the facts come from the target at all (False: no target given).
    """

    region: str | None = None
    zones: frozenset[str] = frozenset()
    resource_group: str | None = None
    subscription: str | None = None
    zone_map: Mapping[str, str] = dataclasses.field(default_factory=dict)
    known: bool = True
    node_resource_group: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"region": self.region, "zones": sorted(self.zones), "resource_group": self.resource_group,
                "subscription": self.subscription, "zone_map": dict(self.zone_map), "known": self.known,
                "node_resource_group": self.node_resource_group}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TargetFacts:
        return cls(region=d.get("region"), zones=frozenset(d.get("zones") or ()),
                   resource_group=d.get("resource_group"), subscription=d.get("subscription"),
                   zone_map=dict(d.get("zone_map") or {}), known=d.get("known", True),
                   node_resource_group=d.get("node_resource_group"))

    @property
    def copies_in_node_group(self) -> bool:
        """``resource_group`` is the target's node resource group (or named like one, ``MC_…``)."""
        group = (self.resource_group or "").lower()
        return bool(group) and (group.startswith("mc_") or group == (self.node_resource_group or "").lower())


@dataclasses.dataclass(frozen=True)
class VolumeMove:
    """The plan for one PersistentVolumeClaim.

    Attributes:
        namespace, claim: the PVC.
        pv_name: the PV it is bound to on the source ("" when unbound); the green PV keeps the name.
        kind: Azure Disk, Azure Files or other.
        driver: CSI driver name or in-tree plugin name (``kubernetes.io/azure-disk``).
        handle: the source volume: disk ARM id, share handle, or what identifies other volumes.
        size: the PV's capacity as declared (``64Gi``); size_gib rounded up.
        zone: the source disk's zone label; None when regional or ZRS.
        sku: disk or share SKU (``Premium_LRS``); None when unknown.
        zone_redundant: the SKU is ZRS.
        reclaim_policy, storage_class, access_modes, volume_mode: from the source PV.
        writers: workloads mounting the claim on the source.
        strategy, reason: what will happen and why, in words for the report.
        target_zone: zone label of the green PV's node affinity (None: no zone affinity).
        copy: the Azure copy request (copy-disk only).
        findings: what needs a human; a blocker means the volume is left as it is.
        pv_spec: the source PV's spec (without its claimRef), from which the green PV is built.
        pv_labels: the source PV's labels, kept on the green PV.
        claim_on_source: False when only the PV exists, pre-bound to a claim not created yet.
    """

    namespace: str
    claim: str
    pv_name: str
    kind: VolumeKind
    driver: str
    handle: str
    size: str
    size_gib: int | None
    zone: str | None
    sku: str | None
    zone_redundant: bool
    reclaim_policy: str
    storage_class: str
    access_modes: tuple[str, ...]
    volume_mode: str
    writers: tuple[Writer, ...]
    strategy: Strategy
    reason: str
    target_zone: str | None = None
    copy: DiskCopy | None = None
    findings: tuple[Finding, ...] = ()
    pv_spec: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False)
    pv_labels: Mapping[str, str] = dataclasses.field(default_factory=dict, compare=False)
    claim_on_source: bool = True

    @property
    def key(self) -> str:
        """``namespace/claim``: the move's identity in the plan, the state file and reports."""
        return f"{self.namespace}/{self.claim}"

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef("", "PersistentVolumeClaim", self.namespace, self.claim)

    @property
    def blocked(self) -> bool:
        return self.strategy is Strategy.BLOCKED

    def stoppable_writers(self) -> tuple[Writer, ...]:
        """Writers akshift stops before the snapshot (read-only users are left running)."""
        return tuple(w for w in self.writers if not w.read_only and w.quiesce is not Quiesce.NONE)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.update(kind=self.kind.value, strategy=self.strategy.value, access_modes=list(self.access_modes),
                 writers=[w.to_dict() for w in self.writers], copy=self.copy.to_dict() if self.copy else None,
                 findings=[f.to_dict() for f in self.findings], pv_spec=dict(self.pv_spec),
                 pv_labels=dict(self.pv_labels))
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> VolumeMove:
        return cls(**{**d, "kind": VolumeKind(d["kind"]), "strategy": Strategy(d["strategy"]),
                      "access_modes": tuple(d["access_modes"]),
                      "writers": tuple(Writer.from_dict(w) for w in d["writers"]),
                      "copy": DiskCopy.from_dict(d["copy"]) if d.get("copy") else None,
                      "findings": tuple(Finding.from_dict(f) for f in d["findings"])})


# --------------------------------------------------------------------------- the Azure side


@dataclasses.dataclass(frozen=True)
class DiskCopyResult:
    """What Azure made for one copy: the snapshot and the new disk."""

    claim: str
    snapshot_id: str
    disk_id: str


class DiskMover(Protocol):
    """Snapshots source disks and creates the new disks; the Azure side of a volume move.

    Implementations (:class:`deploy.disk_mover.PulumiDiskMover` on Azure,
    :class:`sandbox.disk_mover.FakeAzureDiskMover` in the sandbox) must be idempotent: ``copy``
    receives the *complete* set of copies of the run each time (including those done before), and
    asking again for a finished copy returns the same ids without creating anything. They never
    delete or modify a source disk.
    """

    def copy(self, requests: Sequence[DiskCopy]) -> dict[str, DiskCopyResult | MigrationError]:
        """Make every requested copy; claim key → its result, or the error that stopped it."""
        ...


# --------------------------------------------------------------------------- results


@dataclasses.dataclass(frozen=True)
class VolumeResult:
    """What happened to one claim in a move or a verify (see :class:`VolumeStatus`)."""

    key: str
    strategy: Strategy
    status: VolumeStatus
    message: str = ""
    snapshot_id: str = ""
    disk_id: str = ""
    pv: str = ""
    findings: tuple[Finding, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status.ok

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "strategy": self.strategy.value, "status": self.status.value,
                "message": self.message, "snapshot_id": self.snapshot_id, "disk_id": self.disk_id, "pv": self.pv,
                "findings": [f.to_dict() for f in self.findings]}


@dataclasses.dataclass(frozen=True)
class WriterResult:
    """What happened to one writer on the source (see :class:`WriterStatus`)."""

    key: str
    status: WriterStatus
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not WriterStatus.FAILED

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "status": self.status.value, "message": self.message}


def status_counts(results: Sequence[VolumeResult]) -> dict[str, int]:
    """Status → how many claims have it, sorted by status (the ``counts`` of the reports)."""
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status.value] = counts.get(r.status.value, 0) + 1
    return dict(sorted(counts.items()))


@dataclasses.dataclass(frozen=True)
class MoveReport:
    """What one run of the move did: per claim and per writer (``volumes-move.json``)."""

    volumes: tuple[VolumeResult, ...]
    writers: tuple[WriterResult, ...]

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.volumes) and all(w.ok for w in self.writers)

    def counts(self) -> dict[str, int]:
        return status_counts(self.volumes)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "counts": self.counts(), "volumes": [v.to_dict() for v in self.volumes],
                "writers": [w.to_dict() for w in self.writers]}


@dataclasses.dataclass(frozen=True)
class VolumeVerification:
    """What ``volumes verify`` found (``volumes-verify.json``)."""

    volumes: tuple[VolumeResult, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.volumes)

    def carried_pvs(self) -> frozenset[str]:
        """Names of the green PVs verified to carry the source's data."""
        return frozenset(c.pv for c in self.volumes if c.ok and c.pv)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "volumes": [c.to_dict() for c in self.volumes]}
