"""The pure builders behind the components, tested without Pulumi: ARM dicts and add-on manifests."""
from __future__ import annotations

import pytest

from components import manifests, profiles
from stacks.model import NetworkingConfig, NetworkingMode, NewCluster, NodeDnsCache, NodePool


def networking(mode: str, **kw: object) -> NetworkingConfig:
    pod_cidr = None if mode == "podsubnet-cilium" else "10.244.0.0/16"
    return NetworkingConfig.model_validate({"mode": mode, "podCidr": pod_cidr, "serviceCidr": "10.21.0.0/16",
                                            "dnsServiceIP": "10.21.0.10", **kw})


def pool(**kw: object) -> NodePool:
    return NodePool.model_validate({"name": "apps", "vmSize": "Standard_D4ds_v5", "count": 2, **kw})


@pytest.mark.parametrize(
    ("mode", "plugin", "plugin_mode", "dataplane", "policy", "pod_cidr"),
    [
        ("overlay-cilium", "azure", "overlay", "cilium", "cilium", "10.244.0.0/16"),
        ("overlay", "azure", "overlay", "azure", "none", "10.244.0.0/16"),
        ("podsubnet-cilium", "azure", None, "cilium", "cilium", None),
        ("byo-cilium", "none", None, None, None, None),
    ],
)
def test_network_profile_per_mode(mode: str, plugin: str, plugin_mode: str | None, dataplane: str | None,
                                  policy: str | None, pod_cidr: str | None) -> None:
    profile = profiles.network_profile(networking(mode))
    assert profile["network_plugin"] == plugin
    assert profile.get("network_plugin_mode") == plugin_mode
    assert profile.get("network_dataplane") == dataplane
    assert profile.get("network_policy") == policy
    assert profile.get("pod_cidr") == pod_cidr
    assert (profile["service_cidr"], profile["dns_service_ip"]) == ("10.21.0.0/16", "10.21.0.10")
    assert "kube_proxy_config" not in profile


def test_overlay_mode_sends_the_chosen_calico_policy() -> None:
    assert profiles.network_profile(networking("overlay", networkPolicy="calico"))["network_policy"] == "calico"


def test_autoscaled_pool_starts_at_min_count_and_enables_the_autoscaler() -> None:
    props = profiles.agent_pool_profile(pool(count=None, autoscaling={"minCount": 2, "maxCount": 9}),
                                        kubernetes_version="1.34", networking_mode=NetworkingMode.OVERLAY_CILIUM,
                                        node_subnet_id="subnet-id")
    assert (props["enable_auto_scaling"], props["min_count"], props["max_count"], props["count"]) == (True, 2, 9, 2)
    assert props["vnet_subnet_id"] == "subnet-id" and props["orchestrator_version"] == "1.34"


def test_fixed_pool_has_count_and_no_autoscaler() -> None:
    props = profiles.agent_pool_profile(pool(), kubernetes_version="1.34",
                                        networking_mode=NetworkingMode.OVERLAY_CILIUM, node_subnet_id="s")
    assert (props["enable_auto_scaling"], props["count"]) == (False, 2)
    assert "min_count" not in props and "availability_zones" not in props


def test_only_pod_subnet_mode_gives_pools_a_pod_subnet() -> None:
    kw = dict(kubernetes_version="1.34", node_subnet_id="nodes", pod_subnet_id="pods")
    assert profiles.agent_pool_profile(pool(), networking_mode=NetworkingMode.PODSUBNET_CILIUM, **kw)["pod_subnet_id"] == "pods"
    assert "pod_subnet_id" not in profiles.agent_pool_profile(pool(), networking_mode=NetworkingMode.OVERLAY, **kw)


@pytest.mark.parametrize(
    ("os_type", "cache", "expected"),
    [
        ("Linux", NodeDnsCache.LOCALDNS, {"mode": "Required"}),
        ("Windows", NodeDnsCache.LOCALDNS, None),
        ("Linux", NodeDnsCache.NODELOCALDNS, {"mode": "Disabled"}),
        ("Linux", NodeDnsCache.NONE, {"mode": "Disabled"}),
    ],
)
def test_local_dns_runs_on_linux_pools_of_localdns_clusters_and_is_disabled_explicitly_elsewhere(os_type: str, cache: NodeDnsCache,
                                                                     expected: dict | None) -> None:
    p = pool(osType=os_type, name="win" if os_type == "Windows" else "apps")
    assert profiles.local_dns_profile(p, cache, "Required") == expected


def test_pool_options_are_passed_through_as_arm_fields() -> None:
    p = pool(zones=["1", "2"], osSku="AzureLinux", osDiskType="Ephemeral", nodeLabels={"a": "b"},
             nodeTaints=["k=v:NoSchedule"], maxSurge="33%", maxPods=50)
    props = profiles.agent_pool_profile(p, kubernetes_version="1.34", networking_mode=NetworkingMode.OVERLAY_CILIUM,
                                        node_subnet_id="s")
    assert props["availability_zones"] == ["1", "2"] and props["os_sku"] == "AzureLinux"
    assert props["node_labels"] == {"a": "b"} and props["node_taints"] == ["k=v:NoSchedule"]
    assert props["upgrade_settings"] == {"max_surge": "33%"} and props["max_pods"] == 50
    assert props["type"] == "VirtualMachineScaleSets"


def test_maintenance_windows_use_the_aks_managed_configuration_names() -> None:
    cluster = NewCluster.model_validate({"name": "aks", "kubernetesVersion": "1.34", "maintenance": {
        "autoUpgrade": {"dayOfWeek": "Sunday", "startTime": "02:00"},
        "nodeOs": {"dayOfWeek": "Saturday", "startTime": "22:00", "durationHours": 6, "utcOffset": "+01:00"}}})
    configs = profiles.maintenance_configurations(cluster)
    assert configs["aksManagedNodeOSUpgradeSchedule"] == {
        "schedule": {"weekly": {"day_of_week": "Saturday", "interval_weeks": 1}},
        "duration_hours": 6, "start_time": "22:00", "utc_offset": "+01:00"}
    assert set(configs) == {"aksManagedAutoUpgradeSchedule", "aksManagedNodeOSUpgradeSchedule"}


def test_dns_prefix_defaults_to_the_cluster_name_without_underscores() -> None:
    assert NewCluster.model_validate({"name": "aks_prod_1", "kubernetesVersion": "1.34"}).effective_dns_prefix == "aks-prod-1"


def test_role_definition_id_is_in_the_subscription_of_the_scope() -> None:
    scope = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s"
    assert profiles.role_definition_id(scope, profiles.ROLE_NETWORK_CONTRIBUTOR) == (
        "/subscriptions/0000/providers/Microsoft.Authorization/roleDefinitions/4d97b98b-1d4f-4787-a291-c67834d212e7")
    with pytest.raises(ValueError, match="not a subscription-scoped"):
        profiles.role_definition_id("/providers/x", profiles.ROLE_ACR_PULL)


def test_identity_names_follow_the_cluster() -> None:
    names = profiles.identity_names("aks-akshift-prod")
    assert (names.control_plane, names.kubelet) == ("id-aks-akshift-prod-control-plane", "id-aks-akshift-prod-kubelet")


def test_registry_label_is_the_registry_name() -> None:
    rid = "/subscriptions/0/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/AcrShared"
    assert profiles.registry_label(rid) == "acrshared"


# --------------------------------------------------------------------------- manifests


def test_cilium_values_enable_kube_proxy_replacement_on_the_pod_cidr() -> None:
    values = manifests.cilium_values(networking("byo-cilium"), "api.example", local_redirect_policies=True)
    assert values["kubeProxyReplacement"] is True and values["k8sServiceHost"] == "api.example"
    assert values["ipam"] == {"mode": "cluster-pool", "operator": {
        "clusterPoolIPv4PodCIDRList": ["10.244.0.0/16"], "clusterPoolIPv4MaskSize": 24}}
    assert values["aksbyocni"] == {"enabled": True} and values["localRedirectPolicies"] == {"enabled": True}


def test_iptables_node_local_dns_binds_the_link_local_and_kube_dns_addresses() -> None:
    objs = {o["kind"]: o for o in manifests.node_local_dns_objects("iptables", kube_dns_ip="10.21.0.10", image="img:1")}
    assert set(objs) == {"ServiceAccount", "Service", "ConfigMap", "DaemonSet"}
    corefile = objs["ConfigMap"]["data"]["Corefile"]
    assert "bind 169.254.20.10 10.21.0.10" in corefile and "health 169.254.20.10:8080" in corefile
    assert corefile.count("forward . __PILLAR__CLUSTER__DNS__") == 3 and "forward . __PILLAR__UPSTREAM__SERVERS__" in corefile
    pod = objs["DaemonSet"]["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True
    assert pod["containers"][0]["args"] == ["-localip", "169.254.20.10,10.21.0.10", "-conf", "/etc/Corefile",
                                            "-upstreamsvc", "kube-dns-upstream"]
    assert objs["Service"]["metadata"]["name"] == "kube-dns-upstream"


def test_cilium_node_local_dns_runs_in_the_pod_network_behind_a_local_redirect_policy() -> None:
    objs = {o["kind"]: o for o in manifests.node_local_dns_objects("cilium-lrp", kube_dns_ip="10.21.0.10", image="img:1")}
    pod = objs["DaemonSet"]["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is False
    assert {"-setupinterface=false", "-setupiptables=false", "-skipteardown=true"} <= set(pod["containers"][0]["args"])
    assert "host" not in pod["containers"][0]["livenessProbe"]["httpGet"]
    assert "bind 0.0.0.0" in objs["ConfigMap"]["data"]["Corefile"]
    lrp = objs["CiliumLocalRedirectPolicy"]
    assert lrp["spec"]["redirectFrontend"] == {"serviceMatcher": {"serviceName": "kube-dns", "namespace": "kube-system"}}
    port_names = {p["name"] for p in pod["containers"][0]["ports"]}
    assert {p["name"] for p in lrp["spec"]["redirectBackend"]["toPorts"]} <= port_names
