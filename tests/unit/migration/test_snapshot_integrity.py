"""A stage refuses a snapshot whose files are not those its index lists, unless a hand edit is declared.

Why: a truncated object file once passed transform, apply and verify, and
server-side apply then removed the fields it lost from the live object on the
target. Every stage that reads ``snapshot/`` or ``transformed/`` checks the
index's digests first.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from akshift.cli import app
from migration.pipeline import intact
from migration.snapshot import Snapshot, SnapshotIntegrityError, SnapshotWriter

runner = CliRunner()


def _deploy(name: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "shop"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"serviceAccountName": "web", "containers": [{"name": "c", "image": "x"}]}}}}


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    out = tmp_path / "run"
    with SnapshotWriter(out / "snapshot", exclude_secrets=True) as w:
        for n in ("web", "api"):
            w.write(_deploy(n))
    return out


WEB = "snapshot/shop/apps.Deployment/web.yaml"


def _transform(out: Path, *extra: str) -> object:
    r = runner.invoke(app, ["transform", "--out", str(out), *extra])
    assert "Traceback" not in r.output
    return r


def test_an_intact_snapshot_transforms(run_dir: Path) -> None:
    assert _transform(run_dir).exit_code == 0


@pytest.mark.parametrize("damage, says", [
    pytest.param(lambda p: p.write_bytes(p.read_bytes()[:40]), "web.yaml: changed", id="truncated-object-file"),
    pytest.param(lambda p: p.unlink(), "web.yaml: missing", id="missing-object-file"),
    pytest.param(lambda p: (p.parent / "extra.yaml").write_text("kind: ConfigMap\n"), "extra.yaml: not in index.json",
                 id="extra-file"),
])
def test_a_damaged_snapshot_is_refused_naming_the_file(run_dir: Path, damage, says: str) -> None:
    damage(run_dir / WEB)
    r = _transform(run_dir)
    assert r.exit_code == 2, r.output
    assert says in " ".join(r.output.split())
    assert not (run_dir / "transformed").exists()


def test_a_declared_hand_edit_is_accepted_and_recorded_in_the_report(run_dir: Path) -> None:
    path = run_dir / WEB
    path.write_text(path.read_text().replace("replicas: 2", "replicas: 3"))
    assert _transform(run_dir).exit_code == 2
    r = _transform(run_dir, "--allow-modified")
    assert r.exit_code == 0, r.output
    assert json.loads((run_dir / "modified.json").read_text()) == {"snapshot": ["shop/apps.Deployment/web.yaml"]}
    assert "snapshot/shop/apps.Deployment/web.yaml was edited by hand" in (run_dir / "report.md").read_text()
    assert Snapshot(run_dir / "transformed").read("shop/apps.Deployment/web.yaml")["spec"]["replicas"] == 3


def test_a_missing_file_is_refused_even_with_allow_modified(run_dir: Path) -> None:
    (run_dir / WEB).unlink()
    r = _transform(run_dir, "--allow-modified")
    assert r.exit_code == 2 and "missing" in r.output


def test_a_damaged_transformed_directory_is_refused_naming_the_file(run_dir: Path) -> None:
    assert _transform(run_dir).exit_code == 0
    t = run_dir / "transformed/shop/apps.Deployment/api.yaml"
    t.write_text(t.read_text()[:30])
    with pytest.raises(SnapshotIntegrityError, match="api.yaml: changed") as e:
        intact(run_dir, "transformed")
    assert e.value.exit_code == 2


def test_an_index_of_the_wrong_shape_names_the_key(run_dir: Path) -> None:
    index = run_dir / "snapshot/index.json"
    doc = json.loads(index.read_text())
    index.write_text(json.dumps({**doc, "objects": ["web.yaml"]}))
    r = _transform(run_dir)
    assert r.exit_code == 2 and "'objects'" in r.output
