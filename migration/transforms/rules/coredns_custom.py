"""kube-system/coredns-custom: merged into the target's, never clobbering it.

Why: AKS's CoreDNS imports ``coredns-custom`` (``*.server`` zones,
``*.override`` snippets); the user's forward zones there are what the apps'
internal names depend on. The target's AKS creates its own ``coredns-custom``
(empty, or already filled by whoever set the new cluster up). Server-side apply
of the ConfigMap merges by key, so carrying only the user's keys adds them and
leaves the target's other keys alone; a key the target already holds with a
*different* value is left out (the target's wins) and reported as a conflict,
because applying it would either fail on field ownership or replace the
target's zone. Keys equal on both sides are kept (a no-op).

With the target unknown (``ctx.target_coredns_custom`` is None) every key is
carried and the finding says the merge was not checked.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kube.objects import ObjectRef
from migration.findings import Finding, Severity, is_core
from migration.transforms.base import TransformResult, remove
from migration.transforms.context import TransformContext

MERGED = "coredns-custom-merged"
CONFLICT = "coredns-custom-conflict"


def applies_to(obj: Mapping[str, Any], ctx: TransformContext) -> bool:
    """The ConfigMap kube-system/coredns-custom."""
    meta = obj.get("metadata") or {}
    return is_core(obj, "ConfigMap") and meta.get("namespace") == "kube-system" and meta.get("name") == "coredns-custom"


def run(obj: dict[str, Any], ctx: TransformContext) -> TransformResult:
    """Drop the keys the target holds with another value (a conflict finding); report the merged keys."""
    ref = ObjectRef.of(obj)
    data = obj.get("data") or {}
    target = ctx.target_coredns_custom
    conflicts = sorted(k for k in data if target is not None and k in target and target[k] != data[k])
    carried = sorted(k for k in data if k not in conflicts)
    findings = []
    if conflicts:
        findings.append(Finding(
            CONFLICT, Severity.WARNING, ref,
            f"the target's coredns-custom already holds {', '.join(conflicts)} with other content: the target's "
            "is kept and the source's left out",
            "compare the two versions of these keys and merge them by hand into the target's coredns-custom "
            "(kubectl -n kube-system edit configmap coredns-custom); CoreDNS reloads it", "/data"))
    checked = "" if target is not None else " (the target's coredns-custom was not read: no --target)"
    if carried:
        findings.append(Finding(
            MERGED, Severity.INFO, ref,
            f"user DNS configuration {', '.join(carried)} merged into the target's coredns-custom{checked}; "
            "the target's own keys are left as they are",
            "check name resolution of these zones from a pod on the target "
            "(kubectl run -it --rm dnsutils --image=busybox -- nslookup <name>)", "/data"))
    return TransformResult.patch([remove("data", k) for k in conflicts], findings)
