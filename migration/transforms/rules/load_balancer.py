"""LoadBalancer addresses: rewrite old public IPs and the old node resource group, or report.

Why: a kubenet-era Service may pin its frontend with ``spec.loadBalancerIP``
or the cloud-provider-azure annotations (``azure-load-balancer-ipv4``,
``azure-pip-name`` …), and name where the public IP lives with
``azure-load-balancer-resource-group`` — often the old ``MC_…`` node resource
group, which is deleted with the old cluster. When the plan maps an old IP
or PIP name (``ctx.public_ip_map``) or the old node resource group
(``ctx.new_node_resource_group``), the value is rewritten; otherwise it is
kept as is and reported, because only a human can move an IP between load
balancers at cutover. Every pinned address also gets a ``static-public-ip``
finding from :func:`migration.findings.find`, rewritten or not: the new IP
must exist and be usable by the new cluster.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kube.objects import ObjectRef
from migration.findings import LB_RESOURCE_GROUP_ANNOTATION, is_core, lb_old_resource_group, load_balancer_pins, ptr
from migration.transforms.base import TransformResult, replace
from migration.transforms.context import TransformContext


def applies_to(obj: Mapping[str, Any], ctx: TransformContext) -> bool:
    """Core Services that pin an address or name a load-balancer resource group."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return is_core(obj, "Service") and (LB_RESOURCE_GROUP_ANNOTATION in annotations
                                        or any(True for _ in load_balancer_pins(obj)))


def run(obj: dict[str, Any], ctx: TransformContext) -> TransformResult:
    """Rewrite mapped IPs/PIP names and the old node resource group; report the old group if unmapped."""
    ops, findings = [], []
    for tokens, value in load_balancer_pins(obj):
        new = ctx.public_ip_map.get(value)
        if new is not None and new != value:
            ops.append(replace(new, *tokens))
    group = ((obj.get("metadata") or {}).get("annotations") or {}).get(LB_RESOURCE_GROUP_ANNOTATION)
    old = ctx.old_node_resource_group
    if group and old and group.lower() == old.lower():
        tokens = ("metadata", "annotations", LB_RESOURCE_GROUP_ANNOTATION)
        if ctx.new_node_resource_group:
            ops.append(replace(ctx.new_node_resource_group, *tokens))
        else:
            findings.append(lb_old_resource_group(ObjectRef.of(obj), ptr(*tokens), group))
    return TransformResult.patch(ops, findings)
