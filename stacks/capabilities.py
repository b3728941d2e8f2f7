"""What the AKS API version we deploy with can express, and where LocalDNS can run.

Why it exists: several stack settings are valid only if the ARM API version
behind pulumi-azure-native's ``ManagedCluster`` has the field (kube-proxy
config) or if AKS supports the feature for that mode, OS and Kubernetes version
(LocalDNS). Answering those questions in one pure place keeps the config rules
and the components from drifting apart, and lets ``akshift config validate``
answer without Pulumi.

The API version is not a free choice: pulumi-azure-native 3.x ships one API
version per resource in its default module (``containerservice`` is
2025-09-01 in 3.29) and no longer ships versioned submodules; other versions
need a locally generated SDK (``pulumi package add azure-native
containerservice <version>``). ``tests/test_components.py`` pins
:data:`CONTAINER_SERVICE_API_VERSION` to the installed SDK so an SDK upgrade
forces this table to be revisited.
"""
from __future__ import annotations

import dataclasses
import re

from stacks.model import NetworkingMode, NodeDnsCache

#: ARM API version of pulumi_azure_native.containerservice.ManagedCluster / AgentPool in the pinned SDK.
CONTAINER_SERVICE_API_VERSION = "2025-09-01"


@dataclasses.dataclass(frozen=True)
class ApiFeatures:
    """Fields of the ManagedCluster / AgentPool schema that some stack settings need."""

    kube_proxy_config: bool
    """``networkProfile.kubeProxyConfig``: preview API versions only (…-preview); not in GA 2025-09-01."""
    local_dns_profile: bool
    """``agentPoolProfile.localDNSProfile``: GA from 2025-09-01."""
    network_dataplane: bool
    """``networkProfile.networkDataplane`` (Cilium dataplane)."""


API_FEATURES: dict[str, ApiFeatures] = {
    "2025-09-01": ApiFeatures(kube_proxy_config=False, local_dns_profile=True, network_dataplane=True),
}

#: Oldest Kubernetes minor this project enables LocalDNS on. A conservative floor chosen by us, not an
#: AKS constant: LocalDNS became GA with the 2025-09-01 API while 1.33 was current, and older minors are
#: out of AKS support. Below it, ``dns.nodeCache: auto`` falls back to NodeLocal DNSCache.
LOCAL_DNS_MIN_KUBERNETES: tuple[int, int] = (1, 33)


def api_features(api_version: str = CONTAINER_SERVICE_API_VERSION) -> ApiFeatures:
    """Look up the schema features of an API version.

    Args:
        api_version: An ARM API version from :data:`API_FEATURES`.

    Returns:
        Its features.

    Raises:
        KeyError: For an API version this project has not reviewed.
    """
    return API_FEATURES[api_version]


def kubernetes_minor(version: str) -> tuple[int, int]:
    """``"1.34.2"`` → ``(1, 34)``.

    Raises:
        ValueError: When ``version`` does not start with MAJOR.MINOR.
    """
    m = re.match(r"(\d+)\.(\d+)", version)
    if not m:
        raise ValueError(f"not a Kubernetes version: {version!r}")
    return int(m.group(1)), int(m.group(2))


def local_dns_unsupported_reason(
    mode: NetworkingMode, kubernetes_version: str, api_version: str = CONTAINER_SERVICE_API_VERSION
) -> str | None:
    """Why LocalDNS cannot be used for a cluster, or None when it can (on its Linux pools).

    Windows pools never get LocalDNS; that is per pool and not a reason to refuse it here.

    Args:
        mode: The networking mode.
        kubernetes_version: ``cluster.kubernetesVersion``.
        api_version: ARM API version the cluster is deployed with.

    Returns:
        A sentence fit for an error message, or None.
    """
    if not api_features(api_version).local_dns_profile:
        return f"the ContainerService API {api_version} has no localDNSProfile"
    if mode is NetworkingMode.BYO_CILIUM:
        # AKS does not manage the CNI in BYO mode; LocalDNS's node-level interception is only
        # supported with AKS-managed networking, so we do not rely on it there.
        return "byo-cilium runs a CNI AKS does not manage, so LocalDNS is not used there"
    if kubernetes_minor(kubernetes_version) < LOCAL_DNS_MIN_KUBERNETES:
        floor = ".".join(map(str, LOCAL_DNS_MIN_KUBERNETES))
        return f"Kubernetes {kubernetes_version} is older than {floor}, the oldest version akshift enables LocalDNS on"
    return None


def node_local_dns_unsupported_reason(mode: NetworkingMode) -> str | None:
    """Why the NodeLocal DNSCache DaemonSet cannot be used, or None when it can.

    It needs either kube-proxy's iptables (to intercept the kube-dns IP) or a
    Cilium we configure (Local Redirect Policy). AKS-managed Cilium has neither.

    Args:
        mode: The networking mode.

    Returns:
        A sentence fit for an error message, or None.
    """
    if mode.managed_cilium:
        return (
            f"{mode.value} uses AKS-managed Cilium, which has no kube-proxy to intercept the kube-dns IP "
            "and does not enable Local Redirect Policy"
        )
    return None


def resolve_node_dns_cache(
    requested: NodeDnsCache, mode: NetworkingMode, kubernetes_version: str
) -> NodeDnsCache:
    """Turn ``dns.nodeCache`` into the cache the components build (never AUTO).

    ``auto`` prefers AKS LocalDNS (no DaemonSet of ours to upgrade), then the
    NodeLocal DNSCache DaemonSet where the dataplane allows it, else none.
    Explicit choices are returned as they are; :mod:`stacks.rules` has already
    refused the impossible ones.

    Args:
        requested: ``dns.nodeCache``.
        mode: ``networking.mode``.
        kubernetes_version: ``cluster.kubernetesVersion``.

    Returns:
        LOCALDNS, NODELOCALDNS or NONE.
    """
    if requested is not NodeDnsCache.AUTO:
        return requested
    if local_dns_unsupported_reason(mode, kubernetes_version) is None:
        return NodeDnsCache.LOCALDNS
    if node_local_dns_unsupported_reason(mode) is None:
        return NodeDnsCache.NODELOCALDNS
    return NodeDnsCache.NONE
