"""Verification helpers: compare only what the desired object declares, and wait for workloads to be ready.

Why "declared fields only" (kopf's ``DiffScope.LEFT``): the target's API
server adds defaults (``protocol: TCP``, ``revisionHistoryLimit``, new
annotations), so a whole-object comparison would report noise; a field the
migration declared and the target lacks or changed is what matters.
Quantities are compared by value (``0.5`` CPU is stored as ``500m``).

Why readiness is judged against the source: a StatefulSet whose volumes never
bound on the old cluster cannot be required to be Ready on the new one; the
target must reach at least the state the source was in when it was listed.
"""
from __future__ import annotations

import re
import time
from decimal import Decimal, InvalidOperation
from typing import Any

from kube.client import KubeClient
from kube.objects import WORKLOAD_KINDS, ObjectRef, is_ready, quantity

def declared_diff(desired: Any, live: Any, path: str = "") -> list[str]:
    """Differences in the fields ``desired`` declares; extra fields of ``live`` are ignored.

    >>> declared_diff({"spec": {"replicas": 2, "x": {}}}, {"spec": {"replicas": 3, "y": 1}})
    ['/spec/replicas: want 2, have 3']
    >>> declared_diff({"cpu": "0.5"}, {"cpu": "500m"})
    []
    """
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return [] if not desired else [f"{path or '/'}: want an object, have {_short(live)}"]
        out = []
        for k, v in desired.items():
            if k not in live:
                if v in ({}, [], None, ""):
                    continue  # the server drops empty values
                out.append(f"{path}/{k}: missing")
            else:
                out += declared_diff(v, live[k], f"{path}/{k}")
        return out
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            if not desired and not live:
                return []
            return [f"{path}: want {len(desired)} item(s), have {_short(live)}"]
        return [d for i, (a, b) in enumerate(zip(desired, live)) for d in declared_diff(a, b, f"{path}/{i}")]
    if desired == live:
        return []
    qa, qb = quantity(desired), quantity(live)
    if qa is not None and qa == qb:
        return []
    return [f"{path}: want {_short(desired)}, have {_short(live)}"]


def _short(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def verify_object(target: KubeClient, desired: dict[str, Any]) -> list[str]:
    """Read the object on the target and list the declared fields that differ (``["absent"]`` when missing).

    Raises:
        ApiError: the target could not be read (other than 404).
    """
    live = target.read(desired)
    if live is None:
        return ["absent on the target"]
    return declared_diff(declared(desired), live)


def declared(desired: dict[str, Any]) -> dict[str, Any]:
    """What verify compares of a transformed object: no status, no managedFields (the source's
    managers, restored as they were), and ownerReferences without their uids (re-pointed to the
    target's owners)."""
    out = {k: v for k, v in desired.items() if k != "status"}
    meta = {k: v for k, v in (desired.get("metadata") or {}).items() if k != "managedFields"}
    if meta.get("ownerReferences"):
        meta["ownerReferences"] = [{k: v for k, v in o.items() if k != "uid"} for o in meta["ownerReferences"]]
    out["metadata"] = meta
    return out


def workload_ready(target: KubeClient, desired: list[dict[str, Any]], *, source_ready: set[str] | None = None,
                   timeout: float = 120.0) -> list[str]:
    """Wait until every workload is ready on the target; return a message per one that is not.

    Args:
        desired: objects that were applied (non-workloads are ignored).
        source_ready: refs (``str(ObjectRef)``) of workloads that were ready on the source; only those are
            required (None: require all).
        timeout: seconds to wait overall.
    """
    pending = {str(ObjectRef.of(o)): o for o in desired
               if (o["apiVersion"].rpartition("/")[0], o["kind"]) in WORKLOAD_KINDS
               and (source_ready is None or str(ObjectRef.of(o)) in source_ready)}
    deadline = time.monotonic() + timeout
    last: dict[str, dict[str, Any]] = {}
    while pending:
        for ref, obj in list(pending.items()):
            live = target.read(obj)
            if live is not None and is_ready(live):
                del pending[ref]
            elif live is not None:
                last[ref] = live
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return [f"{ref}: not ready after {timeout:.0f}s (status {_short(last.get(ref, {}).get('status'))})"
            for ref in sorted(pending)]
