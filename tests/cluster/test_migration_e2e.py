"""The migration engine end to end on real sandbox clusters: lossless, idempotent, resumable, read-only on the source."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from akshift.cli import app
from kube.client import KubeClient
from kube.objects import ObjectRef
from migration import blockers, stages
from migration.secrets import SecretKey
from migration.snapshot import Snapshot, SnapshotWriter
from sandbox.cluster import LocalCluster
from sandbox.generate import generate
from sandbox.profiles import BLUE, GREEN
from sandbox.seed import seed

from support import ROOT

runner = CliRunner()


@pytest.fixture(scope="module")
def age_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "age.key"
    result = runner.invoke(app, ["keygen", str(path)])
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A freshly seeded blue that writes an API audit log (:func:`migrated` adds its read-only account).

    Why one of its own rather than the session's ``blue``: the read-only proof needs the audit log, and
    the volume move below quiesces its writers. It is migrated once (:func:`migrated`, through the read-only
    account), and only then does the volume move write to it (that test asks for ``migrated``).
    """
    cluster = LocalCluster(BLUE, tmp_path_factory.mktemp("source") / "blue", audit=True).start()
    try:
        seed(cluster.kubeconfig)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def migrated(source: LocalCluster, tmp_path_factory: pytest.TempPathFactory, age_key: Path) -> Iterator[dict[str, Any]]:
    """One full `akshift migrate` of the seeded, audited blue into a pristine green, shared by the tests below.

    It reads the source through a ServiceAccount bound to a get/list/watch-only ClusterRole, so the same run
    is both the full migration the tests below judge and the proof that a migration only reads its source
    (:func:`test_source_is_only_read_even_by_a_full_migration`) — one migration instead of two.
    """
    root = tmp_path_factory.mktemp("migrated")
    reader = _read_only_kubeconfig(source, root / "reader.kubeconfig")
    target = LocalCluster(GREEN, root / "green").start()
    out = root / "run"
    try:
        # The workloads mounting the claims held back by their blockers never become ready, so verify waits out
        # the whole --ready-timeout for them: 20 s (was 60) is still several times what the seeds' other
        # workloads take on a loaded machine (kwok makes pods ready at once), and those must be ready within it.
        result = runner.invoke(app, ["migrate", "--source", str(reader), "--target", str(target.kubeconfig),
                                     "--out", str(out), "--age-identity", str(age_key), "--ready-timeout", "20",
                                     "--output", "json"])
        yield {"source": source, "target": target, "out": out, "result": result}
    finally:
        target.stop()


def test_full_migration_accounts_for_every_source_object(migrated: dict[str, Any]) -> None:
    out = migrated["out"]
    verify = json.loads((out / "verify.json").read_text())
    assert verify["unaccounted"] == []
    # The seeds' zonal disks in the old node resource group are held back by their azure-disk-volume blocker,
    # with their claims (issue 12: never applied pointing at the source's disk, never given an empty one);
    # legacy/legacy-reporter is held back by its aad-pod-identity blocker (issue 13), with the ReplicaSet and
    # Pod its controller would recreate: they are the only problems, and only workloads mounting those
    # claims may wait for them.
    assert [p["object"] for p in verify["problems"] if p["status"] != "blocked"] == []
    blocked = {p["object"] for p in verify["problems"]}
    storage = {o for o in blocked if o.split(" ", 1)[0] in ("PersistentVolume", "PersistentVolumeClaim")}
    assert storage and {o.split(" ", 1)[0] for o in storage} == {"PersistentVolume", "PersistentVolumeClaim"}
    reporter = {o.split(" ", 1)[0] for o in blocked - storage if o.split(" ", 1)[1].startswith("legacy/legacy-reporter")}
    assert reporter == {"Deployment.apps", "ReplicaSet.apps", "Pod"} and len(blocked - storage) == 3
    assert all("aad-pod-identity" in p["message"] or "held back by a blocker" in p["message"]
               for p in verify["problems"] if p["object"] in blocked - storage)
    assert all(_mounts_a_blocked_claim(out, entry.split(": ", 1)[0], blocked) for entry in verify["not_ready"])
    snap = Snapshot(out / "snapshot")
    counts = verify["counts"]
    assert counts["ok"] + counts["excluded"] + counts["blocked"] == \
        len(snap.paths()) + len(snap.index["secrets_excluded"])
    # The seeds' workloads really run on the target.
    with KubeClient.from_kubeconfig(migrated["target"].kubeconfig) as k:
        web = k.get("/apis/apps/v1/namespaces/shop/deployments/shop-web")
        assert web["status"].get("availableReplicas") == web["spec"]["replicas"]


def _mounts_a_blocked_claim(out: Path, workload: str, blocked: set[str]) -> bool:
    """Whether the workload named ``workload`` (``Kind.group ns/name``) mounts a claim verify reports blocked."""
    snap = Snapshot(out / "transformed")
    obj = next(o for o in map(snap.read, snap.paths(include_secrets=False)) if str(ObjectRef.of(o)) == workload)
    ns, spec = obj["metadata"]["namespace"], obj["spec"]
    claims = {v["persistentVolumeClaim"]["claimName"] for v in spec["template"]["spec"].get("volumes", ())
              if "persistentVolumeClaim" in v}
    for tpl in spec.get("volumeClaimTemplates", ()):
        claims |= {f"{tpl['metadata']['name']}-{obj['metadata']['name']}-{i}" for i in range(spec.get("replicas", 1))}
    return any(f"PersistentVolumeClaim {ns}/{c}" in blocked for c in claims)


def test_migration_exit_code_reports_the_blocking_findings(migrated: dict[str, Any]) -> None:
    # The seeds hold zonal Azure Disks: a human must move their data, so migrate must not say "done".
    assert migrated["result"].exit_code == 1
    report = (migrated["out"] / "report.md").read_text()
    assert "azure-disk-volume" in report


def test_continuity_findings_name_the_seeds_hard_coded_old_addresses_dns_label_and_pod_identity(
        migrated: dict[str, Any]) -> None:
    # Issue 13 item 7, on the seeded blue: the source pod CIDR is read from blue's kubenet nodes
    # (10.244.0.0/16), so the addresses of old pods written into config and custom resources are named.
    report = json.loads((migrated["out"] / "report.json").read_text())
    found = {(f["code"], f["ref"]["kind"], f["ref"]["namespace"], f["ref"]["name"]) for f in report["findings"]}
    assert {("hard-coded-old-address", "ConfigMap", "legacy", "legacy-app-settings"),
            ("hard-coded-old-address", "Widget", "data", "pg-vacuum"),
            ("azure-dns-label-name", "Service", "shop", "shop-public"),
            ("aad-pod-identity", "Deployment", "legacy", "legacy-reporter")} <= found
    severity = {(f["code"], f["ref"]["name"]): f["severity"] for f in report["findings"]}
    assert severity[("aad-pod-identity", "legacy-reporter")] == "blocker"


def test_secrets_never_land_on_disk_in_plain_text(migrated: dict[str, Any]) -> None:
    out = migrated["out"]
    snap = Snapshot(out / "snapshot")
    assert snap.index["secrets"], "the seeds have Secrets"
    plain = [p for p in out.rglob("*") if p.is_file() and "/core.Secret/" in str(p)]
    assert plain == []
    with KubeClient.from_kubeconfig(migrated["target"].kubeconfig) as k:
        secret = k.get("/api/v1/namespaces/shop/secrets/shop-api-secrets")
    needle = next(iter(secret["data"].values())).encode()
    for f in out.rglob("*"):
        if f.is_file() and f.suffix != ".key":
            assert needle not in f.read_bytes(), f"secret value found in {f}"


def test_cleaned_objects_carry_no_server_state(migrated: dict[str, Any]) -> None:
    svc = yaml.safe_load((migrated["out"] / "transformed/shop/core.Service/shop-web.yaml").read_text())
    assert "clusterIP" not in svc["spec"] and "status" not in svc
    # managedFields and ownerReferences stay as the source's identity, restored by the applier (issue 13).
    assert set(svc["metadata"]) <= {"name", "namespace", "labels", "annotations", "managedFields", "ownerReferences"}
    assert not {"uid", "resourceVersion", "creationTimestamp", "generation"} & set(svc["metadata"])
    assert "kubectl.kubernetes.io/last-applied-configuration" not in svc["metadata"].get("annotations", {})
    headless = [yaml.safe_load(p.read_text()) for p in (migrated["out"] / "transformed").rglob("core.Service/*.yaml")]
    assert any(s["spec"].get("clusterIP") == "None" for s in headless), "headless Services keep clusterIP: None"


def test_second_apply_changes_nothing_on_the_target(migrated: dict[str, Any], age_key: Path) -> None:
    target, out = migrated["target"], migrated["out"]
    key = SecretKey.from_identity_file(age_key)
    # Controllers keep updating some objects (a Pending PVC's status), so "nothing changed" is judged
    # by what akshift owns: its managedFields entries (fields and time) must be untouched.
    # What the first apply held back (blocker findings) stays held back: the re-run is the same apply.
    held = blockers.from_outcomes(json.loads((out / "apply.json").read_text())["objects"])

    def ours(k: KubeClient) -> dict[str, Any]:
        return {ObjectRef.of(o).key: [m for m in k.read(o)["metadata"].get("managedFields", []) if m["manager"] == "akshift"]
                for o in Snapshot(out / "transformed").objects(secret_key=key) if ObjectRef.of(o).key not in held}

    with KubeClient.from_kubeconfig(target.kubeconfig) as k:
        before = ours(k)
        time.sleep(1.1)  # so that any write would carry a newer managedFields time
        outcomes = stages.apply(k, out / "transformed", out / "rerun-journal.jsonl", secret_key=key, blocked=held)
        after = ours(k)
    assert {o.action for o in outcomes if o.key not in held} == {"unchanged"}
    assert {o.key for o in outcomes if o.action == "blocked"} == set(held)
    assert before == after


def _write_transformed(objs: list[dict[str, Any]], path: Path) -> Path:
    with SnapshotWriter(path, stage="transformed", exclude_secrets=True) as w:
        for o in objs:
            w.write(o)
    return path


def _managed_by_akshift(kubeconfig: Path, keys: list[dict[str, Any]]) -> dict[str, Any]:
    from migration.applier import comparable

    with KubeClient.from_kubeconfig(kubeconfig) as k:
        out = {}
        for o in keys:
            live = k.read(o)
            if live is not None:
                c = comparable(live)
                c["metadata"].pop("annotations", None)
                spec = dict(c.get("spec") or c.get("data") or {})
                for allocated in ("clusterIP", "clusterIPs"):  # each cluster allocates its own
                    spec.pop(allocated, None)
                out[ObjectRef.of(o).key] = spec
        return out


def test_sigkill_during_apply_then_resume_ends_identical_to_an_uninterrupted_run(
    green: LocalCluster, fresh_cluster: Any, tmp_path: Path
) -> None:
    objs = [o for o in generate(1500, seed=7) if o["kind"] != "Secret"]
    transformed = _write_transformed(objs, tmp_path / "transformed")
    # The uninterrupted reference goes to the session's green (the generated objects live in their own
    # bench-s7-* namespaces); the run that is killed needs a pristine cluster of its own.
    reference, victim = green, fresh_cluster(GREEN)
    with KubeClient.from_kubeconfig(reference.kubeconfig) as k:
        assert all(o.ok for o in stages.apply(k, transformed, tmp_path / "ref-journal.jsonl"))

    journal = tmp_path / "journal.jsonl"
    rng = random.Random(int(time.time()))
    for kill_after in sorted(rng.sample(range(50, len(objs) - 100), 2)):
        cmd = [sys.executable, "-c", (
            "import sys; from pathlib import Path; from migration import stages; from kube.client import KubeClient;"
            f"k = KubeClient.from_kubeconfig({str(victim.kubeconfig)!r});"
            f"stages.apply(k, Path({str(transformed)!r}), Path({str(journal)!r}), concurrency=4)")]
        proc = subprocess.Popen(cmd, cwd=ROOT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if journal.exists() and journal.read_bytes().count(b"\n") >= kill_after:
                break
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    done_before_resume = journal.read_bytes().count(b"\n")
    assert done_before_resume < len(objs), "the kill must land before the apply finished"
    with KubeClient.from_kubeconfig(victim.kubeconfig) as k:
        outcomes = stages.apply(k, transformed, journal)
    assert all(o.ok for o in outcomes), [o for o in outcomes if not o.ok][:3]
    assert sum(o.action == "skipped" for o in outcomes) >= done_before_resume - 1  # a torn last line may re-apply
    assert _managed_by_akshift(victim.kubeconfig, objs) == _managed_by_akshift(reference.kubeconfig, objs)


def _read_only_kubeconfig(cluster: LocalCluster, path: Path) -> Path:
    """A kubeconfig for a ServiceAccount bound to a get/list/watch-only ClusterRole."""
    with KubeClient.from_kubeconfig(cluster.kubeconfig) as k:
        for obj in (
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader", "namespace": "default"}},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "akshift-reader"},
             "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]},
                       {"nonResourceURLs": ["*"], "verbs": ["get"]}]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "akshift-reader"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "akshift-reader"},
             "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": "default"}]},
        ):
            k.apply(obj, field_manager="test")
        token = k.request("POST", "/api/v1/namespaces/default/serviceaccounts/reader/token",
                          body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                "spec": {"expirationSeconds": 3600}})["status"]["token"]
    doc = yaml.safe_load(cluster.kubeconfig.read_text())
    doc["users"][0]["user"] = {"token": token}
    path.write_text(yaml.safe_dump(doc))
    return path


def test_source_is_only_read_even_by_a_full_migration(migrated: dict[str, Any]) -> None:
    # The module's one migration read its source through the read-only account (see `migrated`).
    result = migrated["result"]
    assert result.exit_code in (0, 1), result.output
    assert json.loads((migrated["out"] / "verify.json").read_text())["unaccounted"] == []
    time.sleep(1)  # the audit log is written as requests complete
    events = [json.loads(line) for line in migrated["source"].audit_log.read_text().splitlines()]
    ours = [e for e in events if e["user"]["username"] == "system:serviceaccount:default:reader"]
    assert len(ours) > 20, "the migration read the source through the read-only account"
    assert {e["verb"] for e in ours} <= {"get", "list", "watch"}, {e["verb"] for e in ours}


def test_unreachable_source_is_an_environment_error(tmp_path: Path, green: LocalCluster) -> None:
    doc = yaml.safe_load(green.kubeconfig.read_text())
    doc["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    bad = tmp_path / "down.kubeconfig"
    bad.write_text(yaml.safe_dump(doc))
    result = runner.invoke(app, ["inventory", "--source", str(bad), "--out", str(tmp_path / "run"), "--exclude-secrets"])
    assert result.exit_code == 3
    assert "cannot reach https://127.0.0.1:1" in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("content, message", [
    ("{not yaml: [", "not valid YAML"),
    ("apiVersion: v1\nkind: Config\ncurrent-context: nowhere\ncontexts: []\n", "context 'nowhere' not found"),
], ids=["malformed-yaml", "missing-context"])
def test_malformed_kubeconfig_is_bad_input_naming_the_problem(tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "bad.kubeconfig"
    bad.write_text(content)
    result = runner.invoke(app, ["inventory", "--source", str(bad), "--out", str(tmp_path / "run"), "--exclude-secrets"])
    assert result.exit_code == 2
    assert message in result.output


def test_unauthorized_source_is_bad_input(tmp_path: Path, green: LocalCluster) -> None:
    doc = yaml.safe_load(green.kubeconfig.read_text())
    doc["users"][0]["user"] = {"token": "not-a-valid-token"}
    bad = tmp_path / "anon.kubeconfig"
    bad.write_text(yaml.safe_dump(doc))
    result = runner.invoke(app, ["inventory", "--source", str(bad), "--out", str(tmp_path / "run"), "--exclude-secrets"])
    assert result.exit_code == 2
    assert "refused the credentials" in result.output


def test_objects_the_target_rejects_fail_one_by_one_and_the_rest_proceeds(green: LocalCluster, tmp_path: Path) -> None:
    ns = "reject-test"
    objs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "good", "namespace": ns}, "data": {"a": "b"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "bad-port", "namespace": ns},
         "spec": {"ports": [{"port": 70000}], "selector": {"app": "x"}}},
        {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "no-crd", "namespace": ns}, "spec": {}},
        {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "no-pods", "namespace": ns},
         "spec": {"hard": {"pods": "0"}}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "over-quota", "namespace": ns},
         "spec": {"containers": [{"name": "c", "image": "nginx:1.27",
                                  "resources": {"requests": {"cpu": "10m"}, "limits": {"cpu": "10m"}}}]}},
    ]
    transformed = _write_transformed(objs, tmp_path / "run" / "transformed")
    with KubeClient.from_kubeconfig(green.kubeconfig) as k:
        outcomes = {o.ref: o for o in stages.apply(k, transformed, tmp_path / "run" / "journal.jsonl")}
    assert outcomes[f"ConfigMap {ns}/good"].action == "created"
    assert outcomes[f"Service {ns}/bad-port"].action == "failed"
    assert "70000" in outcomes[f"Service {ns}/bad-port"].message
    assert outcomes[f"Gadget.example.com {ns}/no-crd"].action == "failed"
    assert "not served" in outcomes[f"Gadget.example.com {ns}/no-crd"].message
    # Quotas go after what they govern (issue 13 item 4): the source's over-quota Pod is reproduced,
    # then the quota is applied and waited for until the quota controller computed its usage.
    assert outcomes[f"Pod {ns}/over-quota"].action == "created"
    assert outcomes[f"ResourceQuota {ns}/no-pods"].action == "created"
    with KubeClient.from_kubeconfig(green.kubeconfig) as k:
        quota = k.read(objs[4])
    assert quota["status"]["hard"] == {"pods": "0"}
    # The CLI turns any failure into exit 1 and lists each one.
    result = runner.invoke(app, ["apply", "--target", str(green.kubeconfig), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert "bad-port" in result.output and "no-crd" in result.output


def _wait_source_volumes_bound(source: LocalCluster, timeout: float = 45.0) -> None:
    """Let blue's PV controller bind the seeded claims before the inventory (it binds on its own schedule).

    A claim still unbound at inventory holds no data for the volume plan, so its disk is not carried; its
    PV (on the old disk) is then held back by its blocker, with the claim, and the StatefulSet waits on green.
    """
    deadline = time.monotonic() + timeout
    with KubeClient.from_kubeconfig(source.kubeconfig) as k:
        while time.monotonic() < deadline:
            pvs = k.get("/api/v1/persistentvolumes")["items"]
            if all(pv.get("status", {}).get("phase") == "Bound" for pv in pvs if pv["spec"].get("claimRef")):
                return
            time.sleep(1)


def test_migrate_with_volume_moves_carries_the_disks_and_clears_their_blockers(
    migrated: dict[str, Any], fresh_cluster: Any, tmp_path: Path, age_key: Path
) -> None:
    # The module's seeded blue, after its one (read-only) migration: this test is the first to write to it.
    source = migrated["source"]
    _wait_source_volumes_bound(source)
    target = fresh_cluster(GREEN)
    out = tmp_path / "run"
    result = runner.invoke(app, ["migrate", "--source", str(source.kubeconfig), "--target", str(target.kubeconfig),
                                 "--out", str(out), "--age-identity", str(age_key), "--ready-timeout", "60",
                                 "--move-volumes", "--target-resource-group", "rg-shop-green-disk-copies",
                                 "--quiesce-source", "--disk-mover", "sandbox", "--output", "json"])
    volumes = json.loads((out / "volumes-verify.json").read_text())
    verified = [v for v in volumes["volumes"] if v["status"] == "verified" and v["strategy"] == "copy-disk"]
    assert verified, volumes
    report = json.loads((out / "verify.json").read_text())
    assert report["unaccounted"] == []
    # What the volume plan could not carry stays held back by its blocker (issue 12), its claim with it;
    # nothing else is a problem, and no carried disk or its claim is held back.
    assert [p["object"] for p in report["problems"] if p["status"] != "blocked"] == []
    carried_claims = {v["key"].rsplit("/", 1)[-1] for v in verified}  # the claim's namespace/name
    assert not {p["ref"]["name"] for p in report["problems"]} & ({v["pv"] for v in verified} | carried_claims)
    # Disks whose data was carried and verified no longer need a human …
    with KubeClient.from_kubeconfig(target.kubeconfig) as k:
        for v in verified:
            pv = k.get(f"/api/v1/persistentvolumes/{v['pv']}")
            assert pv["status"]["phase"] == "Bound"
            assert "/disks/" in pv["spec"]["csi"]["volumeHandle"]
    # … so fewer blockers remain than the transform found, and the exit code reflects what is left.
    remaining = report["blocking_findings"]
    found = [f for f in Snapshot(out / "transformed").findings() if f.severity.value == "blocker"]
    carried = {v["pv"] for v in verified}
    assert remaining == len([f for f in found if not (f.code == "azure-disk-volume" and f.ref.name in carried)])
    assert remaining < len(found)
    assert result.exit_code == (1 if remaining or not volumes["ok"] else 0), result.output
