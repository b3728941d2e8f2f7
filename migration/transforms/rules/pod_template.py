"""Pod templates: drop the noise the API server and controllers leave in them.

Why each change:

* ``creationTimestamp: null`` appears in every template and
  volumeClaimTemplate the API server returns (an artefact of Go's
  ObjectMeta serialisation); it is not user data and clutters diffs. A
  template ``metadata`` holding nothing else is removed whole.
* ``status`` of StatefulSet volumeClaimTemplates is likewise serialisation noise.
* ``pod-template-hash`` is added by the Deployment controller to the
  template and selector of the ReplicaSets it owns. Owned ReplicaSets are
  whited out, so this only matters for bare ReplicaSets that were once
  adopted; the target's Deployment computes its own hash.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kube.objects import Tokens, group_of, pod_specs
from migration.transforms.base import Op, TransformResult, remove
from migration.transforms.context import TransformContext

HASH_LABEL = "pod-template-hash"


def applies_to(obj: Mapping[str, Any], ctx: TransformContext) -> bool:
    """Objects with a pod template, and StatefulSets (claim templates)."""
    return obj.get("kind") != "Pod" and (any(True for _ in pod_specs(obj)) or obj.get("kind") == "StatefulSet")


def _get(obj: Mapping[str, Any], tokens: Tokens) -> Any:
    node: Any = obj
    for t in tokens:
        if isinstance(node, Mapping):
            node = node.get(t)
        elif isinstance(node, list) and isinstance(t, int) and t < len(node):
            node = node[t]
        else:
            return None
    return node


def run(obj: dict[str, Any], ctx: TransformContext) -> TransformResult:
    """Remove template creationTimestamps, claim-template status and pod-template-hash."""
    ops: list[Op] = []
    metas: list[Tokens] = [tokens[:-1] + ("metadata",) for tokens, _ in pod_specs(obj)]
    if obj.get("kind") == "CronJob":
        metas.append(("spec", "jobTemplate", "metadata"))
    for i, claim in enumerate((obj.get("spec") or {}).get("volumeClaimTemplates") or ()):
        metas.append(("spec", "volumeClaimTemplates", i, "metadata"))
        if "status" in claim:
            ops.append(remove("spec", "volumeClaimTemplates", i, "status"))
    for tokens in metas:
        meta = _get(obj, tokens)
        if isinstance(meta, Mapping) and "creationTimestamp" in meta:
            # A metadata holding nothing else goes whole, rather than leaving "metadata: {}" behind.
            ops.append(remove(*tokens) if len(meta) == 1 else remove(*tokens, "creationTimestamp"))
    if obj.get("kind") == "ReplicaSet" and group_of(obj) == "apps":
        for tokens in (("spec", "template", "metadata", "labels"), ("spec", "selector", "matchLabels")):
            if HASH_LABEL in (_get(obj, tokens) or {}):
                ops.append(remove(*tokens, HASH_LABEL))
    return TransformResult.patch(ops)
