"""``CiliumOss``: Cilium OSS installed by its Helm chart, for networking mode ``byo-cilium``.

Why it exists: with ``networkPlugin: none`` AKS starts nodes without a CNI;
they stay NotReady until something installs one. This component is that
something: the upstream chart with AKS BYO-CNI support, cluster-pool IPAM on
``networking.podCidr`` and kube-proxy replacement. Values come from
:func:`components.manifests.cilium_values`.

The Kubernetes provider reaches it through the component's options
(``providers``) and ``parent``, as for every child here.
"""
from __future__ import annotations

import dataclasses

import pulumi
from pulumi_kubernetes.helm import v3 as helm

from components import manifests
from stacks.model import CiliumOssConfig, NetworkingConfig

TOKEN = "akshift:index:CiliumOss"


@dataclasses.dataclass(frozen=True)
class CiliumOssArgs:
    """Inputs of :class:`CiliumOss`.

    Attributes:
        networking: The ``networking`` section (mode byo-cilium).
        api_server_host: The cluster's API server FQDN.
        local_redirect_policies: Enable CiliumLocalRedirectPolicy (NodeLocal DNSCache needs it).
    """

    networking: NetworkingConfig
    api_server_host: pulumi.Input[str]
    local_redirect_policies: bool = False


class CiliumOss(pulumi.ComponentResource):
    """The Cilium Helm release.

    Outputs:
        release: The Helm release (depend on it for "the CNI is installed").
    """

    def __init__(self, name: str, args: CiliumOssArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TOKEN, name, None, opts)
        chart = args.networking.cilium or CiliumOssConfig()
        self.release = helm.Release(
            f"{name}-release",
            name="cilium",
            chart="cilium",
            version=chart.version,
            repository_opts={"repo": chart.repository},
            namespace="kube-system",
            values=manifests.cilium_values(
                args.networking, args.api_server_host, local_redirect_policies=args.local_redirect_policies
            ),
            # Nodes are NotReady until the agent runs; wait for it so dependants see a working network.
            skip_await=False,
            timeout=900,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"status": self.release.status})
