"""The volume plan and its execution, without a cluster: strategies, bad input, zones, writers, green PVs, state.

What they pin: every claim gets a strategy with a reason (never an empty volume
in silence); each kind of bad input is a blocking finding with a fix and leaves
the volume as it is; zones and SKUs are chosen as Azure requires; writers are
found through templates and claim templates; the green PV is static, retained,
zonal and carries its lineage; the state file records a writer's previous count
before the write and rollback restores it exactly; the transform, fed the plan,
writes the copies' PVs with a valid index.
"""
from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from kube.errors import ApiError
from migration.errors import PlanError
from migration.findings import Severity
from migration.snapshot import Snapshot, SnapshotWriter
from migration.transforms import TransformContext, transform
from migration.transforms.stage import transform_snapshot
from migration.volumes import (
    DiskCopy,
    Quiesce,
    Strategy,
    TargetFacts,
    VolumeKind,
    VolumeMove,
    VolumeStore,
    Writer,
    azure_names,
    green_pv,
    parse_zone_map,
    planned_pvs,
    quiesce,
    read_plan,
    rollback,
    target_facts,
    volume_plan,
    write_plan,
    writers_by_claim,
)
from sandbox.disk_mover import FakeAzureDiskMover

from support import builders as b

SUB = "00000000-0000-0000-0000-000000000000"
OLD_RG = "MC_rg-shop-prod_aks-shop-prod_westeurope"
GREEN_NODE_RG = "MC_rg-shop-prod_aks-shop-green_westeurope"  # AKS deletes it with green: never a copy's group
NEW_RG = "rg-shop-green-disk-copies"  # the green stack's diskCopyResourceGroup output
GREEN = TargetFacts(region="westeurope", zones=frozenset({"westeurope-1", "westeurope-2", "westeurope-3"}),
                    resource_group=NEW_RG, subscription=SUB)


# --------------------------------------------------------------------------- builders


def disk_id(name: str, rg: str = OLD_RG, sub: str = SUB) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/disks/{name}"


def disk_pv(name: str = "pvc-1f2e", claim: str = "data", namespace: str = "shop", *, zone: str | None = "westeurope-1",
            sku: str | None = "Premium_LRS", storage_class: str = "managed-csi-premium", in_tree: bool = False,
            handle: str | None = None) -> dict[str, Any]:
    """A PV as the Azure Disk CSI driver provisions it (or an in-tree one), bound to namespace/claim."""
    spec: dict[str, Any] = {
        "capacity": {"storage": "64Gi"}, "accessModes": ["ReadWriteOnce"], "persistentVolumeReclaimPolicy": "Delete",
        "storageClassName": storage_class, "volumeMode": "Filesystem",
        "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": namespace, "name": claim,
                     "uid": "77aa0000-0000-4000-8000-000000000002"}}
    if in_tree:
        spec["azureDisk"] = {"diskName": name, "diskURI": handle or disk_id(name), "kind": "Managed",
                             "cachingMode": "ReadOnly", "fsType": "xfs"}
    else:
        attrs = {"csi.storage.k8s.io/pv/name": name, "csi.storage.k8s.io/pvc/name": claim,
                 "csi.storage.k8s.io/pvc/namespace": namespace, "requestedsizegib": "64",
                 "storage.kubernetes.io/csiProvisionerIdentity": "1718036514302-9595-disk.csi.azure.com"}
        if sku:
            attrs["skuname"] = sku
        spec["csi"] = {"driver": "disk.csi.azure.com", "fsType": "ext4", "volumeHandle": handle or disk_id(name),
                       "volumeAttributes": attrs}
    if zone is not None:
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "topology.disk.csi.azure.com/zone", "operator": "In", "values": [zone]}]}]}}
    return b.obj("v1", "PersistentVolume", name, labels={"app": "db"},
                 annotations={"pv.kubernetes.io/provisioned-by": "disk.csi.azure.com"}, spec=spec)


def file_pv(name: str = "pv-media", claim: str = "media", namespace: str = "shop", *, rg: str = OLD_RG,
            in_tree: bool = False, protocol: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "capacity": {"storage": "100Gi"}, "accessModes": ["ReadWriteMany"], "persistentVolumeReclaimPolicy": "Delete",
        "storageClassName": "azurefile-csi", "mountOptions": ["mfsymlinks", "nosharesock"],
        "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": namespace, "name": claim}}
    if in_tree:
        spec["azureFile"] = {"secretName": "azure-files", "shareName": "media", "secretNamespace": namespace}
    else:
        attrs = {"resourceGroup": rg, "storageAccount": "fshop01", "shareName": "media"}
        if protocol:
            attrs["protocol"] = protocol
        spec["csi"] = {"driver": "file.csi.azure.com", "volumeHandle": f"{rg}#fshop01#media#",
                       "volumeAttributes": attrs,
                       "nodeStageSecretRef": {"name": "azure-files", "namespace": namespace}}
    return b.obj("v1", "PersistentVolume", name, spec=spec)


def claim(name: str = "data", namespace: str = "shop", volume: str | None = "pvc-1f2e",
          storage_class: str = "managed-csi-premium") -> dict[str, Any]:
    pvc = b.pvc(name, namespace, volume_name=volume)
    pvc["spec"]["storageClassName"] = storage_class
    return pvc


def mounts(claim_name: str, read_only: bool = False) -> dict[str, Any]:
    volume: dict[str, Any] = {"name": "data", "persistentVolumeClaim": {"claimName": claim_name}}
    if read_only:
        volume["persistentVolumeClaim"]["readOnly"] = True
    return b.pod_spec(volumes=[volume])


def sts(name: str = "postgres", namespace: str = "shop", replicas: int = 2, template: str = "data") -> dict[str, Any]:
    return b.obj("apps/v1", "StatefulSet", name, namespace, spec={
        "replicas": replicas, "serviceName": name, "selector": {"matchLabels": {"app": name}},
        "template": b.template(b.pod_spec(), {"app": name}),
        "volumeClaimTemplates": [{"metadata": {"name": template}, "spec": {"accessModes": ["ReadWriteOnce"]}}]})


def storage_class(name: str, **params: str) -> dict[str, Any]:
    return b.obj("storage.k8s.io/v1", "StorageClass", name, provisioner="disk.csi.azure.com", parameters=params)


def node(zone: str = "westeurope-1", region: str = "westeurope", rg: str = OLD_RG) -> dict[str, Any]:
    return b.obj("v1", "Node", f"aks-pool-{zone}", labels={
        "topology.kubernetes.io/zone": zone, "topology.kubernetes.io/region": region,
        "kubernetes.azure.com/cluster": rg},
        spec={"providerID": f"azure:///subscriptions/{SUB}/resourceGroups/{rg.lower()}/providers/"
                            "Microsoft.Compute/virtualMachineScaleSets/aks-pool-vmss/virtualMachines/0"})


def one(objects: list[dict[str, Any]], target: TargetFacts = GREEN, **kw: Any) -> VolumeMove:
    moves = volume_plan(objects, target, **kw)
    assert len(moves) == 1, [m.key for m in moves]
    return moves[0]


def disk_with_writer(**pv: Any) -> list[dict[str, Any]]:
    return [node(), claim(), disk_pv(**pv), b.deployment("db", spec=mounts("data"))]


# --------------------------------------------------------------------------- strategies


@pytest.mark.parametrize("objects,strategy,kind,reason", [
    pytest.param(disk_with_writer(), Strategy.COPY_DISK, VolumeKind.DISK, "stop Deployment db on blue",
                 id="csi-disk-with-a-deployment"),
    pytest.param(disk_with_writer(in_tree=True, sku=None) + [storage_class("managed-csi-premium", skuName="Premium_LRS")],
                 Strategy.COPY_DISK, VolumeKind.DISK, "Azure Disk (Premium_LRS)", id="in-tree-disk"),
    pytest.param([node(), claim(), disk_pv()], Strategy.COPY_DISK, VolumeKind.DISK, "no writer to stop",
                 id="disk-nobody-mounts"),
    pytest.param([node(), claim("media", volume="pv-media", storage_class="azurefile-csi"), file_pv()],
                 Strategy.SAME_SHARE, VolumeKind.FILES, "same share (fshop01/media)", id="csi-azure-files"),
    pytest.param([node(), claim("media", volume="pv-media", storage_class="azurefile"), file_pv(in_tree=True)],
                 Strategy.SAME_SHARE, VolumeKind.FILES, "share media", id="in-tree-azure-files"),
    pytest.param([node(), claim(volume=None)], Strategy.NOTHING_TO_MOVE, VolumeKind.OTHER, "not bound on the source",
                 id="unbound-claim"),
    pytest.param([node(), b.owned_by(claim("web-0-scratch"), "Pod", "web-0", api_version="v1"),
                  disk_pv(claim="web-0-scratch")],
                 Strategy.NOTHING_TO_MOVE, VolumeKind.OTHER, "ephemeral volume of Pod web-0", id="ephemeral-claim"),
])
def test_each_claim_gets_the_strategy_its_volume_needs(objects: list[dict[str, Any]], strategy: Strategy,
                                                       kind: VolumeKind, reason: str) -> None:
    move = one(objects)
    assert (move.strategy, move.kind) == (strategy, kind)
    assert reason in move.reason
    assert not [f for f in move.findings if f.severity is Severity.BLOCKER]


def nfs_pv() -> dict[str, Any]:
    pv = disk_pv()
    del pv["spec"]["csi"]
    pv["spec"]["nfs"] = {"server": "10.1.0.4", "path": "/exports/data"}
    return pv


def blob_pv() -> dict[str, Any]:
    pv = disk_pv()
    pv["spec"]["csi"]["driver"] = "blob.csi.azure.com"
    return pv


@pytest.mark.parametrize("objects,target,code,fix", [
    pytest.param(disk_with_writer(zone="westeurope-3"),
                 TargetFacts(region="westeurope", zones=frozenset({"westeurope-1", "westeurope-2"}),
                             resource_group=NEW_RG, subscription=SUB), "volume-zone-not-covered", "--zone-map westeurope-3=westeurope-1",
                 id="disk-in-a-zone-green-has-no-pool-in"),
    pytest.param([node(region="northeurope", zone="northeurope-1"), claim(), disk_pv(zone="northeurope-1")],
                 None, "volume-region-mismatch", "build green in northeurope", id="region-mismatch"),
    pytest.param([node(), claim(), disk_pv(), b.daemon_set("backup", spec=mounts("data"))], None,
                 "volume-unscalable-writer", "nodeSelector", id="written-by-a-daemon-set"),
    pytest.param([node(), claim(), disk_pv(), b.pod("debug", spec=mounts("data"))], None,
                 "volume-unscalable-writer", "delete the Pod", id="written-by-a-bare-pod"),
    pytest.param([node(), claim(), disk_pv(), b.owned_by(b.pod("pg-1", spec=mounts("data")), "Cluster", "pg",
                                                         api_version="postgresql.cnpg.io/v1")], None,
                 "volume-unscalable-writer", "through its own controller", id="pod-of-an-operator"),
    pytest.param([node(), claim(), disk_pv(), {**b.job("import"), "spec": {**b.job("import")["spec"],
                                                                          "template": b.template(mounts("data"))}}],
                 None, "volume-unscalable-writer", "wait for Job shop/import to finish", id="running-job"),
    pytest.param([node(), claim(), nfs_pv()], None, "volume-unsupported-driver", "copy its data yourself",
                 id="in-tree-nfs"),
    pytest.param([node(), claim(), blob_pv()], None, "volume-unsupported-driver", "copy its data yourself",
                 id="blob-csi"),
    pytest.param([node(), claim(), disk_pv(in_tree=True, handle="https://acct.blob.core.windows.net/vhds/d.vhd")],
                 None, "volume-unsupported-driver", "convert it to a managed disk", id="unmanaged-vhd"),
    pytest.param([node(), claim(), disk_pv(sku="Cool_GRS")], None, "volume-unsupported-driver", "skuName",
                 id="unknown-sku"),
    pytest.param([node(), claim(volume="pvc-gone")], None, "volume-pv-missing", "re-run the inventory",
                 id="pv-not-in-snapshot"),
    pytest.param(disk_with_writer(), TargetFacts(known=False), "volume-target-unknown", "--target",
                 id="no-target"),
    pytest.param(disk_with_writer(), TargetFacts(region="westeurope", zones=GREEN.zones, resource_group=NEW_RG,
                                                 subscription="11111111-0000-0000-0000-000000000000"),
                 "volume-region-mismatch", "subscription", id="other-subscription"),
])
def test_bad_input_is_a_blocking_finding_and_the_volume_is_left_as_it_is(
        objects: list[dict[str, Any]], target: TargetFacts | None, code: str, fix: str) -> None:
    move = one(objects, target or GREEN)
    assert move.strategy is Strategy.BLOCKED and move.copy is None
    found = {f.code: f for f in move.findings if f.severity is Severity.BLOCKER}
    assert code in found, [f.code for f in move.findings]
    assert fix in found[code].fix
    assert str(found[code].ref) == "PersistentVolumeClaim shop/data"
    with pytest.raises(PlanError):
        green_pv(move, "/new", "/snap")


def test_a_pv_pre_bound_to_a_claim_not_created_yet_is_copied_for_that_claim() -> None:
    # postgres-1 never started on the source, so its claim does not exist; its PV does, pre-bound.
    move = one([node(), sts("postgres"), disk_pv("pvc-a41c", claim="data-postgres-1")])
    assert (move.key, move.strategy, move.pv_name) == ("shop/data-postgres-1", Strategy.COPY_DISK, "pvc-a41c")
    assert [w.name for w in move.writers] == ["postgres"]
    assert "the claim does not exist on the source yet" in move.reason


def test_a_released_pv_is_not_given_to_a_new_claim_of_the_same_name() -> None:
    pv = {**disk_pv(claim="old-data"), "status": {"phase": "Released"}}
    move = one([node(), pv])
    assert move.blocked and [f.code for f in move.findings] == ["volume-released"]


def test_a_read_only_user_that_cannot_be_scaled_does_not_block_the_copy() -> None:
    move = one([node(), claim(), disk_pv(), b.daemon_set("scanner", spec=mounts("data", read_only=True))])
    assert move.strategy is Strategy.COPY_DISK
    assert move.writers[0].read_only and move.stoppable_writers() == ()


# --------------------------------------------------------------------------- zones and SKUs


@pytest.mark.parametrize("zone,sku,target_zones,zone_map,want_label,want_azure_zone,want_sku", [
    pytest.param("westeurope-1", "Premium_LRS", GREEN.zones, {}, "westeurope-1", "1", "Premium_LRS",
                 id="zonal-disk-keeps-its-covered-zone"),
    pytest.param("westeurope-1", "Premium_LRS", GREEN.zones, {"westeurope-1": "westeurope-2"}, "westeurope-2", "2",
                 "Premium_LRS", id="zone-map-moves-it"),
    pytest.param(None, "StandardSSD_ZRS", GREEN.zones, {}, None, None, "StandardSSD_ZRS",
                 id="zrs-stays-zrs-without-zone"),
    pytest.param(None, "Premium_ZRS", frozenset(), {}, None, None, "Premium_ZRS", id="zrs-on-non-zonal-green"),
    pytest.param(None, "StandardSSD_LRS", GREEN.zones, {}, "westeurope-1", "1", "StandardSSD_LRS",
                 id="regional-disk-goes-to-a-zone-green-covers"),
    pytest.param(None, "StandardSSD_LRS", GREEN.zones, {"": "westeurope-3"}, "westeurope-3", "3", "StandardSSD_LRS",
                 id="regional-disk-zone-chosen-by-map"),
    pytest.param("westeurope-2", "Premium_LRS", frozenset(), {}, None, None, "Premium_LRS",
                 id="zonal-disk-on-non-zonal-green-becomes-regional"),
])
def test_the_copy_goes_to_a_zone_green_covers_and_keeps_its_redundancy(
        zone: str | None, sku: str, target_zones: frozenset[str], zone_map: dict[str, str],
        want_label: str | None, want_azure_zone: str | None, want_sku: str) -> None:
    target = TargetFacts(region="westeurope", zones=target_zones, resource_group=NEW_RG, subscription=SUB,
                         zone_map=zone_map)
    move = one([node(), claim(), disk_pv(zone=zone, sku=sku)], target)
    assert move.strategy is Strategy.COPY_DISK, move.findings
    assert move.target_zone == want_label
    assert move.copy is not None
    assert (move.copy.zone, move.copy.sku) == (want_azure_zone, want_sku)
    assert move.zone_redundant is sku.endswith("_ZRS")


def test_a_zone_map_into_an_uncovered_zone_is_refused() -> None:
    target = TargetFacts(region="westeurope", zones=frozenset({"westeurope-1"}), resource_group=NEW_RG,
                         zone_map={"westeurope-1": "westeurope-3"})
    move = one(disk_with_writer(), target)
    assert move.blocked and "--zone-map maps westeurope-1 to westeurope-3" in move.findings[0].message


@pytest.mark.parametrize("pv_sku,class_params,want,warned", [
    pytest.param("premium_lrs", {"skuName": "StandardSSD_LRS"}, "Premium_LRS", False, id="pv-attribute-wins"),
    pytest.param(None, {"skuName": "StandardSSD_ZRS"}, "StandardSSD_ZRS", False, id="storage-class-sku-name"),
    pytest.param(None, {"storageaccounttype": "Premium_LRS"}, "Premium_LRS", False, id="legacy-class-parameter"),
    pytest.param(None, {}, "StandardSSD_LRS", True, id="unknown-sku-is-assumed-and-reported"),
])
def test_the_sku_comes_from_the_pv_then_its_storage_class(pv_sku: str | None, class_params: dict[str, str],
                                                          want: str, warned: bool) -> None:
    move = one([node(), claim(), disk_pv(sku=pv_sku, zone=None), storage_class("managed-csi-premium", **class_params)])
    assert move.sku == want and move.copy is not None and move.copy.sku == want
    assert any(f.code == "volume-sku-assumed" for f in move.findings) is warned


# --------------------------------------------------------------------------- writers


def test_writers_are_found_through_pod_templates_and_statefulset_claim_templates() -> None:
    rs = b.owned_by(b.obj("apps/v1", "ReplicaSet", "web-5d9f", "shop", spec={
        "replicas": 2, "template": b.template(mounts("media"))}), "Deployment", "web")
    objects = [
        sts("postgres"), sts("postgres-ha", template="data"),
        claim("data-postgres-0"), claim("data-postgres-1"), claim("data-postgres-ha-0"), claim("data-postgres-x"),
        b.deployment("web", spec=mounts("media")), rs,
        b.owned_by(b.pod("web-5d9f-abcde", spec=mounts("media")), "ReplicaSet", "web-5d9f"),
        b.cron_job("backup", spec={**mounts("backups"), "restartPolicy": "OnFailure"}),
        {**b.job("done"), "spec": {"template": b.template(mounts("backups"))},
         "status": {"conditions": [{"type": "Complete", "status": "True"}]}},
        b.owned_by(b.job("backup-28791"), "CronJob", "backup", api_version="batch/v1"),
    ]
    found = {k: [(w.kind, w.name, w.quiesce, w.replicas) for w in ws] for k, ws in writers_by_claim(objects).items()}
    assert found[("shop", "data-postgres-0")] == [("StatefulSet", "postgres", Quiesce.SCALE, 2)]
    assert found[("shop", "data-postgres-1")] == [("StatefulSet", "postgres", Quiesce.SCALE, 2)]
    assert found[("shop", "data-postgres-ha-0")] == [("StatefulSet", "postgres-ha", Quiesce.SCALE, 2)]
    assert ("shop", "data-postgres-x") not in found
    assert found[("shop", "media")] == [("Deployment", "web", Quiesce.SCALE, 2)]
    assert found[("shop", "backups")] == [("CronJob", "backup", Quiesce.SUSPEND, None)]


# --------------------------------------------------------------------------- green PV


def test_green_pv_for_a_disk_copy_is_static_retained_zonal_and_records_its_lineage() -> None:
    move = one(disk_with_writer(zone="westeurope-1"))
    assert move.copy is not None
    pv = green_pv(move, move.copy.disk_id, move.copy.snapshot_id)
    assert pv["metadata"] == {
        "name": "pvc-1f2e", "labels": {"app": "db"},
        "annotations": {"akshift.io/source-volume": disk_id("pvc-1f2e"),
                        "akshift.io/source-snapshot": move.copy.snapshot_id,
                        "akshift.io/volume-strategy": "copy-disk"}}
    spec = pv["spec"]
    assert spec["claimRef"] == {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": "shop",
                                "name": "data"}
    assert spec["persistentVolumeReclaimPolicy"] == "Retain"
    assert spec["csi"] == {"driver": "disk.csi.azure.com", "fsType": "ext4", "volumeHandle": move.copy.disk_id,
                           "volumeAttributes": {"requestedsizegib": "64", "skuname": "Premium_LRS"}}
    assert spec["nodeAffinity"]["required"]["nodeSelectorTerms"] == [{"matchExpressions": [
        {"key": "topology.disk.csi.azure.com/zone", "operator": "In", "values": ["westeurope-1"]}]}]
    assert (spec["capacity"], spec["storageClassName"], spec["accessModes"]) == (
        {"storage": "64Gi"}, "managed-csi-premium", ["ReadWriteOnce"])
    assert move.copy.disk_id == (f"/subscriptions/{SUB}/resourceGroups/{NEW_RG}/providers/Microsoft.Compute/disks/"
                                 f"{move.copy.disk_name}")


def test_green_pv_of_an_in_tree_disk_becomes_a_csi_volume_with_its_caching_and_filesystem() -> None:
    move = one([node(), claim(), disk_pv(in_tree=True)])
    assert move.copy is not None
    pv = green_pv(move, move.copy.disk_id, move.copy.snapshot_id)
    assert "azureDisk" not in pv["spec"]
    assert pv["spec"]["csi"] == {"driver": "disk.csi.azure.com", "volumeHandle": move.copy.disk_id, "fsType": "xfs",
                                 "volumeAttributes": {"cachingMode": "ReadOnly"}}


def test_green_pv_of_a_zrs_disk_has_no_zone_affinity() -> None:
    move = one([node(), claim(), disk_pv(zone=None, sku="StandardSSD_ZRS")])
    assert move.copy is not None
    assert "nodeAffinity" not in green_pv(move, move.copy.disk_id, move.copy.snapshot_id)["spec"]


def test_green_pv_for_a_share_mounts_the_same_share_with_the_same_secret_but_is_retained() -> None:
    source = file_pv()
    move = one([node(), claim("media", volume="pv-media"), source])
    pv = green_pv(move)
    assert pv["spec"]["csi"] == source["spec"]["csi"]
    assert pv["spec"]["mountOptions"] == ["mfsymlinks", "nosharesock"]
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert "akshift.io/source-snapshot" not in pv["metadata"]["annotations"]


def test_a_disk_pv_needs_its_new_disk_and_snapshot() -> None:
    with pytest.raises(PlanError, match="new disk id and its snapshot id"):
        green_pv(one(disk_with_writer()))


@pytest.mark.parametrize("objects,code", [
    pytest.param([node(), claim("media", volume="pv-media"), file_pv()], "volume-share-in-node-resource-group",
                 id="share-dies-with-the-old-node-resource-group"),
    pytest.param([node(), claim("media", volume="pv-media"), file_pv(protocol="nfs")], "volume-share-network-rules",
                 id="nfs-share-needs-network-rules"),
])
def test_share_risks_are_warnings_with_fixes(objects: list[dict[str, Any]], code: str) -> None:
    move = one(objects)
    assert move.strategy is Strategy.SAME_SHARE
    assert {f.code: f.severity for f in move.findings}[code] is Severity.WARNING


def test_a_share_secret_the_migration_does_not_carry_is_reported() -> None:
    objects = [node(), claim("media", volume="pv-media"), file_pv(rg="rg-storage")]
    assert one(objects, secret_names=["shop/azure-files"]).findings == ()
    missing = one(objects, secret_names=[])
    assert [f.code for f in missing.findings] == ["volume-share-secret-missing"]


# --------------------------------------------------------------------------- facts, names, files


def test_target_facts_come_from_the_labels_and_provider_ids_aks_sets() -> None:
    nodes = [node(z, rg=GREEN_NODE_RG) for z in ("westeurope-1", "westeurope-2", "westeurope-3")]
    # The node resource group is read (to refuse it), never taken as where the copies go.
    assert target_facts(nodes) == dataclasses.replace(GREEN, resource_group=None, node_resource_group=GREEN_NODE_RG)
    assert target_facts(nodes, resource_group="rg-data").resource_group == "rg-data"
    assert not target_facts([]).known


def test_zone_map_options_are_parsed_or_refused() -> None:
    assert parse_zone_map(["westeurope-1=westeurope-2"]) == {"westeurope-1": "westeurope-2"}
    with pytest.raises(PlanError, match="SOURCE_ZONE=TARGET_ZONE"):
        parse_zone_map(["westeurope-1"])


@pytest.mark.parametrize("name", ["pvc-5b0e7a7e-1c3d-4f8a-9a52-3e7c1d2b4f60", "x" * 80, "restored disk (1)"],
                         ids=["csi-name", "longest-name", "odd-characters"])
def test_azure_names_are_deterministic_distinct_and_valid(name: str) -> None:
    snap, disk = azure_names(disk_id(name), name)
    assert (snap, disk) == azure_names(disk_id(name), name)
    assert azure_names(disk_id(name, rg="other"), name)[1] != disk
    assert all(len(n) <= 80 and all(c.isalnum() or c in "-_." for c in n) for n in (snap, disk))


def test_the_plan_round_trips_through_its_file(tmp_path: Any) -> None:
    moves = volume_plan([node(), claim(), disk_pv(), b.deployment("db", spec=mounts("data")),
                         claim("media", volume="pv-media"), file_pv(), claim("gone", volume="pvc-x")], GREEN)
    write_plan(tmp_path, moves, GREEN)
    again, facts = read_plan(tmp_path)
    assert again == moves and facts == GREEN
    assert [m.pv_spec for m in again] == [m.pv_spec for m in moves]


# --------------------------------------------------------------------------- state: quiesce and rollback


class FakeSource:
    """Just enough of KubeClient for quiesce and rollback: read and merge patches on workloads."""

    def __init__(self, *objs: dict[str, Any], fail_patch: bool = False) -> None:
        self.objs = {(o["kind"], o["metadata"]["name"]): copy.deepcopy(o) for o in objs}
        self.patches: list[tuple[str, dict[str, Any], str]] = []
        self.fail_patch = fail_patch

    def read(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        return copy.deepcopy(self.objs.get((obj["kind"], obj["metadata"]["name"])))

    def patch_merge(self, obj: dict[str, Any], patch: dict[str, Any], subresource: str = "") -> dict[str, Any]:
        if self.fail_patch:
            raise ApiError(403, "Forbidden", "cannot patch")
        self.patches.append((obj["metadata"]["name"], patch, subresource))
        live = self.objs[(obj["kind"], obj["metadata"]["name"])]
        for k, v in patch["spec"].items():
            if v is None:
                live["spec"].pop(k, None)
            else:
                live["spec"][k] = v
        return live


def writer(kind: str = "StatefulSet", name: str = "postgres", how: Quiesce = Quiesce.SCALE) -> Writer:
    return Writer("apps/v1" if kind != "CronJob" else "batch/v1", kind, "shop", name, how)


def test_quiesce_records_the_live_count_before_scaling_and_a_rerun_keeps_it(tmp_path: Any) -> None:
    source = FakeSource(sts("postgres", replicas=3))
    store = VolumeStore(tmp_path / "state.json")
    results = quiesce(source, [writer()], store)  # type: ignore[arg-type]
    assert [r.status for r in results] == ["stopped"]
    assert source.patches == [("postgres", {"spec": {"replicas": 0}}, "scale")]
    again = VolumeStore(tmp_path / "state.json")
    assert again.load().quiesced() == {"apps/StatefulSet/shop/postgres": 3}
    quiesce(source, [writer()], again)  # type: ignore[arg-type]  # a rerun sees 0 live, must keep 3
    assert VolumeStore(tmp_path / "state.json").load().quiesced() == {"apps/StatefulSet/shop/postgres": 3}


def test_a_crash_between_record_and_scale_still_knows_the_previous_count(tmp_path: Any) -> None:
    source = FakeSource(sts("postgres", replicas=3), fail_patch=True)
    store = VolumeStore(tmp_path / "state.json")
    assert [r.status for r in quiesce(source, [writer()], store)] == ["failed"]  # type: ignore[arg-type]
    rec = VolumeStore(tmp_path / "state.json").load().writers["apps/StatefulSet/shop/postgres"]
    assert rec.previous == 3 and rec.quiesced_at is None


def test_rollback_restores_exact_counts_and_suspends_and_leaves_changed_workloads_alone(tmp_path: Any) -> None:
    cron = b.cron_job("backup")
    source = FakeSource(sts("postgres", replicas=3), sts("redis", replicas=1), cron)
    store = VolumeStore(tmp_path / "state.json")
    quiesce(source, [writer(), writer(name="redis"), writer("CronJob", "backup", Quiesce.SUSPEND)],  # type: ignore[arg-type]
            store)
    assert source.objs[("CronJob", "backup")]["spec"]["suspend"] is True
    source.objs[("StatefulSet", "redis")]["spec"]["replicas"] = 2  # someone scaled it back by hand
    results = {r.key: r for r in rollback(source, VolumeStore(tmp_path / "state.json"))}  # type: ignore[arg-type]
    assert source.objs[("StatefulSet", "postgres")]["spec"]["replicas"] == 3
    assert "suspend" not in source.objs[("CronJob", "backup")]["spec"]
    assert source.objs[("StatefulSet", "redis")]["spec"]["replicas"] == 2
    assert results["apps/StatefulSet/shop/redis"].status == "unchanged"
    assert VolumeStore(tmp_path / "state.json").load().rolled_back_at


def test_the_sandbox_disk_mover_is_idempotent_and_derives_ids_from_the_request() -> None:
    move = one(disk_with_writer())
    assert move.copy is not None
    mover = FakeAzureDiskMover()
    first = mover.copy([move.copy])
    second = mover.copy([move.copy])
    assert first == second
    assert mover.created == [move.copy.snapshot_id, move.copy.disk_id]
    assert mover.lineage == {move.copy.snapshot_id: move.copy.source_disk_id}


# --------------------------------------------------------------------------- transformed/


def test_the_transform_fed_the_plan_writes_the_copy_pv_in_place_of_the_old_one_with_a_valid_index(
        tmp_path: Any) -> None:
    """What ``retarget_transformed`` did after the fact, the transform now does once, from the plan."""
    move = one(disk_with_writer())
    assert move.copy is not None
    old = disk_pv()
    stopped = sts("postgres", replicas=0)
    with SnapshotWriter(tmp_path / "snapshot", exclude_secrets=True) as w:
        for o in (old, claim(), stopped):
            w.write(o)
    pv = green_pv(move, move.copy.disk_id, move.copy.snapshot_id)
    assert planned_pvs([move]) == {"pvc-1f2e": pv}
    ctx = TransformContext(volume_pvs=planned_pvs([move]), quiesced_writers={"apps/StatefulSet/shop/postgres": 2})
    results = transform_snapshot(Snapshot(tmp_path / "snapshot"), tmp_path / "transformed", ctx, exclude_secrets=True)
    assert not results.has_problems
    snap = Snapshot(tmp_path / "transformed")
    assert snap.verify() == []
    assert snap.read("_cluster/core.PersistentVolume/pvc-1f2e.yaml") == pv
    assert snap.read("shop/apps.StatefulSet/postgres.yaml")["spec"]["replicas"] == 2
    # A rerun converges: the same content, the same digest.
    transform_snapshot(Snapshot(tmp_path / "snapshot"), tmp_path / "again", ctx, exclude_secrets=True)
    assert Snapshot(tmp_path / "again").digest == snap.digest


def test_a_copy_pv_stays_a_blocker_until_the_volume_verify_finds_it_carried() -> None:
    move = one(disk_with_writer())
    assert move.copy is not None
    outcome = transform(disk_pv(), TransformContext(volume_pvs=planned_pvs([move])))
    assert outcome.obj == green_pv(move, move.copy.disk_id, move.copy.snapshot_id) and not outcome.conflicts
    assert [(f.code, f.severity) for f in outcome.findings] == [("azure-disk-volume", Severity.BLOCKER)]
    assert move.copy.disk_id in outcome.findings[0].message


def test_a_disk_copy_request_names_the_target_group_region_and_zone() -> None:
    move = one(disk_with_writer())
    snap, disk = azure_names(disk_id("pvc-1f2e"), "pvc-1f2e")
    assert move.copy == DiskCopy(claim="shop/data", source_disk_id=disk_id("pvc-1f2e"), subscription=SUB,
                                 resource_group=NEW_RG, location="westeurope", zone="1", sku="Premium_LRS",
                                 size_gib=64, snapshot_name=snap, disk_name=disk)


# --------------------------------------------------------------------------- move orchestration (fake clusters)


class FakeCluster(FakeSource):
    """A source or target: workloads, PVs and claims by (kind, name); pods listed per namespace; SSA stores."""

    def __init__(self, *objs: dict[str, Any], pods: list[dict[str, Any]] | None = None) -> None:
        super().__init__(*objs)
        self.pods = pods or []
        self.applied: list[dict[str, Any]] = []
        self.deleted: list[Any] = []

    def get(self, path: str) -> dict[str, Any]:
        ns = path.split("/namespaces/")[1].split("/")[0]
        return {"items": [p for p in self.pods if p["metadata"]["namespace"] == ns]}

    def apply(self, obj: dict[str, Any], *, field_manager: str, force: bool = False, meta: dict[str, Any] | None = None,
              **_: Any) -> dict[str, Any]:
        key = (obj["kind"], obj["metadata"]["name"])
        if meta is not None:
            meta.update(status=200 if key in self.objs else 201, date="")
        self.objs[key] = copy.deepcopy(obj)
        self.applied.append(obj)
        return obj

    def delete(self, obj: dict[str, Any]) -> None:  # never called: akshift deletes nothing
        self.deleted.append(obj)


def plan_and_clusters() -> tuple[list[VolumeMove], FakeCluster, FakeCluster]:
    objects = [node(), sts("postgres", replicas=2), claim("data-postgres-0", volume="pvc-a"),
               disk_pv("pvc-a", claim="data-postgres-0"), claim("media", volume="pv-media"), file_pv()]
    moves = volume_plan(objects, GREEN)
    return moves, FakeCluster(sts("postgres", replicas=2)), FakeCluster()


def move(moves: list[VolumeMove], source: FakeCluster, target: FakeCluster, tmp_path: Any, mover: Any = None,
         **kw: Any) -> Any:
    from migration.volumes import move_volumes

    store = VolumeStore(tmp_path / "volumes-state.json")
    return move_volumes(source, target, moves, store, mover or FakeAzureDiskMover(),  # type: ignore[arg-type]
                        release_timeout=0.1, **kw)


def test_without_quiesce_source_nothing_is_written_to_the_source_and_no_live_disk_is_copied(tmp_path: Any) -> None:
    moves, source, target = plan_and_clusters()
    mover = FakeAzureDiskMover()
    report = move(moves, source, target, tmp_path, mover)
    assert {v.key: v.status for v in report.volumes} == {"shop/data-postgres-0": "waiting", "shop/media": "shared"}
    assert source.patches == [] and mover.created == [] and not report.ok
    assert report.volumes[0].findings[0].code == "volume-writers-running"


def test_a_failed_copy_is_reported_and_the_rerun_resumes_without_stopping_twice(tmp_path: Any) -> None:
    moves, source, target = plan_and_clusters()
    first = move(moves, source, target, tmp_path, FakeAzureDiskMover(fail=["shop/data-postgres-0"]),
                 quiesce_source=True)
    assert {v.key: v.status for v in first.volumes}["shop/data-postgres-0"] == "failed"
    assert VolumeStore(tmp_path / "volumes-state.json").load().quiesced() == {"apps/StatefulSet/shop/postgres": 2}
    again = move(moves, source, target, tmp_path)  # no flag: the recorded writer is still stopped
    assert {v.key: v.status for v in again.volumes} == {"shop/data-postgres-0": "moved", "shop/media": "shared"}
    pv = target.objs[("PersistentVolume", "pvc-a")]
    assert pv["spec"]["csi"]["volumeHandle"] == again.volumes[0].disk_id
    assert source.objs[("StatefulSet", "postgres")]["spec"]["replicas"] == 0 and target.deleted == []


def test_a_claim_still_mounted_on_the_source_is_not_copied(tmp_path: Any) -> None:
    moves, source, target = plan_and_clusters()
    source.pods = [b.pod("postgres-0", spec=mounts("data-postgres-0"))]  # a pod that will not go away
    report = move(moves, source, target, tmp_path, quiesce_source=True)
    result = {v.key: v for v in report.volumes}["shop/data-postgres-0"]
    assert result.status == "failed" and "still mounted on the source by pod postgres-0" in result.message


def test_an_old_pv_already_on_green_is_reported_and_nothing_is_deleted(tmp_path: Any) -> None:
    moves, source, target = plan_and_clusters()
    target.objs[("PersistentVolume", "pvc-a")] = disk_pv("pvc-a", claim="data-postgres-0")
    report = move(moves, source, target, tmp_path, quiesce_source=True)
    result = {v.key: v for v in report.volumes}["shop/data-postgres-0"]
    assert result.status == "failed" and "akshift deletes nothing" in result.message
    assert target.deleted == [] and target.objs[("PersistentVolume", "pvc-a")]["spec"]["csi"]["volumeHandle"] \
        == disk_id("pvc-a")


def test_a_plan_changed_after_the_copy_does_not_repoint_the_pv(tmp_path: Any) -> None:
    moves, source, target = plan_and_clusters()
    move(moves, source, target, tmp_path, quiesce_source=True)
    other_zone = TargetFacts(**{**GREEN.__dict__, "zone_map": {"westeurope-1": "westeurope-2"}})
    replanned = volume_plan([node(), sts("postgres"), claim("data-postgres-0", volume="pvc-a"),
                             disk_pv("pvc-a", claim="data-postgres-0")], other_zone)
    report = move(replanned, source, target, tmp_path)
    assert report.volumes[0].status == "failed" and "the plan changed" in report.volumes[0].message


def test_a_rolled_back_run_refuses_to_move_again(tmp_path: Any) -> None:
    moves, source, target = plan_and_clusters()
    move(moves, source, target, tmp_path, quiesce_source=True)
    rollback(source, VolumeStore(tmp_path / "volumes-state.json"))  # type: ignore[arg-type]
    assert source.objs[("StatefulSet", "postgres")]["spec"]["replicas"] == 2
    with pytest.raises(PlanError, match="rolled back"):
        move(moves, source, target, tmp_path, quiesce_source=True)


# --------------------------------------------------------------------------- where the copies go (issue 15 item 7)


@pytest.mark.parametrize(("target", "code"), [
    pytest.param(dataclasses.replace(GREEN, resource_group=None, node_resource_group=GREEN_NODE_RG),
                 "volume-copy-group-unknown", id="no group: never the node group by default"),
    pytest.param(dataclasses.replace(GREEN, resource_group=GREEN_NODE_RG, node_resource_group=GREEN_NODE_RG),
                 "volume-copy-in-node-resource-group", id="the node group named explicitly"),
    pytest.param(dataclasses.replace(GREEN, resource_group="mc_rg_other_westeurope"),
                 "volume-copy-in-node-resource-group", id="a group named like a node group"),
])
def test_a_disk_copy_never_lands_in_greens_node_resource_group(target: TargetFacts, code: str) -> None:
    move = one([node(), claim(), disk_pv()], target)
    assert move.strategy is Strategy.BLOCKED and move.copy is None
    found = {f.code: f for f in move.findings}
    assert code in found
    assert "--target-stack" in found[code].fix and "diskCopyResourceGroup" in found[code].fix
