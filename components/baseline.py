"""Pure builders of the production baseline a ManagedCluster carries, and of the monitoring resources around it.

Why it exists: the baseline (Entra ID with Azure RBAC and no local accounts, API
server exposure, add-ons, Defender, Image Cleaner, the autoscaler profile,
Container Insights and resource logs to a workspace the stack declares) is typed
config in :class:`stacks.model.NewCluster`, validated by :mod:`stacks.rules`.
What each setting becomes in ARM is decided here, as plain dictionaries in the
SDK's ``…ArgsDict`` shapes (snake_case keys), so it is tested without Pulumi and
judged by Azure's own models (tests/support/azure_judge.py). The components
(:mod:`components.cluster`, :mod:`components.monitoring`) only wire them.

The kubeconfig users get is built here too (:func:`kubelogin_kubeconfig`): the
cluster's server and CA from ``listClusterUserCredentials`` with every user
replaced by the kubelogin exec plugin, so no certificate credential — which on a
cluster without Entra ID is as powerful as the admin's — is ever exported.

Values wired from other resources (the workspace ID) are passed through
untouched, so they may be ``pulumi.Output``. Nothing here imports Pulumi.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import yaml

from stacks.model import AutoscalerProfile, MonitoringConfig, NewCluster

if TYPE_CHECKING:  # the types only: at run time this module stays free of Pulumi
    from pulumi_azure_native.containerservice import (
        ManagedClusterAADProfileArgsDict,
        ManagedClusterAddonProfileArgsDict,
        ManagedClusterAPIServerAccessProfileArgsDict,
        ManagedClusterPropertiesAutoScalerProfileArgsDict,
        ManagedClusterSecurityProfileArgsDict,
    )

#: The Entra ID application of the AKS API server (the same in every tenant): kubelogin asks tokens for it.
AKS_SERVER_APP_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"

#: Built-in role "Azure Kubernetes Service RBAC Cluster Admin" (learn.microsoft.com "Azure built-in roles").
ROLE_AKS_RBAC_CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"

#: Add-on names as AKS spells them in ``addonProfiles`` (case matters to ARM's diff).
ADDON_MONITORING = "omsagent"
ADDON_POLICY = "azurepolicy"
ADDON_KEY_VAULT = "azureKeyvaultSecretsProvider"

#: The Container Insights stream and extension (learn.microsoft.com "Enable Container Insights", ARM template).
CONTAINER_INSIGHTS_STREAM = "Microsoft-ContainerInsights-Group-Default"
CONTAINER_INSIGHTS_EXTENSION = "ContainerInsightsExtension"
#: The data collection rule association name AKS and the portal use for Container Insights.
CONTAINER_INSIGHTS_ASSOCIATION = "ContainerInsightsExtension"
WORKSPACE_DESTINATION = "ciworkspace"


def aad_profile(cluster: NewCluster) -> ManagedClusterAADProfileArgsDict | None:
    """The ``aadProfile``: AKS-managed Entra ID integration, or None when ``cluster.entraId.enabled`` is false.

    Args:
        cluster: The ``cluster`` section.

    Returns:
        A ``ManagedClusterAADProfileArgsDict``, or None.
    """
    entra = cluster.entra_id
    if not entra.enabled:
        return None
    profile: dict[str, Any] = {"managed": True, "enable_azure_rbac": entra.azure_rbac}
    if entra.admin_group_object_ids:
        profile["admin_group_object_ids"] = list(entra.admin_group_object_ids)
    if entra.tenant_id is not None:
        profile["tenant_id"] = entra.tenant_id
    return cast("ManagedClusterAADProfileArgsDict", profile)


def api_server_access_profile(cluster: NewCluster) -> ManagedClusterAPIServerAccessProfileArgsDict | None:
    """The ``apiServerAccessProfile``: authorized ranges or a private cluster; None when the API server is open.

    Args:
        cluster: The ``cluster`` section.

    Returns:
        A ``ManagedClusterAPIServerAccessProfileArgsDict``, or None.
    """
    api = cluster.api_server
    if api.private_cluster:
        return {"enable_private_cluster": True}
    if api.authorized_ip_ranges:
        return {"authorized_ip_ranges": [str(r) for r in api.authorized_ip_ranges]}
    return None


def addon_profiles(cluster: NewCluster, workspace_id: Any = None) -> dict[str, ManagedClusterAddonProfileArgsDict] | None:
    """The ``addonProfiles``: Container Insights, Azure Policy, the Key Vault secrets provider.

    Add-on config values are strings in ARM (``"true"``), as the add-ons read them.

    Args:
        cluster: The ``cluster`` section.
        workspace_id: The Log Analytics workspace's ID (an Output); required with Container Insights.

    Returns:
        ``{addon name: ManagedClusterAddonProfileArgsDict}``, or None when no add-on is on.

    Raises:
        ValueError: Container Insights is on and no workspace ID was given.
    """
    out: dict[str, ManagedClusterAddonProfileArgsDict] = {}
    mon = cluster.monitoring
    if mon is not None and mon.container_insights:
        if workspace_id is None:
            raise ValueError("Container Insights needs the workspace ID")
        # Managed-identity auth (useAADAuth): the agent sends through the data collection rule, not a shared key.
        out[ADDON_MONITORING] = {"enabled": True, "config": {"logAnalyticsWorkspaceResourceID": workspace_id,
                                                             "useAADAuth": "true"}}
    if cluster.azure_policy:
        out[ADDON_POLICY] = {"enabled": True}
    kv = cluster.key_vault_secrets_provider
    if kv.enabled:
        out[ADDON_KEY_VAULT] = {"enabled": True, "config": {
            "enableSecretRotation": "true" if kv.secret_rotation else "false",
            "rotationPollInterval": kv.rotation_poll_interval}}
    return out or None


def security_profile(cluster: NewCluster, workspace_id: Any = None) -> ManagedClusterSecurityProfileArgsDict:
    """The ``securityProfile``: workload identity (always), Defender, Image Cleaner.

    Args:
        cluster: The ``cluster`` section.
        workspace_id: The Log Analytics workspace's ID; required with Defender.

    Returns:
        A ``ManagedClusterSecurityProfileArgsDict``.

    Raises:
        ValueError: Defender is on and no workspace ID was given.
    """
    profile: dict[str, Any] = {"workload_identity": {"enabled": True}}
    if cluster.defender:
        if workspace_id is None:
            raise ValueError("Defender needs the workspace ID")
        profile["defender"] = {"log_analytics_workspace_resource_id": workspace_id,
                               "security_monitoring": {"enabled": True}}
    if cluster.image_cleaner.enabled:
        profile["image_cleaner"] = {"enabled": True, "interval_hours": cluster.image_cleaner.interval_hours}
    return cast("ManagedClusterSecurityProfileArgsDict", profile)


def _flag(value: bool) -> str:
    return "true" if value else "false"


def auto_scaler_profile(profile: AutoscalerProfile | None) -> ManagedClusterPropertiesAutoScalerProfileArgsDict | None:
    """The ``autoScalerProfile``: only the keys the stack sets, in the units ARM takes (strings such as ``"10m"``).

    Args:
        profile: ``cluster.autoscalerProfile``.

    Returns:
        A ``ManagedClusterPropertiesAutoScalerProfileArgsDict``, or None (AKS's defaults).
    """
    if profile is None:
        return None
    out: dict[str, Any] = {}
    if profile.expander is not None:
        out["expander"] = profile.expander
    if profile.scan_interval_seconds is not None:
        out["scan_interval"] = f"{profile.scan_interval_seconds}s"
    if profile.scale_down_delay_after_add_minutes is not None:
        out["scale_down_delay_after_add"] = f"{profile.scale_down_delay_after_add_minutes}m"
    if profile.scale_down_unneeded_time_minutes is not None:
        out["scale_down_unneeded_time"] = f"{profile.scale_down_unneeded_time_minutes}m"
    if profile.scale_down_utilization_threshold is not None:
        out["scale_down_utilization_threshold"] = f"{profile.scale_down_utilization_threshold:g}"
    if profile.max_graceful_termination_seconds is not None:
        out["max_graceful_termination_sec"] = str(profile.max_graceful_termination_seconds)
    for field in ("balance_similar_node_groups", "skip_nodes_with_local_storage", "skip_nodes_with_system_pods"):
        value = getattr(profile, field)
        if value is not None:
            out[field] = _flag(value)
    return cast("ManagedClusterPropertiesAutoScalerProfileArgsDict", out) if out else None


def workspace_name(cluster_name: str) -> str:
    """The Log Analytics workspace's name (4-63 characters: letters, digits, '-')."""
    return f"log-{cluster_name.replace('_', '-')}"[:63].rstrip("-")


def workspace_inputs(monitoring: MonitoringConfig, name: str, location: str, tags: dict[str, str]) -> dict[str, Any]:
    """The Log Analytics workspace: pay-as-you-go (PerGB2018), its retention and optional daily cap.

    Returns:
        ``operationalinsights.Workspace`` keyword arguments (without the resource group).
    """
    props: dict[str, Any] = {"workspace_name": name, "location": location, "sku": {"name": "PerGB2018"},
                             "retention_in_days": monitoring.retention_days, "tags": dict(tags)}
    if monitoring.daily_quota_gb is not None:
        props["workspace_capping"] = {"daily_quota_gb": monitoring.daily_quota_gb}
    return props


def diagnostic_setting_inputs(monitoring: MonitoringConfig, name: str, cluster_id: Any,
                              workspace_id: Any) -> dict[str, Any] | None:
    """The cluster's diagnostic setting: the listed control-plane log categories into the workspace.

    Resource-specific tables (``logAnalyticsDestinationType: Dedicated``) are cheaper to query and can use
    the Basic log plan, unlike the shared AzureDiagnostics table.

    Returns:
        ``monitor.DiagnosticSetting`` keyword arguments, or None when no category is listed.
    """
    if not monitoring.diagnostic_categories:
        return None
    return {"name": name, "resource_uri": cluster_id, "workspace_id": workspace_id,
            "log_analytics_destination_type": "Dedicated",
            "logs": [{"category": c, "enabled": True} for c in monitoring.diagnostic_categories]}


def container_insights_rule_inputs(name: str, location: str, workspace_id: Any,
                                   tags: dict[str, str]) -> dict[str, Any]:
    """The data collection rule Container Insights sends through (managed-identity auth).

    Returns:
        ``monitor.DataCollectionRule`` keyword arguments (without the resource group).
    """
    return {
        "data_collection_rule_name": name,
        "location": location,
        "kind": "Linux",
        "data_sources": {"extensions": [{
            "name": CONTAINER_INSIGHTS_EXTENSION,
            "extension_name": "ContainerInsights",
            "streams": [CONTAINER_INSIGHTS_STREAM],
            "extension_settings": {"dataCollectionSettings": {"interval": "1m", "namespaceFilteringMode": "Off",
                                                              "enableContainerLogV2": True}},
        }]},
        "destinations": {"log_analytics": [{"name": WORKSPACE_DESTINATION, "workspace_resource_id": workspace_id}]},
        "data_flows": [{"streams": [CONTAINER_INSIGHTS_STREAM], "destinations": [WORKSPACE_DESTINATION]}],
        "tags": dict(tags),
    }


def kubelogin_kubeconfig(kubeconfig: str, login: str, server_id: str = AKS_SERVER_APP_ID) -> str:
    """A kubeconfig whose every user is the kubelogin exec plugin: no certificate or token leaves Azure.

    The clusters (server, CA) and contexts are kept as ``listClusterUserCredentials`` returned them; each
    user's credentials are dropped and replaced by ``kubelogin get-token --login <login> --server-id …``
    (``AAD_LOGIN_METHOD`` and kubelogin's other variables still apply per run).

    Args:
        kubeconfig: A kubeconfig's text.
        login: ``cluster.entraId.kubeloginLogin`` (azurecli, workloadidentity, spn …).
        server_id: The Entra ID application of the AKS API server.

    Returns:
        The kubeconfig text.

    Raises:
        ValueError: The text is not a kubeconfig.
    """
    doc = yaml.safe_load(kubeconfig)
    if not isinstance(doc, dict):
        raise ValueError("listClusterUserCredentials returned something that is not a kubeconfig")
    users = doc.get("users") or []
    names = [u.get("name") for u in users if isinstance(u, dict) and u.get("name")]
    names += [c.get("context", {}).get("user") for c in doc.get("contexts") or [] if isinstance(c, dict)]
    exec_user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "kubelogin",
            "args": ["get-token", "--login", login, "--server-id", server_id],
            "provideClusterInfo": False,
            "interactiveMode": "IfAvailable",
            "installHint": "kubelogin signs in to Entra ID for this cluster: "
                           "https://azure.github.io/kubelogin/install.html (or `az aks install-cli`)",
        }
    }
    doc["users"] = [{"name": n, "user": exec_user} for n in dict.fromkeys(n for n in names if n)]
    return yaml.safe_dump(doc, sort_keys=False)
