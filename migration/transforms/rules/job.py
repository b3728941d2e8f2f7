"""Job: drop the selector and labels the Job controller generated (velero ``job_action.go``).

Why: unless ``spec.manualSelector`` is true, the API server generates
``spec.selector`` matching a ``controller-uid`` label that holds the Job's
old uid, and adds it (and ``job-name``) to the pod template. Applying them
unchanged is rejected (the selector does not match the new uid) or, with
manualSelector, would adopt unrelated pods. Removing them lets the target
generate fresh ones. The same labels are also copied onto the Job's own
``metadata.labels`` when the user gave none (label defaulting); they are
removed there too when their values are the generated ones. A manual selector
is the user's and is kept.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kube.objects import group_of
from migration.transforms.base import Op, TransformResult, remove
from migration.transforms.context import TransformContext

GENERATED_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid",
                    "job-name", "batch.kubernetes.io/job-name")


def applies_to(obj: Mapping[str, Any], ctx: TransformContext) -> bool:
    """batch Jobs whose selector is generated."""
    return obj.get("kind") == "Job" and group_of(obj) == "batch" \
        and (obj.get("spec") or {}).get("manualSelector") is not True


def run(obj: dict[str, Any], ctx: TransformContext) -> TransformResult:
    """Remove spec.selector and the generated template labels."""
    spec = obj.get("spec") or {}
    ops = [remove("spec", "selector")] if "selector" in spec else []
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    ops += _drop_labels(template_labels, template_labels, ("spec", "template", "metadata", "labels"))
    own_labels = (obj.get("metadata") or {}).get("labels") or {}
    ops += _drop_labels(own_labels, template_labels, ("metadata", "labels"))
    return TransformResult.patch(ops)


def _drop_labels(labels: Mapping[str, str], generated: Mapping[str, str], tokens: tuple[str, ...]) -> list[Op]:
    """Remove generated labels whose value is the generated one (the whole map when nothing else is left)."""
    dropped = [k for k in GENERATED_LABELS if k in labels and labels[k] == generated.get(k)]
    if dropped and len(dropped) == len(labels):
        return [remove(*tokens)]
    return [remove(*tokens, k) for k in dropped]
