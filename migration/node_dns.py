"""The node-local DNS addresses of a target: one table for every policy writer.

Why a module of its own: pods on a target that runs AKS LocalDNS or NodeLocal
DNSCache send their queries to a link-local address on their node instead of
kube-dns, so a policy that locks egress down to "DNS at kube-dns" cuts name
resolution there unless it also allows those addresses. Two writers add that
egress — the Calico translation (:mod:`migration.policies.calico`) and the
``network-policy-dns`` rule for Kubernetes NetworkPolicies
(:mod:`migration.transforms.rules.network_policy_dns`) — and the context
validates ``--target-node-dns`` against the same keys; one table keeps the
three from drifting apart. It imports nothing of the pipeline, so the
transform package and the policy translation can both depend on it.
"""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# Where the target's pods send DNS (``TransformContext.target_node_dns``) → the addresses they query.
NODE_LOCAL_DNS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "localdns": ("169.254.10.10", "169.254.10.11"),  # AKS LocalDNS (kubernetes.azure.com/localdns-state)
    "nodelocaldns": ("169.254.20.10",),  # NodeLocal DNSCache (the node-local-dns DaemonSet)
})

__all__ = ["NODE_LOCAL_DNS"]
