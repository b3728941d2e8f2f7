"""Bare Pods: drop what binds them to the old cluster (velero ``pod_action.go``).

Only Pods without a controller reach this rule (owned Pods are whited out).

Why each change:

* ``spec.nodeName`` names an old node; a Pod created with it skips the
  scheduler and waits forever for a kubelet that does not exist.
* ``spec.priority`` is resolved from ``priorityClassName`` at admission; the
  Priority admission plugin rejects a Pod whose number disagrees with its
  class on the target, so the number goes when the class is named.
* ``spec.ephemeralContainers`` cannot be set on create (debug containers
  are added through the subresource only).
* The service-account token volume the admission plugin injected
  (``kube-api-access-*``, or the legacy ``<sa>-token-*`` Secret volume) holds
  an old-cluster token; the target's admission plugin injects a fresh one.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kube.objects import all_containers
from migration.findings import is_core
from migration.transforms.base import TransformResult, remove, replace
from migration.transforms.context import TransformContext

TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


def applies_to(obj: Mapping[str, Any], ctx: TransformContext) -> bool:
    """Core Pods."""
    return is_core(obj, "Pod")


def _token_volumes(spec: Mapping[str, Any]) -> set[str]:
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    names = set()
    for volume in spec.get("volumes") or ():
        name = volume.get("name") or ""
        if name.startswith("kube-api-access-") and "projected" in volume:
            names.add(name)
        elif name.startswith(f"{account}-token-") and "secret" in volume:
            names.add(name)
    return names


def run(obj: dict[str, Any], ctx: TransformContext) -> TransformResult:
    """Remove nodeName, a class-derived priority, ephemeral containers and injected token volumes."""
    spec = obj.get("spec") or {}
    ops = []
    if "nodeName" in spec:
        ops.append(remove("spec", "nodeName"))
    if "priority" in spec and spec.get("priorityClassName"):
        ops.append(remove("spec", "priority"))
    if "ephemeralContainers" in spec:
        ops.append(remove("spec", "ephemeralContainers"))
    token_volumes = _token_volumes(spec)
    if token_volumes:
        volumes = [v for v in spec["volumes"] if v.get("name") not in token_volumes]
        ops.append(replace(volumes, "spec", "volumes") if volumes else remove("spec", "volumes"))
        for tokens, container in all_containers(spec):
            mounts = container.get("volumeMounts") or []
            kept = [m for m in mounts if m.get("name") not in token_volumes]
            if kept != mounts:
                ops.append(replace(kept, "spec", *tokens, "volumeMounts") if kept
                           else remove("spec", *tokens, "volumeMounts"))
    return TransformResult.patch(ops)
