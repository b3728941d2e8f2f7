"""``ClusterAddons``: what runs inside the cluster before workloads, and the provider to deploy them.

Why it is shaped so: pulumi-kubernetes resources need a Provider built from the
cluster's kubeconfig output. This component builds it and installs what the
networking mode and DNS choice require — Cilium OSS for ``byo-cilium``, the
NodeLocal DNSCache DaemonSet where LocalDNS is not used — and then offers a
second, *ready* provider that depends on those installs. Anything deployed
through ``ClusterAddons.provider`` therefore waits until the cluster has a
network and its DNS cache, which is what pulumi-eks's ``Cluster.provider`` gives
its users too.
"""
from __future__ import annotations

import dataclasses

import pulumi
import pulumi_kubernetes as k8s

from components.cilium import CiliumOss, CiliumOssArgs
from components.node_local_dns import NodeLocalDnsCache, NodeLocalDnsCacheArgs
from stacks.model import DnsConfig, NetworkingConfig, NetworkingMode, NodeDnsCache

TOKEN = "akshift:index:ClusterAddons"


@dataclasses.dataclass(frozen=True)
class ClusterAddonsArgs:
    """Inputs of :class:`ClusterAddons`.

    Attributes:
        kubeconfig: The cluster's kubeconfig (secret).
        api_server_host: The API server FQDN (Cilium kube-proxy replacement needs it).
        networking: The ``networking`` section; byo-cilium installs Cilium.
        node_dns: The resolved node DNS cache; NODELOCALDNS installs the DaemonSet.
        dns: The ``dns`` section (image of the DNS cache).
    """

    kubeconfig: pulumi.Input[str]
    api_server_host: pulumi.Input[str]
    networking: NetworkingConfig
    node_dns: NodeDnsCache
    dns: DnsConfig = DnsConfig()


class ClusterAddons(pulumi.ComponentResource):
    """Bootstrap add-ons and a ready Kubernetes provider.

    Outputs:
        provider: A Kubernetes provider whose resources wait for the add-ons.
        cilium: The Cilium component (byo-cilium) or None.
        node_local_dns: The NodeLocal DNSCache component or None.
    """

    def __init__(self, name: str, args: ClusterAddonsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TOKEN, name, None, opts)
        byo = args.networking.mode is NetworkingMode.BYO_CILIUM
        wants_dns_cache = args.node_dns is NodeDnsCache.NODELOCALDNS
        installed: list[pulumi.Resource] = []
        self.cilium: CiliumOss | None = None
        self.node_local_dns: NodeLocalDnsCache | None = None

        if byo or wants_dns_cache:
            bootstrap = k8s.Provider(
                f"{name}-bootstrap",
                kubeconfig=args.kubeconfig,
                # The cluster may be gone during `pulumi destroy` of a test stack; don't block on it.
                delete_unreachable=True,
                opts=pulumi.ResourceOptions(parent=self),
            )
            child = pulumi.ResourceOptions(parent=self, providers={"kubernetes": bootstrap})
            if byo:
                self.cilium = CiliumOss(
                    f"{name}-cilium",
                    CiliumOssArgs(args.networking, args.api_server_host, local_redirect_policies=wants_dns_cache),
                    opts=child,
                )
                installed.append(self.cilium)
            if wants_dns_cache:
                self.node_local_dns = NodeLocalDnsCache(
                    f"{name}-node-local-dns",
                    NodeLocalDnsCacheArgs(
                        variant="cilium-lrp" if args.networking.mode.runs_cilium else "iptables",
                        kube_dns_ip=str(args.networking.dns_service_ip),
                        image=args.dns.node_local_dns_image,
                        depends_on=tuple(installed),
                    ),
                    opts=child,
                )
                installed.append(self.node_local_dns)

        self.provider = k8s.Provider(
            f"{name}-provider",
            kubeconfig=args.kubeconfig,
            delete_unreachable=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=installed),
        )
        self.register_outputs({})
