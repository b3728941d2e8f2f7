"""Temporary files never outlive the run that made them, and are never mistaken for results.

Why: a SIGKILL during transform once left a temporary directory behind. Every
artifact is written under a hidden ``.<name>.tmp-<pid>-…`` name and renamed
into place; the next write in the directory removes the temporaries of
processes that are gone (and leaves a live concurrent run's alone).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from akshift.cli import app
from migration import tempfiles
from migration.errors import SnapshotInputError
from migration.snapshot import Snapshot, SnapshotWriter

from support import ROOT

runner = CliRunner()
DEAD = 2**22 + 12345  # above the default pid_max of 4194304: no such process


def _snapshot(path: Path, n: int = 3) -> None:
    with SnapshotWriter(path, exclude_secrets=True) as w:
        for i in range(n):
            w.write({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}", "namespace": "shop"},
                     "data": {"k": "v" * 200}})


def test_the_next_run_sweeps_what_a_killed_run_left_and_keeps_a_live_runs(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _snapshot(out / "snapshot")
    dead_dir = out / f".transformed.tmp-{DEAD}-abc"
    dead_dir.mkdir()
    (dead_dir / "index.json").write_text("{}")
    dead_file = out / f".plan.json.tmp-{DEAD}-xyz"
    dead_file.write_text("{")
    live = out / f".report.md.tmp-{os.getppid()}-live"
    live.write_text("a concurrent run's")
    r = runner.invoke(app, ["transform", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert not dead_dir.exists() and not dead_file.exists()
    assert live.exists()
    assert Snapshot(out / "transformed").check_intact() == []


def test_a_snapshot_a_crash_left_aside_between_two_renames_is_put_back(tmp_path: Path) -> None:
    root = tmp_path / "snapshot"
    _snapshot(root)
    aside = tmp_path / f".snapshot.old-{DEAD}-q"
    aside.mkdir()
    os.rename(root, aside / "previous")
    with pytest.raises(SnapshotInputError, match="already exists"):
        SnapshotWriter(root, exclude_secrets=True)
    assert Snapshot(root).check_intact() == [] and not aside.exists()


def test_write_atomic_leaves_no_temporary(tmp_path: Path) -> None:
    tempfiles.write_atomic(tmp_path / "plan.json", b"{}")
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]


def test_a_sigkill_during_transform_leaves_nothing_that_breaks_the_next_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _snapshot(out / "snapshot", n=3000)
    proc = subprocess.Popen([sys.executable, "-m", "akshift.cli", "transform", "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(p.name.startswith(".transformed.tmp-") for p in out.iterdir()):
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert any(p.name.startswith(".transformed.tmp-") for p in out.iterdir()), "killed before it wrote anything"
    assert not (out / "transformed").exists()
    r = runner.invoke(app, ["transform", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert [p.name for p in out.iterdir() if ".tmp-" in p.name] == []
    assert Snapshot(out / "transformed").check_intact() == []
