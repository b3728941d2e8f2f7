"""Executing a volume plan: stop the writers on blue, copy the disks, bind static PVs on green; undo the stop.

Why it exists: :mod:`migration.volumes` decides; this module acts, and is
shaped by what can go wrong while acting on two clusters and Azure at once:

* **The one write to the source is explicit and undoable.** Stopping a
  writer (scale to 0, suspend a CronJob) happens only when the caller asks
  (``--quiesce-source``). The previous replica count is read from the live
  object and written to ``<out>/volumes-state.json`` *before* the scale is
  sent, so a run killed between the two still knows what to restore, and a
  rerun never records the 0 it set itself. :func:`rollback` restores exactly
  those counts, and leaves alone a workload someone changed since.
* **Data is copied only from a quiet disk.** After the writers are stopped
  the source is polled until no pod mounts the claim any more; a claim still
  mounted is reported and not copied. Without ``--quiesce-source`` a disk with
  running writers is not copied at all: a crash-consistent copy of a live
  database is not "loses nothing".
* **Azure is behind a protocol.** :class:`DiskMover` gets the complete set of
  copies every time (a declarative mover would otherwise delete what it is not
  asked for again) and must be idempotent: :class:`deploy.disk_mover.PulumiDiskMover` declares
  them with the ``VolumeMove`` component through the Automation API (its
  program is injected: this package never imports components);
  :class:`FakeAzureDiskMover` is the sandbox's stand-in, because there is no
  Azure here. Source disks are only ever *read* (as a snapshot source); no
  mover and no command deletes a disk.
* **Resumable.** Every finished step (writer stopped, disk copied, PV applied)
  is recorded in the state file, written atomically (temp file + rename); a
  rerun skips what is recorded and converges on the same end state.
* **Green never sees the old disk.** The transform carries the source PVs
  (pre-bound, pointing at the old disk). :func:`retarget_transformed` replaces
  each moved PV in ``transformed/`` with its green PV (same name), so the
  ordinary ``apply`` creates the static PV before the claim and the claim
  binds to the copy — never to the old disk, and never to a freshly
  provisioned empty one. Run ``volumes move`` after ``transform`` and before
  ``apply``; a claim already bound on green to something else is reported,
  never deleted.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import orjson

from migration.applier import apply_object
from kube.errors import ApiError
from migration.errors import ApplyError, MigrationError, PlanError
from migration.findings import Finding, Severity
from kube.client import KubeClient
from kube.objects import ObjectRef
from migration.snapshot import INDEX, Snapshot, content_digest, dump_yaml
from migration.volumes import (
    SOURCE_SNAPSHOT_ANNOTATION,
    SOURCE_VOLUME_ANNOTATION,
    WRITERS_RUNNING,
    DiskCopy,
    Quiesce,
    Strategy,
    TargetFacts,
    VolumeMove,
    Writer,
    green_pv,
    volume_handle,
    volume_plan,
)

PLAN_FILE = "volumes-plan.json"
STATE_FILE = "volumes-state.json"
MOVE_REPORT = "volumes-move.json"
VERIFY_REPORT = "volumes-verify.json"
PLAN_FORMAT = "akshift.volumes-plan/v1"
STATE_FORMAT = "akshift.volumes-state/v1"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _write_atomic(path: Path, data: bytes) -> None:
    """Write a file so that readers see the old or the new content, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- plan file


def plan_from_snapshot(snapshot_dir: Path, target: TargetFacts) -> list[VolumeMove]:
    """Run :func:`migration.volumes.volume_plan` over a raw snapshot directory.

    Secrets are not decrypted: only their names matter (an Azure Files secret must travel along),
    and the index lists the paths of the Secrets the snapshot carries.

    Raises:
        InventoryError: ``snapshot_dir`` is not a snapshot.
    """
    snap = Snapshot(snapshot_dir)
    objects = (snap.read(p) for p in snap.paths(include_secrets=False))
    secret_names = [f"{p.split('/', 1)[0]}/{p.rsplit('/', 1)[-1].removesuffix('.yaml')}" for p in snap.index["secrets"]]
    return volume_plan(objects, target, secret_names=secret_names)


def write_plan(out: Path, moves: Sequence[VolumeMove], target: TargetFacts) -> Path:
    """Write ``<out>/volumes-plan.json`` (reviewed before anything moves; read by move and verify)."""
    counts: dict[str, int] = {}
    for m in moves:
        counts[m.strategy.value] = counts.get(m.strategy.value, 0) + 1
    doc = {"format": PLAN_FORMAT, "target": target.to_dict(), "counts": dict(sorted(counts.items())),
           "volumes": [m.to_dict() for m in moves]}
    _write_atomic(out / PLAN_FILE, orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    return out / PLAN_FILE


def read_plan(out: Path) -> tuple[list[VolumeMove], TargetFacts]:
    """Read ``<out>/volumes-plan.json``.

    Raises:
        PlanError: the file is missing or not a volume plan of this format.
    """
    path = out / PLAN_FILE
    try:
        doc = orjson.loads(path.read_bytes())
    except FileNotFoundError as e:
        raise PlanError(f"{path} does not exist", fix="run `akshift volumes plan --out` first") from e
    except orjson.JSONDecodeError as e:
        raise PlanError(f"{path} is not valid JSON", fix="re-run `akshift volumes plan`") from e
    if doc.get("format") != PLAN_FORMAT:
        raise PlanError(f"{path} is a {doc.get('format')!r} file, expected {PLAN_FORMAT}",
                        fix="re-run `akshift volumes plan` with this version of akshift")
    return [VolumeMove.from_dict(v) for v in doc["volumes"]], TargetFacts.from_dict(doc["target"])


# --------------------------------------------------------------------------- state


@dataclasses.dataclass
class VolumeState:
    """What a run has done so far (``<out>/volumes-state.json``); the memory of resume and rollback.

    Attributes:
        writers: workload key → ``{apiVersion, kind, namespace, name, quiesce, previous,
            quiesced_at, restored_at, note}``; ``previous`` is the live replica count (or CronJob
            ``suspend``) read before akshift changed it.
        copies: claim key → ``{request, snapshot_id, disk_id, at}``.
        pvs: PV name → ``{volume_handle, claim, applied_at}``.
        rolled_back_at: when :func:`rollback` last ran, None before.
    """

    path: Path
    writers: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    copies: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    pvs: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    rolled_back_at: str | None = None

    @classmethod
    def load(cls, path: Path) -> VolumeState:
        """Read the state file, or start an empty state when there is none.

        Raises:
            PlanError: the file exists but is not a volume state of this format.
        """
        if not path.exists():
            return cls(path)
        try:
            doc = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as e:
            raise PlanError(f"{path} is not valid JSON; it is written atomically, so it was edited by hand",
                            fix="restore it from a backup; never delete it while writers are stopped") from e
        if doc.get("format") != STATE_FORMAT:
            raise PlanError(f"{path} is a {doc.get('format')!r} file, expected {STATE_FORMAT}")
        return cls(path, doc.get("writers") or {}, doc.get("copies") or {}, doc.get("pvs") or {},
                   doc.get("rolled_back_at"))

    def save(self) -> None:
        doc = {"format": STATE_FORMAT, "writers": self.writers, "copies": self.copies, "pvs": self.pvs,
               "rolled_back_at": self.rolled_back_at}
        _write_atomic(self.path, orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))

    def quiesced(self) -> dict[str, int | bool | None]:
        """Workload key → the value to restore, for every writer akshift stopped and has not restored."""
        return {k: w["previous"] for k, w in self.writers.items() if w.get("quiesced_at") and not w.get("restored_at")}


# --------------------------------------------------------------------------- Azure side


@dataclasses.dataclass(frozen=True)
class DiskCopyResult:
    """What Azure made for one copy: the snapshot and the new disk."""

    claim: str
    snapshot_id: str
    disk_id: str


class DiskMover(Protocol):
    """Snapshots source disks and creates the new disks; the Azure side of a volume move.

    Implementations must be idempotent: ``copy`` receives the *complete* set of copies of the run
    each time (including those done before), and asking again for a finished copy returns the
    same ids without creating anything. They never delete or modify a source disk.
    """

    def copy(self, requests: Sequence[DiskCopy]) -> dict[str, DiskCopyResult | MigrationError]:
        """Make every requested copy; claim key → its result, or the error that stopped it."""
        ...


# --------------------------------------------------------------------------- results


@dataclasses.dataclass
class VolumeResult:
    """What happened to one claim in a move, a rollback or a verify.

    ``status``: ``moved`` (copied, green PV in place), ``shared`` (same share), ``nothing-to-move``,
    ``blocked`` (a finding; left as it is), ``waiting`` (writers running, not quiesced),
    ``failed`` (an error; rerun resumes), ``verified``, ``mismatch``.
    """

    key: str
    strategy: str
    status: str
    message: str = ""
    snapshot_id: str = ""
    disk_id: str = ""
    pv: str = ""
    findings: list[Finding] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in ("moved", "shared", "nothing-to-move", "verified")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["findings"] = [f.to_dict() for f in self.findings]
        return d


@dataclasses.dataclass
class WriterResult:
    """What happened to one writer on the source: ``stopped``, ``restored``, ``unchanged`` or ``failed``."""

    key: str
    status: str
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class MoveReport:
    volumes: list[VolumeResult]
    writers: list[WriterResult]
    transformed: list[str]

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.volumes) and all(w.ok for w in self.writers)

    def to_dict(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for v in self.volumes:
            counts[v.status] = counts.get(v.status, 0) + 1
        return {"ok": self.ok, "counts": dict(sorted(counts.items())), "volumes": [v.to_dict() for v in self.volumes],
                "writers": [w.to_dict() for w in self.writers], "transformed": self.transformed}


# --------------------------------------------------------------------------- source: quiesce and rollback


def quiesce(source: KubeClient, writers: Iterable[Writer], state: VolumeState) -> list[WriterResult]:
    """Stop writers on the source, recording each previous value before changing it.

    Args:
        source: the old cluster (the one deliberate write to it).
        writers: workloads to stop (scale to 0, or suspend a CronJob).
        state: the run's state; saved after every step.

    Returns:
        One result per writer; a failed one leaves its volumes uncopied.
    """
    results = []
    for w in writers:
        try:
            rec = state.writers.get(w.key)
            if rec is None or rec.get("restored_at"):
                live = source.read(w.stub())
                if live is None:
                    results.append(WriterResult(w.key, "unchanged", "gone from the source: nothing writes"))
                    continue
                spec = live.get("spec") or {}
                previous = (spec.get("replicas", 1) if w.quiesce is Quiesce.SCALE else spec.get("suspend"))
                # Recorded before the write: if we die right after scaling, the rerun must not
                # read the 0 we set and believe it was the user's count.
                rec = {"apiVersion": w.api_version, "kind": w.kind, "namespace": w.namespace, "name": w.name,
                       "quiesce": w.quiesce.value, "previous": previous, "quiesced_at": None, "restored_at": None}
                state.writers[w.key] = rec
                state.save()
            if w.quiesce is Quiesce.SCALE:
                source.patch_merge(w.stub(), {"spec": {"replicas": 0}}, subresource="scale")
                what = f"scaled to 0 (was {rec['previous']})"
            else:
                source.patch_merge(w.stub(), {"spec": {"suspend": True}})
                what = "suspended"
            if not rec.get("quiesced_at"):
                rec["quiesced_at"] = _now()
                state.save()
            results.append(WriterResult(w.key, "stopped", what))
        except ApiError as e:
            results.append(WriterResult(w.key, "failed", str(e)))
    return results


def _mounting_pods(source: KubeClient, namespace: str, claims: set[str]) -> dict[str, list[str]]:
    """claim → names of live pods that mount it writable, in one namespace."""
    out: dict[str, list[str]] = {}
    for pod in source.get(f"/api/v1/namespaces/{namespace}/pods").get("items", []):
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        for v in (pod.get("spec") or {}).get("volumes") or ():
            pvc = v.get("persistentVolumeClaim") or {}
            if pvc.get("claimName") in claims and not pvc.get("readOnly"):
                out.setdefault(pvc["claimName"], []).append(pod["metadata"]["name"])
    return out


def wait_released(source: KubeClient, moves: Sequence[VolumeMove], timeout: float,
                  poll: float = 0.5) -> dict[str, list[str]]:
    """Wait until no pod on the source mounts these claims; claim key → pods still mounting at the end."""
    by_ns: dict[str, set[str]] = {}
    for m in moves:
        by_ns.setdefault(m.namespace, set()).add(m.claim)
    deadline = time.monotonic() + timeout
    while True:
        busy = {f"{ns}/{claim}": pods for ns, claims in by_ns.items()
                for claim, pods in _mounting_pods(source, ns, claims).items()}
        if not busy or time.monotonic() >= deadline:
            return busy
        time.sleep(poll)


def rollback(source: KubeClient, state: VolumeState) -> list[WriterResult]:
    """Restart the writers akshift stopped on the source, with exactly their previous values.

    Source disks are not touched (akshift only ever read them); green's copies and PVs stay (Retain).
    A workload changed on the source since the quiesce (replicas no longer 0, no longer suspended)
    is left as it is and reported: someone else has decided for it.

    Args:
        source: the old cluster.
        state: the run's state; saved after every writer.

    Returns:
        One result per recorded writer.
    """
    results = []
    for key, rec in sorted(state.writers.items()):
        if rec.get("restored_at"):
            results.append(WriterResult(key, "unchanged", f"already restored at {rec['restored_at']}"))
            continue
        stub = {"apiVersion": rec["apiVersion"], "kind": rec["kind"],
                "metadata": {"namespace": rec["namespace"], "name": rec["name"]}}
        try:
            live = source.read(stub)
            if live is None:
                results.append(WriterResult(key, "failed", "gone from the source; nothing to restore"))
                continue
            spec = live.get("spec") or {}
            if rec["quiesce"] == Quiesce.SCALE.value:
                current = spec.get("replicas", 1)
                if current not in (0, rec["previous"]):
                    rec["restored_at"] = _now()
                    rec["note"] = f"left at {current}: changed on the source since the quiesce"
                    state.save()
                    results.append(WriterResult(key, "unchanged", rec["note"]))
                    continue
                source.patch_merge(stub, {"spec": {"replicas": rec["previous"]}}, subresource="scale")
                message = f"scaled back to {rec['previous']}"
            else:
                if spec.get("suspend") is not True and rec["previous"] is not True:
                    message = "already resumed"
                else:
                    # A JSON merge patch with null removes the field: the CronJob is as it was.
                    source.patch_merge(stub, {"spec": {"suspend": rec["previous"]}})
                    message = f"suspend restored to {rec['previous']}"
            rec["restored_at"] = _now()
            state.save()
            results.append(WriterResult(key, "restored", message))
        except ApiError as e:
            results.append(WriterResult(key, "failed", str(e)))
    state.rolled_back_at = _now()
    state.save()
    return results


# --------------------------------------------------------------------------- target: green PVs


def _apply_green_pv(target: KubeClient, move: VolumeMove, pv: dict[str, Any]) -> str | None:
    """Apply one green PV; an error message, or None when it is in place."""
    live = target.read(pv)
    if live is not None and volume_handle(live) != volume_handle(pv):
        return (f"green already holds PersistentVolume {move.pv_name} pointing at {volume_handle(live)} (applied "
                "by `akshift apply` before the volume move?); akshift deletes nothing: delete that PV and claim "
                f"{move.key} on green, then re-run `akshift volumes move`")
    claim = target.read({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "metadata": {"namespace": move.namespace, "name": move.claim}})
    bound_to = ((claim or {}).get("spec") or {}).get("volumeName")
    if bound_to and bound_to != move.pv_name:
        return (f"claim {move.key} on green is already bound to {bound_to}, not to the copy; akshift deletes "
                f"nothing: move the data off {bound_to} or delete the claim on green, then re-run")
    outcome = apply_object(target, pv)
    return None if outcome.ok else f"{outcome.action}: {outcome.message}"


# --------------------------------------------------------------------------- transformed/


def retarget_transformed(transformed_dir: Path, pvs: Iterable[Mapping[str, Any]],
                         restore: Mapping[str, int | bool | None] | None = None) -> list[str]:
    """Replace moved PVs in a transformed snapshot with their green PVs (and restore stopped replicas).

    The transform keeps every source PV, pre-bound to its claim and pointing at the *old* disk;
    applied to green it would bind the claim to a disk green must not attach. Each PV present in
    ``transformed/`` is rewritten in place with its green PV (same path, same name), and the index's
    hash and digest are updated, so ``apply`` creates the copy's PV and ``verify`` compares against it.
    A workload whose transformed ``replicas`` is 0 (or a CronJob suspended) because the inventory ran
    after the quiesce gets its recorded value back, so it comes up on green as it ran on blue.

    Args:
        transformed_dir: the ``transformed/`` snapshot.
        pvs: green PVs to put in place of the source PVs of the same name.
        restore: workload key (``apps/StatefulSet/ns/name``) → its value before the quiesce
            (replicas; a CronJob's ``suspend``), as :meth:`VolumeState.quiesced` gives it.

    Returns:
        The snapshot paths rewritten (empty on a rerun: same content).
    """
    index_path = transformed_dir / INDEX
    index = orjson.loads(index_path.read_bytes())
    changed: list[str] = []

    def put(path: str, obj: Mapping[str, Any]) -> None:
        content = dump_yaml(obj)
        sha = hashlib.sha256(content).hexdigest()
        if index["objects"].get(path) != sha:
            _write_atomic(transformed_dir / path, content)
            index["objects"][path] = sha
            changed.append(path)

    for pv in pvs:
        path = ObjectRef.of(pv).path
        if path in index["objects"]:
            put(path, pv)
    for key, previous in (restore or {}).items():
        group, kind, ns, name = key.split("/", 3)
        stub = {"apiVersion": "v1" if group == "core" else f"{group}/v1", "kind": kind,
                "metadata": {"namespace": ns, "name": name}}
        path = ObjectRef.of(stub).path
        if path not in index["objects"]:
            continue
        obj = Snapshot(transformed_dir).read(path)
        spec = obj.setdefault("spec", {})
        if kind == "CronJob" and spec.get("suspend") is True and previous is not True:
            if previous is None:
                del spec["suspend"]
            else:
                spec["suspend"] = previous
            put(path, obj)
        elif kind != "CronJob" and spec.get("replicas") == 0 and isinstance(previous, int) and previous > 0:
            spec["replicas"] = previous
            put(path, obj)
    if changed:
        # The same digest SnapshotWriter computes, so Snapshot.verify() still holds.
        index["digest"] = content_digest(index["objects"], list(index["secrets"]) + list(index["secrets_excluded"]))
        _write_atomic(index_path, orjson.dumps(index, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n")
    return changed


# --------------------------------------------------------------------------- move


def move_volumes(source: KubeClient, target: KubeClient, moves: Sequence[VolumeMove], state: VolumeState,
                 mover: DiskMover, *, quiesce_source: bool = False, release_timeout: float = 120.0,
                 transformed_dir: Path | None = None) -> MoveReport:
    """Carry every planned volume to the target; resumable, and safe to run again.

    Steps: stop the writers of disks not copied yet (only with ``quiesce_source``), wait until
    their claims are released on the source, copy the disks (:class:`DiskMover`), apply the green
    PVs (disk copies and same shares), and retarget ``transformed/`` when given.

    Args:
        source: the old cluster (read, and written only to stop writers when ``quiesce_source``).
        target: the new cluster.
        moves: the plan (:func:`read_plan`).
        state: the run's state (:meth:`VolumeState.load`).
        mover: the Azure side.
        quiesce_source: allow stopping writers on the source (the one deliberate write to it).
        release_timeout: seconds to wait for the source's pods to let go of a claim.
        transformed_dir: the run's ``transformed/`` to retarget, None to leave it.

    Returns:
        Per-claim and per-writer results; ``ok`` only when every volume is carried.

    Raises:
        PlanError: this run was rolled back (its copies are stale).
    """
    if state.rolled_back_at:
        raise PlanError(f"this run was rolled back at {state.rolled_back_at}: its copies are older than what blue "
                        "has written since", fix="start a new run directory (--out) for a new move; delete the "
                        "stale PVs and claims on green first (akshift deletes nothing)")
    results: dict[str, VolumeResult] = {}
    writer_results: list[WriterResult] = []
    disks: list[VolumeMove] = []
    for m in moves:
        if m.strategy is Strategy.BLOCKED:
            results[m.key] = VolumeResult(m.key, m.strategy.value, "blocked", m.reason, findings=list(m.findings))
        elif m.strategy is Strategy.NOTHING_TO_MOVE:
            results[m.key] = VolumeResult(m.key, m.strategy.value, "nothing-to-move", m.reason)
        elif m.strategy is Strategy.COPY_DISK:
            disks.append(m)

    pending = [m for m in disks if m.key not in state.copies]
    stopped = state.quiesced()
    if not quiesce_source:
        # Writers a previous run stopped (and recorded) are still stopped: their disks may go on.
        for m in [m for m in pending if any(w.key not in stopped for w in m.stoppable_writers())]:
            names = ", ".join(f"{w.kind} {w.name}" for w in m.stoppable_writers() if w.key not in stopped)
            finding = Finding(WRITERS_RUNNING, Severity.BLOCKER, m.ref,
                              f"its writers ({names}) run on the source; a copy of a disk being written is not "
                              "consistent, so it was not copied",
                              "re-run with --quiesce-source to stop them (recorded in volumes-state.json and "
                              "undone by `akshift volumes rollback`), or stop them yourself")
            results[m.key] = VolumeResult(m.key, m.strategy.value, "waiting", finding.message, findings=[finding])
            pending.remove(m)
    else:
        writers = {w.key: w for m in pending for w in m.stoppable_writers()}
        writer_results = quiesce(source, [writers[k] for k in sorted(writers)], state)
        failed = {r.key: r.message for r in writer_results if not r.ok}
        for m in list(pending):
            bad = [failed[w.key] for w in m.stoppable_writers() if w.key in failed]
            if bad:
                results[m.key] = VolumeResult(m.key, m.strategy.value, "failed",
                                              "writer not stopped: " + "; ".join(bad))
                pending.remove(m)

    if pending:
        busy = wait_released(source, pending, release_timeout)
        for m in list(pending):
            if m.key in busy:
                results[m.key] = VolumeResult(m.key, m.strategy.value, "failed",
                                              f"still mounted on the source by pod {', '.join(busy[m.key])} after "
                                              f"{release_timeout:.0f}s; not copied (re-run once it is gone)")
                pending.remove(m)

    # Everything copied before (even if no longer planned) plus what is ready now: a declarative
    # mover must be asked for all of it, or it would drop what it was not asked for again.
    requests = {k: DiskCopy.from_dict(c["request"]) for k, c in state.copies.items()}
    requests.update({m.key: m.copy for m in pending if m.copy is not None})
    if requests:
        made = mover.copy([requests[k] for k in sorted(requests)])
        for key, res in made.items():
            if isinstance(res, DiskCopyResult):
                if key not in state.copies or state.copies[key]["disk_id"] != res.disk_id:
                    state.copies[key] = {"request": requests[key].to_dict(), "snapshot_id": res.snapshot_id,
                                         "disk_id": res.disk_id, "source_disk_id": requests[key].source_disk_id,
                                         "at": _now()}
                    state.save()
            elif key not in state.copies:
                results[key] = VolumeResult(key, Strategy.COPY_DISK.value, "failed", str(res))

    green: list[dict[str, Any]] = []
    for m in moves:
        if m.key in results:
            continue
        if m.strategy is Strategy.COPY_DISK:
            rec = state.copies.get(m.key)
            if rec is None:
                results[m.key] = VolumeResult(m.key, m.strategy.value, "failed", "the disk mover returned nothing")
                continue
            if m.copy is not None and rec["request"] != m.copy.to_dict():
                # The copy exists as first planned; a PV built from the new plan would name another zone.
                results[m.key] = VolumeResult(m.key, m.strategy.value, "failed",
                                              f"the plan changed after this disk was copied ({rec['disk_id']} was made "
                                              f"for zone {rec['request']['zone']}, SKU {rec['request']['sku']}); the "
                                              "copy stands: restore the earlier plan, or start a new run (--out)")
                continue
            pv = green_pv(m, rec["disk_id"], rec["snapshot_id"])
        elif m.strategy is Strategy.SAME_SHARE:
            rec = {}
            pv = green_pv(m)
        else:
            continue
        try:
            error = _apply_green_pv(target, m, pv)
        except ApiError as e:
            error = str(e)
        if error:
            results[m.key] = VolumeResult(m.key, m.strategy.value, "failed", error, pv=m.pv_name)
            continue
        state.pvs[m.pv_name] = {"volume_handle": volume_handle(pv), "claim": m.key, "applied_at": _now()}
        state.save()
        green.append(pv)
        status = "moved" if m.strategy is Strategy.COPY_DISK else "shared"
        results[m.key] = VolumeResult(m.key, m.strategy.value, status, m.reason, rec.get("snapshot_id", ""),
                                      rec.get("disk_id", ""), m.pv_name, list(m.findings))

    transformed: list[str] = []
    if transformed_dir is not None and transformed_dir.exists():
        transformed = retarget_transformed(transformed_dir, green, state.quiesced())
    ordered = [results[m.key] for m in moves if m.key in results]
    ordered += [r for k, r in sorted(results.items()) if k not in {m.key for m in moves}]
    return MoveReport(ordered, writer_results, transformed)


# --------------------------------------------------------------------------- verify


def _check(target: KubeClient, m: VolumeMove, state: VolumeState) -> VolumeResult:
    base = VolumeResult(m.key, m.strategy.value, "mismatch", pv=m.pv_name)
    if m.strategy is Strategy.BLOCKED:
        base.message = f"not moved: {m.reason}"
        base.findings = list(m.findings)
        return base
    claim = target.read({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "metadata": {"namespace": m.namespace, "name": m.claim}})
    if m.strategy is Strategy.NOTHING_TO_MOVE:
        base.status, base.message = "verified", m.reason + ("" if claim else " (claim not on green yet)")
        return base
    waiting = ""
    if claim is None and not m.claim_on_source:
        # Its workload has not created the claim on either cluster yet: the PV must be in place for it.
        waiting = "; the claim is not created yet (its PV waits for it)"
    elif claim is None:
        base.message = "the claim is not on green (run `akshift apply`)"
        return base
    else:
        phase = (claim.get("status") or {}).get("phase")
        bound = (claim.get("spec") or {}).get("volumeName")
        if phase != "Bound" or bound != m.pv_name:
            base.message = (f"claim is {phase or 'unknown'}, bound to {bound or 'nothing'}; "
                            f"expected Bound to {m.pv_name}")
            return base
    pv = target.read({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": m.pv_name}}) or {}
    annotations = (pv.get("metadata") or {}).get("annotations") or {}
    handle = volume_handle(pv)
    if m.strategy is Strategy.SAME_SHARE:
        if handle != m.handle:
            base.message = f"PV {m.pv_name} mounts {handle}, not the source's share {m.handle}"
            return base
        base.status, base.message = "verified", f"carries the source's share {m.handle}{waiting}"
        return base
    rec = state.copies.get(m.key)
    if rec is None:
        base.message = "no copy recorded for this claim (run `akshift volumes move`)"
        return base
    problems = []
    if handle != rec["disk_id"]:
        problems.append(f"PV {m.pv_name} mounts {handle}, not the copy {rec['disk_id']}")
    if rec.get("source_disk_id", rec["request"]["source_disk_id"]) != m.handle:
        problems.append(f"the recorded copy was taken from {rec['request']['source_disk_id']}, not from the "
                        f"planned source {m.handle}")
    if annotations.get(SOURCE_VOLUME_ANNOTATION) != m.handle:
        problems.append(f"PV lineage names source {annotations.get(SOURCE_VOLUME_ANNOTATION)!r}, expected {m.handle}")
    if annotations.get(SOURCE_SNAPSHOT_ANNOTATION) != rec["snapshot_id"]:
        problems.append(f"PV lineage names snapshot {annotations.get(SOURCE_SNAPSHOT_ANNOTATION)!r}, expected "
                        f"{rec['snapshot_id']}")
    if problems:
        base.message = "; ".join(problems)
        return base
    base.status = "verified"
    base.snapshot_id, base.disk_id = rec["snapshot_id"], rec["disk_id"]
    base.message = f"carries {rec['disk_id']}, made from snapshot {rec['snapshot_id']} of {m.handle}{waiting}"
    return base


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
        checks = [_check(target, m, state) for m in moves]
        waiting = [c for c in checks if not c.ok and c.strategy != Strategy.BLOCKED.value]
        if not waiting or time.monotonic() >= deadline:
            return checks
        time.sleep(poll)


__all__ = ["MOVE_REPORT", "PLAN_FILE", "STATE_FILE", "VERIFY_REPORT", "DiskCopyResult", "DiskMover",
           "MoveReport", "VolumeResult", "VolumeState", "WriterResult",
           "move_volumes", "plan_from_snapshot", "quiesce", "read_plan", "retarget_transformed", "rollback",
           "verify_volumes", "wait_released", "write_plan"]
