"""PersistentVolumes whose data the volume move carries: written as the PV the volume plan decided.

Why a rule, and why whole: the volume plan (:mod:`migration.volumes.plan`)
runs before the transform and knows, for every carried claim, the static PV
green must hold — a copied disk's PV names the copy by the ARM id the plan
already knows, a share's PV the same share, both retained and carrying their
lineage. That PV arrives through the context (``TransformContext.volume_pvs``),
and this rule puts it in place of the source PV, so ``transformed/`` is
written once, by the transform stage, already pointing at the copies: green
never sees the old disk. It runs right after the whiteouts and is final: the
plan's PV is already clean, and the later rules' cleaning of the source PV
would only conflict with it.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from migration.findings import is_core
from migration.transforms.base import TransformResult
from migration.transforms.context import TransformContext


def applies_to(obj: Mapping[str, Any], ctx: TransformContext) -> bool:
    """Core PersistentVolumes the volume plan carries."""
    return is_core(obj, "PersistentVolume") and (obj.get("metadata") or {}).get("name") in ctx.volume_pvs


def run(obj: dict[str, Any], ctx: TransformContext) -> TransformResult:
    """Replace the source PV by the plan's green PV of the same name."""
    return TransformResult.replace_whole(obj, ctx.volume_pvs[obj["metadata"]["name"]])
