"""The sync driver: list then watch blue, carry each change to green, persist each transition.

Why shaped so (as :mod:`cutover.runner`): every decision is
:mod:`migration.sync.engine`'s; this module performs the effects — list,
watch, transform, server-side apply, delete — and records each transition in
the journal *after* green answered, so a kill at any instant resumes from a
resourceVersion whose changes are all on green.

The run, in order::

    check the clusters   --target is not --source (kube-system uid, server+CA), --source is the
                         snapshot's cluster, --target is the cluster this run synced before: else exit 2,
                         nothing changed
    catch up             each type without a journalled resourceVersion is listed (in apply-tier order)
                         and reconciled: every object transformed and applied; carried objects the list
                         no longer has are deleted on green
    watch                one thread per type, from its resourceVersion; a 410 (expired) lists the type
                         again; a broken stream is watched again from the last version; every 30 s,
                         discovery again: a type new on blue (a CRD created) is listed, then watched
    heartbeat            sync-status.json every second (pid, lag p50/p95, pending, counts)

``--once`` stops after one catch-up over every type (a list and reconcile,
whatever the journal says) — for tests and cron.

Objects are applied one at a time per type (a type's changes keep their order)
and concurrently across types. A change whose namespace or CRD another type's
thread has not created yet is retried for up to :data:`ORDER_WAIT` seconds.

Each object is applied as ``migrate``'s applier applies it
(:func:`migration.applier.apply_object`): its ownerReferences to owners on
green re-pointed to their green uids, its source field managers restored, and
only akshift's own rewrites (the transform's patch log of this change) owned
by akshift. Which owners count as carried (:class:`WillBeOnGreen`) is live:
what migrate and this sync carried, or what is on blue now — sync carries it,
and a ReplicaSet made a moment ago by a new Deployment is still whited out.
An object applied before its owner (another type's thread, or an earlier tier
of a catch-up) is linked when the owner arrives, as ``migrate`` links late
owners after its last tier (:func:`migration.stages.link_owners`).
"""
from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import os
import threading
import time
from collections.abc import Callable, Container, Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from errors import ErrorKind
from kube.client import ApiResource, KubeClient, object_path
from kube.discovery import listable_types
from kube.errors import ApiError
from kube.objects import ObjectRef, is_secret
from kube.order import tier
from migration import blockers, identity, stages
from migration.applier import FIELD_MANAGER, Action, Outcome, apply_object
from migration.errors import MigrationError, TransformError
from migration.findings import Finding, Severity
from migration.policies import calico
from migration.secrets import SecretKey, require_key
from migration.snapshot import Snapshot
from migration.sync import engine
from migration.sync.engine import Do, Result, SyncState
from migration.sync.journal import SyncJournal
from migration.sync.status import HEARTBEAT_SECONDS, SyncStatus, hostname, write_status
from migration.transforms import TransformContext
from migration.transforms.context import selectorless_services
from migration.transforms.ownership import owner_keys
from migration.transforms.runner import TransformOutcome, transform
from migration.transforms.stage import calico_facts
from migration.volumes import PLAN_FILE, STATE_FILE, VolumeStore
from migration.volumes import plan as volume_plan

ORDER_WAIT = 30.0  # seconds a change waits for its namespace or CRD (applied by another type's thread)
BACKOFF_MAX = 30.0  # seconds between attempts to watch a type that keeps failing
REDISCOVER_SECONDS = 30.0  # how often a watching sync looks for new types (CRDs created on blue)
FINDINGS_FILE = "sync-findings.jsonl"
OWNER_MEMORY = 30.0  # seconds an owner found on blue counts as carried without asking blue again
OWNER_MEMORY_SIZE = 10_000  # owners remembered before the expired ones are forgotten


class SyncInputError(MigrationError):
    """The run directory or the clusters are not a sync this command can run (bad input: nothing changed)."""

    kind = ErrorKind.BAD_INPUT


@dataclasses.dataclass(frozen=True, kw_only=True)
class SyncOptions:
    """How to run ``akshift sync`` over one run directory.

    Attributes:
        out: the run directory of ``migrate`` (``snapshot/``, ``transformed/``); the journal and
            ``sync-status.json`` go there too.
        force_conflicts: take over fields someone else changed on green (default: report them).
        once: one list-and-reconcile pass over every type, then return.
        max_lag: the lag bound in seconds, written to the status for the cutover's preflight.
        watch_timeout: seconds the server keeps one watch request open.
        concurrency: objects applied at once during a catch-up list.
        duration: stop watching after this many seconds (None: until interrupted).
        accept_blockers: blocker codes whose objects are applied anyway (``--accept-blockers``, as for
            ``migrate``); an object with any other blocker finding is held back.
    """

    out: Path
    accept_blockers: tuple[str, ...] = ()
    force_conflicts: bool = False
    once: bool = False
    max_lag: float = 30.0
    watch_timeout: int = 300
    concurrency: int = 8
    duration: float | None = None


@dataclasses.dataclass(frozen=True)
class SyncResult:
    """How a sync run ended: its state, the new findings, and how long it ran."""

    state: SyncState
    findings: tuple[Finding, ...]
    seconds: float
    once: bool
    accepted: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """No conflict, no failure, nothing held back by a blocker and no new blocking finding not accepted."""
        return not self.state.conflicts and not self.state.counts.get(Result.FAILED.value) \
            and not self.state.counts.get(Result.BLOCKED.value) \
            and not blockers.open_blockers(self.findings, self.accepted)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "once": self.once, "seconds": round(self.seconds, 3),
                "counts": dict(self.state.counts), "lag": self.state.lag(),
                "conflicts": [{"key": k, "message": m} for k, m in sorted(self.state.conflicts.items())],
                "findings": [f.to_dict() for f in self.findings], "carried": len(self.state.carried),
                "accepted_blockers": list(self.accepted)}


# --------------------------------------------------------------------------- checks before anything changes


def _kube_system_uid(client: KubeClient) -> str:
    """The uid of the cluster's kube-system namespace ("" when the user may not read it: then server+CA decide)."""
    try:
        return str((client.get("/api/v1/namespaces/kube-system").get("metadata") or {}).get("uid") or "")
    except ApiError as e:
        if e.status in (403, 404):
            return ""
        raise


def check_clusters(source: KubeClient, target: KubeClient, out: Path, recorded: Mapping[str, str]) -> dict[str, str]:
    """Refuse a sync whose --target is not the run's green (every check before any write).

    Args:
        source, target: the open clients.
        out: the run directory (its ``snapshot/`` holds blue's kube-system namespace).
        recorded: the identity a previous sync of this run recorded (empty on the first start).

    Returns:
        The identity to record: both servers and kube-system uids.

    Raises:
        SyncInputError: the target is the source, the source is not the snapshot's cluster, or the
            target is not the cluster this run synced before.
    """
    src_uid, dst_uid = _kube_system_uid(source), _kube_system_uid(target)
    fix = "pass the new (green) cluster's kubeconfig as --target and the old (blue) one's as --source"
    if src_uid and src_uid == dst_uid:
        raise SyncInputError(f"--target {target.config.server} is the --source cluster (same kube-system namespace "
                             f"uid {dst_uid}): sync would write blue onto itself", ref="--target", fix=fix)
    if source.config.server == target.config.server and source.config.ca_data == target.config.ca_data:
        raise SyncInputError(f"--target and --source are the same API server {target.config.server} "
                             "(same server and CA)", ref="--target", fix=fix)
    ns = Path(out) / "snapshot" / ObjectRef("", "Namespace", "", "kube-system").path
    if ns.exists():
        snap_uid = str((Snapshot(Path(out) / "snapshot").read(ObjectRef("", "Namespace", "", "kube-system").path)
                        .get("metadata") or {}).get("uid") or "")
        if snap_uid and snap_uid == dst_uid:
            raise SyncInputError(f"--target {target.config.server} is the cluster the run's snapshot was taken from "
                                 f"(kube-system uid {dst_uid})", ref="--target", fix=fix)
        if snap_uid and src_uid and snap_uid != src_uid:
            raise SyncInputError(f"--source {source.config.server} is not the cluster the run's snapshot in {out} was "
                                 f"taken from (kube-system uid {src_uid}, the snapshot's {snap_uid})", ref="--source",
                                 fix="pass the cluster `akshift migrate` read as --source, or another --out")
    if recorded.get("targetUid") and recorded["targetUid"] != dst_uid:
        raise SyncInputError(f"--target {target.config.server} is not the cluster this run syncs to (it synced "
                             f"{recorded.get('target', '?')}, kube-system uid {recorded['targetUid']})", ref="--target",
                             fix="pass the same --target as before, or another --out")
    return {"source": source.config.server, "sourceUid": src_uid, "target": target.config.server, "targetUid": dst_uid}


def _open_run(out: Path, secret_key: SecretKey | None) -> tuple[Snapshot, frozenset[str], bool]:
    """The run's ``transformed/``, the keys it carried, and whether Secrets are carried.

    Raises:
        SyncInputError: no ``transformed/`` (migrate has not run).
        SecretKeyError: the run carried Secrets and the key cannot decrypt them.
    """
    try:
        transformed = Snapshot(out / "transformed")
    except MigrationError as e:
        raise SyncInputError(f"{out} has no usable transformed/ ({e.message})", ref="--out",
                             fix="run `akshift migrate` (or inventory, transform and apply) into this --out first") from e
    carried = frozenset(transformed.ref(p).key for p in transformed.paths(include_secrets=True))
    secrets_excluded = bool(transformed.index.get("secrets_excluded")) and not transformed.index.get("secrets")
    if transformed.index.get("secrets"):
        # Only the holder of the run's key may carry its Secrets on: prove the key opens the bundle.
        transformed.secrets(require_key(secret_key, decrypt=True))
    return transformed, carried, not secrets_excluded


def _accepted_at_apply(out: Path) -> tuple[str, ...]:
    """The blocker codes the run's apply accepted (``apply.json``); none before an apply.

    Raises:
        SyncInputError: ``apply.json`` is not a JSON object.
    """
    path = out / "apply.json"
    try:
        doc = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return ()
    except (OSError, orjson.JSONDecodeError) as e:
        raise SyncInputError(f"{path} is not readable JSON ({e})", ref=str(path),
                             fix="restore it from the run, or run `akshift apply` into this --out again") from e
    if not isinstance(doc, dict):
        raise SyncInputError(f"{path} is not a JSON object", ref=str(path),
                             fix="restore it from the run, or run `akshift apply` into this --out again")
    return blockers.accepted_at_apply(doc)


def _context(target: KubeClient, out: Path) -> TransformContext:
    """The transform context, built as :func:`migration.pipeline.migrate` builds it (snapshot, target, volume plan)."""
    snap = Snapshot(out / "snapshot")
    paths = snap.paths(include_secrets=False)
    nodes = [snap.read(p) for p in paths if p.startswith("_cluster/core.Node/")]
    pvs: dict[str, Any] = {}
    quiesced: dict[str, Any] = {}
    if (out / PLAN_FILE).exists():
        pvs = dict(volume_plan.planned_pvs(volume_plan.read_plan(out)[0]))
        quiesced = dict(VolumeStore(out / STATE_FILE).load().quiesced())
    ctx = stages.build_context(nodes, target, snap, volume_pvs=pvs, quiesced_writers=quiesced)
    services = (snap.read(p) for p in paths if "/core.Service/" in p)
    return dataclasses.replace(ctx, selectorless_services=selectorless_services(services))


def _known_findings(transformed: Snapshot) -> set[tuple[str, str, str]]:
    return {(f.code, f.ref.key, f.path) for f in transformed.findings()}


@dataclasses.dataclass
class CalicoView:
    """What translating blue's Calico objects needs, kept current by the sync (only its Syncer changes it).

    Attributes:
        facts: the target facts of :func:`migration.transforms.stage.calico_facts` (the snapshot's Calico
            objects; each translation gets blue's current ones instead).
        objects: blue's Calico policies and network sets by key, as last seen (the snapshot's, then each change).
        translated: Calico key → keys of the objects its translation put on green (``transformed/``'s, then
            this sync's), so a policy deleted on blue, or translated into another kind, takes them along.
        source_keys: the keys of blue's objects in the snapshot: a translation may not take one's place.
    """

    facts: calico.TargetFacts
    objects: dict[str, Mapping[str, Any]]
    translated: dict[str, frozenset[str]]
    source_keys: frozenset[str]


def calico_view(out: Path, ctx: TransformContext) -> CalicoView | None:
    """The Calico translation state of a run, or None when the target keeps Calico (nothing is translated).

    Args:
        out: the run directory (``snapshot/`` and ``transformed/``).
        ctx: the sync's transform context (its ``skipped_groups`` say whether the target replaces Calico).

    Returns:
        The view, its ``translated`` read from ``transformed/``'s objects labelled as translations.
    """
    snap = Snapshot(out / "snapshot")
    facts = calico_facts(snap, ctx)
    if facts is None:
        return None
    objects = {ObjectRef.of(o).key: o for o in facts.calico_objects or ()}
    named = {str(ObjectRef.of(o)): k for k, o in objects.items()}
    translated: dict[str, set[str]] = {}
    transformed = Snapshot(out / "transformed")
    for path in transformed.paths(include_secrets=False):
        if "/cilium.io." not in path and "/networking.k8s.io.NetworkPolicy/" not in path:
            continue
        obj = transformed.read(path)
        meta = obj.get("metadata") or {}
        source = named.get(str((meta.get("annotations") or {}).get(calico.SOURCE_ANNOTATION) or ""))
        if source and (meta.get("labels") or {}).get(calico.TRANSLATED_LABEL) == "calico":
            translated.setdefault(source, set()).add(ObjectRef.of(obj).key)
    return CalicoView(facts, objects, {k: frozenset(v) for k, v in translated.items()},
                      frozenset(snap.ref(p).key for p in snap.paths(include_secrets=True)))


# --------------------------------------------------------------------------- the driver


class WillBeOnGreen(Container[str]):
    """Sync's ``carried_keys``: whether an owner will exist on green, answered when asked.

    An owner is carried when ``migrate`` or this sync carried it (``state().carried``), or when it is
    on blue now and not being deleted: sync carries it too, perhaps a moment after its dependents (each
    type has its own thread, so a ReplicaSet a new Deployment just made may arrive first). A snapshot
    taken at the start would say "not carried" for every owner created since, and the whiteout rule would
    then carry their ReplicaSets and Pods as data. Answers from blue are remembered for
    :data:`OWNER_MEMORY` seconds (every Pod of a ReplicaSet asks about the same owner).
    """

    def __init__(self, source: KubeClient, state: Callable[[], SyncState], clock: Callable[[], float] = time.monotonic):
        self.source, self.state, self.clock = source, state, clock
        self._seen: dict[str, float] = {}

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        if key in self.state().carried:
            return True
        seen = self._seen.get(key)
        if seen is not None and self.clock() - seen < OWNER_MEMORY:
            return True
        if self._on_blue(key):
            now = self.clock()
            if len(self._seen) >= OWNER_MEMORY_SIZE:  # a long sync sees many owners come and go
                self._seen = {k: t for k, t in self._seen.items() if now - t < OWNER_MEMORY}
            self._seen[key] = now
            return True
        return False

    def _on_blue(self, key: str) -> bool:
        ref = ObjectRef.from_key(key)
        res = next((r for r in self.source.resources().values() if r.group == ref.group and r.kind == ref.kind), None)
        if res is None:
            return False
        try:
            live = self.source.get(object_path(res.api_version, res.plural,
                                               ref.namespace if res.namespaced else None, ref.name))
        except ApiError:
            return False
        return not (live.get("metadata") or {}).get("deletionTimestamp")


class Syncer:
    """One sync run's effects; the state changes only through :mod:`migration.sync.engine`'s functions.

    Args:
        source, target: blue (only read) and green.
        options: see :class:`SyncOptions`.
        ctx: the transform context.
        journal: the run's journal (its state is where this run starts).
        carry_secrets: whether Secrets are carried (False when the run excluded them).
        known: findings ``transformed/`` already has (only new ones are reported).
        report: receives every event (the CLI prints progress from them).
        clock: wall-clock seconds.
        calico: the Calico translation state (:func:`calico_view`); None when the target keeps Calico.
    """

    def __init__(self, source: KubeClient, target: KubeClient, options: SyncOptions, ctx: TransformContext,
                 journal: SyncJournal, *, carry_secrets: bool, known: set[tuple[str, str, str]],
                 report: Callable[[dict[str, Any]], None], clock: Callable[[], float] = time.time,
                 calico: CalicoView | None = None) -> None:
        self.source, self.target, self.options = source, target, options
        self.ctx = dataclasses.replace(ctx, carried_keys=WillBeOnGreen(source, lambda: self.state))
        self.calico = calico
        self.carried_pvs = frozenset(ctx.volume_pvs)  # their disk blocker does not hold them back (as in apply)
        self.journal = journal
        self.state = journal.state
        self.carry_secrets = carry_secrets
        self.known = known
        self.findings: list[Finding] = []
        self.report = report
        self.clock = clock
        self.stop = threading.Event()
        self.phase = "listing"
        self.started_at = clock()
        self._lock = threading.Lock()
        self._beat_lock = threading.Lock()
        self._pending: dict[int, float] = {}
        self._failing: dict[str, float] = {}  # type → when its watch started failing
        self._token = 0
        self._skip_marks: dict[str, float] = {}
        self._findings_path = options.out / FINDINGS_FILE
        # Owner key → the objects applied before it whose reference to it waits (key → object, rewrites).
        self._late: dict[str, dict[str, tuple[dict[str, Any], tuple[str, ...]]]] = {}

    # -- transitions (each persisted before the state moves on) --------------------------

    def _commit(self, key: str, result: Result, *, lag: float | None = None, message: str = "") -> None:
        now = self.clock()
        with self._lock:
            # A skip is journaled only when it settles an open conflict (blue's object gone or now excluded):
            # otherwise the next run's replay would reopen the conflict and exit 1 for nothing.
            if result is not Result.SKIPPED or key in self.state.conflicts:
                self.journal.record_change(key, result, now, message=message if result is Result.CONFLICT else "")
            self.state = engine.after_change(self.state, key, result, lag=lag, message=message)
        if result is not Result.SKIPPED:
            self.report({"event": "change", "key": key, "result": result.value, "lag": lag, "message": message})

    def _advance(self, group_kind: str, rv: str, *, lazy: bool = False) -> None:
        """Every change of the type up to ``rv`` is on green; ``lazy`` writes it at most once a second."""
        now = time.monotonic()
        if lazy and now - self._skip_marks.get(group_kind, 0.0) < 1.0:
            with self._lock:
                self.state = engine.after_version(self.state, group_kind, rv)
            return
        self._skip_marks[group_kind] = now
        with self._lock:
            if self.state.versions.get(group_kind) != rv:
                self.journal.record_version(group_kind, rv)
            self.state = engine.after_version(self.state, group_kind, rv)

    def _begin(self, seen_at: float) -> int:
        with self._lock:
            self._token += 1
            self._pending[self._token] = seen_at
            return self._token

    def _healthy(self, group_kind: str) -> None:
        if group_kind in self._failing:
            with self._lock:
                self._failing.pop(group_kind, None)

    def _end(self, token: int) -> None:
        with self._lock:
            self._pending.pop(token, None)

    # -- one change ---------------------------------------------------------------------

    def _new_findings(self, findings: Iterable[Finding]) -> None:
        fresh = []
        with self._lock:
            for f in findings:
                mark = (f.code, f.ref.key, f.path)
                if mark not in self.known:
                    self.known.add(mark)
                    fresh.append(f)
            self.findings += fresh
        if fresh:
            with open(self._findings_path, "ab") as fh:
                fh.write(b"".join(orjson.dumps(f.to_dict()) + b"\n" for f in fresh))
        for f in fresh:
            self.report({"event": "finding", "finding": f.to_dict()})

    def _apply(self, obj: dict[str, Any], rewrites: tuple[str, ...], owners: identity.OwnerCache) -> Any:
        deadline = time.monotonic() + ORDER_WAIT
        while True:
            outcome = apply_object(self.target, obj, field_manager=FIELD_MANAGER,
                                   force_conflicts=self.options.force_conflicts, rewrites=rewrites, owners=owners)
            if outcome.action is Action.FAILED and outcome.status == 404 and time.monotonic() < deadline \
                    and not self.stop.is_set():
                time.sleep(0.5)  # its namespace or CRD is another type's change, maybe not applied yet
                continue
            return outcome

    def _held(self, key: str, findings: Iterable[Finding]) -> str | None:
        """Why a blocker finding holds the object back (as ``migrate``'s apply does), None when nothing does."""
        return blockers.blocked_objects(findings, accepted=self.options.accept_blockers,
                                        carried_pvs=self.carried_pvs).get(key)

    def _carry(self, outcome: TransformOutcome, source: Mapping[str, Any], seen_at: float, count_lag: bool) -> Result:
        """Apply one kept object, unless a blocker holds it back; record how it ended."""
        key = outcome.ref.key
        decision = engine.decide_upsert(key, True, held=self._held(key, outcome.findings))
        if decision.do is Do.HOLD or outcome.obj is None:
            self._commit(key, Result.BLOCKED, message=decision.reason)
            self.report({"event": "blocked", "key": key, "message": decision.reason})
            return Result.BLOCKED
        rewrites = tuple(identity.rewrites_by_key([outcome.patch_log()]).get(key, ()))
        # A fresh owner cache per change: an owner deleted and made again on green has a new uid, and a
        # reference to the old one would make green's garbage collector delete the object.
        owners = identity.OwnerCache(self.target)
        applied = self._apply(outcome.obj, rewrites, owners)
        result = Result(applied.action.value)
        lag = None
        if count_lag and result.changed:
            lag = self.clock() - engine.lag_origin(seen_at, engine.changed_at(source))
        self._commit(key, result, lag=lag, message=applied.message)
        if result.carries:
            self._wait_for_owners(outcome.obj, rewrites, owners)
            self._link_dependents(key)
        return result

    # -- owners applied after their dependents (another type's thread) ------------------

    def _wait_for_owners(self, obj: dict[str, Any], rewrites: tuple[str, ...], owners: identity.OwnerCache) -> None:
        """Remember an object whose owners are not all on green yet, to link them when they arrive."""
        key = ObjectRef.of(obj).key
        with self._lock:
            for waiting in self._late.values():
                waiting.pop(key, None)
        refs = (obj.get("metadata") or {}).get("ownerReferences") or ()
        if not refs:
            return
        _, uid_map, complete = identity.resolve_owners(obj, owners)
        if complete:
            return
        ns = (obj.get("metadata") or {}).get("namespace") or ""
        missing = [k for r in refs if r.get("uid") not in uid_map for k in owner_keys(r, ns)]
        with self._lock:
            for owner in missing:
                self._late.setdefault(owner, {})[key] = (obj, rewrites)
        # The owner may have arrived between the apply and the lines above (its thread then found nothing
        # waiting): look once more, so no reference is left out for good.
        if identity.resolve_owners(obj, identity.OwnerCache(self.target))[2]:
            self._link(key, obj, rewrites)

    def _link_dependents(self, owner: str) -> None:
        """An owner is on green now: link the objects applied before it that wait for it."""
        with self._lock:
            waiting = self._late.pop(owner, {})
        for key, (obj, rewrites) in sorted(waiting.items()):
            self._link(key, obj, rewrites)

    def _link(self, key: str, obj: dict[str, Any], rewrites: tuple[str, ...]) -> None:
        """Re-point an object's ownerReferences to the owners on green now, as ``migrate`` links late owners."""
        done = Outcome(key, str(ObjectRef.of(obj)), Action.UPDATED)
        owners = identity.OwnerCache(self.target)
        (linked,) = stages.link_owners(self.target, [obj], [done], {key: list(rewrites)}, owners)
        if linked.action is Action.FAILED:
            self.report({"event": "link-failed", "key": key, "message": linked.message})
            return
        if identity.resolve_owners(obj, owners)[2]:  # every owner linked: it waits for nothing more
            with self._lock:
                for waiting in self._late.values():
                    waiting.pop(key, None)

    def upsert(self, obj: dict[str, Any], seen_at: float, count_lag: bool) -> Result:
        """An object added or modified on blue (or found by a list): transform, apply, record."""
        key = ObjectRef.of(obj).key
        if self.calico is not None and calico.applies_to(obj):
            return self._upsert_calico(obj, seen_at, count_lag)
        if is_secret(obj) and not self.carry_secrets:
            decision = engine.decide_upsert(key, False, "the run excluded Secrets")
            outcome = None
        else:
            try:
                outcome = transform(obj, self.ctx)
            except TransformError as e:
                outcome = None
                decision = engine.decide_upsert(key, None, e.message)
            else:
                decision = engine.decide_upsert(key, outcome.kept, outcome.excluded)
                if outcome.kept:
                    self._new_findings(outcome.findings)
        if decision.do is not Do.APPLY or outcome is None or outcome.obj is None:
            if decision.reason.startswith("transform failed"):
                self._commit(key, Result.FAILED, message=decision.reason)
                return Result.FAILED
            self._commit(key, Result.SKIPPED, message=decision.reason)
            return Result.SKIPPED
        return self._carry(outcome, obj, seen_at, count_lag)

    def _upsert_calico(self, obj: dict[str, Any], seen_at: float, count_lag: bool) -> Result:
        """A Calico policy or network set changed on blue: translate it as ``migrate`` does, apply what it became.

        A translation with a blocker applies nothing (a half-translated policy is wider or narrower than
        the original) and green keeps what an earlier translation put there; objects an earlier
        translation made that this one no longer makes are deleted (as carried objects are).
        """
        assert self.calico is not None
        ref = ObjectRef.of(obj)
        key = ref.key
        with self._lock:
            self.calico.objects[key] = obj
            facts = dataclasses.replace(self.calico.facts, calico_objects=tuple(self.calico.objects.values()))
        translation = calico.translate(obj, facts)
        findings = list(translation.findings)
        outcomes: list[TransformOutcome] = []
        for new in translation.objects:
            made = ObjectRef.of(new)
            if made.key in self.calico.source_keys:
                findings.append(Finding(calico.CODE_UNTRANSLATABLE, Severity.BLOCKER, ref,
                                        f"translates to {made}, but blue already has an object of that name; "
                                        "neither is overwritten", "rename one of them on blue"))
                continue
            try:
                outcome = transform(new, self.ctx)
            except TransformError as e:
                findings.append(Finding(calico.CODE_UNTRANSLATABLE, Severity.BLOCKER, ref,
                                        f"its translation {made} failed a rule: {e.message}",
                                        "write the equivalent policy by hand on green"))
                continue
            if outcome.kept:
                outcomes.append(outcome)
                self._new_findings(outcome.findings)
            else:
                findings.append(Finding(calico.CODE_UNTRANSLATABLE, Severity.BLOCKER, ref,
                                        f"its translation {outcome.ref} was left out: {outcome.excluded}",
                                        "write the equivalent policy by hand on green"))
        self._new_findings(findings)
        codes = sorted({f.code for f in findings if f.severity is Severity.BLOCKER})
        if codes:
            why = (f"not translated to Cilium ({', '.join(codes)}: see the findings for the rule that does not "
                   "map); green keeps what an earlier translation put there")
            self._commit(key, Result.BLOCKED, message=why)
            self.report({"event": "blocked", "key": key, "message": why})
            return Result.BLOCKED
        results = [self._carry(o, obj, seen_at, count_lag) for o in outcomes]
        made_keys = frozenset(o.ref.key for o in outcomes)
        with self._lock:
            stale = self.calico.translated.get(key, frozenset()) - made_keys
            self.calico.translated[key] = made_keys
        for old in sorted(stale):
            self.delete(old, seen_at, count_lag=count_lag)
        self._commit(key, Result.SKIPPED, message="translated to " + (", ".join(sorted(made_keys)) or "nothing"))
        changed = [r for r in results if r.changed]
        return changed[0] if changed else (results[0] if results else Result.SKIPPED)

    def _forget_calico(self, key: str, seen_at: float, count_lag: bool) -> Result:
        """A Calico object deleted on blue: delete what its translation put on green (carried objects only)."""
        assert self.calico is not None
        with self._lock:
            last = self.calico.objects.pop(key, None)
            made = self.calico.translated.pop(key, None)
        if made is None and last is not None:
            # Translated by an earlier sync process whose memory is gone: the names follow from its last version.
            facts = dataclasses.replace(self.calico.facts, calico_objects=tuple(self.calico.objects.values()))
            made = frozenset(ObjectRef.of(o).key for o in calico.translate(last, facts).objects)
        results = [self.delete(k, seen_at, count_lag=count_lag) for k in sorted(made or ())]
        self._commit(key, Result.SKIPPED, message="deleted on blue; its translations: "
                     + (", ".join(f"{k} {r.value}" for k, r in zip(sorted(made or ()), results, strict=True))
                        or "none"))
        return Result.DELETED if Result.DELETED in results else Result.SKIPPED

    def _green_twin(self, key: str) -> dict[str, Any] | None:
        ref = ObjectRef.from_key(key)
        for refresh in (False, True):  # a type created since green's discovery was cached: look again once
            for res in self.target.resources(refresh=refresh).values():
                if res.group == ref.group and res.kind == ref.kind:
                    stub = {"apiVersion": res.api_version, "kind": res.kind,
                            "metadata": {"name": ref.name, **({"namespace": ref.namespace} if ref.namespace else {})}}
                    return self.target.read(stub)
        return None

    def delete(self, key: str, seen_at: float, *, count_lag: bool) -> Result:
        """An object deleted on blue: delete green's copy only if akshift carried it and still manages it."""
        if self.calico is not None and ObjectRef.from_key(key).group == calico.CALICO_GROUP:
            return self._forget_calico(key, seen_at, count_lag)
        with self._lock:  # gone from blue: it no longer waits for owners (nor do its dependents wait for it)
            self._late.pop(key, None)
            for waiting in self._late.values():
                waiting.pop(key, None)
        try:
            green = self._green_twin(key) if key in self.state.carried else None
        except ApiError as e:
            self._commit(key, Result.FAILED, message=f"cannot read green's copy: {e.detail or e.reason}")
            return Result.FAILED
        decision = engine.decide_delete(key, self.state.carried, green, FIELD_MANAGER)
        if decision.do is not Do.DELETE or green is None:
            result = Result.DELETED if decision.reason == "already gone on green" else Result.SKIPPED
            self._commit(key, result, message=decision.reason)
            return result
        uid = (green.get("metadata") or {}).get("uid")
        try:
            # The uid precondition: if someone recreated the object on green meanwhile, theirs is not ours.
            self.target.request("DELETE", self.target.path_of(green), body={"preconditions": {"uid": uid}},
                                ref=ObjectRef.of(green))
        except ApiError as e:
            if e.status == 404:
                self._commit(key, Result.DELETED, message="already gone on green")
                return Result.DELETED
            if e.status == 409:
                self._commit(key, Result.SKIPPED, message="recreated on green by someone else: kept")
                return Result.SKIPPED
            self._commit(key, Result.FAILED, message=f"{e.detail or e.reason} (HTTP {e.status})")
            return Result.FAILED
        lag = self.clock() - seen_at if count_lag else None
        self._commit(key, Result.DELETED, lag=lag)
        return Result.DELETED

    # -- a type: list and reconcile, then watch -------------------------------------------

    def catch_up(self, res: ApiResource, pool: cf.ThreadPoolExecutor | None = None) -> str:
        """List one type, apply every object, delete carried objects the list lacks; returns the list's version."""
        gk = _group_kind(res)
        listed: list[str] = []
        rv = ""
        for page in self.source.list_pages(res):
            rv = rv or str((page.get("metadata") or {}).get("resourceVersion") or "")
            items = page.get("items") or []
            for item in items:
                item.setdefault("apiVersion", res.api_version)
                item.setdefault("kind", res.kind)
                listed.append(ObjectRef.of(item).key)
            now = self.clock()
            if pool is not None:
                list(pool.map(self.upsert, items, [now] * len(items), [False] * len(items)))
            else:
                for item in items:
                    self.upsert(item, now, False)
        gone = engine.vanished(listed, self.state.carried, gk)
        if self.calico is not None and res.group == calico.CALICO_GROUP:
            with self._lock:
                known = set(self.calico.objects) | set(self.calico.translated)
            gone += engine.vanished(listed, known, gk)  # Calico objects are not carried, their translations are
        for key in gone:
            self.delete(key, self.clock(), count_lag=False)
        self._advance(gk, rv)
        return rv

    def watch(self, res: ApiResource) -> None:
        """Watch one type until stopped: from the journalled version, listing again when it expired."""
        gk = _group_kind(res)
        backoff = 1.0
        while not self.stop.is_set():
            rv = self.state.versions.get(gk)
            try:
                if not rv:
                    rv = self.catch_up(res)
                for event in self.source.watch(res, resource_version=rv, timeout_seconds=self.options.watch_timeout):
                    self._healthy(gk)
                    if self.stop.is_set():
                        return
                    kind, obj = event.get("type"), event.get("object") or {}
                    new_rv = str((obj.get("metadata") or {}).get("resourceVersion") or "")
                    if kind == "BOOKMARK":
                        self._advance(gk, new_rv)
                        continue
                    seen = self.clock()
                    token = self._begin(seen)
                    try:
                        if kind == "DELETED":
                            result = self.delete(ObjectRef.of(obj).key, seen, count_lag=True)
                        else:
                            result = self.upsert(obj, seen, True)
                    finally:
                        self._end(token)
                    self._advance(gk, new_rv, lazy=result is Result.SKIPPED)
                    backoff = 1.0
                self._healthy(gk)  # the server ended the stream after its timeout: a healthy watch
            except ApiError as e:
                if e.status == 410:
                    with self._lock:
                        self.journal.record_expired(gk)
                        self.state = engine.forget_version(self.state, gk)
                    self.report({"event": "expired", "type": gk})
                    continue
                with self._lock:
                    self._failing.setdefault(gk, self.clock())
                self.report({"event": "watch-error", "type": gk, "message": f"{e.detail or e.reason} (HTTP {e.status})"})
                self.stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)

    # -- status --------------------------------------------------------------------------

    def status(self) -> SyncStatus:
        now = self.clock()
        with self._lock:
            state, pending, failing = self.state, list(self._pending.values()), dict(self._failing)
        lag = state.lag()
        return SyncStatus(pid=os.getpid(), host=hostname(), phase=self.phase, started_at=self.started_at,
                          heartbeat_at=now, max_lag_seconds=self.options.max_lag, lag_p50=lag["p50"],
                          lag_p95=lag["p95"], lag_max=lag["max"], samples=int(lag["samples"] or 0),
                          pending=len(pending), oldest_pending_seconds=round(now - min(pending), 3) if pending else 0.0,
                          counts=dict(state.counts), conflicts=tuple(sorted(state.conflicts)),
                          failing=tuple(sorted(failing)),
                          failing_seconds=round(now - min(failing.values()), 3) if failing else 0.0)

    def beat(self) -> SyncStatus:
        """Write ``sync-status.json`` now (one writer at a time: the last write carries the latest phase)."""
        with self._beat_lock:
            s = self.status()
            write_status(self.options.out, s)
        self.report({"event": "heartbeat", "status": s.to_dict()})
        return s


def _group_kind(res: ApiResource) -> str:
    return f"{res.group or 'core'}/{res.kind}"


def _types(source: KubeClient) -> list[ApiResource]:
    """Every type the inventory reads (the same discovery), in apply-tier order (namespaces before their contents)."""
    types = [r for r in listable_types(source) if "watch" in r.verbs]
    return sorted(types, key=lambda r: (tier({"apiVersion": r.api_version, "kind": r.kind}), r.group, r.kind))


def sync(source: KubeClient, target: KubeClient, *, options: SyncOptions, secret_key: SecretKey | None,
         report: Callable[[dict[str, Any]], None] = lambda e: None, stop: threading.Event | None = None) -> SyncResult:
    """Keep green in step with blue: catch up, then watch until stopped (or one pass with ``options.once``).

    Args:
        source: blue (only GET, LIST and WATCH requests).
        target: green (server-side apply with akshift's field manager, and deletes of carried objects).
        options: see :class:`SyncOptions`.
        secret_key: the run's key, required when the run carried Secrets.
        report: receives every event (changes, findings, heartbeats, watch errors).
        stop: set it to end a watching run (the CLI sets it on SIGINT/SIGTERM).

    Returns:
        The result: counts, lag, conflicts and new findings.

    Raises:
        SyncInputError: the run has no ``transformed/``, or the clusters are not the run's (nothing changed).
        SecretKeyError: the run carried Secrets and the key cannot open them.
        ApiError: a cluster is unreachable.
    """
    t0 = time.monotonic()
    out = Path(options.out)
    transformed, carried, carry_secrets = _open_run(out, secret_key)
    inherited = _accepted_at_apply(out)
    if inherited:
        # The run's apply let these blockers through: holding the same objects' later changes back would leave
        # green with a stale copy of what the user deliberately carried.
        options = dataclasses.replace(options,
                                      accept_blockers=blockers.normalize_codes([*options.accept_blockers, *inherited]))
        report({"event": "accepted-blockers", "codes": list(inherited), "from": "apply.json"})
    journal = SyncJournal(out, carried)
    clusters = check_clusters(source, target, out, journal.identity)
    ctx = _context(target, out)
    if not journal.identity:
        journal.record_identity(clusters)
    syncer = Syncer(source, target, options, ctx, journal, carry_secrets=carry_secrets,
                    known=_known_findings(transformed), report=report, calico=calico_view(out, ctx))
    if stop is not None:
        syncer.stop = stop
    types = _types(source)
    done = threading.Event()

    def heartbeat() -> None:  # also while a long catch-up lists: the preflight must see a live sync
        while not done.wait(HEARTBEAT_SECONDS):
            try:
                syncer.beat()
            except OSError as e:
                report({"event": "status-error", "message": str(e)})

    try:
        syncer.beat()
        threading.Thread(target=heartbeat, name="sync-heartbeat", daemon=True).start()
        with cf.ThreadPoolExecutor(max(1, options.concurrency), thread_name_prefix="sync-apply") as pool:
            for res in types:
                if syncer.stop.is_set():
                    break
                if options.once or not syncer.state.versions.get(_group_kind(res)):
                    syncer.catch_up(res, pool)
        if options.once:
            done.set()
            syncer.phase = "once"
            syncer.beat()
            return SyncResult(syncer.state, tuple(syncer.findings), time.monotonic() - t0, True,
                              options.accept_blockers)
        syncer.phase = "watching"
        watched: set[str] = set()

        def watch_new(found: list[ApiResource]) -> None:
            for res in found:
                if _group_kind(res) not in watched:
                    watched.add(_group_kind(res))
                    threading.Thread(target=syncer.watch, args=(res,), name=f"watch-{_group_kind(res)}",
                                     daemon=True).start()

        watch_new(types)
        deadline = None if options.duration is None else time.monotonic() + options.duration
        rediscover = time.monotonic() + REDISCOVER_SECONDS
        while not syncer.stop.wait(0.2):
            if deadline is not None and time.monotonic() >= deadline:
                syncer.stop.set()
            if time.monotonic() >= rediscover:
                # A CRD created on blue since the start serves a new type: list it, then watch it.
                rediscover = time.monotonic() + REDISCOVER_SECONDS
                try:
                    watch_new(_types(source))
                except ApiError as e:
                    report({"event": "watch-error", "type": "discovery", "message": f"{e.detail or e.reason}"})
        done.set()
        syncer.phase = "stopped"
        syncer.beat()
        return SyncResult(syncer.state, tuple(syncer.findings), time.monotonic() - t0, False,
                          options.accept_blockers)
    except BaseException:
        done.set()
        syncer.phase = "stopped"
        try:
            syncer.beat()
        except OSError:
            pass
        raise
    finally:
        journal.close()
