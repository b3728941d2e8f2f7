"""Crash-safe temporary files and directories of a run directory, and sweeping the ones a killed run left.

Why: every artifact of a run (``snapshot/``, ``transformed/``, ``plan.json``,
``verify.json``, ``report.md`` …) is written under a temporary name and
renamed into place, so a reader sees the old or the new content, never a torn
one. A SIGKILL between the two leaves the temporary behind; its name
(``.<name>.tmp-<pid>-<random>``: hidden, never an artifact's name) cannot be
mistaken for a result, and the pid in it tells the next run whether its
writer is gone — then the next write in the same directory removes it. A
temporary of a process still running (a concurrent run) is left alone.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<pid>[0-9]+)-[^/]*$")


def prefix(name: str, kind: str = "tmp") -> str:
    """The prefix of a temporary for ``name`` made by this process (``kind``: ``tmp`` or ``old``)."""
    return f".{name}.{kind}-{os.getpid()}-"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def stale(directory: Path) -> list[Path]:
    """Temporaries of ``directory`` whose writer is gone, sorted."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    out = []
    for name in names:
        m = _TEMP.match(name)
        if m and not _alive(int(m["pid"])):
            out.append(directory / name)
    return sorted(out)


def sweep(directory: Path, *, keep_old_of: Path | None = None) -> list[Path]:
    """Remove the temporaries a killed run left in ``directory``.

    Args:
        keep_old_of: when this path does not exist, its ``.old-`` temporaries are kept: they hold the
            previous content a crash between two renames left (see :class:`migration.snapshot.SnapshotWriter`).

    Returns:
        What was removed.
    """
    removed = []
    for p in stale(directory):
        m = _TEMP.match(p.name)
        if keep_old_of is not None and m and m["kind"] == "old" and m["name"] == keep_old_of.name \
                and not keep_old_of.exists():
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        removed.append(p)
    return removed


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``path`` so that readers see the old or the new content, never a torn one.

    Raises:
        OSError: the directory cannot be written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=prefix(path.name), dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = ["prefix", "stale", "sweep", "write_atomic"]
