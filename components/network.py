"""``ClusterNetwork``: the VNet, the node subnet and (pod-subnet mode) the pod subnet of a cluster.

Why it is shaped so: the address plan is validated in :mod:`stacks.rules`
before anything is built, so this component only creates what the
``network`` section describes. Subnets are separate ``Subnet`` resources rather
than inline ``subnets`` of the VNet, so that adding the pod subnet later is an
addition and not an update of the VNet; pulumi-azure-native keeps subnets it
does not see inline when the VNet's ``subnets`` property is unset.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pulumi
from pulumi_azure_native import network

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
    """VNet and subnets for one cluster.

    Outputs:
        vnet_id: ID of the VNet.
        node_subnet_id: ID of the node subnet.
        pod_subnet_id: ID of the pod subnet, or None when the config has none.
        subnet_ids: ``{"nodes": id, "pods": id}`` — the scopes the cluster identity needs rights on.
    """

    def __init__(self, name: str, args: ClusterNetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TOKEN, name, None, opts)
        cfg = args.network
        self.vnet = network.VirtualNetwork(
            f"{name}-vnet",
            virtual_network_name=cfg.vnet_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            address_space={"address_prefixes": [str(cfg.address_space)]},
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.node_subnet = network.Subnet(
            f"{name}-nodes",
            subnet_name=cfg.node_subnet.name,
            virtual_network_name=self.vnet.name,
            resource_group_name=args.resource_group_name,
            address_prefix=str(cfg.node_subnet.cidr),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.pod_subnet: network.Subnet | None = None
        if cfg.pod_subnet is not None:
            self.pod_subnet = network.Subnet(
                f"{name}-pods",
                subnet_name=cfg.pod_subnet.name,
                virtual_network_name=self.vnet.name,
                resource_group_name=args.resource_group_name,
                address_prefix=str(cfg.pod_subnet.cidr),
                # Azure serialises writes to one VNet's subnets ("AnotherOperationInProgress"); order them.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.node_subnet]),
            )
        self.vnet_id: pulumi.Output[str] = self.vnet.id
        self.node_subnet_id: pulumi.Output[str] = self.node_subnet.id
        self.pod_subnet_id: pulumi.Output[str] | None = self.pod_subnet.id if self.pod_subnet is not None else None
        self.subnet_ids: dict[str, pulumi.Output[str]] = {"nodes": self.node_subnet_id}
        if self.pod_subnet_id is not None:
            self.subnet_ids["pods"] = self.pod_subnet_id
        self.register_outputs(
            {"vnetId": self.vnet_id, "nodeSubnetId": self.node_subnet_id, "podSubnetId": self.pod_subnet_id}
        )
