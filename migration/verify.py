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

import base64
import binascii
import hashlib
import time
from collections.abc import Iterable, Mapping
from typing import Any

from kube.client import KubeClient
from kube.objects import WORKLOAD_KINDS, ObjectRef, is_ready, is_secret, quantity

# The fields of a Secret that hold its values: never quoted in a diff, a report or a message.
SECRET_VALUE_FIELDS = ("data", "stringData")
REDACTED = "<redacted>"

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
        return [d for i, (a, b) in enumerate(zip(desired, live, strict=True)) for d in declared_diff(a, b, f"{path}/{i}")]
    if desired == live:
        return []
    qa, qb = quantity(desired), quantity(live)
    if qa is not None and qa == qb:
        return []
    return [f"{path}: want {_short(desired)}, have {_short(live)}"]


def _short(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def secret_values(obj: Mapping[str, Any]) -> dict[str, bytes]:
    """A Secret's values by key, as bytes (``data`` decoded from base64, ``stringData`` encoded; stringData wins).

    >>> secret_values({"data": {"a": "aGk="}, "stringData": {"b": "yo"}})
    {'a': b'hi', 'b': b'yo'}
    """
    out: dict[str, bytes] = {}
    data, string_data = obj.get("data"), obj.get("stringData")
    for k, v in (data.items() if isinstance(data, Mapping) else ()):
        try:
            out[str(k)] = base64.b64decode(str(v), validate=True)
        except (binascii.Error, ValueError):
            out[str(k)] = str(v).encode()
    for k, v in (string_data.items() if isinstance(string_data, Mapping) else ()):
        out[str(k)] = str(v).encode()
    return out


def values_digest(values: Mapping[str, bytes]) -> str:
    """One short digest of a Secret's values (keys and values): equal digests, equal data; never the values.

    >>> values_digest({}) == values_digest({})
    True
    """
    h = hashlib.sha256()
    for k in sorted(values):
        h.update(k.encode() + b"\0" + hashlib.sha256(values[k]).digest())
    return "sha256:" + h.hexdigest()[:12]


def secret_diff(desired: Mapping[str, Any], live: Mapping[str, Any]) -> list[str]:
    """Differences of a Secret: its other fields as :func:`declared_diff` says, its values by key name and digest.

    A value is never quoted (plain or base64): the keys that are missing or changed are named, and
    one digest of each side's data lets a human tell "changed" from "rotated back".

    >>> secret_diff({"data": {"pw": "aGk="}}, {"data": {"pw": "eW8="}})[0].startswith("/data: key(s) changed: pw (data ")
    True
    """
    rest = declared_diff({k: v for k, v in desired.items() if k not in SECRET_VALUE_FIELDS},
                         {k: v for k, v in live.items() if k not in SECRET_VALUE_FIELDS})
    want, have = secret_values(desired), secret_values(live)
    out = [scrub(d, [desired, live]) for d in rest]
    missing = sorted(k for k in want if k not in have)
    changed = sorted(k for k in want if k in have and want[k] != have[k])
    parts = ([f"key(s) missing: {', '.join(missing)}"] if missing else []) + \
            ([f"key(s) changed: {', '.join(changed)}"] if changed else [])
    if parts:
        out.append(f"/data: {'; '.join(parts)} (data {values_digest(want)} declared, {values_digest(have)} on the "
                   "target; values are never shown)")
    return out


def scrub(text: str, secrets: Iterable[Mapping[str, Any]]) -> str:
    """``text`` with every value of the given Secrets (plain, base64 or as quoted) replaced by ``<redacted>``.

    For text a server or a rule wrote about a Secret (an admission message may echo a value).

    >>> scrub("bad value 'hunter22' (aHVudGVyMjI=)", [{"data": {"pw": "aHVudGVyMjI="}}])
    "bad value '<redacted>' (<redacted>)"
    """
    needles: set[str] = set()
    for obj in secrets:
        for field in SECRET_VALUE_FIELDS:
            raw = obj.get(field)
            for v in (raw.values() if isinstance(raw, Mapping) else ()):
                needles.add(str(v))
        for v in secret_values(obj).values():
            needles.add(base64.b64encode(v).decode())
            try:
                needles.add(v.decode())
            except UnicodeDecodeError:
                pass
    for needle in sorted((n for n in needles if len(n) >= 3), key=len, reverse=True):
        text = text.replace(needle, REDACTED)
    return text


def verify_object(target: KubeClient, desired: dict[str, Any]) -> list[str]:
    """Read the object on the target and list the declared fields that differ (``["absent"]`` when missing).

    A Secret's values are never quoted: :func:`secret_diff` names the keys that differ.

    Raises:
        ApiError: the target could not be read (other than 404).
    """
    live = target.read(desired)
    if live is None:
        return ["absent on the target"]
    if is_secret(desired):
        return secret_diff(declared(desired), live)
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
