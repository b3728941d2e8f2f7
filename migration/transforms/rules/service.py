"""Service: drop the addresses and ports the old cluster allocated (velero ``service_action.go``).

Why each change:

* ``clusterIP``/``clusterIPs`` were allocated from the old service CIDR; the
  target allocates its own. ``None`` (headless) is a choice, not an
  allocation, and is kept.
* ``nodePort`` values are filled in by the API server whether or not the user
  asked for them, and a kept value may already be taken on the target (apply
  then fails with "provided port is already allocated"). Policy: dropped,
  except when ``ctx.keep_node_ports`` is set, or when the port's value appears
  in ``kubectl.kubernetes.io/last-applied-configuration`` — the only evidence
  on the object that a human chose it (the test velero uses). Services of type
  ClusterIP/ExternalName never keep them.
* ``healthCheckNodePort`` (``externalTrafficPolicy: Local``) follows the same policy.
* ``ipFamilies: [IPv4]`` with ``ipFamilyPolicy: SingleStack`` is the default the
  API server writes; dropping it lets a dual-stack target choose. Any other
  value was chosen and is kept.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from migration.findings import is_core
from migration.transforms.base import TransformResult, remove, replace
from migration.transforms.context import TransformContext

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
NODE_PORT_TYPES = frozenset({"NodePort", "LoadBalancer"})


def applies_to(obj: Mapping[str, Any], ctx: TransformContext) -> bool:
    """Core Services."""
    return is_core(obj, "Service")


def _declared(obj: Mapping[str, Any]) -> tuple[frozenset[int], Any]:
    """Node ports and healthCheckNodePort the last kubectl apply declared."""
    raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    try:
        spec = (json.loads(raw) or {}).get("spec") or {} if raw else {}
    except (ValueError, AttributeError):
        return frozenset(), None
    ports = frozenset(p["nodePort"] for p in spec.get("ports") or () if isinstance(p, dict) and p.get("nodePort"))
    return ports, spec.get("healthCheckNodePort")


def run(obj: dict[str, Any], ctx: TransformContext) -> TransformResult:
    """Compute the Service clean-up described in the module docstring."""
    spec = obj.get("spec") or {}
    ops = []
    if spec.get("clusterIP") not in (None, "None"):
        ops.append(remove("spec", "clusterIP"))
        if "clusterIPs" in spec:
            ops.append(remove("spec", "clusterIPs"))
    elif spec.get("clusterIP") is None and spec.get("clusterIPs") not in (None, ["None"]):
        ops.append(remove("spec", "clusterIPs"))

    declared_ports, declared_health = _declared(obj)
    node_port_type = spec.get("type") in NODE_PORT_TYPES
    ports = spec.get("ports") or []
    kept_ports = []
    for port in ports:
        value = port.get("nodePort")
        keep = node_port_type and (ctx.keep_node_ports or value in declared_ports)
        kept_ports.append(port if value is None or keep else {k: v for k, v in port.items() if k != "nodePort"})
    if kept_ports != ports:
        ops.append(replace(kept_ports, "spec", "ports"))

    health = spec.get("healthCheckNodePort")
    if health is not None and not (node_port_type and (ctx.keep_node_ports or health == declared_health)):
        ops.append(remove("spec", "healthCheckNodePort"))

    if spec.get("ipFamilies") == ["IPv4"] and spec.get("ipFamilyPolicy", "SingleStack") == "SingleStack":
        ops.append(remove("spec", "ipFamilies"))
        if "ipFamilyPolicy" in spec:
            ops.append(remove("spec", "ipFamilyPolicy"))
    return TransformResult.patch(ops)
