"""The pipeline's seams, without a cluster: verify.json's one writer and reader, stale transforms, the CLI's shape.

What they pin: ``verify.json`` keeps the keys promotion and cutover read, and the
typed reader reads what the writer wrote (and older, smaller files); a
transform made without the volume plan is caught before a move; the CLI's
command modules do not import each other; ``migrate --help`` says what it does
(Rich once swallowed "[volumes]"); ``migrate -o json`` names every stage.
"""
from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from akshift.cli import app
from errors import ErrorKind
from kube.objects import ObjectRef
from migration.applier import Action, Outcome
from migration.errors import PlanError
from migration.findings import Finding, Severity, volume_data_not_copied
from migration.pipeline import (
    Inventoried,
    MigrateOptions,
    MigrateResult,
    Outcomes,
    Stage,
    Transformed,
    stale_transformed,
)
from migration.report import Results, Status
from migration.snapshot import Snapshot, SnapshotWriter
from migration.transforms import TransformContext
from migration.transforms.stage import transform_snapshot
from migration.verification import (
    Verification,
    VerificationError,
    build_verification,
    read_verification,
    write_verification,
)
from migration.volumes import TargetFacts, planned_pvs, volume_plan

from support import ROOT

SUB = "00000000-0000-0000-0000-000000000000"
DISK = f"/subscriptions/{SUB}/resourceGroups/MC_old/providers/Microsoft.Compute/disks/pvc-a"


def test_verify_json_keeps_the_keys_promotion_and_cutover_read_and_reads_back(tmp_path: Path) -> None:
    results = Results()
    ref = ObjectRef("apps", "Deployment", "shop", "web")
    results.add(ref, Status.OK)
    results.add(ObjectRef("", "ConfigMap", "shop", "bad"), Status.FAILED, "differs")
    blocker = Finding("azure-disk-volume", Severity.BLOCKER, ref, "m", "f")
    v = build_verification(results=results, unaccounted=["shop/core.Secret/x.yaml"], not_ready=[], ok=False,
                           snapshot_digest="sha256:abc", findings=[blocker])
    path = write_verification(tmp_path, v)
    doc = json.loads(path.read_text())
    assert set(doc) == {"ok", "verified_at", "snapshot_digest", "counts", "unaccounted", "not_ready", "problems",
                        "blocking_findings", "data_not_copied", "objects"}
    assert doc["counts"] == {"ok": 1, "failed": 1} and doc["blocking_findings"] == 1
    assert read_verification(path) == v
    assert not v.vouches


def test_a_rehearsal_whose_claims_started_empty_is_ok_but_never_vouched_for(tmp_path: Path) -> None:
    results = Results()
    results.add(ObjectRef("apps", "StatefulSet", "data", "postgres"), Status.OK)
    claim = ObjectRef("", "PersistentVolumeClaim", "data", "pg-data-postgres-0")
    empty = volume_data_not_copied(claim, ObjectRef("", "PersistentVolume", "", "pvc-7a1e"), "Azure Disk /x")
    v = build_verification(results=results, unaccounted=[], not_ready=[], ok=True, snapshot_digest="sha256:abc",
                           findings=iter([empty]))  # an iterator: counted and listed from one pass
    assert v.ok and v.blocking_findings == 0 and v.data_not_copied == (claim.key,)
    assert not v.vouches
    back = read_verification(write_verification(tmp_path, v))
    assert back == v and back is not None and not back.vouches


def test_empty_volumes_and_move_volumes_together_are_refused_as_bad_input(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="contradict") as e:
        MigrateOptions(out=tmp_path, empty_volumes=True, move_volumes=True)
    assert e.value.kind is ErrorKind.BAD_INPUT
    r = CliRunner().invoke(app, ["migrate", "--source", str(tmp_path / "a"), "--target", str(tmp_path / "b"),
                                 "--out", str(tmp_path / "out"), "--exclude-secrets", "--empty-volumes",
                                 "--move-volumes", "--target-resource-group", "rg-copies"])
    assert r.exit_code == 2 and "--empty-volumes" in r.output, r.output
    assert not (tmp_path / "out").exists()  # refused before anything was read or written


def test_the_reader_takes_older_smaller_reports_and_refuses_what_is_not_one(tmp_path: Path) -> None:
    assert read_verification(tmp_path / "none.json") is None
    small = tmp_path / "small.json"
    small.write_text('{"ok": true, "unaccounted": [], "not_ready": [], "blocking_findings": 0}')
    v = read_verification(small)
    assert v == Verification(ok=True) and v.vouches and v.verified_at is None
    for content, message in (("{not json", "is not JSON"), ('{"counts": {}}', "has no boolean 'ok'")):
        bad = tmp_path / "bad.json"
        bad.write_text(content)
        with pytest.raises(VerificationError, match=message) as e:
            read_verification(bad)
        assert str(bad) in str(e.value) and e.value.exit_code == 2


def _pv() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pvc-a"},
            "spec": {"capacity": {"storage": "8Gi"}, "accessModes": ["ReadWriteOnce"],
                     "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "managed-csi",
                     "csi": {"driver": "disk.csi.azure.com", "volumeHandle": DISK,
                             "volumeAttributes": {"skuname": "StandardSSD_ZRS"}},
                     "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": "shop",
                                  "name": "data", "uid": "u"}}}


def test_a_transform_made_without_the_volume_plan_is_stale_and_one_made_with_it_is_not(tmp_path: Path) -> None:
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"namespace": "shop", "name": "data"},
             "spec": {"volumeName": "pvc-a"}}
    moves = volume_plan([claim, _pv()], TargetFacts(region="westeurope", resource_group="rg-new-disk-copies", subscription=SUB))
    assert [m.strategy.value for m in moves] == ["copy-disk"]
    with SnapshotWriter(tmp_path / "snapshot", exclude_secrets=True) as w:
        for o in (claim, _pv()):
            w.write(o)
    assert stale_transformed(tmp_path, moves) == []  # no transform yet: nothing to be stale
    transform_snapshot(Snapshot(tmp_path / "snapshot"), tmp_path / "transformed", TransformContext(),
                       exclude_secrets=True)
    assert stale_transformed(tmp_path, moves) == ["pvc-a"]
    transform_snapshot(Snapshot(tmp_path / "snapshot"), tmp_path / "transformed",
                       TransformContext(volume_pvs=planned_pvs(moves)), exclude_secrets=True, overwrite=True)
    assert stale_transformed(tmp_path, moves) == []


def test_migrate_json_names_every_stage_and_stops_before_apply_on_a_bad_plan(tmp_path: Path) -> None:
    conflict = Outcome("core/ConfigMap/shop/a", "ConfigMap shop/a", Action.CONFLICT, "owned by helm")
    result = MigrateResult(Inventoried(tmp_path, 3, 2, (), 0.1), Transformed(tmp_path, 3, 0, (), ()),
                           Outcomes(Stage.PLAN, (conflict,)))
    d = json.loads(json.dumps(result.to_dict()))
    assert {s.value for s in Stage} <= set(d)
    assert d["plan"] == {"conflict": 1} and d["apply"] is None and d["stopped_before_apply"] is True
    assert not result.ok and d["problems"][0]["action"] == "conflict"


def test_the_command_modules_do_not_import_each_other() -> None:
    for name, other in (("cmd_migrate", "cmd_volumes"), ("cmd_volumes", "cmd_migrate")):
        tree = ast.parse((ROOT / "akshift" / f"{name}.py").read_text())
        imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
        assert not any(other in m for m in imported), f"{name} imports {other}"


def test_migrate_help_says_where_the_volumes_go() -> None:
    result = CliRunner().invoke(app, ["migrate", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "→  →" not in result.output and "transform, plan, apply, verify" in text
    assert "volume plan before the transform" in text and "volume move before the plan" in text


class _Green:
    """A target that answers only what the volume plan reads: its Nodes, as AKS labels them."""

    def get(self, path: str) -> dict[str, Any]:
        assert path == "/api/v1/nodes"
        labels = {"topology.kubernetes.io/region": "westeurope", "topology.kubernetes.io/zone": "westeurope-1",
                  "kubernetes.azure.com/cluster": "MC_rg_green_westeurope"}
        return {"items": [{"kind": "Node", "metadata": {"name": "n1", "labels": labels},
                           "spec": {"providerID": f"azure:///subscriptions/{SUB}/resourceGroups/mc_rg_green_westeurope/"
                                                  "providers/Microsoft.Compute/virtualMachineScaleSets/s/virtualMachines/0"}}]}


def test_the_volume_plan_refuses_to_guess_where_disk_copies_go_and_names_the_flag(tmp_path: Path) -> None:
    from migration.errors import PlanError
    from migration.pipeline import VolumeOptions, plan_volumes

    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"namespace": "shop", "name": "data"},
             "spec": {"volumeName": "pvc-a"}}
    with SnapshotWriter(tmp_path / "snapshot", exclude_secrets=True) as w:
        for o in (claim, _pv()):
            w.write(o)
    for group in (None, "MC_rg_green_westeurope"):  # unknown, or green's node resource group named explicitly
        with pytest.raises(PlanError) as e:
            plan_volumes(_Green(), options=VolumeOptions(out=tmp_path, resource_group=group))  # type: ignore[arg-type]
        assert e.value.ref == "--target-resource-group" and "shop/data" in str(e.value)
        assert "--target-stack" in e.value.fix and e.value.exit_code == 2
        assert not (tmp_path / "volumes-plan.json").exists()
    moves = plan_volumes(_Green(), options=VolumeOptions(out=tmp_path, resource_group="rg-green-disk-copies"))  # type: ignore[arg-type]
    assert moves[0].copy is not None and moves[0].copy.resource_group == "rg-green-disk-copies"


def test_a_rehearsal_transform_puts_no_pv_of_the_source_on_the_target_even_with_a_volume_plan(
        tmp_path: Path) -> None:
    from migration import pipeline
    from migration.pipeline import VolumeOptions, plan_volumes

    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"namespace": "shop", "name": "data"},
             "spec": {"volumeName": "pvc-a", "storageClassName": "managed-csi"}}
    with SnapshotWriter(tmp_path / "snapshot", exclude_secrets=True) as w:
        for o in (claim, _pv()):
            w.write(o)
    # A plan left in the run directory would carry the PV as a copy: a rehearsal carries nothing.
    plan_volumes(_Green(), options=VolumeOptions(out=tmp_path, resource_group="rg-green-disk-copies"))  # type: ignore[arg-type]
    t = pipeline.transform(None, options=MigrateOptions(out=tmp_path, empty_volumes=True), secret_key=None)
    out = Snapshot(tmp_path / "transformed")
    assert not [p for p in out.paths() if "PersistentVolume/" in p and "Claim" not in p]
    assert "volumeName" not in out.read("shop/core.PersistentVolumeClaim/data.yaml")["spec"]
    assert t.volume_pvs == 0 and not t.blocking
    assert [f.code for f in t.findings if f.ref.kind == "PersistentVolumeClaim"] == ["volume-data-not-copied"]


def test_a_transform_is_not_failed_by_the_disk_blockers_its_volume_plan_already_carries(tmp_path: Path) -> None:
    def disk(pv: str) -> Finding:
        return Finding("azure-disk-volume", Severity.BLOCKER, ObjectRef("", "PersistentVolume", "", pv),
                       "is an Azure Disk whose data the volume move copies", "run `akshift volumes move`")

    carried = Transformed(tmp_path, 2, 0, (), (disk("pv-a"),), 1, frozenset({"pv-a"}))
    uncarried = Transformed(tmp_path, 2, 0, (), (disk("pv-a"), disk("pv-b")), 1, frozenset({"pv-a"}))
    assert carried.ok and not carried.blocking
    assert not uncarried.ok and uncarried.blocking


def test_a_transform_is_not_failed_by_blockers_the_user_accepted_but_still_reports_them(tmp_path: Path) -> None:
    pod_identity = Finding("aad-pod-identity", Severity.BLOCKER, ObjectRef("apps", "Deployment", "legacy", "reporter"),
                           "relies on AAD Pod Identity", "move it to Workload Identity")
    accepted = Transformed(tmp_path, 1, 0, (), (pod_identity,), accepted=frozenset({"aad-pod-identity"}))
    other = Transformed(tmp_path, 1, 0, (), (pod_identity,), accepted=frozenset({"unmapped-node-pool"}))
    assert accepted.ok and accepted.findings == (pod_identity,)
    assert not other.ok and other.blocking


def test_transform_takes_accept_blockers_as_migrate_and_apply_do() -> None:
    for command in ("transform", "migrate", "apply"):
        result = CliRunner().invoke(app, [command, "--help"], terminal_width=200)
        assert "--accept-blockers" in result.output, command
