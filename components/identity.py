"""``ClusterIdentity``: who the cluster acts as in Azure, and the rights that identity needs.

Why it is shaped so: kubenet-era clusters often run on a service principal
whose secret expires after a year and then silently breaks PersistentVolume and
LoadBalancer provisioning. The default here is two user-assigned managed
identities — one for the control plane, one for the kubelet — which have no
secret to expire and outlive the cluster (so a cluster rebuild keeps its
role assignments). The control-plane identity gets Network Contributor on the
cluster's subnets (BYO VNet) and Managed Identity Operator on the kubelet
identity (required to assign a custom kubelet identity); the kubelet identity
gets AcrPull on the listed registries.

A service principal is supported only when the stack config says so
explicitly (see :mod:`stacks.rules`); then this component creates only the
subnet role assignments for it and passes its secret on as a Pulumi secret.
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping

import pulumi
from pulumi_azure_native import authorization, managedidentity

from components import profiles
from stacks.model import ManagedIdentities, ServicePrincipal

TOKEN = "akshift:index:ClusterIdentity"


@dataclasses.dataclass(frozen=True)
class IdentityRefs:
    """What :class:`components.cluster.AksCluster` needs to know about the cluster's identity.

    Exactly one of ``control_plane_identity_id`` (managed identities) and
    ``service_principal`` is set.

    Attributes:
        control_plane_identity_id: Resource ID of the control-plane managed identity.
        kubelet_identity: ``{"resource_id", "client_id", "object_id"}`` of the kubelet identity.
        service_principal: ``{"client_id", "secret"}``; the secret is a Pulumi secret.
    """

    control_plane_identity_id: pulumi.Input[str] | None = None
    kubelet_identity: Mapping[str, pulumi.Input[str]] | None = None
    service_principal: Mapping[str, pulumi.Input[str]] | None = None


@dataclasses.dataclass(frozen=True)
class ClusterIdentityArgs:
    """Inputs of :class:`ClusterIdentity`.

    Attributes:
        identity: The ``identity`` section; its mode decides which resources exist.
        cluster_name: ``cluster.name``, used to name the identities.
        resource_group_name: Resource group for the identities.
        location: Azure region.
        subnet_scopes: Subnet IDs by label (``nodes``, ``pods``) the control plane must manage.
        service_principal_secret: The client secret (service-principal mode only).
        tags: Tags for the identities.
    """

    identity: ManagedIdentities | ServicePrincipal
    cluster_name: str
    resource_group_name: pulumi.Input[str]
    location: str
    subnet_scopes: Mapping[str, pulumi.Input[str]]
    service_principal_secret: pulumi.Input[str] | None = None
    tags: Mapping[str, str] = dataclasses.field(default_factory=dict)


class ClusterIdentity(pulumi.ComponentResource):
    """Managed identities (or a service principal's rights) for one cluster.

    Outputs:
        refs: :class:`IdentityRefs` for the cluster.
        role_assignments: The role assignments, for the cluster to depend on (AKS checks
            its rights on the subnets at creation time).
    """

    def __init__(self, name: str, args: ClusterIdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TOKEN, name, None, opts)
        self.role_assignments: list[authorization.RoleAssignment] = []
        ident = args.identity
        if isinstance(ident, ServicePrincipal):
            if args.service_principal_secret is None:
                raise ValueError("service-principal mode needs service_principal_secret")
            self._grant_subnets(name, args, principal_id=ident.object_id)
            self.refs = IdentityRefs(
                service_principal={
                    "client_id": ident.client_id,
                    "secret": pulumi.Output.secret(args.service_principal_secret),
                }
            )
            self.register_outputs({"servicePrincipalClientId": ident.client_id})
            return

        names = profiles.identity_names(args.cluster_name)
        self.control_plane = managedidentity.UserAssignedIdentity(
            f"{name}-control-plane",
            resource_name_=names.control_plane,
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.kubelet = managedidentity.UserAssignedIdentity(
            f"{name}-kubelet",
            resource_name_=names.kubelet,
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._grant_subnets(name, args, principal_id=self.control_plane.principal_id)
        self._grant(
            f"{name}-cp-operator-kubelet",
            principal_id=self.control_plane.principal_id,
            scope=self.kubelet.id,
            role=profiles.ROLE_MANAGED_IDENTITY_OPERATOR,
        )
        for registry in ident.acr_pull_scopes:
            self._grant(
                f"{name}-kubelet-acrpull-{profiles.registry_label(registry)}",
                principal_id=self.kubelet.principal_id,
                scope=registry,
                role=profiles.ROLE_ACR_PULL,
            )
        self.refs = IdentityRefs(
            control_plane_identity_id=self.control_plane.id,
            kubelet_identity={
                "resource_id": self.kubelet.id,
                "client_id": self.kubelet.client_id,
                "object_id": self.kubelet.principal_id,
            },
        )
        self.register_outputs(
            {"controlPlaneIdentityId": self.control_plane.id, "kubeletIdentityId": self.kubelet.id}
        )

    def _grant_subnets(self, name: str, args: ClusterIdentityArgs, principal_id: pulumi.Input[str]) -> None:
        for label, subnet_id in sorted(args.subnet_scopes.items()):
            self._grant(f"{name}-cp-network-{label}", principal_id=principal_id, scope=subnet_id,
                        role=profiles.ROLE_NETWORK_CONTRIBUTOR)

    def _grant(self, logical: str, *, principal_id: pulumi.Input[str], scope: pulumi.Input[str], role: str) -> None:
        self.role_assignments.append(
            authorization.RoleAssignment(
                logical,
                principal_id=principal_id,
                # ServicePrincipal skips the Entra lookup that fails for identities created seconds ago.
                principal_type="ServicePrincipal",
                scope=scope,
                role_definition_id=pulumi.Output.from_input(scope).apply(
                    functools.partial(profiles.role_definition_id, role_guid=role)
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
        )
