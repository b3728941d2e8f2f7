"""Findings (what needs a human) and their reports (Markdown and JSON)."""
from __future__ import annotations

from typing import Any

import orjson
import pytest

from errors import exit_code
from kube.errors import ApiError
from kube.objects import ObjectRef
from migration.errors import ApplyError, SecretKeyError
from migration.findings import Finding, Severity, find, merge, sort_findings
from migration.report import Results, Status, has_blockers, render_json, render_markdown
from migration.transforms import TransformContext, transform
from migration.transforms.context import storage_classes

from support import builders as b

CTX = TransformContext()
AZURE = TransformContext(target_dataplane="azure")
OLD_RG = "MC_shop-rg_shop-aks_westeurope"


def _storage_class(provisioner: str) -> dict[str, Any]:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "sc"},
            "provisioner": provisioner}


_IN_TREE_FILE_PV = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pvc-f1"},
                    "spec": {"azureFile": {"secretName": "acct-secret", "secretNamespace": "shop", "shareName": "s1"},
                             "persistentVolumeReclaimPolicy": "Retain"}}
_CSI_FILE_PV = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pvc-f2"},
                "spec": {"csi": {"driver": "file.csi.azure.com", "volumeHandle": "rg#acct#share"},
                         "persistentVolumeReclaimPolicy": "Retain"}}

# The source's StorageClasses as the transform stage reads them from the snapshot: AKS's in-tree default
# (storageaccounttype Standard_LRS), a zone-redundant in-tree class spelling the key as skuName.
CLASSES = TransformContext(storage_classes=storage_classes([
    b.storage_class("default"), b.storage_class("zrs", parameters={"skuName": "StandardSSD_ZRS", "kind": "Managed"}),
    b.storage_class("bare", parameters={}), b.storage_class("csi-bare", "disk.csi.azure.com", parameters={})]))

CASES = [
    pytest.param(b.deployment(spec=b.pod_spec(host_network=True)), CTX, {("host-network", "warning")},
                 id="host-network-template"),
    pytest.param(b.daemon_set(spec=b.pod_spec(b.container(host_port=9100))), CTX, {("host-port", "warning")},
                 id="host-port-in-daemon-set"),
    pytest.param(b.pod(), CTX, {("bare-pod", "warning")}, id="bare-pod"),
    pytest.param(b.owned_by(b.pod(), "ReplicaSet", "web-1"), CTX, set(), id="owned-pod-is-not-bare"),
    pytest.param(b.azure_disk_pv(), CTX, {("azure-disk-volume", "blocker")}, id="zonal-csi-disk"),
    pytest.param(b.azure_disk_pv(zone=None, sku="Premium_ZRS"), CTX, {("azure-disk-volume", "warning")},
                 id="zone-redundant-csi-disk"),
    pytest.param(b.azure_disk_pv(zone=None, sku="Premium_ZRS", resource_group=OLD_RG),
                 TransformContext(old_node_resource_group=OLD_RG), {("azure-disk-volume", "blocker")},
                 id="disk-in-old-node-resource-group"),
    pytest.param(b.azure_disk_pv(zone=None, in_tree=True, resource_group="rg-disks"), CLASSES,
                 {("azure-disk-volume", "blocker")}, id="in-tree-disk-of-an-lrs-class"),
    pytest.param(b.azure_disk_pv(zone=None, in_tree=True, resource_group="rg-disks", storage_class="zrs"), CLASSES,
                 {("azure-disk-volume", "warning")}, id="in-tree-disk-of-a-zrs-class"),
    pytest.param(b.azure_disk_pv(zone=None, in_tree=True, resource_group="rg-disks", storage_class="gone"), CLASSES,
                 {("azure-disk-volume", "blocker")}, id="in-tree-disk-whose-class-is-unknown"),
    pytest.param(b.service(type="LoadBalancer", loadBalancerIP="20.61.4.18"), CTX,
                 {("static-public-ip", "warning")}, id="load-balancer-ip"),
    pytest.param(b.service(type="LoadBalancer", annotations={
        "service.beta.kubernetes.io/azure-pip-name": "shop-pip"}), CTX, {("static-public-ip", "warning")},
                 id="pip-name-annotation"),
    pytest.param(b.service(type="LoadBalancer", annotations={
        "service.beta.kubernetes.io/azure-load-balancer-resource-group": OLD_RG}),
                 TransformContext(old_node_resource_group=OLD_RG), {("lb-old-resource-group", "blocker")},
                 id="old-node-resource-group-annotation"),
    pytest.param(b.service_account(annotations={"azure.workload.identity/client-id": "1111-2222"}), CTX,
                 {("workload-identity-federation", "warning")}, id="workload-identity"),
    pytest.param(b.webhook_configuration(), CTX, {("admission-webhook", "warning")}, id="service-webhook"),
    pytest.param(b.webhook_configuration(kind="MutatingWebhookConfiguration", url="https://policy.example.com"),
                 CTX, {("admission-webhook", "warning")}, id="url-webhook"),
    pytest.param(b.crd(conversion_service=("widgets", "converter")), CTX, {("crd-conversion-webhook", "warning")},
                 id="crd-conversion-webhook"),
    pytest.param(b.crd(), CTX, set(), id="crd-without-conversion-webhook"),
    pytest.param(b.network_policy(ingress_cidrs=["10.244.0.0/16"]), AZURE, {("old-pod-cidr-ipblock", "warning")},
                 id="ipblock-on-old-pod-cidr"),
    pytest.param(b.network_policy(ingress_cidrs=["192.168.0.0/16"]),
                 TransformContext(target_pod_cidr="192.168.0.0/16"), {("ipblock-pod-traffic-cilium", "warning")},
                 id="ipblock-on-pod-cidr-under-cilium"),
    pytest.param(b.network_policy(ingress_cidrs=["192.168.0.0/16"]),
                 TransformContext(target_pod_cidr="192.168.0.0/16", target_dataplane="azure"), set(),
                 id="ipblock-on-pod-cidr-without-cilium"),
    pytest.param(b.deployment(spec=b.pod_spec(node_selector={"agentpool": "old"})), CTX,
                 {("unmapped-node-pool", "warning")}, id="unmapped-pool-selector"),
    pytest.param(b.deployment(spec=b.pod_spec(affinity=b.node_affinity("agentpool", "old", required=False))),
                 CTX, {("unmapped-node-pool", "info")}, id="unmapped-pool-preferred-affinity"),
    pytest.param(b.service(labels={"service.kubernetes.io/service-proxy-name": "other"}), CTX,
                 {("kube-proxy-dependent", "warning")}, id="service-proxy-name-label"),
    pytest.param(b.service(annotations={"service.kubernetes.io/topology-mode": "Auto"}), AZURE, set(),
                 id="kube-proxy-annotation-without-cilium"),
    pytest.param(b.deployment(spec=b.pod_spec(node_selector={"kubernetes.io/os": "windows"})), CTX,
                 {("windows-on-cilium", "blocker")}, id="windows-selector-on-cilium"),
    pytest.param(b.deployment(spec=b.pod_spec(affinity=b.node_affinity("kubernetes.io/os", "windows"))), CTX,
                 {("windows-on-cilium", "blocker")}, id="windows-affinity-on-cilium"),
    pytest.param(b.deployment(spec=b.pod_spec(node_selector={"kubernetes.io/os": "windows"})), AZURE, set(),
                 id="windows-selector-without-cilium"),
    pytest.param(b.job(), CTX, {("job-reruns", "warning")}, id="standalone-job"),
    pytest.param(b.custom(api_version="example.com/v1alpha1"), TransformContext(target_served=frozenset({"v1"})),
                 {("unserved-api-version", "blocker")}, id="unserved-version"),
    pytest.param(b.deployment(), CTX, set(), id="plain-deployment-needs-nobody"),
    pytest.param(_IN_TREE_FILE_PV, CTX, {("azure-files-shared", "warning")}, id="in-tree-azure-files"),
    pytest.param(_CSI_FILE_PV, CTX, {("azure-files-shared", "warning")}, id="csi-azure-files"),
    pytest.param(_storage_class("kubernetes.io/azure-disk"), CTX, {("in-tree-storage-class", "warning")},
                 id="in-tree-azure-disk-storage-class"),
    pytest.param(_storage_class("kubernetes.io/azure-file"), CTX, {("in-tree-storage-class", "warning")},
                 id="in-tree-azure-file-storage-class"),
    pytest.param(_storage_class("disk.csi.azure.com"), CTX, set(), id="csi-storage-class-needs-nobody"),
]


@pytest.mark.parametrize(("obj", "ctx", "expected"), CASES)
def test_find_reports_what_needs_a_human(obj: dict[str, Any], ctx: TransformContext,
                                         expected: set[tuple[str, str]]) -> None:
    findings = find(obj, ctx)
    assert {(f.code, f.severity.value) for f in findings} == expected
    for f in findings:
        assert f.ref == ObjectRef.of(obj)
        assert f.message and f.fix


def test_in_tree_storage_class_finding_names_the_csi_driver_that_replaces_it() -> None:
    (finding,) = find(_storage_class("kubernetes.io/azure-file"), CTX)
    assert "file.csi.azure.com" in finding.fix and finding.path == "/provisioner"


def test_in_tree_azure_files_finding_names_the_account_key_secret() -> None:
    (finding,) = find(_IN_TREE_FILE_PV, CTX)
    assert "shop/acct-secret" in finding.message and "s1" in finding.message


@pytest.mark.parametrize("pv", [
    pytest.param(b.azure_disk_pv(zone=None, in_tree=True), id="in-tree-disk"),
    pytest.param(b.azure_disk_pv(), id="csi-disk"),
    pytest.param(_IN_TREE_FILE_PV, id="in-tree-files"),
    pytest.param(_CSI_FILE_PV, id="csi-files"),
])
def test_no_carried_pv_on_the_sources_storage_keeps_reclaim_policy_delete(pv: dict[str, Any]) -> None:
    pv = {**pv, "spec": {**pv["spec"], "persistentVolumeReclaimPolicy": "Delete"}}
    outcome = transform(pv, CTX)
    assert outcome.obj is not None and outcome.obj["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert "source-storage-retained" in {f.code for f in outcome.findings}


def test_a_pv_the_volume_plan_carries_as_a_copy_is_left_as_the_plan_wrote_it() -> None:
    pv = b.azure_disk_pv()
    pv["spec"]["persistentVolumeReclaimPolicy"] = "Delete"
    copy_pv = {**pv, "spec": {**pv["spec"], "persistentVolumeReclaimPolicy": "Retain"}}
    outcome = transform(pv, TransformContext(volume_pvs={pv["metadata"]["name"]: copy_pv}))
    assert outcome.obj == copy_pv and "source-storage-retained" not in {f.code for f in outcome.findings}


def test_workload_identity_fix_names_the_subject_to_federate() -> None:
    [f] = find(b.service_account("api", "shop", annotations={"azure.workload.identity/client-id": "1111"}), CTX)
    assert "--subject system:serviceaccount:shop:api" in f.fix
    assert "oidcIssuerProfile.issuerUrl" in f.fix


def test_zonal_disk_finding_names_the_evidence_and_the_snapshot_path() -> None:
    [f] = find(b.azure_disk_pv(zone="westeurope-2", sku="Premium_LRS"), CTX)
    assert "westeurope-2" in f.message and "Premium_LRS" in f.message
    assert "reclaim policy is Delete" in f.message
    assert "snapshot" in f.fix and "Retain" in f.fix


@pytest.mark.parametrize(("pv", "says"), [
    pytest.param(b.azure_disk_pv(zone=None, in_tree=True, resource_group="rg-disks"),
                 "locally redundant SKU Standard_LRS (from its StorageClass default)", id="class-parameter"),
    pytest.param(b.azure_disk_pv(zone=None, in_tree=True, resource_group="rg-disks", storage_class="bare"),
                 "locally redundant SKU Standard_LRS or StandardSSD_LRS (from the default of kubernetes.io/azure-disk "
                 "(its StorageClass bare names no SKU))", id="in-tree-provisioner-default"),
    pytest.param(b.azure_disk_pv(zone=None, in_tree=True, resource_group="rg-disks", storage_class="gone"),
                 "SKU unknown (its StorageClass gone is not in the snapshot; an in-tree azureDisk PV does not record "
                 "its SKU): treated as locally redundant", id="class-not-in-the-snapshot"),
    pytest.param({**b.azure_disk_pv(zone=None, resource_group="rg-disks", storage_class="csi-bare"),
                  "spec": {**b.azure_disk_pv(zone=None, resource_group="rg-disks")["spec"],
                           "storageClassName": "csi-bare", "csi": {"driver": "disk.csi.azure.com",
                                                                   "volumeHandle": "/subscriptions/0/x"}}},
                 "locally redundant SKU StandardSSD_LRS (from the default of disk.csi.azure.com", id="csi-driver-default"),
    pytest.param({**b.azure_disk_pv(zone=None, resource_group="rg-disks"),
                  "spec": {**b.azure_disk_pv(zone=None, resource_group="rg-disks")["spec"],
                           "csi": {"driver": "disk.csi.azure.com", "volumeHandle": "/subscriptions/0/x",
                                   "volumeAttributes": {"storageaccounttype": "Premium_LRS"}}}},
                 "locally redundant SKU Premium_LRS (from its CSI volume attributes)", id="csi-attribute-any-case"),
])
def test_the_disk_finding_says_where_it_read_the_sku(pv: dict[str, Any], says: str) -> None:
    [f] = find(pv, CLASSES)
    assert f.severity is Severity.BLOCKER and says in f.message


def test_an_in_tree_disk_pv_records_no_sku_so_its_class_decides() -> None:
    # The same in-tree PV is a blocker under an LRS class and a warning under a ZRS one: the SKU came from the
    # class, not from a field of the PV (an in-tree azureDisk has none).
    pv = b.azure_disk_pv(zone=None, in_tree=True, resource_group="rg-disks")
    assert set(pv["spec"]["azureDisk"]) == {"diskName", "diskURI", "cachingMode", "fsType", "kind", "readOnly"}
    lrs = TransformContext(storage_classes=storage_classes([b.storage_class("default")]))
    zrs = TransformContext(storage_classes=storage_classes([b.storage_class(
        "default", parameters={"StorageAccountType": "Premium_ZRS"})]))
    assert [f.severity for f in find(pv, lrs)] == [Severity.BLOCKER]
    assert [f.severity for f in find(pv, zrs)] == [Severity.WARNING]


def test_the_transform_stage_reads_the_disk_sku_from_the_snapshots_storage_class(tmp_path: Any) -> None:
    from migration.snapshot import Snapshot, SnapshotWriter
    from migration.transforms import transform_snapshot

    def run(sc: dict[str, Any], name: str) -> Severity:
        with SnapshotWriter(tmp_path / name / "snapshot", exclude_secrets=True) as w:
            w.write(sc)
            w.write(b.azure_disk_pv(zone=None, in_tree=True, resource_group="rg-disks"))
        transform_snapshot(Snapshot(tmp_path / name / "snapshot"), tmp_path / name / "transformed", CTX,
                           exclude_secrets=True)
        [f] = [f for f in Snapshot(tmp_path / name / "transformed").findings()
               if f.code == "azure-disk-volume" and f.ref.kind == "PersistentVolume"]
        return f.severity

    assert run(b.storage_class("default", parameters={"skuname": "Premium_ZRS"}), "zrs") is Severity.WARNING
    assert run(b.storage_class("default", parameters={"skuname": "Premium_LRS"}), "lrs") is Severity.BLOCKER


def test_host_port_finding_points_at_the_port() -> None:
    [f] = find(b.deployment(spec=b.pod_spec(b.container("exporter", host_port=9100))), CTX)
    assert f.path == "/spec/template/spec/containers/0/ports/0/hostPort"
    assert "'exporter'" in f.message and "9100" in f.message


def test_webhook_finding_lists_each_backend() -> None:
    [f] = find(b.webhook_configuration(service=("policy", "policy-webhook")), CTX)
    assert "service policy/policy-webhook" in f.message and "failurePolicy Fail" in f.message


def test_rule_finding_and_find_finding_for_the_same_problem_are_merged() -> None:
    deploy = b.deployment(spec=b.pod_spec(node_selector={"agentpool": "old"}))
    outcome = transform(deploy, CTX)
    assert [f.code for f in outcome.findings] == ["unmapped-node-pool"]


def test_merge_keeps_first_seen_order_and_drops_exact_duplicates() -> None:
    ref = ObjectRef("", "Pod", "shop", "a")
    one = Finding("x", Severity.INFO, ref, "m", "f")
    two = Finding("y", Severity.BLOCKER, ref, "m", "f")
    assert merge([one, two], [one]) == (one, two)


def test_findings_sort_worst_first() -> None:
    ref = ObjectRef("", "Pod", "shop", "a")
    info, blocker = Finding("x", Severity.INFO, ref, "m", "f"), Finding("y", Severity.BLOCKER, ref, "m", "f")
    assert sort_findings([info, blocker]) == [blocker, info]


def test_finding_round_trips_through_its_dict() -> None:
    f = find(b.pod(), CTX)[0]
    assert Finding.from_dict(orjson.loads(orjson.dumps(f.to_dict()))) == f


# --------------------------------------------------------------------------
# Reports.
# --------------------------------------------------------------------------

WEB = ObjectRef("apps", "Deployment", "shop", "web")
DB = ObjectRef("apps", "StatefulSet", "shop", "db")
ROLE = ObjectRef("rbac.authorization.k8s.io", "ClusterRole", "", "reader")


def _results() -> Results:
    results = Results()
    results.add(WEB, Status.CREATED)
    results.add(ROLE, "unchanged")
    results.add_error(DB, ApplyError("field is immutable", ref=DB, fix="delete and recreate the StatefulSet"))
    return results


def test_results_count_per_status_and_flag_problems() -> None:
    results = _results()
    assert results.counts() == {Status.CREATED: 1, Status.UNCHANGED: 1, Status.FAILED: 1}
    assert results.has_problems
    [problem] = results.problems()
    assert problem.ref == DB and problem.message == "field is immutable — fix: delete and recreate the StatefulSet"


def test_throttled_api_errors_are_recorded_as_retryable() -> None:
    results = Results()
    results.add_error(WEB, ApiError.from_response(429, b'{"reason": "TooManyRequests", "message": "slow down"}', ref=WEB))
    results.add_error(DB, ApiError.from_response(422, b'{"reason": "Invalid", "message": "spec"}', ref=DB))
    assert [r.retryable for r in results] == [True, False]


def test_results_merge_from_workers() -> None:
    results, worker = Results(), Results()
    worker.add(WEB, Status.UPDATED)
    results.merge(worker)
    assert [r.status for r in results] == [Status.UPDATED]


def test_markdown_report_puts_blockers_first_and_escapes_table_cells() -> None:
    findings = find(b.deployment(spec=b.pod_spec(host_network=True)), CTX) + find(b.azure_disk_pv(), CTX)
    findings.append(Finding("custom", Severity.INFO, WEB, "a | b\nc", "fix"))
    text = render_markdown(findings, _results(), title="Apply report")
    assert text.startswith("# Apply report\n")
    assert text.index("### Blockers (1)") < text.index("### Warnings (1)") < text.index("### Info (1)")
    assert "a \\| b<br>c" in text
    assert "## Needs attention (1)" in text and "`StatefulSet.apps shop/db`" in text
    assert "| shop | 1 | 0 | 1 |" in text  # namespace row: created, unchanged, failed


def test_markdown_report_without_problems_has_no_attention_section() -> None:
    results = Results()
    results.add(WEB, Status.CREATED)
    text = render_markdown([], results)
    assert "Needs attention" not in text and "Findings: 0 blockers, 0 warnings, 0 info" in text


def test_json_report_is_deterministic_and_complete() -> None:
    findings = find(b.azure_disk_pv(), CTX)
    first, second = render_json(findings, _results()), render_json(list(reversed(findings)), _results())
    assert first == second
    body = orjson.loads(first)
    assert body["summary"] == {"findings": {"info": 0, "warning": 0, "blocker": 1}, "blockers": True,
                               "problems": True, "excluded_by_reason": {}}
    assert body["results"]["counts"] == {"created": 1, "unchanged": 1, "failed": 1}
    assert Results.from_dict(body["results"]).counts() == _results().counts()
    assert has_blockers(findings)


# --------------------------------------------------------------------------
# Errors name the object and say what to do.
# --------------------------------------------------------------------------

def test_error_message_names_the_object_and_the_fix() -> None:
    err = ApplyError("field is immutable", ref=DB, fix="delete and recreate it")
    assert str(err) == "StatefulSet.apps shop/db: field is immutable — fix: delete and recreate it"
    assert (err.ref, err.message, err.fix) == (DB, "field is immutable", "delete and recreate it")


@pytest.mark.parametrize(("error", "code"), [
    pytest.param(ApplyError("invalid"), 1, id="apply-error-is-a-failure"),
    pytest.param(SecretKeyError("no key"), 2, id="secret-key-is-bad-input"),
    pytest.param(ApiError.from_response(503, b'{"reason": "ServiceUnavailable", "message": "etcd"}'), 3,
                 id="api-503-is-environment"),
    pytest.param(ApiError(0, "Unreachable", "connection refused"), 3, id="unreachable-is-environment"),
    pytest.param(ApiError.from_response(422, b'{"reason": "Invalid", "message": "spec.selector"}'), 1,
                 id="api-422-is-a-failure"),
    pytest.param(ValueError("not ours"), 1, id="foreign-exception"),
])
def test_every_error_maps_to_one_exit_code_by_its_kind(error: Exception, code: int) -> None:
    assert exit_code(error) == code


def test_markdown_report_keeps_angle_brackets_visible() -> None:
    text = render_markdown([Finding("x", Severity.INFO, WEB, "m", "--name <new name> & go")])
    assert "--name &lt;new name&gt; &amp; go" in text


def test_static_ip_rewritten_through_the_map_is_only_info() -> None:
    ctx = TransformContext(public_ip_map={"20.61.4.18": "20.73.9.44"})
    [f] = transform(b.service(type="LoadBalancer", loadBalancerIP="20.61.4.18"), ctx).findings
    assert (f.code, f.severity, f.path) == ("static-public-ip", Severity.INFO, "/spec/loadBalancerIP")
    assert "20.73.9.44" in f.message


def test_load_balancer_fields_on_other_service_types_are_ignored() -> None:
    assert not find(b.service(type="ClusterIP", loadBalancerIP="20.61.4.18"), CTX)


# --------------------------------------------------------------------------
# Blockers hold back the objects they concern (migration/blockers.py).
# --------------------------------------------------------------------------

def _blocker(code: str, ref: ObjectRef, severity: Severity = Severity.BLOCKER) -> Finding:
    return Finding(code, severity, ref, f"{code} message", "fix it")


_PV = ObjectRef("", "PersistentVolume", "", "pvc-a")
_POLICY = ObjectRef("cilium.io", "CiliumNetworkPolicy", "shop", "deny")


def test_an_object_with_a_blocker_finding_is_held_back_and_told_how_to_proceed() -> None:
    from migration.blockers import blocked_objects

    held = blocked_objects([_blocker("azure-disk-volume", _PV), _blocker("host-port", _POLICY, Severity.WARNING)])
    assert set(held) == {_PV.key}
    assert "azure-disk-volume" in held[_PV.key] and "--accept-blockers azure-disk-volume" in held[_PV.key]


def test_accepting_a_blocker_code_releases_only_objects_whose_every_blocker_is_accepted() -> None:
    from migration.blockers import blocked_objects

    findings = [_blocker("azure-disk-volume", _PV), _blocker("calico-policy-untranslatable", _POLICY),
                _blocker("azure-disk-volume", _POLICY)]
    held = blocked_objects(findings, accepted=["azure-disk-volume"])
    assert set(held) == {_POLICY.key} and "calico-policy-untranslatable" in held[_POLICY.key]
    assert blocked_objects(findings, accepted=["azure-disk-volume,calico-policy-untranslatable"]) == {}


def test_a_pv_the_volume_plan_carries_is_not_held_back_by_its_disk_blocker() -> None:
    from migration.blockers import blocked_objects

    assert blocked_objects([_blocker("azure-disk-volume", _PV)], carried_pvs=["pvc-a"]) == {}
    assert set(blocked_objects([_blocker("unserved-api-version", _PV)], carried_pvs=["pvc-a"])) == {_PV.key}


def test_plan_and_apply_send_nothing_for_a_held_back_object_and_say_blocked() -> None:
    from migration.applier import Action
    from migration.stages import _held_back

    pv = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pvc-a"}, "spec": {}}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "shop"}}
    send, held = _held_back([pv, cm], {_PV.key: "not applied: blocked by azure-disk-volume"})
    assert send == [cm]
    assert [(o.key, o.action, o.ok) for o in held] == [(_PV.key, Action.BLOCKED, False)]


def test_the_report_records_the_accepted_blocker_codes_and_counts_blocked_objects_as_problems() -> None:
    results = Results()
    results.add(_PV, Status.BLOCKED, "not applied: blocked by azure-disk-volume")
    md = render_markdown([_blocker("azure-disk-volume", _PV)], results, accepted_blockers=["host-port"])
    assert "--accept-blockers): host-port" in md and "blocked" in md
    doc = orjson.loads(render_json([], results, accepted_blockers=["host-port"]))
    assert doc["accepted_blockers"] == ["host-port"] and doc["summary"]["problems"] is True


def test_migrate_options_normalize_the_accepted_codes() -> None:
    from pathlib import Path

    from migration.pipeline import MigrateOptions

    options = MigrateOptions(out=Path("x"), accept_blockers=("b,a", " a ", "c"))
    assert options.accept_blockers == ("a", "b", "c")


def test_the_claim_of_a_held_back_disk_is_held_back_with_it_so_it_never_gets_an_empty_disk() -> None:
    from migration.blockers import blocked_objects

    pv = b.azure_disk_pv()  # zonal LRS: a blocker
    outcome = transform(pv, CTX)
    claim = ObjectRef("", "PersistentVolumeClaim", pv["spec"]["claimRef"]["namespace"], pv["spec"]["claimRef"]["name"])
    on_claim = [f for f in outcome.findings if f.ref == claim]
    assert [(f.code, f.severity.value) for f in on_claim] == [("azure-disk-volume", "blocker")]
    assert "empty disk" in on_claim[0].message
    assert set(blocked_objects(outcome.findings)) == {ObjectRef.of(pv).key, claim.key}
    assert blocked_objects(outcome.findings, accepted=["azure-disk-volume"]) == {}


def test_the_claim_of_a_disk_that_only_warns_is_not_held_back() -> None:
    pv = b.azure_disk_pv(zone=None, sku="Premium_ZRS")
    assert all(f.ref == ObjectRef.of(pv) for f in transform(pv, CTX).findings)


@pytest.mark.parametrize("command", ["plan", "apply", "migrate"])
def test_accept_blockers_is_an_option_of_the_commands_that_apply(command: str) -> None:
    from typer.testing import CliRunner

    from akshift.cli import app

    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "--accept-blockers" in result.output


def test_reports_count_exclusions_by_reason_and_list_each_excluded_object_with_its_own() -> None:
    results = Results()
    for pod in ("web-1", "web-2"):
        results.add(ObjectRef("", "Pod", "shop", pod), Status.EXCLUDED,
                    f"whiteout: owned by ReplicaSet web-6d4{pod[-1]}, whose controller recreates it on the target")
    results.add(ObjectRef("", "Event", "shop", "e"), Status.EXCLUDED, "whiteout: Events are a record of the old cluster's past")
    text = render_markdown([], results)
    assert "## Excluded by reason (3)" in text
    assert "| owned by ReplicaSet, whose controller recreates it on the target | 2 |" in text
    body = orjson.loads(render_json([], results))
    assert body["summary"]["excluded_by_reason"] == {
        "owned by ReplicaSet, whose controller recreates it on the target": 2,
        "Events are a record of the old cluster's past": 1}
    listed = {o["object"]: o["message"] for o in body["results"]["objects"]}
    assert "ReplicaSet web-6d41" in listed["Pod shop/web-1"]
