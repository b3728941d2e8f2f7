"""Cross-field rules of a stack configuration, each a pure function yielding Problems.

Why it is shaped so: the pydantic model (:mod:`stacks.model`) checks each value
alone; these rules relate values (a pod CIDR and the VNet, a subnet and the
node pools that must fit in it, a dataplane and its policy engine). Each rule
names the sections it needs in :data:`RULES`, so the loader can run every rule
whose sections parsed, even when another section did not: one pass reports
every problem. Messages name the key to change first and say what to do.
"""
from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from stacks import capabilities, cidr, versions
from stacks.errors import Problem
from stacks.model import (
    DiskCopiesConfig,
    DnsConfig,
    ExistingCluster,
    ManagedIdentities,
    NetworkConfig,
    NetworkingConfig,
    NetworkingMode,
    NewCluster,
    NodeDnsCache,
    NodePool,
    Secret,
    ServicePrincipal,
    TrafficConfig,
)

#: Tag keys the components set themselves; user tags must not collide with them.
RESERVED_TAG_PREFIX = "akshift-"
_AZURE_TAG_FORBIDDEN = set("<>%&\\?/")

_RESERVED_LIST = ", ".join(str(r) for r, _ in cidr.RESERVED_RANGES)


def _p(keys: str | tuple[str, ...], message: str) -> Problem:
    return Problem((keys,) if isinstance(keys, str) else keys, message)


def pool_key(index: int, *path: str) -> str:
    """Key path of a node pool field: ``pool_key(1, "autoscaling", "maxCount")`` → ``nodePools[1].autoscaling.maxCount``."""
    return ".".join([f"nodePools[{index}]", *path])


# --------------------------------------------------------------------------- address ranges


def _cidrs_of_network(network: NetworkConfig) -> list[tuple[str, Any]]:
    out = [("network.addressSpace", network.address_space), ("network.nodeSubnet.cidr", network.node_subnet.cidr)]
    if network.pod_subnet is not None:
        out.append(("network.podSubnet.cidr", network.pod_subnet.cidr))
    return out


def _cidrs_of_networking(networking: NetworkingConfig) -> list[tuple[str, Any]]:
    out = [("networking.serviceCidr", networking.service_cidr)]
    if networking.pod_cidr is not None:
        out.append(("networking.podCidr", networking.pod_cidr))
    return out


def reserved_ranges_in_network(network: NetworkConfig) -> Iterator[Problem]:
    """VNet and subnets must stay clear of the ranges AKS reserves."""
    for key, net in _cidrs_of_network(network):
        for reserved, why in cidr.reserved_overlaps(net):
            yield _p(key, f"{net} overlaps {reserved} ({why}); pick a range outside {_RESERVED_LIST}")


def reserved_ranges_in_networking(networking: NetworkingConfig) -> Iterator[Problem]:
    """Pod and service CIDRs must stay clear of the ranges AKS reserves."""
    for key, net in _cidrs_of_networking(networking):
        for reserved, why in cidr.reserved_overlaps(net):
            yield _p(key, f"{net} overlaps {reserved} ({why}); pick a range outside {_RESERVED_LIST}")


def subnets_inside_vnet(network: NetworkConfig) -> Iterator[Problem]:
    """Subnets must lie inside the VNet address space and not overlap each other."""
    subnets = [("network.nodeSubnet.cidr", network.node_subnet.cidr)]
    if network.pod_subnet is not None:
        subnets.append(("network.podSubnet.cidr", network.pod_subnet.cidr))
    for key, net in subnets:
        if not cidr.contains(network.address_space, net):
            yield _p(
                (key, "network.addressSpace"),
                f"{net} is outside network.addressSpace {network.address_space}; pick a subnet range inside it",
            )
    if network.pod_subnet is not None and cidr.overlaps(network.node_subnet.cidr, network.pod_subnet.cidr):
        yield _p(
            ("network.podSubnet.cidr", "network.nodeSubnet.cidr"),
            f"{network.pod_subnet.cidr} overlaps network.nodeSubnet.cidr {network.node_subnet.cidr}; "
            "give nodes and pods separate ranges",
        )


def pod_and_service_ranges_apart(networking: NetworkingConfig) -> Iterator[Problem]:
    """Service CIDR: not overlapping the pod CIDR, not wider than Kubernetes allows, DNS IP inside it."""
    svc = networking.service_cidr
    if networking.pod_cidr is not None and cidr.overlaps(networking.pod_cidr, svc):
        yield _p(
            ("networking.serviceCidr", "networking.podCidr"),
            f"{svc} overlaps networking.podCidr {networking.pod_cidr}; give services and pods separate ranges",
        )
    if svc.prefixlen < 12:
        yield _p("networking.serviceCidr", f"{svc} is larger than Kubernetes allows (at most a /12); use a /16, for example")
    ip = networking.dns_service_ip
    if ip not in svc:
        yield _p(
            ("networking.dnsServiceIP", "networking.serviceCidr"),
            f"{ip} is outside networking.serviceCidr {svc}; use an address inside it, conventionally {svc.network_address + 10}",
        )
    elif not cidr.is_usable_host(svc, ip):
        yield _p("networking.dnsServiceIP", f"{ip} is the network or broadcast address of {svc}; use {svc.network_address + 10}")
    elif ip == svc.network_address + 1:
        yield _p(
            "networking.dnsServiceIP",
            f"{ip} is taken by the kubernetes API service (first address of {svc}); use {svc.network_address + 10}",
        )
    if networking.pod_cidr is not None and networking.pod_cidr.prefixlen > cidr.OVERLAY_NODE_PREFIX:
        yield _p(
            "networking.podCidr",
            f"{networking.pod_cidr} is smaller than one node's /{cidr.OVERLAY_NODE_PREFIX} pod block; use a /16, for example",
        )


def cluster_ranges_outside_vnet(network: NetworkConfig, networking: NetworkingConfig) -> Iterator[Problem]:
    """Pod (overlay) and service CIDRs must not overlap the VNet: traffic to them would never leave the node."""
    for key, net in _cidrs_of_networking(networking):
        if cidr.overlaps(net, network.address_space):
            what = "pod" if key.endswith("podCidr") else "service"
            yield _p(
                (key, "network.addressSpace"),
                f"{net} overlaps network.addressSpace {network.address_space}; the {what} range must be outside the VNet "
                "and any network peered with it",
            )


def pod_addressing_matches_mode(network: NetworkConfig, networking: NetworkingConfig) -> Iterator[Problem]:
    """Pod-subnet mode needs a pod subnet and no pod CIDR; the other modes the opposite."""
    mode = networking.mode
    if mode.uses_pod_subnet:
        if network.pod_subnet is None:
            yield _p(
                ("network.podSubnet", "networking.mode"),
                f"networking mode {mode.value} gives pods addresses from a dedicated subnet; add network.podSubnet "
                "{name, cidr} inside network.addressSpace, or use mode overlay-cilium",
            )
        if networking.pod_cidr is not None:
            yield _p(
                ("networking.podCidr", "networking.mode"),
                f"not used by networking mode {mode.value} (pods get addresses from network.podSubnet); remove it",
            )
    else:
        if network.pod_subnet is not None:
            yield _p(
                ("network.podSubnet", "networking.mode"),
                f"only used by networking mode podsubnet-cilium; remove it (mode is {mode.value})",
            )
        if networking.pod_cidr is None:
            yield _p(
                ("networking.podCidr", "networking.mode"),
                f"required by networking mode {mode.value}; set a private range outside the VNet, e.g. 10.244.0.0/16",
            )


# --------------------------------------------------------------------------- dataplane and policy


def policy_matches_dataplane(networking: NetworkingConfig) -> Iterator[Problem]:
    """The Cilium dataplane enforces policy itself; Calico/none only make sense with the Azure dataplane."""
    mode, policy = networking.mode, networking.network_policy
    if policy is None:
        return
    if mode.managed_cilium and policy != "cilium":
        yield _p(
            ("networking.networkPolicy", "networking.mode"),
            f"the Cilium dataplane (mode {mode.value}) requires networkPolicy cilium; set it to cilium or remove it",
        )
    elif mode is NetworkingMode.OVERLAY and policy == "cilium":
        yield _p(
            ("networking.networkPolicy", "networking.mode"),
            "networkPolicy cilium needs the Cilium dataplane; use mode overlay-cilium, or networkPolicy calico or none",
        )
    elif mode is NetworkingMode.KUBENET and policy not in ("none", "calico"):
        yield _p(
            ("networking.networkPolicy", "networking.mode"),
            f"kubenet clusters run networkPolicy none or calico; {policy} is not possible there",
        )
    elif mode is NetworkingMode.BYO_CILIUM and policy != "cilium":
        yield _p(
            ("networking.networkPolicy", "networking.mode"),
            "with byo-cilium, Cilium OSS enforces NetworkPolicy itself; set networkPolicy cilium or remove it",
        )


def kube_proxy_only_where_it_exists(networking: NetworkingConfig) -> Iterator[Problem]:
    """kube-proxy settings need kube-proxy (mode overlay) and an API version with ``kubeProxyConfig``."""
    kp = networking.kube_proxy
    if kp is None:
        return
    if not networking.mode.runs_kube_proxy:
        yield _p(
            ("networking.kubeProxy", "networking.mode"),
            f"mode {networking.mode.value} runs without kube-proxy (Cilium replaces it); remove networking.kubeProxy",
        )
        return
    api = capabilities.CONTAINER_SERVICE_API_VERSION
    if not capabilities.api_features(api).kube_proxy_config:
        yield _p(
            "networking.kubeProxy",
            f"the ContainerService API {api} used by the pinned pulumi-azure-native has no kubeProxyConfig "
            "(preview API versions only); remove networking.kubeProxy, or move to a reviewed preview API "
            "version in stacks/capabilities.py",
        )
    if kp.ipvs_scheduler is not None and kp.mode != "IPVS":
        yield _p("networking.kubeProxy.ipvsScheduler", f"only applies to kube-proxy mode IPVS (mode is {kp.mode}); remove it")


def cilium_chart_only_for_byo(networking: NetworkingConfig) -> Iterator[Problem]:
    """The Cilium Helm settings apply only when we install Cilium ourselves."""
    if networking.cilium is not None and networking.mode is not NetworkingMode.BYO_CILIUM:
        yield _p(
            ("networking.cilium", "networking.mode"),
            f"only used by mode byo-cilium (AKS installs and upgrades Cilium in {networking.mode.value}); remove it",
        )


# --------------------------------------------------------------------------- node pools


def node_pool_shapes(node_pools: tuple[NodePool, ...]) -> Iterator[Problem]:
    """Names, the inline system pool, sizes and OS of each pool."""
    seen: dict[str, int] = {}
    for i, pool in enumerate(node_pools):
        if pool.name in seen:
            yield _p(pool_key(i, "name"), f"{pool.name!r} is already used by nodePools[{seen[pool.name]}]; pool names must be unique")
        seen.setdefault(pool.name, i)
        if pool.os_type == "Windows" and len(pool.name) > 6:
            yield _p(pool_key(i, "name"), f"{pool.name!r} is too long for a Windows pool (at most 6 characters); shorten it")
        if pool.os_sku is not None and pool.os_sku.startswith("Windows") != (pool.os_type == "Windows"):
            yield _p(pool_key(i, "osSku"), f"{pool.os_sku} does not match osType {pool.os_type}; pick an osSku for {pool.os_type}")
        if pool.count is None and pool.autoscaling is None:
            yield _p(pool_key(i, "count"), "set count (fixed size) or autoscaling {minCount, maxCount}")
        elif pool.count is not None and pool.autoscaling is not None:
            yield _p(pool_key(i, "count"), "set either count or autoscaling, not both")
        if pool.autoscaling is not None and pool.autoscaling.min_count > pool.autoscaling.max_count:
            yield _p(
                (pool_key(i, "autoscaling", "minCount"), pool_key(i, "autoscaling", "maxCount")),
                f"minCount {pool.autoscaling.min_count} is above maxCount {pool.autoscaling.max_count}; lower minCount or raise maxCount",
            )
        if pool.mode == "System":
            if pool.os_type != "Linux":
                yield _p(pool_key(i, "osType"), "System pools must run Linux; make this a User pool or set osType Linux")
            low = pool.autoscaling.min_count if pool.autoscaling is not None else pool.count
            if low is not None and low < 1:
                key = pool_key(i, "autoscaling", "minCount") if pool.autoscaling is not None else pool_key(i, "count")
                yield _p(key, "a System pool runs CoreDNS and other critical add-ons; keep at least 1 node")
    if node_pools and node_pools[0].mode != "System":
        yield _p(
            pool_key(0, "mode"),
            "the first pool is created with the cluster and must be a System pool; list a Linux System pool first",
        )


def windows_pools_need_azure_dataplane(networking: NetworkingConfig, node_pools: tuple[NodePool, ...]) -> Iterator[Problem]:
    """Cilium (managed or OSS) has no Windows support."""
    if not networking.mode.runs_cilium:
        return
    for i, pool in enumerate(node_pools):
        if pool.os_type == "Windows":
            yield _p(
                (pool_key(i, "osType"), "networking.mode"),
                f"Windows nodes are not supported with the Cilium dataplane (mode {networking.mode.value}); "
                "move Windows workloads to a cluster with mode overlay, or remove this pool",
            )


def subnets_hold_the_nodes(
    network: NetworkConfig, networking: NetworkingConfig, node_pools: tuple[NodePool, ...]
) -> Iterator[Problem]:
    """Node subnet ≥ peak nodes; pod subnet ≥ Σ peak nodes × max pods; pod CIDR ≥ one /24 per node."""
    peak = sum(p.peak_nodes for p in node_pools)
    usable = cidr.usable_subnet_addresses(network.node_subnet.cidr)
    if peak > usable:
        yield _p(
            ("network.nodeSubnet.cidr", "nodePools"),
            f"{network.node_subnet.cidr} has {usable} usable addresses but the pools may run {peak} nodes "
            f"(max nodes + upgrade surge); use a /{cidr.smallest_prefix_for(peak)} or larger, or lower the pools' maximums",
        )
    if networking.mode.uses_pod_subnet and network.pod_subnet is not None:
        need = sum(p.peak_nodes * p.max_pods for p in node_pools)
        usable = cidr.usable_subnet_addresses(network.pod_subnet.cidr)
        if need > usable:
            detail = " + ".join(f"{p.peak_nodes}×{p.max_pods}" for p in node_pools)
            yield _p(
                ("network.podSubnet.cidr", "nodePools"),
                f"{network.pod_subnet.cidr} has {usable} usable addresses but max nodes × max pods needs {need} ({detail}); "
                f"use a /{cidr.smallest_prefix_for(need)} or larger, or lower maxPods or the pools' maximums",
            )
    if networking.mode.uses_pod_cidr and networking.pod_cidr is not None:
        blocks = cidr.node_blocks(networking.pod_cidr)
        if 0 < blocks < peak:
            yield _p(
                ("networking.podCidr", "nodePools"),
                f"{networking.pod_cidr} gives {blocks} per-node /{cidr.OVERLAY_NODE_PREFIX} blocks but the pools may run {peak} nodes; "
                f"use a /{cidr.smallest_prefix_for_blocks(peak)} or larger",
            )


def system_pools_can_run_the_system(node_pools: tuple[NodePool, ...]) -> Iterator[Problem]:
    """AKS refuses System pools with maxPods below 30; akshift refuses B-series and < 4 vCPU System pools."""
    for i, pool in enumerate(node_pools):
        if pool.mode != "System":
            continue
        if pool.max_pods < capabilities.SYSTEM_POOL_MIN_MAX_PODS:
            yield _p(pool_key(i, "maxPods"), f"{pool.max_pods} is below {capabilities.SYSTEM_POOL_MIN_MAX_PODS}, the "
                     "least AKS accepts for a System pool (its add-ons need the room); raise it")
        why = capabilities.small_vm_reason(pool.vm_size)
        if why:
            yield _p(pool_key(i, "vmSize"), f"{why}: too small for a System pool, which runs CoreDNS, metrics-server "
                     f"and LocalDNS; use a non-burstable size with at least {capabilities.MIN_VCPUS} vCPUs, "
                     "such as Standard_D4ds_v5")


def windows_os_sku_exists_for_the_version(
    cluster: NewCluster | ExistingCluster, node_pools: tuple[NodePool, ...]
) -> Iterator[Problem]:
    """Windows Server versions retire with Kubernetes minors; the pinned API version has no newer Windows SKU."""
    if not isinstance(cluster, NewCluster):
        return
    minor = capabilities.effective_minor(cluster.kubernetes_version)
    for i, pool in enumerate(node_pools):
        if pool.os_type != "Windows":
            continue
        why = capabilities.windows_sku_unavailable_reason(pool.os_sku, minor)
        if why:
            yield _p((pool_key(i, "osSku"), "cluster.kubernetesVersion"), why)


def kubernetes_version_is_supported(cluster: NewCluster | ExistingCluster) -> Iterator[Problem]:
    """A new cluster's version must be in AKS's support window today (stacks/versions.py), or unset."""
    if not isinstance(cluster, NewCluster) or cluster.kubernetes_version is None:
        return
    why = versions.unsupported_reason(cluster.kubernetes_version, support_plan=cluster.support_plan,
                                      on=versions.today())
    if why:
        yield _p("cluster.kubernetesVersion", why)


def long_term_support_needs_premium(cluster: NewCluster | ExistingCluster) -> Iterator[Problem]:
    """AKS sells long-term support only with the Premium tier."""
    if isinstance(cluster, NewCluster) and cluster.support_plan == versions.LTS_PLAN and cluster.sku_tier != "Premium":
        yield _p(("cluster.supportPlan", "cluster.skuTier"),
                 f"{versions.LTS_PLAN} needs cluster.skuTier Premium (it is {cluster.sku_tier}); set skuTier Premium "
                 "or supportPlan KubernetesOfficial")


def upgrade_channels_agree(cluster: NewCluster | ExistingCluster) -> Iterator[Problem]:
    """upgradeChannel node-image only works with nodeOSUpgradeChannel NodeImage (AKS refuses the others)."""
    if isinstance(cluster, NewCluster) and cluster.upgrade_channel == "node-image" \
            and cluster.node_os_upgrade_channel != "NodeImage":
        yield _p(("cluster.nodeOsUpgradeChannel", "cluster.upgradeChannel"),
                 f"upgradeChannel node-image needs nodeOsUpgradeChannel NodeImage (it is "
                 f"{cluster.node_os_upgrade_channel}); set it to NodeImage, or pick another upgradeChannel "
                 "(patch, for example)")


# --------------------------------------------------------------------------- the production baseline

#: The most authorized IP ranges AKS takes (learn.microsoft.com "API server authorized IP ranges").
MAX_AUTHORIZED_RANGES = 200
#: Source ranges a public API server never sees (RFC 1918, shared address space, loopback, link-local).
_NOT_PUBLIC = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                                       "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16"))


def local_accounts_need_entra_id(cluster: NewCluster | ExistingCluster) -> Iterator[Problem]:
    """AKS disables local accounts only on Entra ID clusters, and someone must still be able to sign in."""
    if not isinstance(cluster, NewCluster) or not cluster.disable_local_accounts:
        return
    entra = cluster.entra_id
    if not entra.enabled:
        yield _p(("cluster.disableLocalAccounts", "cluster.entraId.enabled"),
                 "AKS disables local accounts only on clusters with Entra ID integration; set "
                 "cluster.entraId.enabled true, or disableLocalAccounts false (then certificate users are admins)")
    elif not entra.admin_group_object_ids and not (entra.azure_rbac and entra.grant_deployer):
        yield _p(("cluster.entraId.adminGroupObjectIds", "cluster.disableLocalAccounts"),
                 "with local accounts disabled nobody could reach the cluster: add an Entra ID group to "
                 "cluster.entraId.adminGroupObjectIds, or keep azureRbac and grantDeployer true")


def entra_id_settings_need_entra_id(cluster: NewCluster | ExistingCluster) -> Iterator[Problem]:
    """Admin groups and a tenant mean nothing on a cluster without Entra ID: say so instead of dropping them."""
    if not isinstance(cluster, NewCluster) or cluster.entra_id.enabled:
        return
    entra = cluster.entra_id
    if entra.admin_group_object_ids:
        yield _p(("cluster.entraId.adminGroupObjectIds", "cluster.entraId.enabled"),
                 "only used with Entra ID integration; set cluster.entraId.enabled true or remove them")
    if entra.tenant_id is not None:
        yield _p(("cluster.entraId.tenantId", "cluster.entraId.enabled"),
                 "only used with Entra ID integration; set cluster.entraId.enabled true or remove it")


def api_server_exposure_is_one_aks_accepts(cluster: NewCluster | ExistingCluster) -> Iterator[Problem]:
    """A private API server has no public ranges to authorize; public ranges are bounded and not the internet."""
    if not isinstance(cluster, NewCluster):
        return
    api = cluster.api_server
    ranges = api.authorized_ip_ranges
    if api.private_cluster and ranges:
        yield _p(("cluster.apiServer.authorizedIpRanges", "cluster.apiServer.privateCluster"),
                 "AKS refuses authorized IP ranges on a private cluster (its API server has no public endpoint); "
                 "remove the ranges, or set privateCluster false")
    if len(ranges) > MAX_AUTHORIZED_RANGES:
        yield _p("cluster.apiServer.authorizedIpRanges",
                 f"{len(ranges)} ranges; AKS takes at most {MAX_AUTHORIZED_RANGES}: merge them into wider ranges")
    for i, net in enumerate(ranges):
        if net.prefixlen == 0:
            yield _p(f"cluster.apiServer.authorizedIpRanges[{i}]",
                     f"{net} authorizes the whole internet; remove it (no ranges means the same) or name your "
                     "networks' public ranges")
        elif any(net.subnet_of(r) for r in _NOT_PUBLIC):
            yield _p(f"cluster.apiServer.authorizedIpRanges[{i}]",
                     f"{net} is a private range, but the API server's public endpoint only sees public source "
                     "addresses; name the public IPs your clients egress from, or use privateCluster")


def defender_needs_a_workspace(cluster: NewCluster | ExistingCluster) -> Iterator[Problem]:
    """Defender's sensor reports to a Log Analytics workspace: the one ``cluster.monitoring`` declares."""
    if isinstance(cluster, NewCluster) and cluster.defender and cluster.monitoring is None:
        yield _p(("cluster.defender", "cluster.monitoring"),
                 "Defender for Containers sends its findings to a Log Analytics workspace; add cluster.monitoring "
                 "(the stack declares the workspace), or set defender false")


def monitoring_collects_something(cluster: NewCluster | ExistingCluster) -> Iterator[Problem]:
    """A workspace with neither Container Insights nor resource logs costs money and receives nothing."""
    if not isinstance(cluster, NewCluster) or cluster.monitoring is None:
        return
    mon = cluster.monitoring
    if not mon.container_insights and not mon.diagnostic_categories and not cluster.defender:
        yield _p(("cluster.monitoring.diagnosticCategories", "cluster.monitoring.containerInsights"),
                 "the workspace would receive nothing; enable containerInsights, list diagnosticCategories, or "
                 "remove cluster.monitoring")
    if len(set(mon.diagnostic_categories)) != len(mon.diagnostic_categories):
        yield _p("cluster.monitoring.diagnosticCategories", "lists a category twice; list each once")


def autoscaler_profile_needs_autoscaled_pools(cluster: NewCluster | ExistingCluster,
                                              node_pools: tuple[NodePool, ...]) -> Iterator[Problem]:
    """The autoscaler profile tunes the autoscaler, which only runs for pools with ``autoscaling``."""
    if isinstance(cluster, NewCluster) and cluster.autoscaler_profile is not None \
            and not any(p.autoscaling is not None for p in node_pools):
        yield _p(("cluster.autoscalerProfile", "nodePools"),
                 "has no effect: no pool has autoscaling; add autoscaling {minCount, maxCount} to a pool or remove it")


def egress_matches_the_network(network: NetworkConfig, networking: NetworkingConfig) -> Iterator[Problem]:
    """Each outbound type with the resources it needs, and none it does not use."""
    out = networking.outbound_type
    if out == "managedNATGateway":
        yield _p(("networking.outboundType", "network"),
                 "AKS creates a managed NAT gateway only in a VNet it manages, and this stack declares its own VNet "
                 "(network); use userAssignedNATGateway with network.natGateway {publicIpCount}, "
                 "userDefinedRouting with network.routeTable {firewallIp}, or loadBalancer")
    if out == "userAssignedNATGateway" and network.nat_gateway is None:
        yield _p(("network.natGateway", "networking.outboundType"),
                 "outboundType userAssignedNATGateway needs the NAT gateway on the node subnet; add "
                 "network.natGateway {publicIpCount: 2}")
    if out != "userAssignedNATGateway" and network.nat_gateway is not None:
        yield _p(("network.natGateway", "networking.outboundType"),
                 f"only used with outboundType userAssignedNATGateway (it is {out}); remove it or change the "
                 "outbound type")
    if out == "userDefinedRouting" and network.route_table is None:
        yield _p(("network.routeTable", "networking.outboundType"),
                 "outboundType userDefinedRouting needs a route to the firewall; add network.routeTable "
                 "{firewallIp: <the firewall's private IP>}")
    if out != "userDefinedRouting" and network.route_table is not None:
        yield _p(("network.routeTable", "networking.outboundType"),
                 f"only used with outboundType userDefinedRouting (it is {out}); remove it or change the outbound type")
    if network.route_table is not None:
        ip = network.route_table.firewall_ip
        for key, net in _cidrs_of_networking(networking):
            if ip in net:
                yield _p(("network.routeTable.firewallIp", key),
                         f"{ip} is inside {key} {net}, which never leaves the cluster; use the firewall's VNet address")
        if ip in network.node_subnet.cidr:
            yield _p(("network.routeTable.firewallIp", "network.nodeSubnet.cidr"),
                     f"{ip} is inside the node subnet, whose 0.0.0.0/0 route it would be; put the firewall in its "
                     "own subnet or a peered hub")


# --------------------------------------------------------------------------- cluster, DNS, identity, tags


_NEW_CLUSTER_SECTIONS = (
    ("location", "the Azure region of every resource"),
    ("resourceGroup", "the resource group created for the stack"),
    ("network", "the VNet the nodes live in"),
    ("nodePools", "the node pools created with the cluster"),
)


def sections_match_cluster_mode(
    cluster: NewCluster | ExistingCluster, location: str | None, resource_group: str | None,
    network: NetworkConfig | None, node_pools: tuple[NodePool, ...]
) -> Iterator[Problem]:
    """A new cluster needs its region, group, VNet and pools; an existing one has them, so they would be ignored."""
    values = dict(zip((k for k, _ in _NEW_CLUSTER_SECTIONS), (location, resource_group, network, node_pools), strict=True))
    for key, what in _NEW_CLUSTER_SECTIONS:
        if isinstance(cluster, NewCluster) and not values[key]:
            # nodePools is a list: absent and empty read the same once parsed.
            missing = "needs at least 1 item(s); add one" if key == "nodePools" else "missing"
            yield _p(key, f"{missing}; add akshift:{key} to the stack file ({what}; required with cluster.mode new)")
        elif isinstance(cluster, ExistingCluster) and values[key]:
            yield _p((key, "cluster.mode"), "only used with cluster.mode new; this stack manages a cluster it did not "
                     f"create (mode existing), remove akshift:{key}")


def existing_cluster_is_reachable(cluster: NewCluster | ExistingCluster) -> Iterator[Problem]:
    """An existing cluster is reached through exactly one kubeconfig source."""
    if not isinstance(cluster, ExistingCluster):
        return
    if cluster.kubeconfig is None and cluster.stack_reference is None:
        yield _p(("cluster.kubeconfig", "cluster.stackReference"),
                 "mode existing needs the cluster's kubeconfig: set cluster.kubeconfig to a file, or "
                 "cluster.stackReference {stack, output} to another stack's output")
    elif cluster.kubeconfig is not None and cluster.stack_reference is not None:
        yield _p(("cluster.stackReference", "cluster.kubeconfig"),
                 "set either cluster.kubeconfig or cluster.stackReference, not both")
    if cluster.context is not None and cluster.kubeconfig is None:
        yield _p(("cluster.context", "cluster.kubeconfig"), "only used with cluster.kubeconfig; remove it")


def maintenance_matches_channels(cluster: NewCluster | ExistingCluster) -> Iterator[Problem]:
    """A maintenance window without an upgrade channel does nothing; say so instead of ignoring it."""
    if not isinstance(cluster, NewCluster):
        return
    if cluster.maintenance.auto_upgrade is not None and cluster.upgrade_channel == "none":
        yield _p(
            ("cluster.maintenance.autoUpgrade", "cluster.upgradeChannel"),
            "has no effect with upgradeChannel none; set cluster.upgradeChannel (e.g. patch) or remove the window",
        )
    if cluster.maintenance.node_os is not None and cluster.node_os_upgrade_channel in ("None", "Unmanaged"):
        yield _p(
            ("cluster.maintenance.nodeOs", "cluster.nodeOsUpgradeChannel"),
            f"has no effect with nodeOsUpgradeChannel {cluster.node_os_upgrade_channel}; "
            "set it to NodeImage or SecurityPatch, or remove the window",
        )


def node_dns_cache_is_possible(
    dns: DnsConfig, networking: NetworkingConfig, cluster: NewCluster | ExistingCluster
) -> Iterator[Problem]:
    """An explicitly requested node DNS cache must be one this cluster can run."""
    if dns.node_cache is NodeDnsCache.LOCALDNS and isinstance(cluster, ExistingCluster):
        yield _p(("dns.nodeCache", "cluster.mode"),
                 "LocalDNS is a node-pool setting and this stack does not manage the pools of an existing cluster; "
                 "use nodelocaldns or none (auto means none here)")
    elif dns.node_cache is NodeDnsCache.LOCALDNS:
        why = capabilities.local_dns_unsupported_reason(networking.mode, cluster.kubernetes_version)
        if why:
            fallback = "auto" if capabilities.node_local_dns_unsupported_reason(networking.mode) else "auto or nodelocaldns"
            yield _p(("dns.nodeCache", "networking.mode"), f"LocalDNS is not available: {why}; use {fallback}")
    elif dns.node_cache is NodeDnsCache.NODELOCALDNS:
        why = capabilities.node_local_dns_unsupported_reason(networking.mode)
        if why:
            yield _p(("dns.nodeCache", "networking.mode"), f"NodeLocal DNSCache is not possible: {why}; use localdns or auto")


def local_dns_runs_where_it_is_asked_for(
    dns: DnsConfig, cluster: NewCluster | ExistingCluster, node_pools: tuple[NodePool, ...]
) -> Iterator[Problem]:
    """Explicit LocalDNS needs pools of at least 4 non-burstable vCPUs; Preferred installs nothing before 1.37."""
    if not isinstance(cluster, NewCluster):
        return
    if dns.node_cache is NodeDnsCache.LOCALDNS:
        for i, why in capabilities.pools_without_local_dns(node_pools):
            yield _p((pool_key(i, "vmSize"), "dns.nodeCache"),
                     f"{why}: AKS does not run LocalDNS there; use at least {capabilities.MIN_VCPUS} non-burstable "
                     "vCPUs, or dns.nodeCache auto")
    minor = capabilities.effective_minor(cluster.kubernetes_version)
    if dns.local_dns_mode == "Preferred" and minor < capabilities.LOCAL_DNS_PREFERRED_INSTALLS_FROM \
            and dns.node_cache in (NodeDnsCache.LOCALDNS, NodeDnsCache.AUTO):
        floor = ".".join(map(str, capabilities.LOCAL_DNS_PREFERRED_INSTALLS_FROM))
        yield _p(("dns.localDnsMode", "cluster.kubernetesVersion"),
                 f"Preferred only validates the LocalDNS configuration before Kubernetes {floor}; nodes would run "
                 "without a DNS cache. Use Required")


def disk_copies_outlive_the_cluster(
    disk_copies: DiskCopiesConfig, cluster: NewCluster | ExistingCluster, resource_group: str | None
) -> Iterator[Problem]:
    """Disk copies in a group of their own: not the node group (AKS deletes it), not the cluster's group."""
    if not isinstance(cluster, NewCluster) or resource_group is None:
        return
    group = disk_copies.group_for(resource_group).lower()
    taken = {resource_group.lower(): "resourceGroup (the cluster's group)"}
    if cluster.node_resource_group is not None:
        taken[cluster.node_resource_group.lower()] = "cluster.nodeResourceGroup, which AKS deletes with the cluster"
    if group.startswith("mc_"):
        yield _p("diskCopies.resourceGroup", "looks like an AKS node resource group (MC_…), which AKS deletes with the "
                 "cluster and the disk copies with it; name a group of its own")
    elif group in taken:
        yield _p(("diskCopies.resourceGroup", "resourceGroup"), f"is the same group as {taken[group]}; disk copies "
                 "and their lineage snapshots need a group of their own that outlives the cluster")


def traffic_switch_problems(kind: str, endpoints: Sequence[tuple[str, str | None, str | None]],
                            weights: Mapping[str, int]) -> list[Problem]:
    """What Azure would refuse in a traffic switch, by stack-config key; shared with the TrafficSwitch component.

    Args:
        kind: ``trafficManager`` or ``frontDoor``.
        endpoints: (name, target, target resource ID) of each endpoint, in order.
        weights: percent by endpoint name.

    Returns:
        Every problem, each naming its key under ``traffic``.
    """
    problems = []
    names = [name for name, _, _ in endpoints]
    if len(endpoints) < 2:
        problems.append(_p("traffic.endpoints", "declare at least two endpoints (blue and green)"))
    lowered = [n.lower() for n in names]
    repeated = sorted({n for n in names if lowered.count(n.lower()) > 1})
    if repeated:
        problems.append(_p("traffic.endpoints", f"endpoint names repeat (Azure compares them ignoring case): "
                                                f"{', '.join(repeated)}; give each cluster its own name"))
    for name in sorted(set(names) - set(weights)):
        problems.append(_p(f"traffic.weights.{name}", f"no weight for endpoint {name}; give it 0..100"))
    for name in sorted(set(weights) - set(names)):
        problems.append(_p(f"traffic.weights.{name}", f"weight for unknown endpoint {name}; "
                                                      f"endpoints are {', '.join(names)}"))
    for name, w in weights.items():
        if not 0 <= w <= 100:
            problems.append(_p(f"traffic.weights.{name}", f"{w} is not a percentage (0..100; 0 disables the endpoint)"))
    if weights and not any(w > 0 for w in weights.values()):
        problems.append(_p("traffic.weights", "every weight is 0: nothing would receive traffic"))
    for i, (_name, target, resource_id) in enumerate(endpoints):
        key = f"traffic.endpoints[{i}]"
        if kind == "trafficManager" and (target is None) == (resource_id is None):
            problems.append(_p((f"{key}.target", f"{key}.targetResourceId"),
                               "give exactly one of target (host name or IP) and targetResourceId (public IP)"))
        if resource_id is not None and "/providers/microsoft.network/publicipaddresses/" not in resource_id.lower():
            problems.append(_p(f"{key}.targetResourceId", "must be the resource ID of a public IP address "
                                                          "(…/providers/Microsoft.Network/publicIPAddresses/<name>)"))
        if kind == "frontDoor" and not target:
            problems.append(_p(f"{key}.target", "Front Door origins need target (the ingress host name)"))
        if kind == "frontDoor" and resource_id is not None:
            problems.append(_p(f"{key}.targetResourceId", "Front Door origins are host names; use target"))
    return problems


def traffic_switch_is_one_azure_accepts(traffic: TrafficConfig | None, resource_group: str | None) -> Iterator[Problem]:
    """The traffic section: endpoints, weights and where the profile lives."""
    if traffic is None:
        return
    yield from traffic_switch_problems(traffic.kind, [(e.name, e.target, e.target_resource_id)
                                                      for e in traffic.endpoints], traffic.weights)
    if traffic.resource_group is None and resource_group is None:
        yield _p("traffic.resourceGroup", "required when the stack has no resourceGroup (cluster.mode existing): "
                                          "name the group the profile lives in")


def service_principal_is_deliberate(identity: ManagedIdentities | ServicePrincipal, service_principal_client_secret: Secret | None) -> Iterator[Problem]:
    """A service principal only behind its explicit flag, and its secret only as a Pulumi secret."""
    secret = service_principal_client_secret
    if isinstance(identity, ServicePrincipal):
        if not identity.allow_service_principal:
            yield _p(
                ("identity.allowServicePrincipal", "identity.mode"),
                "service-principal secrets expire (typically after a year) and then PersistentVolume and LoadBalancer "
                "creation fail silently; use identity.mode managed, or set allowServicePrincipal: true to accept that",
            )
        if secret is None:
            yield _p(
                "servicePrincipalClientSecret",
                "required with identity.mode servicePrincipal; run `pulumi config set --secret servicePrincipalClientSecret <secret>`",
            )
        elif not secret.encrypted:
            yield _p(
                "servicePrincipalClientSecret",
                "is stored in plain text; store it encrypted with `pulumi config set --secret servicePrincipalClientSecret <secret>`",
            )
    elif secret is not None:
        yield _p(
            ("servicePrincipalClientSecret", "identity.mode"),
            "only used with identity.mode servicePrincipal; remove it with `pulumi config rm servicePrincipalClientSecret`",
        )


def tags_are_azure_tags(tags: dict[str, str]) -> Iterator[Problem]:
    """Azure tag limits, and our own tag keys kept for the components."""
    if len(tags) > 45:
        yield _p("tags", f"{len(tags)} tags; Azure allows 50 per resource and akshift adds its own, keep it to 45")
    for name, value in tags.items():
        key = f"tags.{name}"
        if name.lower().startswith(RESERVED_TAG_PREFIX):
            yield _p(key, f"tag names starting with {RESERVED_TAG_PREFIX!r} are set by akshift; rename the tag")
        if not name or len(name) > 512 or _AZURE_TAG_FORBIDDEN & set(name):
            yield _p(key, "tag names must be 1-512 characters without < > % & \\ ? /; rename the tag")
        if len(str(value)) > 256:
            yield _p(key, "tag values must be at most 256 characters; shorten it")


# --------------------------------------------------------------------------- the table


#: Sections that only exist with some cluster modes (None or empty otherwise). A rule reading one runs
#: only when it is set, unless the rule is about the section's presence (``Rule.when_absent``).
MODE_SECTIONS: frozenset[str] = frozenset({"location", "resource_group", "network", "node_pools"})


@dataclasses.dataclass(frozen=True)
class Rule:
    """A rule and the StackConfig sections (field names) it reads; it runs only when all of them parsed."""

    needs: tuple[str, ...]
    check: Callable[..., Iterable[Problem]]
    when_absent: bool = False


RULES: tuple[Rule, ...] = (
    Rule(("cluster", "location", "resource_group", "network", "node_pools"), sections_match_cluster_mode,
         when_absent=True),
    Rule(("cluster",), existing_cluster_is_reachable),
    Rule(("network",), reserved_ranges_in_network),
    Rule(("networking",), reserved_ranges_in_networking),
    Rule(("network",), subnets_inside_vnet),
    Rule(("networking",), pod_and_service_ranges_apart),
    Rule(("network", "networking"), cluster_ranges_outside_vnet),
    Rule(("network", "networking"), pod_addressing_matches_mode),
    Rule(("networking",), policy_matches_dataplane),
    Rule(("networking",), kube_proxy_only_where_it_exists),
    Rule(("networking",), cilium_chart_only_for_byo),
    Rule(("node_pools",), node_pool_shapes),
    Rule(("node_pools",), system_pools_can_run_the_system),
    Rule(("cluster", "node_pools"), windows_os_sku_exists_for_the_version),
    Rule(("cluster",), kubernetes_version_is_supported),
    Rule(("cluster",), long_term_support_needs_premium),
    Rule(("cluster",), upgrade_channels_agree),
    Rule(("cluster",), local_accounts_need_entra_id),
    Rule(("cluster",), entra_id_settings_need_entra_id),
    Rule(("cluster",), api_server_exposure_is_one_aks_accepts),
    Rule(("cluster",), defender_needs_a_workspace),
    Rule(("cluster",), monitoring_collects_something),
    Rule(("cluster", "node_pools"), autoscaler_profile_needs_autoscaled_pools),
    Rule(("network", "networking"), egress_matches_the_network),
    Rule(("networking", "node_pools"), windows_pools_need_azure_dataplane),
    Rule(("network", "networking", "node_pools"), subnets_hold_the_nodes),
    Rule(("cluster",), maintenance_matches_channels),
    Rule(("dns", "networking", "cluster"), node_dns_cache_is_possible),
    Rule(("dns", "cluster", "node_pools"), local_dns_runs_where_it_is_asked_for),
    Rule(("disk_copies", "cluster", "resource_group"), disk_copies_outlive_the_cluster),
    Rule(("identity", "service_principal_client_secret"), service_principal_is_deliberate),
    Rule(("tags",), tags_are_azure_tags),
    # when_absent: it also runs without a resourceGroup (cluster.mode existing), where the section must name one.
    Rule(("traffic", "resource_group"), traffic_switch_is_one_azure_accepts, when_absent=True),
)


def run_rules(sections: dict[str, Any]) -> list[Problem]:
    """Run every rule whose sections are present in ``sections``.

    Args:
        sections: Parsed StackConfig field values by field name; a section that
            failed to parse is absent.

    Returns:
        All problems found, in rule-table order.
    """
    problems: list[Problem] = []
    for rule in RULES:
        if not all(n in sections for n in rule.needs):
            continue
        if not rule.when_absent and any(n in MODE_SECTIONS and not sections[n] for n in rule.needs):
            continue
        problems.extend(rule.check(*(sections[n] for n in rule.needs)))
    return problems
