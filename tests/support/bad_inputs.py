"""The bad inputs that need the sandbox's clusters, and what both bad-input tables share.

Why here: the table of mistakes is one table (``tests/unit/akshift/test_bad_input.py`` checks that no
id is used twice across both), but its rows needing real clusters run in ``tests/cluster/``; both test
files read this module.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from akshift.cli import app

runner = CliRunner()
BINARY = bytes(range(256)) * 4


def fingerprint(root: Path, skip: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` but those under ``skip`` (what a command must leave alone)."""
    out = {}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            p = Path(dirpath, name)
            if p == skip or skip in p.parents:
                continue
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@dataclasses.dataclass(frozen=True)
class ClusterCase:
    """A bad input that needs real clusters: {blue} and {green} are their kubeconfigs, {tmp} the scene."""

    id: str
    setup: Callable[[Path, str, str], None]
    argv: list[str]
    code: int
    says: str
    no_run_dir: bool = False  # the run directory must not even be created


def _inventoried(tmp: Path, blue: str, green: str) -> None:
    r = runner.invoke(app, ["inventory", "--source", blue, "--out", str(tmp / "run"), "--namespace", "shop",
                            "--exclude-secrets"])
    assert r.exit_code == 0, r.output


def _journal_with_a_binary_line(tmp: Path, blue: str, green: str) -> None:
    _inventoried(tmp, blue, green)
    (tmp / "run/apply-journal.jsonl").write_bytes(b'{"key": "a", "action": "created", "digest": "x"}\n'
                                                  + BINARY.replace(b"\n", b"") + b'\n{"key": "b"}\n')


def _none(tmp: Path, blue: str, green: str) -> None:
    pass


INV = ["inventory", "--source", "{blue}", "--out", "{tmp}/run", "--exclude-secrets"]
CLUSTER_CASES = [
    ClusterCase("kind-unknown", _none, [*INV, "--kind", "Deploymentz"], 2, "Deploymentz", no_run_dir=True),
    ClusterCase("kind-one-of-two-unknown", _none, [*INV, "--kind", "Deployment", "--kind", "Sevrice"], 2, "Sevrice",
                no_run_dir=True),
    ClusterCase("selector-malformed", _none, [*INV, "--selector", "app=web)"], 2, "app=web)", no_run_dir=True),
    ClusterCase("selector-bad-key", _none, [*INV, "--selector", "-app=web"], 2, "-app", no_run_dir=True),
    ClusterCase("selector-set-without-values", _none, [*INV, "--selector", "tier in ()"], 2, "tier in ()",
                no_run_dir=True),
    ClusterCase("namespace-matches-nothing", _none, [*INV, "--namespace", "no-such-namespace"], 1,
                "matched nothing"),
    ClusterCase("selector-matches-nothing", _none, [*INV, "--kind", "Deployment", "--selector", "no-such=label"], 1,
                "matched nothing"),
    ClusterCase("snapshot-exists-without-overwrite", _inventoried, INV, 2, "--overwrite"),
    ClusterCase("target-is-the-source", _inventoried, ["plan", "--target", "{blue}", "--out", "{tmp}/run"], 2,
                "is the source cluster"),
    ClusterCase("journal-with-a-binary-line", _journal_with_a_binary_line,
                ["apply", "--target", "{green}", "--out", "{tmp}/run"], 2, "apply-journal.jsonl line 2"),
]
