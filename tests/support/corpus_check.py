"""An independent checker of a migration: was anything on the source lost silently?

Why independent: the engine's verify compares what the engine decided to carry
with what the engine applied; a bug in what it decides (a false exclusion
reason, a dropped namespace) passes its own verify. This checker shares none
of the engine's transform, verify or apply code (it imports only the API client
and the identity type): it lists the *live* source, reads the *live* target and
the run's ``report.json``, and puts every source object in exactly one class:

* ``intact`` — on the target, and every field the source object declares is
  equal there (its own comparison below, ignoring only what an API server or a
  controller fills in);
* ``excluded`` — listed in the report's results as excluded, with a reason;
* ``blocker`` — a blocker finding in the report names it;
* ``changed`` — on the target but different, with or without a finding naming
  it (``reported`` says which);
* ``lost`` — none of the above: gone without a word;
* ``new`` — created on the source after the run started (not judged).

Plus the storage check: no target PersistentVolume points at storage a source
PersistentVolume uses (same CSI volume handle, in-tree disk URI or file share)
with reclaim policy ``Delete`` — deleting a claim on the target would delete
the data the source still serves.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from kube.client import KubeClient
from kube.objects import ObjectRef

# Annotations and labels that API servers and controllers write by themselves.
NOISE_ANNOTATIONS = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration", "deployment.kubernetes.io/revision",
    "pv.kubernetes.io/bind-completed", "pv.kubernetes.io/bound-by-controller", "volume.kubernetes.io/selected-node",
    "endpoints.kubernetes.io/last-change-trigger-time", "control-plane.alpha.kubernetes.io/leader",
    "volume.beta.kubernetes.io/storage-provisioner", "volume.kubernetes.io/storage-provisioner",
    "pv.kubernetes.io/migrated-to",  # the PV controller's CSI-migration stamp on in-tree volumes
})
# Spec fields the target's API server assigns on its own (per kind); never declared intent.
SERVER_FIELDS: Mapping[str, tuple[tuple[str, ...], ...]] = {
    "Service": (("spec", "clusterIP"), ("spec", "clusterIPs"), ("spec", "healthCheckNodePort"),
                ("spec", "ipFamilies"), ("spec", "ipFamilyPolicy")),
    "PersistentVolume": (("spec", "claimRef", "uid"), ("spec", "claimRef", "resourceVersion")),
    "ServiceAccount": (("secrets",),),
}


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The class of one source object and why."""

    ref: ObjectRef
    status: str  # intact | excluded | blocker | changed | lost | new
    detail: str = ""
    reported: bool = False  # a finding (of any severity) names the object


@dataclasses.dataclass
class CheckReport:
    verdicts: dict[ObjectRef, Verdict]
    storage_violations: list[str]

    def with_status(self, status: str) -> list[Verdict]:
        return sorted((v for v in self.verdicts.values() if v.status == status), key=lambda v: v.ref)

    @property
    def lost(self) -> list[Verdict]:
        return self.with_status("lost")

    @property
    def silently_changed(self) -> list[Verdict]:
        return [v for v in self.with_status("changed") if not v.reported]


def _listable(client: KubeClient) -> Iterator[Any]:
    seen: set[tuple[str, str]] = set()
    for res in client.resources(refresh=True).values():
        if "list" not in res.verbs or (res.group, res.kind) in seen or (res.group, res.kind) in ALIASES:
            continue
        seen.add((res.group, res.kind))
        yield res


ALIASES = {("events.k8s.io", "Event")}  # the same objects as core Events, listed through another group


def list_objects(client: KubeClient) -> dict[ObjectRef, dict[str, Any]]:
    """Every listable object of a cluster, once per (group, kind), keyed by ref."""
    out: dict[ObjectRef, dict[str, Any]] = {}
    for res in _listable(client):
        for obj in client.list(res):
            out[ObjectRef.of(obj)] = obj
    return out


def _drop(obj: dict[str, Any], path: tuple[str, ...]) -> None:
    node: Any = obj
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
        if node is None:
            return
    if isinstance(node, dict):
        node.pop(path[-1], None)


def declared(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What an object declares: labels, annotations and content, without what servers fill in."""
    meta = obj.get("metadata") or {}
    out: dict[str, Any] = {k: orjson.loads(orjson.dumps(v)) for k, v in obj.items()
                           if k not in ("apiVersion", "kind", "metadata", "status")}
    labels = dict(meta.get("labels") or {})
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in NOISE_ANNOTATIONS}
    if labels:
        out["labels"] = labels
    if annotations:
        out["annotations"] = annotations
    for path in SERVER_FIELDS.get(obj.get("kind") or "", ()):
        _drop(out, path)
    if obj.get("kind") == "Service":
        for port in (out.get("spec") or {}).get("ports") or ():
            port.pop("nodePort", None)
    return out


def differences(want: Any, have: Any, path: str = "") -> list[str]:
    """Where ``have`` lacks or changes something ``want`` declares (extra fields in ``have`` are fine)."""
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return [f"{path or '/'}: not an object on the target"]
        return [d for k, v in want.items() for d in
                (differences(v, have[k], f"{path}/{k}") if k in have
                 else ([] if v in ({}, [], None, "") else [f"{path}/{k}: missing"]))]
    if isinstance(want, list):
        if not isinstance(have, list) or len(have) != len(want):
            return [f"{path}: {len(want)} item(s) on the source, {len(have) if isinstance(have, list) else have!r} "
                    "on the target"]
        return [d for i, (a, b) in enumerate(zip(want, have, strict=True)) for d in differences(a, b, f"{path}/{i}")]
    return [] if want == have else [f"{path}: {want!r} on the source, {have!r} on the target"]


def _created(obj: Mapping[str, Any]) -> dt.datetime | None:
    stamp = (obj.get("metadata") or {}).get("creationTimestamp")
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None


def _storage(pv: Mapping[str, Any]) -> str | None:
    spec = pv.get("spec") or {}
    if spec.get("csi"):
        return f"csi:{spec['csi'].get('driver')}:{spec['csi'].get('volumeHandle')}".lower()
    if spec.get("azureDisk"):
        return f"azureDisk:{spec['azureDisk'].get('diskURI')}".lower()
    if spec.get("azureFile"):
        f = spec["azureFile"]
        return f"azureFile:{f.get('secretNamespace') or ''}/{f.get('secretName')}:{f.get('shareName')}".lower()
    return None


def storage_violations(source: Mapping[ObjectRef, Mapping[str, Any]],
                       target: Mapping[ObjectRef, Mapping[str, Any]]) -> list[str]:
    """Target PVs on the source's storage whose reclaim policy would delete it."""
    source_storage = {s: ref for ref, pv in source.items() if ref.kind == "PersistentVolume" and ref.group == ""
                      and (s := _storage(pv))}
    out = []
    for ref, pv in sorted(target.items()):
        if ref.kind != "PersistentVolume" or ref.group != "":
            continue
        storage = _storage(pv)
        policy = (pv.get("spec") or {}).get("persistentVolumeReclaimPolicy", "Delete")
        if storage in source_storage and policy == "Delete":
            out.append(f"{ref.name}: reclaim policy Delete on the source's {storage} (source {source_storage[storage].name})")
    return out


def check(source: KubeClient, target: KubeClient, run_dir: Path, *, since: dt.datetime | None = None) -> CheckReport:
    """Classify every live source object against the live target and the run's report.json.

    Args:
        source: the old cluster (only listed).
        target: the new cluster (only read).
        run_dir: the migration's run directory (``report.json`` inside).
        since: when the run started; source objects created later are ``new``.

    Returns:
        The verdicts and the storage violations.
    """
    report = orjson.loads((run_dir / "report.json").read_bytes())
    excluded = {ObjectRef(**e["ref"]): e.get("message") or "" for e in (report.get("results") or {}).get("objects", ())
                if e.get("status") == "excluded"}
    findings: dict[ObjectRef, list[dict[str, Any]]] = {}
    for f in report.get("findings") or ():
        findings.setdefault(ObjectRef(**f["ref"]), []).append(f)
    src, tgt = list_objects(source), list_objects(target)
    verdicts: dict[ObjectRef, Verdict] = {}
    for ref, obj in src.items():
        named = findings.get(ref, [])
        created = _created(obj)
        if since is not None and created is not None and created > since:
            verdicts[ref] = Verdict(ref, "new", "created on the source after the run started")
        elif ref in excluded and excluded[ref]:
            verdicts[ref] = Verdict(ref, "excluded", excluded[ref], bool(named))
        elif ref in tgt and not (diffs := differences(declared(obj), declared(tgt[ref]))):
            verdicts[ref] = Verdict(ref, "intact", "", bool(named))
        elif any(f.get("severity") == "blocker" for f in named):
            verdicts[ref] = Verdict(ref, "blocker", "; ".join(f["code"] for f in named), True)
        elif ref in tgt:
            verdicts[ref] = Verdict(ref, "changed", "; ".join(diffs[:5]), bool(named))
        else:
            verdicts[ref] = Verdict(ref, "lost", "absent on the target, not excluded, no blocker", bool(named))
    return CheckReport(verdicts, storage_violations(src, tgt))
