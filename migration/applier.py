"""Plan and apply objects on the target: server-side dry run, then server-side apply, tier by tier, resumable.

Why shaped so:

* **Plan** asks the target itself (``dryRun=All``): admission webhooks,
  validation, quota and missing CRDs answer before anything is written, and
  "unchanged" is what the server would store, not a guess of ours.
* **Apply** is server-side apply with our own field manager: idempotent (a
  second run writes nothing), and fields owned by another manager are a
  *conflict* we report instead of overwriting — unless ``force_conflicts``.
* Order comes from ``kube.order`` (a data table); objects within a tier
  go out concurrently. CRDs are waited for until Established before the
  custom resources that need them, ResourceQuotas until their ``status.hard``
  is filled in, and the backends of fail-closed webhooks, APIServices and
  conversion webhooks until Ready (``migration.readiness``).
* Each object stays itself: the source's field managers are restored and its
  ownerReferences re-pointed to the target's uids (``migration.identity``).
* A **journal** (one JSON line per finished object, flushed as written) lets a
  run killed at any point resume: finished objects with the same content
  digest are skipped; anything else is simply applied again, which SSA makes
  safe.
"""
from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import enum
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from errors import ErrorKind
from kube.client import KubeClient
from kube.errors import ApiError
from kube.identity import ClusterIdentity
from kube.objects import ObjectRef
from migration import identity, readiness
from migration.errors import ApplyError
from migration.verify import declared_diff

FIELD_MANAGER = "akshift"

# Fields the server owns or rewrites on every object; never part of a comparison.
VOLATILE_METADATA = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink")


def digest(obj: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def comparable(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without server-volatile metadata and without status."""
    out = {k: v for k, v in obj.items() if k != "status"}
    md = {k: v for k, v in obj.get("metadata", {}).items() if k not in VOLATILE_METADATA}
    out["metadata"] = md
    return out


class Action(enum.StrEnum):
    """What plan or apply did with one object (the ``action`` of plan.json, apply.json and the journal)."""

    # plan (dry run)
    CREATE = "create"
    UPDATE = "update"
    REJECTED = "rejected"
    # apply
    CREATED = "created"
    UPDATED = "updated"
    FAILED = "failed"
    SKIPPED = "skipped"
    # both
    UNCHANGED = "unchanged"
    CONFLICT = "conflict"
    BLOCKED = "blocked"  # held back by a blocker finding (migration/blockers.py); nothing was sent

    @property
    def ok(self) -> bool:
        """Whether the object needs no human (conflicts, rejections, failures and blocked objects do)."""
        return self not in (Action.CONFLICT, Action.REJECTED, Action.FAILED, Action.BLOCKED)


# What a resumed apply may skip: objects the journal records as in place.
DONE_ACTIONS = frozenset({Action.CREATED, Action.UPDATED, Action.UNCHANGED})


@dataclasses.dataclass
class Outcome:
    """What happened to one object: its :class:`Action`, and the server's message when it failed."""

    key: str
    ref: str
    action: Action
    message: str = ""
    status: int = 0
    digest: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)  # flat fields: no need for asdict's deep copy on the hot path

    @property
    def ok(self) -> bool:
        return Action(self.action).ok


def plan_object(client: KubeClient, obj: dict[str, Any], *, field_manager: str = FIELD_MANAGER,
                force_conflicts: bool = False) -> Outcome:
    """Classify one object against the target with a server-side dry run (nothing is written)."""
    r = ObjectRef.of(obj)
    key, ref = r.key, str(r)
    try:
        sent = identity.body(obj)
        live = client.read(sent)
        dry = client.apply(sent, field_manager=field_manager, force=force_conflicts, dry_run=True)
    except ApiError as e:
        if e.status == 409:
            return Outcome(key, ref, Action.CONFLICT, f"{e.detail} — another manager owns these fields; "
                           "re-run with --force-conflicts to take them over", 409, digest(obj))
        return Outcome(key, ref, Action.REJECTED, f"{e.detail or e.reason} (HTTP {e.status})", e.status, digest(obj))
    if live is None:
        return Outcome(key, ref, Action.CREATE, digest=digest(obj))
    if comparable(dry) == comparable(live):
        return Outcome(key, ref, Action.UNCHANGED, digest=digest(obj))
    return Outcome(key, ref, Action.UPDATE, digest=digest(obj))


class JournalError(ApplyError):
    """The apply journal cannot be read (a line that is not a JSON object, an unreadable file)."""

    kind = ErrorKind.BAD_INPUT


class Journal:
    """Append-only record of finished objects; the memory of a resumable apply.

    Its first line names the target it belongs to (``{"target": <ClusterIdentity>}``): a journal of
    another cluster, of a recreated one (a new kube-system UID) or of no recorded cluster is set
    aside as ``<name>.previous`` and the apply starts afresh (:attr:`restarted` says why), so a rerun
    into a new target re-applies everything instead of skipping it.

    A torn last line (the process was killed mid-write) is ignored on read; any other line that is
    not a JSON object is bad input naming the file and the line.
    """

    def __init__(self, path: Path, target: ClusterIdentity | None = None):
        """Open (or start) the journal.

        Raises:
            JournalError: a line other than the last is not a JSON object (bad input).
        """
        self.path = path
        self.done: dict[str, str] = {}
        self.restarted = ""
        recorded: ClusterIdentity | None = None
        if path.exists():
            try:
                lines = path.read_bytes().splitlines()
            except OSError as e:
                raise JournalError(f"cannot read {path}: {e.strerror or e}") from e
            for n, line in enumerate(lines, 1):
                try:
                    entry = orjson.loads(line)
                except orjson.JSONDecodeError:
                    entry = None
                if not isinstance(entry, dict):
                    if n == len(lines):
                        continue  # torn by a kill mid-write
                    raise JournalError(f"{path} line {n}: not a JSON object (an undecodable or edited line)",
                                       fix=f"delete {path} to apply everything again (server-side apply makes "
                                           "that safe)")
                if n == 1 and "target" in entry:
                    recorded = ClusterIdentity.from_dict(entry["target"])
                elif entry.get("action") in DONE_ACTIONS and isinstance(entry.get("key"), str):
                    self.done[entry["key"]] = str(entry.get("digest", ""))
        fresh = not path.exists()
        if target is not None and path.exists() and (recorded is None or not recorded.same_cluster(target)):
            was = recorded.describe() if recorded else "no recorded cluster"
            self.restarted = (f"{path.name} belongs to {was}, not to this target {target.describe()}: "
                              f"starting afresh (the old journal is kept as {path.name}.previous)")
            os.replace(path, path.with_name(path.name + ".previous"))
            self.done = {}
            fresh = True
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        # Unbuffered binary appends: each finished object is on disk (in the page cache) before the
        # next is reported, so a SIGKILL loses at most the line being written.
        self._fh = open(path, "ab", buffering=0)
        if fresh and target is not None:
            self._fh.write(orjson.dumps({"target": target.to_dict()}) + b"\n")

    @property
    def resumed(self) -> bool:
        """Whether this apply continues an earlier one (the journal records finished objects)."""
        return bool(self.done)

    def finished(self, key: str, dig: str) -> bool:
        return self.done.get(key) == dig

    def record(self, outcome: Outcome) -> None:
        line = orjson.dumps(outcome.to_dict(), option=orjson.OPT_SORT_KEYS) + b"\n"
        with self._lock:
            self._fh.write(line)

    def close(self) -> None:
        self._fh.close()


def apply_object(client: KubeClient, obj: dict[str, Any], *, field_manager: str = FIELD_MANAGER,
                 force_conflicts: bool = False, rewrites: Sequence[str] = (),
                 owners: identity.OwnerCache | None = None) -> Outcome:
    """Server-side apply one object and say what happened.

    ``created`` when the server answers 201; otherwise ``updated`` when our
    manager's managedFields entry carries the time of this very answer (the
    server's own ``Date`` header, so client clock skew does not matter), else
    ``unchanged``: a no-op apply is not persisted and keeps the old time.

    An object carrying the source's identity (managedFields, ownerReferences;
    :mod:`migration.identity`) is first read: when the target already holds
    every field it declares, nothing is written (``unchanged`` — re-applying
    would make akshift co-own every field again). Otherwise it is applied with
    the owners that exist now re-pointed to their target uids, then its source
    field managers are restored.

    Args:
        rewrites: JSON pointers akshift's rules set on this object (only these stay akshift's).
        owners: looks up owners' target uids; None leaves ownerReferences out.
    """
    r = ObjectRef.of(obj)
    key, ref, dig = r.key, str(r), digest(obj)
    meta: dict[str, Any] = {}
    restoring = identity.has_identity(obj)
    try:
        resolved, uid_map, _ = identity.resolve_owners(obj, owners) if owners is not None else ([], {}, True)
        sent = identity.body(obj, resolved)
        force = force_conflicts
        if restoring:
            live = client.read(sent)
            if live is not None and not declared_diff({k: v for k, v in sent.items() if k != "status"}, live):
                return Outcome(key, ref, Action.UNCHANGED, status=200, digest=dig)
            # A copy an earlier run restored: its fields belong to the source's own managers, whose change
            # this is; only a manager foreign to the source (someone edited the target) is a conflict.
            force = force or (live is not None and identity.held_by_source_managers(live, obj, field_manager))
        after = _apply_settling(client, sent, field_manager, force, meta)
        if restoring:
            identity.restore(client, obj, rewrites, manager=field_manager, uid_map=uid_map)
    except ApiError as e:
        if e.status == 409:
            return Outcome(key, ref, Action.CONFLICT, f"{e.detail} — not overwritten; re-run with --force-conflicts "
                           "to take ownership", 409, dig)
        return Outcome(key, ref, Action.FAILED, f"{e.detail or e.reason} (HTTP {e.status})", e.status, dig)
    if meta.get("status") == 201:
        return Outcome(key, ref, Action.CREATED, status=201, digest=dig)
    changed = _changed_now(after, field_manager, meta.get("date", ""))
    return Outcome(key, ref, Action.UPDATED if changed else Action.UNCHANGED, status=200, digest=dig)


def _apply_settling(client: KubeClient, obj: dict[str, Any], field_manager: str, force: bool,
                    meta: dict[str, Any]) -> dict[str, Any]:
    # Quotas no longer need a retry on their error text: run_tiers applies them after what they govern
    # and waits until their status.hard is filled in (migration/readiness.py).
    return client.apply(obj, field_manager=field_manager, force=force, meta=meta)


def _changed_now(obj: dict[str, Any], manager: str, date_header: str) -> bool:
    from email.utils import parsedate_to_datetime

    try:
        now = parsedate_to_datetime(date_header)
    except (TypeError, ValueError):
        return True  # cannot tell: say "updated", the cautious answer
    for entry in obj.get("metadata", {}).get("managedFields", []):
        if entry.get("manager") == manager and entry.get("operation") == "Apply":
            from datetime import datetime

            t = datetime.fromisoformat(entry.get("time", "1970-01-01T00:00:00Z").replace("Z", "+00:00"))
            return abs((now - t).total_seconds()) <= 1
    return False  # we own no field of it (an object with only a name): nothing of ours can have changed


def wait_established(client: KubeClient, crds: Iterable[dict[str, Any]], timeout: float = 60.0) -> list[str]:
    """Wait until each CRD reports Established; returns the names that did not in time."""
    pending = {c["metadata"]["name"] for c in crds}
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for name in sorted(pending):
            try:
                crd = client.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
            except ApiError:
                continue
            if any(c["type"] == "Established" and c["status"] == "True" for c in (crd.get("status") or {}).get("conditions") or []):
                pending.discard(name)
        if pending:
            time.sleep(0.2)
    if not pending:
        client.resources(refresh=True)
    return sorted(pending)


def run_tiers(
    client: KubeClient,
    tiers: list[list[dict[str, Any]]],
    step: Callable[[dict[str, Any]], Outcome],
    *,
    concurrency: int = 16,
    journal: Journal | None = None,
    on_done: Callable[[Outcome], None] | None = None,
    wait_crds: bool = True,
    backend_timeout: float = 60.0,
) -> list[Outcome]:
    """Run ``step`` over every object, tier after tier, concurrently within a tier.

    With ``wait_crds`` (apply, not plan): before a tier, the backends of the admission webhooks,
    APIServices and CRD conversion webhooks it holds or uses are waited for until Ready (at most
    ``backend_timeout`` per tier; a backend that never is gets a ``failed`` outcome of its own and
    the objects are applied anyway); after a tier, its CRDs are waited for until Established and
    its ResourceQuotas until the quota controller filled ``status.hard`` in.
    Objects the journal already finished with the same digest are ``skipped``.
    """
    outcomes: list[Outcome] = []
    crds_of_run = [o for t in tiers for o in t if o.get("kind") == "CustomResourceDefinition"]
    with cf.ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="apply") as pool:
        for tier in tiers:
            if wait_crds:
                outcomes += _wait_backends(client, tier, crds_of_run, backend_timeout, on_done)
            todo = []
            for obj in tier:
                if journal and journal.finished(ObjectRef.of(obj).key, digest(obj)):
                    r = ObjectRef.of(obj)
                    o = Outcome(r.key, str(r), Action.SKIPPED, "finished by an earlier run", digest=digest(obj))
                    outcomes.append(o)
                    if on_done:
                        on_done(o)
                else:
                    todo.append(obj)
            for o in pool.map(step, todo):
                if journal:
                    journal.record(o)
                outcomes.append(o)
                if on_done:
                    on_done(o)
            crds = [obj for obj in tier if obj["kind"] == "CustomResourceDefinition"]
            if crds and wait_crds:
                late = wait_established(client, crds)
                for name in late:
                    outcomes.append(Outcome(f"apiextensions.k8s.io/CustomResourceDefinition//{name}",
                                            f"CustomResourceDefinition {name}", Action.FAILED,
                                            "not Established within 60s; its custom resources will fail"))
            quotas = [obj for obj in tier if obj["kind"] == "ResourceQuota" and "/" not in obj["apiVersion"]]
            if quotas and wait_crds:
                for key in readiness.wait_quotas(client, quotas):
                    ns, _, name = key.partition("/")
                    outcomes.append(Outcome(f"core/ResourceQuota/{ns}/{name}", f"ResourceQuota {key}", Action.FAILED,
                                            "its status.hard was not filled in within 30s (is the quota controller "
                                            "of kube-controller-manager running?)"))
    return outcomes


def _wait_backends(client: KubeClient, tier: list[dict[str, Any]], crds: list[dict[str, Any]], timeout: float,
                   on_done: Callable[[Outcome], None] | None) -> list[Outcome]:
    needed = readiness.backends(tier, crds)
    out = []
    for ns, name in readiness.wait_backends(client, needed, timeout) if needed else []:
        served = needed[(ns, name)]
        o = Outcome(f"core/Service/{ns}/{name}", f"Service {ns}/{name}", Action.FAILED,
                    f"backend not Ready within {timeout:.0f}s (no ready endpoint); applied anyway what it serves: "
                    + ", ".join(served[:5]) + (f" and {len(served) - 5} more" if len(served) > 5 else ""))
        out.append(o)
        if on_done:
            on_done(o)
    return out
