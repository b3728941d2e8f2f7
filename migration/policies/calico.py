"""Calico policies → Cilium (or Kubernetes) policies, one to one or a blocker naming the rule.

Why: a kubenet cluster with ``--network-policy calico`` holds its egress
lock-down and namespace isolation in ``crd.projectcalico.org`` objects
(NetworkPolicy, GlobalNetworkPolicy, GlobalNetworkSet). The Cilium target has
no Calico, so without a translation the new cluster silently loses them. No
anchor tool (Velero, Crane) translates policies between CNIs, so this module
does, under one rule: **translate only where the semantics map one to one;
everything else is a blocker finding naming the rule**, and a policy with any
blocker is not translated at all (a half-translated policy is either wider or
narrower than the original, and neither is safe to apply unnoticed).

Semantics that decide what maps (Calico docs "NetworkPolicy", "Rule";
Cilium docs "Layer 3/4 policy", "Deny policies", "CiliumCIDRGroup"):

* Calico evaluates policies by ``order`` and rules top-down, first match wins;
  Cilium unions allow rules and lets any deny rule win. **Allow rules therefore
  always map.** A ``Deny`` maps to ``ingressDeny``/``egressDeny`` only when no
  Allow rule can come before it: none earlier in its own policy, and no other
  policy that evaluates earlier and may select the same endpoints (namespaced
  policies of other namespaces never do). A *catch-all* ``Deny`` (no peers,
  ports or protocol) maps to Cilium's default deny of a selected endpoint when no
  later-order policy allows more. Both checks need the other Calico policies
  (:attr:`TargetFacts.calico_objects`); without them such rules are blockers.
* ``Pass`` (hands over to the next tier), non-default tiers, host-endpoint
  options (``preDNAT``, ``doNotTrack``, ``applyOnForward``), negated matches
  (``notNets``, ``notSelector``, ``notPorts``, ``notProtocol``, ``notICMP``,
  except ``notNets`` covering every pod), per-rule matches on the *local*
  side, ``nets`` together with a selector (an AND Cilium cannot express),
  ``http`` and ``services`` matches, ICMP codes, protocols other than
  TCP/UDP/SCTP/ICMP/ICMPv6, string selector operators and service-account
  *label* selectors have no one-to-one form: blockers.
* CIDRs: Cilium's CIDR rules never match pods, Calico's ``nets`` do. A net that
  overlaps a pod CIDR (the old kubenet one or the target's) is a blocker;
  ``0.0.0.0/0`` / ``::/0`` become the ``all`` entity.
* ``Log`` rules change no verdict: they are dropped with a warning.
* GlobalNetworkSets become ``CiliumCIDRGroup`` objects of the same name, and a
  rule selector that matches a set's labels references it (``cidrGroupRef``).
* Selectors: see :mod:`migration.policies.selectors`. Calico's special labels
  map to Cilium's: ``projectcalico.org/namespace`` → ``io.kubernetes.pod.namespace``,
  ``projectcalico.org/serviceaccount`` and ``serviceAccounts.names`` →
  ``io.cilium.k8s.policy.serviceaccount``, namespace labels →
  ``io.cilium.k8s.namespace.labels.<key>`` (``projectcalico.org/name`` → the
  namespace name).
* Kubernetes ``NetworkPolicy`` suffices, and is preferred for portability,
  for a namespaced policy of allow rules over pod/namespace label selectors,
  CIDRs and TCP/UDP/SCTP ports with a single endpoint selector. A target
  without Cilium gets only those; anything needing Cilium there is a blocker.
* DNS: a policy that allows egress to port 53 also gets egress to the
  node-local DNS addresses when the target runs LocalDNS (169.254.10.10/11) or
  NodeLocal DNSCache (169.254.20.10): pods there send queries to those
  addresses instead of kube-dns, and the lock-down would otherwise cut name
  resolution. A policy that never allowed DNS gets none.

The one entry point is :func:`translate` (a Calico object + :class:`TargetFacts`
in, :class:`Translation` out); it is pure and never raises for a malformed
object (that is a blocker too).
"""
from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kube.objects import ObjectRef, group_of, ptr
from migration.findings import Finding, Severity
from migration.node_dns import NODE_LOCAL_DNS
from migration.policies import selectors as sel
from migration.policies.selectors import DNF, Conjunction, SelectorError, Term

CALICO_GROUP = "crd.projectcalico.org"
POLICY_KINDS = frozenset({"NetworkPolicy", "GlobalNetworkPolicy"})
SET_KINDS = frozenset({"GlobalNetworkSet", "NetworkSet"})
KINDS = POLICY_KINDS | SET_KINDS

TRANSLATED_LABEL = "akshift.io/translated-from"
SOURCE_ANNOTATION = "akshift.io/source"

NS_NAME = "io.kubernetes.pod.namespace"
NS_LABEL_PREFIX = "io.cilium.k8s.namespace.labels."
SERVICE_ACCOUNT = "io.cilium.k8s.policy.serviceaccount"
POD_RENAMES = {"projectcalico.org/namespace": NS_NAME, "projectcalico.org/serviceaccount": SERVICE_ACCOUNT}
NS_RENAMES = {"projectcalico.org/name": NS_NAME}
K8S_NS_RENAMES = {"projectcalico.org/name": "kubernetes.io/metadata.name"}
PROTOCOLS = {"TCP": "TCP", "UDP": "UDP", "SCTP": "SCTP", "ICMP": "ICMP", "ICMPV6": "ICMPv6",
             6: "TCP", 17: "UDP", 132: "SCTP", 1: "ICMP", 58: "ICMPv6"}

CODE_UNTRANSLATABLE = "calico-policy-untranslatable"
CODE_TRANSLATED = "calico-policy-translated"
CODE_LOG_DROPPED = "calico-log-rule-dropped"
CODE_NODE_LOCAL_DNS = "calico-dns-node-local"


@dataclasses.dataclass(frozen=True)
class TargetFacts:
    """What the translation needs to know about the target and the rest of the source.

    Attributes:
        dataplane: ``"cilium"`` (Azure CNI powered by Cilium) or ``"azure"`` (no Cilium CRDs:
            Kubernetes NetworkPolicy only).
        node_local_dns: ``"localdns"``, ``"nodelocaldns"`` or None: where the target's pods send DNS.
        pod_cidrs: the source's and the target's pod CIDRs (Cilium CIDR rules never match pods).
        ip_families: the target's IP families; rules with another ``ipVersion`` match nothing there.
        calico_objects: every Calico policy and network set of the source, for order checks and
            set selection; None when unknown (then rules whose meaning depends on them are blockers).
    """

    dataplane: str = "cilium"
    node_local_dns: str | None = None
    pod_cidrs: tuple[str, ...] = ()
    ip_families: frozenset[str] = frozenset({"IPv4"})
    calico_objects: tuple[Mapping[str, Any], ...] | None = None

    def __post_init__(self) -> None:
        if self.dataplane not in ("cilium", "azure"):
            raise ValueError(f"dataplane {self.dataplane!r} is neither 'cilium' nor 'azure'")
        if self.node_local_dns not in (None, *NODE_LOCAL_DNS):
            raise ValueError(f"node_local_dns {self.node_local_dns!r}: choose {', '.join(NODE_LOCAL_DNS)} or None")
        object.__setattr__(self, "ip_families", frozenset(self.ip_families))
        if self.calico_objects is not None:
            object.__setattr__(self, "calico_objects", tuple(self.calico_objects))


@dataclasses.dataclass(frozen=True)
class Translation:
    """The objects to apply on the target instead of one Calico object, and what a human must know.

    ``objects`` is empty whenever ``findings`` holds a blocker.
    """

    objects: tuple[dict[str, Any], ...]
    findings: tuple[Finding, ...]

    @property
    def blocked(self) -> bool:
        return any(f.severity is Severity.BLOCKER for f in self.findings)


def applies_to(obj: Mapping[str, Any]) -> bool:
    """Whether :func:`translate` handles this object (a Calico policy or network set)."""
    return group_of(obj) == CALICO_GROUP and obj.get("kind") in KINDS


# -- the intermediate form: what a rule allows or denies --------------------------------------


@dataclasses.dataclass(frozen=True)
class Peer:
    """One alternative of a rule's remote side (alternatives are ORed)."""

    pods: Conjunction | None = None  # endpoint labels (Calico keys)
    namespaces: Conjunction | None = None  # None: the policy's own namespace (namespaced) / any (global)
    any_namespace: bool = False
    cidrs: tuple[str, ...] = ()
    excepts: tuple[str, ...] = ()
    group: str | None = None  # a CiliumCIDRGroup name
    entity: str | None = None  # "all"


@dataclasses.dataclass(frozen=True)
class Port:
    protocol: str
    port: int | str | None = None
    end_port: int | None = None


@dataclasses.dataclass(frozen=True)
class Rule:
    deny: bool
    peers: tuple[Peer, ...]  # () = any remote
    ports: tuple[Port, ...] = ()  # () = any port and protocol
    icmp: tuple[tuple[str, int], ...] = ()  # (family, type)


class _BlockedError(Exception):
    def __init__(self, path: str, message: str):
        super().__init__(message)
        self.path = path
        self.message = message


# -- entry point -----------------------------------------------------------------------------


def translate(obj: Mapping[str, Any], facts: TargetFacts) -> Translation:
    """Translate one Calico object for the target.

    Args:
        obj: a ``crd.projectcalico.org`` NetworkPolicy, GlobalNetworkPolicy, GlobalNetworkSet or NetworkSet.
        facts: the target and the rest of the source (see :class:`TargetFacts`).

    Returns:
        The objects to apply instead (CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy,
        CiliumCIDRGroup or networking.k8s.io NetworkPolicy) and findings: an INFO naming what it
        became, warnings for dropped ``Log`` rules, and a BLOCKER per rule that has no one-to-one
        form (then no objects at all).
    """
    ref = ObjectRef.of(obj)
    if not applies_to(obj):
        return Translation((), (_blocker(ref, "", f"{ref} is not a Calico policy or network set"),))
    if obj.get("kind") in SET_KINDS:
        return _translate_set(obj, ref, facts)
    return _translate_policy(obj, ref, facts)


def _blocker(ref: ObjectRef, path: str, message: str) -> Finding:
    return Finding(CODE_UNTRANSLATABLE, Severity.BLOCKER, ref, message,
                   "write the equivalent Cilium policy by hand (or change the Calico policy so it maps), "
                   "apply it to the target, then re-run the migration", path)


def _meta(obj: Mapping[str, Any], ref: ObjectRef, api_version: str, kind: str, name: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name,
                            "labels": {TRANSLATED_LABEL: "calico"},
                            "annotations": {SOURCE_ANNOTATION: str(ref)}}
    if kind in ("CiliumNetworkPolicy", "NetworkPolicy"):
        meta["namespace"] = ref.namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": meta}


def _output_name(name: str) -> str:
    # Calico stores default-tier policies as "default.<name>" in its CRDs.
    return name.removeprefix("default.") or name


# -- network sets ------------------------------------------------------------------------------


def _overlaps_pods(cidr: str, facts: TargetFacts) -> str | None:
    net = ipaddress.ip_network(cidr, strict=False)
    for pod in facts.pod_cidrs:
        pods = ipaddress.ip_network(pod, strict=False)
        if net.version == pods.version and net.overlaps(pods) and net.prefixlen > 0:
            return pod
    return None


def _check_nets(nets: Iterable[Any], facts: TargetFacts, path: str) -> tuple[str, ...]:
    out = []
    for i, cidr in enumerate(nets):
        try:
            net = ipaddress.ip_network(str(cidr), strict=False)
        except ValueError:
            raise _BlockedError(f"{path}/{i}", f"{cidr!r} is not a CIDR") from None
        pod = _overlaps_pods(str(net), facts)
        if pod:
            raise _BlockedError(f"{path}/{i}", f"net {cidr} overlaps the pod CIDR {pod}: Calico matched pods by "
                                          "address, Cilium CIDR rules never match pods (select them by label)")
        out.append(str(net))
    return tuple(out)


def _translate_set(obj: Mapping[str, Any], ref: ObjectRef, facts: TargetFacts) -> Translation:
    spec = obj.get("spec") or {}
    findings = []
    if obj.get("kind") == "NetworkSet":
        findings.append(_blocker(ref, "", "a namespaced NetworkSet has no Cilium object of its own; policies of its "
                                          "namespace that select it carry its nets inline"))
    if spec.get("allowedEgressDomains"):
        findings.append(_blocker(ref, "/spec/allowedEgressDomains", "domain-based network sets (Calico Enterprise) "
                                 "need Cilium FQDN policies (toFQDNs) with DNS proxying"))
    if not facts.dataplane == "cilium":
        findings.append(_blocker(ref, "", "the target has no Cilium, so no CiliumCIDRGroup to carry this set"))
    try:
        nets = _check_nets(spec.get("nets") or (), facts, "/spec/nets")
    except _BlockedError as b:
        findings.append(_blocker(ref, b.path, b.message))
        nets = ()
    if findings:
        return Translation((), tuple(findings))
    group = _meta(obj, ref, "cilium.io/v2alpha1", "CiliumCIDRGroup", ref.name)
    group["metadata"]["labels"].update((obj.get("metadata") or {}).get("labels") or {})
    group["spec"] = {"externalCIDRs": list(nets)}
    info = Finding(CODE_TRANSLATED, Severity.INFO, ref, f"carried as CiliumCIDRGroup {ref.name}",
                   "nothing to do; policies that selected the set reference the group", "")
    return Translation((group,), (info,))


# -- policies ----------------------------------------------------------------------------------


def _types(spec: Mapping[str, Any]) -> tuple[bool, bool]:
    types = spec.get("types")
    if types is None:  # Calico's default: Ingress, plus Egress when there are egress rules
        return True, bool(spec.get("egress"))
    return "Ingress" in types, "Egress" in types


def _sort_key(obj: Mapping[str, Any]) -> tuple[float, str]:
    order = (obj.get("spec") or {}).get("order")
    return (float(order) if isinstance(order, (int, float)) else float("inf"),
            (obj.get("metadata") or {}).get("name") or "")


def _may_share_endpoints(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    # Namespaced policies of different namespaces can never select the same endpoint.
    if a.get("kind") == "NetworkPolicy" and b.get("kind") == "NetworkPolicy":
        return (a.get("metadata") or {}).get("namespace") == (b.get("metadata") or {}).get("namespace")
    return True


def _others(obj: Mapping[str, Any], facts: TargetFacts, direction: str, *, before: bool) -> list[str] | None:
    """Policies evaluated before (or after) ``obj`` that may select its endpoints and allow in ``direction``."""
    if facts.calico_objects is None:
        return None
    me = _sort_key(obj)
    found = []
    for other in facts.calico_objects:
        if group_of(other) != CALICO_GROUP or other.get("kind") not in POLICY_KINDS:
            continue
        if ObjectRef.of(other) == ObjectRef.of(obj) or not _may_share_endpoints(obj, other):
            continue
        if (_sort_key(other) < me) != before or _sort_key(other) == me:
            continue
        spec = other.get("spec") or {}
        enabled = _types(spec)[0 if direction == "ingress" else 1]
        if enabled and any(r.get("action") == "Allow" for r in spec.get(direction) or ()):
            found.append(str(ObjectRef.of(other)))
    return sorted(found)


def _selector(text: Any, path: str, what: str) -> DNF:
    if text is not None and not isinstance(text, str):
        raise _BlockedError(path, f"{what} {text!r} is not a selector expression")
    try:
        return sel.parse(text)
    except SelectorError as e:
        raise _BlockedError(path, f"{what} {text!r}: {e}") from None


def _check_keys(dnf: DNF, path: str, allowed_special: Iterable[str]) -> None:
    allowed = set(allowed_special)
    for conj in dnf:
        for t in conj:
            if t.key.startswith("projectcalico.org/") and t.key not in allowed:
                raise _BlockedError(path, f"label {t.key} is Calico-internal and has no Cilium equivalent")


def _service_account_terms(rule_sa: Mapping[str, Any], path: str) -> Conjunction:
    if rule_sa.get("selector"):
        raise _BlockedError(f"{path}/selector", "serviceAccounts.selector selects service accounts by their labels, "
                                           "which Cilium cannot see (it matches service-account names only)")
    names = rule_sa.get("names") or ()
    return (Term("projectcalico.org/serviceaccount", "In", tuple(sorted(names))),) if names else ()


def _set_peers(pods: DNF, ns_for_sets: str | None, facts: TargetFacts, policy: Mapping[str, Any],
               path: str) -> tuple[Peer, ...]:
    """Network sets a rule selector picks: GlobalNetworkSets (global scope) or the namespace's NetworkSets."""
    if facts.calico_objects is None:
        return ()
    out = []
    for s in facts.calico_objects:
        if group_of(s) != CALICO_GROUP or s.get("kind") not in SET_KINDS:
            continue
        meta = s.get("metadata") or {}
        scoped = (s.get("kind") == "GlobalNetworkSet") if ns_for_sets is None \
            else (s.get("kind") == "NetworkSet" and meta.get("namespace") == ns_for_sets)
        if not scoped or not sel.matches(pods, meta.get("labels") or {}):
            continue
        if s.get("kind") == "GlobalNetworkSet":
            out.append(Peer(group=meta.get("name")))
        else:
            out.append(Peer(cidrs=_check_nets((s.get("spec") or {}).get("nets") or (), facts, path)))
    return tuple(out)


def _remote(entity: Mapping[str, Any], policy: Mapping[str, Any], facts: TargetFacts, path: str) -> tuple[Peer, ...]:
    """The remote side of a rule as ORed peers; () means "anything"."""
    for field in ("notSelector", "notPorts", "services"):
        if entity.get(field):
            raise _BlockedError(f"{path}/{field}", f"{field} has no one-to-one Cilium form"
                           + (" (a negated match)" if field.startswith("not") else ""))
    global_policy = policy.get("kind") == "GlobalNetworkPolicy"
    nets = entity.get("nets") or ()
    not_nets = entity.get("notNets") or ()
    has_labels = any(entity.get(k) is not None for k in ("selector", "namespaceSelector", "serviceAccounts"))
    if (nets or not_nets) and has_labels:
        raise _BlockedError(path, "nets together with a selector means 'this address AND these labels', "
                             "which Cilium cannot express (its peers are alternatives)")
    if nets and not_nets:
        raise _BlockedError(f"{path}/notNets", "nets with notNets has no one-to-one Cilium form")
    if not_nets:
        excepts = tuple(str(ipaddress.ip_network(str(c), strict=False)) for c in not_nets)
        uncovered = [p for p in facts.pod_cidrs if not any(
            ipaddress.ip_network(p).version == ipaddress.ip_network(e).version
            and ipaddress.ip_network(p).subnet_of(ipaddress.ip_network(e)) for e in excepts)]  # type: ignore[arg-type]
        if uncovered or not facts.pod_cidrs:
            raise _BlockedError(f"{path}/notNets", "notNets also matched pods outside the listed nets, and Cilium CIDR "
                                              "rules never match pods" + (f" (pod CIDR {', '.join(uncovered)} is not "
                                                                          "excluded)" if uncovered else ""))
        world = "0.0.0.0/0" if ipaddress.ip_network(excepts[0]).version == 4 else "::/0"
        return (Peer(cidrs=(world,), excepts=excepts),)
    if nets:
        everything = [c for c in nets if ipaddress.ip_network(str(c), strict=False).prefixlen == 0]
        rest = _check_nets([c for c in nets if c not in everything], facts, f"{path}/nets")
        return ((Peer(entity="all"),) if everything else ()) + ((Peer(cidrs=rest),) if rest else ())
    if not has_labels:
        return ()
    ns_text = entity.get("namespaceSelector")
    pods = _selector(entity.get("selector"), f"{path}/selector", "selector")
    _check_keys(pods, f"{path}/selector", POD_RENAMES)
    sa = _service_account_terms(entity.get("serviceAccounts") or {}, f"{path}/serviceAccounts")
    if sa:
        pods = tuple(tuple(sorted(set(conj + sa))) for conj in pods)
    if sel.is_global(ns_text):  # only non-namespaced things: GlobalNetworkSets (host endpoints have no peer here)
        found = _set_peers(pods, None, facts, policy, path)
        if facts.calico_objects is None:
            raise _BlockedError(f"{path}/namespaceSelector", "namespaceSelector global() selects network sets, and the "
                                                        "source's GlobalNetworkSets were not given")
        if not found:
            raise _BlockedError(f"{path}/namespaceSelector", "namespaceSelector global() selects no GlobalNetworkSet "
                                                        "(host endpoints have no Cilium peer)")
        return found
    peers: list[Peer] = []
    if ns_text is not None:
        namespaces = _selector(ns_text, f"{path}/namespaceSelector", "namespaceSelector")
        _check_keys(namespaces, f"{path}/namespaceSelector", NS_RENAMES)
        for ns_conj in namespaces:
            for pod_conj in pods:
                peers.append(Peer(pods=pod_conj, namespaces=ns_conj, any_namespace=not ns_conj))
    else:
        peers += [Peer(pods=conj) for conj in pods]
        # A selector also picks network sets: GlobalNetworkSets for global policies, the namespace's own otherwise.
        if entity.get("selector") is not None:
            peers += _set_peers(pods, None if global_policy else (policy.get("metadata") or {}).get("namespace"),
                                facts, policy, path)
    return tuple(dict.fromkeys(peers))


def _ports(destination: Mapping[str, Any], protocol: str | None, path: str) -> tuple[Port, ...]:
    ports = destination.get("ports") or ()
    if not ports:
        return (Port(protocol),) if protocol in ("TCP", "UDP", "SCTP") else ()
    if protocol not in ("TCP", "UDP", "SCTP"):
        raise _BlockedError(f"{path}/ports", f"ports need protocol TCP, UDP or SCTP (have {protocol})")
    out = []
    for i, p in enumerate(ports):
        if isinstance(p, int):
            out.append(Port(protocol, p))
        elif isinstance(p, str) and ":" in p:
            lo, _, hi = p.partition(":")
            if not (lo.isdigit() and hi.isdigit()):
                raise _BlockedError(f"{path}/ports/{i}", f"port range {p!r} is not numeric")
            out.append(Port(protocol, int(lo), int(hi)) if lo != hi else Port(protocol, int(lo)))
        elif isinstance(p, str) and p.isdigit():
            out.append(Port(protocol, int(p)))
        elif isinstance(p, str) and p:
            out.append(Port(protocol, p))  # a named port: both Cilium and Kubernetes resolve it on the pod
        else:
            raise _BlockedError(f"{path}/ports/{i}", f"port {p!r} is neither a number, a range nor a name")
    return tuple(out)


def _rule(raw: Mapping[str, Any], direction: str, policy: Mapping[str, Any], facts: TargetFacts,
          path: str) -> Rule | None:
    """One Calico rule as a :class:`Rule`, None when it can never match on the target."""
    if not isinstance(raw, Mapping):
        raise _BlockedError(path, "a rule must be an object")
    for field in ("notProtocol", "notICMP", "http"):
        if raw.get(field):
            raise _BlockedError(f"{path}/{field}", f"{field} has no one-to-one Cilium form"
                           + (" (Calico application-layer policy)" if field == "http" else ""))
    ip_version = raw.get("ipVersion")
    if ip_version is not None and f"IPv{ip_version}" not in facts.ip_families:
        return None  # the rule only matches IPv{n} traffic, which the target does not carry
    raw_proto = raw.get("protocol")
    protocol = PROTOCOLS.get(raw_proto.upper() if isinstance(raw_proto, str) else raw_proto)
    if raw_proto is not None and protocol is None:
        raise _BlockedError(f"{path}/protocol", f"protocol {raw_proto!r} is not TCP, UDP, SCTP, ICMP or ICMPv6")
    remote_key, local_key = ("source", "destination") if direction == "ingress" else ("destination", "source")
    remote = raw.get(remote_key) or {}
    local = raw.get(local_key) or {}
    extra_local = sorted(k for k, v in local.items() if v not in (None, [], {}, "") and
                         (direction == "egress" or k != "ports"))
    if extra_local:
        raise _BlockedError(f"{path}/{local_key}", f"{local_key}.{', '.join(extra_local)} narrows the policy's own "
                       "endpoints per rule; Cilium selects them once per policy")
    if direction == "ingress" and remote.get("ports"):
        raise _BlockedError(f"{path}/{remote_key}/ports", f"{remote_key} ports (the remote side's own port) have no "
                       "Cilium form")
    peers = _remote(remote, policy, facts, f"{path}/{remote_key}")
    if protocol in ("ICMP", "ICMPv6"):
        icmp = raw.get("icmp") or {}
        if "code" in icmp:
            raise _BlockedError(f"{path}/icmp/code", "ICMP codes cannot be matched by Cilium (types only)")
        if "type" not in icmp:
            raise _BlockedError(f"{path}/protocol", "all of ICMP (no type) cannot be listed in a Cilium icmps rule")
        family = "IPv4" if protocol == "ICMP" else "IPv6"
        return Rule(raw.get("action") == "Deny", peers, (), ((family, int(icmp["type"])),))
    ports = _ports(raw.get("destination") or {}, protocol, f"{path}/destination")
    return Rule(raw.get("action") == "Deny", peers, ports)


def _is_catch_all(raw: Mapping[str, Any]) -> bool:
    return all(raw.get(k) in (None, {}, []) for k in ("source", "destination", "protocol", "icmp", "ipVersion",
                                                      "notProtocol", "notICMP", "http"))


def _direction(policy: Mapping[str, Any], ref: ObjectRef, direction: str, facts: TargetFacts,
               findings: list[Finding]) -> list[Rule]:
    rules: list[Rule] = []
    blocked: list[_BlockedError] = []
    seen_allow = False
    for i, raw in enumerate((policy.get("spec") or {}).get(direction) or ()):
        path = ptr("spec", direction, i)
        action = raw.get("action") if isinstance(raw, Mapping) else None
        try:
            if action == "Log":
                findings.append(Finding(CODE_LOG_DROPPED, Severity.WARNING, ref, f"{direction} rule {i} only logs "
                                        "packets; Cilium has no log action", "observe the flows with Hubble "
                                        "instead", path))
                continue
            if action == "Pass":
                raise _BlockedError(path, "Pass hands the decision to the next tier or the namespace profile; "
                                     "Cilium has no tiers")
            if action not in ("Allow", "Deny"):
                raise _BlockedError(f"{path}/action", f"action {action!r} is not Allow, Deny, Log or Pass")
            if action == "Deny" and _is_catch_all(raw):
                later = _others(policy, facts, direction, before=False)
                if later is None:
                    raise _BlockedError(path, "a catch-all Deny stops later policies from allowing anything; the other "
                                         "Calico policies were not given, so that cannot be checked")
                if later:
                    raise _BlockedError(path, "a catch-all Deny here stops policies evaluated later from allowing "
                                         f"traffic ({', '.join(later)}), while Cilium unions all allow rules")
                break  # Cilium's default deny of a selected endpoint is exactly this; later rules never match
            rule = _rule(raw, direction, policy, facts, path)
            if rule is None:
                continue
            if rule.deny:
                if seen_allow:
                    raise _BlockedError(path, "this Deny comes after an Allow of the same policy: Calico lets the "
                                         "earlier Allow win, Cilium lets the Deny win")
                earlier = _others(policy, facts, direction, before=True)
                if earlier is None:
                    raise _BlockedError(path, "a Deny's meaning depends on Allow rules of policies evaluated "
                                         "earlier; the other Calico policies were not given")
                if earlier:
                    raise _BlockedError(path, "policies evaluated earlier may allow what this Deny denies "
                                         f"({', '.join(earlier)}): Calico lets them win, Cilium lets the Deny win")
            else:
                seen_allow = True
            rules.append(rule)
        except _BlockedError as b:
            blocked.append(b)
        except (ValueError, TypeError, AttributeError) as e:  # malformed fields: a blocker, never a crash
            blocked.append(_BlockedError(path, f"malformed rule: {e}"))
    findings += [_blocker(ref, b.path, f"{direction} rule: {b.message}") for b in blocked]
    return rules


def _add_node_local_dns(rules: list[Rule], facts: TargetFacts) -> bool:
    if facts.node_local_dns is None:
        return False
    dns_ports = tuple(p for r in rules if not r.deny for p in r.ports if p.port in (53, "53", "dns", "dns-tcp"))
    if not dns_ports:
        return False
    ports = tuple(dict.fromkeys(Port(p.protocol, 53) for p in dns_ports))
    rules.append(Rule(False, (Peer(cidrs=tuple(f"{a}/32" for a in NODE_LOCAL_DNS[facts.node_local_dns])),), ports))
    return True


def _translate_policy(obj: Mapping[str, Any], ref: ObjectRef, facts: TargetFacts) -> Translation:
    spec = obj.get("spec") or {}
    findings: list[Finding] = []
    global_policy = obj.get("kind") == "GlobalNetworkPolicy"
    for field in ("preDNAT", "doNotTrack", "applyOnForward"):
        if spec.get(field):
            findings.append(_blocker(ref, ptr("spec", field), f"{field} applies to host endpoints (node interfaces), "
                                     "which Cilium policies for pods do not cover"))
    tier = spec.get("tier")
    if tier not in (None, "", "default"):
        findings.append(_blocker(ref, "/spec/tier", f"tier {tier!r}: Calico evaluates tiers before the default "
                                                    "one, and Cilium has no tiers"))
    endpoints: DNF = sel.ALL
    try:
        endpoints = _selector(spec.get("selector"), "/spec/selector", "selector")
        _check_keys(endpoints, "/spec/selector", POD_RENAMES)
        if global_policy and spec.get("namespaceSelector") is not None:
            namespaces = _selector(spec.get("namespaceSelector"), "/spec/namespaceSelector", "namespaceSelector")
            _check_keys(namespaces, "/spec/namespaceSelector", NS_RENAMES)
            endpoints = tuple(dict.fromkeys(tuple(sorted(set(p + _ns_terms(n)))) for p in endpoints
                                            for n in namespaces))
        if spec.get("serviceAccountSelector") is not None:
            accounts = _selector(spec.get("serviceAccountSelector"), "/spec/serviceAccountSelector",
                                 "serviceAccountSelector")
            for conj in accounts:
                for t in conj:
                    if t.key != "projectcalico.org/name":
                        raise _BlockedError("/spec/serviceAccountSelector", f"serviceAccountSelector on label {t.key}: "
                                       "Cilium matches service-account names only (projectcalico.org/name)")
            endpoints = tuple(dict.fromkeys(tuple(sorted(set(p + tuple(
                Term("projectcalico.org/serviceaccount", t.op, t.values) for t in a)))) for p in endpoints
                for a in accounts))
        if len(endpoints) > sel.MAX_DISJUNCTS:
            raise _BlockedError("/spec/selector", "too many alternatives in the endpoint selector")
    except _BlockedError as b:
        findings.append(_blocker(ref, b.path, b.message))
    ingress_on, egress_on = _types(spec)
    ingress = _direction(obj, ref, "ingress", facts, findings) if ingress_on else []
    egress = _direction(obj, ref, "egress", facts, findings) if egress_on else []
    dns_added = egress_on and _add_node_local_dns(egress, facts)
    if any(f.severity is Severity.BLOCKER for f in findings):
        return Translation((), tuple(findings))
    name = _output_name(ref.name)
    out = None
    if not global_policy and len(endpoints) == 1:
        out = _kubernetes_policy(obj, ref, name, endpoints[0], ingress_on, ingress, egress_on, egress)
    if out is None:
        if facts.dataplane != "cilium":
            why = "a cluster-wide policy" if global_policy else "deny rules, ICMP, CIDR groups, Calico-internal " \
                  "labels or several endpoint selectors"
            return Translation((), (*findings, _blocker(ref, "", f"this policy needs Cilium ({why}) and the target "
                                                                 "has none; Kubernetes NetworkPolicy cannot hold it")))
        out = _cilium_policy(obj, ref, name, global_policy, endpoints, ingress_on, ingress, egress_on, egress)
    findings.append(Finding(CODE_TRANSLATED, Severity.INFO, ref, f"translated to {out['kind']} {name}",
                            "review the translated policy in the transformed snapshot", ""))
    if dns_added:
        findings.append(Finding(CODE_NODE_LOCAL_DNS, Severity.INFO, ref, "egress to the node-local DNS addresses "
                                f"({', '.join(NODE_LOCAL_DNS[facts.node_local_dns or ''])}) added: the target's pods "
                                "resolve names through them", "nothing to do", ""))
    return Translation((out,), tuple(findings))


def _ns_terms(conj: Conjunction) -> Conjunction:
    """Namespace-label terms re-keyed so they can join endpoint terms in one Cilium selector."""
    return tuple(Term(NS_RENAMES.get(t.key, NS_LABEL_PREFIX + t.key), t.op, t.values) for t in conj)


# -- rendering: Cilium --------------------------------------------------------------------------


def _cilium_selector(peer: Peer, global_policy: bool) -> dict[str, Any]:
    terms = list(peer.pods or ())
    selector: dict[str, Any] = sel.label_selector(tuple(terms), POD_RENAMES)
    ns: dict[str, Any] = {}
    if peer.namespaces:
        ns = sel.label_selector(peer.namespaces, NS_RENAMES, NS_LABEL_PREFIX)
    elif peer.any_namespace and not global_policy:  # a CNP's bare selector means "this namespace"
        ns = {"matchExpressions": [{"key": NS_NAME, "operator": "Exists"}]}
    for field in ("matchLabels", "matchExpressions"):
        if field in ns:
            if field == "matchLabels":
                selector.setdefault(field, {}).update(ns[field])
            else:
                selector.setdefault(field, []).extend(ns[field])
    return selector


def _cilium_rule(rule: Rule, direction: str, global_policy: bool) -> dict[str, Any]:
    side = "from" if direction == "ingress" else "to"
    out: dict[str, Any] = {}
    if not rule.peers:
        out[f"{side}Entities"] = ["all"]
    for peer in rule.peers:
        if peer.entity:
            out.setdefault(f"{side}Entities", []).append(peer.entity)
        elif peer.group:
            out.setdefault(f"{side}CIDRSet", []).append({"cidrGroupRef": peer.group})
        elif peer.excepts:
            out.setdefault(f"{side}CIDRSet", []).append({"cidr": peer.cidrs[0], "except": list(peer.excepts)})
        elif peer.cidrs:
            out.setdefault(f"{side}CIDR", []).extend(peer.cidrs)
        else:
            out.setdefault(f"{side}Endpoints", []).append(_cilium_selector(peer, global_policy))
    if rule.ports:
        ports = []
        for p in rule.ports:
            entry: dict[str, Any] = {"port": str(p.port if p.port is not None else 0), "protocol": p.protocol}
            if p.end_port is not None:
                entry["endPort"] = p.end_port
            ports.append(entry)
        out["toPorts"] = [{"ports": ports}]
    if rule.icmp:
        out["icmps"] = [{"fields": [{"family": family, "type": t} for family, t in rule.icmp]}]
    return out


def _cilium_policy(obj: Mapping[str, Any], ref: ObjectRef, name: str, global_policy: bool, endpoints: DNF,
                   ingress_on: bool, ingress: list[Rule], egress_on: bool, egress: list[Rule]) -> dict[str, Any]:
    kind = "CiliumClusterwideNetworkPolicy" if global_policy else "CiliumNetworkPolicy"
    out = _meta(obj, ref, "cilium.io/v2", kind, name)
    specs = []
    for conj in endpoints:
        spec: dict[str, Any] = {"endpointSelector": sel.label_selector(conj, POD_RENAMES)}
        for direction, on, rules in (("ingress", ingress_on, ingress), ("egress", egress_on, egress)):
            if not on:
                continue
            allows = [_cilium_rule(r, direction, global_policy) for r in rules if not r.deny]
            denies = [_cilium_rule(r, direction, global_policy) for r in rules if r.deny]
            # An empty rule puts the selected endpoints into default deny for the direction,
            # which is what a Calico policy of that type with no allow rule means.
            spec[direction] = allows or [{}]
            if denies:
                spec[f"{direction}Deny"] = denies
        specs.append(spec)
    if len(specs) == 1:
        out["spec"] = specs[0]
    else:
        out["specs"] = specs
    return out


# -- rendering: Kubernetes NetworkPolicy ----------------------------------------------------------


def _kubernetes_peer(peer: Peer) -> dict[str, Any] | None:
    if peer.entity or peer.group or peer.excepts:
        if peer.excepts:
            return {"ipBlock": {"cidr": peer.cidrs[0], "except": list(peer.excepts)}}
        return None
    if peer.cidrs:
        return None  # several CIDRs: expanded by the caller
    if any(t.key.startswith("projectcalico.org/") for t in peer.pods or ()):
        return None
    out: dict[str, Any] = {"podSelector": sel.label_selector(peer.pods or ())}
    if peer.namespaces is not None:
        out["namespaceSelector"] = sel.label_selector(peer.namespaces, K8S_NS_RENAMES)
    elif peer.any_namespace:
        out["namespaceSelector"] = {}
    return out


def _kubernetes_rule(rule: Rule, direction: str) -> dict[str, Any] | None:
    if rule.deny or rule.icmp:
        return None
    peers: list[dict[str, Any]] = []
    for peer in rule.peers:
        if peer.cidrs and not peer.excepts:
            peers += [{"ipBlock": {"cidr": c}} for c in peer.cidrs]
            continue
        converted = _kubernetes_peer(peer)
        if converted is None:
            return None
        peers.append(converted)
    out: dict[str, Any] = {}
    if peers:
        out["from" if direction == "ingress" else "to"] = peers
    if rule.ports:
        ports = []
        for p in rule.ports:
            entry: dict[str, Any] = {"protocol": p.protocol}
            if p.port is not None:
                entry["port"] = p.port
            if p.end_port is not None:
                entry["endPort"] = p.end_port
            ports.append(entry)
        out["ports"] = ports
    return out


def _kubernetes_policy(obj: Mapping[str, Any], ref: ObjectRef, name: str, endpoints: Conjunction,
                       ingress_on: bool, ingress: Sequence[Rule], egress_on: bool,
                       egress: Sequence[Rule]) -> dict[str, Any] | None:
    """The policy as a networking.k8s.io NetworkPolicy, or None when that cannot hold it."""
    if any(t.key.startswith("projectcalico.org/") for t in endpoints):
        return None
    spec: dict[str, Any] = {"podSelector": sel.label_selector(endpoints), "policyTypes": []}
    for direction, on, rules in (("ingress", ingress_on, ingress), ("egress", egress_on, egress)):
        if not on:
            continue
        spec["policyTypes"].append(direction.capitalize())
        converted = [_kubernetes_rule(r, direction) for r in rules]
        if any(c is None for c in converted):
            return None
        if converted:
            spec[direction] = converted
    out = _meta(obj, ref, "networking.k8s.io/v1", "NetworkPolicy", name)
    out["spec"] = spec
    return out


__all__ = ["CODE_LOG_DROPPED", "CODE_NODE_LOCAL_DNS", "CODE_TRANSLATED", "CODE_UNTRANSLATABLE", "NODE_LOCAL_DNS",
           "TargetFacts", "Translation", "applies_to", "translate"]
