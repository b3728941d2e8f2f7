"""Node-pool selectors: rename old AKS pool names to the new ones, or report.

Why: workloads pinned to a pool with ``nodeSelector`` or node affinity on
``agentpool`` / ``kubernetes.azure.com/agentpool`` stay Pending on a cluster
that has no pool of that name. ``ctx.node_pool_map`` says which new pool takes
over each old one; each value is rewritten in place (one ``replace`` per
string, so list indices never shift). A name that is neither mapped nor known
to exist on the target is reported (:func:`migration.findings.pool_status`).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kube.objects import ObjectRef, pod_specs, ptr
from migration.findings import POOL_LABELS, node_selector_values, pool_status, unmapped_node_pool
from migration.transforms.base import TransformResult, replace
from migration.transforms.context import TransformContext


def applies_to(obj: Mapping[str, Any], ctx: TransformContext) -> bool:
    """Objects whose pod specs select nodes by pool."""
    return any(True for _, spec in pod_specs(obj) for _ in node_selector_values(spec, POOL_LABELS))


def run(obj: dict[str, Any], ctx: TransformContext) -> TransformResult:
    """Rewrite mapped pool names; report unmapped ones."""
    ref = ObjectRef.of(obj)
    ops, findings = [], []
    for tokens, spec in pod_specs(obj):
        for rel, pool, required in node_selector_values(spec, POOL_LABELS):
            status = pool_status(pool, ctx)
            if status == "rewrite":
                ops.append(replace(ctx.node_pool_map[pool], *tokens, *rel))
            elif status == "unmapped":
                findings.append(unmapped_node_pool(ref, ptr(*tokens, *rel), pool, required=required,
                                                   target_known=ctx.target_node_pools is not None))
    return TransformResult.patch(ops, findings)
