"""The source is never written by mistake, and the apply journal belongs to one target, on real sandbox clusters.

Why: ``--target`` pointing at the source (the same file, or another context
naming the same API server) once sent real PATCH requests to the source; a
journal kept across targets skipped every object on a recreated target. The
clusters are told apart by what makes them themselves (kube-system's UID,
server, CA), never by the names a kubeconfig gives them.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from akshift.cli import app
from kube.client import KubeClient
from kube.identity import ClusterIdentity
from sandbox.cluster import LocalCluster

runner = CliRunner()
NS = "shop"


def _renamed(kubeconfig: Path, dest: Path) -> Path:
    """The same cluster under other cluster, user and context names."""
    cfg = yaml.safe_load(kubeconfig.read_text())
    for section in ("clusters", "users", "contexts"):
        for entry in cfg.get(section) or []:
            entry["name"] = "renamed-" + entry["name"]
    for ctx in cfg.get("contexts") or []:
        ctx["context"]["cluster"] = "renamed-" + ctx["context"]["cluster"]
        ctx["context"]["user"] = "renamed-" + ctx["context"]["user"]
    cfg["current-context"] = "renamed-" + cfg["current-context"]
    dest.write_text(yaml.safe_dump(cfg))
    return dest


def _run(*args: str) -> Any:
    r = runner.invoke(app, list(args))
    assert "Traceback" not in r.output, r.output
    return r


def test_identity_tells_the_same_cluster_from_another_by_uid_first() -> None:
    a = ClusterIdentity("https://a:6443", "sha256:1", "uid-1")
    assert a.same_cluster(ClusterIdentity("https://other-name:443", "sha256:2", "uid-1"))
    assert not a.same_cluster(ClusterIdentity("https://a:6443", "sha256:1", "uid-2"))  # recreated at the same URL
    assert a.same_cluster(ClusterIdentity("https://a:6443", "sha256:1", ""))  # UID unknown: server and CA decide


def test_a_target_that_is_the_source_is_refused_before_anything_is_written(blue: LocalCluster, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert _run("inventory", "--source", str(blue.kubeconfig), "--out", str(out), "--namespace", NS,
                "--exclude-secrets").exit_code == 0
    assert _run("transform", "--out", str(out)).exit_code in (0, 1)
    before = sorted(p.name for p in out.iterdir())
    same = _renamed(blue.kubeconfig, tmp_path / "renamed.yaml")
    for cmd in ("plan", "apply"):
        r = _run(cmd, "--target", str(same), "--out", str(out))
        assert r.exit_code == 2, r.output
        assert "is the source cluster" in r.output
    assert sorted(p.name for p in out.iterdir()) == before  # no plan.json, apply.json or journal
    for target in (blue.kubeconfig, same):
        out2 = tmp_path / f"migrate-{target.stem}"
        r = _run("migrate", "--source", str(blue.kubeconfig), "--target", str(target), "--out", str(out2),
                 "--exclude-secrets", "--namespace", NS)
        assert r.exit_code == 2, r.output
        assert "is the source cluster" in r.output
        assert not out2.exists()


def test_a_journal_of_another_target_starts_afresh_and_resumes_tell_the_truth(
        blue: LocalCluster, fresh_cluster: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    # Namespaced kinds only: the journal's identity is the point here, not blue's cluster-scoped disks
    # (which the azure-disk-volume blocker holds back until their data is moved).
    assert _run("inventory", "--source", str(blue.kubeconfig), "--out", str(out), "--namespace", NS,
                "--kind", "Namespace", "--kind", "ConfigMap", "--kind", "Service", "--kind", "ServiceAccount",
                "--exclude-secrets").exit_code == 0
    first, second = fresh_cluster(), fresh_cluster()
    r = _run("apply", "--target", str(first.kubeconfig), "--out", str(out), "-o", "json")
    assert r.exit_code == 0, r.output
    created = json.loads(r.output)["counts"]["created"]
    journal = out / "apply-journal.jsonl"
    recorded = json.loads(journal.read_text().splitlines()[0])["target"]
    with KubeClient.from_kubeconfig(first.kubeconfig) as k:
        assert recorded["uid"] == k.get("/api/v1/namespaces/kube-system")["metadata"]["uid"]

    # Another target: everything is applied again, and the user is told why.
    r = _run("apply", "--target", str(second.kubeconfig), "--out", str(out), "-o", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["counts"].get("created") == created and "skipped" not in doc["counts"]
    assert "starting afresh" in doc["notes"][0] and first.kubeconfig.exists()
    assert (out / "apply-journal.jsonl.previous").exists()

    # A resume after a kill: the objects the journal lost are re-applied and are "unchanged", not "updated".
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join(lines[: len(lines) // 2]) + "\n")
    r = _run("apply", "--target", str(second.kubeconfig), "--out", str(out), "-o", "json")
    assert r.exit_code == 0, r.output
    counts = json.loads(r.output)["counts"]
    assert set(counts) == {"skipped", "unchanged"}, counts

    # An object deleted on the target after apply: apply's journal skips it, verify does not.
    with KubeClient.from_kubeconfig(second.kubeconfig) as k:
        cm = next(p for p in (out / "transformed" / NS).glob("core.ConfigMap/*.yaml"))
        obj = yaml.safe_load(cm.read_text())
        k.delete(obj)
    r = _run("verify", "--target", str(second.kubeconfig), "--out", str(out), "--ready-timeout", "5")
    assert r.exit_code == 1
    text = " ".join(r.output.split())  # the console wraps long lines
    assert "absent on the target" in text and obj["metadata"]["name"] in text
