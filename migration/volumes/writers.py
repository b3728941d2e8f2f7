"""Who writes each claim on the source, and how akshift can stop them.

Why apart from the plan: finding writers walks every workload shape (pod
templates, CronJob job templates, bare Pods, StatefulSet claim templates,
custom resources with pod templates) — the plan only needs the answer, a
:class:`~migration.volumes.model.Writer` per workload with its
:class:`~migration.volumes.model.Quiesce`. Pure functions of snapshot objects.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kube.objects import controller_owner, group_of, pod_specs
from migration.volumes.model import Quiesce, Writer

_SCALABLE = {("apps", "Deployment"), ("apps", "StatefulSet"), ("apps", "ReplicaSet"), ("", "ReplicationController")}
# Controllers whose pods are covered by the template of the object that owns *them*.
_COVERED_OWNERS = {"ReplicaSet", "StatefulSet", "DaemonSet", "Job", "ReplicationController"}


def _claims_in(spec: Mapping[str, Any]) -> dict[str, bool]:
    """claimName → read-only, for every PVC volume of a pod spec."""
    out: dict[str, bool] = {}
    for v in spec.get("volumes") or ():
        pvc = v.get("persistentVolumeClaim") or {}
        if pvc.get("claimName"):
            out[pvc["claimName"]] = out.get(pvc["claimName"], True) and bool(pvc.get("readOnly"))
    return out


def _job_finished(job: Mapping[str, Any]) -> bool:
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
               for c in (job.get("status") or {}).get("conditions") or ())


def _writer(obj: Mapping[str, Any], read_only: bool) -> Writer | None:
    """The writer an object is, or None when it is covered by another (its owner) or finished."""
    md = obj.get("metadata") or {}
    kind, group = obj.get("kind") or "", group_of(obj)
    base: dict[str, Any] = dict(api_version=obj.get("apiVersion") or "", kind=kind, namespace=md.get("namespace") or "",
                name=md.get("name") or "", read_only=read_only)
    owner = controller_owner(obj)
    if (group, kind) in _SCALABLE:
        if kind == "ReplicaSet" and owner is not None:
            return None  # a Deployment's ReplicaSet: the Deployment is the writer
        replicas = (obj.get("spec") or {}).get("replicas")
        return Writer(**base, quiesce=Quiesce.SCALE, replicas=1 if replicas is None else int(replicas))
    if (group, kind) == ("batch", "CronJob"):
        return Writer(**base, quiesce=Quiesce.SUSPEND)
    if (group, kind) == ("batch", "Job"):
        if owner is not None or _job_finished(obj):
            return None  # a CronJob's Job (the CronJob is the writer), or done writing
        return Writer(**base, quiesce=Quiesce.NONE,
                      why="a running Job: akshift does not stop it (suspending deletes its pods mid-write)")
    if (group, kind) == ("apps", "DaemonSet"):
        return Writer(**base, quiesce=Quiesce.NONE, why="a DaemonSet has no replica count to scale to 0")
    if (group, kind) == ("", "Pod"):
        if owner is None:
            return Writer(**base, quiesce=Quiesce.NONE, why="a bare Pod (no controller) cannot be scaled")
        if owner.get("kind") in _COVERED_OWNERS:
            return None  # the owner's pod template names the claim too
        return Writer(**base, quiesce=Quiesce.NONE,
                      why=f"a Pod controlled by {owner.get('kind')} {owner.get('name')}, which akshift cannot scale")
    if (group, kind) == ("", "PodTemplate"):
        return None
    # A custom resource with a pod template (an Argo Rollout, an operator's CR): its controller
    # decides the pods, so akshift cannot promise they stay stopped.
    return Writer(**base, quiesce=Quiesce.NONE, why=f"{kind}.{group or 'core'} is not a kind akshift can scale")


def writers_by_claim(objects: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], tuple[Writer, ...]]:
    """Who mounts each claim: (namespace, claim) → writers, sorted by key.

    Found through pod specs' ``persistentVolumeClaim.claimName`` (workload templates, CronJob job
    templates, Pods) and StatefulSet ``volumeClaimTemplates``: the claim ``<template>-<sts>-<ordinal>``
    belongs to StatefulSet ``<sts>``.

    Args:
        objects: snapshot objects (any kinds).

    Returns:
        The mapping; claims nobody mounts are absent.
    """
    objects = list(objects)
    found: dict[tuple[str, str], dict[str, Writer]] = {}
    claims = {((o.get("metadata") or {}).get("namespace") or "", (o.get("metadata") or {}).get("name") or "")
              for o in objects if o.get("kind") == "PersistentVolumeClaim" and group_of(o) == ""}
    # Claims a StatefulSet has not created yet, but whose PV is pre-bound to them.
    claims |= {(ref.get("namespace") or "", ref.get("name") or "") for o in objects
               if o.get("kind") == "PersistentVolume" and group_of(o) == ""
               for ref in [(o.get("spec") or {}).get("claimRef") or {}] if ref.get("name")}
    for obj in objects:
        ns = (obj.get("metadata") or {}).get("namespace") or ""
        for _tokens, spec in pod_specs(obj):
            for claim, read_only in _claims_in(spec).items():
                w = _writer(obj, read_only)
                if w is not None:
                    found.setdefault((ns, claim), {})[w.key] = w
        if obj.get("kind") == "StatefulSet" and group_of(obj) == "apps":
            sts = _writer(obj, False)
            assert sts is not None  # a StatefulSet is always a scalable writer
            for tpl in (obj.get("spec") or {}).get("volumeClaimTemplates") or ():
                prefix = f"{(tpl.get('metadata') or {}).get('name')}-{sts.name}-"
                for cns, claim in claims:
                    if cns == ns and claim.startswith(prefix) and claim[len(prefix):].isdigit():
                        found.setdefault((ns, claim), {})[sts.key] = sts
    return {k: tuple(sorted(v.values(), key=lambda w: w.key)) for k, v in found.items()}


__all__ = ["writers_by_claim"]
