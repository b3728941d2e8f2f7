"""Service: drop the addresses and ports the old cluster allocated (velero ``service_action.go``).

Why each change:

* ``clusterIP``/``clusterIPs`` were allocated from the old service CIDR; the
  target allocates its own. ``None`` (headless) is a choice, not an
  allocation, and is kept.
* ``nodePort`` values are filled in by the API server whether or not the user
  asked for them, and a kept value may already be taken on the target (apply
  then fails with "provided port is already allocated"). Policy: dropped,
  except when ``ctx.keep_node_ports`` is set, or when the port's value appears
  in ``kubectl.kubernetes.io/last-applied-configuration`` (the test velero uses),
  or in the fieldsV1 of a manager that is not a server component (Helm 3,
  server-side apply and ``kubectl create`` leave no last-applied annotation, but
  the field manager records what the client sent; the API server allocates
  nodePorts after that, so an allocated port is in nobody's fields). Services
  of type ClusterIP/ExternalName never keep them. A chosen port outside the
  target's node-port range is a finding; one already taken there is rejected
  by the plan's dry run.
* ``healthCheckNodePort`` (``externalTrafficPolicy: Local``) follows the same policy, range finding included.
* a ``clusterIP`` a client chose (in a client manager's fields: pinned IPs that
  DNS-less clients or firewalls rely on) is kept, with a finding when it lies
  outside the target's service CIDR (when known); allocated ones are dropped.
* ``ipFamilies: [IPv4]`` with ``ipFamilyPolicy: SingleStack`` is the default the
  API server writes; dropping it lets a dual-stack target choose. Any other
  value was chosen and is kept.
"""
from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from typing import Any

from kube.objects import ObjectRef
from migration.findings import Finding, Severity, is_core
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


# Managers that are server components: what they own was allocated or defaulted, not chosen.
SERVER_MANAGERS = frozenset({"kube-apiserver", "kube-controller-manager", "cloud-controller-manager",
                             "kube-scheduler", "kubelet"})
NODE_PORT_RANGE = (30000, 32767)
CHOSEN_OUT_OF_RANGE = "chosen-node-port-out-of-range"
PINNED_CLUSTER_IP = "pinned-cluster-ip-outside-target"


def _chosen(obj: Mapping[str, Any]) -> tuple[frozenset[int], bool, bool]:
    """From managedFields: node ports, whether healthCheckNodePort and whether clusterIP a client set."""
    spec = obj.get("spec") or {}
    ports, health, cluster_ip = set(), False, False
    for entry in (obj.get("metadata") or {}).get("managedFields") or ():
        if entry.get("manager") in SERVER_MANAGERS or entry.get("subresource"):
            continue
        fields = ((entry.get("fieldsV1") or {}).get("f:spec") or {})
        health = health or "f:healthCheckNodePort" in fields
        cluster_ip = cluster_ip or "f:clusterIP" in fields
        for key, item in (fields.get("f:ports") or {}).items():
            if not key.startswith("k:") or "f:nodePort" not in (item or {}):
                continue
            try:
                want = json.loads(key[2:])
            except ValueError:
                continue
            for port in spec.get("ports") or ():
                if isinstance(want, dict) and all(port.get(k) == v for k, v in want.items()) and port.get("nodePort"):
                    ports.add(port["nodePort"])
    return frozenset(ports), health, cluster_ip


def run(obj: dict[str, Any], ctx: TransformContext) -> TransformResult:
    """Compute the Service clean-up described in the module docstring."""
    spec = obj.get("spec") or {}
    ops = []
    findings = []
    chosen_ports, chosen_health, pinned = _chosen(obj)
    ref = ObjectRef.of(obj)
    if pinned and spec.get("clusterIP") not in (None, "None", ""):
        cidr = ctx.target_service_cidr
        if cidr is not None and ipaddress.ip_address(spec["clusterIP"]) not in ipaddress.ip_network(cidr):
            findings.append(Finding(PINNED_CLUSTER_IP, Severity.BLOCKER, ref,
                                    f"clusterIP {spec['clusterIP']} was chosen on the source, but it is outside the "
                                    f"target's service CIDR {cidr}: the target will refuse it",
                                    "pick an address in the target's service CIDR and update whatever relies on it",
                                    "/spec/clusterIP"))
    elif spec.get("clusterIP") not in (None, "None"):
        ops.append(remove("spec", "clusterIP"))
        if "clusterIPs" in spec:
            ops.append(remove("spec", "clusterIPs"))
    elif spec.get("clusterIP") is None and spec.get("clusterIPs") not in (None, ["None"]):
        ops.append(remove("spec", "clusterIPs"))

    declared_ports, declared_health = _declared(obj)
    declared_ports |= chosen_ports
    if chosen_health:
        declared_health = spec.get("healthCheckNodePort")
    node_port_type = spec.get("type") in NODE_PORT_TYPES
    ports = spec.get("ports") or []
    kept_ports = []
    for port in ports:
        value = port.get("nodePort")
        keep = node_port_type and (ctx.keep_node_ports or value in declared_ports)
        kept_ports.append(port if value is None or keep else {k: v for k, v in port.items() if k != "nodePort"})
    if kept_ports != ports:
        ops.append(replace(kept_ports, "spec", "ports"))
    low, high = ctx.target_node_port_range or NODE_PORT_RANGE
    for i, port in enumerate(kept_ports):
        value = port.get("nodePort")
        if value is not None and not low <= value <= high:
            findings.append(Finding(CHOSEN_OUT_OF_RANGE, Severity.BLOCKER, ref,
                                    f"nodePort {value} was chosen on the source but is outside the target's node-port "
                                    f"range {low}-{high}: the target will refuse it",
                                    "choose a port in the target's range and update the load balancers and firewalls "
                                    "that target the old one", f"/spec/ports/{i}/nodePort"))

    health = spec.get("healthCheckNodePort")
    if health is not None and not (node_port_type and (ctx.keep_node_ports or health == declared_health)):
        ops.append(remove("spec", "healthCheckNodePort"))
    elif health is not None and not low <= health <= high:
        findings.append(Finding(CHOSEN_OUT_OF_RANGE, Severity.BLOCKER, ref,
                                f"healthCheckNodePort {health} was chosen on the source but is outside the target's "
                                f"node-port range {low}-{high}: the target will refuse it",
                                "choose a port in the target's range and update the load balancer health probes "
                                "that target the old one", "/spec/healthCheckNodePort"))

    if spec.get("ipFamilies") == ["IPv4"] and spec.get("ipFamilyPolicy", "SingleStack") == "SingleStack":
        ops.append(remove("spec", "ipFamilies"))
        if "ipFamilyPolicy" in spec:
            ops.append(remove("spec", "ipFamilyPolicy"))
    return TransformResult.patch(ops, findings)
