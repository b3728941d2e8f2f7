"""Construction tests of ``components.volume_move.VolumeMove`` under ``pulumi.runtime.set_mocks``.

What they pin: the ARM payload of the incremental snapshot (Copy from the source
disk, in the target group) and of the new disk (Copy from the snapshot, zone,
SKU — ZRS stays ZRS and takes no zone), that the disk is protected and the
snapshot kept on delete, parenting, the outputs, the inline program the
``PulumiDiskMover`` runs (one component per planned copy, ids exported by
claim), the mover's handling of a failed ``up``, and that invalid arguments
name their keys and register nothing.

The harness records each RegisterResource request with the inputs the mocks
received (the shared harness in tests/support/pulumi_harness.py).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from components.volume_move import VolumeMove, VolumeMoveArgs, program, resource_name, validate
from deploy.disk_mover import PulumiDiskMover
from deploy.engine import Stack as EngineStack
from migration.errors import ApplyError
from migration.volumes.model import DiskCopy, DiskCopyResult
from stacks.errors import ConfigError

from support import pulumi_harness as harness
from support.fake_stack import FakeAutomationStack, command_error
from support.pulumi_harness import Registered

SOURCE = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/MC_rg-shop-prod_aks-shop-prod_westeurope"
          "/providers/Microsoft.Compute/disks/pvc-5b0e7a7e")
TARGET_RG = "MC_rg-shop-prod_aks-shop-green_westeurope"


def _azure_state(typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """How the fake Azure answers: outputs as ARM returns them."""
    kind = {"azure-native:compute:Snapshot": ("snapshots", "snapshotName"),
            "azure-native:compute:Disk": ("disks", "diskName")}.get(typ)
    if kind is None:
        return f"{name}-id", dict(inputs)
    # Like ARM: the id is built from subscription, group and the Azure name.
    rid = (f"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/"
           f"{inputs['resourceGroupName']}/providers/Microsoft.Compute/{kind[0]}/{inputs[kind[1]]}")
    return rid, {**inputs, "name": inputs[kind[1]]}


def run(program: Callable[[], Any]) -> list[Registered]:
    return harness.run(program, _azure_state, stack="volume")


def args(**kw: Any) -> VolumeMoveArgs:
    base: dict[str, Any] = dict(source_disk_id=SOURCE, resource_group_name=TARGET_RG, location="westeurope",
                                snapshot_name="pvc-5b0e7a7e-1a2b3c4d-akshift-snap", disk_name="pvc-5b0e7a7e-1a2b3c4d-akshift",
                                sku="Premium_LRS", zone="1", claim="data/data-postgres-0")
    return VolumeMoveArgs(**{**base, **kw})


def one(items: list[Registered], suffix: str) -> Registered:
    found = [r for r in items if r.type.endswith(suffix)]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def test_an_lrs_move_is_an_incremental_snapshot_of_the_source_and_a_zonal_disk_made_from_it() -> None:
    items = run(lambda: VolumeMove("data.data-postgres-0", args()))
    snap, disk = one(items, "compute:Snapshot"), one(items, "compute:Disk")
    assert snap.name == "data.data-postgres-0-snapshot" and disk.name == "data.data-postgres-0-disk"
    tags = {"akshift-source-disk": SOURCE, "akshift-claim": "data/data-postgres-0"}
    assert snap.inputs == {
        "snapshotName": "pvc-5b0e7a7e-1a2b3c4d-akshift-snap", "resourceGroupName": TARGET_RG, "location": "westeurope",
        "creationData": {"createOption": "Copy", "sourceResourceId": SOURCE}, "incremental": True,
        "sku": {"name": "Standard_LRS"}, "tags": tags}
    snapshot_id = (f"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/{TARGET_RG}/providers/"
                   "Microsoft.Compute/snapshots/pvc-5b0e7a7e-1a2b3c4d-akshift-snap")
    assert disk.inputs == {
        "diskName": "pvc-5b0e7a7e-1a2b3c4d-akshift", "resourceGroupName": TARGET_RG, "location": "westeurope",
        "creationData": {"createOption": "Copy", "sourceResourceId": snapshot_id}, "sku": {"name": "Premium_LRS"},
        "zones": ["1"], "tags": tags}
    assert "diskSizeGB" not in disk.inputs  # the copy inherits the source's exact size
    assert {r.type for r in items} == {"akshift:index:VolumeMove", "azure-native:compute:Snapshot",
                                       "azure-native:compute:Disk"}


@pytest.mark.parametrize("sku,snapshot_sku", [("StandardSSD_ZRS", "Standard_ZRS"), ("Premium_ZRS", "Standard_ZRS")],
                         ids=["standard-ssd-zrs", "premium-zrs"])
def test_a_zrs_source_gives_a_zrs_disk_without_a_zone_and_a_zone_redundant_snapshot(sku: str,
                                                                                   snapshot_sku: str) -> None:
    items = run(lambda: VolumeMove("monitoring.storage-prometheus-0", args(sku=sku, zone=None)))
    disk = one(items, "compute:Disk")
    assert disk.inputs["sku"] == {"name": sku} and "zones" not in disk.inputs
    assert one(items, "compute:Snapshot").inputs["sku"] == {"name": snapshot_sku}


def test_the_new_disk_is_protected_and_the_snapshot_kept_and_both_are_children_of_the_component() -> None:
    items = run(lambda: VolumeMove("data.redis", args()))
    disk, snap = one(items, "compute:Disk"), one(items, "compute:Snapshot")
    assert disk.protect and not disk.retain_on_delete
    assert snap.retain_on_delete and not snap.protect
    assert disk.parent == snap.parent == "akshift:index:VolumeMove"
    assert not one(items, "index:VolumeMove").protect


def test_outputs_are_the_snapshot_and_disk_ids() -> None:
    seen: dict[str, Any] = {}

    def fn() -> Any:
        move = VolumeMove("data.redis", args())
        return pulumi.Output.all(move.snapshot_id, move.disk_id).apply(lambda v: seen.update(zip(("s", "d"), v, strict=True)))

    run(fn)
    assert seen["s"].endswith("/snapshots/pvc-5b0e7a7e-1a2b3c4d-akshift-snap")
    assert seen["d"].endswith(f"/resourceGroups/{TARGET_RG}/providers/Microsoft.Compute/disks/"
                              "pvc-5b0e7a7e-1a2b3c4d-akshift")


def copy_request(claim: str, **kw: Any) -> DiskCopy:
    base: dict[str, Any] = dict(claim=claim, source_disk_id=SOURCE, subscription="00000000-0000-0000-0000-000000000000",
                                resource_group=TARGET_RG, location="westeurope", zone="1", sku="Premium_LRS",
                                size_gib=64, snapshot_name=f"{claim.replace('/', '-')}-snap",
                                disk_name=f"{claim.replace('/', '-')}-disk")
    return DiskCopy(**{**base, **kw})


def test_the_inline_program_declares_one_move_per_planned_copy_with_stable_names() -> None:
    copies = [copy_request("data/data-postgres-1"), copy_request("data/data-postgres-0"),
              copy_request("monitoring/storage-prometheus-0", sku="StandardSSD_ZRS", zone=None)]
    items = run(program(copies))
    # The mocks record registrations as the engine's asyncio tasks deliver them, which is not declaration
    # order on every Python (3.13 interleaves them): the names are the point, one per planned copy.
    assert sorted(r.name for r in items if r.type == "akshift:index:VolumeMove") == [
        "data.data-postgres-0", "data.data-postgres-1", "monitoring.storage-prometheus-0"]
    assert resource_name("data/data-postgres-0") == "data.data-postgres-0"
    disks = {r.name: r.inputs for r in items if r.type.endswith("compute:Disk")}
    assert disks["monitoring.storage-prometheus-0-disk"]["sku"] == {"name": "StandardSSD_ZRS"}


@pytest.mark.parametrize("changes,keys", [
    ({"sku": "Cool_GRS"}, ["volumes[data/data-postgres-0].sku"]),
    ({"sku": "Premium_ZRS", "zone": "2"}, ["volumes[data/data-postgres-0].zone"]),
    ({"sku": "PremiumV2_LRS", "zone": None}, ["volumes[data/data-postgres-0].zone"]),
    ({"zone": "westeurope-1"}, ["volumes[data/data-postgres-0].zone"]),
    ({"source_disk_id": "https://acct.blob.core.windows.net/vhds/d.vhd"}, ["volumes[data/data-postgres-0].sourceDiskId"]),
    ({"disk_name": "x" * 81}, ["volumes[data/data-postgres-0].diskName"]),
    ({"location": ""}, ["volumes[data/data-postgres-0].location"]),
], ids=["unknown-sku", "zrs-with-zone", "premium-v2-without-zone", "zone-label-not-number", "not-a-disk-id",
        "name-too-long", "no-location"])
def test_invalid_move_arguments_name_their_keys(changes: dict[str, Any], keys: list[str]) -> None:
    with pytest.raises(ConfigError) as e:
        validate(args(**changes))
    assert sorted(p.key for p in e.value.problems) == sorted(keys)


def test_an_invalid_move_registers_nothing() -> None:
    def fn() -> None:
        with pytest.raises(ConfigError):
            VolumeMove("bad", args(sku="Cool_GRS"))

    assert run(fn) == []


# --------------------------------------------------------------------------- the mover around the stack


def volumes_stack(outputs: dict[str, Any], fail: bool = False) -> FakeAutomationStack:
    """Stands in for an Automation API stack: runs nothing, answers like one."""
    return FakeAutomationStack("volumes", outputs_of=lambda config: {"volumes": outputs} if outputs else {},
                               fail_on={"up": command_error("QuotaExceeded")} if fail else None, changes={"create": 2})


def test_the_pulumi_mover_runs_one_up_with_every_copy_and_maps_outputs_by_claim() -> None:
    copies = [copy_request("data/a"), copy_request("data/b")]
    stack = volumes_stack({"data/a": {"snapshotId": "/snap/a", "diskId": "/disk/a"},
                    "data/b": {"snapshotId": "/snap/b", "diskId": "/disk/b"}})
    programs: list[Any] = []
    mover = PulumiDiskMover(lambda cs: programs.append(list(cs)) or (lambda: None), backend_url="file:///tmp/x",
                            stack_factory=lambda prog: EngineStack(stack))
    assert mover.copy(copies) == {"data/a": DiskCopyResult("data/a", "/snap/a", "/disk/a"),
                                  "data/b": DiskCopyResult("data/b", "/snap/b", "/disk/b")}
    assert programs == [copies] and stack.ups[0]["continue_on_error"] is True


def test_a_failed_up_keeps_what_the_stack_exported_and_reports_the_rest() -> None:
    stack = volumes_stack({"data/a": {"snapshotId": "/snap/a", "diskId": "/disk/a"}}, fail=True)
    mover = PulumiDiskMover(lambda cs: (lambda: None), backend_url="file:///tmp/x",
                            stack_factory=lambda prog: EngineStack(stack))
    result = mover.copy([copy_request("data/a"), copy_request("data/b")])
    assert result["data/a"] == DiskCopyResult("data/a", "/snap/a", "/disk/a")
    assert isinstance(result["data/b"], ApplyError) and "QuotaExceeded" in str(result["data/b"])
