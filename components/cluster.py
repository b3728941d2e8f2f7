"""``AksCluster``: the AKS ManagedCluster, its extra node pools and maintenance windows.

Why it is shaped so:

* What the cluster is comes from :mod:`components.profiles` (network profile per
  mode, pool profiles, LocalDNS); this constructor only wires resources.
* The first node pool is declared inline (AKS needs one at creation); the others
  are ``AgentPool`` resources, which AKS lets us change one by one.
* **No replacement without the user naming it.** Before it registers anything,
  the component reads the live cluster (the ``getManagedCluster`` invoke) and
  :mod:`stacks.guards` compares every force-new field with what the stack
  sends: a difference is refused (``pulumi.RunError``, nothing registered) with
  the key, both values and the way forward. What the live cluster already runs
  is accepted — the in-place path: after ``akshift strategy --execute`` and
  ``pulumi refresh`` the next ``up`` adopts the new networking — and those
  fields go under ``ignore_changes``, so a state that missed the refresh cannot
  plan a replacement either. ``protect`` (on unless ``cluster.protect: false``)
  still refuses deletion. We do not use ``retain_on_delete``: a retained cluster
  keeps running and billing outside Pulumi's view.
* **Versions as AVM handles them**: with an auto-upgrade channel, a live version
  ahead of the stack is kept (``ignore_changes`` on ``kubernetesVersion`` and the
  pools' ``orchestratorVersion``); raising ``kubernetesVersion`` above the live
  minor sends the upgrade.
* **Adoption**: ``cluster.adopt`` imports the live cluster (and its listed pools)
  by ID through Pulumi's ``import`` option — the same as ``pulumi import`` — and
  the import fails rather than change anything that differs.
* Autoscaled pools: AKS's autoscaler owns ``count`` after creation, so drift of
  ``count`` is ignored instead of being "corrected" back to ``minCount``.
* **The production baseline** (Entra ID with Azure RBAC and no local accounts, API
  server exposure, add-ons, Defender, Image Cleaner, autoscaler profile) comes from
  :mod:`components.baseline`; the exported kubeconfig is the cluster user's with
  every user replaced by the kubelogin exec plugin, and the admin credentials are
  never read.
"""
from __future__ import annotations

import base64
import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
from pulumi_azure_native import authorization, containerservice

from components import baseline, profiles
from components.identity import IdentityRefs
from stacks import guards
from stacks.errors import ClusterReplacementError
from stacks.model import NetworkingConfig, NetworkingMode, NewCluster, NodeDnsCache, NodePool

TOKEN = "akshift:index:AksCluster"

#: Upgrade channels that move the Kubernetes version on their own (node-image only moves node images).
AUTO_UPGRADE_CHANNELS = frozenset({"patch", "stable", "rapid"})



@dataclasses.dataclass(frozen=True)
class AksClusterArgs:
    """Inputs of :class:`AksCluster`.

    Attributes:
        resource_group_name: Resource group of the cluster (a plain name: the live cluster is read from it
            before anything is registered; depend on the group's resource through ``depends_on``).
        location: Azure region.
        cluster: The ``cluster`` section (name, version, tier, upgrades, maintenance, adopt).
        networking: The ``networking`` section; its mode decides the network profile.
        node_pools: ``nodePools``; the first is created inline with the cluster.
        node_dns: The resolved node DNS cache (never AUTO); LOCALDNS adds LocalDNS profiles.
        local_dns_mode: ``dns.localDnsMode``.
        node_subnet_id: ID of the node subnet.
        pod_subnet_id: ID of the pod subnet (podsubnet-cilium only).
        identity: Identity references from :class:`components.identity.ClusterIdentity`.
        depends_on: Resources that must exist before the cluster (role assignments, egress, the group).
        tags: Tags for the cluster and pools.
        plan: The guard's decision (see the field).
        workspace_id: The monitoring workspace's ID (see the field).
    """

    resource_group_name: str
    location: str
    cluster: NewCluster
    networking: NetworkingConfig
    node_pools: tuple[NodePool, ...]
    node_dns: NodeDnsCache
    node_subnet_id: pulumi.Input[str]
    identity: IdentityRefs
    local_dns_mode: str = "Required"
    pod_subnet_id: pulumi.Input[str] | None = None
    depends_on: Sequence[pulumi.Resource] = ()
    tags: Mapping[str, str] = dataclasses.field(default_factory=dict)
    plan: guards.ClusterPlan | None = None
    """What :func:`plan` decided; the program decides before it registers any resource. None: the
    component reads the live cluster and decides itself (before registering the ManagedCluster)."""
    workspace_id: pulumi.Input[str] | None = None
    """The Log Analytics workspace of ``cluster.monitoring`` (Container Insights, Defender)."""


def read_live_cluster(resource_group: str, name: str, parent: pulumi.Resource | None = None) -> dict[str, Any] | None:
    """The live cluster as :func:`profiles.live_view` describes it, or None when Azure has none.

    Raises:
        pulumi.RunError: Azure could not be asked (no rights, throttled …): the guard cannot vouch for the plan.
    """
    try:
        result = containerservice.get_managed_cluster(resource_group_name=resource_group, resource_name=name,
                                                      opts=pulumi.InvokeOptions(parent=parent) if parent else None)
    except Exception as e:  # noqa: BLE001 - the engine raises a plain Exception for a failed invoke
        text = str(e)
        if "NotFound" in text or "404" in text:
            return None
        raise pulumi.RunError(f"cluster {resource_group}/{name}: cannot read the live cluster ({text}); the "
                              "replacement guard needs it before anything is planned — check access and retry") from None
    return profiles.live_view(result)


def current_subscription() -> str:
    """The subscription this deployment goes to, as the Azure provider itself resolves it (its config, the
    environment, or the Azure CLI's current subscription): the ``getClientConfig`` invoke.

    Raises:
        pulumi.RunError: Azure did not say: the rename guard cannot vouch for the plan.
    """
    try:
        subscription = authorization.get_client_config().subscription_id
    except Exception as e:  # noqa: BLE001 - the engine raises a plain Exception for a failed invoke
        raise pulumi.RunError(f"cannot read which Azure subscription this deployment goes to ({e}); the guard against "
                              "deleting the cluster this stack created needs it — sign in (`az login`) and retry") from None
    if not subscription:
        raise pulumi.RunError("Azure named no subscription for this deployment; the guard against deleting the "
                              "cluster this stack created needs it — select one (`az account set`) and retry")
    return str(subscription)


def plan(resource_group: str, location: str, cluster: NewCluster, networking: NetworkingConfig,
         node_pools: tuple[NodePool, ...], live: dict[str, Any] | None) -> guards.ClusterPlan:
    """Decide, before registering anything, what may be sent to the live cluster.

    Args:
        resource_group: The cluster's resource group.
        location: ``location``.
        cluster: The ``cluster`` section.
        networking: The ``networking`` section.
        node_pools: ``nodePools``.
        live: :func:`read_live_cluster`'s answer.

    Returns:
        The ignore paths and the live ID.

    Raises:
        pulumi.RunError: Any force-new field differs, a version cannot be sent, or adopt/kubenet find no cluster.
    """
    problems = guards.existence_problems(live_exists=live is not None, adopt=cluster.adopt,
                                         kubenet=networking.mode is NetworkingMode.KUBENET,
                                         cluster=cluster.name, resource_group=resource_group)
    if live is None:
        _refuse(problems)
        return guards.ClusterPlan()
    wanted = profiles.force_new_fields(location, cluster, networking, node_pools)
    problems += guards.replacement_problems(wanted, live, cluster.name)
    auto = cluster.upgrade_channel in AUTO_UPGRADE_CHANNELS
    ignore = [f.ignore for f in guards.FORCE_NEW.values()]
    keep, found = guards.version_decision(cluster.kubernetes_version, live.get("current_kubernetes_version"),
                                          auto_upgrade=auto, key="cluster.kubernetesVersion")
    problems += found
    pool_ignores: dict[str, tuple[str, ...]] = {}
    for i, pool in enumerate(node_pools):
        live_pool = (live.get("pools") or {}).get(pool.name)
        pool_version = (live_pool or {}).get("current_orchestrator_version") or (live_pool or {}).get(
            "orchestrator_version")
        keep_pool, found = guards.version_decision(cluster.kubernetes_version, pool_version if live_pool else None,
                                                   auto_upgrade=auto, key="cluster.kubernetesVersion")
        problems += [p for p in found if p not in problems]
        if i == 0:
            if keep:
                ignore += ["kubernetesVersion", "agentPoolProfiles[0].orchestratorVersion"]
        elif keep_pool:
            pool_ignores[pool.name] = ("orchestratorVersion",)
    _refuse(problems)
    return guards.ClusterPlan(tuple(ignore), pool_ignores, live.get("id"), frozenset(live.get("pools") or {}))


def _refuse(problems: list[Any]) -> None:
    try:
        guards.refuse(problems)
    except ClusterReplacementError as e:
        raise pulumi.RunError(f"refused, nothing was deployed:\n{e}") from None


class AksCluster(pulumi.ComponentResource):
    """An AKS cluster with its node pools.

    Outputs:
        managed_cluster: The ManagedCluster resource (handle for advanced wiring).
        name: Cluster name.
        id: Cluster resource ID.
        fqdn: API server FQDN.
        node_resource_group: The AKS-managed node resource group.
        oidc_issuer_url: OIDC issuer URL for workload identity federation.
        kubeconfig: User kubeconfig (secret); with Entra ID a kubelogin exec kubeconfig holding no credential.
        deployer_grant: The deployer's RBAC Cluster Admin role assignment, or None.
        networking_mode: The networking mode the cluster runs.
        kubernetes_version: The version the control plane runs (AKS's answer, drift included).
    """

    def __init__(self, name: str, args: AksClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TOKEN, name, None, opts)
        cluster, networking = args.cluster, args.networking
        decided = args.plan or plan(args.resource_group_name, args.location, cluster, networking, args.node_pools,
                                    read_live_cluster(args.resource_group_name, cluster.name, self))
        self.networking_mode: pulumi.Output[str] = pulumi.Output.from_input(networking.mode.value)
        pool_kwargs: dict[str, Any] = dict(
            kubernetes_version=cluster.kubernetes_version,
            networking_mode=networking.mode,
            node_subnet_id=args.node_subnet_id,
            pod_subnet_id=args.pod_subnet_id,
            node_dns=args.node_dns,
            local_dns_mode=args.local_dns_mode,
        )
        first, *others = args.node_pools
        identity_args = _identity_args(args.identity)
        ignore = list(decided.ignore_changes)
        if first.autoscaling is not None:
            ignore.append("agentPoolProfiles[0].count")

        self.managed_cluster = containerservice.ManagedCluster(
            f"{name}-cluster",
            resource_name_=cluster.name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            dns_prefix=cluster.effective_dns_prefix,
            kubernetes_version=cluster.kubernetes_version,
            sku={"name": "Base", "tier": cluster.sku_tier},
            support_plan=cluster.support_plan,
            enable_rbac=True,
            agent_pool_profiles=[profiles.inline_agent_pool_profile(first, **pool_kwargs)],
            network_profile=profiles.network_profile(networking),
            oidc_issuer_profile={"enabled": True},
            # The production baseline (components/baseline.py): Entra ID + Azure RBAC, no local accounts, API
            # server exposure, add-ons, Defender, Image Cleaner, autoscaler profile.
            aad_profile=baseline.aad_profile(cluster),
            disable_local_accounts=cluster.disable_local_accounts,
            api_server_access_profile=baseline.api_server_access_profile(cluster),
            addon_profiles=baseline.addon_profiles(cluster, args.workspace_id),
            security_profile=baseline.security_profile(cluster, args.workspace_id),
            auto_scaler_profile=baseline.auto_scaler_profile(cluster.autoscaler_profile),
            auto_upgrade_profile=profiles.auto_upgrade_profile(cluster),
            node_resource_group=cluster.node_resource_group,
            tags={**args.tags, profiles.NETWORKING_MODE_TAG: networking.mode.value},
            **identity_args,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on), ignore_changes=ignore,
                                        import_=decided.live_id if cluster.adopt else None),
        )

        self.node_pools: dict[str, containerservice.AgentPool] = {}
        for pool in others:
            pool_ignore = [*decided.pool_ignore_changes.get(pool.name, ()),
                           *(["count"] if pool.autoscaling is not None else [])]
            adopted = cluster.adopt and decided.live_id and pool.name in decided.live_pools
            adopt_id = f"{decided.live_id}/agentPools/{pool.name}" if adopted else None  # else: a new pool
            self.node_pools[pool.name] = containerservice.AgentPool(
                f"{name}-pool-{pool.name}",
                agent_pool_name=pool.name,
                resource_name_=self.managed_cluster.name,
                resource_group_name=args.resource_group_name,
                tags=dict(args.tags),
                **profiles.agent_pool_profile(pool, **pool_kwargs),
                opts=pulumi.ResourceOptions(parent=self, ignore_changes=pool_ignore, import_=adopt_id),
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
        self.node_resource_group: pulumi.Output[str | None] = mc.node_resource_group  # the SDK types it optional
        self.kubernetes_version: pulumi.Output[str] = mc.current_kubernetes_version.apply(
            lambda v: v or cluster.kubernetes_version or "")
        self.oidc_issuer_url: pulumi.Output[str | None] = mc.oidc_issuer_profile.apply(
            lambda p: p.issuer_url if p is not None else None
        )
        entra = cluster.entra_id
        self.deployer_grant: authorization.RoleAssignment | None = None
        if entra.enabled and entra.azure_rbac and entra.grant_deployer:
            # Whoever runs `pulumi up` installs the add-ons through the API server: with local accounts off,
            # only an Azure role lets it. It may be a person or a service principal, so no principalType.
            me = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
            self.deployer_grant = authorization.RoleAssignment(
                f"{name}-deployer-cluster-admin",
                principal_id=me.object_id,
                scope=mc.id,
                role_definition_id=mc.id.apply(functools.partial(
                    profiles.role_definition_id, role_guid=baseline.ROLE_AKS_RBAC_CLUSTER_ADMIN)),
                opts=pulumi.ResourceOptions(parent=self),
            )
        # The user credential, never the admin one. With Entra ID its users become the kubelogin exec plugin
        # (the cluster's server and CA are kept), so the output holds no credential at all.
        creds = containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=args.resource_group_name,
            resource_name=mc.name,
            format="exec" if entra.enabled else None,
            opts=pulumi.InvokeOutputOptions(parent=self, depends_on=[self.deployer_grant] if self.deployer_grant else None),
        )
        login = entra.kubelogin_login

        def user_kubeconfig(kcs: Any) -> str:
            text = base64.b64decode(kcs[0].value).decode("utf-8")
            return baseline.kubelogin_kubeconfig(text, login) if entra.enabled else text

        self.kubeconfig: pulumi.Output[str] = pulumi.Output.secret(creds.kubeconfigs.apply(user_kubeconfig))
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


def _identity_args(refs: IdentityRefs) -> dict[str, Any]:
    """ManagedCluster keyword arguments for managed identities or a service principal."""
    if refs.service_principal is not None:
        return {"service_principal_profile": dict(refs.service_principal)}
    if refs.control_plane_identity_id is None or refs.kubelet_identity is None:
        raise ValueError("IdentityRefs needs managed identities or a service principal")
    return {
        "identity": {"type": "UserAssigned", "user_assigned_identities": [refs.control_plane_identity_id]},
        "identity_profile": {"kubeletidentity": dict(refs.kubelet_identity)},
    }
