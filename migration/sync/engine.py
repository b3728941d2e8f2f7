"""The sync as pure decisions: a change seen on blue, what green should get, and the state after it.

Why pure (as :mod:`cutover.engine`): the dangerous part of keeping green in
step is deciding — whether a deletion may reach green, what counts as
akshift's object, where a resumed watch starts, what the lag is. Free of
sockets and clocks, every one of these is tested in milliseconds;
:mod:`migration.sync.runner` performs the effects and persists each
transition in the journal (:mod:`migration.sync.journal`).

The rules:

* an ADDED/MODIFIED object goes through the same transform and findings as
  ``migrate`` (:func:`migration.transforms.runner.transform`); a kept object is
  server-side applied to green, a whiteout is left alone;
* an object with a blocker finding is held back as ``migrate``'s apply holds
  it back (:func:`migration.blockers.blocked_objects`): not applied unless
  every blocker code it has was accepted (``--accept-blockers``); a Calico
  policy is translated as ``migrate`` translates it (a translation with a
  blocker applies nothing: green keeps what an earlier translation put there);
* a deletion reaches green only for an object akshift *carried* — in the run's
  ``transformed/`` or applied by this sync — and only while green's copy still
  has a field managed by akshift; an object that exists only on green is never
  deleted;
* the resourceVersion of a type advances only after its change is on green,
  so a resumed watch replays what may not have been applied (server-side
  apply makes the replay harmless) and never skips a change.
"""
from __future__ import annotations

import dataclasses
import enum
import math
import types
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

LAG_WINDOW = 1000  # the lag percentiles describe the last this-many changes (a recent figure, not all time)


class Do(enum.StrEnum):
    """What the runner does about one change."""

    APPLY = "apply"
    DELETE = "delete"
    SKIP = "skip"
    HOLD = "hold"  # a blocker holds it back: not applied, reported


class Result(enum.StrEnum):
    """How a change ended on green (the ``action`` of a journal line)."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    CONFLICT = "conflict"
    FAILED = "failed"
    SKIPPED = "skipped"
    BLOCKED = "blocked"  # held back by a blocker finding the user did not accept: green keeps what it has

    @property
    def carries(self) -> bool:
        """Whether green holds akshift's copy afterwards (the object becomes *carried*)."""
        return self in (Result.CREATED, Result.UPDATED, Result.UNCHANGED)

    @property
    def settles_conflict(self) -> bool:
        """Whether it ends an open conflict of the key: blue's change the conflict held back was carried, or blue's
        object is gone or no longer carried (deleted on blue, now excluded) — nothing is left to carry over the
        other manager's fields, so reporting it would fail every later run for nothing."""
        return self.carries or self in (Result.DELETED, Result.SKIPPED)

    @property
    def changed(self) -> bool:
        """Whether green changed (only these count in the lag)."""
        return self in (Result.CREATED, Result.UPDATED, Result.DELETED)


@dataclasses.dataclass(frozen=True)
class Decision:
    """What to do about one change, and why (for the log)."""

    do: Do
    key: str
    reason: str = ""


def type_key(key: str) -> str:
    """The ``group/Kind`` part of an object key (:attr:`kube.objects.ObjectRef.key`).

    >>> type_key("apps/Deployment/shop/web")
    'apps/Deployment'
    """
    return "/".join(key.split("/", 2)[:2])


def managed_by(obj: Mapping[str, Any] | None, manager: str) -> bool:
    """Whether ``manager`` owns at least one field of the object (its managedFields entry).

    >>> managed_by({"metadata": {"managedFields": [{"manager": "akshift", "operation": "Apply"}]}}, "akshift")
    True
    >>> managed_by({"metadata": {"managedFields": [{"manager": "kubectl-edit"}]}}, "akshift")
    False
    """
    entries = ((obj or {}).get("metadata") or {}).get("managedFields") or ()
    return any(e.get("manager") == manager for e in entries)


def decide_upsert(key: str, kept: bool | None, excluded: str | None = None, held: str | None = None) -> Decision:
    """An object added or modified on blue, after the transform.

    Args:
        key: the object's key.
        kept: the transform kept it (True), whited it out (False) or failed (None).
        excluded: the whiteout reason (or the transform's error).
        held: why a blocker finding holds the kept object back (:func:`migration.blockers.blocked_objects`).
    """
    if kept is None:
        return Decision(Do.SKIP, key, f"transform failed: {excluded}")
    if not kept:
        return Decision(Do.SKIP, key, f"excluded: {excluded}")
    if held:
        return Decision(Do.HOLD, key, held)
    return Decision(Do.APPLY, key)


def decide_delete(key: str, carried: frozenset[str] | Iterable[str], green: Mapping[str, Any] | None,
                  manager: str) -> Decision:
    """An object deleted on blue (a DELETED event, or missing from a new list).

    Args:
        key: the object's key.
        carried: keys akshift carried to green (``transformed/`` plus this sync's applies).
        green: green's object with that key, None when green has none.
        manager: akshift's field manager.
    """
    if key not in carried:
        return Decision(Do.SKIP, key, "not carried by akshift: green's object, if any, is not ours to delete")
    if green is None:
        return Decision(Do.SKIP, key, "already gone on green")
    if not managed_by(green, manager):
        return Decision(Do.SKIP, key, f"green's object has no field managed by {manager} any more "
                                      "(someone took it over): kept")
    return Decision(Do.DELETE, key)


def vanished(listed: Iterable[str], carried: Iterable[str], group_kind: str) -> list[str]:
    """Carried keys of one type that a fresh list of blue no longer has: deletions missed while not watching.

    >>> vanished(["core/ConfigMap/a/x"], ["core/ConfigMap/a/x", "core/ConfigMap/a/y", "apps/Deployment/a/y"],
    ...          "core/ConfigMap")
    ['core/ConfigMap/a/y']
    """
    seen = set(listed)
    return sorted(k for k in carried if type_key(k) == group_kind and k not in seen)


def _parse_time(value: str) -> float | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except (AttributeError, ValueError):
        return None


def changed_at(obj: Mapping[str, Any] | None) -> float | None:
    """When blue last stored a change of the object: its newest managedFields time (whole seconds), or None."""
    times = [_parse_time(e.get("time", "")) for e in ((obj or {}).get("metadata") or {}).get("managedFields") or ()]
    known = [t for t in times if t is not None]
    return max(known) if known else None


def lag_origin(seen_at: float, blue_time: float | None) -> float:
    """Where a change's lag is measured from.

    The watch event's arrival (precise) — unless blue's newest managedFields time
    is more than a second older (a change made while the sync was down, replayed
    by a resumed watch or found by a list): then that time, which has one-second
    resolution but does not hide the downtime.

    >>> lag_origin(100.5, 100.0), lag_origin(100.5, 90.0), lag_origin(100.5, None)
    (100.5, 90.0, 100.5)
    """
    if blue_time is not None and blue_time < seen_at - 1.0:
        return blue_time
    return seen_at


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0–100, nearest rank) of the values, None when there are none.

    >>> percentile([1, 2, 3, 4], 50), percentile([1, 2, 3, 4], 95), percentile([], 50)
    (2, 4, None)
    """
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclasses.dataclass(frozen=True)
class SyncState:
    """Where the sync is: what a resumed run needs (persisted as the journal) and what the status shows.

    Attributes:
        versions: ``group/Kind`` → the resourceVersion up to which every change is on green.
        carried: keys of the objects akshift carried (deletions may reach green only for these).
        counts: per :class:`Result`, changes handled since this process started.
        conflicts: key → the server's message, for objects whose green copy someone else changed.
        lags: seconds from a blue change to green, the last :data:`LAG_WINDOW` changes.
    """

    versions: Mapping[str, str] = dataclasses.field(default_factory=dict)
    carried: frozenset[str] = frozenset()
    counts: Mapping[str, int] = dataclasses.field(default_factory=dict)
    conflicts: Mapping[str, str] = dataclasses.field(default_factory=dict)
    lags: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        for name in ("versions", "counts", "conflicts"):
            object.__setattr__(self, name, types.MappingProxyType(dict(getattr(self, name))))
        object.__setattr__(self, "carried", frozenset(self.carried))

    def lag(self) -> dict[str, float | int | None]:
        """p50, p95 and max of the recent lags, and how many were measured."""
        return {"p50": percentile(self.lags, 50), "p95": percentile(self.lags, 95),
                "max": max(self.lags) if self.lags else None, "samples": len(self.lags)}


def after_change(state: SyncState, key: str, result: Result, *, lag: float | None = None,
                 message: str = "") -> SyncState:
    """The state after one change reached an end on green.

    Args:
        state: before.
        key: the object.
        result: how it ended.
        lag: seconds from the blue change to green (counted only when green changed).
        message: the server's message (kept for conflicts).
    """
    carried = state.carried
    if result.carries and key not in carried:
        carried = carried | {key}
    elif result is Result.DELETED and key in carried:
        carried = carried - {key}
    conflicts = state.conflicts
    if result is Result.CONFLICT:
        conflicts = {**conflicts, key: message}
    elif result.settles_conflict:
        if key in conflicts:
            conflicts = {k: v for k, v in conflicts.items() if k != key}
    counts = {**state.counts, result.value: state.counts.get(result.value, 0) + 1}
    lags = state.lags
    if lag is not None and result.changed:
        lags = (lags + (max(0.0, lag),))[-LAG_WINDOW:]
    return dataclasses.replace(state, carried=carried, conflicts=conflicts, counts=counts, lags=lags)


def after_version(state: SyncState, group_kind: str, resource_version: str) -> SyncState:
    """The state once every change of a type up to ``resource_version`` is on green."""
    if not resource_version or state.versions.get(group_kind) == resource_version:
        return state
    return dataclasses.replace(state, versions={**state.versions, group_kind: resource_version})


def forget_version(state: SyncState, group_kind: str) -> SyncState:
    """The state after a watch of the type expired (410): the next start must list it again."""
    if group_kind not in state.versions:
        return state
    return dataclasses.replace(state, versions={k: v for k, v in state.versions.items() if k != group_kind})
