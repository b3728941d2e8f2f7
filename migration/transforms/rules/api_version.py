"""Deprecated API versions: move objects to the version the target serves.

Why: versions such as ``policy/v1beta1`` or ``networking.k8s.io/v1beta1`` are
no longer served by current AKS releases, so an object still carrying one
cannot be applied. ``ctx.api_version_map`` lists the conversions; for all but
Ingress they are a rename of ``apiVersion`` (the schemas are identical).

Field conversions are kept to the minimum that makes the object valid:

* Ingress ``v1beta1`` → ``networking.k8s.io/v1``: ``spec.backend`` becomes
  ``spec.defaultBackend``; each backend's ``serviceName``/``servicePort``
  becomes ``service.name`` and ``service.port.number`` (an integer, or a
  string of digits) or ``service.port.name``; a path without ``pathType`` gets
  ``ImplementationSpecific``, the v1beta1 default.
* PodDisruptionBudget ``policy/v1beta1`` → ``policy/v1``: unchanged fields, but
  an empty selector changes meaning (none → all pods); reported as a finding.

Versions not in the map are left alone; :func:`migration.findings.find` reports
them when the target does not serve them.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from kube.objects import ObjectRef
from migration.findings import pdb_empty_selector
from migration.transforms.base import TransformResult, replace
from migration.transforms.context import TransformContext


def applies_to(obj: Mapping[str, Any], ctx: TransformContext) -> bool:
    """Objects whose (apiVersion, kind) has a registered conversion."""
    return (obj.get("apiVersion"), obj.get("kind")) in ctx.api_version_map


def _backend_v1(backend: Mapping[str, Any]) -> dict[str, Any]:
    if "serviceName" not in backend:
        return dict(backend)  # a resource backend has the same shape in both versions
    out = {k: v for k, v in backend.items() if k not in ("serviceName", "servicePort")}
    port = backend.get("servicePort")
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        port_v1: dict[str, Any] = {"number": int(port)}
    else:
        port_v1 = {"name": port} if port is not None else {}
    out["service"] = {"name": backend["serviceName"], **({"port": port_v1} if port_v1 else {})}
    return out


def ingress_spec_v1(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Convert an Ingress v1beta1 spec to networking.k8s.io/v1 (see the module docstring).

    Args:
        spec: a v1beta1 Ingress spec; not modified.

    Returns:
        The v1 spec.
    """
    out = copy.deepcopy(dict(spec))
    if "backend" in out:
        out["defaultBackend"] = _backend_v1(out.pop("backend"))
    for rule in out.get("rules") or ():
        for path in (rule.get("http") or {}).get("paths") or ():
            if "backend" in path:
                path["backend"] = _backend_v1(path["backend"])
            path.setdefault("pathType", "ImplementationSpecific")
    return out


def run(obj: dict[str, Any], ctx: TransformContext) -> TransformResult:
    """Rename apiVersion and convert the few fields that moved."""
    target = ctx.api_version_map[(obj["apiVersion"], obj["kind"])]
    ops = [replace(target, "apiVersion")]
    findings = []
    if obj["kind"] == "Ingress" and "spec" in obj:
        ops.append(replace(ingress_spec_v1(obj["spec"]), "spec"))
    if obj["kind"] == "PodDisruptionBudget" and obj["apiVersion"] == "policy/v1beta1" \
            and not (obj.get("spec") or {}).get("selector"):
        findings.append(pdb_empty_selector(ObjectRef.of(obj)))
    return TransformResult.patch(ops, findings)
