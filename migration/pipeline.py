"""The migration as one call: inventory → transform → [volumes] → plan → apply → verify, and each stage alone.

Why here and not in the CLI: the order of the stages, what each one needs from
the previous one's artifacts, where the volume plan enters, when to stop
before apply, and which file holds what are decisions of the pipeline, not of
a command line. The CLI (``akshift/cmd_migrate.py``, ``akshift/cmd_volumes.py``)
parses options into a :class:`MigrateOptions` or :class:`VolumeOptions`, opens
the clients, calls *one* function of this module and prints the typed result.

The sequence of :func:`migrate`, and why in this order::

    inventory   source → snapshot/                       (only GET/LIST on the source)
    volume plan snapshot/ + target nodes → volumes-plan.json   (with move_volumes)
    transform   snapshot/ (+ the plan's PVs) → transformed/, written once: carried PVs already
                name their copies, whose ids the plan knows (DiskCopy.disk_id)
    move        stop writers (quiesce_source), copy disks, static PVs on the target
    plan        transformed/ → plan.json (dryRun=All); conflicts or rejections stop here
    apply       transformed/ → apply.json (+ journal)
    verify      volumes-verify.json (volumes first: a verified copy resolves its disk's
                finding), then verify.json + report.md

Each stage keeps its own artifacts (the single-stage functions below write the
same files), so a run can be resumed, inspected or finished stage by stage.
Progress is reported through a callback (:class:`Progress`): a context manager
per stage that receives the number of objects done.
"""
from __future__ import annotations

import contextlib
import dataclasses
import enum
import time
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import orjson

from errors import ErrorKind
from kube.client import KubeClient
from kube.errors import ObjectNameError
from kube.identity import ClusterIdentity, cluster_identity
from kube.objects import ObjectRef
from migration import blockers, stages, tempfiles
from migration.applier import Action, Outcome
from migration.errors import InventoryError, MigrationError, PlanError, SnapshotInputError
from migration.findings import AZURE_DISK, Finding, Severity
from migration.secrets import SecretKey
from migration.snapshot import Snapshot
from migration.verification import Verification, build_verification, write_verification
from migration.volumes import (
    MOVE_REPORT,
    PLAN_FILE,
    STATE_FILE,
    VERIFY_REPORT,
    DiskMover,
    MoveReport,
    VolumeMove,
    VolumeResult,
    VolumeState,
    VolumeStore,
    VolumeVerification,
    WriterResult,
)
from migration.volumes import move as volume_move
from migration.volumes import plan as volume_plan
from migration.volumes import report as volume_report
from migration.volumes import verify as volume_verify
from migration.volumes.model import COPY_GROUP_UNKNOWN, COPY_IN_NODE_GROUP, TargetFacts

Advance = Callable[[int], None]


class Stage(enum.StrEnum):
    """The stages of a migration, in order (the names of progress bars and of the result's keys)."""

    INVENTORY = "inventory"
    TRANSFORM = "transform"
    VOLUMES = "volumes"
    PLAN = "plan"
    APPLY = "apply"
    VERIFY = "verify"


class Progress(Protocol):
    """Receives progress: called once per stage with its total (None: unknown), it gives the advance function."""

    def __call__(self, stage: Stage, total: int | None) -> contextlib.AbstractContextManager[Advance]:
        ...


@contextlib.contextmanager
def no_progress(stage: Stage, total: int | None) -> Iterator[Advance]:
    """The default :class:`Progress`: reports nothing."""
    yield lambda n: None


# --------------------------------------------------------------------------- options


@dataclasses.dataclass(frozen=True, kw_only=True)
class MigrateOptions:
    """How to run the migration stages over one run directory.

    Attributes:
        out: the run directory (``snapshot/``, ``transformed/``, reports).
        namespaces, kinds, label_selector: what the inventory lists (empty: everything).
        exclude_secrets: leave Secrets out of the inventory (listed as excluded).
        overwrite: replace existing ``snapshot/`` and ``transformed/`` directories.
        force_conflicts: take over fields other managers own on the target.
        concurrency: requests in flight (the inventory uses at most 16).
        target_pod_cidr: the target's pod CIDR (default: inferred from its nodes).
        source_pod_cidr: the source's kubenet pod CIDR (default: read from its nodes' podCIDRs).
        node_pool_map: old node-pool name → new one (default: by pool mode).
        ready_timeout: seconds verify waits for workloads to become ready.
        move_volumes: carry PersistentVolume data too (volume plan, transform with it, move, verify).
        volume_resource_group: with move_volumes, where disk copies go (the green stack's
            ``diskCopyResourceGroup`` output); required when a disk is copied.
        quiesce_source: with move_volumes, stop the disks' writers on the source (undone by rollback).
        empty_volumes: a rehearsal: leave out the PVs on the source's Azure Disks and shares, so their claims
            start on new, empty volumes of the target (each reported as ``volume-data-not-copied``; verify
            records them and such a target is never vouched for to serve). Not with ``move_volumes``.
        release_timeout: seconds to wait for the source's pods to release a claim.
        volume_bind_timeout: seconds the volume verify waits for claims to bind on the target.
        allow_modified: accept object files of ``snapshot/`` or ``transformed/`` edited by hand since their
            stage wrote them (recorded in ``modified.json`` and the report); missing or extra files are
            refused all the same.
        accept_blockers: blocker finding codes the user accepts (``--accept-blockers``): objects held back
            only by these are planned and applied; the report records them.
        target_node_dns: where the target's pods send DNS (``localdns``, ``nodelocaldns``); default: detected
            on the target (LocalDNS node labels, a node-local-dns DaemonSet). Translated Calico policies
            that allow DNS also allow those addresses.
    """

    out: Path
    namespaces: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    label_selector: str | None = None
    exclude_secrets: bool = False
    overwrite: bool = False
    force_conflicts: bool = False
    concurrency: int = 32
    target_pod_cidr: str | None = None
    source_pod_cidr: str | None = None
    node_pool_map: Mapping[str, str] = dataclasses.field(default_factory=dict)
    ready_timeout: float = 120.0
    move_volumes: bool = False
    volume_resource_group: str | None = None
    quiesce_source: bool = False
    empty_volumes: bool = False
    release_timeout: float = 120.0
    volume_bind_timeout: float = 60.0
    allow_modified: bool = False
    accept_blockers: tuple[str, ...] = ()
    target_node_dns: str | None = None

    def __post_init__(self) -> None:
        if self.empty_volumes and self.move_volumes:
            raise PlanError("--empty-volumes (a rehearsal: claims start empty) and --move-volumes (carry the data) "
                            "contradict each other", ref="--empty-volumes",
                            fix="rehearse with --empty-volumes; carry the data with --move-volumes")
        object.__setattr__(self, "accept_blockers", blockers.normalize_codes(self.accept_blockers))
        object.__setattr__(self, "namespaces", tuple(self.namespaces))
        object.__setattr__(self, "kinds", tuple(self.kinds))
        object.__setattr__(self, "node_pool_map", types.MappingProxyType(dict(self.node_pool_map)))


@dataclasses.dataclass(frozen=True, kw_only=True)
class VolumeOptions:
    """How to plan, move, verify or roll back volumes in one run directory.

    Attributes:
        out: the run directory.
        resource_group: where snapshots and new disks go: the green stack's ``diskCopyResourceGroup`` output
            (None: unknown, and a plan with a disk to copy is refused; never the node resource group).
        zone_map: source zone label → target zone label (``""`` keys regional disks).
        quiesce_source: stop the disks' writers on the source (recorded; undone by rollback).
        release_timeout: seconds to wait for the source's pods to release a claim.
        bind_timeout: seconds verify waits for claims to bind on the target.
    """

    out: Path
    resource_group: str | None = None
    zone_map: Mapping[str, str] = dataclasses.field(default_factory=dict)
    quiesce_source: bool = False
    release_timeout: float = 120.0
    bind_timeout: float = 60.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "zone_map", types.MappingProxyType(dict(self.zone_map)))


# --------------------------------------------------------------------------- results


@dataclasses.dataclass(frozen=True)
class Inventoried:
    """What the inventory listed into ``snapshot/``."""

    path: Path
    objects: int
    types: int
    errors: tuple[str, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {"snapshot": str(self.path), "objects": self.objects, "types": self.types,
                "errors": list(self.errors), "seconds": round(self.seconds, 2)}


@dataclasses.dataclass(frozen=True)
class Transformed:
    """What the transform wrote into ``transformed/``.

    Attributes:
        volume_pvs: how many PVs it wrote as the volume plan's PVs (0 without a plan).
        carried: the names of those PVs.
        accepted: blocker codes the user accepts (``--accept-blockers``): their findings stay in the report
            but do not fail the stage.
    """

    path: Path
    kept: int
    excluded: int
    failed: tuple[str, ...]
    findings: tuple[Finding, ...]
    volume_pvs: int = 0
    carried: frozenset[str] = frozenset()
    accepted: frozenset[str] = frozenset()

    @property
    def blocking(self) -> bool:
        """A blocker needs a human — except a carried disk's: the planned `volumes move` is its remedy, and
        `verify`/`migrate` keep it open until `volumes verify` proves the copy (:func:`open_findings`). So the
        stage-by-stage path (transform, then volumes move) is not failed by the step the plan already names."""
        return any(f.severity is Severity.BLOCKER and f.code not in self.accepted
                   for f in open_findings(self.findings, self.carried))

    @property
    def ok(self) -> bool:
        return not self.failed and not self.blocking

    def to_dict(self, *, with_findings: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {"transformed": str(self.path), "kept": self.kept, "excluded": self.excluded,
                             "failed": list(self.failed), "volume_pvs": self.volume_pvs}
        d["findings"] = [f.to_dict() for f in self.findings] if with_findings else len(self.findings)
        return d


@dataclasses.dataclass(frozen=True)
class Outcomes:
    """What plan or apply did, per object (``plan.json``, ``apply.json``)."""

    stage: Stage
    outcomes: tuple[Outcome, ...]
    seconds: float = 0.0
    notes: tuple[str, ...] = ()
    accepted_blockers: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)

    @property
    def stops_apply(self) -> bool:
        """A plan with conflicts or rejections stops a migration before apply (blocked objects do not:
        they are held back one by one and the rest proceeds)."""
        return any(o.action in (Action.CONFLICT, Action.REJECTED) for o in self.outcomes)

    @property
    def blocked(self) -> list[Outcome]:
        """Objects held back by a blocker finding."""
        return [o for o in self.outcomes if o.action == Action.BLOCKED]

    def counts(self) -> dict[str, int]:
        """Action → how many objects, sorted by action."""
        counts: dict[str, int] = {}
        for o in self.outcomes:
            counts[str(o.action)] = counts.get(str(o.action), 0) + 1
        return dict(sorted(counts.items()))

    def problems(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def to_dict(self) -> dict[str, Any]:
        """The file's document: counts, notes (a journal set aside), every object, accepted blocker codes."""
        return {"counts": self.counts(), **({"notes": list(self.notes)} if self.notes else {}),
                "objects": [o.to_dict() for o in self.outcomes],
                "accepted_blockers": list(self.accepted_blockers)}


@dataclasses.dataclass(frozen=True)
class MigrateResult:
    """Everything :func:`migrate` did, stage by stage.

    Attributes:
        inventory, transform, plan: always run.
        volumes: the move (with ``move_volumes``), else None.
        apply: None when the plan had conflicts or rejections (nothing was applied).
        volume_checks: the volume verify (with ``move_volumes``, after apply), else None.
        verification: ``verify.json`` (after apply), else None.
        blocking: blocker findings still open after the volume verify resolved what it carried.
    """

    inventory: Inventoried
    transform: Transformed
    plan: Outcomes
    volumes: MoveReport | None = None
    apply: Outcomes | None = None
    volume_checks: VolumeVerification | None = None
    verification: Verification | None = None
    blocking: tuple[Finding, ...] = ()

    @property
    def stopped_before_apply(self) -> bool:
        return self.apply is None

    @property
    def ok(self) -> bool:
        """Nothing needs a human: every stage clean, every volume carried, no blocking finding."""
        return (self.inventory.ok and not self.transform.failed and self.plan.ok
                and self.apply is not None and self.apply.ok
                and self.verification is not None and self.verification.ok
                and (self.volume_checks is None or self.volume_checks.ok) and not self.blocking)

    def to_dict(self) -> dict[str, Any]:
        """Every stage's counts (what ``akshift migrate -o json`` prints)."""
        return {
            "ok": self.ok,
            "stopped_before_apply": self.stopped_before_apply,
            Stage.INVENTORY.value: {"objects": self.inventory.objects, "types": self.inventory.types,
                                    "errors": list(self.inventory.errors)},
            Stage.TRANSFORM.value: {"kept": self.transform.kept, "excluded": self.transform.excluded,
                                    "failed": list(self.transform.failed), "findings": len(self.transform.findings),
                                    "volume_pvs": self.transform.volume_pvs},
            Stage.VOLUMES.value: None if self.volumes is None else {
                "moved": self.volumes.counts(),
                "verified": None if self.volume_checks is None else {
                    "ok": self.volume_checks.ok, "claims": len(self.volume_checks.volumes),
                    "carried": sum(c.ok for c in self.volume_checks.volumes)}},
            Stage.PLAN.value: self.plan.counts(),
            Stage.APPLY.value: None if self.apply is None else self.apply.counts(),
            Stage.VERIFY.value: None if self.verification is None else {
                "ok": self.verification.ok, "counts": dict(self.verification.counts),
                "unaccounted": len(self.verification.unaccounted), "not_ready": len(self.verification.not_ready),
                "blocking_findings": self.verification.blocking_findings},
            "problems": [o.to_dict() for o in (self.apply or self.plan).problems()],
        }


# --------------------------------------------------------------------------- artifacts


def _write_json(path: Path, data: Any) -> None:
    _write_file(path, orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))


def _write_file(path: Path, data: bytes) -> None:
    """Write one artifact atomically (a kill leaves the old one or a hidden temporary, swept next time).

    Raises:
        SnapshotInputError: the run directory cannot be written (bad ``--out``).
    """
    try:
        tempfiles.write_atomic(path, data)
    except OSError as e:
        raise SnapshotInputError(f"cannot write {path} ({e.strerror or e})",
                                 fix="pass a writable run directory to --out") from e


def _write_outcomes(out: Path, result: Outcomes) -> None:
    _write_file(out / f"{result.stage.value}.json", orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2))


def open_findings(findings: Sequence[Finding], carried_pvs: frozenset[str]) -> tuple[Finding, ...]:
    """The findings still open: a disk whose data a verified volume move carried no longer needs a human."""
    return tuple(f for f in findings if not (f.code == AZURE_DISK and f.ref.name in carried_pvs))


# --------------------------------------------------------------------------- snapshot integrity

MODIFIED_FILE = "modified.json"  # object files accepted as hand-edited (--allow-modified), per stage
SNAPSHOT_MODIFIED = "snapshot-modified"


def intact(out: Path, stage: str, *, allow_modified: bool = False) -> list[str]:
    """Check ``<out>/<stage>`` against its index before a stage reads it; record accepted hand edits.

    Returns:
        The accepted modified files, as ``<stage>/<path>`` (empty without ``allow_modified``).

    Raises:
        SnapshotInputError: no such directory or index; SnapshotIntegrityError: a file changed (without
            ``allow_modified``), missing or extra (bad input, naming the files).
    """
    return checked(out, stage, allow_modified=allow_modified)[1]


def checked(out: Path, stage: str, *, allow_modified: bool = False) -> tuple[Snapshot, list[str]]:
    """:func:`intact`, and the checked snapshot: it reads the files it found unchanged from its cache
    without reading them again (:meth:`migration.snapshot.Snapshot.read`)."""
    snap = Snapshot(out / stage)
    changed = snap.check_intact(allow_modified=allow_modified)
    if changed:
        recorded = _modified(out)
        recorded[stage] = sorted(set(recorded.get(stage, [])) | set(changed))
        _write_json(out / MODIFIED_FILE, recorded)
    return snap, [f"{stage}/{p}" for p in changed]


def _modified(out: Path) -> dict[str, list[str]]:
    try:
        data = orjson.loads((out / MODIFIED_FILE).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return {k: [str(p) for p in v] for k, v in data.items() if isinstance(v, list)} if isinstance(data, dict) else {}


def modified_findings(out: Path) -> list[Finding]:
    """One warning per object file accepted as hand-edited in this run (for the report)."""
    found = []
    for stage, paths in sorted(_modified(out).items()):
        for p in paths:
            try:
                ref = ObjectRef.from_path(p)
            except ObjectNameError:  # a hashed path: the finding still names the file
                ref = ObjectRef("", "file", "", p)
            found.append(Finding(SNAPSHOT_MODIFIED, Severity.WARNING, ref,
                                 f"{stage}/{p} was edited by hand after its stage wrote it (accepted with "
                                 "--allow-modified)", "review the edit: it is carried as it is", path=""))
    return found


# --------------------------------------------------------------------------- cluster identity

SOURCE_FILE = "source.json"  # the source's identity, written by the inventory, read before any write


class TargetIsSourceError(MigrationError):
    """The cluster given as the target is the source (the same kube-system UID, or the same server and CA)."""

    kind = ErrorKind.BAD_INPUT


def _recorded_source(out: Path) -> ClusterIdentity | None:
    try:
        return ClusterIdentity.from_dict(orjson.loads((out / SOURCE_FILE).read_bytes()))
    except (OSError, orjson.JSONDecodeError):
        return None  # no inventory yet, or from a release that did not record it


def check_target(target: KubeClient, out: Path, source: KubeClient | None = None) -> ClusterIdentity:
    """Refuse a target that is the source cluster, before anything is written to it.

    Args:
        target: the cluster about to be written.
        out: the run directory (``source.json`` names the source of its inventory).
        source: the source client, when the command has one.

    Returns:
        The target's identity (the apply journal records it).

    Raises:
        TargetIsSourceError: the target is the source, under whatever name (bad input, nothing written).
        ApiError: the target is unreachable.
    """
    ident = cluster_identity(target)
    src = cluster_identity(source) if source is not None else _recorded_source(out)
    if src is not None and src.same_cluster(ident):
        raise TargetIsSourceError(
            f"the target {ident.describe()} is the source cluster {src.describe()}: refusing to write to it",
            fix="pass the new cluster's kubeconfig/context as --target")
    return ident


# --------------------------------------------------------------------------- stages


def inventory(source: KubeClient, *, options: MigrateOptions, secret_key: SecretKey | None,
              progress: Progress = no_progress) -> Inventoried:
    """List the source into ``<out>/snapshot`` (only GET/LIST requests).

    Raises:
        SecretKeyError: Secrets would be written without a key.
        SnapshotInputError: ``snapshot/`` exists without ``overwrite``.
        ApiError: discovery failed (unreachable or unauthorized source).
    """
    with progress(Stage.INVENTORY, None) as advance:
        s = stages.inventory(source, options.out / "snapshot", namespaces=list(options.namespaces) or None,
                             kinds=list(options.kinds) or None, label_selector=options.label_selector,
                             secret_key=secret_key, exclude_secrets=options.exclude_secrets,
                             overwrite=options.overwrite, concurrency=min(options.concurrency, 16), progress=advance)
    _write_json(options.out / SOURCE_FILE, cluster_identity(source).to_dict())
    (options.out / MODIFIED_FILE).unlink(missing_ok=True)  # a new snapshot: earlier hand edits are gone
    return Inventoried(s.path, s.objects, s.types, tuple(s.errors), s.seconds)


def _volume_inputs(out: Path, moves: Sequence[VolumeMove]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """What the transform needs of the volume plan and state: the green PVs, the stopped writers' values."""
    return volume_plan.planned_pvs(moves), VolumeStore(out / STATE_FILE).load().quiesced()


def _transform(target: KubeClient | None, options: MigrateOptions, secret_key: SecretKey | None,
               progress: Progress, moves: Sequence[VolumeMove] | None) -> Transformed:
    out = options.out
    snap, _ = checked(out, "snapshot", allow_modified=options.allow_modified)
    nodes = [snap.read(p) for p in snap.paths(include_secrets=False) if p.startswith("_cluster/core.Node/")]
    # A rehearsal's claims start empty: a volume plan in the run directory carries nothing into it.
    pvs, quiesced = _volume_inputs(out, moves) if moves is not None and not options.empty_volumes else ({}, {})
    ctx = stages.build_context(nodes, target, snap, target_pod_cidr=options.target_pod_cidr,
                               source_pod_cidr=options.source_pod_cidr,
                               node_pool_map=dict(options.node_pool_map) or None, volume_pvs=pvs,
                               quiesced_writers=quiesced, target_node_dns=options.target_node_dns,
                               empty_volumes=options.empty_volumes)
    with progress(Stage.TRANSFORM, len(snap.paths())) as advance:
        t = stages.transform_snapshot(snap, out / "transformed", ctx, secret_key=secret_key,
                                      overwrite=options.overwrite, progress=advance)
    carried = frozenset(p.rsplit("/", 1)[-1].removesuffix(".yaml") for p in snap.paths(include_secrets=False)
                        if p.startswith("_cluster/core.PersistentVolume/")
                        and p.rsplit("/", 1)[-1].removesuffix(".yaml") in pvs)
    return Transformed(t.path, t.kept, t.excluded, tuple(t.failed), tuple(t.findings), len(carried), carried,
                       frozenset(options.accept_blockers))  # normalized by MigrateOptions


def transform(target: KubeClient | None, *, options: MigrateOptions, secret_key: SecretKey | None,
              progress: Progress = no_progress) -> Transformed:
    """Sanitize and rewrite ``snapshot/`` into ``transformed/`` (no cluster is written); write ``report.md``.

    When the run has a volume plan (``volumes-plan.json``, from ``akshift volumes plan``), the PVs it
    carries are written as the PVs it puts on the target (pointing at the copies), and workloads a
    volume move stopped on the source get their recorded replicas back.

    Args:
        target: the new cluster, for its served versions, node pools and pod CIDR; None to infer less.
        options: ``out``, ``overwrite``, ``target_pod_cidr``, ``node_pool_map``.
        secret_key: decrypts and re-encrypts the Secrets.

    Raises:
        InventoryError: no snapshot, or ``transformed/`` exists without ``overwrite``.
        PlanError: a bad CIDR, or an unusable volume plan or state file.
    """
    t = _transform(target, options, secret_key, progress, _run_plan(options.out))
    stages.write_report(options.out, [*t.findings, *modified_findings(options.out)], None, "akshift findings")
    return t


def _run_plan(out: Path) -> list[VolumeMove] | None:
    """The run's volume plan, None when it has none."""
    return volume_plan.read_plan(out)[0] if (out / PLAN_FILE).exists() else None


def _edited_notes(edited: Sequence[str]) -> tuple[str, ...]:
    return tuple(f"{p} was edited by hand (accepted with --allow-modified)" for p in edited)


def _blocked(options: MigrateOptions) -> dict[str, str]:
    """What plan and apply hold back: objects with a blocker finding the user did not accept.

    PVs the run's volume plan carries are not held back for their disk blocker (the move applies them).
    """
    findings = list(Snapshot(options.out / "transformed").findings())
    moves = _run_plan(options.out)
    carried = volume_plan.planned_pvs(moves).keys() if moves else ()
    return blockers.blocked_objects(findings, accepted=options.accept_blockers, carried_pvs=carried)


def _applied_blocks(options: MigrateOptions) -> tuple[dict[str, str], tuple[str, ...]]:
    """What the run's apply held back and which blocker codes it accepted (``apply.json``); before any
    apply, what it would hold back with ``options.accept_blockers``."""
    path = options.out / f"{Stage.APPLY.value}.json"
    if path.exists():
        doc = orjson.loads(path.read_bytes())
        return blockers.from_outcomes(doc.get("objects") or ()), blockers.accepted_at_apply(doc)
    return _blocked(options), options.accept_blockers


def _ensure_transformed(target: KubeClient, options: MigrateOptions, secret_key: SecretKey | None,
                        progress: Progress) -> None:
    if not (options.out / "transformed").exists():
        _transform(target, dataclasses.replace(options, overwrite=False), secret_key, progress,
                   _run_plan(options.out))


def plan(target: KubeClient, *, options: MigrateOptions, secret_key: SecretKey | None,
         progress: Progress = no_progress) -> Outcomes:
    """Dry-run ``transformed/`` against the target (transforming first when there is none); write ``plan.json``.

    Raises:
        InventoryError: no snapshot to transform.
        TargetIsSourceError: the target is the cluster the inventory listed.
    """
    t0 = time.monotonic()
    check_target(target, options.out)
    _ensure_transformed(target, options, secret_key, progress)
    transformed, edited = checked(options.out, "transformed", allow_modified=options.allow_modified)
    with progress(Stage.PLAN, len(transformed.paths())) as advance:
        planned = stages.plan(target, transformed, secret_key=secret_key,
                              force_conflicts=options.force_conflicts, concurrency=options.concurrency,
                              progress=advance, blocked=_blocked(options))
    result = Outcomes(Stage.PLAN, tuple(planned), time.monotonic() - t0, notes=_edited_notes(edited),
                      accepted_blockers=options.accept_blockers)
    _write_outcomes(options.out, result)
    return result


def apply(target: KubeClient, *, options: MigrateOptions, secret_key: SecretKey | None,
          progress: Progress = no_progress) -> Outcomes:
    """Server-side apply ``transformed/`` in tier order (transforming first when there is none); write ``apply.json``.

    Resumable: ``apply-journal.jsonl`` records what is done, and for which target: a journal of another
    (or a recreated) cluster is set aside and everything is applied again (said in ``notes``).

    Objects with a blocker finding are held back (``blocked``) unless ``options.accept_blockers`` names
    every blocker code they have.

    Raises:
        TargetIsSourceError: the target is the cluster the inventory listed (nothing is written).
        JournalError: the journal has an unreadable line.
    """
    t0 = time.monotonic()
    identity = check_target(target, options.out)
    _ensure_transformed(target, options, secret_key, progress)
    transformed, edited = checked(options.out, "transformed", allow_modified=options.allow_modified)
    notes = list(_edited_notes(edited))
    with progress(Stage.APPLY, len(transformed.paths())) as advance:
        applied = stages.apply(target, transformed, options.out / "apply-journal.jsonl",
                               secret_key=secret_key, force_conflicts=options.force_conflicts,
                               concurrency=options.concurrency, progress=advance, target_identity=identity,
                               notes=notes, blocked=_blocked(options))
    result = Outcomes(Stage.APPLY, tuple(applied), time.monotonic() - t0, notes=tuple(notes),
                      accepted_blockers=options.accept_blockers)
    _write_outcomes(options.out, result)
    return result


def verify(target: KubeClient, *, options: MigrateOptions, secret_key: SecretKey | None,
           progress: Progress = no_progress, carried_pvs: frozenset[str] | None = None) -> Verification:
    """Account for every source object on the target; write ``verify.json``, ``report.md`` and ``report.json``.

    Args:
        target: the new cluster (only read).
        options: ``out``, ``ready_timeout``, ``concurrency``.
        secret_key: decrypts the Secrets to compare them.
        progress: the progress callback.
        carried_pvs: PVs whose data a verified volume move carried (their disk findings are resolved);
            None (`akshift verify`): checked here, read-only, when the run has a volume plan — otherwise a
            stand-alone verify after `volumes move` kept every carried disk's blocker open and the
            cutover's preflight refused green (found by running the sandbox walkthrough).

    Returns:
        The verification, as written.
    """
    out = options.out
    if carried_pvs is None:
        carried_pvs = frozenset()
        if (out / PLAN_FILE).exists() and (out / STATE_FILE).exists():
            moves, _ = volume_plan.read_plan(out)
            checks = volume_verify.verify_volumes(target, moves, VolumeStore(out / STATE_FILE).load(),
                                                  timeout=options.volume_bind_timeout)
            carried_pvs = VolumeVerification(tuple(checks)).carried_pvs()
    source, _ = checked(out, "snapshot", allow_modified=options.allow_modified)
    transformed, _ = checked(out, "transformed", allow_modified=options.allow_modified)
    held, accepted = _applied_blocks(options)
    with progress(Stage.VERIFY, len(transformed.paths())) as advance:
        report = stages.verify(target, source, transformed, secret_key=secret_key,
                               ready_timeout=options.ready_timeout, concurrency=options.concurrency,
                               progress=advance, blocked=held)
    findings = open_findings([*transformed.findings(), *modified_findings(out)], carried_pvs)
    # A blocker the user accepted at apply (--accept-blockers, recorded in apply.json) is a decision made, not
    # an open question: it stays in the report (with "accepted") but does not count against the verification.
    accepted_codes = frozenset(blockers.normalize_codes(accepted))
    verification = build_verification(results=report.results, unaccounted=report.unaccounted,
                                      not_ready=report.not_ready, ok=report.ok, snapshot_digest=transformed.digest,
                                      findings=[f for f in findings if f.severity is not Severity.BLOCKER
                                                or f.code not in accepted_codes])
    write_verification(out, verification)
    stages.write_report(out, findings, report.results, "akshift migration report", accepted_blockers=accepted)
    return verification


# --------------------------------------------------------------------------- volumes


def _facts(target: KubeClient | None, options: VolumeOptions) -> TargetFacts:
    if target is None:
        return TargetFacts(resource_group=options.resource_group, zone_map=dict(options.zone_map), known=False)
    return volume_plan.target_facts(target.get("/api/v1/nodes").get("items", []),
                                    resource_group=options.resource_group, zone_map=dict(options.zone_map))


def plan_volumes(target: KubeClient | None, *, options: VolumeOptions) -> list[VolumeMove]:
    """Decide per claim how its data reaches the target; write ``volumes-plan.json`` (nothing else is written).

    Run it before the transform: ``akshift transform`` reads the plan and writes the carried PVs as
    the PVs the plan puts on the target.

    Raises:
        PlanError: no snapshot in the run directory (bad input).
    """
    if (options.out / "snapshot").exists():
        intact(options.out, "snapshot")
    facts = _facts(target, options)
    try:
        moves = volume_plan.plan_from_snapshot(options.out / "snapshot", facts)
    except InventoryError as e:
        raise PlanError(f"{e}", fix=f"run `akshift inventory --out {options.out}` first") from e
    # Disks to copy and nowhere safe to put them: refuse before any plan is written, naming the flag.
    refused = {f.code: f for m in moves for f in m.findings if f.code in (COPY_GROUP_UNKNOWN, COPY_IN_NODE_GROUP)}
    if refused:
        claims = sorted(m.key for m in moves if any(f.code in refused for f in m.findings))
        why = ("is green's node resource group (or named like one), which AKS deletes with the cluster"
               if COPY_IN_NODE_GROUP in refused else "is not known: akshift never defaults to green's node resource "
               "group, which AKS deletes with the cluster (and the copies and lineage snapshots with it)")
        raise PlanError(f"the resource group for the disk copies of {', '.join(claims)} {why}",
                        ref="--target-resource-group", fix=volume_plan.COPY_GROUP_FIX)
    volume_plan.write_plan(options.out, moves, facts)
    _write_volumes_report(options.out, moves, "plan")
    return moves


def _write_volumes_report(out: Path, moves: Sequence[VolumeMove], stage: str,
                          results: Sequence[VolumeResult] = ()) -> None:
    """Rewrite ``volumes-report.md`` (the lineage graph) with what the run knows after ``stage``.

    An unreadable state file draws the plan alone: the report never fails the command (``move`` and
    ``verify`` refuse such a file themselves, naming it).
    """
    try:
        state = VolumeStore(out / STATE_FILE).load()
    except PlanError:
        state = VolumeState()
    text = volume_report.render_markdown(moves, state, results, stage=stage)
    tempfiles.write_atomic(out / volume_report.REPORT_FILE, text.encode())


def stale_transformed(out: Path, moves: Sequence[VolumeMove]) -> list[str]:
    """PVs of ``transformed/`` that are not the PVs the plan puts on the target (empty when none, or no transform).

    A transform made without the plan (or with another one) still carries the source PVs, pointing at
    the old disks; applied, they would bind green's claims to disks green must not attach.
    """
    if not (out / "transformed").exists():
        return []
    snap = Snapshot(out / "transformed")
    present = set(snap.paths(include_secrets=False))
    stale = []
    for name, pv in sorted(volume_plan.planned_pvs(moves).items()):
        path = ObjectRef.of(pv).path
        if path in present and snap.read(path) != pv:
            stale.append(name)
    return stale


def move_volumes(source: KubeClient, target: KubeClient, *, options: VolumeOptions,
                 disk_mover: DiskMover) -> MoveReport:
    """Carry the planned volumes (planning first when there is no plan); write ``volumes-move.json``.

    Raises:
        PlanError: ``transformed/`` was written without this plan (re-run the transform), the run
            was rolled back, or the plan or state file is unusable.
    """
    out = options.out
    check_target(target, out, source)
    if (out / PLAN_FILE).exists():
        moves, _ = volume_plan.read_plan(out)
    else:
        moves = plan_volumes(target, options=dataclasses.replace(options, zone_map={}))
    if (out / "transformed").exists():
        intact(out, "transformed")
    stale = stale_transformed(out, moves)
    if stale:
        shown = ", ".join(stale[:5]) + (f" and {len(stale) - 5} more" if len(stale) > 5 else "")
        raise PlanError(f"{out / 'transformed'} was written without this volume plan: PersistentVolume {shown} "
                        "still differ from the PVs the plan puts on green (applied, they would bind green's claims "
                        "to the old disks)",
                        fix=f"re-run `akshift transform --overwrite --out {out}` (it reads {PLAN_FILE}), then "
                            "`akshift volumes move`")
    report = volume_move.move_volumes(source, target, moves, VolumeStore(out / STATE_FILE), disk_mover,
                                      quiesce_source=options.quiesce_source,
                                      release_timeout=options.release_timeout)
    _write_json(out / MOVE_REPORT, report.to_dict())
    _write_volumes_report(out, moves, "move", report.volumes)
    return report


def verify_volumes(target: KubeClient, *, options: VolumeOptions) -> VolumeVerification:
    """Check every planned claim is Bound on the target to a volume carrying the source's data; write
    ``volumes-verify.json``.

    Raises:
        PlanError: no volume plan, or an unusable state file.
    """
    moves, _ = volume_plan.read_plan(options.out)
    checks = volume_verify.verify_volumes(target, moves, VolumeStore(options.out / STATE_FILE).load(),
                                          timeout=options.bind_timeout)
    result = VolumeVerification(tuple(checks))
    _write_json(options.out / VERIFY_REPORT, result.to_dict())
    _write_volumes_report(options.out, moves, "verify", result.volumes)
    return result


def rollback_volumes(source: KubeClient, *, options: VolumeOptions) -> list[WriterResult]:
    """Restart the writers a volume move stopped on the source, with their exact previous counts.

    Raises:
        PlanError: the run has no state file (nothing was stopped), or it is unusable.
    """
    store = VolumeStore(options.out / STATE_FILE)
    if not store.exists():
        raise PlanError(f"{store.path} does not exist: `akshift volumes move` stopped nothing in this run")
    return volume_move.rollback(source, store)


# --------------------------------------------------------------------------- the whole migration


def migrate(source: KubeClient, target: KubeClient, *, options: MigrateOptions, secret_key: SecretKey | None,
            disk_mover: DiskMover | None = None, progress: Progress = no_progress) -> MigrateResult:
    """Every stage, in order; stops before apply when the plan has conflicts or rejections.

    Args:
        source: the old cluster (only read — unless ``move_volumes`` and ``quiesce_source`` stop writers).
        target: the new cluster.
        options: the run's options.
        secret_key: encrypts Secrets at inventory and decrypts them later (None with ``exclude_secrets``).
        disk_mover: the Azure side of volume moves; required with ``options.move_volumes``.
        progress: the progress callback.

    Returns:
        What each stage did. ``ok`` only when nothing needs a human.

    Raises:
        SecretKeyError, SnapshotInputError, PlanError: bad input, before the stage that needs it writes.
        ApiError: a cluster is unreachable or refuses the credentials.
    """
    if options.move_volumes and disk_mover is None:
        raise PlanError("moving volumes needs a disk mover", fix="pass --disk-mover pulumi or sandbox")
    out = options.out
    check_target(target, out, source)
    inv = inventory(source, options=options, secret_key=secret_key, progress=progress)
    moves: list[VolumeMove] | None = None
    volume_options = VolumeOptions(out=out, resource_group=options.volume_resource_group,
                                   quiesce_source=options.quiesce_source,
                                   release_timeout=options.release_timeout, bind_timeout=options.volume_bind_timeout)
    if options.move_volumes:
        moves = plan_volumes(target, options=volume_options)
    t = _transform(target, options, secret_key, progress, moves)
    moved = None
    if options.move_volumes:
        assert disk_mover is not None  # checked above
        with progress(Stage.VOLUMES, len(moves or ())) as advance:
            moved = move_volumes(source, target, options=volume_options, disk_mover=disk_mover)
            advance(len(moved.volumes))
    planned = plan(target, options=options, secret_key=secret_key, progress=progress)
    if planned.stops_apply:
        stages.write_report(out, [*t.findings, *modified_findings(out)], stages.outcomes_to_results(planned.outcomes),
                            "akshift plan (not applied)", accepted_blockers=options.accept_blockers)
        return MigrateResult(inv, t, planned, moved,
                             blocking=blockers.open_blockers(t.findings, options.accept_blockers))
    applied = apply(target, options=options, secret_key=secret_key, progress=progress)
    checks = verify_volumes(target, options=volume_options) if options.move_volumes else None
    carried = checks.carried_pvs() if checks is not None else frozenset()
    verification = verify(target, options=options, secret_key=secret_key, progress=progress, carried_pvs=carried)
    blocking = blockers.open_blockers(open_findings(t.findings, carried), options.accept_blockers)
    return MigrateResult(inv, t, planned, moved, applied, checks, verification, blocking)


__all__ = ["MODIFIED_FILE", "SOURCE_FILE", "intact", "modified_findings", "TargetIsSourceError", "check_target", "Inventoried", "MigrateOptions", "MigrateResult", "Outcomes", "Progress", "Stage", "Transformed",
           "VolumeOptions", "apply", "inventory", "migrate", "move_volumes", "no_progress", "open_findings", "plan",
           "plan_volumes", "rollback_volumes", "stale_transformed", "transform", "verify", "verify_volumes"]
