"""The volume plan: how each PersistentVolumeClaim's data reaches the new cluster, or why it cannot.

Why it exists: the transform reproduces a PVC on the target, but not its data.
On AKS a claim the new cluster cannot bind to the old data gets a freshly
provisioned, *empty* disk — a StatefulSet starts on nothing and nobody is told.
This module decides, per claim, from the raw snapshot and a few facts about
the target, what carries the data across:

* **Azure Files** (``file.csi.azure.com`` or in-tree ``azureFile``): the share
  lives outside the cluster, so the green PV points at the *same* share (same
  secret or identity); nothing is copied. Reclaim policy is forced to Retain:
  with Delete, removing the claim on green would delete the share blue uses.
* **Azure Disk** (``disk.csi.azure.com`` or in-tree ``azureDisk``): a disk
  attaches to one VM and a zonal one only in its zone, so the writers are
  stopped on blue, the disk is snapshotted (incremental), a new disk is created
  from the snapshot in the target's resource group and a zone green's node
  pools cover (ZRS stays ZRS), and a static PV on green, pre-bound to the
  reproduced claim, carries the new disk id and the lineage.
* **Anything else**, or a disk whose move would go wrong (a zone green has no
  pool in, another region, a writer akshift cannot stop): a blocking finding
  with its fix; the volume is left exactly as it is.

Why pure functions of plain dicts: the decisions are the risky part, so they
are table-tested without a cluster or Azure (``tests/unit/migration/test_volumes.py``); the
move (:mod:`migration.volumes.move`) only executes a plan, and the plan is
written to disk (``volumes-plan.json``) for review before anything moves.

The plan comes *before* the transform: every copy's disk id is known from the
plan (:attr:`DiskCopy.disk_id`), so :func:`planned_pvs` gives the transform the
green PV of every carried volume, and ``transformed/`` is written once, by the
transform stage, already pointing at the copies.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from kube.objects import ObjectRef, controller_owner, group_of
from migration.errors import PlanError
from migration.findings import Finding, Severity, sku_parameter
from migration.snapshot import Snapshot
from migration.tempfiles import write_atomic
from migration.volumes.azure import (
    azure_names,
    parse_disk_id,
    parse_share_handle,
    region_of_zone,
    size_gib,
    zone_number,
)
from migration.volumes.model import (
    COPY_GROUP_UNKNOWN,
    COPY_IN_NODE_GROUP,
    DEFAULT_DISK_SKU,
    DISK_CSI,
    DISK_SKUS,
    FILE_CSI,
    IN_TREE_DISK,
    IN_TREE_FILE,
    PV_MISSING,
    PV_ZONE_KEY,
    REGION_KEYS,
    REGION_MISMATCH,
    RELEASED,
    SHARE_IN_NODE_GROUP,
    SHARE_NETWORK,
    SHARE_SECRET_MISSING,
    SKU_ASSUMED,
    SOURCE_SNAPSHOT_ANNOTATION,
    SOURCE_VOLUME_ANNOTATION,
    STRATEGY_ANNOTATION,
    TARGET_UNKNOWN,
    UNSCALABLE_WRITER,
    UNSUPPORTED_DRIVER,
    ZONE_KEYS,
    ZONE_NOT_COVERED,
    DiskCopy,
    Quiesce,
    Strategy,
    TargetFacts,
    VolumeKind,
    VolumeMove,
    Writer,
)
from migration.volumes.writers import writers_by_claim

PLAN_FILE = "volumes-plan.json"
PLAN_FORMAT = "akshift.volumes-plan/v1"


def _lower_keys(m: Mapping[str, Any] | None) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in (m or {}).items()}


def _sku(pv_spec: Mapping[str, Any], storage_class: Mapping[str, Any] | None) -> str | None:
    """The disk SKU: the PV's own CSI attributes first (the truth for this disk), then its StorageClass's
    (an in-tree ``azureDisk`` PV records none)."""
    for params in (((pv_spec.get("csi") or {}).get("volumeAttributes")), (storage_class or {}).get("parameters")):
        sku = sku_parameter(params)
        if sku:
            return _canonical_sku(sku)
    return None


def _canonical_sku(value: str) -> str:
    """SKU names are case-insensitive in StorageClass parameters; ARM wants the canonical spelling."""
    return {s.lower(): s for s in DISK_SKUS}.get(value.lower(), value)


def _zones_of(pv: Mapping[str, Any]) -> list[str]:
    """Zone labels a PV is pinned to, from its node affinity or (old in-tree PVs) its labels."""
    found: list[str] = []
    spec = pv.get("spec") or {}
    for term in ((spec.get("nodeAffinity") or {}).get("required") or {}).get("nodeSelectorTerms") or ():
        for expr in term.get("matchExpressions") or ():
            if expr.get("key") in ZONE_KEYS and expr.get("operator", "In") == "In":
                found += [v for v in expr.get("values") or () if zone_number(v)]
    labels = (pv.get("metadata") or {}).get("labels") or {}
    found += [labels[k] for k in ZONE_KEYS if zone_number(labels.get(k))]
    return sorted(set(found))


# --------------------------------------------------------------------------- facts


def target_facts(nodes: Iterable[Mapping[str, Any]], *, resource_group: str | None = None,
                 subscription: str | None = None, zone_map: Mapping[str, str] | None = None) -> TargetFacts:
    """Facts about the new cluster from its Node objects (as AKS labels them).

    Args:
        nodes: the target's Nodes; empty when there is no target (facts are then ``known=False``).
        resource_group: where to create snapshots and disks: the green stack's ``diskCopyResourceGroup``
            output. Never defaulted to the node resource group (``kubernetes.azure.com/cluster`` or the
            nodes' providerID), which AKS deletes with the cluster; that group is recorded only to refuse it.
        subscription: default: from the nodes' providerID.
        zone_map: source zone label → target zone label.

    Returns:
        The facts.
    """
    nodes = list(nodes)
    zones: set[str] = set()
    region = group = sub = None
    for n in nodes:
        labels = (n.get("metadata") or {}).get("labels") or {}
        zones.update(labels[k] for k in ZONE_KEYS[:2] if zone_number(labels.get(k)))
        region = region or next((labels[k] for k in REGION_KEYS if labels.get(k)), None)
        group = group or labels.get("kubernetes.azure.com/cluster")
        provider = (n.get("spec") or {}).get("providerID") or ""
        m = re.match(r"^azure:///subscriptions/([^/]+)/resourceGroups/([^/]+)/", provider, re.IGNORECASE)
        if m:
            sub = sub or m.group(1)
            group = group or m.group(2)
    return TargetFacts(region=region or region_of_zone(min(zones, default=None)), zones=frozenset(zones),
                       resource_group=resource_group, subscription=subscription or sub,
                       zone_map=dict(zone_map or {}), known=bool(nodes), node_resource_group=group)


def source_region(objects: Iterable[Mapping[str, Any]]) -> str | None:
    """The source cluster's region, from the Nodes in its snapshot."""
    for o in objects:
        if o.get("kind") == "Node" and group_of(o) == "":
            labels = (o.get("metadata") or {}).get("labels") or {}
            for k in REGION_KEYS:
                if labels.get(k):
                    return labels[k]
    return None


def parse_zone_map(items: Iterable[str]) -> dict[str, str]:
    """``--zone-map OLD=NEW`` options into a dict (``=NEW`` maps regional source disks).

    Raises:
        PlanError: an item without ``=`` or without a target zone.

    >>> parse_zone_map(["westeurope-1=westeurope-2", "=westeurope-3"])
    {'westeurope-1': 'westeurope-2', '': 'westeurope-3'}
    """
    out = {}
    for item in items:
        old, sep, new = item.partition("=")
        if not sep or not new:
            raise PlanError(f"--zone-map {item!r}: expected SOURCE_ZONE=TARGET_ZONE, such as westeurope-1=westeurope-2")
        out[old] = new
    return out


# --------------------------------------------------------------------------- the plan


def _choose_zone(zone: str | None, zrs: bool, target: TargetFacts) -> tuple[str | None, str, tuple[str, str] | None]:
    """Where the copy goes: (target zone label or None, reason, problem (message, fix) or None)."""
    if zrs:
        return None, "zone-redundant (ZRS) disk: the copy is ZRS too and attaches in any zone of the region", None
    zones = sorted(target.zones)
    if zone is None:
        if not zones:
            return None, "regional disk, and green's nodes are not zonal: the copy is a regional disk too", None
        chosen = target.zone_map.get("", zones[0])
        if chosen not in target.zones:
            return None, "", (f"--zone-map ={chosen} names a zone green has no node pool in "
                              f"(it covers {', '.join(zones)})", f"pass --zone-map ={zones[0]}")
        return chosen, (f"regional source disk; green's nodes are zonal and Azure attaches only disks of their "
                        f"own zone, so the copy is created in {chosen} (choose with --zone-map ={chosen})"), None
    if not zones:
        return None, f"zonal source disk ({zone}); green's nodes are not zonal: the copy is a regional disk", None
    chosen = target.zone_map.get(zone, zone)
    if chosen in target.zones:
        why = "same zone as the source" if chosen == zone else f"zone {zone} mapped to {chosen} by --zone-map"
        return chosen, why, None
    message = (f"the disk is in zone {zone}, where green has no node pool (green covers {', '.join(zones)}); "
               "a zonal disk attaches only to nodes of its zone")
    if chosen != zone:
        message = f"--zone-map maps {zone} to {chosen}, where green has no node pool (green covers {', '.join(zones)})"
    return None, "", (message, f"add a node pool in {zone} to green, or restore the copy into a covered zone "
                               f"with --zone-map {zone}={zones[0]}")


def _base(pvc: Mapping[str, Any], pv: Mapping[str, Any] | None, writers: tuple[Writer, ...]) -> dict[str, Any]:
    md = pvc.get("metadata") or {}
    spec = (pv or {}).get("spec") or {}
    pv_spec = {k: v for k, v in spec.items() if k != "claimRef"}
    return dict(namespace=md.get("namespace") or "", claim=md.get("name") or "",
                pv_name=((pv or {}).get("metadata") or {}).get("name") or "",
                size=str((spec.get("capacity") or {}).get("storage") or
                         ((pvc.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage") or ""),
                size_gib=size_gib((spec.get("capacity") or {}).get("storage")),
                reclaim_policy=spec.get("persistentVolumeReclaimPolicy") or "",
                storage_class=spec.get("storageClassName") or (pvc.get("spec") or {}).get("storageClassName") or "",
                access_modes=tuple(spec.get("accessModes") or (pvc.get("spec") or {}).get("accessModes") or ()),
                volume_mode=spec.get("volumeMode") or "Filesystem", writers=writers, pv_spec=pv_spec,
                pv_labels=dict(((pv or {}).get("metadata") or {}).get("labels") or {}))


def _driver(spec: Mapping[str, Any]) -> tuple[VolumeKind, str, str]:
    """(kind, driver, handle) of a PV spec."""
    csi = spec.get("csi") or {}
    if csi:
        kind = {DISK_CSI: VolumeKind.DISK, FILE_CSI: VolumeKind.FILES}.get(csi.get("driver") or "", VolumeKind.OTHER)
        return kind, csi.get("driver") or "", csi.get("volumeHandle") or ""
    if spec.get("azureDisk"):
        return VolumeKind.DISK, IN_TREE_DISK, spec["azureDisk"].get("diskURI") or ""
    if spec.get("azureFile"):
        f = spec["azureFile"]
        # In-tree Azure Files PVs have no handle: name the share and the secret holding its account.
        return VolumeKind.FILES, IN_TREE_FILE, f"share {f.get('shareName')} (secret {f.get('secretName')})"
    plugin = next((k for k in spec if k not in _PV_COMMON), "unknown")
    return VolumeKind.OTHER, plugin, ""


_PV_COMMON = frozenset({"capacity", "accessModes", "persistentVolumeReclaimPolicy", "storageClassName", "volumeMode",
                        "mountOptions", "nodeAffinity", "claimRef", "volumeAttributesClassName"})


COPY_GROUP_FIX = ("pass --target-stack <green stack> (its diskCopyResourceGroup output is read), or "
                  "--target-resource-group <that output: `pulumi stack output diskCopyResourceGroup`>")


def _plan_disk(base: dict[str, Any], pv: Mapping[str, Any], sc: Mapping[str, Any] | None, target: TargetFacts,
               src_region: str | None, ref: ObjectRef) -> VolumeMove:
    spec = pv.get("spec") or {}
    kind, driver, handle = _driver(spec)
    findings: list[Finding] = []
    problems: list[Finding] = []
    disk = parse_disk_id(handle)
    if driver == IN_TREE_DISK and (spec["azureDisk"].get("kind") or "Managed") != "Managed":
        disk = None  # unmanaged (blob VHD) disks cannot be snapshotted as managed disks
    sku = _sku(spec, sc)
    if sku is None:
        sku = DEFAULT_DISK_SKU
        findings.append(Finding(SKU_ASSUMED, Severity.WARNING, ref,
                                f"neither its PV nor StorageClass {base['storage_class'] or '(none)'} names a "
                                f"disk SKU; the copy is created as {DEFAULT_DISK_SKU} (AKS's default)",
                                f"check the source disk's SKU (az disk show --ids {handle} --query sku) and set "
                                "skuName on the StorageClass if it differs"))
    zones = _zones_of(pv)
    zrs = sku.endswith("_ZRS")
    zone = zones[0] if len(zones) == 1 and not zrs else None
    common = dict(kind=kind, driver=driver, handle=handle, zone=zone, sku=sku, zone_redundant=zrs, **base)
    if disk is None:
        problems.append(Finding(UNSUPPORTED_DRIVER, Severity.BLOCKER, ref,
                                f"is bound to {base['pv_name']}, whose disk {handle or '(no id)'} is not a managed "
                                "disk akshift can snapshot (an unmanaged VHD blob, or no ARM id)",
                                "convert it to a managed disk (az disk create --source <VHD URL>), point the PV at it, "
                                "and re-run the inventory", "/spec"))
    if len(zones) > 1 and not zrs:
        problems.append(Finding(ZONE_NOT_COVERED, Severity.BLOCKER, ref,
                                f"its PV {base['pv_name']} names several zones ({', '.join(zones)}) for an LRS disk: "
                                "akshift cannot tell which zone the disk is in",
                                f"check the disk's zone (az disk show --ids {handle} --query zones) and fix the PV's "
                                "nodeAffinity"))
    if sku not in DISK_SKUS:
        problems.append(Finding(UNSUPPORTED_DRIVER, Severity.BLOCKER, ref,
                                f"its disk SKU {sku!r} is not a managed disk SKU akshift knows "
                                f"({', '.join(sorted(DISK_SKUS))})", "fix skuName on the StorageClass or PV"))
    region = src_region or region_of_zone(zone)
    if target.known and target.region and not target.resource_group:
        problems.append(Finding(COPY_GROUP_UNKNOWN, Severity.BLOCKER, ref,
                                "no resource group for its disk copy: akshift never copies into green's node "
                                "resource group, which AKS deletes with the cluster",
                                COPY_GROUP_FIX))
    elif target.copies_in_node_group:
        problems.append(Finding(COPY_IN_NODE_GROUP, Severity.BLOCKER, ref,
                                f"--target-resource-group {target.resource_group} is green's node resource group "
                                "(or named like one), which AKS deletes with the cluster — and the copy and its "
                                "lineage snapshot with it", COPY_GROUP_FIX))
    elif not target.known or not target.resource_group or not target.region:
        missing = [n for n, v in (("resource group", target.resource_group), ("region", target.region)) if not v]
        problems.append(Finding(TARGET_UNKNOWN, Severity.BLOCKER, ref,
                                "the target's " + (" and ".join(missing) or "nodes") + " are unknown, so the copy of "
                                "its disk has nowhere to go",
                                "pass --target (the new cluster's kubeconfig) and, if its nodes do not say it, "
                                "--target-resource-group"))
    elif region and region.lower() != target.region.lower():
        problems.append(Finding(REGION_MISMATCH, Severity.BLOCKER, ref,
                                f"its disk is in {region} and green in {target.region}: an incremental snapshot and "
                                "the disks made from it stay in the source disk's region",
                                f"build green in {region}, or copy the snapshot across regions first (az snapshot "
                                f"create --copy-start true --location {target.region}) and restore it by hand"))
    sub = target.subscription or (disk.subscription if disk else "")
    if disk and target.subscription and disk.subscription.lower() != target.subscription.lower():
        problems.append(Finding(REGION_MISMATCH, Severity.BLOCKER, ref,
                                f"its disk is in subscription {disk.subscription} and green in {target.subscription}; "
                                "akshift snapshots within one subscription",
                                "give --target-resource-group a group in the disk's subscription, or copy the "
                                "snapshot to the other subscription by hand"))
    target_zone, why_zone, zone_problem = _choose_zone(zone, zrs, target)
    if zone_problem and target.known:
        problems.append(Finding(ZONE_NOT_COVERED, Severity.BLOCKER, ref, zone_problem[0], zone_problem[1],
                                "/spec/nodeAffinity"))
    for w in base["writers"]:
        if w.quiesce is Quiesce.NONE and not w.read_only:
            problems.append(Finding(UNSCALABLE_WRITER, Severity.BLOCKER, ref,
                                    f"is written by {w.kind} {w.namespace}/{w.name}: {w.why}; its disk cannot be "
                                    "copied while it may still write",
                                    _unscalable_fix(w)))
    if problems:
        return VolumeMove(**common, strategy=Strategy.BLOCKED, findings=tuple(problems + findings),
                          reason="left as it is: " + "; ".join(f.code for f in problems))
    assert disk is not None and target.resource_group and target.region  # guaranteed by the checks above
    snapshot_name, disk_name = azure_names(handle, disk.name)
    copy = DiskCopy(claim=f"{base['namespace']}/{base['claim']}", source_disk_id=handle, subscription=sub,
                    resource_group=target.resource_group, location=target.region, zone=zone_number(target_zone),
                    sku=sku, size_gib=base["size_gib"] or 0, snapshot_name=snapshot_name, disk_name=disk_name)
    stoppable = [f"{w.kind} {w.name}" for w in base["writers"] if not w.read_only and w.quiesce is not Quiesce.NONE]
    quiesce = f"stop {', '.join(stoppable)} on blue, " if stoppable else "no writer to stop, "
    reason = (f"Azure Disk ({sku}): {quiesce}incremental snapshot, new {sku} disk in {target.resource_group}"
              f"{' zone ' + target_zone if target_zone else ''} ({why_zone}), static PV bound to the claim on green")
    return VolumeMove(**common, strategy=Strategy.COPY_DISK, reason=reason, target_zone=target_zone, copy=copy,
                      findings=tuple(findings))


def _unscalable_fix(w: Writer) -> str:
    if w.kind == "DaemonSet":
        return (f"stop it yourself (kubectl -n {w.namespace} patch daemonset {w.name} -p "
                "'{\"spec\":{\"template\":{\"spec\":{\"nodeSelector\":{\"akshift.io/quiesced\":\"true\"}}}}}', "
                "which schedules it nowhere), then re-run the plan; or copy this volume's data yourself")
    if w.kind == "Pod" and "bare" in w.why:
        return (f"stop its writes and delete the Pod (kubectl -n {w.namespace} delete pod {w.name}; the migration "
                "recreates it on green from the snapshot), or wrap it in a Deployment; then re-run the plan")
    if w.kind == "Job":
        return f"wait for Job {w.namespace}/{w.name} to finish, then re-run the inventory and the plan"
    return f"stop {w.kind} {w.namespace}/{w.name} through its own controller, then re-run the inventory and the plan"


def _plan_share(base: dict[str, Any], pv: Mapping[str, Any], sc: Mapping[str, Any] | None, target: TargetFacts,
                src_region: str | None, old_group: str | None, secret_names: frozenset[str] | None,
                ref: ObjectRef) -> VolumeMove:
    spec = pv.get("spec") or {}
    kind, driver, handle = _driver(spec)
    csi = spec.get("csi") or {}
    attrs = csi.get("volumeAttributes") or {}
    findings: list[Finding] = []
    share = parse_share_handle(handle, attrs) if driver == FILE_CSI else None
    if driver == FILE_CSI and share is None:
        problem = Finding(UNSUPPORTED_DRIVER, Severity.BLOCKER, ref,
                          f"its Azure Files PV {base['pv_name']} names no storage account and share "
                          f"(volumeHandle {handle!r}, no storageAccount/shareName attributes)",
                          "add storageAccount and shareName to the PV's volumeAttributes, then re-run the inventory")
        return VolumeMove(**base, kind=kind, driver=driver, handle=handle, zone=None, sku=_sku(spec, sc),
                          zone_redundant=False, strategy=Strategy.BLOCKED, reason=f"left as it is: {problem.code}",
                          findings=(problem,))
    if share and old_group and share.resource_group.lower() == old_group.lower():
        findings.append(Finding(SHARE_IN_NODE_GROUP, Severity.WARNING, ref,
                                f"its share {share.account}/{share.share} is in the old cluster's node resource group "
                                f"{old_group}, which Azure deletes together with the old cluster",
                                f"before deleting the old cluster, move storage account {share.account} to another "
                                f"resource group (az resource move) and update the PV's resourceGroup"))
    secret = csi.get("nodeStageSecretRef") or {}
    if driver == IN_TREE_FILE:
        secret = {"name": spec["azureFile"].get("secretName"),
                  "namespace": spec["azureFile"].get("secretNamespace") or base["namespace"]}
    if secret_names is not None and secret.get("name") \
            and f"{secret.get('namespace')}/{secret.get('name')}" not in secret_names:
        findings.append(Finding(SHARE_SECRET_MISSING, Severity.WARNING, ref,
                                f"its share is mounted with Secret {secret.get('namespace')}/{secret.get('name')}, "
                                "which the snapshot does not carry: pods on green will fail to mount it",
                                "migrate that Secret (do not pass --exclude-secrets), or create it on green"))
    if str(_lower_keys(attrs).get("protocol", "")).lower() == "nfs":
        findings.append(Finding(SHARE_NETWORK, Severity.WARNING, ref,
                                "its share is mounted over NFS, which the storage account admits only from "
                                "allowed virtual networks or private endpoints",
                                "allow green's node subnet on the storage account (az storage account network-rule "
                                "add --subnet <green node subnet id>) before the cutover"))
    region = src_region
    if region and target.region and region.lower() != target.region.lower():
        findings.append(Finding(SHARE_NETWORK, Severity.WARNING, ref,
                                f"its share stays in {region} while green runs in {target.region}: every read and "
                                "write crosses regions", "accept the latency, or copy the share (azcopy) and "
                                "point the PV at the copy"))
    where = f"{share.account}/{share.share}" if share else f"share {spec['azureFile'].get('shareName')}"
    return VolumeMove(**base, kind=kind, driver=driver, handle=handle, zone=None, sku=_sku(spec, sc),
                      zone_redundant=False, strategy=Strategy.SAME_SHARE, findings=tuple(findings),
                      reason=f"Azure Files: the green PV mounts the same share ({where}) with the same credentials; "
                             "nothing is copied (reclaim policy Retain, so deleting the claim on green never "
                             "deletes the share)")


def volume_plan(objects: Iterable[Mapping[str, Any]], target: TargetFacts, *,
                secret_names: Iterable[str] | None = None, old_node_resource_group: str | None = None
                ) -> list[VolumeMove]:
    """Decide, for every PersistentVolumeClaim of a snapshot, how its data reaches the target.

    Args:
        objects: the raw snapshot's objects (PVCs, PVs, StorageClasses, Nodes, workloads, Pods);
            Secrets are not needed (their names are passed apart).
        target: facts about the new cluster (:func:`target_facts`).
        secret_names: ``namespace/name`` of the Secrets the migration carries; None when unknown
            (the check that an Azure Files secret travels along is then skipped).
        old_node_resource_group: the old cluster's ``MC_…`` group (default: from the source Nodes).

    Returns:
        One move per claim, sorted by namespace and name. Nothing is decided twice: the
        result is a pure function of its arguments.
    """
    objects = list(objects)
    pvcs = [o for o in objects if o.get("kind") == "PersistentVolumeClaim" and group_of(o) == ""]
    pvs = {(o.get("metadata") or {}).get("name"): o for o in objects
           if o.get("kind") == "PersistentVolume" and group_of(o) == ""}
    classes = {(o.get("metadata") or {}).get("name"): o for o in objects
               if o.get("kind") == "StorageClass" and group_of(o) == "storage.k8s.io"}
    writers = writers_by_claim(objects)
    src_region = source_region(objects)
    if old_node_resource_group is None:
        old_node_resource_group = next((((o.get("metadata") or {}).get("labels") or {})
                                        .get("kubernetes.azure.com/cluster") for o in objects
                                        if o.get("kind") == "Node" and group_of(o) == ""), None)
    secrets = frozenset(secret_names) if secret_names is not None else None
    moves = []
    claimed = {((p.get("metadata") or {}).get("namespace"), (p.get("metadata") or {}).get("name")) for p in pvcs}
    for pv_name, unclaimed in sorted(pvs.items()):
        # A PV pre-bound to a claim the snapshot lacks (a StatefulSet that has not created its next claim
        # yet): the transform carries it, so on green the claim, once created, would bind to the *old*
        # disk. Plan it like a claim of its own, so the copy is what that claim will find.
        ref = (unclaimed.get("spec") or {}).get("claimRef") or {}
        if ref.get("name") and (ref.get("namespace"), ref.get("name")) not in claimed \
                and _driver(unclaimed.get("spec") or {})[0] is not VolumeKind.OTHER:
            pvcs.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "metadata": {"namespace": ref.get("namespace"), "name": ref["name"]},
                         "spec": {"volumeName": pv_name},
                         "_released": (unclaimed.get("status") or {}).get("phase") == "Released"})
    for pvc in pvcs:
        md = pvc.get("metadata") or {}
        ns, name = md.get("namespace") or "", md.get("name") or ""
        ref = ObjectRef("", "PersistentVolumeClaim", ns, name)
        users = writers.get((ns, name), ())
        volume_name = (pvc.get("spec") or {}).get("volumeName")
        owner = controller_owner(pvc)
        if owner is not None and owner.get("kind") == "Pod":
            moves.append(VolumeMove(**_base(pvc, pvs.get(volume_name), users), kind=VolumeKind.OTHER, driver="",
                                    handle="", zone=None, sku=None, zone_redundant=False,
                                    strategy=Strategy.NOTHING_TO_MOVE,
                                    reason=f"generic ephemeral volume of Pod {owner.get('name')}: it lives and dies "
                                           "with its pod"))
            continue
        if not volume_name:
            moves.append(VolumeMove(**_base(pvc, None, users), kind=VolumeKind.OTHER, driver="", handle="",
                                    zone=None, sku=None, zone_redundant=False, strategy=Strategy.NOTHING_TO_MOVE,
                                    reason="not bound on the source: it holds no data; green provisions it afresh"))
            continue
        pv = pvs.get(volume_name)
        if pvc.get("_released"):
            problem = Finding(RELEASED, Severity.BLOCKER, ref,
                              f"does not exist, and PersistentVolume {volume_name} is Released from it: its data "
                              "belonged to a deleted claim, and the transform carries the PV pre-bound to that name",
                              "delete the PV from the source if the data is not needed, or recreate the claim on "
                              "the source (with volumeName) and re-run the inventory")
            moves.append(VolumeMove(**_base(pvc, pv, users), kind=_driver((pv or {}).get("spec") or {})[0], driver="",
                                    handle=volume_handle(pv or {}), zone=None, sku=None, zone_redundant=False,
                                    strategy=Strategy.BLOCKED, reason=f"left as it is: {problem.code}",
                                    findings=(problem,)))
            continue
        if pv is None:
            problem = Finding(PV_MISSING, Severity.BLOCKER, ref,
                              f"is bound to PersistentVolume {volume_name}, which is not in the snapshot",
                              "re-run the inventory without --kind/--namespace filters that leave PVs out")
            moves.append(VolumeMove(**{**_base(pvc, None, users), "pv_name": volume_name}, kind=VolumeKind.OTHER,
                                    driver="", handle="", zone=None, sku=None, zone_redundant=False,
                                    strategy=Strategy.BLOCKED, reason=f"left as it is: {problem.code}",
                                    findings=(problem,)))
            continue
        base = _base(pvc, pv, users)
        kind, driver, handle = _driver(pv.get("spec") or {})
        sc = classes.get(base["storage_class"])
        if kind in (VolumeKind.DISK, VolumeKind.FILES):
            move = (_plan_disk(base, pv, sc, target, src_region, ref) if kind is VolumeKind.DISK else
                    _plan_share(base, pv, sc, target, src_region, old_node_resource_group, secrets, ref))
            if (ns, name) not in claimed:
                move = dataclasses.replace(move, claim_on_source=False,
                                           reason=move.reason + "; the claim does not exist on the source yet "
                                           "(its PV is pre-bound to it), so green's copy waits for it")
            moves.append(move)
        else:
            problem = Finding(UNSUPPORTED_DRIVER, Severity.BLOCKER, ref,
                              f"is bound to {volume_name}, a {driver} volume: akshift moves Azure Disks and "
                              "Azure Files only, and will not give the claim an empty volume in silence",
                              "copy its data yourself (a file-level backup such as velero --default-volumes-to-fs-"
                              "backup), or, if green's nodes reach the same storage, keep the PV as the transform "
                              "carries it and accept this finding", "/spec")
            moves.append(VolumeMove(**base, kind=kind, driver=driver, handle=handle, zone=None, sku=None,
                                    zone_redundant=False, strategy=Strategy.BLOCKED,
                                    reason=f"left as it is: {problem.code}", findings=(problem,)))
    return sorted(moves, key=lambda m: (m.namespace, m.claim))


def plan_findings(moves: Iterable[VolumeMove]) -> list[Finding]:
    """Every finding of a plan, in plan order."""
    return [f for m in moves for f in m.findings]


# --------------------------------------------------------------------------- the green PV

# volumeAttributes the provisioner wrote about the *old* binding; meaningless on a static PV.
_PROVISIONER_ATTRIBUTES = ("csi.storage.k8s.io/pv/name", "csi.storage.k8s.io/pvc/name",
                           "csi.storage.k8s.io/pvc/namespace", "storage.kubernetes.io/csiprovisioneridentity")


def green_pv(move: VolumeMove, new_handle: str | None = None, snapshot_id: str | None = None) -> dict[str, Any]:
    """The static PersistentVolume for the target, pre-bound to the reproduced claim.

    Args:
        move: a ``copy-disk`` or ``same-share`` move.
        new_handle: the new disk's ARM id (copy-disk); ignored for shares, which keep theirs.
        snapshot_id: the snapshot the new disk was made from (copy-disk), recorded as lineage.

    Returns:
        The PV dict, named like the source PV: ``claimRef`` names the claim without a uid (the
        PV controller binds it to the claim of that name), ``persistentVolumeReclaimPolicy:
        Retain`` (akshift never lets Kubernetes delete a volume's data), a zone node affinity for
        zonal disks, and annotations recording the source volume and snapshot.

    Raises:
        PlanError: the move is not one that produces a PV, or a disk move lacks its new disk id.
    """
    if move.strategy not in (Strategy.COPY_DISK, Strategy.SAME_SHARE):
        raise PlanError(f"{move.key}: a {move.strategy.value} volume gets no green PV", ref=move.ref)
    src = move.pv_spec
    annotations = {SOURCE_VOLUME_ANNOTATION: move.handle, STRATEGY_ANNOTATION: move.strategy.value}
    spec: dict[str, Any] = {
        "capacity": dict(src.get("capacity") or {"storage": move.size}),
        "accessModes": list(move.access_modes),
        "persistentVolumeReclaimPolicy": "Retain",
        "volumeMode": move.volume_mode,
        "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": move.namespace,
                     "name": move.claim},
    }
    if move.storage_class:
        spec["storageClassName"] = move.storage_class
    if src.get("mountOptions"):
        spec["mountOptions"] = list(src["mountOptions"])
    if move.strategy is Strategy.COPY_DISK:
        if not new_handle or not snapshot_id:
            raise PlanError(f"{move.key}: a disk move needs the new disk id and its snapshot id", ref=move.ref)
        annotations[SOURCE_SNAPSHOT_ANNOTATION] = snapshot_id
        csi = dict(src.get("csi") or {})
        in_tree = src.get("azureDisk") or {}
        attrs = {k: v for k, v in (csi.get("volumeAttributes") or {}).items()
                 if k.lower() not in _PROVISIONER_ATTRIBUTES}
        if in_tree.get("cachingMode"):
            attrs.setdefault("cachingMode", in_tree["cachingMode"])
        for key in [k for k in attrs if k.lower() in ("skuname", "storageaccounttype")]:
            attrs[key] = move.copy.sku if move.copy else attrs[key]
        # In-tree azureDisk PVs become CSI ones: AKS has routed the in-tree plugin to the CSI
        # driver since 1.21, and the CSI form is the one the driver documents for static PVs.
        disk: dict[str, Any] = {"driver": DISK_CSI, "volumeHandle": new_handle,
                                "fsType": csi.get("fsType") or in_tree.get("fsType") or "ext4"}
        if attrs:
            disk["volumeAttributes"] = dict(sorted(attrs.items()))
        if csi.get("readOnly") or in_tree.get("readOnly"):
            disk["readOnly"] = True
        spec["csi"] = disk
        if move.target_zone:
            spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": PV_ZONE_KEY, "operator": "In", "values": [move.target_zone]}]}]}}
    else:
        # Same share: the volume source is kept as it is (handle, attributes, secret reference).
        for key in ("csi", "azureFile"):
            if src.get(key):
                spec[key] = dict(src[key])
        if src.get("nodeAffinity"):
            spec["nodeAffinity"] = src["nodeAffinity"]
    return {"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": move.pv_name, **({"labels": dict(move.pv_labels)} if move.pv_labels else {}),
                         "annotations": annotations},
            "spec": spec}


def volume_handle(pv: Mapping[str, Any]) -> str:
    """The handle of a PV as :func:`volume_plan` records it (disk id, share handle)."""
    return _driver(pv.get("spec") or {})[2]


def planned_pvs(moves: Iterable[VolumeMove]) -> dict[str, dict[str, Any]]:
    """The PV the plan puts on the target in place of each carried source PV: PV name → green PV.

    What the transform receives through its context (``TransformContext.volume_pvs``): a copied
    disk's PV names the copy by the id the plan already knows (:attr:`DiskCopy.disk_id`,
    :attr:`DiskCopy.snapshot_id`), a share's PV the same share. Blocked and empty claims are absent:
    their PVs stay as the transform carries them.

    Args:
        moves: the plan.

    Returns:
        The green PVs by name.
    """
    out: dict[str, dict[str, Any]] = {}
    for m in moves:
        if m.strategy is Strategy.COPY_DISK and m.copy is not None:
            out[m.pv_name] = green_pv(m, m.copy.disk_id, m.copy.snapshot_id)
        elif m.strategy is Strategy.SAME_SHARE:
            out[m.pv_name] = green_pv(m)
    return out


# --------------------------------------------------------------------------- the plan file


def plan_from_snapshot(snapshot_dir: Path, target: TargetFacts) -> list[VolumeMove]:
    """Run :func:`volume_plan` over a raw snapshot directory.

    Secrets are not decrypted: only their names matter (an Azure Files secret must travel along),
    and the index lists the paths of the Secrets the snapshot carries.

    Raises:
        InventoryError: ``snapshot_dir`` is not a snapshot.
    """
    snap = Snapshot(snapshot_dir)
    objects = (snap.read(p) for p in snap.paths(include_secrets=False))
    secret_names = [f"{p.split('/', 1)[0]}/{p.rsplit('/', 1)[-1].removesuffix('.yaml')}" for p in snap.index["secrets"]]
    return volume_plan(objects, target, secret_names=secret_names)


def write_plan(out: Path, moves: Sequence[VolumeMove], target: TargetFacts) -> Path:
    """Write ``<out>/volumes-plan.json`` (reviewed before anything moves; read by transform, move and verify)."""
    counts: dict[str, int] = {}
    for m in moves:
        counts[m.strategy.value] = counts.get(m.strategy.value, 0) + 1
    doc = {"format": PLAN_FORMAT, "target": target.to_dict(), "counts": dict(sorted(counts.items())),
           "volumes": [m.to_dict() for m in moves]}
    write_atomic(out / PLAN_FILE, orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    return out / PLAN_FILE


def read_plan(out: Path) -> tuple[list[VolumeMove], TargetFacts]:
    """Read ``<out>/volumes-plan.json``.

    Raises:
        PlanError: the file is missing or not a volume plan of this format.
    """
    path = out / PLAN_FILE
    try:
        doc = orjson.loads(path.read_bytes())
    except FileNotFoundError as e:
        raise PlanError(f"{path} does not exist", fix="run `akshift volumes plan --out` first") from e
    except orjson.JSONDecodeError as e:
        raise PlanError(f"{path} is not valid JSON", fix="re-run `akshift volumes plan`") from e
    except OSError as e:
        raise PlanError(f"cannot read {path} ({e.strerror or e})") from e
    if not isinstance(doc, dict):
        raise PlanError(f"{path}: expected a JSON object, found {type(doc).__name__}",
                        fix="re-run `akshift volumes plan`")
    if doc.get("format") != PLAN_FORMAT:
        raise PlanError(f"{path} is a {doc.get('format')!r} file, expected {PLAN_FORMAT}",
                        fix="re-run `akshift volumes plan` with this version of akshift")
    try:
        return [VolumeMove.from_dict(v) for v in doc["volumes"]], TargetFacts.from_dict(doc["target"])
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        raise PlanError(f"{path} is incomplete or malformed ({e.__class__.__name__}: {e})",
                        fix="re-run `akshift volumes plan`") from e


__all__ = ["PLAN_FILE", "green_pv", "parse_zone_map", "plan_findings", "plan_from_snapshot", "planned_pvs",
           "read_plan", "source_region", "target_facts", "volume_handle", "volume_plan", "write_plan"]
