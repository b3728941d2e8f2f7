"""``sync-status.json``: how a running ``akshift sync`` is doing, for people and for the cutover's preflight.

Why a file in the run directory, replaced atomically at every heartbeat: the
cutover (another process, maybe hours later) must tell a sync that is running
and keeping up from one that died or lags, without talking to it. The file
says who writes it (pid, host), when it last wrote (the heartbeat), the lag of
the recent changes (p50/p95/max, and what it is measured from), what is still
pending and the counts. :func:`read_status` is its one reader; a heartbeat
older than :data:`STALE_SECONDS` means the sync is not running, whatever the
file claims.
"""
from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from migration.errors import MigrationError

STATUS_FILE = "sync-status.json"
SCHEMA_VERSION = 1
HEARTBEAT_SECONDS = 1.0
STALE_SECONDS = 15.0  # a heartbeat older than this: the sync is not running (it writes one every second)
LAG_MEASURED_FROM = ("the watch event's arrival at akshift, or blue's newest managedFields time when that is more "
                     "than 1s older (changes made while sync was down); to the server-side apply's answer on green")


class SyncStatusError(MigrationError):
    """``sync-status.json`` exists but cannot be read."""


@dataclasses.dataclass(frozen=True)
class SyncStatus:
    """One reading of ``sync-status.json``.

    Attributes:
        pid, host: the process that writes it.
        phase: ``listing``, ``watching``, ``stopped`` (ended cleanly) or ``once`` (a ``--once`` pass ended).
        started_at, heartbeat_at: wall-clock seconds.
        max_lag_seconds: the bound the sync was started with (``--max-lag``).
        lag_p50, lag_p95, lag_max: seconds, over the recent changes; None before any change.
        samples: how many changes the lag figures cover.
        pending: changes seen on blue and not yet on green.
        oldest_pending_seconds: age of the oldest of them (0 when none).
        counts: per result (created, updated, deleted, conflict …) since the process started.
        conflicts: keys whose green copy someone else changed (not overwritten).
        failing: types whose watch keeps failing (blue unreachable, RBAC); failing_seconds: for how long
            the oldest of them has (changes of those types are not seen, so they count like a stuck change).
    """

    pid: int
    host: str
    phase: str
    started_at: float
    heartbeat_at: float
    max_lag_seconds: float
    lag_p50: float | None = None
    lag_p95: float | None = None
    lag_max: float | None = None
    samples: int = 0
    pending: int = 0
    oldest_pending_seconds: float = 0.0
    counts: Mapping[str, int] = dataclasses.field(default_factory=dict)
    conflicts: tuple[str, ...] = ()
    failing: tuple[str, ...] = ()
    failing_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"schemaVersion": SCHEMA_VERSION, "pid": self.pid, "host": self.host, "phase": self.phase,
                "startedAt": self.started_at, "heartbeatAt": self.heartbeat_at,
                "maxLagSeconds": self.max_lag_seconds,
                "lag": {"p50": self.lag_p50, "p95": self.lag_p95, "max": self.lag_max, "samples": self.samples,
                        "measuredFrom": LAG_MEASURED_FROM},
                "pending": self.pending, "oldestPendingSeconds": self.oldest_pending_seconds,
                "counts": dict(self.counts), "conflicts": list(self.conflicts),
                "watchFailing": list(self.failing), "watchFailingSeconds": self.failing_seconds}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> SyncStatus:
        lag = doc.get("lag") or {}
        return cls(pid=int(doc["pid"]), host=str(doc.get("host", "")), phase=str(doc["phase"]),
                   started_at=float(doc["startedAt"]), heartbeat_at=float(doc["heartbeatAt"]),
                   max_lag_seconds=float(doc["maxLagSeconds"]), lag_p50=lag.get("p50"), lag_p95=lag.get("p95"),
                   lag_max=lag.get("max"), samples=int(lag.get("samples") or 0), pending=int(doc.get("pending", 0)),
                   oldest_pending_seconds=float(doc.get("oldestPendingSeconds", 0.0)),
                   counts=dict(doc.get("counts") or {}), conflicts=tuple(doc.get("conflicts") or ()),
                   failing=tuple(doc.get("watchFailing") or ()),
                   failing_seconds=float(doc.get("watchFailingSeconds", 0.0)))

    def running(self, now: float, *, host: str | None = None,
                alive: Any = None) -> tuple[bool, str]:
        """Whether the sync is running now (or a ``--once`` pass ended within its bound), and why not.

        Args:
            now: wall-clock seconds.
            host: this machine's name (default: :func:`socket.gethostname`); the pid is checked only here.
            alive: ``pid → bool`` (default: signal 0 to the pid).
        """
        age = now - self.heartbeat_at
        if self.phase == "once":  # `--once` from cron: in step if its pass ended within the bound
            if age <= self.max_lag_seconds:
                return True, f"a --once pass ended {age:.0f}s ago"
            return False, f"the last --once pass ended {age:.0f}s ago, over --max-lag {self.max_lag_seconds:.0f}s"
        if self.phase not in ("listing", "watching"):
            return False, f"sync is {self.phase} (pid {self.pid})"
        if age > STALE_SECONDS:
            return False, f"sync's last heartbeat is {age:.0f}s old (pid {self.pid} on {self.host})"
        if (host or socket.gethostname()) == self.host and not (alive or _alive)(self.pid):
            return False, f"sync process {self.pid} is gone"
        return True, f"pid {self.pid} on {self.host}, heartbeat {age:.0f}s ago"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_status(out: Path, status: SyncStatus) -> None:
    """Replace ``sync-status.json`` atomically (temporary file and rename: readers never see half of it)."""
    path = Path(out) / STATUS_FILE
    tmp = path.with_name(f".{STATUS_FILE}.{os.getpid()}.tmp")
    tmp.write_bytes(orjson.dumps(status.to_dict(), option=orjson.OPT_INDENT_2))
    os.replace(tmp, path)


def read_status(path: Path) -> SyncStatus | None:
    """The sync status at ``path`` (a ``sync-status.json``), None when there is none.

    Raises:
        SyncStatusError: the file is not a sync status of this version.
    """
    try:
        doc = orjson.loads(Path(path).read_bytes())
    except FileNotFoundError:
        return None
    except orjson.JSONDecodeError as e:
        raise SyncStatusError(f"{path} is not valid JSON ({e})", fix="restart `akshift sync`; it rewrites the file") from e
    try:
        if doc.get("schemaVersion") != SCHEMA_VERSION:
            raise SyncStatusError(f"{path}: schemaVersion {doc.get('schemaVersion')!r}, expected {SCHEMA_VERSION}",
                                  fix="restart `akshift sync` with this version of akshift")
        return SyncStatus.from_dict(doc)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise SyncStatusError(f"{path} is not a sync status ({e.__class__.__name__}: {e})",
                              fix="restart `akshift sync`; it rewrites the file") from e


def hostname() -> str:
    return socket.gethostname()
