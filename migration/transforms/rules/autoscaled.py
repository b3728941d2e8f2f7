"""Autoscaled replicas: a workload's ``spec.replicas`` belongs to its HorizontalPodAutoscaler.

Why (issue 13 item 3): the HPA writes ``spec.replicas`` through the scale
subresource. Carried as a declared value, it makes verify flap (the HPA has
changed it by the time verify reads) and every re-run of apply fights the HPA.
Left out — what Argo CD and Flux recommend for autoscaled manifests — the
target creates the workload at its default and the carried HPA scales it to
at least ``minReplicas`` at once; verify compares only declared fields, so it
ignores the count.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kube.objects import ObjectRef
from migration.transforms.base import TransformResult, remove
from migration.transforms.context import TransformContext

SCALABLE = frozenset({("apps", "Deployment"), ("apps", "StatefulSet"), ("apps", "ReplicaSet"),
                      ("", "ReplicationController")})


def autoscaled(objs: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    """Keys of the workloads the given HorizontalPodAutoscalers scale.

    Args:
        objs: snapshot objects (non-HPAs are ignored).

    Returns:
        ``group/Kind/namespace/name`` keys.
    """
    keys = set()
    for obj in objs:
        if obj.get("kind") != "HorizontalPodAutoscaler" or not str(obj.get("apiVersion", "")).startswith("autoscaling/"):
            continue
        target = (obj.get("spec") or {}).get("scaleTargetRef") or {}
        group = (target.get("apiVersion") or "").rpartition("/")[0]
        keys.add(ObjectRef(group, target.get("kind") or "", (obj.get("metadata") or {}).get("namespace") or "",
                           target.get("name") or "").key)
    return frozenset(keys)


def applies_to(obj: Mapping[str, Any], ctx: TransformContext) -> bool:
    """Scalable workloads an HPA of the snapshot scales."""
    ref = ObjectRef.of(obj)
    return (ref.group, ref.kind) in SCALABLE and ref.key in ctx.autoscaled


def run(obj: dict[str, Any], ctx: TransformContext) -> TransformResult:
    """Leave ``spec.replicas`` to the HPA."""
    if "replicas" not in (obj.get("spec") or {}):
        return TransformResult.patch()
    return TransformResult.patch([remove("spec", "replicas")])
