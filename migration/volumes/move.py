"""Executing a volume plan: stop the writers on blue, copy the disks, bind static PVs on green; undo the stop.

Shaped like the cutover (:mod:`cutover.engine` + :mod:`cutover.runner`): the
first half of this module *decides* — pure functions of the plan, the state
and what the clusters answered (``decide``, ``after_stop``, ``after_release``,
``record_copy``, ``green_pv_of``, ``stop_record``, ``restore_step``) — and the
second half *acts* in a thin runner (:func:`move_volumes`, :func:`quiesce`,
:func:`rollback`) that saves the state after every transition. What can go
wrong while acting on two clusters and Azure at once shapes the decisions:

* **The one write to the source is explicit and undoable.** Stopping a
  writer (scale to 0, suspend a CronJob) happens only when the caller asks
  (``--quiesce-source``). The previous replica count is read from the live
  object and saved to ``<out>/volumes-state.json`` *before* the scale is sent,
  so a run killed between the two still knows what to restore, and a rerun
  never records the 0 it set itself. :func:`rollback` restores exactly those
  counts, and leaves alone a workload someone changed since.
* **Data is copied only from a quiet disk.** After the writers are stopped
  the source is polled until no pod mounts the claim any more; a claim still
  mounted is reported and not copied. Without ``--quiesce-source`` a disk with
  running writers is not copied at all: a crash-consistent copy of a live
  database is not "loses nothing".
* **Azure is behind a protocol** (:class:`~migration.volumes.model.DiskMover`),
  asked for the complete set of copies every time (a declarative mover would
  otherwise delete what it is not asked for again). A copy must land under the
  ids the plan named (:attr:`DiskCopy.disk_id`): the transform has already
  pointed the green PV at them. Source disks are only ever *read*; no mover and
  no command deletes a disk.
* **Resumable.** Every finished step (writer stopped, disk copied, PV applied)
  is saved; a rerun skips what is recorded and converges on the same end state.
* **Green never sees the old disk.** The transform, fed the plan, writes each
  carried PV as its green PV (:func:`migration.volumes.plan.planned_pvs`); the
  move applies the same PV, so the claim binds to the copy whichever comes
  first — never to the old disk, and never to a freshly provisioned empty one.
  A claim already bound on green to something else is reported, never deleted.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kube.client import KubeClient
from kube.errors import ApiError
from migration.applier import apply_object
from migration.errors import MigrationError, PlanError
from migration.findings import Finding, Severity
from migration.volumes.model import (
    WRITERS_RUNNING,
    DiskCopy,
    DiskCopyResult,
    DiskMover,
    MoveReport,
    Quiesce,
    Strategy,
    VolumeMove,
    VolumeResult,
    VolumeStatus,
    Writer,
    WriterResult,
    WriterStatus,
)
from migration.volumes.plan import green_pv, volume_handle
from migration.volumes.state import CopyRecord, PvRecord, VolumeState, VolumeStore, WriterRecord, now

# --------------------------------------------------------------------------- decisions (pure)


@dataclasses.dataclass(frozen=True)
class Decision:
    """Where a move stands before Azure is asked: what is settled, what to stop, what to copy.

    Attributes:
        results: claim key → its result, for claims settled without acting (blocked, nothing to move,
            waiting for their writers) or stopped on the way (a writer not stopped, a claim still mounted).
        stop: writers to stop on the source before copying (only with ``quiesce_source``), sorted by key.
        pending: disk moves to copy once their writers are stopped and their claims released.
    """

    results: Mapping[str, VolumeResult]
    stop: tuple[Writer, ...]
    pending: tuple[VolumeMove, ...]


def decide(moves: Sequence[VolumeMove], state: VolumeState, *, quiesce_source: bool) -> Decision:
    """The first decision of a move: settle what needs no action, and say which writers to stop.

    Args:
        moves: the plan.
        state: what earlier runs did.
        quiesce_source: whether the caller allows stopping writers on the source.

    Returns:
        The decision.

    Raises:
        PlanError: this run was rolled back (its copies are older than what blue has written since).
    """
    if state.rolled_back_at:
        raise PlanError(f"this run was rolled back at {state.rolled_back_at}: its copies are older than what blue "
                        "has written since", fix="start a new run directory (--out) for a new move; delete the "
                        "stale PVs and claims on green first (akshift deletes nothing)")
    results: dict[str, VolumeResult] = {}
    disks: list[VolumeMove] = []
    for m in moves:
        if m.strategy is Strategy.BLOCKED:
            results[m.key] = VolumeResult(m.key, m.strategy, VolumeStatus.BLOCKED, m.reason, findings=m.findings)
        elif m.strategy is Strategy.NOTHING_TO_MOVE:
            results[m.key] = VolumeResult(m.key, m.strategy, VolumeStatus.NOTHING_TO_MOVE, m.reason)
        elif m.strategy is Strategy.COPY_DISK:
            disks.append(m)
    pending = [m for m in disks if m.key not in state.copies]
    if quiesce_source:
        writers = {w.key: w for m in pending for w in m.stoppable_writers()}
        return Decision(results, tuple(writers[k] for k in sorted(writers)), tuple(pending))
    # Writers a previous run stopped (and recorded) are still stopped: their disks may go on.
    stopped = state.quiesced()
    ready = []
    for m in pending:
        running = [w for w in m.stoppable_writers() if w.key not in stopped]
        if not running:
            ready.append(m)
            continue
        names = ", ".join(f"{w.kind} {w.name}" for w in running)
        finding = Finding(WRITERS_RUNNING, Severity.BLOCKER, m.ref,
                          f"its writers ({names}) run on the source; a copy of a disk being written is not "
                          "consistent, so it was not copied",
                          "re-run with --quiesce-source to stop them (recorded in volumes-state.json and "
                          "undone by `akshift volumes rollback`), or stop them yourself")
        results[m.key] = VolumeResult(m.key, m.strategy, VolumeStatus.WAITING, finding.message, findings=(finding,))
    return Decision(results, (), tuple(ready))


def after_stop(decision: Decision, stopped: Iterable[WriterResult]) -> Decision:
    """Drop the disks whose writers could not be stopped (they are not copied: they may still be written)."""
    failed = {r.key: r.message for r in stopped if not r.ok}
    results = dict(decision.results)
    pending = []
    for m in decision.pending:
        bad = [failed[w.key] for w in m.stoppable_writers() if w.key in failed]
        if bad:
            results[m.key] = VolumeResult(m.key, m.strategy, VolumeStatus.FAILED,
                                          "writer not stopped: " + "; ".join(bad))
        else:
            pending.append(m)
    return Decision(results, (), tuple(pending))


def after_release(decision: Decision, busy: Mapping[str, Sequence[str]], timeout: float) -> Decision:
    """Drop the disks still mounted on the source after the wait (``busy``: claim key → pods)."""
    results = dict(decision.results)
    pending = []
    for m in decision.pending:
        if m.key in busy:
            results[m.key] = VolumeResult(m.key, m.strategy, VolumeStatus.FAILED,
                                          f"still mounted on the source by pod {', '.join(busy[m.key])} after "
                                          f"{timeout:.0f}s; not copied (re-run once it is gone)")
        else:
            pending.append(m)
    return Decision(results, decision.stop, tuple(pending))


def copy_requests(decision: Decision, state: VolumeState) -> dict[str, DiskCopy]:
    """Everything copied before (even if no longer planned) plus what is ready now, by claim.

    A declarative mover must be asked for all of it, or it would drop what it was not asked for again.
    """
    requests = {k: c.request for k, c in state.copies.items()}
    requests.update({m.key: m.copy for m in decision.pending if m.copy is not None})
    return requests


def _same_id(a: str, b: str) -> bool:
    return a.lower() == b.lower()  # ARM ids are case-insensitive; Azure may answer in another case


def record_copy(state: VolumeState, key: str, request: DiskCopy, made: DiskCopyResult | MigrationError,
                at: str) -> tuple[VolumeState, VolumeResult | None]:
    """What the mover's answer for one claim changes: a new copy record, or a failed result.

    A copy counts only under the ids the plan named (:attr:`DiskCopy.disk_id`,
    :attr:`DiskCopy.snapshot_id`), which the transform already wrote into the green PV; it is
    recorded with those ids, so the PV, the state and verify agree to the character.

    Returns:
        The new state (``state`` itself when nothing changed) and, on failure, the claim's result.
    """
    if isinstance(made, DiskCopyResult):
        if not (_same_id(made.disk_id, request.disk_id) and _same_id(made.snapshot_id, request.snapshot_id)):
            return state, VolumeResult(key, Strategy.COPY_DISK, VolumeStatus.FAILED,
                                       f"the disk mover made {made.disk_id} from {made.snapshot_id}, not the planned "
                                       f"{request.disk_id} from {request.snapshot_id}; the green PV names the "
                                       "planned disk")
        old = state.copies.get(key)
        if old is not None and old.disk_id == request.disk_id and old.request == request:
            return state, None
        return state.with_copy(key, CopyRecord(request, request.snapshot_id, request.disk_id,
                                               request.source_disk_id, at)), None
    if key in state.copies:
        return state, None  # copied by an earlier run; this answer changes nothing
    return state, VolumeResult(key, Strategy.COPY_DISK, VolumeStatus.FAILED, str(made))


def green_pv_of(move: VolumeMove, state: VolumeState) -> dict[str, Any] | VolumeResult:
    """The green PV to apply for a carried claim, or the failed result saying why there is none."""
    if move.strategy is Strategy.SAME_SHARE:
        return green_pv(move)
    rec = state.copies.get(move.key)
    if rec is None:
        return VolumeResult(move.key, move.strategy, VolumeStatus.FAILED, "the disk mover returned nothing")
    if move.copy is not None and rec.request != move.copy:
        # The copy exists as first planned; a PV built from the new plan would name another zone.
        return VolumeResult(move.key, move.strategy, VolumeStatus.FAILED,
                            f"the plan changed after this disk was copied ({rec.disk_id} was made "
                            f"for zone {rec.request.zone}, SKU {rec.request.sku}); the "
                            "copy stands: restore the earlier plan, or start a new run (--out)")
    return green_pv(move, rec.disk_id, rec.snapshot_id)


def carried(move: VolumeMove, state: VolumeState) -> VolumeResult:
    """The result of a claim whose green PV is in place."""
    rec = state.copies.get(move.key) if move.strategy is Strategy.COPY_DISK else None
    status = VolumeStatus.MOVED if move.strategy is Strategy.COPY_DISK else VolumeStatus.SHARED
    return VolumeResult(move.key, move.strategy, status, move.reason, rec.snapshot_id if rec else "",
                        rec.disk_id if rec else "", move.pv_name, move.findings)


def ordered(moves: Sequence[VolumeMove], results: Mapping[str, VolumeResult]) -> tuple[VolumeResult, ...]:
    """Results in plan order, then those of claims no longer planned (copied before), by key."""
    planned = {m.key for m in moves}
    return tuple([results[m.key] for m in moves if m.key in results]
                 + [r for k, r in sorted(results.items()) if k not in planned])


def stop_record(w: Writer, live: Mapping[str, Any] | None, existing: WriterRecord | None) -> WriterRecord | None:
    """The record to save *before* stopping a writer; None when it is gone (nothing writes).

    A writer recorded and not restored keeps its record: the live count may be the 0 akshift set.
    """
    if existing is not None and not existing.restored_at:
        return existing
    if live is None:
        return None
    spec = live.get("spec") or {}
    previous = spec.get("replicas", 1) if w.quiesce is Quiesce.SCALE else spec.get("suspend")
    return WriterRecord(w.api_version, w.kind, w.namespace, w.name, w.quiesce, previous)


def stop_patch(w: Writer | WriterRecord, previous: int | bool | None) -> tuple[dict[str, Any], str, str]:
    """(merge patch, subresource, what it did) that stops a writer."""
    if w.quiesce is Quiesce.SCALE:
        return {"spec": {"replicas": 0}}, "scale", f"scaled to 0 (was {previous})"
    return {"spec": {"suspend": True}}, "", "suspended"


@dataclasses.dataclass(frozen=True)
class Restore:
    """What a rollback does to one recorded writer.

    Attributes:
        result: the result to report.
        patch, subresource: the merge patch to send first (None: nothing to send).
        record: the record to save after (None: leave the record as it is).
    """

    result: WriterResult
    patch: dict[str, Any] | None = None
    subresource: str = ""
    record: WriterRecord | None = None


def restore_step(rec: WriterRecord, live: Mapping[str, Any] | None, at: str) -> Restore:
    """How to restart one writer akshift stopped, with exactly its previous value."""
    key = rec.key
    if rec.restored_at:
        return Restore(WriterResult(key, WriterStatus.UNCHANGED, f"already restored at {rec.restored_at}"))
    if live is None:
        return Restore(WriterResult(key, WriterStatus.FAILED, "gone from the source; nothing to restore"))
    spec = live.get("spec") or {}
    done = dataclasses.replace(rec, restored_at=at)
    if rec.quiesce is Quiesce.SCALE:
        current = spec.get("replicas", 1)
        if current not in (0, rec.previous):
            note = f"left at {current}: changed on the source since the quiesce"
            return Restore(WriterResult(key, WriterStatus.UNCHANGED, note), record=dataclasses.replace(done, note=note))
        return Restore(WriterResult(key, WriterStatus.RESTORED, f"scaled back to {rec.previous}"),
                       {"spec": {"replicas": rec.previous}}, "scale", done)
    if spec.get("suspend") is not True and rec.previous is not True:
        return Restore(WriterResult(key, WriterStatus.RESTORED, "already resumed"), record=done)
    # A JSON merge patch with null removes the field: the CronJob is as it was.
    return Restore(WriterResult(key, WriterStatus.RESTORED, f"suspend restored to {rec.previous}"),
                   {"spec": {"suspend": rec.previous}}, "", done)


# --------------------------------------------------------------------------- the runner (effects)


def quiesce(source: KubeClient, writers: Iterable[Writer], store: VolumeStore) -> list[WriterResult]:
    """Stop writers on the source, saving each previous value before changing it.

    Args:
        source: the old cluster (the one deliberate write to it).
        writers: workloads to stop (scale to 0, or suspend a CronJob).
        store: the run's state file; saved after every step.

    Returns:
        One result per writer; a failed one leaves its volumes uncopied.
    """
    state = store.load()
    results = []
    for w in writers:
        try:
            existing = state.writers.get(w.key)
            fresh = existing is None or bool(existing.restored_at)
            rec = stop_record(w, source.read(w.stub()) if fresh else None, existing)
            if rec is None:
                results.append(WriterResult(w.key, WriterStatus.UNCHANGED, "gone from the source: nothing writes"))
                continue
            if rec is not existing:
                # Saved before the write: if we die right after scaling, the rerun must not
                # read the 0 we set and believe it was the user's count.
                state = store.save(state.with_writer(rec))
            patch, subresource, what = stop_patch(w, rec.previous)
            source.patch_merge(w.stub(), patch, subresource=subresource)
            if not rec.quiesced_at:
                state = store.save(state.with_writer(dataclasses.replace(rec, quiesced_at=now())))
            results.append(WriterResult(w.key, WriterStatus.STOPPED, what))
        except ApiError as e:
            results.append(WriterResult(w.key, WriterStatus.FAILED, str(e)))
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


def rollback(source: KubeClient, store: VolumeStore) -> list[WriterResult]:
    """Restart the writers akshift stopped on the source, with exactly their previous values.

    Source disks are not touched (akshift only ever read them); green's copies and PVs stay (Retain).
    A workload changed on the source since the quiesce (replicas no longer 0, no longer suspended)
    is left as it is and reported: someone else has decided for it.

    Args:
        source: the old cluster.
        store: the run's state file; saved after every writer.

    Returns:
        One result per recorded writer.
    """
    state = store.load()
    results = []
    for key, rec in sorted(state.writers.items()):
        try:
            step = restore_step(rec, None if rec.restored_at else source.read(rec.stub()), now())
            if step.patch is not None:
                source.patch_merge(rec.stub(), step.patch, subresource=step.subresource)
            if step.record is not None:
                state = store.save(state.with_writer(step.record))
            results.append(step.result)
        except ApiError as e:
            results.append(WriterResult(key, WriterStatus.FAILED, str(e)))
    store.save(state.rolled_back(now()))
    return results


def _apply_green_pv(target: KubeClient, move: VolumeMove, pv: dict[str, Any]) -> str | None:
    """Apply one green PV; an error message, or None when it is in place."""
    live = target.read(pv)
    if live is not None and volume_handle(live) != volume_handle(pv):
        return (f"green already holds PersistentVolume {move.pv_name} pointing at {volume_handle(live)} (applied "
                "by `akshift apply` from a transform made without the volume plan?); akshift deletes nothing: "
                f"delete that PV and claim {move.key} on green, then re-run `akshift volumes move`")
    claim = target.read({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "metadata": {"namespace": move.namespace, "name": move.claim}})
    bound_to = ((claim or {}).get("spec") or {}).get("volumeName")
    if bound_to and bound_to != move.pv_name:
        return (f"claim {move.key} on green is already bound to {bound_to}, not to the copy; akshift deletes "
                f"nothing: move the data off {bound_to} or delete the claim on green, then re-run")
    outcome = apply_object(target, pv)
    return None if outcome.ok else f"{outcome.action}: {outcome.message}"


def move_volumes(source: KubeClient, target: KubeClient, moves: Sequence[VolumeMove], store: VolumeStore,
                 mover: DiskMover, *, quiesce_source: bool = False, release_timeout: float = 120.0) -> MoveReport:
    """Carry every planned volume to the target; resumable, and safe to run again.

    Steps: stop the writers of disks not copied yet (only with ``quiesce_source``), wait until
    their claims are released on the source, copy the disks (:class:`DiskMover`), apply the green
    PVs (disk copies and same shares). The state is saved after each step.

    Args:
        source: the old cluster (read, and written only to stop writers when ``quiesce_source``).
        target: the new cluster.
        moves: the plan (:func:`migration.volumes.plan.read_plan`).
        store: the run's state file.
        mover: the Azure side.
        quiesce_source: allow stopping writers on the source (the one deliberate write to it).
        release_timeout: seconds to wait for the source's pods to let go of a claim.

    Returns:
        Per-claim and per-writer results; ``ok`` only when every volume is carried.

    Raises:
        PlanError: this run was rolled back (its copies are stale), or its state file is unusable.
    """
    decision = decide(moves, store.load(), quiesce_source=quiesce_source)
    writer_results: list[WriterResult] = []
    if decision.stop:
        writer_results = quiesce(source, decision.stop, store)
        decision = after_stop(decision, writer_results)
    if decision.pending:
        decision = after_release(decision, wait_released(source, decision.pending, release_timeout), release_timeout)
    state = store.load()
    results = dict(decision.results)
    requests = copy_requests(decision, state)
    if requests:
        made = mover.copy([requests[k] for k in sorted(requests)])
        for key, answer in made.items():
            recorded, failure = record_copy(state, key, requests[key], answer, now())
            if failure is not None:
                results[key] = failure
            if recorded is not state:
                state = store.save(recorded)
    for m in moves:
        if m.key in results or m.strategy not in (Strategy.COPY_DISK, Strategy.SAME_SHARE):
            continue
        pv = green_pv_of(m, state)
        if isinstance(pv, VolumeResult):
            results[m.key] = pv
            continue
        try:
            error = _apply_green_pv(target, m, pv)
        except ApiError as e:
            error = str(e)
        if error:
            results[m.key] = VolumeResult(m.key, m.strategy, VolumeStatus.FAILED, error, pv=m.pv_name)
            continue
        state = store.save(state.with_pv(m.pv_name, PvRecord(volume_handle(pv), m.key, now())))
        results[m.key] = carried(m, state)
    return MoveReport(ordered(moves, results), tuple(writer_results))


__all__ = ["Decision", "Restore", "after_release", "after_stop", "carried", "copy_requests", "decide",
           "green_pv_of", "move_volumes", "ordered", "quiesce", "record_copy", "restore_step", "rollback",
           "stop_record", "wait_released"]
