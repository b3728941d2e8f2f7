"""Quota: report a namespace the source already holds over its ResourceQuota, before anything is written.

Why (issue 13 item 4): a quota tightened after its objects were created leaves
the namespace over quota; the source keeps the objects, a naive migration
loses some at apply ("exceeded quota"). The applier reproduces them (quotas go
after what they govern, ``kube/order.py``), so nothing is lost — but every pod
the controllers recreate there later is refused, as it would be on the source.
That needs a human, so it is a finding of the transform, read from the quota's
own ``status`` on the source (which the metadata rule then drops).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kube.objects import ObjectRef, quantity
from migration.findings import Finding, Severity, is_core
from migration.transforms.base import TransformResult
from migration.transforms.context import TransformContext

OVER_QUOTA = "namespace-over-quota"


def applies_to(obj: Mapping[str, Any], ctx: TransformContext) -> bool:
    """Core ResourceQuotas with a status."""
    return is_core(obj, "ResourceQuota") and bool((obj.get("status") or {}).get("used"))


def run(obj: dict[str, Any], ctx: TransformContext) -> TransformResult:
    """A warning naming each resource whose use exceeds the hard limit on the source."""
    status = obj.get("status") or {}
    hard, used = status.get("hard") or {}, status.get("used") or {}
    over = []
    for resource, limit in sorted(hard.items()):
        u, h = quantity(used.get(resource)), quantity(limit)
        if u is not None and h is not None and u > h:
            over.append(f"{resource} {used[resource]} > {limit}")
    if not over:
        return TransformResult.patch()
    return TransformResult.patch(findings=[Finding(
        OVER_QUOTA, Severity.WARNING, ObjectRef.of(obj),
        f"the namespace is already over this quota on the source ({'; '.join(over)}): every object is reproduced "
        "(the quota is applied after them), but pods the controllers recreate there are refused until usage drops",
        "raise the quota, or scale down, before or right after cutover", "/spec/hard")])
