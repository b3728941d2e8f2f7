"""The sync journal (``sync-journal.jsonl``): what a killed ``akshift sync`` needs to resume without missing a change.

Why append-only lines, written unbuffered after each change, and no fsync:

* a line is one ``write()``: once it returns the line is in the page cache, so a
  SIGKILL loses at most the line being written (a torn last line is ignored on
  read, as :class:`migration.applier.Journal` does);
* a type's resourceVersion is written only *after* its change is on green, so
  whatever the journal loses — a SIGKILL, or a power cut taking the unsynced
  tail — makes the resumed watch start earlier, never later: the changes are
  replayed (server-side apply is idempotent; a deletion of what is gone is a
  no-op) and none is skipped. Durability beyond the process therefore costs no
  fsync per change;
* a restart compacts the file (temporary file, fsync, rename, fsync of the
  directory) once it is long, so days of sync do not grow it without bound.

Lines: ``{"identity": {...}}`` (the clusters, first line), ``{"key", "action",
"at"}`` (a change ended on green; a conflict keeps the server's message, which names fields and managers), ``{"type", "rv"}`` (every change of a type up
to rv is on green), ``{"type", "expired": true}`` (a watch expired: list again).
No object content and no Secret value is ever written here.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from migration.sync.engine import Result, SyncState

JOURNAL = "sync-journal.jsonl"
COMPACT_AFTER = 200_000  # lines; a restart rewrites a longer journal as its state


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for raw in path.read_bytes().splitlines():
        try:
            entry = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue  # a torn last line: the process died while writing it
        if isinstance(entry, dict):
            out.append(entry)
    return out


def replay(entries: Iterable[Mapping[str, Any]], carried: Iterable[str]) -> tuple[SyncState, dict[str, str]]:
    """The state a journal describes, starting from the keys ``transformed/`` carried.

    Args:
        entries: the journal's lines, in order.
        carried: keys of the run's ``transformed/`` (carried by ``migrate``).

    Returns:
        The state (versions, carried keys and open conflicts; counts start again at zero) and the recorded identity.
    """
    keys = set(carried)
    versions: dict[str, str] = {}
    identity: dict[str, str] = {}
    conflicts: dict[str, str] = {}
    for e in entries:
        if "identity" in e:
            identity = dict(e["identity"])
        elif "key" in e:
            try:
                result = Result(str(e.get("action")))
            except ValueError:
                continue
            if result.settles_conflict:
                conflicts.pop(e["key"], None)
            if result.carries:
                keys.add(e["key"])
            elif result is Result.DELETED:
                keys.discard(e["key"])
            elif result is Result.CONFLICT:
                conflicts[e["key"]] = str(e.get("message") or "reported by an earlier run")
        elif "type" in e:
            if e.get("expired"):
                versions.pop(e["type"], None)
            elif e.get("rv"):
                versions[e["type"]] = str(e["rv"])
    return SyncState(versions=versions, carried=frozenset(keys), conflicts=conflicts), identity


class SyncJournal:
    """The journal of one run directory, open for appending.

    Args:
        out: the run directory.
        carried: keys of the run's ``transformed/``.
    """

    def __init__(self, out: Path, carried: Iterable[str]) -> None:
        self.path = Path(out) / JOURNAL
        base = frozenset(carried)
        entries = _lines(self.path)
        self.state, self.identity = replay(entries, base)
        if len(entries) > COMPACT_AFTER:
            self._compact(base)
        self._lock = threading.Lock()
        self._fd: int | None = None  # opened at the first line: refusing to start writes nothing

    def _compact(self, base: frozenset[str]) -> None:
        lines: list[dict[str, Any]] = []
        if self.identity:
            lines.append({"identity": self.identity})
        lines += [{"key": k, "action": Result.UNCHANGED.value} for k in sorted(self.state.carried - base)]
        lines += [{"key": k, "action": Result.DELETED.value} for k in sorted(base - self.state.carried)]
        lines += [{"key": k, "action": Result.CONFLICT.value, "message": m} for k, m in sorted(self.state.conflicts.items())]
        lines += [{"type": t, "rv": rv} for t, rv in sorted(self.state.versions.items())]
        tmp = self.path.with_name(f".{JOURNAL}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            f.write(b"".join(orjson.dumps(line) + b"\n" for line in lines))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _write(self, entry: Mapping[str, Any]) -> None:
        data = orjson.dumps(entry) + b"\n"
        with self._lock:
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.write(self._fd, data)

    def record_identity(self, identity: Mapping[str, str]) -> None:
        """Remember which clusters this run syncs (a restart against others is refused)."""
        self.identity = dict(identity)
        self._write({"identity": self.identity})

    def record_change(self, key: str, result: Result, at: float, *, message: str = "") -> None:
        """A change ended on green (written before the type's resourceVersion may advance).

        ``message`` is kept for conflicts (the server names the fields and their manager, never values), so a
        resumed sync still reports a conflict whose change its watch will not replay.
        """
        entry: dict[str, Any] = {"key": key, "action": result.value, "at": round(at, 3)}
        if message:
            entry["message"] = message
        self._write(entry)

    def record_version(self, group_kind: str, resource_version: str) -> None:
        """Every change of the type up to ``resource_version`` is on green."""
        self._write({"type": group_kind, "rv": resource_version})

    def record_expired(self, group_kind: str) -> None:
        """The type's watch expired: a resumed run lists it again."""
        self._write({"type": group_kind, "expired": True})

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
