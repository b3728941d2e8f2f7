"""``NodeLocalDnsCache``: the NodeLocal DNSCache DaemonSet, where AKS LocalDNS is not available.

Why it exists: CoreDNS timeouts from the conntrack race are one of the kubenet
pains this project removes. AKS LocalDNS solves it natively and is preferred;
where it is not used (``byo-cilium``, older Kubernetes, or asked for
explicitly) this component deploys the upstream node-cache DaemonSet instead,
in the variant the dataplane needs (see :mod:`components.manifests`).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import manifests

TOKEN = "akshift:index:NodeLocalDnsCache"


@dataclasses.dataclass(frozen=True)
class NodeLocalDnsCacheArgs:
    """Inputs of :class:`NodeLocalDnsCache`.

    Attributes:
        variant: ``iptables`` (kube-proxy) or ``cilium-lrp`` (Cilium kube-proxy replacement).
        kube_dns_ip: ``networking.dnsServiceIP``.
        image: ``dns.nodeLocalDnsImage``.
        depends_on: Resources to wait for (the Cilium release: the LRP kind is Cilium's).
    """

    variant: manifests.Variant
    kube_dns_ip: str
    image: str
    depends_on: tuple[pulumi.Resource, ...] = ()


def _build(kind: str) -> Callable[..., pulumi.CustomResource]:
    table: dict[str, Callable[..., pulumi.CustomResource]] = {
        "ServiceAccount": lambda n, o, opts: k8s.core.v1.ServiceAccount(n, metadata=o["metadata"], opts=opts),
        "Service": lambda n, o, opts: k8s.core.v1.Service(n, metadata=o["metadata"], spec=o["spec"], opts=opts),
        "ConfigMap": lambda n, o, opts: k8s.core.v1.ConfigMap(n, metadata=o["metadata"], data=o["data"], opts=opts),
        "DaemonSet": lambda n, o, opts: k8s.apps.v1.DaemonSet(n, metadata=o["metadata"], spec=o["spec"], opts=opts),
    }
    if kind in table:
        return table[kind]
    return lambda n, o, opts: k8s.apiextensions.CustomResource(
        n, api_version=o["apiVersion"], kind=o["kind"], metadata=o["metadata"], spec=o["spec"], opts=opts
    )


class NodeLocalDnsCache(pulumi.ComponentResource):
    """NodeLocal DNSCache objects in kube-system.

    Outputs:
        objects: The created Kubernetes resources by ``<kind>/<name>``.
    """

    def __init__(self, name: str, args: NodeLocalDnsCacheArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TOKEN, name, None, opts)
        self.objects: dict[str, Any] = {}
        for obj in manifests.node_local_dns_objects(args.variant, kube_dns_ip=args.kube_dns_ip, image=args.image):
            key = f"{obj['kind']}/{obj['metadata']['name']}"
            self.objects[key] = _build(obj["kind"])(
                f"{name}-{obj['kind'].lower()}",
                obj,
                pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
            )
        self.register_outputs({})
