"""Workloads the volume move stopped on the source: their replica count (or a CronJob's suspend) restored.

Why: to copy a disk, ``akshift volumes move --quiesce-source`` scales its
writers to 0 (suspends a CronJob) on the source and records the previous
value in ``volumes-state.json``. A snapshot taken after that stop (a re-run
of the inventory) holds the 0; carried as it is, the workload would come up
on green stopped too. The recorded value arrives through the context
(``TransformContext.quiesced_writers``) and is put back, so the workload runs
on green as it ran on blue. A value someone else set (not 0, not suspended)
is left alone.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kube.objects import ObjectRef
from migration.transforms.base import TransformResult, remove, replace
from migration.transforms.context import TransformContext


def applies_to(obj: Mapping[str, Any], ctx: TransformContext) -> bool:
    """Workloads the volume move stopped and has not restored."""
    return bool(ctx.quiesced_writers) and ObjectRef.of(obj).key in ctx.quiesced_writers


def run(obj: dict[str, Any], ctx: TransformContext) -> TransformResult:
    """Set ``spec.replicas`` (``spec.suspend``) back to its value before the stop."""
    previous = ctx.quiesced_writers[ObjectRef.of(obj).key]
    spec = obj.get("spec") or {}
    if obj["kind"] == "CronJob":
        if spec.get("suspend") is True and previous is not True:
            return TransformResult.patch([remove("spec", "suspend") if previous is None
                                          else replace(previous, "spec", "suspend")])
        return TransformResult.patch()
    if spec.get("replicas") == 0 and isinstance(previous, int) and not isinstance(previous, bool) and previous > 0:
        return TransformResult.patch([replace(previous, "spec", "replicas")])
    return TransformResult.patch()
