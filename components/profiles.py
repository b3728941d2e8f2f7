"""Pure builders of the ARM property dictionaries the AKS components send to Azure.

Why it exists: what a cluster *is* (its network profile per networking mode, each
node pool, LocalDNS, maintenance windows, Azure names, role definition IDs) is
decided here, as plain dictionaries, so it is tested without Pulumi or mocks.
The components stay thin: they pass these dicts to pulumi-azure-native, which
accepts them as its ``…ArgsDict`` typed dicts (snake_case keys; the SDK
translates them to ARM's camelCase).

Values wired from other resources (subnet IDs) are passed through untouched:
these functions never look inside them, so they may be ``pulumi.Output``.
Nothing here imports Pulumi.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, cast

from stacks.guards import Wanted
from stacks.model import (
    MaintenanceWindow,
    NetworkingConfig,
    NetworkingMode,
    NewCluster,
    NodeDnsCache,
    NodePool,
)

if TYPE_CHECKING:  # the types only: at run time this module stays free of Pulumi
    from pulumi_azure_native.containerservice import (
        ContainerServiceNetworkProfileArgsDict,
        MaintenanceWindowArgsDict,
        ManagedClusterAgentPoolProfileArgsDict,
        ManagedClusterAutoUpgradeProfileArgsDict,
    )

#: Tag recording the networking mode on the ManagedCluster (Azure tag names cannot contain '/').
NETWORKING_MODE_TAG = "akshift-networking-mode"

#: Built-in Azure role definition GUIDs (learn.microsoft.com "Azure built-in roles").
ROLE_NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"
ROLE_MANAGED_IDENTITY_OPERATOR = "f1a07417-d97a-45cb-824c-7a7467783830"
ROLE_ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"

#: Names of the AKS-managed maintenance configurations (fixed by AKS).
AUTO_UPGRADE_SCHEDULE = "aksManagedAutoUpgradeSchedule"
NODE_OS_UPGRADE_SCHEDULE = "aksManagedNodeOSUpgradeSchedule"


@dataclasses.dataclass(frozen=True)
class IdentityNames:
    """Azure names of the cluster's user-assigned managed identities."""

    control_plane: str
    kubelet: str


def identity_names(cluster_name: str) -> IdentityNames:
    """Name the managed identities after the cluster (3-128 characters; cluster names are ≤ 63).

    Args:
        cluster_name: ``cluster.name``.

    Returns:
        The identity names.
    """
    return IdentityNames(control_plane=f"id-{cluster_name}-control-plane", kubelet=f"id-{cluster_name}-kubelet")


def network_profile(networking: NetworkingConfig) -> ContainerServiceNetworkProfileArgsDict:
    """The ManagedCluster ``networkProfile`` for a networking mode.

    Args:
        networking: The ``networking`` section (already validated).

    Returns:
        A ``ContainerServiceNetworkProfileArgsDict``.
    """
    profile: ContainerServiceNetworkProfileArgsDict = {
        "service_cidr": str(networking.service_cidr),
        "dns_service_ip": str(networking.dns_service_ip),
        "outbound_type": networking.outbound_type,
        "load_balancer_sku": "standard",
    }
    mode = networking.mode
    if mode is NetworkingMode.OVERLAY_CILIUM:
        profile |= {
            "network_plugin": "azure",
            "network_plugin_mode": "overlay",
            "network_dataplane": "cilium",
            "network_policy": "cilium",
            "pod_cidr": str(networking.pod_cidr),
        }
    elif mode is NetworkingMode.OVERLAY:
        profile |= {
            "network_plugin": "azure",
            "network_plugin_mode": "overlay",
            "network_dataplane": "azure",
            "network_policy": networking.effective_network_policy,
            "pod_cidr": str(networking.pod_cidr),
        }
        # networking.kubeProxy is refused by stacks.rules for the pinned API version (no kubeProxyConfig);
        # when a reviewed API version has it, emit profile["kube_proxy_config"] here.
    elif mode is NetworkingMode.PODSUBNET_CILIUM:
        profile |= {"network_plugin": "azure", "network_dataplane": "cilium", "network_policy": "cilium"}
    elif mode is NetworkingMode.BYO_CILIUM:
        # No plugin: AKS assigns no pod addresses; Cilium's cluster-pool IPAM uses networking.podCidr.
        profile |= {"network_plugin": "none"}
    elif mode is NetworkingMode.KUBENET:
        # Only to adopt a live kubenet cluster (components.replacement refuses to create one).
        profile |= {"network_plugin": "kubenet", "network_policy": networking.effective_network_policy,
                    "pod_cidr": str(networking.pod_cidr)}
    else:  # pragma: no cover - exhaustive over NetworkingMode
        raise ValueError(f"unknown networking mode {mode!r}")
    return profile


def local_dns_profile(pool: NodePool, node_dns: NodeDnsCache, local_dns_mode: str) -> dict[str, Any] | None:
    """The per-pool ``localDNSProfile``: the chosen mode on Linux pools of a LocalDNS cluster, else ``Disabled``.

    LocalDNS is Linux-only; Windows pools get no profile. Every other Linux pool
    says ``Disabled`` explicitly: from Kubernetes 1.37 a pool without a profile
    defaults to ``Preferred``, which would run LocalDNS next to the NodeLocal
    DNSCache DaemonSet (or where the stack asked for no cache). We send only the
    mode and let AKS apply its default VnetDNS/KubeDNS overrides.

    Args:
        pool: The node pool.
        node_dns: The resolved node DNS cache (never AUTO).
        local_dns_mode: ``dns.localDnsMode`` (Required or Preferred).

    Returns:
        A ``LocalDNSProfileArgsDict``, or None for a Windows pool.
    """
    if pool.os_type != "Linux":
        return None
    return {"mode": local_dns_mode if node_dns is NodeDnsCache.LOCALDNS else "Disabled"}


def agent_pool_profile(
    pool: NodePool,
    *,
    kubernetes_version: str | None,
    networking_mode: NetworkingMode,
    node_subnet_id: Any,
    pod_subnet_id: Any = None,
    node_dns: NodeDnsCache = NodeDnsCache.NONE,
    local_dns_mode: str = "Required",
) -> dict[str, Any]:
    """The properties shared by an inline agent pool profile and an ``AgentPool`` resource.

    Args:
        pool: The node pool config.
        kubernetes_version: ``cluster.kubernetesVersion`` (pools follow the control plane); None leaves
            ``orchestratorVersion`` to AKS (the control plane's version).
        networking_mode: Decides whether pods get ``podSubnetID``.
        node_subnet_id: ID of the node subnet (may be an Output).
        pod_subnet_id: ID of the pod subnet; used only in podsubnet-cilium.
        node_dns: The resolved node DNS cache.
        local_dns_mode: ``dns.localDnsMode``.

    Returns:
        A dict of ``ManagedClusterAgentPoolProfileArgsDict`` / ``AgentPool`` keyword arguments
        without the pool name (the two differ in how they name it).
    """
    props: dict[str, Any] = {
        "mode": pool.mode,
        "type": "VirtualMachineScaleSets",
        "vm_size": pool.vm_size,
        "os_type": pool.os_type,
        "max_pods": pool.max_pods,
        "vnet_subnet_id": node_subnet_id,
        "upgrade_settings": {"max_surge": pool.max_surge},
    }
    if pool.autoscaling is not None:
        props |= {
            "enable_auto_scaling": True,
            "min_count": pool.autoscaling.min_count,
            "max_count": pool.autoscaling.max_count,
            # Initial size only: the autoscaler owns `count` afterwards (the components ignore its drift).
            "count": pool.autoscaling.min_count,
        }
    else:
        props |= {"enable_auto_scaling": False, "count": pool.count}
    if kubernetes_version is not None:
        props["orchestrator_version"] = kubernetes_version
    if pool.os_sku is not None:
        props["os_sku"] = pool.os_sku
    if pool.zones:
        props["availability_zones"] = list(pool.zones)
    if pool.os_disk_type is not None:
        props["os_disk_type"] = pool.os_disk_type
    if pool.os_disk_size_gb is not None:
        props["os_disk_size_gb"] = pool.os_disk_size_gb
    if pool.node_labels:
        props["node_labels"] = dict(pool.node_labels)
    if pool.node_taints:
        props["node_taints"] = list(pool.node_taints)
    if networking_mode.uses_pod_subnet:
        props["pod_subnet_id"] = pod_subnet_id
    dns = local_dns_profile(pool, node_dns, local_dns_mode)
    if dns is not None:
        props["local_dns_profile"] = dns
    return props


def inline_agent_pool_profile(pool: NodePool, **kwargs: Any) -> ManagedClusterAgentPoolProfileArgsDict:
    """The first pool, declared inside the ManagedCluster (AKS needs one at creation).

    Args:
        pool: The first entry of ``nodePools`` (a Linux System pool).
        **kwargs: As for :func:`agent_pool_profile`.

    Returns:
        A ``ManagedClusterAgentPoolProfileArgsDict``.
    """
    # agent_pool_profile's keys are shared by both shapes, so it returns a plain dict; this one is the inline shape.
    return cast("ManagedClusterAgentPoolProfileArgsDict", {"name": pool.name, **agent_pool_profile(pool, **kwargs)})


def auto_upgrade_profile(cluster: NewCluster) -> ManagedClusterAutoUpgradeProfileArgsDict:
    """The ``autoUpgradeProfile`` (upgrade channels)."""
    return {"upgrade_channel": cluster.upgrade_channel, "node_os_upgrade_channel": cluster.node_os_upgrade_channel}


def maintenance_window(window: MaintenanceWindow) -> MaintenanceWindowArgsDict:
    """A ``MaintenanceWindowArgsDict`` for a weekly window."""
    return {
        "schedule": {"weekly": {"day_of_week": window.day_of_week, "interval_weeks": window.interval_weeks}},
        "duration_hours": window.duration_hours,
        "start_time": window.start_time,
        "utc_offset": window.utc_offset,
    }


def maintenance_configurations(cluster: NewCluster) -> dict[str, MaintenanceWindowArgsDict]:
    """The AKS-managed maintenance configurations to create, by their fixed AKS name.

    Returns:
        ``{config_name: maintenance_window}``; empty when no window is configured.
    """
    out: dict[str, MaintenanceWindowArgsDict] = {}
    if cluster.maintenance.auto_upgrade is not None:
        out[AUTO_UPGRADE_SCHEDULE] = maintenance_window(cluster.maintenance.auto_upgrade)
    if cluster.maintenance.node_os is not None:
        out[NODE_OS_UPGRADE_SCHEDULE] = maintenance_window(cluster.maintenance.node_os)
    return out


def subscription_of(resource_id: str) -> str:
    """``/subscriptions/<id>/…`` → ``<id>``.

    Raises:
        ValueError: When ``resource_id`` is not a subscription-scoped ARM ID.
    """
    parts = resource_id.split("/")
    if len(parts) < 3 or parts[1].lower() != "subscriptions" or not parts[2]:
        raise ValueError(f"not a subscription-scoped Azure resource ID: {resource_id!r}")
    return parts[2]


def role_definition_id(scope_id: str, role_guid: str) -> str:
    """The full ID of a built-in role definition in the subscription of ``scope_id``.

    Args:
        scope_id: Any resource ID in the target subscription (the assignment's scope).
        role_guid: A built-in role GUID such as :data:`ROLE_NETWORK_CONTRIBUTOR`.

    Returns:
        ``/subscriptions/<id>/providers/Microsoft.Authorization/roleDefinitions/<guid>``.
    """
    return f"/subscriptions/{subscription_of(scope_id)}/providers/Microsoft.Authorization/roleDefinitions/{role_guid}"


def registry_label(resource_id: str) -> str:
    """A stable, readable label for a container registry ID (its name), used in logical names."""
    return resource_id.rstrip("/").rsplit("/", 1)[-1].lower()


#: ARM field of ``networkProfile`` (snake_case, as the builders and the live read spell it) → stack-file key.
_NETWORK_KEYS = {
    "network_plugin": "networking.mode",
    "network_plugin_mode": "networking.mode",
    "network_dataplane": "networking.mode",
    "network_policy": "networking.networkPolicy",
    "pod_cidr": "networking.podCidr",
    "service_cidr": "networking.serviceCidr",
    "dns_service_ip": "networking.dnsServiceIP",
    "outbound_type": "networking.outboundType",
    "load_balancer_sku": "networking.outboundType",
}


def force_new_fields(location: str, cluster: NewCluster, networking: NetworkingConfig,
                     node_pools: tuple[NodePool, ...]) -> dict[str, Wanted]:
    """What the stack sends for every force-new field, from the same builders as the ARM body.

    Args:
        location: ``location``.
        cluster: The ``cluster`` section.
        networking: The ``networking`` section.
        node_pools: ``nodePools``.

    Returns:
        Flat path (as :data:`stacks.guards.FORCE_NEW` and ``pools.<name>.<field>``) → the value and its key.
    """
    out: dict[str, Wanted] = {"location": Wanted("location", location),
                              "dns_prefix": Wanted("cluster.dnsPrefix", cluster.effective_dns_prefix)}
    if cluster.node_resource_group is not None:
        out["node_resource_group"] = Wanted("cluster.nodeResourceGroup", cluster.node_resource_group)
    profile = network_profile(networking)
    for field, key in _NETWORK_KEYS.items():
        # A field a mode does not send is one AKS must not have either (e.g. a dataplane on a kubenet cluster).
        value = profile.get(field)
        if value is not None or field in ("network_plugin_mode", "network_dataplane", "pod_cidr"):
            out[f"network_profile.{field}"] = Wanted(key, value)
    for i, pool in enumerate(node_pools):
        base = f"pools.{pool.name}"
        out[f"{base}.vm_size"] = Wanted(f"nodePools[{i}].vmSize", pool.vm_size)
        out[f"{base}.os_type"] = Wanted(f"nodePools[{i}].osType", pool.os_type)
        out[f"{base}.max_pods"] = Wanted(f"nodePools[{i}].maxPods", pool.max_pods)
        if pool.zones:
            out[f"{base}.availability_zones"] = Wanted(f"nodePools[{i}].zones", list(pool.zones))
        if pool.os_disk_type is not None:
            out[f"{base}.os_disk_type"] = Wanted(f"nodePools[{i}].osDiskType", pool.os_disk_type)
    return out


def live_view(result: Any) -> dict[str, Any]:
    """The parts of a ``getManagedCluster`` result the guards read, as plain snake_case dicts.

    Args:
        result: The invoke's result object (its nested values are dict subclasses with snake_case keys).

    Returns:
        ``{"id", "location", "dns_prefix", "node_resource_group", "kubernetes_version",
        "current_kubernetes_version", "network_profile": {...}, "pools": {name: {...}}}``.
    """
    def get(name: str) -> Any:
        return getattr(result, name, None)

    return {
        "id": get("id"),
        "location": get("location"),
        "dns_prefix": get("dns_prefix"),
        "node_resource_group": get("node_resource_group"),
        "kubernetes_version": get("kubernetes_version"),
        "current_kubernetes_version": get("current_kubernetes_version") or get("kubernetes_version"),
        "network_profile": dict(get("network_profile") or {}),
        "pools": {p["name"]: dict(p) for p in (get("agent_pool_profiles") or [])},
    }
