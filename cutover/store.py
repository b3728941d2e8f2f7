"""Where a cutover lives on disk: ``state.json`` (replaced atomically) and ``log.jsonl`` (appended).

Why two files: the state is the one thing a resumed run, ``akshift rollback``
and ``akshift decommission`` read, so it is always whole — written to a
temporary file, fsynced and renamed over the old one, so a kill at any
instant leaves either the old or the new state, never half of one. The log is
the history for people and CI: one JSON object per line (step, weights, every
gate result, rollback, resume), appended and flushed as it happens, never
rewritten. ``report.md`` (:mod:`cutover.report`) is drawn from the two and may
be rewritten at any time.

A lock file (``flock``) keeps two runs from driving the same cutover at once.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from cutover.engine import CutoverState
from cutover.errors import StateError


class CutoverStore:
    """The state file, the event log and the lock of one cutover directory.

    Args:
        root: the directory (created on first write), such as ``out/cutover``.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def state_path(self) -> Path:
        return self.root / "state.json"

    @property
    def log_path(self) -> Path:
        return self.root / "log.jsonl"

    def exists(self) -> bool:
        return self.state_path.exists()

    def load(self) -> CutoverState:
        """The persisted state.

        Raises:
            StateError: there is none, or it is not valid JSON of this version.
        """
        try:
            doc = orjson.loads(self.state_path.read_bytes())
        except FileNotFoundError as e:
            raise StateError(f"no cutover state in {self.root}",
                             fix="start one with `akshift cutover`, or pass the --state-dir it used") from e
        except orjson.JSONDecodeError as e:
            raise StateError(f"{self.state_path} is not valid JSON ({e})",
                             fix="restore it from the log, or run `akshift rollback` with the router options") from e
        except OSError as e:
            raise StateError(f"cannot read {self.state_path} ({e.strerror or e})") from e
        if not isinstance(doc, dict):
            raise StateError(f"{self.state_path}: expected a JSON object, found {type(doc).__name__}",
                             fix="restore it from the log, or run `akshift rollback` with the router options")
        try:
            return CutoverState.from_dict(doc)
        except StateError as e:
            raise StateError(f"{self.state_path}: {e.message}", fix=e.fix) from e
        except (AttributeError, KeyError, TypeError, ValueError) as e:
            raise StateError(f"{self.state_path} is malformed ({e.__class__.__name__}: {e})",
                             fix="restore it from the log, or run `akshift rollback` with the router options") from e

    def save(self, state: CutoverState) -> None:
        """Replace the state atomically (temp file, fsync, rename, fsync of the directory)."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_name(f".state.json.{os.getpid()}.tmp")
        data = orjson.dumps(state.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.state_path)
        fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def log(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one event line (``{"ts": …, "event": …, **fields}``) and return it."""
        self.root.mkdir(parents=True, exist_ok=True)
        entry = {"ts": round(time.time(), 3), "event": event, **fields}
        with open(self.log_path, "ab") as f:
            f.write(orjson.dumps(entry, default=str) + b"\n")
            f.flush()
            os.fsync(f.fileno())
        return entry

    def events(self) -> list[dict[str, Any]]:
        """Every logged event, oldest first (a torn last line from a kill is skipped)."""
        if not self.log_path.exists():
            return []
        out = []
        for line in self.log_path.read_bytes().splitlines():
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(event, dict):  # a line that is not an event (edited by hand) is no history
                out.append(event)
        return out

    @property
    def request_path(self) -> Path:
        return self.root / "rollback.request"

    def request_rollback(self, reason: str) -> None:
        """Ask the process driving this cutover to roll back (it polls during holds)."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.request_path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps({"reason": reason, "ts": time.time()}))
        os.replace(tmp, self.request_path)

    def rollback_pending(self) -> bool:
        return self.request_path.exists()

    def take_rollback_request(self) -> str | None:
        """The reason of a pending rollback request, removing it; None when there is none."""
        try:
            doc = orjson.loads(self.request_path.read_bytes())
        except FileNotFoundError:
            return None
        except orjson.JSONDecodeError:
            doc = {}
        self.request_path.unlink(missing_ok=True)
        return str(doc.get("reason") or "rollback requested")

    @property
    def report_path(self) -> Path:
        return self.root / "report.md"

    def write_report(self, text: str) -> Path:
        """Replace ``report.md`` (temp file and rename: a reader never sees half a report)."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.report_path.with_name(f".report.md.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, self.report_path)
        return self.report_path

    def running(self) -> bool:
        """Whether a process holds the lock now (drives this cutover); takes and drops the lock to find out."""
        if not (self.root / ".lock").exists():
            return False
        fd = os.open(self.root / ".lock", os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing releases a lock this call took
        return False

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the directory's lock for the duration (released by the kernel if the process dies).

        Raises:
            StateError: another process holds it.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as e:
                raise StateError(f"another akshift process is driving the cutover in {self.root}",
                                 fix="wait for it, or stop it (its state is saved) and use --resume") from e
            yield
        finally:
            os.close(fd)
