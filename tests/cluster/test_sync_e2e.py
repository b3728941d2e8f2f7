"""`akshift sync` on real sandbox clusters: blue's changes reach green within the bound, SIGKILL loses none,
changes made directly on green are reported and kept, green-only objects are never deleted, a wrong target
is refused before anything changes, and an object with a blocker finding is held back unless its code is
accepted (as `migrate` holds it back)."""
from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from akshift.cli import app
from kube.client import KubeClient
from kube.errors import ApiError
from sandbox.cluster import LocalCluster
from sandbox.profiles import BLUE, GREEN

from support import ROOT

BOUND = 10.0  # seconds: a change on blue is on green within this (the sandbox runs on 2 shared cores)
NS = "sync-app"
runner = CliRunner()


def configmap(name: str, data: dict[str, str], ns: str = NS) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": data}


def cm_path(name: str, ns: str = NS) -> str:
    return f"/api/v1/namespaces/{ns}/configmaps/{name}"


def read(k: KubeClient, name: str) -> dict[str, Any] | None:
    try:
        return k.get(cm_path(name))
    except ApiError as e:
        if e.status == 404:
            return None
        raise


def wait_for(what: str, check: Any, timeout: float = BOUND) -> float:
    """Seconds until ``check()`` holds; fails naming ``what`` after ``timeout``."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if check():
            return time.monotonic() - t0
        time.sleep(0.1)
    pytest.fail(f"{what}: not within {timeout}s")


class Pair:
    """A blue we may change and a green, migrated with `akshift migrate` into one run directory."""

    def __init__(self, root: Path) -> None:
        self.blue_cluster = LocalCluster(BLUE, root / "blue").start()
        self.green_cluster = LocalCluster(GREEN, root / "green").start()
        self.blue = KubeClient.from_kubeconfig(self.blue_cluster.kubeconfig)
        self.green = KubeClient.from_kubeconfig(self.green_cluster.kubeconfig)
        self.out = root / "run"
        self.key = root / "age.key"
        assert runner.invoke(app, ["keygen", str(self.key)]).exit_code == 0
        self.blue.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}, field_manager="kubectl")
        for name in ("base", "to-delete", "drifted"):
            self.blue.apply(configmap(name, {"color": "blue"}), field_manager="kubectl")
        self.blue.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "token", "namespace": NS},
                         "stringData": {"token": "s3cret"}}, field_manager="kubectl")
        result = runner.invoke(app, ["migrate", "--source", str(self.blue_cluster.kubeconfig), "--target",
                                     str(self.green_cluster.kubeconfig), "--out", str(self.out), "--age-identity",
                                     str(self.key), "--ready-timeout", "10", "--output", "json"])
        assert result.exit_code == 0, result.output

    def args(self, *extra: str) -> list[str]:
        return [sys.executable, "-m", "akshift.cli", "sync", "--source", str(self.blue_cluster.kubeconfig),
                "--target", str(self.green_cluster.kubeconfig), "--out", str(self.out),
                "--age-identity", str(self.key), *extra]

    def start(self, *extra: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(self.args("--max-lag", "10s", *extra), cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "300"})
        wait_for("sync watching", lambda: self.status().get("phase") == "watching" and self.status()["pid"] == proc.pid
                 or proc.poll() is not None, timeout=60)
        assert proc.poll() is None, proc.communicate()
        return proc

    def once(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.args("--once", "-o", "json", *extra), cwd=ROOT, capture_output=True, text=True,
                              timeout=120, env={**os.environ, "COLUMNS": "300"})

    def status(self) -> dict[str, Any]:
        try:
            return json.loads((self.out / "sync-status.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def stop(self) -> None:
        self.blue.close()
        self.green.close()
        self.blue_cluster.stop()
        self.green_cluster.stop()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    p = Pair(tmp_path_factory.mktemp("sync"))
    try:
        yield p
    finally:
        p.stop()


def stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    return out, err


def test_a_sync_against_the_wrong_target_is_refused_naming_it_and_changes_nothing(pair: Pair) -> None:
    blue = str(pair.blue_cluster.kubeconfig)
    green = str(pair.green_cluster.kubeconfig)
    for source, target, named in ((blue, blue, "--target"), (green, blue, "--target"), (green, green, "--target")):
        result = subprocess.run([sys.executable, "-m", "akshift.cli", "sync", "--source", source, "--target", target,
                                 "--out", str(pair.out), "--age-identity", str(pair.key), "--once"], cwd=ROOT,
                                capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "300"})
        assert result.returncode == 2, result.stderr
        assert named in result.stderr and ("source" in result.stderr)
    assert not (pair.out / "sync-journal.jsonl").exists()
    assert not (pair.out / "sync-status.json").exists()


def test_creates_updates_and_deletes_on_blue_reach_green_within_the_bound(pair: Pair) -> None:
    proc = pair.start()
    try:
        pair.blue.apply(configmap("created", {"color": "blue"}), field_manager="kubectl")
        pair.blue.apply(configmap("base", {"color": "teal"}), field_manager="kubectl")
        pair.blue.delete(configmap("to-delete", {}))
        pair.blue.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "token", "namespace": NS},
                         "stringData": {"token": "rotated"}}, field_manager="kubectl")
        wait_for("create on green", lambda: (read(pair.green, "created") or {}).get("data") == {"color": "blue"})
        wait_for("update on green", lambda: (read(pair.green, "base") or {}).get("data") == {"color": "teal"})
        wait_for("delete on green", lambda: read(pair.green, "to-delete") is None)
        wait_for("secret on green", lambda: pair.green.get(f"/api/v1/namespaces/{NS}/secrets/token")
                 .get("data", {}).get("token") == "cm90YXRlZA==")
        wait_for("heartbeat", lambda: pair.status().get("counts", {}).get("deleted", 0) >= 1, timeout=3)
        status = pair.status()
        assert status["pid"] == proc.pid and status["phase"] == "watching"
        assert time.time() - status["heartbeatAt"] < 5
        assert status["lag"]["samples"] >= 4 and status["lag"]["p95"] <= BOUND
        assert status["counts"]["created"] >= 1 and status["counts"]["updated"] >= 2
        assert "watch event" in status["lag"]["measuredFrom"]
    finally:
        out, err = stop(proc)
    assert proc.returncode == 0, err
    assert pair.status()["phase"] == "stopped"
    assert "s3cret" not in (pair.out / "sync-journal.jsonl").read_text() + (pair.out / "sync-status.json").read_text()


def test_a_sigkill_in_the_middle_of_a_sync_loses_no_change_after_restart(pair: Pair) -> None:
    names = [f"k-{i}" for i in range(60)]
    done = threading.Event()

    def write() -> None:
        for i, name in enumerate(names):
            pair.blue.apply(configmap(name, {"v": "1"}), field_manager="kubectl")
            if i >= 2:
                pair.blue.apply(configmap(names[i - 2], {"v": "2"}), field_manager="kubectl")
            if i >= 5 and i % 5 == 0:
                pair.blue.delete(configmap(names[i - 5], {}))
            time.sleep(0.05)
        done.set()

    proc = pair.start()
    writer = threading.Thread(target=write)
    writer.start()
    wait_for("some changes carried", lambda: read(pair.green, "k-10") is not None)
    proc.kill()  # SIGKILL: no handler runs, the journal is as the kill left it
    proc.wait()
    time.sleep(1.0)  # changes made while sync is down
    proc = pair.start()
    try:
        writer.join(timeout=60)
        assert done.is_set()

        def same() -> bool:
            for name in names:
                b, g = read(pair.blue, name), read(pair.green, name)
                if (b is None) != (g is None) or (b is not None and b.get("data") != g.get("data")):  # type: ignore[union-attr]
                    return False
            return True

        wait_for("green equals blue after the restart", same, timeout=BOUND * 2)
    finally:
        stop(proc)
    deleted = [n for n in names if read(pair.blue, n) is None]
    assert deleted and all(read(pair.green, n) is None for n in deleted)


def test_a_change_made_directly_on_green_is_reported_and_kept(pair: Pair) -> None:
    pair.green.request("PATCH", cm_path("drifted"), body={"data": {"color": "hotfix"}},
                       content_type="application/merge-patch+json", params={"fieldManager": "kubectl-edit"})
    result = pair.once()
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    assert [c["key"] for c in doc["conflicts"]] == [f"core/ConfigMap/{NS}/drifted"]
    assert "kubectl-edit" in doc["conflicts"][0]["message"]
    assert read(pair.green, "drifted")["data"] == {"color": "hotfix"}  # type: ignore[index]
    assert f"core/ConfigMap/{NS}/drifted" in pair.status()["conflicts"]
    forced = pair.once("--force-conflicts")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert read(pair.green, "drifted")["data"] == {"color": "blue"}  # type: ignore[index]


def test_an_object_that_exists_only_on_green_is_never_deleted(pair: Pair) -> None:
    pair.green.apply(configmap("green-only", {"made": "on green"}), field_manager="kubectl")
    # Blue gets and loses an object of the same name while no sync runs: akshift never carried it.
    pair.blue.apply(configmap("green-only", {"made": "on blue"}), field_manager="kubectl")
    pair.blue.delete(configmap("green-only", {}))
    result = pair.once()
    assert result.returncode == 0, result.stdout + result.stderr
    assert read(pair.green, "green-only")["data"] == {"made": "on green"}  # type: ignore[index]
    proc = pair.start()
    try:
        pair.blue.apply(configmap("green-only", {"made": "on blue"}), field_manager="kubectl")
        pair.blue.delete(configmap("green-only", {}))
        pair.blue.apply(configmap("marker", {"after": "delete"}), field_manager="kubectl")
        wait_for("a later change carried", lambda: read(pair.green, "marker") is not None)
    finally:
        stop(proc)
    green_only = read(pair.green, "green-only")
    assert green_only is not None
    # Whether the daemon saw blue's add (a conflict with kubectl's copy) or only its end, blue's delete leaves
    # nothing to carry: no conflict stays open to fail the runs that follow.
    settled = pair.once()
    assert settled.returncode == 0, settled.stdout + settled.stderr
    assert f"core/ConfigMap/{NS}/green-only" not in pair.status()["conflicts"]


def test_an_object_with_a_blocker_reaches_green_only_once_its_code_is_accepted(pair: Pair) -> None:
    pinned = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "train", "namespace": NS},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "train"}}, "template": {
                  "metadata": {"labels": {"app": "train"}},
                  "spec": {"nodeSelector": {"agentpool": "gpupool"}, "containers": [{"name": "c", "image": "x"}]}}}}
    path = f"/apis/apps/v1/namespaces/{NS}/deployments/train"
    pair.blue.apply(pinned, field_manager="kubectl")  # green has no pool gpupool: an unmapped-node-pool blocker
    record = json.loads((pair.out / "apply.json").read_text())
    try:
        held = pair.once()
        assert held.returncode == 1, held.stdout + held.stderr
        assert json.loads(held.stdout)["counts"].get("blocked") == 1
        with pytest.raises(ApiError) as e:
            pair.green.get(path)
        assert e.value.status == 404
        accepted = json.loads(pair.once("--accept-blockers", "unmapped-node-pool").stdout)
        assert "blocked" not in accepted["counts"] and accepted["counts"].get("created") == 1
        assert pair.green.get(path)["spec"]["template"]["spec"]["nodeSelector"] == {"agentpool": "gpupool"}
        # A run whose apply accepted the code (apply.json) keeps carrying the object's later changes without the
        # code named again: sync inherits the run's decision and says so.
        (pair.out / "apply.json").write_text(json.dumps({**record, "accepted_blockers": ["unmapped-node-pool"]}))
        changed = copy.deepcopy(pinned)
        changed["spec"]["template"]["spec"]["containers"][0]["image"] = "x:2"
        pair.blue.apply(changed, field_manager="kubectl")
        inherited = pair.once()
        assert inherited.returncode == 0, inherited.stdout + inherited.stderr
        assert json.loads(inherited.stdout)["accepted_blockers"] == ["unmapped-node-pool"]
        assert json.loads(inherited.stdout)["counts"].get("updated") == 1
        assert pair.green.get(path)["spec"]["template"]["spec"]["containers"][0]["image"] == "x:2"
    finally:
        (pair.out / "apply.json").write_text(json.dumps(record))
        pair.blue.delete(pinned)
    pair.once()
    with pytest.raises(ApiError):  # the carried copy goes with blue's
        pair.green.get(path)



def test_sync_re_points_an_owner_reference_to_greens_owner_and_akshift_owns_only_its_rewrite(pair: Pair) -> None:
    # A Deployment pinned to blue's pool 'userpool' (akshift rewrites it to green's 'apps'), applied by its tool
    # with a garbage-collection link to ConfigMap base, which migrate carried.
    base = read(pair.blue, "base")
    assert base is not None
    batch = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
        "name": "batch", "namespace": NS, "ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "base", "uid": base["metadata"]["uid"]}]},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "batch"}}, "template": {
            "metadata": {"labels": {"app": "batch"}},
            "spec": {"nodeSelector": {"agentpool": "userpool"}, "containers": [{"name": "c", "image": "x"}]}}}}
    path = f"/apis/apps/v1/namespaces/{NS}/deployments/batch"
    uid = pair.blue.apply(batch, field_manager="team-tool")["metadata"]["uid"]
    # Owned by the new Deployment: ConfigMaps are listed (and applied) before Deployments, so its owner reaches
    # green after it and the reference is linked then.
    settings = configmap("batch-settings", {"k": "v"})
    settings["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "batch",
                                                "uid": uid}]
    pair.blue.apply(settings, field_manager="team-tool")
    rs_path = f"/apis/apps/v1/namespaces/{NS}/replicasets"
    try:
        wait_for("blue's ReplicaSet of the new Deployment", lambda: any(
            o.get("uid") == uid for r in pair.blue.get(rs_path)["items"] for o in r["metadata"].get("ownerReferences", [])))
        result = pair.once()
        assert result.returncode == 0, result.stdout + result.stderr
        carried = pair.green.get(path)
        green_base = read(pair.green, "base")
        assert green_base is not None
        assert [o["uid"] for o in carried["metadata"]["ownerReferences"]] == [green_base["metadata"]["uid"]]
        assert carried["spec"]["template"]["spec"]["nodeSelector"] == {"agentpool": "apps"}
        fields = {m["manager"]: m["fieldsV1"] for m in carried["metadata"]["managedFields"]
                  if m["operation"] == "Apply"}
        # nodeSelector is an atomic map: akshift's rewrite makes it akshift's whole; the tool keeps the rest.
        assert fields["akshift"]["f:spec"] == {"f:template": {"f:spec": {"f:nodeSelector": {}}}}
        tool = json.dumps(fields["team-tool"])
        assert "f:nodeSelector" not in tool and "f:containers" in tool and "f:ownerReferences" in tool
        late = read(pair.green, "batch-settings")
        assert late is not None and [o["uid"] for o in late["metadata"]["ownerReferences"]] == \
            [carried["metadata"]["uid"]]
        time.sleep(2)  # green's garbage collector would have deleted it by now if the uid were blue's
        assert pair.green.get(path)["metadata"]["uid"] == carried["metadata"]["uid"]
        # Blue's ReplicaSet of the new Deployment is still left to green's deployment controller (whited out:
        # its owner is carried), not carried as data beside green's own.
        assert not [r["metadata"]["name"] for r in pair.green.get(rs_path)["items"]
                    if any(m["manager"] == "akshift" for m in r["metadata"].get("managedFields", []))]
    finally:
        pair.blue.delete(settings)
        pair.blue.delete(batch)
    settled = pair.once()
    assert settled.returncode == 0, settled.stdout + settled.stderr
    with pytest.raises(ApiError):  # the carried copies go with blue's
        pair.green.get(path)
    assert read(pair.green, "batch-settings") is None
