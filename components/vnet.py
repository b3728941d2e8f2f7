"""Pure builders of the network resources a stack declares: subnets, egress (NAT gateway, route table), NSGs.

Why it exists: the egress design decides which resources exist and what the
node subnet points at, and AKS checks that wiring when it creates the cluster
(``userAssignedNATGateway`` needs a NAT gateway on the node subnet,
``userDefinedRouting`` a route table whose 0.0.0.0/0 goes to an appliance).
Deciding it here, as plain dictionaries, lets tests check it without Pulumi and
judge it with Azure's network models; :class:`components.network.ClusterNetwork`
only wires the results. Values wired from other resources (IDs) are passed
through untouched, so they may be ``pulumi.Output``.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from stacks.model import NatGatewayConfig, NetworkConfig, RouteTableConfig, SubnetConfig

DEFAULT_ROUTE = "default-to-firewall"


@dataclasses.dataclass(frozen=True)
class NetworkNames:
    """Azure names of the network resources around one VNet (stable: a rename replaces the resource)."""

    nat_gateway: str
    public_ips: tuple[str, ...]
    route_table: str
    nsgs: dict[str, str]
    """Subnet label (``nodes``, ``pods``) → NSG name."""


def names(network: NetworkConfig) -> NetworkNames:
    """Name the egress and NSG resources after the VNet and subnets (each ≤ 80 characters).

    Args:
        network: The ``network`` section.

    Returns:
        The names; NAT gateway and public IPs are named even when the stack has none.
    """
    vnet = network.vnet_name
    count = network.nat_gateway.public_ip_count if network.nat_gateway is not None else 0
    nsgs = {label: f"nsg-{subnet.name}"[:80] for label, subnet in subnets(network).items()}
    return NetworkNames(nat_gateway=f"ng-{vnet}"[:80], public_ips=tuple(f"pip-{vnet}-egress-{i + 1}"[:80] for i in range(count)),
                        route_table=f"rt-{vnet}"[:80], nsgs=nsgs)


def subnets(network: NetworkConfig) -> dict[str, SubnetConfig]:
    """The subnets by label: ``nodes`` always, ``pods`` in pod-subnet mode."""
    out = {"nodes": network.node_subnet}
    if network.pod_subnet is not None:
        out["pods"] = network.pod_subnet
    return out


def public_ip_inputs(nat: NatGatewayConfig, name: str, location: str, tags: dict[str, str]) -> dict[str, Any]:
    """A static Standard IPv4 public IP for the NAT gateway (in its zone when it has one)."""
    props: dict[str, Any] = {
        "public_ip_address_name": name,
        "location": location,
        "sku": {"name": "Standard", "tier": "Regional"},
        "public_ip_allocation_method": "Static",
        "public_ip_address_version": "IPv4",
        "tags": dict(tags),
    }
    if nat.zone is not None:
        props["zones"] = [nat.zone]
    return props


def nat_gateway_inputs(nat: NatGatewayConfig, name: str, location: str, public_ip_ids: list[Any],
                       tags: dict[str, str]) -> dict[str, Any]:
    """The NAT gateway: Standard SKU, its public IPs, idle timeout, its zone when it has one."""
    props: dict[str, Any] = {
        "nat_gateway_name": name,
        "location": location,
        "sku": {"name": "Standard"},
        "idle_timeout_in_minutes": nat.idle_timeout_minutes,
        "public_ip_addresses": [{"id": i} for i in public_ip_ids],
        "tags": dict(tags),
    }
    if nat.zone is not None:
        props["zones"] = [nat.zone]
    return props


def route_table_inputs(rt: RouteTableConfig, name: str, location: str, tags: dict[str, str]) -> dict[str, Any]:
    """The route table sending every destination outside the VNet to the firewall.

    Routes are declared inline so the table never holds a route Pulumi does not know; BGP propagation is
    off so a gateway cannot advertise a route around the firewall.
    """
    return {
        "route_table_name": name,
        "location": location,
        "disable_bgp_route_propagation": True,
        "routes": [{"name": DEFAULT_ROUTE, "address_prefix": "0.0.0.0/0", "next_hop_type": "VirtualAppliance",
                    "next_hop_ip_address": str(rt.firewall_ip)}],
        "tags": dict(tags),
    }


def nsg_inputs(name: str, location: str, tags: dict[str, str]) -> dict[str, Any]:
    """An NSG with Azure's default rules only (VNet and load balancer in, internet in denied, all out).

    AKS keeps its own NSG on the node NICs for Service load balancer rules; a subnet NSG with custom deny
    rules would have to allow what AKS documents as required, so it carries none.
    """
    return {"network_security_group_name": name, "location": location, "tags": dict(tags)}


def subnet_inputs(subnet: SubnetConfig, *, nat_gateway_id: Any = None, route_table_id: Any = None,
                  nsg_id: Any = None) -> dict[str, Any]:
    """A subnet and what it is associated with.

    ``defaultOutboundAccess`` is off: egress goes only the way the stack declares (the load balancer's
    outbound rules, the NAT gateway, or the route table), never through Azure's implicit default outbound
    IP, which Azure retires for new VNets.
    """
    props: dict[str, Any] = {"subnet_name": subnet.name, "address_prefix": str(subnet.cidr),
                             "default_outbound_access": False}
    if nat_gateway_id is not None:
        props["nat_gateway"] = {"id": nat_gateway_id}
    if route_table_id is not None:
        props["route_table"] = {"id": route_table_id}
    if nsg_id is not None:
        props["network_security_group"] = {"id": nsg_id}
    return props
