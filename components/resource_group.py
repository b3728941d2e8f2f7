"""``ClusterResourceGroup``: the Azure resource group that holds one stack's cluster resources.

Why it is a component of its own: everything else (VNet, identities, cluster)
is created inside it, and deleting it deletes them in Azure regardless of
Pulumi's ``protect``. So it gets the same protection as the cluster (through
the component's options) and its own small, stable place in the resource tree.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pulumi
from pulumi_azure_native import resources

TOKEN = "akshift:index:ClusterResourceGroup"


@dataclasses.dataclass(frozen=True)
class ClusterResourceGroupArgs:
    """Inputs of :class:`ClusterResourceGroup`.

    Attributes:
        name: Azure name of the resource group (``resourceGroup``).
        location: Azure region.
        tags: Tags for the group.
    """

    name: str
    location: str
    tags: Mapping[str, str] = dataclasses.field(default_factory=dict)


class ClusterResourceGroup(pulumi.ComponentResource):
    """The resource group of a cluster stack.

    Outputs:
        name: The resource group name, for wiring (carries the dependency).
    """

    name: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterResourceGroupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TOKEN, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.resource_group = resources.ResourceGroup(
            f"{name}-rg",
            resource_group_name=args.name,
            location=args.location,
            tags=dict(args.tags),
            opts=child,
        )
        self.name = self.resource_group.name
        self.register_outputs({"name": self.name})
