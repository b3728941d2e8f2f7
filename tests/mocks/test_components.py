"""Construction tests of the Pulumi program with ``pulumi.runtime.set_mocks``.

What they pin: for each networking mode and each shipped stack file, the ARM
properties that matter (network profile, identities, LocalDNS, node pools),
the in-cluster add-ons each mode needs, parenting and protection of children,
the networking-mode guard, and that an invalid stack registers nothing.

The harness records every RegisterResource request (type, name, parent,
protect, ignoreChanges, dependencies) together with the inputs the mocks
received, so assertions read like the ARM payload.
"""
from __future__ import annotations

import asyncio
import base64
import dataclasses
import re
import runpy
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pulumi
import pytest
import yaml

import stacks
from stacks import capabilities

from support import ROOT, azure_judge
from support import pulumi_harness as harness
from support.pulumi_harness import Registered
from support.stack_files import DELETE, mutate, stack_config

SUB = "00000000-0000-0000-0000-000000000000"
# What listClusterUserCredentials answers (format exec on an Entra ID cluster: kubelogin in device-code mode).
AZURE_KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: aks
  cluster: {server: "https://aks.hcp.westeurope.azmk8s.io:443", certificate-authority-data: Q0E=}
contexts:
- name: aks
  context: {cluster: aks, user: clusterUser_rg_aks}
current-context: aks
users:
- name: clusterUser_rg_aks
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: kubelogin
      args: [get-token, --login, devicecode, --server-id, 6dae42f8-4368-4678-94ff-3960e28e3630]
"""
# Without Entra ID (entraId.enabled false) AKS answers with the cluster user's client certificate.
KUBECONFIG = "apiVersion: v1\nkind: Config\n"
DEPLOYER = "33333333-3333-3333-3333-333333333333"
TENANT = "44444444-4444-4444-4444-444444444444"


# --------------------------------------------------------------------------- harness (tests/support/pulumi_harness.py)


class Recording:
    """What a run registered (inputs without secret wrappers: what Azure receives) and exported."""

    def __init__(self, items: list[Registered], exports: dict[str, Any], invokes: list[tuple[str, dict]]) -> None:
        self.items = items
        self.exports = exports
        self.invokes = invokes

    def of_type(self, suffix: str) -> list[Registered]:
        return [r for r in self.items if r.type.endswith(suffix)]

    def one(self, suffix: str) -> Registered:
        found = self.of_type(suffix)
        assert len(found) == 1, f"expected one {suffix}, got {[r.name for r in found]}"
        return found[0]

    def named(self, name: str) -> Registered:
        return next(r for r in self.items if r.name == name)

    def types(self) -> set[str]:
        return {r.type for r in self.items}


def azure_state(typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Answers like Azure would, just enough for the outputs the program reads."""
    state = harness.plain(inputs)
    arm_name = next((inputs[k] for k in ("resourceName", "resourceGroupName", "subnetName",
                                         "virtualNetworkName") if k in inputs), name)
    if typ == "azure-native:containerservice:ManagedCluster":
        ident = state.get("identity") or {}
        if isinstance(ident.get("userAssignedIdentities"), list):  # input list, output map
            state["identity"] = {**ident, "userAssignedIdentities": {i: {} for i in ident["userAssignedIdentities"]}}
        state |= {
            "name": arm_name,
            "fqdn": f"{arm_name}.hcp.westeurope.azmk8s.io",
            "nodeResourceGroup": state.get("nodeResourceGroup") or f"MC_{arm_name}",
            "oidcIssuerProfile": {"enabled": True, "issuerURL": f"https://westeurope.oic.prod-aks.azure.com/{arm_name}/"},
        }
    elif typ == "azure-native:managedidentity:UserAssignedIdentity":
        state |= {"name": arm_name, "principalId": f"pid-{name}", "clientId": f"cid-{name}"}
    else:
        state.setdefault("name", arm_name)
    return f"/subscriptions/{SUB}/resourceGroups/rg/providers/mock/{name}", state


NOT_FOUND = ({}, [("", "ResourceNotFound: The Resource 'Microsoft.ContainerService/managedClusters/x' was not found")])


def azure_calls(live: dict[str, Any] | None = None) -> harness.CallFn:
    """Invokes: the user kubeconfig, and the live cluster (``None``: it does not exist yet)."""
    def call(token: str, args: dict[str, Any]) -> Any:
        if token == "azure-native:containerservice:listManagedClusterUserCredentials":
            text = AZURE_KUBECONFIG if args.get("format") == "exec" else KUBECONFIG
            return {"kubeconfigs": [{"name": "clusterUser", "value": base64.b64encode(text.encode()).decode()}]}
        if token == "azure-native:containerservice:getManagedCluster":
            return NOT_FOUND if live is None else live
        if token == "azure-native:authorization:getClientConfig":
            return {"clientId": "deployer-cid", "objectId": DEPLOYER, "subscriptionId": SUB, "tenantId": TENANT}
        return {}
    return call


def run(program: Callable[[], Any], *, config: dict[str, Any] | None = None, live: dict[str, Any] | None = None,
        previous_outputs: dict[str, Any] | None = None, stack: str = "test",
        secret_keys: tuple[str, ...] = ()) -> Recording:
    """Run ``program`` under mocks and return what it registered (and exported, for __main__ runs)."""
    h = harness.Harness(azure_state, calls=azure_calls(live), stack_outputs=previous_outputs or {}, stack=stack,
                        config=config, secret_keys=secret_keys)
    items = [dataclasses.replace(r, inputs=r.plain) for r in h.run(program)]
    return Recording(items, {}, h.mocks.invokes)


def run_main_capturing(exported: dict[str, Any]) -> None:
    """Run the real ``__main__.py``, collecting what it exports into ``exported``."""
    original = pulumi.export
    pulumi.export = lambda k, v: exported.__setitem__(k, v)  # type: ignore[assignment]
    try:
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
    finally:
        pulumi.export = original  # type: ignore[assignment]


def run_main(config: dict[str, Any], **kwargs: Any) -> Recording:
    """Run the real ``__main__.py`` with ``config`` as the stack's engine config."""
    exported: dict[str, Any] = {}

    def program() -> Any:
        run_main_capturing(exported)
        return pulumi.Output.all(**exported).apply(lambda v: exported.update(v))

    rec = run(program, config=config, **kwargs)
    rec.exports = exported
    return rec


@pytest.fixture(autouse=True)
def _no_engine_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_SECRET_KEYS", raising=False)


# --------------------------------------------------------------------------- one test per networking mode

MODE_CHANGES: dict[str, dict[str, Any]] = {
    "overlay-cilium": {},
    "overlay": {"networking.mode": "overlay", "networking.networkPolicy": "calico"},
    "podsubnet-cilium": {
        "networking.mode": "podsubnet-cilium",
        "networking.podCidr": DELETE,
        "network.podSubnet": {"name": "snet-aks-pods", "cidr": "10.20.64.0/18"},
    },
    "byo-cilium": {"networking.mode": "byo-cilium", "networking.networkPolicy": DELETE, "dns.nodeCache": "auto"},
}

EXPECTED_PROFILE: dict[str, dict[str, Any]] = {
    "overlay-cilium": {"networkPlugin": "azure", "networkPluginMode": "overlay", "networkDataplane": "cilium",
                       "networkPolicy": "cilium", "podCidr": "10.244.0.0/16"},
    "overlay": {"networkPlugin": "azure", "networkPluginMode": "overlay", "networkDataplane": "azure",
                "networkPolicy": "calico", "podCidr": "10.244.0.0/16"},
    "podsubnet-cilium": {"networkPlugin": "azure", "networkDataplane": "cilium", "networkPolicy": "cilium"},
    "byo-cilium": {"networkPlugin": "none"},
}


@pytest.mark.parametrize("mode", list(MODE_CHANGES), ids=list(MODE_CHANGES))
def test_each_networking_mode_builds_its_network_profile_and_add_ons(mode: str) -> None:
    rec = run_main(mutate(stack_config("test"), MODE_CHANGES[mode]))
    mc = rec.one("containerservice:ManagedCluster")
    profile = mc.inputs["networkProfile"]
    for key, value in EXPECTED_PROFILE[mode].items():
        assert profile[key] == value, key
    assert profile["serviceCidr"] == "10.21.0.0/16" and profile["dnsServiceIP"] == "10.21.0.10"
    # Fields a mode must not send (AKS would reject them or configure something else).
    if mode in ("podsubnet-cilium", "byo-cilium"):
        assert "podCidr" not in profile and "networkPluginMode" not in profile
    if mode == "byo-cilium":
        assert "networkDataplane" not in profile and "networkPolicy" not in profile
    assert "kubeProxyConfig" not in profile
    assert mc.inputs["tags"]["akshift-networking-mode"] == mode

    pool = mc.inputs["agentPoolProfiles"][0]
    subnets = {r.name: r for r in rec.of_type("network:Subnet")}
    if mode == "podsubnet-cilium":
        assert set(subnets) == {"aks-nodes", "aks-pods"}
        assert "podSubnetID" in pool
        assert subnets["aks-pods"].inputs["addressPrefix"] == "10.20.64.0/18"
        assert {r.name for r in rec.of_type("RoleAssignment")} >= {"aks-cp-network-nodes", "aks-cp-network-pods"}
    else:
        assert set(subnets) == {"aks-nodes"} and "podSubnetID" not in pool

    helm = rec.of_type("helm.sh/v3:Release")
    daemonsets = rec.of_type("apps/v1:DaemonSet")
    if mode == "byo-cilium":
        (release,) = helm
        assert release.inputs["chart"] == "cilium" and release.inputs["namespace"] == "kube-system"
        values = release.inputs["values"]
        assert values["kubeProxyReplacement"] is True and values["aksbyocni"] == {"enabled": True}
        assert values["k8sServiceHost"] == "aks-akshift-test.hcp.westeurope.azmk8s.io"
        assert values["ipam"]["operator"]["clusterPoolIPv4PodCIDRList"] == ["10.244.0.0/16"]
        # LocalDNS is not used with a CNI AKS does not manage: NodeLocal DNSCache via Cilium LRP instead, and
        # LocalDNS disabled explicitly (from 1.37 a pool without a profile would default to Preferred).
        assert pool["localDNSProfile"] == {"mode": "Disabled"}
        assert len(daemonsets) == 1 and daemonsets[0].inputs["spec"]["template"]["spec"]["hostNetwork"] is False
        assert rec.one("CiliumLocalRedirectPolicy").type == "kubernetes:cilium.io/v2:CiliumLocalRedirectPolicy"
        assert values["localRedirectPolicies"] == {"enabled": True}
    else:
        assert helm == [] and daemonsets == []
        assert pool["localDNSProfile"] == {"mode": "Required"}


def test_overlay_mode_without_local_dns_gets_the_iptables_node_local_dns_cache() -> None:
    config = mutate(stack_config("test"), {**MODE_CHANGES["overlay"], "dns.nodeCache": "nodelocaldns"})
    rec = run_main(config)
    ds = rec.one("apps/v1:DaemonSet")
    spec = ds.inputs["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True
    assert spec["containers"][0]["args"][:2] == ["-localip", "169.254.20.10,10.21.0.10"]
    assert rec.one("ManagedCluster").inputs["agentPoolProfiles"][0]["localDNSProfile"] == {"mode": "Disabled"}
    assert rec.named("aks-pool-apps").inputs["localDNSProfile"] == {"mode": "Disabled"}
    assert rec.of_type("CiliumLocalRedirectPolicy") == []


# --------------------------------------------------------------------------- one test per stack file


def test_test_stack_is_a_small_single_zone_unprotected_cluster() -> None:
    rec = run_main(stack_config("test"), stack="test")
    mc = rec.one("containerservice:ManagedCluster")
    assert mc.inputs["resourceName"] == "aks-akshift-test"
    assert mc.inputs["sku"] == {"name": "Base", "tier": "Free"}
    system = mc.inputs["agentPoolProfiles"][0]
    assert (system["name"], system["mode"], system["count"], system["availabilityZones"]) == ("system", "System", 1, ["1"])
    apps = rec.named("aks-pool-apps")
    assert apps.inputs["enableAutoScaling"] is True and (apps.inputs["minCount"], apps.inputs["maxCount"]) == (1, 3)
    assert apps.ignore_changes == ["count"]
    assert not any(r.protect for r in rec.items), "test stack sets protect: false"
    assert rec.of_type("MaintenanceConfiguration") == []


def test_prod_stack_is_zone_redundant_autoscaled_maintained_and_protected() -> None:
    rec = run_main(stack_config("prod"), stack="prod")
    mc = rec.one("containerservice:ManagedCluster")
    assert mc.inputs["sku"] == {"name": "Base", "tier": "Standard"}
    assert mc.inputs["autoUpgradeProfile"] == {"upgradeChannel": "patch", "nodeOSUpgradeChannel": "SecurityPatch"}
    assert mc.inputs["networkProfile"]["outboundType"] == "userAssignedNATGateway"
    nat = rec.one("network:NatGateway")
    ips = rec.of_type("network:PublicIPAddress")
    assert len(ips) == 2 and all(ip.inputs["sku"]["name"] == "Standard" for ip in ips)
    assert {i["id"].rsplit("/", 1)[-1] for i in nat.inputs["publicIpAddresses"]} == {ip.name for ip in ips}
    assert rec.named("aks-nodes").inputs["natGateway"]["id"].endswith("/aks-nat-gateway")
    assert mc.inputs["nodeResourceGroup"] == "rg-akshift-prod-nodes"
    system = mc.inputs["agentPoolProfiles"][0]
    assert system["availabilityZones"] == ["1", "2", "3"]
    assert (system["minCount"], system["maxCount"], system["nodeTaints"]) == (3, 6, ["CriticalAddonsOnly=true:NoSchedule"])
    assert system["localDNSProfile"] == {"mode": "Required"}
    assert mc.ignore_changes == ["agentPoolProfiles[0].count"]
    pools = {r.inputs["agentPoolName"]: r.inputs for r in rec.of_type("containerservice:AgentPool")}
    assert set(pools) == {"apps", "batch"}
    assert pools["batch"]["minCount"] == 0 and pools["batch"]["nodeTaints"] == ["workload=batch:NoSchedule"]
    assert all(p["localDNSProfile"] == {"mode": "Required"} for p in pools.values())
    windows = {r.inputs["configName"]: r.inputs["maintenanceWindow"] for r in rec.of_type("MaintenanceConfiguration")}
    assert windows["aksManagedAutoUpgradeSchedule"] == {
        "schedule": {"weekly": {"dayOfWeek": "Sunday", "intervalWeeks": 1}},
        "durationHours": 4, "startTime": "02:00", "utcOffset": "+01:00",
    }
    assert set(windows) == {"aksManagedAutoUpgradeSchedule", "aksManagedNodeOSUpgradeSchedule"}
    # protect: the cluster and every Azure resource it lives on; not the in-cluster provider.
    azure = [r for r in rec.items if r.type.startswith("azure-native:")]
    assert azure and all(r.protect for r in azure)
    assert rec.one("ManagedCluster").protect is True


def test_prod_stack_uses_managed_identities_with_the_role_assignments_aks_needs() -> None:
    rec = run_main(stack_config("prod"), stack="prod")
    mc = rec.one("ManagedCluster")
    cp_id = f"/subscriptions/{SUB}/resourceGroups/rg/providers/mock/aks-control-plane"
    kubelet_id = f"/subscriptions/{SUB}/resourceGroups/rg/providers/mock/aks-kubelet"
    assert mc.inputs["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [cp_id]}
    assert mc.inputs["identityProfile"] == {
        "kubeletidentity": {"resourceId": kubelet_id, "clientId": "cid-aks-kubelet", "objectId": "pid-aks-kubelet"}
    }
    assert "servicePrincipalProfile" not in mc.inputs
    assert mc.inputs["oidcIssuerProfile"] == {"enabled": True}
    assert mc.inputs["securityProfile"]["workloadIdentity"] == {"enabled": True}
    names = {r.inputs["resourceName"] for r in rec.of_type("UserAssignedIdentity")}
    assert names == {"id-aks-akshift-prod-control-plane", "id-aks-akshift-prod-kubelet"}
    grants = {r.name: r.inputs for r in rec.of_type("RoleAssignment") if r.parent == "akshift:index:ClusterIdentity"}
    assert grants["aks-cp-network-nodes"]["roleDefinitionId"].endswith("4d97b98b-1d4f-4787-a291-c67834d212e7")
    assert grants["aks-cp-network-nodes"]["roleDefinitionId"].startswith(f"/subscriptions/{SUB}/providers/")
    assert grants["aks-cp-operator-kubelet"]["scope"] == kubelet_id
    assert all(g["principalId"] == "pid-aks-control-plane" and g["principalType"] == "ServicePrincipal"
               for g in grants.values())
    # AKS checks its rights on the subnet while creating the cluster: the cluster waits for the grants.
    assert {d.rsplit("::", 1)[-1] for d in mc.dependencies} >= set(grants)


def test_prod_stack_exports_the_documented_outputs_with_kubeconfig_secret() -> None:
    rec = run_main(stack_config("prod"), stack="prod")
    assert set(rec.exports) == {"kubeconfig", "clusterName", "clusterId", "nodeResourceGroup", "oidcIssuerUrl",
                                "networkingMode", "kubernetesVersion", "addonVersions", "diskCopyResourceGroup",
                                "logAnalyticsWorkspaceId"}
    assert rec.exports["diskCopyResourceGroup"] == "rg-akshift-prod-disk-copies"
    kubeconfig = yaml.safe_load(rec.exports["kubeconfig"])
    assert kubeconfig["clusters"] == yaml.safe_load(AZURE_KUBECONFIG)["clusters"]  # server and CA kept
    assert [u["user"]["exec"]["command"] for u in kubeconfig["users"]] == ["kubelogin"]
    assert rec.exports["clusterName"] == "aks-akshift-prod"
    assert rec.exports["nodeResourceGroup"] == "rg-akshift-prod-nodes"
    assert rec.exports["oidcIssuerUrl"].startswith("https://")
    assert rec.exports["networkingMode"] == "overlay-cilium"


def test_kubeconfig_output_is_a_pulumi_secret() -> None:
    from components.cluster import AksCluster, AksClusterArgs
    from components.identity import IdentityRefs

    cfg = stacks.load(stack_config("test"))
    seen: dict[str, bool] = {}

    def program() -> Any:
        c = AksCluster("aks", AksClusterArgs("rg", "westeurope", cfg.cluster, cfg.networking, cfg.node_pools,
                                             stacks.NodeDnsCache.NONE, "subnet",
                                             IdentityRefs("cp", {"resource_id": "k", "client_id": "c", "object_id": "o"})))

        async def check() -> None:
            seen["secret"] = await c.kubeconfig.is_secret()

        return asyncio.ensure_future(check())

    run(program)
    assert seen == {"secret": True}


# --------------------------------------------------------------------------- structure, guards, bad input


def test_every_resource_is_parented_to_its_component_and_components_to_the_stack() -> None:
    rec = run_main(stack_config("prod"), stack="prod")
    expected_parent = {
        "azure-native:resources:ResourceGroup": "akshift:index:ClusterResourceGroup",
        "azure-native:network:VirtualNetwork": "akshift:index:ClusterNetwork",
        "azure-native:network:Subnet": "akshift:index:ClusterNetwork",
        "azure-native:network:NetworkSecurityGroup": "akshift:index:ClusterNetwork",
        "azure-native:network:NatGateway": "akshift:index:ClusterNetwork",
        "azure-native:network:PublicIPAddress": "akshift:index:ClusterNetwork",
        "azure-native:managedidentity:UserAssignedIdentity": "akshift:index:ClusterIdentity",
        "azure-native:authorization:RoleAssignment": "akshift:index:ClusterIdentity",
        "azure-native:containerservice:ManagedCluster": "akshift:index:AksCluster",
        "azure-native:containerservice:AgentPool": "akshift:index:AksCluster",
        "azure-native:containerservice:MaintenanceConfiguration": "akshift:index:AksCluster",
        "pulumi:providers:kubernetes": "akshift:index:ClusterAddons",
        "azure-native:operationalinsights:Workspace": "akshift:index:ClusterMonitoring",
        "azure-native:monitor:DataCollectionRule": "akshift:index:ClusterMonitoring",
        "azure-native:monitor:DataCollectionRuleAssociation": "akshift:index:ClusterMonitoring",
        "azure-native:monitor:DiagnosticSetting": "akshift:index:ClusterMonitoring",
    }
    for r in rec.items:
        if r.type.startswith("akshift:index:") or r.type == "pulumi:pulumi:StackReference":
            assert r.parent == "pulumi:pulumi:Stack", r.name
        elif r.name == "aks-deployer-cluster-admin":  # the deployer's grant is on the cluster, made with it
            assert r.parent == "akshift:index:AksCluster"
        else:
            assert r.parent == expected_parent[r.type], (r.type, r.name)


def test_child_logical_names_are_fixed_and_do_not_follow_config_values() -> None:
    renamed = mutate(stack_config("test"), {"cluster.name": "aks-renamed", "network.vnetName": "vnet-renamed"})
    before = {(r.type, r.name) for r in run_main(stack_config("test")).items}
    after = {(r.type, r.name) for r in run_main(renamed).items}
    assert before == after


def test_ready_provider_waits_for_the_cni_and_dns_cache_in_byo_cilium() -> None:
    rec = run_main(mutate(stack_config("test"), MODE_CHANGES["byo-cilium"]))
    providers = {r.name: r for r in rec.of_type("providers:kubernetes")}
    assert set(providers) == {"aks-bootstrap", "aks-provider"}
    waits_for = {d.rsplit("::", 1)[-1] for d in providers["aks-provider"].dependencies}
    assert {"aks-cilium-release", "aks-node-local-dns-daemonset"} <= waits_for
    # add-ons go through the bootstrap provider, inherited from their component
    assert "aks-bootstrap" in rec.named("aks-cilium-release").provider


# --------------------------------------------------------------------------- the live cluster: replacement guard


_CAMEL = {"dns_service_ip": "dnsServiceIP"}


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return _CAMEL.get(key, head + "".join(w.title() for w in rest))


def live_cluster(stack: str = "test", *, network: dict[str, Any] | None = None, version: str = "1.36.3",
                 pools: dict[str, dict[str, Any]] | None = None, **top: Any) -> dict[str, Any]:
    """What ``getManagedCluster`` returns for the cluster of a shipped stack (changes applied), camelCase as ARM."""
    from components import profiles

    cfg = stacks.load(stack_config(stack))
    profile = {_camel(k): v for k, v in profiles.network_profile(cfg.networking).items()}
    live_pools = []
    for p in cfg.node_pools:
        entry = {"name": p.name, "mode": p.mode, "vmSize": p.vm_size, "osType": p.os_type, "maxPods": p.max_pods,
                 "availabilityZones": list(p.zones), "orchestratorVersion": version.rsplit(".", 1)[0],
                 "currentOrchestratorVersion": version}
        live_pools.append({**entry, **(pools or {}).get(p.name, {})})
    rg, name = cfg.resource_group, cfg.cluster.name
    return {"id": f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.ContainerService/managedClusters/{name}",
            "name": name, "location": cfg.location, "dnsPrefix": cfg.cluster.effective_dns_prefix,
            "nodeResourceGroup": cfg.cluster.node_resource_group or f"MC_{rg}_{name}_{cfg.location}",
            "kubernetesVersion": version.rsplit(".", 1)[0], "currentKubernetesVersion": version,
            "networkProfile": {**profile, **(network or {})}, "agentPoolProfiles": live_pools, **top}


def _refused(config: dict[str, Any], live: dict[str, Any], **kw: Any) -> tuple[str, list[Registered]]:
    h = harness.Harness(azure_state, calls=azure_calls(live), stack_outputs={}, config=config, **kw)
    with pytest.raises(pulumi.RunError) as info:
        h.run(lambda: runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__"))
    return str(info.value), h.registered()


def test_a_stack_matching_the_live_cluster_is_accepted_and_its_force_new_fields_are_not_diffed() -> None:
    rec = run_main(stack_config("test"), live=live_cluster())
    mc = rec.one("ManagedCluster")
    assert ("azure-native:containerservice:getManagedCluster",
            {"resourceGroupName": "rg-akshift-test", "resourceName": "aks-akshift-test"}) in rec.invokes
    assert {"networkProfile.networkPlugin", "networkProfile.podCidr", "networkProfile.outboundType", "location",
            "dnsPrefix", "nodeResourceGroup"} <= set(mc.ignore_changes)
    assert mc.import_id == ""


def test_the_in_place_path_state_already_cilium_output_still_overlay_adopts_the_new_state_with_no_replacement() -> None:
    # `akshift strategy --execute` moved the cluster Overlay → Cilium through ARM and refreshed the state; the
    # stack's outputs still say overlay. The stack file now says overlay-cilium, like the cluster.
    rec = run_main(stack_config("test"), live=live_cluster(), previous_outputs={"networkingMode": "overlay"})
    mc = rec.one("ManagedCluster")
    assert mc.inputs["networkProfile"]["networkDataplane"] == "cilium"
    assert "networkProfile.networkDataplane" in mc.ignore_changes
    assert rec.exports["networkingMode"] == "overlay-cilium"
    assert _judged(rec) == {}


def test_keeping_the_old_mode_after_an_in_place_update_is_refused_instead_of_recreating_the_upgraded_cluster() -> None:
    overlay = mutate(stack_config("test"), {"networking.mode": "overlay", "networking.networkPolicy": "none"})
    text, registered = _refused(overlay, live_cluster())
    assert "networking.mode: the live cluster aks-akshift-test runs 'cilium', this stack wants 'azure'" in text
    assert "akshift strategy --execute" in text and "akshift migrate" in text
    assert registered == [], "refused before any resource is registered"


FORCE_NEW_CASES = {
    "network plugin (live kubenet)": ({"network": {"networkPlugin": "kubenet", "networkPluginMode": None,
                                                   "networkDataplane": None, "networkPolicy": "none"}},
                                      "networking.mode", "'kubenet'", "'azure'"),
    "plugin mode": ({"network": {"networkPluginMode": None}}, "networking.mode", "None", "'overlay'"),
    "dataplane": ({"network": {"networkDataplane": "azure"}}, "networking.mode", "'azure'", "'cilium'"),
    "network policy": ({"network": {"networkPolicy": "calico"}}, "networking.networkPolicy", "'calico'", "'cilium'"),
    "pod CIDR": ({"network": {"podCidr": "10.245.0.0/16"}}, "networking.podCidr", "'10.245.0.0/16'", "'10.244.0.0/16'"),
    "service CIDR": ({"network": {"serviceCidr": "10.22.0.0/16"}}, "networking.serviceCidr", "'10.22.0.0/16'", "'10.21.0.0/16'"),
    "DNS service IP": ({"network": {"dnsServiceIP": "10.21.0.53"}}, "networking.dnsServiceIP", "'10.21.0.53'", "'10.21.0.10'"),
    "outbound type": ({"network": {"outboundType": "userDefinedRouting"}}, "networking.outboundType",
                      "'userDefinedRouting'", "'loadBalancer'"),
    "DNS prefix": ({"dnsPrefix": "aks-old"}, "cluster.dnsPrefix", "'aks-old'", "'aks-akshift-test'"),
    "location": ({"location": "northeurope"}, "location", "'northeurope'", "'westeurope'"),
    "node resource group": ({"nodeResourceGroup": "MC_other"}, "cluster.nodeResourceGroup", "'MC_other'", "'rg-nodes'"),
    "pool VM size": ({"pools": {"apps": {"vmSize": "Standard_D8ds_v5"}}}, "nodePools[1].vmSize",
                     "'Standard_D8ds_v5'", "'Standard_D4ds_v5'"),
    "pool max pods": ({"pools": {"system": {"maxPods": 250}}}, "nodePools[0].maxPods", "250", "110"),
    "pool zones": ({"pools": {"apps": {"availabilityZones": ["2"]}}}, "nodePools[1].zones", "['2']", "['1']"),
}


@pytest.mark.parametrize("case", list(FORCE_NEW_CASES), ids=list(FORCE_NEW_CASES))
def test_every_force_new_field_that_differs_from_the_live_cluster_is_refused_with_both_values(case: str) -> None:
    live_changes, key, live_value, wanted_value = FORCE_NEW_CASES[case]
    config = stack_config("test")
    if key == "cluster.nodeResourceGroup":
        config = mutate(config, {"cluster.nodeResourceGroup": "rg-nodes"})
    text, registered = _refused(config, live_cluster(**live_changes))
    line = next((ln for ln in text.splitlines() if ln.startswith(f"{key}: ")), None)
    assert line is not None, text
    assert f"runs {live_value}, this stack wants {wanted_value}" in line
    assert "replace (delete and recreate)" in line and ("akshift migrate" in line or "new pool" in line)
    assert registered == []


def test_a_failing_live_read_refuses_the_deployment_instead_of_guessing() -> None:
    def calls(token: str, args: dict[str, Any]) -> Any:
        return ({}, [("", "AuthorizationFailed: no read access")]) if token.endswith("getManagedCluster") else {}

    h = harness.Harness(azure_state, calls=calls, stack_outputs={}, config=stack_config("test"))
    with pytest.raises(pulumi.RunError, match="cannot read the live cluster .*AuthorizationFailed"):
        h.run(lambda: runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__"))
    assert h.registered() == []


# --------------------------------------------------------------------------- renaming the cluster or its group

# The live read looks the cluster up by the name the stack file gives now: after a rename it finds nothing (the
# mocks answer NotFound), so only the stack's last clusterId can tell that Pulumi would delete the created cluster.
RENAMES = {
    "cluster.name": ({"cluster.name": "aks-akshift-test2"}, ["cluster.name"], "rg-akshift-test/aks-akshift-test2"),
    "resourceGroup": ({"resourceGroup": "rg-akshift-test2"}, ["resourceGroup"], "rg-akshift-test2/aks-akshift-test"),
    "both": ({"cluster.name": "aks-v2", "resourceGroup": "rg-v2"}, ["cluster.name", "resourceGroup"], "rg-v2/aks-v2"),
}


def run_inline(config: dict[str, Any], last_outputs: dict[str, Any], live: dict[str, Any] | None = None
               ) -> harness.Harness:
    """Run the program as `akshift up` does: the gateway hands it the outputs it read before the update."""
    from akshift import program

    h = harness.Harness(azure_state, calls=azure_calls(live), config=config)
    h.run(lambda: program.main(ROOT, last_outputs=last_outputs))
    return h


@pytest.mark.parametrize("channel", ["pulumi up", "akshift up"])
@pytest.mark.parametrize("case", list(RENAMES), ids=list(RENAMES))
def test_renaming_the_cluster_a_stack_created_is_refused_naming_both_clusters_before_anything_is_registered(
    case: str, channel: str
) -> None:
    changes, keys, named = RENAMES[case]
    created = live_cluster()["id"]  # rg-akshift-test/aks-akshift-test, as the last deployment exported it
    config = mutate(stack_config("test"), changes)
    if channel == "pulumi up":  # the program reads its own outputs through the engine
        h = harness.Harness(azure_state, calls=azure_calls(None), stack_outputs={"clusterId": created}, config=config)
        with pytest.raises(pulumi.RunError) as info:
            h.run(lambda: runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__"))
        assert ("pulumi:pulumi:readStackOutputs", {"name": "organization/akshift/test"}) in h.mocks.invokes
    else:
        with pytest.raises(pulumi.RunError) as info:
            run_inline(config, {"clusterId": created})
        h = None
    text = str(info.value)
    line = next(ln for ln in text.splitlines() if ln.startswith(f"{keys[0]}: "))
    assert f"stack test created the AKS cluster rg-akshift-test/aks-akshift-test ({created})" in line
    assert f"this stack file names {named}, which Pulumi would create while deleting the cluster it created" in line
    for key in keys:
        assert f'{key} back to "' in line
    assert "akshift migrate" in line and "pulumi stack init test-v2" in line
    assert "cluster.deleteCreatedCluster: true" in line
    if h is not None:
        assert h.registered() == [], "refused before any resource is registered"
        assert not [t for t, _ in h.mocks.invokes if t.endswith("getManagedCluster")], "refused before the live read"


@pytest.mark.parametrize("channel", ["pulumi up", "akshift up"])
def test_deploying_to_another_subscription_than_the_created_cluster_is_refused_before_anything_is_registered(
    channel: str
) -> None:
    created = live_cluster()["id"]  # in subscription SUB
    other = "11111111-1111-1111-1111-111111111111"
    answers = azure_calls(live_cluster())

    def calls(token: str, args: dict[str, Any]) -> Any:
        if token == "azure-native:authorization:getClientConfig":
            return {**answers(token, args), "subscriptionId": other}
        return answers(token, args)

    h = harness.Harness(azure_state, calls=calls, stack_outputs={"clusterId": created}, config=stack_config("test"))
    with pytest.raises(pulumi.RunError) as info:
        if channel == "pulumi up":
            h.run(lambda: runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__"))
        else:
            from akshift import program

            h.run(lambda: program.main(ROOT, last_outputs={"clusterId": created}))
    line = next(ln for ln in str(info.value).splitlines() if ln.startswith("azure-native:subscriptionId: "))
    assert f"created the AKS cluster {created} in subscription {SUB}" in line
    assert f"this deployment goes to subscription {other}" in line and "cluster.deleteCreatedCluster: true" in line
    assert h.registered() == [], "refused before any resource is registered"
    assert not [t for t, _ in h.mocks.invokes if t.endswith("getManagedCluster")], "refused before the live read"


def test_renaming_the_cluster_with_the_deletion_named_creates_the_new_one() -> None:
    created = live_cluster()["id"]
    config = mutate(stack_config("test"), {"cluster.name": "aks-akshift-test2", "cluster.deleteCreatedCluster": True})
    rec = run_main(config, live=None, previous_outputs={"clusterId": created})
    assert rec.one("ManagedCluster").inputs["resourceName"] == "aks-akshift-test2"


def test_an_unchanged_cluster_passes_the_rename_guard_whatever_the_case_azure_reports() -> None:
    created = live_cluster()["id"].replace("resourceGroups/rg-akshift-test", "resourceGroups/RG-AKSHIFT-TEST")
    rec = run_main(stack_config("test"), live=live_cluster(), previous_outputs={"clusterId": created})
    assert rec.one("ManagedCluster").inputs["resourceName"] == "aks-akshift-test"
    assert run_inline(stack_config("test"), {"clusterId": created}, live_cluster()).registered()


@pytest.mark.parametrize("previous", [{"clusterId": "same"}, {}], ids=["unchanged", "first deployment"])
def test_a_deletion_intent_left_set_when_nothing_would_be_deleted_is_refused(previous: dict[str, Any]) -> None:
    outputs = {"clusterId": live_cluster()["id"]} if previous else {}
    config = mutate(stack_config("test"), {"cluster.deleteCreatedCluster": True})
    h = harness.Harness(azure_state, calls=azure_calls(live_cluster() if previous else None),
                        stack_outputs=outputs, config=config)
    with pytest.raises(pulumi.RunError, match=r"cluster.deleteCreatedCluster: set, but stack test would delete no "
                                              r"cluster: .* Remove it"):
        h.run(lambda: runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__"))
    assert h.registered() == []


# --------------------------------------------------------------------------- versions: drift and upgrades


def test_a_version_moved_ahead_by_the_upgrade_channel_is_kept_not_downgraded() -> None:
    rec = run_main(stack_config("test"), live=live_cluster(version="1.37.2"))
    mc = rec.one("ManagedCluster")
    assert {"kubernetesVersion", "agentPoolProfiles[0].orchestratorVersion"} <= set(mc.ignore_changes)
    assert "orchestratorVersion" in rec.named("aks-pool-apps").ignore_changes


def test_raising_the_version_one_minor_above_the_live_cluster_sends_the_upgrade() -> None:
    rec = run_main(stack_config("test"), live=live_cluster(version="1.35.6"))
    mc = rec.one("ManagedCluster")
    assert mc.inputs["kubernetesVersion"] == "1.36" and "kubernetesVersion" not in mc.ignore_changes
    assert rec.named("aks-pool-apps").inputs["orchestratorVersion"] == "1.36"
    assert "orchestratorVersion" not in rec.named("aks-pool-apps").ignore_changes


def test_skipping_a_minor_version_is_refused_with_the_next_step() -> None:
    text, _ = _refused(stack_config("test"), live_cluster(version="1.34.8"))
    assert 'cluster.kubernetesVersion: the live cluster runs 1.34.8; AKS upgrades one minor version at a time, ' \
           'so set cluster.kubernetesVersion to "1.35" first' in text


def test_without_an_upgrade_channel_a_lower_version_is_a_refused_downgrade() -> None:
    config = mutate(stack_config("test"), {"cluster.upgradeChannel": "none"})
    text, _ = _refused(config, live_cluster(version="1.37.1"))
    assert "the live cluster already runs 1.37.1 and AKS cannot downgrade" in text


# --------------------------------------------------------------------------- adoption of a live (kubenet) cluster

KUBENET = {"networking.mode": "kubenet", "networking.networkPolicy": "none", "dns.nodeCache": "nodelocaldns",
           "cluster.adopt": True}
KUBENET_LIVE = {"networkPlugin": "kubenet", "networkPluginMode": None, "networkDataplane": None, "networkPolicy": "none"}


def test_a_live_kubenet_cluster_is_adopted_by_import_with_no_change_to_its_networking() -> None:
    extra = {"name": "batch", "vmSize": "Standard_D4ds_v5", "count": 1}  # not in Azure yet: created, not imported
    config = mutate(stack_config("test"), {**KUBENET, "nodePools[2]": extra})
    rec = run_main(config, live=live_cluster(network=KUBENET_LIVE))
    mc = rec.one("ManagedCluster")
    live_id = live_cluster()["id"]
    assert mc.import_id == live_id
    assert rec.named("aks-pool-apps").import_id == f"{live_id}/agentPools/apps"
    assert rec.named("aks-pool-batch").import_id == ""
    assert mc.inputs["networkProfile"]["networkPlugin"] == "kubenet" and "networkDataplane" not in mc.inputs["networkProfile"]
    assert _judged(rec) == {}


@pytest.mark.parametrize(("changes", "key"), [
    (KUBENET, "cluster.adopt"),
    ({**KUBENET, "cluster.adopt": False}, "networking.mode"),
], ids=["adopt with no live cluster", "kubenet for a new cluster"])
def test_kubenet_and_adopt_only_describe_a_cluster_that_exists(changes: dict[str, Any], key: str) -> None:
    h = harness.Harness(azure_state, calls=azure_calls(None), stack_outputs={}, config=mutate(stack_config("test"), changes))
    with pytest.raises(pulumi.RunError) as info:
        h.run(lambda: runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__"))
    assert any(line.startswith(f"{key}: ") for line in str(info.value).splitlines()), str(info.value)
    assert h.registered() == []


def test_an_invalid_stack_registers_no_resource_and_reports_every_problem() -> None:
    bad = mutate(stack_config("test"), {"networking.podCidr": "10.20.0.0/16", "nodePools[0].count": 0,
                                        "cluster.nodeOsUpgradeChannel": "Weekly"})
    with pytest.raises(pulumi.RunError) as info:
        run_main(bad)
    text = str(info.value)
    assert "nothing was deployed" in text
    assert "networking.podCidr" in text and "nodePools[0].count" in text and "cluster.nodeOsUpgradeChannel" in text


def test_an_invalid_stack_registers_nothing_at_all() -> None:
    bad = mutate(stack_config("test"), {"networking.dnsServiceIP": "10.99.0.10"})
    h = harness.Harness(azure_state, calls=azure_calls(), config=bad)
    with pytest.raises(pulumi.RunError):
        h.run(lambda: runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__"))
    assert h.monitor.requests == [] and h.mocks.invokes == []


def test_service_principal_mode_sends_the_secret_and_exports_its_expiry() -> None:
    config = mutate(stack_config("test"), {
        "identity": {"mode": "servicePrincipal", "allowServicePrincipal": True,
                     "clientId": "11111111-1111-1111-1111-111111111111",
                     "objectId": "22222222-2222-2222-2222-222222222222", "secretExpiresOn": "2027-03-01"},
    })
    config["akshift:servicePrincipalClientSecret"] = "s3cr3t"
    h = harness.Harness(azure_state, calls=azure_calls(), stack_outputs={}, config=config,
                        secret_keys=["akshift:servicePrincipalClientSecret"])
    exported: dict[str, Any] = {}
    registered = h.run(lambda: run_main_capturing(exported))
    mc = next(r for r in registered if r.type == "azure-native:containerservice:ManagedCluster")
    assert mc.plain["servicePrincipalProfile"] == {"clientId": "11111111-1111-1111-1111-111111111111", "secret": "s3cr3t"}
    assert _secret_on_path(mc.inputs, "servicePrincipalProfile", "secret")
    assert "identity" not in mc.plain and "identityProfile" not in mc.plain
    assert exported["servicePrincipalSecretExpiresOn"] == "2027-03-01"
    assert "azure-native:managedidentity:UserAssignedIdentity" not in {r.type for r in registered}
    grants = [r.plain for r in registered if r.type.endswith("RoleAssignment") and r.name != "aks-deployer-cluster-admin"]
    assert [g["principalId"] for g in grants] == ["22222222-2222-2222-2222-222222222222"]


def _secret_on_path(value: Any, *path: str) -> bool:
    """True when the value at ``path`` is secret (Pulumi may wrap it or any object around it)."""
    for key in path:
        if harness.is_secret(value):
            return True
        value = value[key]
    return harness.is_secret(value)


def test_capability_table_matches_the_installed_pulumi_azure_native() -> None:
    import pulumi_azure_native.containerservice as cs

    source = Path(cs.managed_cluster.__file__).read_text()
    assert f"Uses Azure REST API version {capabilities.CONTAINER_SERVICE_API_VERSION}." in source
    features = capabilities.api_features()
    network_fields = set(cs.ContainerServiceNetworkProfileArgs.__init__.__code__.co_varnames)
    pool_fields = set(cs.AgentPool._internal_init.__code__.co_varnames)
    assert ("kube_proxy_config" in network_fields) == features.kube_proxy_config
    assert ("local_dns_profile" in pool_fields) == features.local_dns_profile
    assert ("network_dataplane" in network_fields) == features.network_dataplane


# --------------------------------------------------------------------------- what Azure would receive


def _judged(rec: Recording) -> dict[str, list[str]]:
    return azure_judge.judge_all(dataclasses.replace(r, inputs=r.inputs) for r in rec.items)


@pytest.mark.parametrize("name", ["test", "prod"])
def test_every_azure_body_of_a_shipped_stack_is_taken_by_azures_own_models(name: str) -> None:
    rec = run_main(stack_config(name), stack=name)
    judged = [r for r in rec.items if r.type in azure_judge.RESOURCES]
    assert {r.type.rsplit(":", 1)[-1] for r in judged} >= {"ManagedCluster", "AgentPool", "Subnet", "VirtualNetwork"}
    assert _judged(rec) == {}


@pytest.mark.parametrize("mode", list(MODE_CHANGES), ids=list(MODE_CHANGES))
def test_every_networking_mode_sends_bodies_azures_models_take(mode: str) -> None:
    assert _judged(run_main(mutate(stack_config("test"), MODE_CHANGES[mode]))) == {}


@pytest.mark.parametrize(("inputs", "words"), [
    ({"location": "westeurope", "networkProfile": {"outboundType": "managedNatGateway"}},
     "outboundType: 'managedNatGateway' is not a OutboundType"),
    ({"location": "westeurope", "agentPoolProfiles": [{"name": "system", "localDnsProfile": {"mode": "Required"}}]},
     "agentPoolProfiles[0].localDnsProfile: not a property of ManagedClusterAgentPoolProfile"),
    ({"location": "westeurope", "agentPoolProfiles": [{"name": "system", "count": "3"}]},
     "count: sent '3', the model reads 3"),
    ({"location": "westeurope", "fqdn": "x.example"}, "fqdn: dropped by the model"),
    ({"networkProfile": {"podCidr": "10.244.0.0/16"}}, "location: required by the API and missing"),
    ({"location": "westeurope", "agentPoolProfiles": [{"name": "System"}]}, "name: 'System' does not match"),
    ({"location": "westeurope", "autoScalerProfile": {"expander": "cheapest"}}, "'cheapest' is not a Expander"),
    ({"location": "westeurope", "autoScalerProfile": {"balanceSimilarNodeGroup": "true"}},
     "balanceSimilarNodeGroup: not a property of ManagedClusterPropertiesAutoScalerProfile"),
], ids=["enum value", "misspelt property", "string for an int", "read-only property", "required property",
        "pattern", "autoscaler enum", "misspelt kebab-case property"])
def test_the_judge_rejects_what_azures_model_rejects_or_drops(inputs: dict[str, Any], words: str) -> None:
    problems = azure_judge.judge("azure-native:containerservice:ManagedCluster", inputs)
    assert any(words in p for p in problems), problems


# --------------------------------------------------------------------------- egress on the stack's own VNet

UDR = {"networking.outboundType": "userDefinedRouting", "network.routeTable": {"firewallIp": "10.99.0.4"}}
NAT = {"networking.outboundType": "userAssignedNATGateway",
       "network.natGateway": {"publicIpCount": 1, "idleTimeoutMinutes": 10, "zone": "1"}}


def test_user_defined_routing_sends_egress_to_the_firewall_from_every_subnet_and_grants_aks_the_route_table() -> None:
    rec = run_main(mutate(stack_config("test"), {**UDR, **MODE_CHANGES["podsubnet-cilium"]}))
    assert _judged(rec) == {}
    rt = rec.one("network:RouteTable")
    assert rt.inputs["routes"] == [{"name": "default-to-firewall", "addressPrefix": "0.0.0.0/0",
                                    "nextHopType": "VirtualAppliance", "nextHopIpAddress": "10.99.0.4"}]
    assert rt.inputs["disableBgpRoutePropagation"] is True
    for subnet in ("aks-nodes", "aks-pods"):
        assert rec.named(subnet).inputs["routeTable"]["id"].endswith("/aks-route-table")
        assert "natGateway" not in rec.named(subnet).inputs
    grants = {r.name: r.inputs for r in rec.of_type("RoleAssignment")}
    assert grants["aks-cp-network-routes"]["scope"].endswith("/aks-route-table")
    assert rec.one("ManagedCluster").inputs["networkProfile"]["outboundType"] == "userDefinedRouting"
    assert rec.of_type("network:NatGateway") == []


def test_a_zonal_nat_gateway_gets_its_public_ips_in_the_same_zone() -> None:
    rec = run_main(mutate(stack_config("test"), NAT))
    assert _judged(rec) == {}
    nat = rec.one("network:NatGateway")
    (ip,) = rec.of_type("network:PublicIPAddress")
    assert nat.inputs["zones"] == ["1"] == ip.inputs["zones"]
    assert nat.inputs["idleTimeoutInMinutes"] == 10
    assert ip.inputs["publicIPAllocationMethod"] == "Static"


def test_subnets_have_an_nsg_and_no_default_outbound_access() -> None:
    rec = run_main(stack_config("test"))
    nodes = rec.named("aks-nodes")
    assert nodes.inputs["defaultOutboundAccess"] is False
    assert nodes.inputs["networkSecurityGroup"]["id"].endswith("/aks-nodes-nsg")
    without = run_main(mutate(stack_config("test"), {"network.subnetNsg": False}))
    assert without.of_type("NetworkSecurityGroup") == [] and "networkSecurityGroup" not in without.named("aks-nodes").inputs


def test_the_component_alone_reads_the_live_cluster_and_registers_no_cluster_or_pools_when_it_refuses() -> None:
    from components.cluster import AksCluster, AksClusterArgs
    from components.identity import IdentityRefs

    cfg = stacks.load(stack_config("prod"))

    def program() -> None:
        AksCluster("aks", AksClusterArgs("rg-akshift-prod", "westeurope", cfg.cluster, cfg.networking, cfg.node_pools,
                                         stacks.NodeDnsCache.LOCALDNS, "subnet",
                                         IdentityRefs("cp", {"resource_id": "k", "client_id": "c", "object_id": "o"})))

    h = harness.Harness(azure_state, calls=azure_calls(live_cluster("prod", network={"networkPlugin": "none"})),
                        stack="prod")
    with pytest.raises(pulumi.RunError, match=r"networking\.mode: the live cluster aks-akshift-prod runs 'none'"):
        h.run(program)
    assert [r.type for r in h.registered()] == ["akshift:index:AksCluster"]


def test_disk_copies_get_a_protected_resource_group_of_their_own_never_the_node_group() -> None:
    rec = run_main(stack_config("prod"), stack="prod")
    groups = {r.inputs["resourceGroupName"]: r for r in rec.of_type("resources:ResourceGroup")}
    assert set(groups) == {"rg-akshift-prod", "rg-akshift-prod-disk-copies"}
    copies = groups["rg-akshift-prod-disk-copies"]
    assert copies.protect and copies.inputs["tags"]["akshift-purpose"] == "disk-copies"
    assert rec.exports["nodeResourceGroup"] != rec.exports["diskCopyResourceGroup"]


# --------------------------------------------------------------------------- the production baseline (issue 15 item 6)


def test_prod_cluster_signs_in_with_entra_id_has_no_local_accounts_and_a_limited_api_server() -> None:
    rec = run_main(stack_config("prod"), stack="prod")
    mc = rec.one("ManagedCluster").inputs
    assert mc["aadProfile"] == {"managed": True, "enableAzureRBAC": True}
    assert mc["disableLocalAccounts"] is True
    assert mc["apiServerAccessProfile"] == {"authorizedIPRanges": ["203.0.113.0/24"]}
    assert mc["autoScalerProfile"] == {"expander": "least-waste", "balanceSimilarNodeGroups": "true",
                                       "scaleDownUnneededTime": "10m", "skipNodesWithLocalStorage": "false"}
    # The deployer installs the add-ons through the API server: Azure RBAC Cluster Admin on the cluster.
    grant = rec.named("aks-deployer-cluster-admin").inputs
    assert grant["principalId"] == DEPLOYER
    assert grant["roleDefinitionId"].endswith("/roleDefinitions/b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b")
    assert grant["scope"] == f"/subscriptions/{SUB}/resourceGroups/rg/providers/mock/aks-cluster"


def test_prod_sends_monitoring_defender_and_the_add_ons_to_the_workspace_the_stack_declares() -> None:
    rec = run_main(stack_config("prod"), stack="prod")
    mc = rec.one("ManagedCluster")
    workspace = rec.one("operationalinsights:Workspace")
    workspace_id = f"/subscriptions/{SUB}/resourceGroups/rg/providers/mock/{workspace.name}"
    assert workspace.inputs["sku"] == {"name": "PerGB2018"} and workspace.inputs["retentionInDays"] == 30
    addons = mc.inputs["addonProfiles"]
    assert addons["omsagent"] == {"enabled": True, "config": {"logAnalyticsWorkspaceResourceID": workspace_id,
                                                              "useAADAuth": "true"}}
    assert addons["azurepolicy"] == {"enabled": True}
    assert addons["azureKeyvaultSecretsProvider"] == {"enabled": True, "config": {"enableSecretRotation": "true",
                                                                                  "rotationPollInterval": "2m"}}
    security = mc.inputs["securityProfile"]
    assert security["defender"] == {"logAnalyticsWorkspaceResourceId": workspace_id,
                                    "securityMonitoring": {"enabled": True}}
    assert security["imageCleaner"] == {"enabled": True, "intervalHours": 168}
    cluster_id = f"/subscriptions/{SUB}/resourceGroups/rg/providers/mock/aks-cluster"
    diag = rec.one("DiagnosticSetting").inputs
    assert diag["resourceUri"] == cluster_id and diag["workspaceId"] == workspace_id
    assert [c["category"] for c in diag["logs"]] == ["kube-audit-admin", "guard", "cluster-autoscaler",
                                                     "kube-controller-manager"]
    rule = rec.one("DataCollectionRule")
    assert rule.inputs["destinations"]["logAnalytics"][0]["workspaceResourceId"] == workspace_id
    assoc = rec.one("DataCollectionRuleAssociation").inputs
    assert assoc["resourceUri"] == cluster_id and assoc["dataCollectionRuleId"].endswith(f"/{rule.name}")
    assert rec.exports["logAnalyticsWorkspaceId"] == workspace_id
    judged = {r.type.rsplit(":", 1)[-1] for r in rec.items if r.type in azure_judge.RESOURCES}
    assert judged >= {"ManagedCluster", "DiagnosticSetting", "DataCollectionRule", "DataCollectionRuleAssociation"}
    assert _judged(rec) == {}


def test_a_private_cluster_sends_no_public_ranges_and_azure_takes_it() -> None:
    rec = run_main(mutate(stack_config("prod"), {"cluster.apiServer": {"privateCluster": True}}), stack="prod")
    assert rec.one("ManagedCluster").inputs["apiServerAccessProfile"] == {"enablePrivateCluster": True}
    assert _judged(rec) == {}


def test_the_test_stack_runs_the_same_sign_in_as_prod_without_the_costed_parts() -> None:
    rec = run_main(stack_config("test"))
    mc = rec.one("ManagedCluster").inputs
    assert mc["aadProfile"] == {"managed": True, "enableAzureRBAC": True} and mc["disableLocalAccounts"] is True
    assert "addonProfiles" not in mc and set(mc["securityProfile"]) == {"workloadIdentity"}
    assert not rec.of_type("operationalinsights:Workspace") and not rec.of_type("DiagnosticSetting")


def test_the_kubeconfig_output_holds_no_credential_only_the_kubelogin_exec_plugin() -> None:
    from deploy.outputs import kubeconfig_output
    from kube.config import KubeConfig

    rec = run_main(stack_config("prod"), stack="prod")
    creds = [args for token, args in rec.invokes if token.endswith("listManagedClusterUserCredentials")]
    assert creds and all(a.get("format") == "exec" for a in creds)
    assert not [t for t, _ in rec.invokes if t.endswith("listManagedClusterAdminCredentials")]
    text = rec.exports["kubeconfig"]
    assert not re.search(r"client-(certificate|key)-data|token:|password:", text)
    # What `--target-stack prod` reads: the same output, through the same checks, as a kubelogin exec user.
    fake_engine_outputs = {"kubeconfig": text}
    with mock.patch("deploy.outputs.open_work_dir") as work_dir:
        work_dir.return_value.outputs.return_value = fake_engine_outputs
        read = kubeconfig_output(mock.Mock(), ROOT, "prod")
    cfg = KubeConfig.from_text(read, "stack prod output kubeconfig")
    assert cfg.server == "https://aks.hcp.westeurope.azmk8s.io:443"
    assert cfg.exec is not None and cfg.exec.command == "kubelogin"
    assert cfg.exec.args == ("get-token", "--login", "azurecli", "--server-id", "6dae42f8-4368-4678-94ff-3960e28e3630")


def test_without_entra_id_the_user_credential_is_exported_as_aks_returns_it() -> None:
    config = mutate(stack_config("test"), {"cluster.entraId": {"enabled": False}, "cluster.disableLocalAccounts": False})
    rec = run_main(config)
    assert "aadProfile" not in rec.one("ManagedCluster").inputs
    assert rec.exports["kubeconfig"] == KUBECONFIG
    assert not [r for r in rec.of_type("RoleAssignment") if r.name == "aks-deployer-cluster-admin"]
