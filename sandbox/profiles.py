"""What the sandbox's two clusters look like: blue (kubenet-era AKS) and green (Overlay + Cilium AKS).

Why data and not code: the migration rules (node-pool rewrites, pod-CIDR
rewrites, the doctor's kubenet checks) read node labels, annotations and pod
CIDRs exactly as AKS sets them; keeping each cluster's shape in one table makes
the sandbox an honest stand-in and makes it easy to add a profile.
"""
from __future__ import annotations

import dataclasses
import zlib
from typing import Any


@dataclasses.dataclass(frozen=True)
class NodePool:
    name: str
    mode: str  # System | User
    vm_size: str
    share: float  # fraction of the cluster's nodes in this pool
    zones: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class ClusterProfile:
    """The shape of one sandbox cluster."""

    name: str
    pod_cidr: str
    service_cidr: str
    node_resource_group: str
    pools: tuple[NodePool, ...]
    network_labels: tuple[tuple[str, str], ...]
    region: str = "westeurope"
    kubernetes_version: str = "v1.36.3"
    # What AKS installs in kube-system on such a cluster, as stand-ins the sandbox creates at start
    # (a file of sandbox/aks/), or None: blue's kube-system content comes from its seeds or the corpus.
    aks_kube_system: str | None = None

    def node_cidr_mask(self, nodes: int) -> int:
        # /24 per node is what kubenet and Overlay hand out; past 256 nodes a /16
        # pod CIDR runs out, so the sandbox narrows to /26 (1,024 nodes) rather
        # than change the CIDR the migration rules are tested against.
        return 24 if nodes <= 256 else 26


BLUE = ClusterProfile(
    name="blue",
    pod_cidr="10.244.0.0/16",
    service_cidr="10.0.0.0/16",
    node_resource_group="MC_rg-shop-prod_aks-shop-prod_westeurope",
    pools=(
        NodePool("nodepool1", "System", "Standard_D4s_v3", 0.34, ("westeurope-1",)),
        NodePool("userpool", "User", "Standard_D8s_v3", 0.66, ("westeurope-1",)),
    ),
    network_labels=(
        ("kubernetes.azure.com/network-plugin", "kubenet"),
        ("kubernetes.azure.com/network-policy", "calico"),
    ),
)

GREEN = ClusterProfile(
    name="green",
    pod_cidr="192.168.0.0/16",
    service_cidr="10.0.0.0/16",
    node_resource_group="MC_rg-shop-prod_aks-shop-green_westeurope",
    pools=(
        NodePool("system", "System", "Standard_D4ds_v5", 0.34, ("westeurope-1", "westeurope-2", "westeurope-3")),
        NodePool("apps", "User", "Standard_D8ds_v5", 0.66, ("westeurope-1", "westeurope-2", "westeurope-3")),
    ),
    network_labels=(
        ("kubernetes.azure.com/network-plugin", "azure"),
        ("kubernetes.azure.com/azure-cni-overlay", "true"),
        ("kubernetes.azure.com/podnetwork-type", "overlay"),
        ("kubernetes.azure.com/ebpf-dataplane", "cilium"),
        ("kubernetes.azure.com/network-policy", "cilium"),
    ),
    aks_kube_system="overlay-cilium.yaml",
)

PROFILES = {p.name: p for p in (BLUE, GREEN)}

VM_CAPACITY = {
    "Standard_D4s_v3": ("4", "16Gi"), "Standard_D8s_v3": ("8", "32Gi"),
    "Standard_D4ds_v5": ("4", "16Gi"), "Standard_D8ds_v5": ("8", "32Gi"),
}


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def pool_sizes(profile: ClusterProfile, nodes: int) -> list[tuple[NodePool, int]]:
    """Split ``nodes`` over the pools by share, at least one node per pool.

    >>> [(p.name, n) for p, n in pool_sizes(BLUE, 3)]
    [('nodepool1', 1), ('userpool', 2)]
    """
    sizes = [max(1, round(nodes * p.share)) for p in profile.pools]
    sizes[-1] = max(1, nodes - sum(sizes[:-1]))
    return list(zip(profile.pools, sizes, strict=True))


def node_objects(profile: ClusterProfile, nodes: int) -> list[dict[str, Any]]:
    """Node objects as AKS would register them, annotated for kwok to manage.

    Args:
        profile: blue or green.
        nodes: how many (3 to 1,000).

    Returns:
        Node dicts ready to POST (status included: kwok then keeps them Ready).
    """
    out = []
    for pool, count in pool_sizes(profile, nodes):
        vmss = f"aks-{pool.name}-{zlib.crc32((profile.name + pool.name).encode()) % 10**8:08d}-vmss"
        cpu, mem = VM_CAPACITY[pool.vm_size]
        for i in range(count):
            name = f"{vmss}{_base36(i):0>6}"  # AKS names VMSS instances in base 36: vmss00000a
            zone = pool.zones[i % len(pool.zones)]
            labels = {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/role": "agent",
                "node-role.kubernetes.io/agent": "",
                "agentpool": pool.name,
                "kubernetes.azure.com/agentpool": pool.name,
                "kubernetes.azure.com/mode": pool.mode.lower(),
                "kubernetes.azure.com/role": "agent",
                "kubernetes.azure.com/cluster": profile.node_resource_group,
                "kubernetes.azure.com/os-sku": "Ubuntu",
                "kubernetes.azure.com/node-image-version": "AKSUbuntu-2204gen2containerd-202611.02.0",
                "node.kubernetes.io/instance-type": pool.vm_size,
                "beta.kubernetes.io/instance-type": pool.vm_size,
                "topology.kubernetes.io/region": profile.region,
                "topology.kubernetes.io/zone": zone,
                "topology.disk.csi.azure.com/zone": zone,
                "type": "kwok",
                **dict(profile.network_labels),
            }
            out.append({
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "labels": labels,
                    "annotations": {
                        "kwok.x-k8s.io/node": "fake",
                        "node.alpha.kubernetes.io/ttl": "0",
                        "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                    },
                },
                "spec": {
                    "providerID": f"azure:///subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/"
                                  f"{profile.node_resource_group.lower()}/providers/Microsoft.Compute/"
                                  f"virtualMachineScaleSets/{vmss}/virtualMachines/{i}",
                },
                "status": {
                    "capacity": {"cpu": cpu, "memory": mem, "pods": "110", "ephemeral-storage": "128Gi"},
                    "allocatable": {"cpu": cpu, "memory": mem, "pods": "110", "ephemeral-storage": "120Gi"},
                    "nodeInfo": {
                        "architecture": "amd64", "operatingSystem": "linux", "osImage": "Ubuntu 22.04.5 LTS",
                        "kubeletVersion": profile.kubernetes_version, "kubeProxyVersion": "",
                        "containerRuntimeVersion": "containerd://1.7.27-1", "kernelVersion": "5.15.0-1079-azure",
                        "machineID": "", "systemUUID": "", "bootID": "",
                    },
                },
            })
    return out
