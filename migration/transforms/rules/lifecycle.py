"""Lifecycle: an object being deleted on the source is not carried.

Why: ``deletionTimestamp`` is set when someone deleted the object and its
finalizers still hold it (a Terminating namespace, a PVC still mounted).
Carrying it would bring it back to life on the target, Active, without the
deletion that was asked for (issue 13 item 1). It is left out with that reason,
so the report lists it as skipped on purpose.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from migration.transforms.base import TransformResult
from migration.transforms.context import TransformContext


def deleting(obj: Mapping[str, Any]) -> str | None:
    """The object's ``deletionTimestamp`` when it is being deleted, else None."""
    return (obj.get("metadata") or {}).get("deletionTimestamp") or None


def applies_to(obj: Mapping[str, Any], ctx: TransformContext) -> bool:
    """Objects with a ``deletionTimestamp``."""
    return deleting(obj) is not None


def run(obj: dict[str, Any], ctx: TransformContext) -> TransformResult:
    """Leave the object out: it was being deleted when the source was listed."""
    return TransformResult.exclude(f"skipped: being deleted on the source since {deleting(obj)} "
                                   "(deletionTimestamp); carried, it would come back to life")
