"""``ClusterNetwork``: the VNet, its subnets, their NSGs and the cluster's egress (NAT gateway or route table).

Why it is shaped so: the address plan and the egress design are validated in
:mod:`stacks.rules` before anything is built, and what each resource contains
comes from :mod:`components.vnet`, so this component only wires what the
``network`` section describes. The NAT gateway (``userAssignedNATGateway``) or
route table (``userDefinedRouting``) is attached to the node subnet — and the
pod subnet, whose pods egress from their own addresses — because AKS checks
that association when it creates the cluster. Subnets are separate ``Subnet`` resources rather
than inline ``subnets`` of the VNet, so that adding the pod subnet later is an
addition and not an update of the VNet; pulumi-azure-native keeps subnets it
does not see inline when the VNet's ``subnets`` property is unset.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pulumi
from pulumi_azure_native import network

from components import vnet
from stacks.model import NetworkConfig

TOKEN = "akshift:index:ClusterNetwork"


@dataclasses.dataclass(frozen=True)
class ClusterNetworkArgs:
    """Inputs of :class:`ClusterNetwork`.

    Attributes:
        resource_group_name: Resource group to create the VNet in.
        location: Azure region.
        network: The ``network`` section; ``podSubnet`` decides whether a pod subnet exists.
        tags: Tags for the VNet.
    """

    resource_group_name: pulumi.Input[str]
    location: str
    network: NetworkConfig
    tags: Mapping[str, str] = dataclasses.field(default_factory=dict)


class ClusterNetwork(pulumi.ComponentResource):
    """VNet, subnets, their NSGs, and the egress the outbound type needs.

    Outputs:
        vnet_id: ID of the VNet.
        node_subnet_id: ID of the node subnet.
        pod_subnet_id: ID of the pod subnet, or None when the config has none.
        subnet_ids: ``{"nodes": id, "pods": id}``.
        role_scopes: What the cluster identity needs Network Contributor on: the subnets, and the route
            table with ``userDefinedRouting`` (AKS checks both when it creates the cluster).
        nat_gateway_id / route_table_id: The egress resources, or None.
    """

    def __init__(self, name: str, args: ClusterNetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TOKEN, name, None, opts)
        cfg = args.network
        tags = dict(args.tags)
        rg, location = args.resource_group_name, args.location
        names = vnet.names(cfg)
        child = pulumi.ResourceOptions(parent=self)
        self.vnet = network.VirtualNetwork(
            f"{name}-vnet",
            virtual_network_name=cfg.vnet_name,
            resource_group_name=rg,
            location=location,
            address_space={"address_prefixes": [str(cfg.address_space)]},
            tags=tags,
            opts=child,
        )

        self.nat_gateway: network.NatGateway | None = None
        if cfg.nat_gateway is not None:
            ips = [network.PublicIPAddress(f"{name}-egress-ip-{i + 1}", resource_group_name=rg,
                                           **vnet.public_ip_inputs(cfg.nat_gateway, ip_name, location, tags), opts=child)
                   for i, ip_name in enumerate(names.public_ips)]
            self.nat_gateway = network.NatGateway(
                f"{name}-nat-gateway", resource_group_name=rg,
                **vnet.nat_gateway_inputs(cfg.nat_gateway, names.nat_gateway, location, [ip.id for ip in ips], tags),
                opts=child)
        self.route_table: network.RouteTable | None = None
        if cfg.route_table is not None:
            self.route_table = network.RouteTable(
                f"{name}-route-table", resource_group_name=rg,
                **vnet.route_table_inputs(cfg.route_table, names.route_table, location, tags), opts=child)

        self.subnets: dict[str, network.Subnet] = {}
        previous: list[pulumi.Resource] = []
        for label, subnet in vnet.subnets(cfg).items():
            nsg = None
            if cfg.subnet_nsg:
                nsg = network.NetworkSecurityGroup(f"{name}-{label}-nsg", resource_group_name=rg,
                                                   **vnet.nsg_inputs(names.nsgs[label], location, tags), opts=child)
            self.subnets[label] = network.Subnet(
                f"{name}-{label}",
                virtual_network_name=self.vnet.name,
                resource_group_name=rg,
                **vnet.subnet_inputs(subnet,
                                     nat_gateway_id=self.nat_gateway.id if self.nat_gateway is not None else None,
                                     route_table_id=self.route_table.id if self.route_table is not None else None,
                                     nsg_id=nsg.id if nsg is not None else None),
                # Azure serialises writes to one VNet's subnets ("AnotherOperationInProgress"); order them.
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(previous)),
            )
            previous = [self.subnets[label]]
        self.node_subnet = self.subnets["nodes"]
        self.pod_subnet: network.Subnet | None = self.subnets.get("pods")
        self.vnet_id: pulumi.Output[str] = self.vnet.id
        self.node_subnet_id: pulumi.Output[str] = self.node_subnet.id
        self.pod_subnet_id: pulumi.Output[str] | None = self.pod_subnet.id if self.pod_subnet is not None else None
        self.subnet_ids: dict[str, pulumi.Output[str]] = {label: s.id for label, s in self.subnets.items()}
        self.role_scopes: dict[str, pulumi.Output[str]] = dict(self.subnet_ids)
        if self.route_table is not None:
            self.role_scopes["routes"] = self.route_table.id
        self.nat_gateway_id = self.nat_gateway.id if self.nat_gateway is not None else None
        self.route_table_id = self.route_table.id if self.route_table is not None else None
        self.register_outputs(
            {"vnetId": self.vnet_id, "nodeSubnetId": self.node_subnet_id, "podSubnetId": self.pod_subnet_id,
             "natGatewayId": self.nat_gateway_id, "routeTableId": self.route_table_id}
        )
