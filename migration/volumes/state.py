"""What a volume move has done so far (``<out>/volumes-state.json``): typed records, written crash-safe.

Why it exists: a move acts on two clusters and Azure, and may be killed at any
instant; the state file is the memory of resume and rollback. Shaped like the
cutover's (:mod:`cutover.engine` + :mod:`cutover.store`): :class:`VolumeState`
is an immutable value whose transitions (``with_…``) return a new state, and
:class:`VolumeStore` replaces the file atomically (temp file, fsync, rename),
so readers see the old state or the new one, never a torn one. The runner
(:mod:`migration.volumes.move`) saves after every transition.

The JSON format is unchanged from earlier releases (``akshift.volumes-state/v1``):
``writers`` (workload key → ``{apiVersion, kind, namespace, name, quiesce, previous,
quiesced_at, restored_at[, note]}``), ``copies`` (claim → ``{request, snapshot_id,
disk_id, source_disk_id, at}``), ``pvs`` (PV name → ``{volume_handle, claim,
applied_at}``) and ``rolled_back_at``.
"""
from __future__ import annotations

import dataclasses
import time
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from kube.objects import ObjectRef
from migration.errors import PlanError
from migration.tempfiles import write_atomic
from migration.volumes.model import DiskCopy, Quiesce

STATE_FILE = "volumes-state.json"
STATE_FORMAT = "akshift.volumes-state/v1"


def now() -> str:
    """The time stamp the state records (UTC, seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclasses.dataclass(frozen=True)
class WriterRecord:
    """A writer akshift stopped (or is about to stop) on the source.

    Attributes:
        api_version, kind, namespace, name: the workload.
        quiesce: how it is stopped.
        previous: the live replica count (or a CronJob's ``suspend``) read *before* akshift changed it.
        quiesced_at: when the stop was sent; None while only recorded (the run died before the write).
        restored_at: when a rollback restored (or deliberately left) it.
        note: why a rollback left it as it is.
    """

    api_version: str
    kind: str
    namespace: str
    name: str
    quiesce: Quiesce
    previous: int | bool | None
    quiesced_at: str | None = None
    restored_at: str | None = None
    note: str = ""

    def stub(self) -> dict[str, Any]:
        """A minimal object dict naming the workload."""
        return {"apiVersion": self.api_version, "kind": self.kind,
                "metadata": {"namespace": self.namespace, "name": self.name}}

    @property
    def key(self) -> str:
        return ObjectRef.of(self.stub()).key

    @property
    def stopped(self) -> bool:
        """Stopped by akshift and not restored since."""
        return bool(self.quiesced_at) and not self.restored_at

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"apiVersion": self.api_version, "kind": self.kind, "namespace": self.namespace,
                             "name": self.name, "quiesce": self.quiesce.value, "previous": self.previous,
                             "quiesced_at": self.quiesced_at, "restored_at": self.restored_at}
        if self.note:
            d["note"] = self.note
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> WriterRecord:
        return cls(d["apiVersion"], d["kind"], d["namespace"], d["name"], Quiesce(d["quiesce"]), d.get("previous"),
                   d.get("quiesced_at"), d.get("restored_at"), d.get("note") or "")


@dataclasses.dataclass(frozen=True)
class CopyRecord:
    """A disk copy Azure made: the request as planned, and the ids of the snapshot and the new disk."""

    request: DiskCopy
    snapshot_id: str
    disk_id: str
    source_disk_id: str
    at: str

    def to_dict(self) -> dict[str, Any]:
        return {"request": self.request.to_dict(), "snapshot_id": self.snapshot_id, "disk_id": self.disk_id,
                "source_disk_id": self.source_disk_id, "at": self.at}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CopyRecord:
        request = DiskCopy.from_dict(d["request"])
        return cls(request, d["snapshot_id"], d["disk_id"], d.get("source_disk_id") or request.source_disk_id,
                   d.get("at") or "")


@dataclasses.dataclass(frozen=True)
class PvRecord:
    """A green PV the move applied."""

    volume_handle: str
    claim: str
    applied_at: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PvRecord:
        return cls(d["volume_handle"], d["claim"], d.get("applied_at") or "")


def _frozen(d: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return types.MappingProxyType(dict(d or {}))


@dataclasses.dataclass(frozen=True)
class VolumeState:
    """Everything a run has done: writers stopped, disks copied, PVs applied; immutable.

    Attributes:
        writers: workload key → its record.
        copies: claim key → the copy made for it.
        pvs: PV name → the green PV applied.
        rolled_back_at: when ``volumes rollback`` last ran, None before.
    """

    writers: Mapping[str, WriterRecord] = dataclasses.field(default_factory=dict)
    copies: Mapping[str, CopyRecord] = dataclasses.field(default_factory=dict)
    pvs: Mapping[str, PvRecord] = dataclasses.field(default_factory=dict)
    rolled_back_at: str | None = None

    def __post_init__(self) -> None:
        for name in ("writers", "copies", "pvs"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    def quiesced(self) -> dict[str, int | bool | None]:
        """Workload key → the value to restore, for every writer akshift stopped and has not restored."""
        return {k: w.previous for k, w in self.writers.items() if w.stopped}

    def with_writer(self, rec: WriterRecord) -> VolumeState:
        return dataclasses.replace(self, writers={**self.writers, rec.key: rec})

    def with_copy(self, claim: str, rec: CopyRecord) -> VolumeState:
        return dataclasses.replace(self, copies={**self.copies, claim: rec})

    def with_pv(self, name: str, rec: PvRecord) -> VolumeState:
        return dataclasses.replace(self, pvs={**self.pvs, name: rec})

    def rolled_back(self, at: str) -> VolumeState:
        return dataclasses.replace(self, rolled_back_at=at)

    def to_dict(self) -> dict[str, Any]:
        return {"format": STATE_FORMAT, "writers": {k: w.to_dict() for k, w in self.writers.items()},
                "copies": {k: c.to_dict() for k, c in self.copies.items()},
                "pvs": {k: p.to_dict() for k, p in self.pvs.items()}, "rolled_back_at": self.rolled_back_at}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> VolumeState:
        return cls({k: WriterRecord.from_dict(w) for k, w in (d.get("writers") or {}).items()},
                   {k: CopyRecord.from_dict(c) for k, c in (d.get("copies") or {}).items()},
                   {k: PvRecord.from_dict(p) for k, p in (d.get("pvs") or {}).items()}, d.get("rolled_back_at"))


class VolumeStore:
    """The state file of one run directory; the runner saves through it after every transition.

    Args:
        path: ``<out>/volumes-state.json``.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> VolumeState:
        """Read the state file, or an empty state when there is none.

        Raises:
            PlanError: the file exists but is not a volume state of this format.
        """
        if not self.path.exists():
            return VolumeState()
        try:
            doc = orjson.loads(self.path.read_bytes())
        except orjson.JSONDecodeError as e:
            raise PlanError(f"{self.path} is not valid JSON; it is written atomically, so it was edited by hand",
                            fix="restore it from a backup; never delete it while writers are stopped") from e
        except OSError as e:
            raise PlanError(f"cannot read {self.path} ({e.strerror or e})") from e
        if not isinstance(doc, dict):
            raise PlanError(f"{self.path}: expected a JSON object, found {type(doc).__name__}",
                            fix="restore it from a backup; never delete it while writers are stopped")
        if doc.get("format") != STATE_FORMAT:
            raise PlanError(f"{self.path} is a {doc.get('format')!r} file, expected {STATE_FORMAT}")
        try:
            return VolumeState.from_dict(doc)
        except (AttributeError, KeyError, TypeError, ValueError) as e:
            raise PlanError(f"{self.path} is incomplete or malformed ({e.__class__.__name__}: {e})",
                            fix="restore it from a backup; never delete it while writers are stopped") from e

    def save(self, state: VolumeState) -> VolumeState:
        """Replace the file atomically with ``state``; returns ``state`` (for ``state = store.save(…)``)."""
        write_atomic(self.path, orjson.dumps(state.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        return state


__all__ = ["STATE_FILE", "CopyRecord", "PvRecord", "VolumeState", "VolumeStore", "WriterRecord", "now"]
