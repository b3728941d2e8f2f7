"""Kubernetes NetworkPolicies that allow DNS: also allow it to the target's node-local DNS addresses.

Why: on a target that runs AKS LocalDNS (169.254.10.10/11) or NodeLocal
DNSCache (169.254.20.10) pods send their queries to those link-local addresses
on their node, not to kube-dns. A policy that locks egress down and lets DNS
through only to kube-dns (or kube-system) resolves names on the kubenet source
and fails on the target. So a policy with egress rules that allow port 53 —
UDP or TCP, numbered or as CoreDNS's named ports ``dns``/``dns-tcp``, or every
port — towards kube-dns gets one more egress rule: the node-local addresses as
``ipBlock`` /32s, port 53 for the same protocols, and an info finding saying so.
The Calico translation does the same for the policies it writes
(:mod:`migration.policies.calico`); both read the addresses from
:data:`migration.node_dns.NODE_LOCAL_DNS`.

What counts as "towards kube-dns" is judged on the target: a peer whose
namespaceSelector matches kube-system by the label Kubernetes sets on every
namespace (``kubernetes.io/metadata.name``; a label the user put on the
source's kube-system is not on the target's), or every namespace, and whose
podSelector, if any, matches CoreDNS's pods (``k8s-app: kube-dns``); a rule
without peers (anywhere) allows it too. Nothing is added when:

* the target has no node-local DNS (``ctx.target_node_dns`` is None);
* the policy allows no DNS at all (a default deny of egress stays one: it never
  resolved names, and widening it is not this rule's call);
* its rules already allow port 53 to every node-local address for those
  protocols (an egress rule to anywhere, or one the translation wrote): the new
  rule would change nothing.

ipBlock peers never count as kube-dns (its pods' addresses are not stable, and
Cilium does not apply CIDR rules to pods).
"""
from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from kube.objects import ObjectRef, group_of
from migration.findings import Finding, Severity
from migration.node_dns import NODE_LOCAL_DNS
from migration.transforms.base import TransformResult, add
from migration.transforms.context import TransformContext

CODE = "network-policy-dns-node-local"
DNS_PORT = 53
DNS_PORT_NAMES = frozenset({"dns", "dns-tcp"})  # CoreDNS's container port names (kube-dns pods)
PROTOCOLS = ("UDP", "TCP")
# What a policy on the target meets at kube-dns: kube-system's built-in name label, CoreDNS's pod label.
KUBE_SYSTEM_LABELS: Mapping[str, str] = {"kubernetes.io/metadata.name": "kube-system"}
KUBE_DNS_POD_LABELS: Mapping[str, str] = {"k8s-app": "kube-dns"}


def _egress_on(spec: Mapping[str, Any]) -> bool:
    types = spec.get("policyTypes")
    if types is None:  # defaulted by the API server: Egress when the policy has egress rules
        return bool(spec.get("egress"))
    return "Egress" in types


def applies_to(obj: Mapping[str, Any], ctx: TransformContext) -> bool:
    """NetworkPolicies (networking.k8s.io) that restrict egress."""
    return obj.get("kind") == "NetworkPolicy" and group_of(obj) == "networking.k8s.io" \
        and _egress_on(obj.get("spec") or {})


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether a Kubernetes label selector matches a label set (``{}`` matches everything).

    >>> selects({"matchExpressions": [{"key": "k8s-app", "operator": "In", "values": ["kube-dns"]}]},
    ...         {"k8s-app": "kube-dns"})
    True
    """
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or ():
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or ()
        inside = key in labels and labels[key] in values
        if (op == "In" and not inside) or (op == "NotIn" and inside) or (op == "Exists" and key not in labels) \
                or (op == "DoesNotExist" and key in labels) or op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True


def _dns_protocols(ports: Sequence[Mapping[str, Any]] | None) -> set[str]:
    """The protocols (UDP/TCP) a rule's ports allow to port 53 (every one when it names no ports)."""
    if not ports:
        return set(PROTOCOLS)
    out = set()
    for p in ports:
        protocol = p.get("protocol") or "TCP"
        port, end = p.get("port"), p.get("endPort")
        if protocol not in PROTOCOLS:
            continue
        if port is None or port == DNS_PORT or port == str(DNS_PORT) or port in DNS_PORT_NAMES \
                or (isinstance(port, int) and isinstance(end, int) and port <= DNS_PORT <= end):
            out.add(protocol)
    return out


def _to_kube_dns(peer: Mapping[str, Any], namespace: str) -> bool:
    if "ipBlock" in peer:
        return False
    if "namespaceSelector" in peer:
        in_kube_system = selects(peer["namespaceSelector"], KUBE_SYSTEM_LABELS)
    else:
        in_kube_system = namespace == "kube-system"
    return in_kube_system and selects(peer.get("podSelector"), KUBE_DNS_POD_LABELS)


def _covers(peers: Sequence[Mapping[str, Any]], address: str) -> bool:
    """Whether some ipBlock peer lets ``address`` through (its cidr holds it, no except does)."""
    ip = ipaddress.ip_address(address)
    for peer in peers:
        block = peer.get("ipBlock") or {}
        try:
            if block.get("cidr") and ip in ipaddress.ip_network(block["cidr"], strict=False) \
                    and not any(ip in ipaddress.ip_network(e, strict=False) for e in block.get("except") or ()):
                return True
        except (TypeError, ValueError):
            continue  # a malformed CIDR: the API server would have refused it; it covers nothing
    return False


def run(obj: dict[str, Any], ctx: TransformContext) -> TransformResult:
    """Add egress to the node-local DNS addresses for the protocols the policy allows to kube-dns on port 53."""
    addresses = NODE_LOCAL_DNS.get(ctx.target_node_dns or "")
    if not addresses:
        return TransformResult.patch()
    spec = obj.get("spec") or {}
    namespace = (obj.get("metadata") or {}).get("namespace") or ""
    needed: set[str] = set()  # protocols the policy allows to kube-dns on port 53
    covered: set[str] = set()  # protocols it already allows to every node-local address on port 53
    for rule in spec.get("egress") or ():
        protocols = _dns_protocols(rule.get("ports"))
        peers = rule.get("to") or ()
        if not protocols:
            continue
        if not peers:  # to anywhere: kube-dns and the node-local addresses alike
            needed |= protocols
            covered |= protocols
            continue
        if any(_to_kube_dns(p, namespace) for p in peers):
            needed |= protocols
        if all(_covers(peers, a) for a in addresses):
            covered |= protocols
    missing = [p for p in PROTOCOLS if p in needed - covered]
    if not missing:
        return TransformResult.patch()
    rule = {"to": [{"ipBlock": {"cidr": f"{a}/32"}} for a in addresses],
            "ports": [{"protocol": p, "port": DNS_PORT} for p in missing]}
    finding = Finding(CODE, Severity.INFO, ObjectRef.of(obj),
                      f"egress to the target's node-local DNS ({', '.join(addresses)}, port 53 "
                      f"{'/'.join(missing)}) added: the policy allows DNS to kube-dns, and the target's pods "
                      f"({ctx.target_node_dns}) send their queries to those addresses instead",
                      "nothing to do; if the target stops running node-local DNS, the added rule allows "
                      "nothing else", "/spec/egress")
    return TransformResult.patch([add(rule, "spec", "egress", "-")], [finding])
