"""NetworkPolicy ipBlocks on the old kubenet pod CIDR: rewrite to the target pod CIDR, or report.

Why: under kubenet, pods got addresses from ``source_pod_cidr`` (10.244.0.0/16
by default) and policies often allow "all pods" by that CIDR, or allow
"everything except pods" with it in an ``except`` list. On the target, pods
live in ``target_pod_cidr``. A CIDR *equal* to the old pod CIDR means "all
pods" and is rewritten; a subnet of it (one kubenet node's range) or a
supernet that does not cover the target has no faithful rewrite and becomes a
finding (see :func:`migration.findings.cidr_status` for the cases).

The API server requires ``except`` entries to lie inside the block's
``cidr``, so a block is rewritten only as a whole: if its ``cidr`` equals the
old pod CIDR but an ``except`` entry is a node range, or if an ``except``
equal to the old pod CIDR would land outside a ``cidr`` that does not contain
the target range, nothing in that block changes and every overlapping entry
is reported. With a Cilium target even a rewritten CIDR no longer matches
pod-to-pod traffic; :func:`migration.findings.find` reports that.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kube.objects import ObjectRef, Tokens, ptr
from migration.findings import cidr_status, contains, ipblock_peers, network, old_pod_cidr
from migration.transforms.base import Op, TransformResult, replace
from migration.transforms.context import TransformContext


def applies_to(obj: Mapping[str, Any], ctx: TransformContext) -> bool:
    """NetworkPolicies (networking.k8s.io) with at least one ipBlock."""
    return any(True for _ in ipblock_peers(obj))


Flagged = list[tuple[Tokens, str, str]]  # (tokens, cidr, why)


def _block_ops(base: Tokens, block: Mapping[str, Any], ctx: TransformContext) -> tuple[list[Op], Flagged]:
    """Rewrites for one ipBlock, or the entries to report when it cannot be rewritten whole."""
    entries: list[tuple[Tokens, str]] = []
    if isinstance(block.get("cidr"), str):
        entries.append(((*base, "cidr"), block["cidr"]))
    entries += [((*base, "except", k), c) for k, c in enumerate(block.get("except") or ())]
    statuses = [(tokens, cidr, *cidr_status(cidr, ctx)) for tokens, cidr in entries]
    target = network(ctx.target_pod_cidr)
    cidr_rewritten = bool(statuses) and statuses[0][0][-1] == "cidr" and statuses[0][2] == "rewrite"
    outer = target if cidr_rewritten else network(block.get("cidr"))
    fits = contains(outer, target)
    flagged = [(t, c, why) for t, c, status, why in statuses if status == "flag"
               or (status == "rewrite" and not fits)]
    if flagged:
        # Rewriting part of a block would put except entries outside its cidr (rejected by validation).
        return [], [(t, c, why) for t, c, status, why in statuses if status != "ok"]
    return [replace(ctx.target_pod_cidr, *t) for t, _, status, _ in statuses if status == "rewrite"], []


def run(obj: dict[str, Any], ctx: TransformContext) -> TransformResult:
    """Rewrite blocks naming the old pod CIDR when they can be rewritten whole; report the others."""
    ref = ObjectRef.of(obj)
    ops, findings = [], []
    for base, block in ipblock_peers(obj):
        block_ops, flagged = _block_ops(base, block, ctx)
        ops += block_ops
        findings += [old_pod_cidr(ref, ptr(*t), cidr, why, cilium=ctx.cilium_target) for t, cidr, why in flagged]
    return TransformResult.patch(ops, findings)
