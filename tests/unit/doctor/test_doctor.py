"""``akshift doctor``: ARM parsing, each pure check as a case table, the CLI's exit codes.

Pure checks get small object builders and the recorded ``az aks show``
fixtures of ``tests/fixtures/arm/`` (kubenet, service principal, Azure CNI
with Windows and Azure NPM, Overlay, and Overlay + Cilium in the ARM REST
form). ``today`` is always passed in, so retirement and expiry arithmetic is
deterministic. The runs against real clusters are in
``tests/cluster/test_doctor_on_clusters.py``.
"""
from __future__ import annotations

import copy
import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from doctor import ArmError, ClusterObjects, Grade, Inputs, fails, load_arm_file, parse_arm, run_checks, worst
from doctor.checks import (
    check_coredns,
    check_deprecated_apis,
    check_kube_proxy,
    check_kubenet,
    check_network_policy_manager,
    check_service_principal,
    check_volumes,
    check_windows_pools,
    effective_ndots,
)
from doctor.verdicts import Verdict

import support
from support import builders as b
from support.builders import applied_as, kube_proxy_ds

FIXTURES = support.FIXTURES / "arm"
TODAY = dt.date(2026, 11, 20)
runner = CliRunner()


def arm(name: str, **net: Any) -> Any:
    """A fixture, optionally with networkProfile fields changed (az CLI spelling)."""
    doc = json.loads((FIXTURES / f"{name}.json").read_text())
    target = doc.get("properties", doc)["networkProfile"]
    target.update(net)
    return parse_arm(doc, source=f"{name}.json")


def node(name: str = "aks-nodepool1-0", *, plugin: str = "kubenet", policy: str | None = "calico",
         os: str = "linux", pod_cidr: str | None = "10.244.1.0/24") -> dict[str, Any]:
    labels = {"kubernetes.azure.com/network-plugin": plugin, "kubernetes.io/os": os}
    if policy:
        labels["kubernetes.azure.com/network-policy"] = policy
    n = b.obj("v1", "Node", name, labels=labels, spec={})
    if pod_cidr:
        n["spec"]["podCIDR"] = pod_cidr
    return n


def cluster(*objs: dict[str, Any], **fields: Any) -> ClusterObjects:
    c = ClusterObjects(server_version={"major": "1", "minor": "31"}, **fields)
    for o in objs:
        c.add(o)
    return c


def run(check: Any, *, cluster_: ClusterObjects | None = None, arm_: Any = None, expires: dt.date | None = None,
        today: dt.date = TODAY) -> Verdict:
    return check(Inputs(cluster_, arm_, today, expires))


def dns_pod(name: str, **spec: Any) -> dict[str, Any]:
    return b.pod(name, "shop", spec=b.pod_spec(**spec))


# --------------------------------------------------------------------------- ARM descriptions


@pytest.mark.parametrize(("fixture", "networking", "sp", "windows"), [
    pytest.param("kubenet", "kubenet", False, 0, id="kubenet_cluster_reads_as_kubenet_with_managed_identity"),
    pytest.param("service-principal", "kubenet", True, 0, id="service_principal_cluster_has_a_guid_client_id_and_no_identity"),
    pytest.param("azure-cni", "azure (node subnet)", False, 1, id="azure_cni_cluster_has_a_windows_pool"),
    pytest.param("overlay", "azure overlay", False, 0, id="overlay_cluster_reads_as_overlay"),
    pytest.param("cilium", "azure overlay + cilium", False, 0, id="cilium_cluster_in_arm_rest_form_reads_the_same"),
])
def test_recorded_arm_fixtures_parse_into_their_networking(fixture: str, networking: str, sp: bool, windows: int) -> None:
    a = load_arm_file(FIXTURES / f"{fixture}.json")
    assert (a.networking, a.uses_service_principal, len(a.windows_pools)) == (networking, sp, windows)
    assert a.resource_group and a.name and a.subscription and a.kubernetes_version.startswith("1.")


def test_arm_rest_form_and_az_cli_form_give_the_same_cluster() -> None:
    rest = json.loads((FIXTURES / "cilium.json").read_text())
    flat = copy.deepcopy({**{k: v for k, v in rest.items() if k != "properties"}, **rest["properties"]})
    flat["networkProfile"] = {**flat["networkProfile"], "dnsServiceIp": flat["networkProfile"].pop("dnsServiceIP")}
    for p in flat["agentPoolProfiles"]:
        p["vnetSubnetId"] = p.pop("vnetSubnetID")
    assert parse_arm(flat, source="x") == parse_arm(rest, source="x")


def test_cilium_fixture_reads_local_dns_and_subnets_from_arm_spelling() -> None:
    a = load_arm_file(FIXTURES / "cilium.json")
    assert [p.local_dns_mode for p in a.pools] == ["Required", "Required"]
    assert {(s.vnet, s.subnet) for s in a.node_subnets if s} == {("vnet-akshift-prod", "snet-aks-nodes")}
    assert a.dns_service_ip == "10.41.0.10" and a.oidc_issuer_enabled and a.workload_identity_enabled


@pytest.mark.parametrize(("doc", "keys"), [
    pytest.param({"name": "x"}, {"networkProfile", "agentPoolProfiles", "kubernetesVersion"},
                 id="a_document_without_the_cluster_fields_names_each_missing_key"),
    pytest.param({"networkProfile": {"networkPlugin": 3}, "agentPoolProfiles": [], "kubernetesVersion": "1.33"},
                 {"networkProfile.networkPlugin", "agentPoolProfiles"}, id="wrong_types_and_empty_pools_are_named"),
    pytest.param({"networkProfile": {"networkPlugin": "kubenet"}, "agentPoolProfiles": ["pool"], "kubernetesVersion": "1.33"},
                 {"agentPoolProfiles[0]"}, id="a_pool_that_is_not_an_object_is_named_by_index"),
    pytest.param([{}, {}], {"<document>"}, id="az_aks_list_output_is_refused_as_a_list"),
])
def test_malformed_arm_names_every_bad_key(doc: Any, keys: set[str]) -> None:
    with pytest.raises(ArmError) as e:
        parse_arm(doc, source="current.json")
    assert {p.key for p in e.value.problems} == keys
    assert "current.json" in str(e.value)


def test_arm_file_that_is_not_json_names_the_file_line_and_column(tmp_path: Path) -> None:
    f = tmp_path / "current.json"
    f.write_text('{"networkProfile": ,}')
    with pytest.raises(ArmError, match=r"current\.json: <document>: not valid JSON at line 1, column 20"):
        load_arm_file(f)


# --------------------------------------------------------------------------- kubenet


@pytest.mark.parametrize(("arm_name", "nodes", "today", "severity", "summary"), [
    pytest.param("kubenet", [], TODAY, Grade.WARNING, "kubenet (pod CIDR 10.244.0.0/16) retires on 2028-03-31, in 497 days",
                 id="kubenet_is_a_warning_more_than_180_days_before_retirement"),
    pytest.param("kubenet", [], dt.date(2027, 11, 1), Grade.CRITICAL, "in 151 days",
                 id="kubenet_is_critical_within_180_days_of_retirement"),
    pytest.param("kubenet", [], dt.date(2028, 4, 2), Grade.CRITICAL, "retired on 2028-03-31 (2 days ago)",
                 id="kubenet_after_retirement_says_how_long_ago"),
    pytest.param(None, [node()], TODAY, Grade.WARNING, "kubenet retires on 2028-03-31",
                 id="kubenet_is_found_from_node_labels_without_arm"),
    pytest.param("overlay", [], TODAY, Grade.OK, "networking is azure overlay", id="overlay_cluster_is_ok"),
    pytest.param(None, [node(plugin="azure", pod_cidr=None)], TODAY, Grade.OK, "not kubenet",
                 id="azure_labelled_nodes_are_ok"),
])
def test_kubenet_check(arm_name: str | None, nodes: list[dict[str, Any]], today: dt.date, severity: Grade,
                       summary: str) -> None:
    f = run(check_kubenet, cluster_=cluster(*nodes) if nodes else None, arm_=arm(arm_name) if arm_name else None, today=today)
    assert f.severity is severity
    assert summary in f.summary


def test_kubenet_evidence_names_the_arm_fields_and_node_pod_cidrs() -> None:
    nodes = [node(f"n{i}", pod_cidr=f"10.244.{i}.0/24") for i in range(5)]
    f = run(check_kubenet, cluster_=cluster(*nodes), arm_=arm("kubenet"))
    assert "ARM networkProfile.networkPlugin: kubenet" in f.evidence
    assert "ARM networkProfile.podCidr: 10.244.0.0/16" in f.evidence
    assert "cluster: 5/5 node(s) labelled kubernetes.azure.com/network-plugin=kubenet" in f.evidence
    assert any(e.endswith("(5 in all)") and "10.244.0.0/24" in e for e in f.evidence)
    assert "akshift strategy" in f.fix


def test_every_check_without_any_input_is_skipped_not_passed() -> None:
    findings = run_checks(Inputs(None, None, TODAY))
    assert {f.severity for f in findings} == {Grade.SKIPPED}
    assert all(f.summary.startswith("not checked: needs") for f in findings)


# --------------------------------------------------------------------------- kube-proxy


@pytest.mark.parametrize(("objs", "arm_name", "services", "endpoints", "severity", "summary"), [
    pytest.param([kube_proxy_ds("--conntrack-max-per-core=0")], None, 40, 300, Grade.OK,
                 "kube-proxy iptables; 40 Services / 300 endpoints are below 1000 / 10000",
                 id="small_iptables_cluster_is_ok"),
    pytest.param([kube_proxy_ds("--proxy-mode=iptables")], None, 1200, 5000, Grade.WARNING, "1200 Services",
                 id="more_than_1000_services_in_iptables_mode_is_a_warning"),
    pytest.param([kube_proxy_ds()], None, 300, 12_000, Grade.WARNING, "12000 endpoints",
                 id="more_than_10000_endpoints_in_iptables_mode_is_a_warning"),
    pytest.param([kube_proxy_ds()], None, 6000, 20_000, Grade.CRITICAL, "rule syncs take seconds to minutes",
                 id="more_than_5000_services_in_iptables_mode_is_critical"),
    pytest.param([kube_proxy_ds("--proxy-mode=ipvs")], None, 6000, 60_000, Grade.INFO, "kube-proxy ipvs",
                 id="ipvs_mode_is_only_info_at_any_size"),
    pytest.param([b.config_map("kube-proxy", "kube-system", {"config.conf": "kind: KubeProxyConfiguration\nmode: nftables\n"})],
                 None, 6000, 60_000, Grade.INFO, "kube-proxy nftables", id="mode_is_read_from_the_kube_proxy_configmap"),
    pytest.param([], "cilium", 6000, 60_000, Grade.OK, "Cilium's eBPF dataplane", id="cilium_dataplane_needs_no_kube_proxy"),
    pytest.param([], None, 2000, 0, Grade.WARNING, "unknown (AKS default: iptables)",
                 id="an_invisible_kube_proxy_is_judged_as_aks_default_iptables"),
])
def test_kube_proxy_check(objs: list[dict[str, Any]], arm_name: str | None, services: int, endpoints: int,
                          severity: Grade, summary: str) -> None:
    c = cluster(*objs, services_by_type=Counter({"ClusterIP": services}), endpoint_slices=services, endpoints=endpoints)
    f = run(check_kube_proxy, cluster_=c, arm_=arm(arm_name) if arm_name else None)
    assert f.severity is severity, f
    assert summary in f.summary


def test_kube_proxy_with_only_arm_reports_the_mode_and_asks_for_counts() -> None:
    f = run(check_kube_proxy, arm_=arm("kubenet"))
    assert f.severity is Grade.INFO and "need --kubeconfig" in f.summary
    assert f.evidence == ("ARM: no kubeProxyConfig, so AKS's default (iptables)",)


# --------------------------------------------------------------------------- CoreDNS


@pytest.mark.parametrize(("pod", "ndots"), [
    pytest.param(dns_pod("web"), 5, id="cluster_first_pod_uses_ndots_5"),
    pytest.param(dns_pod("web", dnsConfig={"options": [{"name": "ndots", "value": "2"}]}), 2, id="dns_config_lowers_ndots"),
    pytest.param(dns_pod("web", hostNetwork=True), None, id="host_network_pod_uses_the_node_resolver"),
    pytest.param(dns_pod("web", hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet"), 5,
                 id="cluster_first_with_host_net_uses_cluster_dns"),
    pytest.param(dns_pod("web", dnsPolicy="Default"), None, id="default_policy_uses_the_node_resolver"),
    pytest.param(dns_pod("web", dnsPolicy="None", dnsConfig={"nameservers": ["10.0.0.10"]}), 1,
                 id="none_policy_falls_back_to_the_resolver_default"),
])
def test_effective_ndots(pod: dict[str, Any], ndots: int | None) -> None:
    assert effective_ndots(pod) == ndots


CUSTOM = b.config_map("coredns-custom", "kube-system", {"contoso.server": "contoso.internal:53 {}", "legacy.override": "hosts {}"})


@pytest.mark.parametrize(("objs", "arm_name", "severity", "summary"), [
    pytest.param([dns_pod("a"), dns_pod("b"), CUSTOM], None, Grade.WARNING,
                 "no node DNS cache and 2 pod(s) resolve with ndots 5", id="ndots_5_pods_without_a_node_cache_are_a_warning"),
    pytest.param([dns_pod("a", dnsConfig={"options": [{"name": "single-request-reopen"}]})], None, Grade.WARNING,
                 "1 pod(s) carry resolver workarounds", id="single_request_reopen_is_a_symptom_of_the_conntrack_race"),
    pytest.param([dns_pod("a"), b.daemon_set("node-local-dns", "kube-system")], None, Grade.OK,
                 "NodeLocal DNSCache", id="node_local_dns_daemonset_is_a_node_cache"),
    pytest.param([dns_pod("a")], "cilium", Grade.OK, "AKS LocalDNS", id="localdns_on_the_pools_is_a_node_cache"),
    pytest.param([dns_pod("a", dnsPolicy="Default")], None, Grade.INFO, "no pod resolves through cluster DNS",
                 id="no_cluster_dns_pods_is_only_info"),
])
def test_coredns_check(objs: list[dict[str, Any]], arm_name: str | None, severity: Grade, summary: str) -> None:
    f = run(check_coredns, cluster_=cluster(*objs), arm_=arm(arm_name) if arm_name else None)
    assert f.severity is severity
    assert summary in f.summary


def test_coredns_evidence_names_custom_keys_replicas_and_pod_counts() -> None:
    coredns = b.deployment("coredns", "kube-system")
    f = run(check_coredns, cluster_=cluster(dns_pod("a"), dns_pod("b", dnsPolicy="Default"), CUSTOM, coredns), arm_=arm("kubenet"))
    assert f.evidence == (
        "ARM localDNSProfile: not enabled on any pool",
        "cluster: Deployment kube-system/coredns replicas 2",
        "cluster: ConfigMap kube-system/coredns-custom keys: contoso.server, legacy.override",
        "cluster: 1/2 pod(s) resolve cluster DNS with ndots >= 5",
    )
    assert "dns.nodeCache: localdns" in f.fix


# --------------------------------------------------------------------------- service principal


@pytest.mark.parametrize(("fixture", "expires", "severity", "summary"), [
    pytest.param("kubenet", None, Grade.OK, "managed identity (SystemAssigned)", id="managed_identity_is_ok"),
    pytest.param("service-principal", None, Grade.WARNING, "unknown expiry", id="unknown_secret_expiry_is_a_warning"),
    pytest.param("service-principal", dt.date(2027, 6, 1), Grade.WARNING, "expires in 193 days",
                 id="far_expiry_is_still_a_warning_because_the_identity_is_legacy"),
    pytest.param("service-principal", dt.date(2027, 1, 10), Grade.WARNING, "expires in 51 days (renew now)",
                 id="expiry_within_90_days_says_renew_now"),
    pytest.param("service-principal", dt.date(2026, 12, 20), Grade.CRITICAL, "expires in 30 days",
                 id="expiry_within_30_days_is_critical"),
    pytest.param("service-principal", dt.date(2026, 11, 1), Grade.CRITICAL, "expired 19 days ago",
                 id="an_expired_secret_is_critical"),
])
def test_service_principal_check(fixture: str, expires: dt.date | None, severity: Grade, summary: str) -> None:
    f = run(check_service_principal, arm_=arm(fixture), expires=expires)
    assert f.severity is severity
    assert summary in f.summary


def test_service_principal_fix_names_the_cluster_and_the_credential_lookup() -> None:
    f = run(check_service_principal, arm_=arm("service-principal"))
    assert "az aks update -g rg-legacy -n aks-legacy --enable-managed-identity" in f.fix
    assert any("az ad app credential list --id 3f2e1d0c-5b4a-4c3d-9e8f-7a6b5c4d3e2f" in e for e in f.evidence)


def test_service_principal_check_without_arm_is_skipped() -> None:
    assert run(check_service_principal, cluster_=cluster(node())).severity is Grade.SKIPPED


# --------------------------------------------------------------------------- network policy / Windows


@pytest.mark.parametrize(("arm_name", "objs", "today", "severity", "summary"), [
    pytest.param("azure-cni", [], dt.date(2026, 3, 1), Grade.WARNING,
                 "Azure Network Policy Manager on Windows nodes retires on 2026-09-30, in 213 days",
                 id="azure_npm_with_windows_pools_counts_down_to_the_windows_retirement"),
    pytest.param("azure-cni", [], TODAY, Grade.CRITICAL, "retired on 2026-09-30 (51 days ago)",
                 id="azure_npm_on_windows_past_its_date_is_critical"),
    pytest.param(None, [node(policy="azure"), b.daemon_set("azure-npm", "kube-system")], TODAY, Grade.WARNING,
                 "Azure Network Policy Manager retires on 2028-09-30", id="azure_npm_is_found_from_the_cluster_alone"),
    pytest.param("kubenet", [], TODAY, Grade.INFO, "Calico enforces network policy",
                 id="calico_is_info_because_the_cilium_update_removes_it"),
    pytest.param("overlay", [], TODAY, Grade.OK, "network policy engine: none", id="no_policy_engine_is_ok"),
])
def test_network_policy_manager_check(arm_name: str | None, objs: list[dict[str, Any]], today: dt.date,
                                      severity: Grade, summary: str) -> None:
    f = run(check_network_policy_manager, cluster_=cluster(*objs) if objs else None,
            arm_=arm(arm_name) if arm_name else None, today=today)
    assert f.severity is severity
    assert summary in f.summary


@pytest.mark.parametrize(("arm_name", "nodes", "severity"), [
    pytest.param("azure-cni", [], Grade.WARNING, id="a_windows_pool_in_arm_is_a_warning"),
    pytest.param(None, [node(), node("akswin000000", os="windows")], Grade.WARNING, id="a_windows_node_is_a_warning"),
    pytest.param("kubenet", [node()], Grade.OK, id="linux_only_is_ok"),
])
def test_windows_pools_check(arm_name: str | None, nodes: list[dict[str, Any]], severity: Grade) -> None:
    f = run(check_windows_pools, cluster_=cluster(*nodes) if nodes else None, arm_=arm(arm_name) if arm_name else None)
    assert f.severity is severity


def test_windows_evidence_names_the_pool_its_sku_and_size() -> None:
    f = run(check_windows_pools, arm_=arm("azure-cni"))
    assert f.evidence == ("ARM agentPoolProfiles osType Windows: win22 (Windows2022, 2 nodes)",)


# --------------------------------------------------------------------------- volumes


def pv(name: str, **source: Any) -> dict[str, Any]:
    """A PersistentVolume as the Azure CSI drivers (or an old in-tree plugin) provision it."""
    return b.obj("v1", "PersistentVolume", name, spec={"capacity": {"storage": "8Gi"}, "accessModes": ["ReadWriteOnce"],
                                                       "persistentVolumeReclaimPolicy": "Delete", **source})


def disk_csi(name: str) -> dict[str, Any]:
    return pv(name, csi={"driver": "disk.csi.azure.com", "volumeHandle": f"/subscriptions/s/resourceGroups/mc_rg/"
                                                                            f"providers/Microsoft.Compute/disks/{name}"})


def no_csi_drivers(d: dict[str, Any]) -> None:
    d["storageProfile"] = {"diskCSIDriver": {"enabled": False}, "fileCSIDriver": {"enabled": False}}


@pytest.mark.parametrize(("objs", "arm_edit", "severity", "summary"), [
    pytest.param(None, None, Grade.SKIPPED,
                 "not checked: needs --kubeconfig (PersistentVolumes are counted on the cluster)", id="arm_alone_cannot_count_volumes"),
    pytest.param(None, no_csi_drivers, Grade.OK, "no data on Azure Disk or Azure Files: both CSI drivers are disabled",
                 id="arm_with_both_azure_storage_drivers_off_has_no_azure_data"),
    pytest.param([node()], None, Grade.OK, "no PersistentVolumes: no data to carry to a new cluster",
                 id="a_cluster_without_persistent_volumes_is_ok"),
    pytest.param([disk_csi("pvc-1"), disk_csi("pvc-2"), pv("share", csi={"driver": "file.csi.azure.com"})], None,
                 Grade.INFO, "3 PersistentVolume(s) hold data: 3 on Azure Disk or Azure Files",
                 id="azure_disks_and_shares_are_reported_for_the_volume_move"),
    pytest.param([pv("old", azureDisk={"diskName": "old", "diskURI": "/subscriptions/s/x"}), pv("n", hostPath={"path": "/d"})],
                 None, Grade.INFO, "2 PersistentVolume(s) hold data: 1 on Azure Disk or Azure Files, 1 elsewhere",
                 id="in_tree_azure_disks_count_and_node_local_data_is_named_apart"),
])
def test_volumes_check(objs: list[dict[str, Any]] | None, arm_edit: Any, severity: Grade, summary: str) -> None:
    doc = json.loads((FIXTURES / "kubenet.json").read_text())
    if arm_edit:
        arm_edit(doc)
    f = run(check_volumes, cluster_=cluster(*objs) if objs is not None else None, arm_=parse_arm(doc, source="kubenet.json"))
    assert (f.severity, f.summary) == (severity, summary)


def test_volumes_evidence_counts_per_driver_and_names_the_node_resource_group_azure_deletes() -> None:
    f = run(check_volumes, cluster_=cluster(disk_csi("pvc-1"), disk_csi("pvc-2"), pv("s", csi={"driver": "file.csi.azure.com"})),
            arm_=arm("kubenet"))
    assert f.evidence[:2] == ("cluster: 2 PersistentVolume(s) on disk.csi.azure.com",
                              "cluster: 1 PersistentVolume(s) on file.csi.azure.com")
    assert "ARM nodeResourceGroup: MC_rg-shop-prod_aks-shop-prod_westeurope" in f.evidence[2]
    assert "`akshift volumes plan|move|verify`" in f.fix and "after `akshift volumes verify` passed" in f.fix


# --------------------------------------------------------------------------- deprecated APIs


def deprecated_crd() -> dict[str, Any]:
    c = b.crd("example.com", "Widget", versions=("v1", "v1beta1"))
    c["spec"]["versions"][1].update(deprecated=True, deprecationWarning="example.com/v1beta1 Widget is deprecated")
    return c


@pytest.mark.parametrize(("objs", "served", "severity", "summary"), [
    pytest.param([applied_as(b.obj("networking.k8s.io/v1", "Ingress", "shop", "shop"), "extensions/v1beta1"),
                  applied_as(b.cron_job(), "batch/v1beta1")], frozenset(), Grade.WARNING,
                 "2 object(s) were last applied with removed API versions", id="manifests_naming_removed_versions_are_a_warning"),
    pytest.param([], frozenset({("flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema")}), Grade.INFO,
                 "deprecated API versions are served", id="a_served_version_removed_in_a_later_release_is_info"),
    pytest.param([deprecated_crd()], frozenset(), Grade.INFO, "deprecated API versions are served",
                 id="a_crd_serving_a_deprecated_version_is_info"),
    pytest.param([applied_as(b.deployment(), "apps/v1")], frozenset({("apps/v1", "Deployment")}), Grade.OK,
                 "no removed or deprecated", id="current_versions_are_ok"),
])
def test_deprecated_apis_check(objs: list[dict[str, Any]], served: frozenset[tuple[str, str]], severity: Grade,
                               summary: str) -> None:
    c = cluster(*objs)
    c.served = served | c.served
    f = run(check_deprecated_apis, cluster_=c)
    assert f.severity is severity
    assert summary in f.summary


def test_deprecated_evidence_names_objects_removal_release_and_replacement() -> None:
    ing = applied_as(b.obj("networking.k8s.io/v1", "Ingress", "shop", "shop"), "extensions/v1beta1")
    f = run(check_deprecated_apis, cluster_=cluster(ing))
    assert f.evidence == ("cluster: last applied as Ingress extensions/v1beta1 (removed in 1.22, use "
                          "networking.k8s.io/v1): Ingress.networking.k8s.io shop/shop",)


def test_a_removed_version_already_past_the_server_release_is_not_reported_as_served() -> None:
    c = cluster(served=frozenset({("flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema")}))
    c.server_version = {"major": "1", "minor": "36"}
    assert run(check_deprecated_apis, cluster_=c).severity is Grade.OK


# --------------------------------------------------------------------------- report and exit code


@pytest.mark.parametrize(("severities", "fail_on", "failed"), [
    pytest.param(["ok", "info"], "warning", False, id="ok_and_info_pass_ci"),
    pytest.param(["ok", "warning"], "warning", True, id="a_warning_fails_ci_by_default"),
    pytest.param(["ok", "warning"], "critical", False, id="fail_on_critical_lets_warnings_pass"),
    pytest.param(["critical"], "critical", True, id="a_critical_fails_at_either_threshold"),
    pytest.param(["skipped"], "warning", False, id="skipped_checks_do_not_fail"),
])
def test_fail_on_threshold(severities: list[str], fail_on: str, failed: bool) -> None:
    findings = [Verdict("x", Grade(s), "") for s in severities]
    assert fails(findings, Grade(fail_on)) is failed
    assert worst(findings) is max((Grade(s) for s in severities), key=lambda s: s.rank)


def test_run_checks_refuses_an_unknown_check_and_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown check.*known: kubenet, kube-proxy"):
        run_checks(Inputs(None, None, TODAY), only=["kubnet"])


def test_unreadable_types_are_reported_as_their_own_warning() -> None:
    findings = run_checks(Inputs(cluster(read_errors=["cannot list widgets.example.com: 403"]), None, TODAY))
    assert findings[-1].check == "cluster-read" and findings[-1].severity is Grade.WARNING


def test_cluster_objects_keep_only_dns_fields_of_pods_and_count_services_and_endpoints() -> None:
    slice_ = b.obj("discovery.k8s.io/v1", "EndpointSlice", "web-abc", "shop", endpoints=[{"addresses": ["10.244.1.5"]}] * 3)
    c = cluster(dns_pod("a", dnsConfig={"options": [{"name": "ndots", "value": "2"}]}), b.service(), b.service("lb", type="LoadBalancer"),
                slice_, b.secret())
    assert c.pods == [{"metadata": {"namespace": "shop", "name": "a"},
                       "spec": {"dnsConfig": {"options": [{"name": "ndots", "value": "2"}]}}}]
    assert (c.services, c.services_by_type["LoadBalancer"], c.endpoint_slices, c.endpoints) == (2, 1, 1, 3)


# --------------------------------------------------------------------------- CLI


def app() -> typer.Typer:
    from akshift.cli import app as a
    return a


def unwrapped(output: str) -> str:
    """stderr lines as written, without the line breaks rich inserts at the terminal width."""
    return output.replace("\n", "")


def test_doctor_cli_json_output_with_arm_only_exits_1_on_warnings() -> None:
    r = runner.invoke(app(), ["doctor", "--arm", str(FIXTURES / "kubenet.json"), "--today", "2026-11-20", "-o", "json"])
    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout)
    assert doc["worst"] == "warning" and doc["exitCode"] == 1 and doc["failOn"] == "warning"
    assert [f["check"] for f in doc["findings"]] == ["kubenet", "kube-proxy", "coredns", "service-principal",
                                                     "network-policy-manager", "windows-pools", "deprecated-apis",
                                                     "volumes"]
    assert doc["schemaVersion"] == 1
    assert set(doc["findings"][0]) == {"check", "severity", "summary", "evidence", "fix"}


def test_doctor_cli_fail_on_critical_exits_0_when_only_warnings() -> None:
    r = runner.invoke(app(), ["doctor", "--arm", str(FIXTURES / "kubenet.json"), "--today", "2026-11-20", "--fail-on", "critical"])
    assert r.exit_code == 0, r.output
    assert "kubenet" in r.stdout and "497 days" in r.stdout


def test_doctor_cli_passes_the_secret_expiry_to_the_service_principal_check() -> None:
    r = runner.invoke(app(), ["doctor", "--arm", str(FIXTURES / "service-principal.json"), "--today", "2026-11-20",
                              "--sp-secret-expires-on", "2026-11-25", "--check", "service-principal", "-o", "json"])
    assert r.exit_code == 1
    (finding,) = json.loads(r.stdout)["findings"]
    assert finding["severity"] == "critical" and "5 days" in finding["summary"]


@pytest.mark.parametrize(("args", "message"), [
    pytest.param([], "nothing to examine", id="no_input_at_all"),
    pytest.param(["--arm", "missing.json"], "missing.json: <document>: no such file", id="missing_arm_file"),
    pytest.param(["--arm", str(FIXTURES / "kubenet.json"), "--sp-secret-expires-on", "31/12/2026"], "YYYY-MM-DD",
                 id="a_date_in_the_wrong_format"),
    pytest.param(["--arm", str(FIXTURES / "kubenet.json"), "--check", "dns"], "unknown check", id="an_unknown_check"),
    pytest.param(["--kubeconfig", "nope.yaml"], "kubeconfig nope.yaml does not exist", id="a_missing_kubeconfig"),
    pytest.param(["--azure-id", "/subscriptions/x/resourceGroups/rg"], "not a managed cluster resource ID",
                 id="a_malformed_azure_id"),
])
def test_doctor_cli_bad_input_exits_2_naming_what_is_wrong(args: list[str], message: str) -> None:
    r = runner.invoke(app(), ["doctor", *args])
    assert r.exit_code == 2, r.output
    assert message in unwrapped(r.output)


def test_doctor_cli_names_every_bad_key_of_a_malformed_arm_file(tmp_path: Path) -> None:
    f = tmp_path / "current.json"
    f.write_text(json.dumps({"networkProfile": {"networkPlugin": 1}, "agentPoolProfiles": []}))
    r = runner.invoke(app(), ["doctor", "--arm", str(f)])
    assert r.exit_code == 2
    assert f"{f}: networkProfile.networkPlugin: must be a string" in unwrapped(r.output)
    assert f"{f}: kubernetesVersion: missing" in unwrapped(r.output)


def test_doctor_cli_without_the_azure_sdk_exits_3(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "azure.identity", None)  # import fails even if the SDK is installed
    r = runner.invoke(app(), ["doctor", "--azure-id", "/subscriptions/0/resourceGroups/rg/providers/"
                              "Microsoft.ContainerService/managedClusters/aks"])
    assert r.exit_code == 3, r.output
    assert "Azure SDK is not installed" in unwrapped(r.output)


def test_doctor_cli_unreachable_cluster_exits_3(tmp_path: Path) -> None:
    from sandbox.cluster import free_port

    kc = tmp_path / "kubeconfig"
    kc.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "gone",
        "clusters": [{"name": "gone", "cluster": {"server": f"https://127.0.0.1:{free_port()}"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "t"}}]}))
    r = runner.invoke(app(), ["doctor", "--kubeconfig", str(kc)])
    assert r.exit_code == 3, r.output
    assert "cannot reach" in unwrapped(r.output)
