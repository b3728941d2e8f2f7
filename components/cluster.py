"""``AksCluster``: the AKS ManagedCluster, its extra node pools and maintenance windows.

Why it is shaped so:

* What the cluster is comes from :mod:`components.profiles` (network profile per
  mode, pool profiles, LocalDNS); this constructor only wires resources.
* The first node pool is declared inline (AKS needs one at creation); the others
  are ``AgentPool`` resources, which AKS lets us change one by one.
* **No silent replacement.** pulumi-azure-native plans a *replacement* of the
  ManagedCluster when its network profile changes. Two guards stand in the way:
  ``protect`` (inherited from the component's options; on unless
  ``cluster.protect: false``) makes Pulumi refuse to delete the cluster, and the
  networking-mode guard (:func:`stacks.guards.check_networking_mode_change`)
  refuses a mode change with the migration path before anything is planned.
  The guard runs inside the Output that feeds the cluster's
  ``akshift-networking-mode`` tag, so when it raises the ManagedCluster is never
  registered. We do not use ``retain_on_delete``: a retained cluster keeps
  running and billing outside Pulumi's view, and ``protect`` already covers the
  accidental-delete case while leaving deliberate teardown of test stacks possible.
* Autoscaled pools: AKS's autoscaler owns ``count`` after creation, so drift of
  ``count`` is ignored (``ignore_changes``) instead of being "corrected" back to
  ``minCount`` on every ``pulumi up``.
"""
from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping, Sequence

import pulumi
from pulumi_azure_native import containerservice

from components import profiles
from components.identity import IdentityRefs
from stacks import guards
from stacks.errors import NetworkingModeChangeRefused
from stacks.model import NetworkingConfig, NetworkingMode, NewCluster, NodeDnsCache, NodePool

TOKEN = "akshift:index:AksCluster"


@dataclasses.dataclass(frozen=True)
class AksClusterArgs:
    """Inputs of :class:`AksCluster`.

    Attributes:
        resource_group_name: Resource group of the cluster.
        location: Azure region.
        cluster: The ``cluster`` section (name, version, tier, upgrades, maintenance).
        networking: The ``networking`` section; its mode decides the network profile.
        node_pools: ``nodePools``; the first is created inline with the cluster.
        node_dns: The resolved node DNS cache (never AUTO); LOCALDNS adds LocalDNS profiles.
        local_dns_mode: ``dns.localDnsMode``.
        node_subnet_id: ID of the node subnet.
        pod_subnet_id: ID of the pod subnet (podsubnet-cilium only).
        identity: Identity references from :class:`components.identity.ClusterIdentity`.
        deployed_networking_mode: The mode this stack last deployed (its ``networkingMode``
            output), None for a new stack. A different desired mode is refused.
        depends_on: Resources that must exist before the cluster (role assignments on subnets).
        tags: Tags for the cluster and pools.
    """

    resource_group_name: pulumi.Input[str]
    location: str
    cluster: NewCluster
    networking: NetworkingConfig
    node_pools: tuple[NodePool, ...]
    node_dns: NodeDnsCache
    node_subnet_id: pulumi.Input[str]
    identity: IdentityRefs
    local_dns_mode: str = "Required"
    pod_subnet_id: pulumi.Input[str] | None = None
    deployed_networking_mode: pulumi.Input[str | None] = None
    depends_on: Sequence[pulumi.Resource] = ()
    tags: Mapping[str, str] = dataclasses.field(default_factory=dict)


class AksCluster(pulumi.ComponentResource):
    """An AKS cluster with its node pools.

    Outputs:
        managed_cluster: The ManagedCluster resource (handle for advanced wiring).
        name: Cluster name.
        id: Cluster resource ID.
        fqdn: API server FQDN.
        node_resource_group: The AKS-managed node resource group.
        oidc_issuer_url: OIDC issuer URL for workload identity federation.
        kubeconfig: User kubeconfig (secret).
        networking_mode: The deployed networking mode (export it: the next run's guard reads it).
    """

    def __init__(self, name: str, args: AksClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TOKEN, name, None, opts)
        cluster, networking = args.cluster, args.networking
        desired = networking.mode
        self.networking_mode: pulumi.Output[str] = pulumi.Output.from_input(args.deployed_networking_mode).apply(
            lambda deployed: _guard(deployed, desired)
        )
        pool_kwargs = dict(
            kubernetes_version=cluster.kubernetes_version,
            networking_mode=desired,
            node_subnet_id=args.node_subnet_id,
            pod_subnet_id=args.pod_subnet_id,
            node_dns=args.node_dns,
            local_dns_mode=args.local_dns_mode,
        )
        first, *others = args.node_pools
        identity_args = _identity_args(args.identity)
        ignore = ["agentPoolProfiles[0].count"] if first.autoscaling is not None else []

        self.managed_cluster = containerservice.ManagedCluster(
            f"{name}-cluster",
            resource_name_=cluster.name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            dns_prefix=cluster.effective_dns_prefix,
            kubernetes_version=cluster.kubernetes_version,
            sku={"name": "Base", "tier": cluster.sku_tier},
            enable_rbac=True,
            agent_pool_profiles=[profiles.inline_agent_pool_profile(first, **pool_kwargs)],
            network_profile=profiles.network_profile(networking),
            oidc_issuer_profile={"enabled": True},
            security_profile={"workload_identity": {"enabled": True}},
            auto_upgrade_profile=profiles.auto_upgrade_profile(cluster),
            node_resource_group=cluster.node_resource_group,
            tags={**args.tags, profiles.NETWORKING_MODE_TAG: self.networking_mode},
            **identity_args,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on), ignore_changes=ignore),
        )

        self.node_pools: dict[str, containerservice.AgentPool] = {}
        for pool in others:
            self.node_pools[pool.name] = containerservice.AgentPool(
                f"{name}-pool-{pool.name}",
                agent_pool_name=pool.name,
                resource_name_=self.managed_cluster.name,
                resource_group_name=args.resource_group_name,
                tags=dict(args.tags),
                **profiles.agent_pool_profile(pool, **pool_kwargs),
                opts=pulumi.ResourceOptions(
                    parent=self, ignore_changes=["count"] if pool.autoscaling is not None else []
                ),
            )

        self.maintenance: dict[str, containerservice.MaintenanceConfiguration] = {}
        for config_name, window in profiles.maintenance_configurations(cluster).items():
            self.maintenance[config_name] = containerservice.MaintenanceConfiguration(
                f"{name}-{config_name}",
                config_name=config_name,
                resource_name_=self.managed_cluster.name,
                resource_group_name=args.resource_group_name,
                maintenance_window=window,
                opts=pulumi.ResourceOptions(parent=self),
            )

        mc = self.managed_cluster
        self.name: pulumi.Output[str] = mc.name
        self.id: pulumi.Output[str] = mc.id
        self.fqdn: pulumi.Output[str] = mc.fqdn
        self.node_resource_group: pulumi.Output[str] = mc.node_resource_group
        self.oidc_issuer_url: pulumi.Output[str | None] = mc.oidc_issuer_profile.apply(
            lambda p: p.issuer_url if p is not None else None
        )
        creds = containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=args.resource_group_name,
            resource_name=mc.name,
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        self.kubeconfig: pulumi.Output[str] = pulumi.Output.secret(
            creds.kubeconfigs.apply(lambda kcs: base64.b64decode(kcs[0].value).decode("utf-8"))
        )
        self.register_outputs(
            {
                "name": self.name,
                "id": self.id,
                "nodeResourceGroup": self.node_resource_group,
                "oidcIssuerUrl": self.oidc_issuer_url,
                "networkingMode": self.networking_mode,
                "kubeconfig": self.kubeconfig,
            }
        )


def _guard(deployed: str | None, desired: NetworkingMode) -> str:
    """Run the mode-change guard; RunError makes Pulumi print the message without a traceback."""
    try:
        return guards.check_networking_mode_change(deployed, desired)
    except NetworkingModeChangeRefused as e:
        raise pulumi.RunError(str(e)) from e


def _identity_args(refs: IdentityRefs) -> dict[str, object]:
    """ManagedCluster keyword arguments for managed identities or a service principal."""
    if refs.service_principal is not None:
        return {"service_principal_profile": dict(refs.service_principal)}
    if refs.control_plane_identity_id is None or refs.kubelet_identity is None:
        raise ValueError("IdentityRefs needs managed identities or a service principal")
    return {
        "identity": {"type": "UserAssigned", "user_assigned_identities": [refs.control_plane_identity_id]},
        "identity_profile": {"kubeletidentity": dict(refs.kubelet_identity)},
    }
