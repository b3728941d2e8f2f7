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
import copy
import dataclasses
import json
import runpy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

import stacks
from stack_files import DELETE, mutate, stack_config
from stacks import capabilities

ROOT = Path(__file__).resolve().parents[1]
SUB = "00000000-0000-0000-0000-000000000000"
KUBECONFIG = "apiVersion: v1\nkind: Config\n"


# --------------------------------------------------------------------------- harness


@dataclasses.dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]
    parent_type: str | None
    protect: bool
    ignore_changes: list[str]
    dependencies: list[str]
    provider: str


class Recording:
    def __init__(self, items: list[Registered], exports: dict[str, Any]) -> None:
        self.items = items
        self.exports = exports

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


class _Mocks(pulumi.runtime.Mocks):
    """Answers like Azure would, just enough for outputs the program reads."""

    def __init__(self, previous_outputs: dict[str, Any]) -> None:
        self.previous_outputs = previous_outputs
        self.inputs: dict[tuple[str, str], dict[str, Any]] = {}
        self.raw_inputs: dict[tuple[str, str], dict[str, Any]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.raw_inputs[(args.typ, args.name)] = copy.deepcopy(args.inputs)
        self.inputs[(args.typ, args.name)] = _plain(args.inputs)
        state = _plain(args.inputs)
        arm_name = next((args.inputs[k] for k in ("resourceName", "resourceGroupName", "subnetName",
                                                  "virtualNetworkName") if k in args.inputs), args.name)
        if args.typ == "azure-native:containerservice:ManagedCluster":
            ident = state.get("identity") or {}
            if isinstance(ident.get("userAssignedIdentities"), list):  # input list, output map
                state["identity"] = {**ident, "userAssignedIdentities": {i: {} for i in ident["userAssignedIdentities"]}}
            state |= {
                "name": arm_name,
                "fqdn": f"{arm_name}.hcp.westeurope.azmk8s.io",
                "nodeResourceGroup": state.get("nodeResourceGroup") or f"MC_{arm_name}",
                "oidcIssuerProfile": {"enabled": True, "issuerURL": f"https://westeurope.oic.prod-aks.azure.com/{arm_name}/"},
            }
        elif args.typ == "azure-native:managedidentity:UserAssignedIdentity":
            state |= {"name": arm_name, "principalId": f"pid-{args.name}", "clientId": f"cid-{args.name}"}
        elif args.typ == "pulumi:pulumi:StackReference":
            state = {"name": args.inputs.get("name"), "outputs": self.previous_outputs, "secretOutputNames": []}
        else:
            state.setdefault("name", arm_name)
        return f"/subscriptions/{SUB}/resourceGroups/rg/providers/mock/{args.name}", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        if args.token == "azure-native:containerservice:listManagedClusterUserCredentials":
            return {"kubeconfigs": [{"name": "clusterUser", "value": base64.b64encode(KUBECONFIG.encode()).decode()}]}
        return {}


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


def _secret_on_path(value: Any, *path: str) -> bool:
    """True when the value at ``path`` is secret (Pulumi may wrap it or any object around it)."""
    for key in path:
        if _is_secret(value):
            return True
        value = value[key]
    return _is_secret(value)


def _plain(value: Any) -> Any:
    """Inputs with Pulumi's secret wrappers removed, so tests compare the values Azure receives."""
    if _is_secret(value):
        return _plain(value["value"])
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class _Monitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: _Mocks) -> None:
        super().__init__(mocks)
        self.requests: list[Any] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC name
        self.requests.append(request)
        return super().RegisterResource(request)


def run(program: Callable[[], Any], *, config: dict[str, Any] | None = None,
        previous_outputs: dict[str, Any] | None = None, stack: str = "test") -> Recording:
    """Run ``program`` under mocks and return what it registered (and exported, for __main__ runs)."""
    mocks = _Mocks(previous_outputs or {})
    monitor = _Monitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="akshift", stack=stack, preview=False, monitor=monitor,
                             organization="organization")
    exports: dict[str, Any] = {}
    if config is not None:
        pulumi.runtime.set_all_config(
            {k: json.dumps(v) if isinstance(v, (dict, list)) else str(v) for k, v in config.items()}, []
        )
    pulumi.runtime.test(program)()
    items = []
    for req in monitor.requests:
        parent = req.parent.split("::")[2].split("$")[-1] if req.parent else None
        items.append(Registered(req.type, req.name, mocks.inputs.get((req.type, req.name), {}), parent,
                                req.protect, list(req.ignoreChanges), list(req.dependencies), req.provider))
    return Recording(items, exports)


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
    "byo-cilium": {"networking.mode": "byo-cilium", "networking.networkPolicy": DELETE},
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
        # LocalDNS is not used with a CNI AKS does not manage: NodeLocal DNSCache via Cilium LRP instead.
        assert "localDNSProfile" not in pool
        assert len(daemonsets) == 1 and daemonsets[0].inputs["spec"]["template"]["spec"]["hostNetwork"] is False
        assert rec.one("CiliumLocalRedirectPolicy").type == "kubernetes:cilium.io/v2:CiliumLocalRedirectPolicy"
        assert values["localRedirectPolicies"] == {"enabled": True}
    else:
        assert helm == [] and daemonsets == []
        assert pool["localDNSProfile"] == {"mode": "Preferred"}


def test_overlay_mode_without_local_dns_gets_the_iptables_node_local_dns_cache() -> None:
    config = mutate(stack_config("test"), {**MODE_CHANGES["overlay"], "dns.nodeCache": "nodelocaldns"})
    rec = run_main(config)
    ds = rec.one("apps/v1:DaemonSet")
    spec = ds.inputs["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True
    assert spec["containers"][0]["args"][:2] == ["-localip", "169.254.20.10,10.21.0.10"]
    assert "localDNSProfile" not in rec.one("ManagedCluster").inputs["agentPoolProfiles"][0]
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
    assert mc.inputs["networkProfile"]["outboundType"] == "managedNATGateway"
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
    assert mc.inputs["securityProfile"] == {"workloadIdentity": {"enabled": True}}
    names = {r.inputs["resourceName"] for r in rec.of_type("UserAssignedIdentity")}
    assert names == {"id-aks-akshift-prod-control-plane", "id-aks-akshift-prod-kubelet"}
    grants = {r.name: r.inputs for r in rec.of_type("RoleAssignment")}
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
                                "networkingMode", "kubernetesVersion", "addonVersions"}
    assert rec.exports["kubeconfig"] == KUBECONFIG
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
        "azure-native:managedidentity:UserAssignedIdentity": "akshift:index:ClusterIdentity",
        "azure-native:authorization:RoleAssignment": "akshift:index:ClusterIdentity",
        "azure-native:containerservice:ManagedCluster": "akshift:index:AksCluster",
        "azure-native:containerservice:AgentPool": "akshift:index:AksCluster",
        "azure-native:containerservice:MaintenanceConfiguration": "akshift:index:AksCluster",
        "pulumi:providers:kubernetes": "akshift:index:ClusterAddons",
    }
    for r in rec.items:
        if r.type.startswith("akshift:index:") or r.type == "pulumi:pulumi:StackReference":
            assert r.parent_type == "pulumi:pulumi:Stack", r.name
        else:
            assert r.parent_type == expected_parent[r.type], (r.type, r.name)


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


def test_changing_the_networking_mode_of_a_deployed_stack_is_refused_before_the_cluster_is_registered() -> None:
    with pytest.raises(pulumi.RunError, match=r"networking\.mode: this stack's cluster runs 'overlay'.*akshift migrate"):
        run_main(stack_config("test"), previous_outputs={"networkingMode": "overlay"})


def test_changing_the_networking_mode_registers_no_cluster_or_pools() -> None:
    from components.cluster import AksCluster, AksClusterArgs
    from components.identity import IdentityRefs

    cfg = stacks.load(stack_config("prod"))

    def program() -> None:
        AksCluster("aks", AksClusterArgs("rg", "westeurope", cfg.cluster, cfg.networking, cfg.node_pools,
                                         stacks.NodeDnsCache.LOCALDNS, "subnet",
                                         IdentityRefs("cp", {"resource_id": "k", "client_id": "c", "object_id": "o"}),
                                         deployed_networking_mode="byo-cilium"))

    mocks = _Mocks({})
    monitor = _Monitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="akshift", stack="prod", preview=False, monitor=monitor)
    with pytest.raises(pulumi.RunError):
        pulumi.runtime.test(program)()
    assert [r.type for r in monitor.requests] == ["akshift:index:AksCluster"]


def test_redeploying_the_same_networking_mode_passes_the_guard() -> None:
    rec = run_main(stack_config("test"), previous_outputs={"networkingMode": "overlay-cilium"})
    assert rec.one("ManagedCluster").inputs["tags"]["akshift-networking-mode"] == "overlay-cilium"


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
    mocks = _Mocks({})
    monitor = _Monitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="akshift", stack="test", preview=False, monitor=monitor,
                             organization="organization")
    pulumi.runtime.set_all_config({k: json.dumps(v) if isinstance(v, (dict, list)) else str(v) for k, v in bad.items()})
    with pytest.raises(pulumi.RunError):
        pulumi.runtime.test(lambda: runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__"))()
    assert monitor.requests == []


def test_service_principal_mode_sends_the_secret_and_exports_its_expiry() -> None:
    config = mutate(stack_config("test"), {
        "identity": {"mode": "servicePrincipal", "allowServicePrincipal": True,
                     "clientId": "11111111-1111-1111-1111-111111111111",
                     "objectId": "22222222-2222-2222-2222-222222222222", "secretExpiresOn": "2027-03-01"},
    })
    config["akshift:servicePrincipalClientSecret"] = "s3cr3t"
    mocks = _Mocks({})
    monitor = _Monitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="akshift", stack="test", preview=False, monitor=monitor,
                             organization="organization")
    pulumi.runtime.set_all_config({k: json.dumps(v) if isinstance(v, (dict, list)) else str(v) for k, v in config.items()},
                                  ["akshift:servicePrincipalClientSecret"])
    exported: dict[str, Any] = {}
    pulumi.runtime.test(lambda: run_main_capturing(exported))()
    mc_inputs = mocks.inputs[("azure-native:containerservice:ManagedCluster", "aks-cluster")]
    assert mc_inputs["servicePrincipalProfile"] == {"clientId": "11111111-1111-1111-1111-111111111111", "secret": "s3cr3t"}
    assert _secret_on_path(mocks.raw_inputs[("azure-native:containerservice:ManagedCluster", "aks-cluster")],
                           "servicePrincipalProfile", "secret")
    assert "identity" not in mc_inputs and "identityProfile" not in mc_inputs
    assert exported["servicePrincipalSecretExpiresOn"] == "2027-03-01"
    types = {r.type for r in monitor.requests}
    assert "azure-native:managedidentity:UserAssignedIdentity" not in types
    grants = [mocks.inputs[(r.type, r.name)] for r in monitor.requests if r.type.endswith("RoleAssignment")]
    assert [g["principalId"] for g in grants] == ["22222222-2222-2222-2222-222222222222"]


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
