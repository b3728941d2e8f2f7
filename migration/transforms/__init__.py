"""Transform rules turning source objects into objects fit for the target cluster.

Why a package: one rule per module under ``rules/`` (velero restore item
actions, crane-lib plugins), the shared protocol in :mod:`.base`, the facts
rules consult in :mod:`.context`, the ordered list in :mod:`.registry` and the
runner in :mod:`.runner`, the whole no-network stage in :mod:`.stage`. Stages
import from here::

    from migration.transforms import TransformContext, transform, transform_snapshot
    outcome = transform(obj, ctx)                      # one object
    results = transform_snapshot(raw, out, ctx, secret_key=key)   # a snapshot
"""
from migration.transforms.base import TransformResult, apply_ops
from migration.transforms.context import (
                                          DEFAULT_API_VERSION_MAP,
                                          TransformContext,
                                          selectorless_services,
                                          served_with_crds,
)
from migration.transforms.registry import RULE_NAMES, RULES, RegisteredRule
from migration.transforms.runner import Conflict, PatchRecord, TransformOutcome, transform
from migration.transforms.stage import transform_snapshot

__all__ = [
    "DEFAULT_API_VERSION_MAP", "RULES", "RULE_NAMES", "Conflict", "PatchRecord", "RegisteredRule",
    "TransformContext", "TransformOutcome", "TransformResult", "apply_ops", "selectorless_services",
    "served_with_crds", "transform", "transform_snapshot",
]
