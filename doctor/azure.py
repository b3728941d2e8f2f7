"""The doctor's only calls to Azure: read a ManagedCluster, and apply one in-place networking update.

Why kept apart and small: tests never run these (the test machines have no
Azure), so everything with a decision in it lives in :mod:`doctor.strategy`
and :mod:`doctor.execute`, which receive these functions as arguments. The
Azure SDK (``azure-identity``, ``azure-mgmt-containerservice``) is optional:
it is imported inside each function, and its absence is an
:class:`~doctor.errors.AzureUnavailable` (exit 3) naming what to install, not
an ImportError at start-up. Credentials come from ``DefaultAzureCredential``
(``az login``, a workload identity, environment variables).

Nothing here has been run against Azure from this repository's CI.
"""
from __future__ import annotations

from typing import Any

from doctor.errors import AzureUnavailable, StepFailed

INSTALL_HINT = "pip install azure-identity azure-mgmt-containerservice (see docs/doctor.md)"


def _client(subscription_id: str) -> Any:
    try:
        from azure.identity import DefaultAzureCredential
        from azure.mgmt.containerservice import ContainerServiceClient
    except ImportError as e:
        raise AzureUnavailable(f"the Azure SDK is not installed ({e.name}); {INSTALL_HINT}") from e
    if not subscription_id:
        raise AzureUnavailable("no subscription ID: pass --subscription or an ARM description whose `id` names it")
    return ContainerServiceClient(DefaultAzureCredential(), subscription_id)


def fetch_managed_cluster(subscription_id: str, resource_group: str, name: str) -> dict[str, Any]:
    """Read one ManagedCluster, in the ARM form :func:`doctor.arm.parse_arm` accepts.

    Args:
        subscription_id: The subscription.
        resource_group: The cluster's resource group.
        name: The cluster's name.

    Returns:
        The cluster as a JSON-ready dict (``properties`` nested, ARM key names).

    Raises:
        AzureUnavailable: The SDK is missing, or Azure refused (no credentials, not found, no rights).
    """
    client = _client(subscription_id)
    try:
        return dict(client.managed_clusters.get(resource_group, name).as_dict())
    except Exception as e:  # azure.core.exceptions.* — the SDK may be absent, so no import of them here
        raise AzureUnavailable(f"cannot read managed cluster {resource_group}/{name}: {e.__class__.__name__}: {e}") from e


def update_network_profile(subscription_id: str, resource_group: str, name: str,
                           changes: dict[str, str]) -> dict[str, Any]:
    """Apply one networking update the way ``az aks update`` does: GET, change ``networkProfile``, PUT, wait.

    Args:
        subscription_id: The subscription.
        resource_group: The cluster's resource group.
        name: The cluster's name.
        changes: ``networkProfile`` fields to set (ARM names: ``networkPluginMode``, ``networkDataplane`` …).

    Returns:
        The cluster after the update, as a dict.

    Raises:
        AzureUnavailable: The SDK is missing.
        StepFailed: Azure refused or failed the update.
    """
    client = _client(subscription_id)
    try:
        cluster = client.managed_clusters.get(resource_group, name)
        cluster["properties"]["networkProfile"].update(changes)
        poller = client.managed_clusters.begin_create_or_update(resource_group, name, cluster)
        return dict(poller.result().as_dict())
    except Exception as e:  # azure.core.exceptions.* — see above
        raise StepFailed(f"updating {resource_group}/{name} networkProfile {changes} failed: "
                               f"{e.__class__.__name__}: {e}") from e
