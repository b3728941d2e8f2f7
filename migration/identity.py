"""Apply-side identity: re-point ownerReferences to the target's uids and restore the source's field managers.

Why (issue 13 items 1–2): a carried object must stay the same object to the
tools that own it. Server-side apply with one field manager makes ``akshift``
own every field, so afterwards ``kubectl apply --server-side``, Helm, Flux or
Argo CD get conflicts and can never prune their own fields (Velero had the
same bug and now restores managedFields). And ownerReferences name the
source's uids, which do not exist on the target: kept as they are, the
target's garbage collector would delete the object.

What happens, per object (the transformed object keeps the source's
``managedFields`` and the ``ownerReferences`` to carried owners, see
``migration/transforms/rules/identity.py``):

1. :func:`body` — what is applied: the object without those two fields, plus the
   ownerReferences whose owners already exist on the target, re-pointed to
   their uids (:func:`resolve_owners`).
2. After the apply, :func:`restored_fields` builds the managedFields the target
   should hold: every source entry re-stamped (its fields minus the ones
   akshift rewrote, with ownerReference keys re-pointed), the target's own
   controllers' entries, and one ``akshift`` entry holding only akshift's
   rewrites (the transform's add/replace operations) and ``metadata.name``
   (the marker that akshift carried the object, which ``akshift sync`` reads). :func:`restore` writes
   them with one merge patch guarded by ``resourceVersion`` (the API server
   takes managedFields given in a request as they are).
3. References whose owner is applied in a later tier are linked after every
   tier (:func:`link_late_owners`).
"""
from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kube.client import KubeClient
from kube.errors import ApiError
from kube.objects import ObjectRef

IDENTITY_KEYS = ("managedFields", "ownerReferences")
# Rules whose operations are clean-ups of server state, not choices akshift makes for the user.
NOT_REWRITES = frozenset({"metadata", "identity"})
MERGE_PATCH = "application/merge-patch+json"


def body(obj: Mapping[str, Any], owners: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The object as applied: without the source's managedFields, with only the given (resolved) owners.

    Args:
        obj: a transformed object.
        owners: ownerReferences already re-pointed to the target's uids.

    Returns:
        A copy safe to send in a server-side apply.
    """
    out = dict(obj)
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in IDENTITY_KEYS}
    if owners:
        meta["ownerReferences"] = [dict(o) for o in owners]
    out["metadata"] = meta
    return out


def has_identity(obj: Mapping[str, Any]) -> bool:
    """Whether the object carries managedFields or ownerReferences to restore."""
    meta = obj.get("metadata") or {}
    return bool(meta.get("managedFields") or meta.get("ownerReferences"))


class OwnerCache:
    """Target uids of owners, looked up once per run (thread-safe enough: a race only repeats a GET)."""

    def __init__(self, client: KubeClient):
        self.client = client
        self.uids: dict[str, str] = {}

    def uid(self, owner: Mapping[str, Any], namespace: str) -> str | None:
        """The target uid of an owner named by an ownerReference, None when it does not exist (yet)."""
        for ns in ((namespace, "") if namespace else ("",)):
            key = ObjectRef((owner.get("apiVersion") or "").rpartition("/")[0], owner.get("kind") or "", ns,
                            owner.get("name") or "").key
            if key in self.uids:
                return self.uids[key]
            probe = {"apiVersion": owner.get("apiVersion"), "kind": owner.get("kind"),
                     "metadata": {"name": owner.get("name"), **({"namespace": ns} if ns else {})}}
            try:
                live = self.client.read(probe)
            except (ApiError, KeyError, ValueError):
                continue  # a namespaced probe of a cluster-scoped kind, or a kind not served (yet)
            if live is not None:
                self.uids[key] = live["metadata"]["uid"]
                return self.uids[key]
        return None


def resolve_owners(obj: Mapping[str, Any], cache: OwnerCache) -> tuple[list[dict[str, Any]], dict[str, str], bool]:
    """The object's ownerReferences re-pointed to the target's uids.

    Returns:
        ``(resolved, uid_map, complete)``: the references whose owner exists now, source uid →
        target uid, and whether every reference was resolved.
    """
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace") or ""
    resolved, uid_map = [], {}
    refs = meta.get("ownerReferences") or ()
    for ref in refs:
        uid = cache.uid(ref, ns)
        if uid is not None:
            resolved.append({**ref, "uid": uid})
            uid_map[ref.get("uid") or ""] = uid
    return resolved, uid_map, len(resolved) == len(refs)


# -- fieldsV1 -----------------------------------------------------------------------------------


def _item_key(fields: Mapping[str, Any], item: Any) -> str | None:
    """The fieldsV1 key (``k:{…}`` or ``v:…``) naming a list item, None when none matches."""
    for key in fields:
        if key.startswith("k:") and isinstance(item, Mapping):
            try:
                want = json.loads(key[2:])
            except ValueError:
                continue
            if isinstance(want, dict) and all(item.get(k) == v for k, v in want.items()):
                return key
        elif key.startswith("v:"):
            try:
                if json.loads(key[2:]) == item:
                    return key
            except ValueError:
                continue
    return None


def _tokens(pointer: str) -> list[str]:
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")] if pointer else []


def _step(fields: Mapping[str, Any], obj: Any, token: str) -> tuple[str | None, Any]:
    if isinstance(obj, Mapping):
        return f"f:{token}", obj.get(token)
    if isinstance(obj, list) and token.isdigit() and int(token) < len(obj):
        item = obj[int(token)]
        return _item_key(fields, item), item
    return None, None


def pick(fields: Mapping[str, Any], obj: Any, pointer: str) -> dict[str, Any] | None:
    """The part of a fieldsV1 tree at a JSON pointer into ``obj`` (the object it describes), None if absent.

    >>> pick({"f:spec": {"f:replicas": {}, "f:paused": {}}}, {"spec": {"replicas": 2}}, "/spec/replicas")
    {'f:spec': {'f:replicas': {}}}
    >>> pick({"f:nodeSelector": {}}, {"nodeSelector": {"agentpool": "apps"}}, "/nodeSelector/agentpool")
    {'f:nodeSelector': {}}
    """
    tokens = _tokens(pointer)
    if not tokens:
        return copy.deepcopy(dict(fields))
    key, child = _step(fields, obj, tokens[0])
    if key is None or key not in fields:
        return None
    if len(tokens) > 1 and not fields[key]:
        # An atomic field (a nodeSelector, a list without keys) is owned whole: a rewrite inside it
        # makes the whole field akshift's.
        return {key: {}}
    rest = "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens[1:])
    sub = pick(fields[key], child, rest)
    return None if sub is None else {key: sub}


def drop(fields: dict[str, Any], obj: Any, pointer: str) -> None:
    """Remove the part of a fieldsV1 tree at a JSON pointer (in place); empty parents go too.

    A pointer into an atomic field (owned whole, ``{}``) removes the whole field: it is akshift's now.

    >>> f = {"f:spec": {"f:nodeSelector": {}, "f:replicas": {}}}
    >>> drop(f, {"spec": {"nodeSelector": {"agentpool": "apps"}}}, "/spec/nodeSelector/agentpool"); f
    {'f:spec': {'f:replicas': {}}}
    """
    tokens = _tokens(pointer)
    if not tokens:
        return
    key, child = _step(fields, obj, tokens[0])
    if key is None or key not in fields:
        return
    if len(tokens) == 1 or not fields[key]:
        del fields[key]
        return
    drop(fields[key], child, "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens[1:]))
    if not {k for k in fields[key] if k != "."}:
        del fields[key]


_ABSENT = object()  # no list item matches a fieldsV1 key


def prune_absent(fields: dict[str, Any], obj: Any) -> None:
    """Remove from a fieldsV1 tree (in place) what ``obj`` does not hold: owners of absent fields.

    A source manager's entry describes the source object; the transform removes some of what it owned
    (the last-applied annotation, a controller's annotations, a whole ``annotations`` map). Restored as
    they were, those entries would claim fields the target object does not have — and a claim on an absent
    ``metadata.annotations`` (its ``.``) makes the next server-side apply that adds any annotation (Pulumi's
    adoption, a Helm upgrade) conflict with a manager that owns nothing there. Map keys and list items
    (``k:``/``v:``) are checked; other list keys are kept.

    >>> f = {"f:metadata": {"f:annotations": {".": {}, "f:last-applied": {}}, "f:labels": {"f:app": {}}}}
    >>> prune_absent(f, {"metadata": {"labels": {"app": "web"}}}); f
    {'f:metadata': {'f:labels': {'f:app': {}}}}
    >>> f = {"f:spec": {"f:ports": {'k:{"port":80}': {"f:port": {}}, 'k:{"port":81}': {"f:port": {}}}}}
    >>> prune_absent(f, {"spec": {"ports": [{"port": 80}]}}); f
    {'f:spec': {'f:ports': {'k:{"port":80}': {'f:port': {}}}}}
    """
    for key in list(fields):
        if key == ".":
            continue
        if key.startswith("f:"):
            if not isinstance(obj, Mapping) or key[2:] not in obj:
                del fields[key]
                continue
            child = obj[key[2:]]
        elif key.startswith(("k:", "v:")):
            if not isinstance(obj, list):
                del fields[key]
                continue
            child = next((item for item in obj if _item_key({key: {}}, item) == key), _ABSENT)
            if child is _ABSENT:
                del fields[key]
                continue
        else:
            continue
        sub = fields[key]
        if sub:  # a field owned whole ({}) is kept whole
            prune_absent(sub, child)
            if not sub:
                del fields[key]


def union(a: dict[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Deep union of two fieldsV1 trees (into ``a``)."""
    for k, v in b.items():
        union(a.setdefault(k, {}), v)
    return a


def _repoint(fields: dict[str, Any], uid_map: Mapping[str, str]) -> None:
    owners = (fields.get("f:metadata") or {}).get("f:ownerReferences")
    if not isinstance(owners, dict):
        return
    for key in list(owners):
        if not key.startswith("k:"):
            continue
        try:
            k = json.loads(key[2:])
        except ValueError:
            continue
        old = k.get("uid") if isinstance(k, dict) else None
        if old is None:
            continue
        value = owners.pop(key)
        if old in uid_map:
            owners[f"k:{json.dumps({**k, 'uid': uid_map[old]}, separators=(',', ':'), sort_keys=True)}"] = value
    if not owners:
        del fields["f:metadata"]["f:ownerReferences"]
        if not fields["f:metadata"]:
            del fields["f:metadata"]


def _same_entry(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return all(a.get(k) == b.get(k) for k in ("manager", "operation", "subresource"))


def restored_fields(source: Sequence[Mapping[str, Any]], live: Mapping[str, Any], rewrites: Iterable[str], *,
                    manager: str, uid_map: Mapping[str, str], now: str) -> list[dict[str, Any]]:
    """The managedFields the target object should hold (see the module docstring).

    Args:
        source: the source object's managedFields entries.
        live: the target object after akshift's apply (its managedFields and values).
        rewrites: JSON pointers akshift set (add/replace operations of its rewriting rules).
        manager: akshift's field manager.
        uid_map: source owner uid → target owner uid.
        now: the RFC 3339 time to stamp on every entry.

    Returns:
        The entries, source managers first.
    """
    rewrites = list(rewrites)
    live_entries = (live.get("metadata") or {}).get("managedFields") or []
    ours = next((e for e in live_entries if e.get("manager") == manager and e.get("operation") == "Apply"), None)
    out: list[dict[str, Any]] = []
    for entry in source:
        if entry.get("manager") == manager and entry.get("operation") == "Apply":
            continue  # a source that was itself migrated: our entry is rebuilt below
        e = copy.deepcopy(dict(entry))
        fields = e.get("fieldsV1")
        if isinstance(fields, dict):
            for pointer in rewrites:
                drop(fields, live, pointer)
            # Re-pointed first: the live object's references carry the target's uids, so a source key still
            # naming the source's uid would look absent and the manager would lose the references it set.
            _repoint(fields, uid_map)
            prune_absent(fields, live)
            if not fields:
                continue  # everything it owned is akshift's rewrite now
        e["time"] = now
        out.append(e)
    for entry in live_entries:  # the target's own controllers (status writers…) keep theirs
        # akshift's other entries (an Update from linking late owners, see restore) are not claims to keep.
        if entry is ours or entry.get("manager") == manager or any(_same_entry(entry, s) for s in out):
            continue
        out.append(copy.deepcopy(dict(entry)))
    if ours is not None:
        # The carry marker: akshift keeps owning metadata.name (a field nobody changes), so its entry
        # survives and tells later runs and `akshift sync` that akshift carried the object.
        mine: dict[str, Any] = {"f:metadata": {"f:name": {}}}
        for pointer in [*rewrites, *(["/metadata/ownerReferences"] if uid_map else [])]:
            part = pick(ours.get("fieldsV1") or {}, live, pointer)
            if part is not None:
                union(mine, part)
        if mine:  # never empty: the marker
            out.append({**{k: v for k, v in ours.items() if k != "fieldsV1"}, "fieldsV1": mine, "time": now})
    return out


# Target-side components whose entries are their own bookkeeping (status, scale, allocations), not a claim
# on the fields akshift carries.
SERVER_MANAGERS = frozenset({"kube-apiserver", "kube-controller-manager", "cloud-controller-manager",
                             "kube-scheduler", "kubelet"})


def held_by_source_managers(live: Mapping[str, Any], obj: Mapping[str, Any], manager: str) -> bool:
    """Whether the target object carries akshift's marker and every other manager is one of the source
    object's (or the server's).

    Then the target copy is what an earlier run carried and restored, and a changed value is the source manager's
    own change being carried: akshift may take the fields over for the apply (the restore right after
    gives them back). Any other manager (someone edited the target) keeps its conflict.
    """
    source = {m.get("manager") for m in (obj.get("metadata") or {}).get("managedFields") or ()}
    live_managers = {m.get("manager") for m in (live.get("metadata") or {}).get("managedFields") or ()}
    return bool(source) and manager in live_managers and live_managers <= source | SERVER_MANAGERS | {manager}


def now_rfc3339() -> str:
    """The current UTC time as the API server writes it."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def restore(client: KubeClient, obj: Mapping[str, Any], rewrites: Iterable[str], *, manager: str,
            uid_map: Mapping[str, str], owners: Sequence[Mapping[str, Any]] | None = None,
            attempts: int = 4) -> None:
    """Write the restored managedFields (and, when given, the re-pointed ownerReferences) to the target.

    Args:
        client: the target.
        obj: the transformed object (with the source's managedFields).
        rewrites: akshift's rewritten JSON pointers for this object.
        manager: akshift's field manager.
        uid_map: source owner uid → target owner uid.
        owners: ownerReferences to set first (late owners), None to leave them. They go in a request of
            their own: a request that changes values makes its manager (an ``Update`` by akshift) own them
            whatever managedFields it sends, so the managers are restored by a second one that changes none.
        attempts: tries when the object changes between the read and the patch (409).

    Raises:
        ApiError: the target refused the patch.
    """
    source = (obj.get("metadata") or {}).get("managedFields") or []
    rewrites = list(rewrites)
    wanted = None if owners is None else [dict(o) for o in owners]
    tries = attempts + (wanted is not None)  # one request more: the references
    for attempt in range(tries):
        live = client.read(dict(obj))
        if live is None:
            return
        patch: dict[str, Any] = {"metadata": {"resourceVersion": live["metadata"]["resourceVersion"]}}
        linking = wanted is not None and sorted(o.get("uid") or "" for o in live["metadata"].get("ownerReferences")
                                                or ()) != sorted(o.get("uid") or "" for o in wanted)
        if linking:
            patch["metadata"]["ownerReferences"] = wanted
        else:
            entries = restored_fields(source, live, rewrites, manager=manager, uid_map=uid_map, now=now_rfc3339())
            if not entries:
                return
            patch["metadata"]["managedFields"] = entries
        try:
            client.request("PATCH", client.path_of(dict(obj)), params={"fieldManager": manager}, body=patch,
                           content_type=MERGE_PATCH, ref=ObjectRef.of(obj))
        except ApiError as e:
            if e.status != 409 or attempt == tries - 1:
                raise
            continue
        if not linking:
            return


def rewrites_by_key(patch_log: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Object key → JSON pointers akshift's rewriting rules set (from ``transformed/patches.jsonl``)."""
    out: dict[str, list[str]] = {}
    for entry in patch_log:
        key = ObjectRef(**entry["ref"]).key
        for record in entry.get("patches") or ():
            if record.get("rule") in NOT_REWRITES:
                continue
            out.setdefault(key, []).extend(op["path"] for op in record.get("ops") or ()
                                           if op.get("op") in ("add", "replace"))
    return out


__all__ = ["IDENTITY_KEYS", "OwnerCache", "body", "drop", "has_identity", "pick", "resolve_owners", "restore",
           "restored_fields", "rewrites_by_key", "union"]
