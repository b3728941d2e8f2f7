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
containerservice <version>``). ``tests/mocks/test_components.py`` pins
:data:`CONTAINER_SERVICE_API_VERSION` to the installed SDK so an SDK upgrade
forces this table to be revisited.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from stacks import versions
from stacks.model import NetworkingMode, NodeDnsCache, NodePool

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

#: Smallest VM (vCPUs) AKS runs LocalDNS on, and the smallest akshift accepts for a System pool; B-series
#: (burstable) sizes are refused for both (AKS LocalDNS requirements; AKS system node pool guidance).
MIN_VCPUS = 4
#: AKS refuses System pools that cannot run its critical add-ons next to user pods.
SYSTEM_POOL_MIN_MAX_PODS = 30
#: LocalDNS ``Preferred`` installs LocalDNS only from this minor on; before it (1.31-1.36) it only validates the
#: configuration. From this minor on, pools without a localDNSProfile default to Preferred.
LOCAL_DNS_PREFERRED_INSTALLS_FROM: tuple[int, int] = (1, 37)

_VM_SIZE = re.compile(r"Standard_(?P<family>[A-Z]+)(?P<vcpus>\d+)(?:-(?P<constrained>\d+))?")


def vm_vcpus(vm_size: str) -> int | None:
    """vCPUs of an Azure VM size from its name (``Standard_D4ds_v5`` → 4, ``Standard_E8-2ds_v5`` → 2).

    Returns:
        The count, or None when the name does not follow Azure's naming convention.
    """
    m = _VM_SIZE.match(vm_size)
    if not m:
        return None
    return int(m["constrained"] or m["vcpus"])


def is_burstable(vm_size: str) -> bool:
    """B-series (burstable) sizes: CPU credits run out under steady load."""
    m = _VM_SIZE.match(vm_size)
    return m is not None and m["family"].startswith("B")


def small_vm_reason(vm_size: str) -> str | None:
    """Why a VM size is too small for a System or LocalDNS pool, or None."""
    if is_burstable(vm_size):
        return f"{vm_size} is a B-series (burstable) size"
    n = vm_vcpus(vm_size)
    if n is not None and n < MIN_VCPUS:
        return f"{vm_size} has {n} vCPU(s), fewer than {MIN_VCPUS}"
    return None


def effective_minor(kubernetes_version: str | None) -> tuple[int, int]:
    """The minor a cluster runs: the configured one, or AKS's default when unset."""
    if kubernetes_version is None:
        return versions.aks_default(versions.today())
    return versions.minor_of(kubernetes_version)


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


kubernetes_minor = versions.minor_of

#: The last Kubernetes minor each Windows OS SKU of API 2025-09-01 runs on (AKS Windows support policy:
#: Windows Server 2019 ends with 1.32, Windows Server 2022 with 1.34). Newer minors need Windows Server 2025,
#: which this API version cannot express.
WINDOWS_SKU_LAST_MINOR: dict[str, tuple[int, int]] = {"Windows2019": (1, 32), "Windows2022": (1, 34)}
#: What AKS picks for a Windows pool without osSku (API 2025-09-01: Windows2022 from Kubernetes 1.25).
WINDOWS_DEFAULT_SKU = "Windows2022"


def windows_sku_unavailable_reason(os_sku: str | None, minor: tuple[int, int]) -> str | None:
    """Why a Windows pool cannot be created on ``minor`` with ``os_sku`` (None: AKS's default), or None."""
    sku = os_sku or WINDOWS_DEFAULT_SKU
    last = WINDOWS_SKU_LAST_MINOR.get(sku)
    if last is None or minor <= last:
        return None
    label = f"{minor[0]}.{minor[1]}"
    newer = [s for s, m in WINDOWS_SKU_LAST_MINOR.items() if m >= minor]
    fix = (f"use osSku {newer[0]}" if newer else
           f"keep the cluster at {last[0]}.{last[1]} or earlier for Windows pools (Windows Server 2025 needs an API "
           f"version newer than {CONTAINER_SERVICE_API_VERSION}), or move the workloads off Windows")
    default = "" if os_sku else " (the default osSku)"
    return f"{sku}{default} is retired for Kubernetes {label} (last: {last[0]}.{last[1]}); {fix}"


def local_dns_unsupported_reason(
    mode: NetworkingMode, kubernetes_version: str | None, api_version: str = CONTAINER_SERVICE_API_VERSION
) -> str | None:
    """Why LocalDNS cannot be used for a cluster, or None when it can (on its Linux pools).

    Windows pools never get LocalDNS; that is per pool and not a reason to refuse it here.

    Args:
        mode: The networking mode.
        kubernetes_version: ``cluster.kubernetesVersion`` (None: AKS's default).
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
    if effective_minor(kubernetes_version) < LOCAL_DNS_MIN_KUBERNETES:
        floor = ".".join(map(str, LOCAL_DNS_MIN_KUBERNETES))
        return f"Kubernetes {kubernetes_version} is older than {floor}, the oldest version akshift enables LocalDNS on"
    return None


def pools_without_local_dns(node_pools: Iterable[NodePool]) -> list[tuple[int, str]]:
    """Linux pools LocalDNS cannot run on, with the reason: ``[(index, why)]``."""
    out = []
    for i, pool in enumerate(node_pools):
        why = small_vm_reason(pool.vm_size) if pool.os_type == "Linux" else None
        if why:
            out.append((i, why))
    return out


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
    requested: NodeDnsCache, mode: NetworkingMode, kubernetes_version: str | None,
    node_pools: Iterable[NodePool] = (),
) -> NodeDnsCache:
    """Turn ``dns.nodeCache`` into the cache the components build (never AUTO).

    ``auto`` prefers AKS LocalDNS (no DaemonSet of ours to upgrade), then the
    NodeLocal DNSCache DaemonSet where the dataplane allows it, else none.
    Explicit choices are returned as they are; :mod:`stacks.rules` has already
    refused the impossible ones.

    Args:
        requested: ``dns.nodeCache``.
        mode: ``networking.mode``.
        kubernetes_version: ``cluster.kubernetesVersion`` (None: AKS's default).
        node_pools: The pools; LocalDNS needs every Linux pool to be large enough.

    Returns:
        LOCALDNS, NODELOCALDNS or NONE.
    """
    if requested is not NodeDnsCache.AUTO:
        return requested
    if local_dns_unsupported_reason(mode, kubernetes_version) is None and not pools_without_local_dns(node_pools):
        return NodeDnsCache.LOCALDNS
    if node_local_dns_unsupported_reason(mode) is None:
        return NodeDnsCache.NODELOCALDNS
    return NodeDnsCache.NONE
