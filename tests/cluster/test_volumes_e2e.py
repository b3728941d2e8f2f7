"""Volume moves on real sandbox clusters: disks copied and bound on green, blue's writers stopped and restored.

What they prove, with a real API server, PV controller, StatefulSet controller
and scheduler on both sides (kwok plays the kubelets; the sandbox has no CSI
provisioner, so static PVs bind through claimRef exactly as on AKS):

* blue holds PVs and PVCs shaped as AKS creates them (the seeds: disk.csi and
  file.csi handles, zone affinity, LRS and ZRS classes, a CronJob's disk, an
  unbound Azure Files claim) plus one piece of bad input: a disk written by a
  DaemonSet;
* the transform, run after ``volumes plan``, writes the carried PVs pointing at
  their copies (the move never rewrites ``transformed/``);
* ``volumes move`` without ``--quiesce-source`` writes nothing to blue and
  copies no disk that is being written; with it, the writers are scaled to 0
  (the CronJob suspended) and their previous counts recorded;
* after ``apply``, every reproduced claim on green is Bound to a static PV whose
  handle is the new disk and whose annotations carry the lineage recorded in
  the run; ``volumes verify`` checks exactly that, and says the migration is
  incomplete because of the DaemonSet's volume, which was left as it was;
* a rerun changes nothing; ``volumes rollback`` restores the exact counts;
  blue's PVs are untouched throughout; a rolled-back run refuses to move again.

The Azure side is the sandbox's stand-in (``--disk-mover sandbox``): there is
no Azure here; the component that makes real snapshots and disks is tested with
Pulumi mocks (tests/mocks/test_volume_component.py).
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyrage
import pytest
from typer.testing import CliRunner

from akshift.cmd_volumes import app
from kube.client import KubeClient
from migration import pipeline, stages
from migration.secrets import SecretKey
from migration.snapshot import Snapshot
from sandbox.cluster import LocalCluster
from sandbox.profiles import BLUE, GREEN
from sandbox.seed import apply_files, seed

runner = CliRunner()

# Bad input added to blue: a zonal disk written by a DaemonSet, which cannot be scaled to 0.
DAEMON_DISK = """
apiVersion: v1
kind: Namespace
metadata: {name: vault}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv-vault-data}
spec:
  capacity: {storage: 16Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: managed-csi
  csi:
    driver: disk.csi.azure.com
    volumeHandle: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/MC_rg-shop-prod_aks-shop-prod_westeurope/providers/Microsoft.Compute/disks/vault-data
  nodeAffinity:
    required:
      nodeSelectorTerms:
        - matchExpressions:
            - {key: topology.disk.csi.azure.com/zone, operator: In, values: [westeurope-1]}
  claimRef: {apiVersion: v1, kind: PersistentVolumeClaim, namespace: vault, name: vault-data}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: vault-data, namespace: vault}
spec:
  storageClassName: managed-csi
  accessModes: [ReadWriteOnce]
  volumeName: pv-vault-data
  resources: {requests: {storage: 16Gi}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: vault-agent, namespace: vault}
spec:
  selector: {matchLabels: {app: vault-agent}}
  template:
    metadata: {labels: {app: vault-agent}}
    spec:
      nodeSelector: {agentpool: nodepool1}
      containers:
        - {name: agent, image: hashicorp/vault:1.17}
      volumes:
        - name: data
          persistentVolumeClaim: {claimName: vault-data}
"""

DISK_CLAIMS = ["data/data-postgres-0", "data/data-postgres-1", "data/data-redis-0", "data/pg-backups",
               "monitoring/storage-prometheus-0"]
WRITERS = {"apps/StatefulSet/data/postgres": 2, "apps/StatefulSet/data/redis": 1,
           "apps/StatefulSet/monitoring/prometheus": 1}


def wait_for(what: str, check: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.5)


def claims_bound(k: KubeClient, keys: list[str]) -> bool:
    phases = {f"{c['metadata']['namespace']}/{c['metadata']['name']}": c.get("status", {}).get("phase")
              for c in k.get("/api/v1/persistentvolumeclaims")["items"]}
    return all(phases.get(key) == "Bound" for key in keys)


def replicas(k: KubeClient) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for key in WRITERS:
        _, kind, ns, name = key.split("/")
        out[key] = k.get(f"/apis/apps/v1/namespaces/{ns}/statefulsets/{name}")["spec"]["replicas"]
    return out


def suspended(k: KubeClient) -> Any:
    return k.get("/apis/batch/v1/namespaces/data/cronjobs/pg-backup")["spec"].get("suspend")


def pv_specs(k: KubeClient) -> dict[str, Any]:
    return {pv["metadata"]["name"]: pv["spec"] for pv in k.get("/api/v1/persistentvolumes")["items"]}


def invoke(*args: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, [*args, "--output", "json"])
    try:
        return result.exit_code, json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"not JSON (exit {result.exit_code}): {result.output}")


@pytest.fixture
def clusters(fresh_cluster: Callable[..., LocalCluster], tmp_path: Path) -> dict[str, Any]:
    """A freshly seeded blue (plus the DaemonSet's disk) and a pristine green; blue's claims all bound."""
    blue, green = fresh_cluster(BLUE), fresh_cluster(GREEN)
    seed(blue.kubeconfig)
    extra = tmp_path / "vault.yaml"
    extra.write_text(DAEMON_DISK)
    apply_files(blue.kubeconfig, [extra])
    with KubeClient.from_kubeconfig(blue.kubeconfig) as k:
        wait_for("blue's claims to bind", lambda: claims_bound(k, DISK_CLAIMS + ["shop/shop-media", "vault/vault-data"]))
    identity = tmp_path / "age.key"
    identity.write_text(f"{pyrage.x25519.Identity.generate()}\n")
    return {"blue": blue, "green": green, "out": tmp_path / "run", "key": SecretKey.from_identity_file(identity)}


def test_disks_are_copied_and_bound_on_green_while_blue_writers_are_stopped_and_then_restored(
        clusters: dict[str, Any]) -> None:
    blue, green, out, key = clusters["blue"], clusters["green"], clusters["out"], clusters["key"]
    src, tgt = KubeClient.from_kubeconfig(blue.kubeconfig), KubeClient.from_kubeconfig(green.kubeconfig)
    try:
        blue_pvs = pv_specs(src)
        stages.inventory(src, out / "snapshot", secret_key=key)

        # The plan (before the transform): a strategy per claim; the DaemonSet's disk is a blocking finding (exit 1).
        code, plan = invoke("plan", "--out", str(out), "--target", str(green.kubeconfig),
                            "--target-resource-group", "rg-shop-green-disk-copies")
        assert code == 1
        strategies = {v["claim"]: v["strategy"] for v in plan["volumes"]}
        assert strategies == {**dict.fromkeys(DISK_CLAIMS, "copy-disk"), "shop/shop-media": "same-share",
                              "legacy/reports-archive": "nothing-to-move", "vault/vault-data": "blocked"}
        vault = next(v for v in plan["volumes"] if v["claim"] == "vault/vault-data")
        assert [f["code"] for f in vault["findings"]] == ["volume-unscalable-writer"]

        # The transform reads the plan: transformed/ is written once, the carried PVs already naming their copies.
        pipeline.transform(tgt, options=pipeline.MigrateOptions(out=out), secret_key=key)
        transformed_digest = Snapshot(out / "transformed").digest

        # Without --quiesce-source nothing is written to blue and no disk being written is copied.
        code, report = invoke("move", "--source", str(blue.kubeconfig), "--target", str(green.kubeconfig),
                              "--out", str(out), "--disk-mover", "sandbox")
        assert code == 1
        assert {v["key"] for v in report["volumes"] if v["status"] == "waiting"} == set(DISK_CLAIMS)
        assert replicas(src) == WRITERS and suspended(src) in (None, False)

        # With it: writers stopped and recorded, disks copied, static PVs on green.
        code, report = invoke("move", "--source", str(blue.kubeconfig), "--target", str(green.kubeconfig),
                              "--out", str(out), "--disk-mover", "sandbox", "--quiesce-source")
        assert code == 1  # the DaemonSet's volume stays behind: the migration is incomplete
        status = {v["key"]: v["status"] for v in report["volumes"]}
        assert status == {**dict.fromkeys(DISK_CLAIMS, "moved"), "shop/shop-media": "shared",
                          "legacy/reports-archive": "nothing-to-move", "vault/vault-data": "blocked"}
        assert replicas(src) == dict.fromkeys(WRITERS, 0) and suspended(src) is True
        state = json.loads((out / "volumes-state.json").read_text())
        assert {k: w["previous"] for k, w in state["writers"].items()} == {
            **WRITERS, "batch/CronJob/data/pg-backup": False}  # the API server defaults suspend to false
        # The move waited for the writers' pods to go before copying.
        assert not [p for p in src.get("/api/v1/namespaces/data/pods")["items"]
                    if p["metadata"]["name"].startswith(("postgres-", "redis-"))]

        # A rerun converges: same copies; the move never rewrites transformed/ (the transform wrote it once).
        code, again = invoke("move", "--source", str(blue.kubeconfig), "--target", str(green.kubeconfig),
                             "--out", str(out), "--disk-mover", "sandbox", "--quiesce-source")
        assert code == 1 and Snapshot(out / "transformed").digest == transformed_digest
        assert json.loads((out / "volumes-state.json").read_text())["copies"] == state["copies"]

        # The ordinary apply: claims on green bind to the copies through claimRef.
        outcomes = stages.apply(tgt, out / "transformed", out / "apply-journal.jsonl", secret_key=key)
        assert [o for o in outcomes if not o.ok] == []
        code, verified = invoke("verify", "--target", str(green.kubeconfig), "--out", str(out), "--timeout", "90")
        assert code == 1
        checks = {c["key"]: c for c in verified["volumes"]}
        assert {k for k, c in checks.items() if c["status"] != "verified"} == {"vault/vault-data"}
        green_pvs = pv_specs(tgt)
        for claim in DISK_CLAIMS:
            copy = state["copies"][claim]
            pv = tgt.get(f"/api/v1/persistentvolumes/{checks[claim]['pv']}")
            assert pv["spec"]["csi"]["volumeHandle"] == copy["disk_id"] != copy["source_disk_id"]
            assert pv["metadata"]["annotations"]["akshift.io/source-snapshot"] == copy["snapshot_id"]
            assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
            assert pv["status"]["phase"] == "Bound"
        # The blocked volume was left as it is: green holds only what the transform carries, no copy.
        vault_pv = tgt.get("/api/v1/persistentvolumes/pv-vault-data")
        assert vault_pv["spec"]["csi"]["volumeHandle"] == blue_pvs["pv-vault-data"]["csi"]["volumeHandle"]
        assert "akshift.io/source-snapshot" not in vault_pv["metadata"].get("annotations", {})
        media = green_pvs["pv-shop-media"]
        assert media["csi"]["volumeHandle"] == blue_pvs["pv-shop-media"]["csi"]["volumeHandle"]
        # volumes-report.md draws the same lineage: every copied claim verified, its snapshot named, vault blocked.
        lineage = (out / "volumes-report.md").read_text()
        assert lineage.startswith("# akshift volumes (verify)") and lineage.count("```mermaid") == 1
        for claim in DISK_CLAIMS:
            assert f"PVC {claim} on green: verified" in lineage
            assert state["copies"][claim]["snapshot_id"].rsplit("/", 1)[1] in lineage
        assert "| vault/vault-data | blocked |" in lineage and "blocked: " in lineage

        # The whole migration still accounts for every object, PVs compared against their green form.
        report = stages.verify(tgt, out / "snapshot", out / "transformed", secret_key=key, ready_timeout=5)
        assert report.unaccounted == [] and not report.results.has_problems

        # Rollback: exact counts back, the CronJob as it was, blue's PVs never touched.
        code, back = invoke("rollback", "--source", str(blue.kubeconfig), "--out", str(out))
        assert code == 0 and {w["status"] for w in back["writers"]} == {"restored"}
        assert replicas(src) == WRITERS and suspended(src) in (None, False)
        assert pv_specs(src) == blue_pvs

        # A rolled-back run's copies are stale: moving again is refused as bad input.
        result = runner.invoke(app, ["move", "--source", str(blue.kubeconfig), "--target", str(green.kubeconfig),
                                     "--out", str(out), "--disk-mover", "sandbox", "--quiesce-source"])
        assert result.exit_code == 2 and "rolled back" in result.output
    finally:
        src.close()
        tgt.close()
