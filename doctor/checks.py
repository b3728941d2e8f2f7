"""The doctor's checks: pure functions from (cluster objects, ARM description, today) to one finding each.

Why shaped so: each known AKS pitfall is one function with one job — say what
it saw (evidence), how bad it is (severity) and what to do (fix) — registered
in :data:`CHECKS`, an ordered table, so the report reads the same way every
time and a new pitfall is one function plus one row. Checks never read the
clock or the network: ``today`` and every input come in :class:`Inputs`, so
the tests are deterministic tables. A check whose input is missing returns a
``skipped`` finding that names the missing input instead of passing silently.

Thresholds are ours and say why next to them; dates are Microsoft's
published retirement dates.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from doctor.arm import ArmCluster
from doctor.cluster import ClusterObjects
from doctor.deprecations import REMOVALS, Removal, removal_of
from doctor.verdicts import Grade, Verdict

#: AKS retires kubenet on this day (learn.microsoft.com, "kubenet retirement").
KUBENET_RETIREMENT = dt.date(2028, 3, 31)
#: Azure Network Policy Manager end of support: Windows nodes, then Linux nodes.
NPM_WINDOWS_RETIREMENT = dt.date(2026, 9, 30)
NPM_LINUX_RETIREMENT = dt.date(2028, 9, 30)
#: A retirement closer than this is critical: a blue-green migration of a production cluster
#: (new cluster, workload moves, a rollback window) takes a quarter in most teams.
RETIREMENT_CRITICAL_DAYS = 180
#: A service-principal secret closer to expiry than this is critical; under the warning horizon it is
#: worth a ticket now. Renewing needs an Entra ID admin, which is rarely same-day.
SECRET_CRITICAL_DAYS = 30
SECRET_WARNING_DAYS = 90
#: kube-proxy in iptables mode rewrites whole chains on every change and walks Service rules linearly,
#: so sync time grows with Services x endpoints. Upstream scalability targets and the nftables KEP put
#: the pain at thousands of Services / tens of thousands of endpoints; we warn an order of magnitude early.
IPTABLES_WARN_SERVICES, IPTABLES_WARN_ENDPOINTS = 1_000, 10_000
IPTABLES_CRITICAL_SERVICES, IPTABLES_CRITICAL_ENDPOINTS = 5_000, 50_000
#: The glibc resolver default and kubelet's for ClusterFirst pods: names with fewer dots try every search domain.
DEFAULT_NDOTS = 5
#: Resolver options teams add after hitting the conntrack insert race (5 s DNS timeouts): a symptom.
CONNTRACK_WORKAROUNDS = frozenset({"single-request-reopen", "single-request", "use-vc"})

NETWORK_PLUGIN_LABEL = "kubernetes.azure.com/network-plugin"
NETWORK_POLICY_LABEL = "kubernetes.azure.com/network-policy"
EBPF_DATAPLANE_LABEL = "kubernetes.azure.com/ebpf-dataplane"
OS_LABEL = "kubernetes.io/os"


@dataclasses.dataclass(frozen=True)
class Inputs:
    """Everything a check may look at.

    Attributes:
        cluster: Objects read from the cluster, None when no kubeconfig was given.
        arm: The ARM description, None when none was given.
        today: The date to count days from (a parameter, so tests are deterministic).
        sp_secret_expires_on: Expiry of the service principal's secret, as the user knows it
            (ARM never returns the secret or its expiry).
    """

    cluster: ClusterObjects | None
    arm: ArmCluster | None
    today: dt.date
    sp_secret_expires_on: dt.date | None = None


@dataclasses.dataclass(frozen=True)
class Check:
    """One row of :data:`CHECKS`."""

    id: str
    title: str
    run: Callable[[Inputs], Verdict]


def _skipped(check: str, needs: str) -> Verdict:
    return Verdict(check, Grade.SKIPPED, f"not checked: needs {needs}")


def _days(n: int) -> str:
    return f"{n} day{'s' if abs(n) != 1 else ''}"


def _label_counts(nodes: Iterable[dict[str, Any]], label: str) -> Counter[str]:
    return Counter(((n.get("metadata") or {}).get("labels") or {}).get(label, "") for n in nodes)


def _named(objs: Iterable[dict[str, Any]], *names: str) -> dict[str, Any] | None:
    for o in objs:
        md = o.get("metadata") or {}
        labels = md.get("labels") or {}
        if md.get("name") in names or labels.get("k8s-app") in names:
            return o
    return None


def _retirement(today: dt.date, day: dt.date) -> tuple[Grade, str]:
    left = (day - today).days
    if left < 0:
        return Grade.CRITICAL, f"retired on {day.isoformat()} ({_days(-left)} ago)"
    severity = Grade.CRITICAL if left <= RETIREMENT_CRITICAL_DAYS else Grade.WARNING
    return severity, f"retires on {day.isoformat()}, in {_days(left)}"


# --------------------------------------------------------------------------- kubenet


def check_kubenet(inp: Inputs) -> Verdict:
    """kubenet retires on 2028-03-31; report its pod CIDR, which Overlay may reuse but the rules must rewrite.

    Args:
        inp: ARM ``networkProfile.networkPlugin/podCidr`` and/or the nodes' AKS network labels and ``spec.podCIDR``.

    Returns:
        WARNING for a kubenet cluster, CRITICAL within 180 days of retirement, OK otherwise.
    """
    cid = "kubenet"
    if inp.arm is None and inp.cluster is None:
        return _skipped(cid, "--arm or --kubeconfig")
    evidence: list[str] = []
    kubenet = False
    if inp.arm is not None:
        evidence.append(f"ARM networkProfile.networkPlugin: {inp.arm.network_plugin}")
        if inp.arm.pod_cidr:
            evidence.append(f"ARM networkProfile.podCidr: {inp.arm.pod_cidr}")
        kubenet = inp.arm.is_kubenet
    if inp.cluster is not None and inp.cluster.nodes:
        plugins = _label_counts(inp.cluster.nodes, NETWORK_PLUGIN_LABEL)
        total = len(inp.cluster.nodes)
        for plugin, n in sorted(plugins.items()):
            evidence.append(f"cluster: {n}/{total} node(s) labelled {NETWORK_PLUGIN_LABEL}={plugin or '(none)'}")
        cidrs: list[str] = [c for c in ((n.get("spec") or {}).get("podCIDR") for n in inp.cluster.nodes) if c]
        if cidrs:
            shown = ", ".join(sorted(cidrs)[:3]) + (f" … ({len(cidrs)} in all)" if len(cidrs) > 3 else "")
            evidence.append(f"cluster: node spec.podCIDR {shown}")
        kubenet = kubenet or plugins.get("kubenet", 0) > 0
    if not kubenet:
        what = inp.arm.networking if inp.arm is not None else "not kubenet"
        return Verdict(cid, Grade.OK, f"networking is {what}", tuple(evidence))
    severity, when = _retirement(inp.today, KUBENET_RETIREMENT)
    pod_cidr = f" (pod CIDR {inp.arm.pod_cidr})" if inp.arm is not None and inp.arm.pod_cidr else ""
    return Verdict(
        cid, severity, f"kubenet{pod_cidr} {when}", tuple(evidence),
        "move to Azure CNI Overlay: `akshift strategy --stack NAME --arm current.json` decides "
        "between AKS's in-place update and a new cluster; NetworkPolicies and data that name kubenet pod IPs are "
        "rewritten or reported by `akshift transform`",
    )


# --------------------------------------------------------------------------- kube-proxy


_PROXY_MODE_ARG = re.compile(r"--proxy-mode[= ](\w*)")
_PROXY_MODE_YAML = re.compile(r"^mode:\s*[\"']?(\w*)[\"']?\s*$", re.MULTILINE)


def kube_proxy_mode(cluster: ClusterObjects | None, arm: ArmCluster | None) -> tuple[str, list[str]]:
    """Which proxy mode the cluster's Services run on, and the evidence for it.

    Args:
        cluster: kube-system's kube-proxy DaemonSet / ConfigMap, a Cilium DaemonSet.
        arm: ``networkDataplane`` and ``networkProfile.kubeProxyConfig.mode``.

    Returns:
        ``(mode, evidence)``; mode is ``iptables``, ``ipvs``, ``nftables``, ``cilium`` (kube-proxy
        replaced) or ``unknown``.
    """
    evidence: list[str] = []
    if arm is not None and arm.runs_cilium:
        return "cilium", ["ARM networkProfile.networkDataplane: cilium (eBPF replaces kube-proxy)"]
    if arm is not None and arm.kube_proxy_mode:
        evidence.append(f"ARM networkProfile.kubeProxyConfig.mode: {arm.kube_proxy_mode}")
        return arm.kube_proxy_mode.lower(), evidence
    if cluster is None:
        if arm is not None:
            return "iptables", ["ARM: no kubeProxyConfig, so AKS's default (iptables)"]
        return "unknown", evidence
    ds = _named((d for d in cluster.daemonsets if (d.get("metadata") or {}).get("namespace") == "kube-system"), "kube-proxy")
    for name in ("kube-proxy", "kube-proxy-config"):
        cm = cluster.kube_system_configmaps.get(name)
        for value in ((cm or {}).get("data") or {}).values():
            m = _PROXY_MODE_YAML.search(str(value))
            if m:
                evidence.append(f"cluster: ConfigMap kube-system/{name} mode: {m.group(1) or '(empty)'}")
                return (m.group(1) or "iptables").lower(), evidence
    if ds is not None:
        containers = ((((ds.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers")) or []
        words = " ".join(" ".join(c.get("command") or []) + " " + " ".join(c.get("args") or []) for c in containers)
        m = _PROXY_MODE_ARG.search(words)
        if m and m.group(1):
            evidence.append(f"cluster: DaemonSet kube-system/kube-proxy --proxy-mode={m.group(1)}")
            return m.group(1).lower(), evidence
        evidence.append("cluster: DaemonSet kube-system/kube-proxy without --proxy-mode (kube-proxy's default: iptables)")
        return "iptables", evidence
    cilium = _named(cluster.daemonsets, "cilium")
    if cilium is not None or _label_counts(cluster.nodes, EBPF_DATAPLANE_LABEL).get("cilium"):
        return "cilium", ["cluster: Cilium runs on the nodes and no kube-proxy DaemonSet exists"]
    evidence.append("cluster: no kube-proxy DaemonSet or ConfigMap visible in kube-system")
    if arm is not None:
        evidence.append("ARM: no kubeProxyConfig, so AKS's default (iptables)")
        return "iptables", evidence
    return "unknown", evidence


def check_kube_proxy(inp: Inputs) -> Verdict:
    """kube-proxy's mode and the Service/endpoint counts that predict iptables sync trouble.

    Args:
        inp: The cluster's Services and EndpointSlices, kube-proxy's DaemonSet/ConfigMap; ARM dataplane.

    Returns:
        OK under the thresholds or with Cilium, WARNING/CRITICAL above them in iptables mode,
        INFO for IPVS/nftables.
    """
    cid = "kube-proxy"
    if inp.arm is None and inp.cluster is None:
        return _skipped(cid, "--arm or --kubeconfig")
    mode, evidence = kube_proxy_mode(inp.cluster, inp.arm)
    if mode == "cilium":
        return Verdict(cid, Grade.OK, "Services are handled by Cilium's eBPF dataplane (no kube-proxy)", tuple(evidence))
    if inp.cluster is None:
        return Verdict(cid, Grade.INFO, f"kube-proxy mode {mode}; Service and endpoint counts need --kubeconfig",
                       tuple(evidence))
    services, endpoints = inp.cluster.services, inp.cluster.endpoints
    by_type = ", ".join(f"{t} {n}" for t, n in sorted(inp.cluster.services_by_type.items()))
    evidence.append(f"cluster: {services} Service(s) ({by_type or 'none'})")
    evidence.append(f"cluster: {inp.cluster.endpoint_slices} EndpointSlice(s) with {endpoints} endpoint(s)")
    fix = ("the target's Cilium dataplane (networking.mode overlay-cilium) replaces kube-proxy with eBPF maps; "
           "until then keep Services and endpoints below the thresholds or run kube-proxy in IPVS/nftables mode")
    shown = "unknown (AKS default: iptables)" if mode == "unknown" else mode
    if mode in ("iptables", "unknown"):
        if services >= IPTABLES_CRITICAL_SERVICES or endpoints >= IPTABLES_CRITICAL_ENDPOINTS:
            return Verdict(cid, Grade.CRITICAL, f"kube-proxy {shown} with {services} Services / {endpoints} endpoints: "
                           "rule syncs take seconds to minutes at this size", tuple(evidence), fix)
        if services >= IPTABLES_WARN_SERVICES or endpoints >= IPTABLES_WARN_ENDPOINTS:
            return Verdict(cid, Grade.WARNING, f"kube-proxy {shown} with {services} Services / {endpoints} endpoints: "
                           "iptables sync latency grows with every Service", tuple(evidence), fix)
        return Verdict(cid, Grade.OK, f"kube-proxy {shown}; {services} Services / {endpoints} endpoints are "
                       f"below {IPTABLES_WARN_SERVICES} / {IPTABLES_WARN_ENDPOINTS}", tuple(evidence))
    return Verdict(cid, Grade.INFO, f"kube-proxy {mode} with {services} Services / {endpoints} endpoints", tuple(evidence))


# --------------------------------------------------------------------------- CoreDNS


def effective_ndots(pod: dict[str, Any]) -> int | None:
    """The ndots a pod's resolver uses for cluster DNS, None when it does not use cluster DNS.

    >>> effective_ndots({"spec": {}})
    5
    >>> effective_ndots({"spec": {"dnsConfig": {"options": [{"name": "ndots", "value": "2"}]}}})
    2
    >>> effective_ndots({"spec": {"dnsPolicy": "Default"}}) is None
    True
    """
    spec = pod.get("spec") or {}
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy == "Default" or (policy == "ClusterFirst" and spec.get("hostNetwork")):
        return None  # the node's resolv.conf: no cluster search domains
    # dnsPolicy None: only dnsConfig applies, and the resolver's own default is ndots 1.
    ndots = DEFAULT_NDOTS if policy != "None" else 1
    for opt in ((spec.get("dnsConfig") or {}).get("options") or []):
        if opt.get("name") == "ndots":
            try:
                ndots = int(opt.get("value", ""))
            except ValueError:
                pass
    return ndots


def _workarounds(pod: dict[str, Any]) -> set[str]:
    opts = ((pod.get("spec") or {}).get("dnsConfig") or {}).get("options") or []
    return {o.get("name") for o in opts if o.get("name") in CONNTRACK_WORKAROUNDS}


def check_coredns(inp: Inputs) -> Verdict:
    """CoreDNS set-up and the conditions of the conntrack DNS race: no node cache, ndots 5.

    Without a node-level cache (AKS LocalDNS, NodeLocal DNSCache) every lookup is a UDP flow to
    the kube-dns Service IP through conntrack; glibc sends A and AAAA in parallel on one socket and
    the two conntrack inserts can race, dropping one: a 5-second timeout. ndots 5 multiplies the
    lookups (each short name walks the search list first).

    Args:
        inp: Pods' DNS settings, kube-system's coredns/coredns-custom ConfigMaps and DaemonSets;
            ARM ``agentPoolProfiles[].localDNSProfile``.

    Returns:
        OK with a node cache, WARNING when pods resolve with ndots >= 5 (or carry race workarounds)
        and nothing caches on the node.
    """
    cid = "coredns"
    if inp.arm is None and inp.cluster is None:
        return _skipped(cid, "--arm or --kubeconfig")
    evidence: list[str] = []
    caches: list[str] = []
    if inp.arm is not None:
        local = [p.name for p in inp.arm.pools if p.local_dns_enabled]
        evidence.append(f"ARM localDNSProfile: {'enabled on ' + ', '.join(local) if local else 'not enabled on any pool'}")
        if local:
            caches.append("AKS LocalDNS")
    pods_ndots = 0
    workaround_pods: list[str] = []
    if inp.cluster is not None:
        c = inp.cluster
        dep = c.kube_system_deployments.get("coredns")
        if dep is not None:
            evidence.append(f"cluster: Deployment kube-system/coredns replicas {(dep.get('spec') or {}).get('replicas', 1)}")
        if "coredns" in c.kube_system_configmaps:
            evidence.append("cluster: ConfigMap kube-system/coredns present")
        custom = c.kube_system_configmaps.get("coredns-custom")
        if custom is not None:
            keys = sorted((custom.get("data") or {}).keys())
            evidence.append(f"cluster: ConfigMap kube-system/coredns-custom keys: {', '.join(keys) or '(empty)'}")
        nld = _named(c.daemonsets, "node-local-dns", "nodelocaldns")
        if nld is not None:
            md = nld.get("metadata") or {}
            evidence.append(f"cluster: DaemonSet {md.get('namespace')}/{md.get('name')} (NodeLocal DNSCache)")
            caches.append("NodeLocal DNSCache")
        using = [p for p in c.pods if effective_ndots(p) is not None]
        pods_ndots = sum(1 for p in using if (effective_ndots(p) or 0) >= DEFAULT_NDOTS)
        evidence.append(f"cluster: {pods_ndots}/{len(c.pods)} pod(s) resolve cluster DNS with ndots >= {DEFAULT_NDOTS}")
        for p in c.pods:
            found = _workarounds(p)
            if found:
                md = p.get("metadata") or {}
                workaround_pods.append(f"{md.get('namespace')}/{md.get('name')} ({', '.join(sorted(found))})")
        if workaround_pods:
            shown = ", ".join(workaround_pods[:5]) + (f" … ({len(workaround_pods)} in all)" if len(workaround_pods) > 5 else "")
            evidence.append(f"cluster: resolver workarounds for the conntrack race in {shown}")
    fix = ("give the target a node DNS cache (stack `dns.nodeCache: localdns`, or `auto`); for chatty clients set "
           "`dnsConfig.options: [{name: ndots, value: \"2\"}]` or use fully qualified names ending in '.'")
    if caches:
        return Verdict(cid, Grade.OK, f"node DNS cache: {', '.join(caches)}", tuple(evidence))
    if workaround_pods:
        return Verdict(cid, Grade.WARNING, f"no node DNS cache, and {len(workaround_pods)} pod(s) carry resolver "
                       "workarounds for 5-second DNS timeouts (conntrack race)", tuple(evidence), fix)
    if pods_ndots:
        return Verdict(cid, Grade.WARNING, f"no node DNS cache and {pods_ndots} pod(s) resolve with ndots "
                       f"{DEFAULT_NDOTS}: every lookup crosses conntrack to CoreDNS (race → 5 s timeouts)",
                       tuple(evidence), fix)
    if inp.cluster is None:
        return Verdict(cid, Grade.INFO, "no node DNS cache (LocalDNS is off); pods' ndots needs --kubeconfig",
                       tuple(evidence), fix)
    return Verdict(cid, Grade.INFO, "no node DNS cache; no pod resolves through cluster DNS with ndots 5 yet",
                   tuple(evidence), fix)


# --------------------------------------------------------------------------- identity


def check_service_principal(inp: Inputs) -> Verdict:
    """Service-principal identity and the days left before its secret expires.

    ARM never returns the secret or its expiry, so the date comes from the user
    (``--sp-secret-expires-on``, e.g. from ``az ad app credential list``).

    Args:
        inp: ARM ``servicePrincipalProfile.clientId`` and ``identity``; ``sp_secret_expires_on``.

    Returns:
        OK for a managed identity; WARNING for a service principal; CRITICAL when its secret
        has expired or expires within 30 days.
    """
    cid = "service-principal"
    if inp.arm is None:
        return _skipped(cid, "--arm (the cluster's ARM description)")
    arm = inp.arm
    if not arm.uses_service_principal:
        return Verdict(cid, Grade.OK, f"managed identity ({arm.identity_type or 'msi'})",
                       (f"ARM identity.type: {arm.identity_type}", "ARM servicePrincipalProfile.clientId: msi"))
    evidence = [f"ARM servicePrincipalProfile.clientId: {arm.service_principal_client_id}", "ARM identity: none"]
    fix = (f"switch to managed identity: `az aks update -g {arm.resource_group or '<rg>'} -n {arm.name or '<name>'} "
           "--enable-managed-identity`, then `az aks nodepool upgrade --node-image-only` per pool; until then renew "
           "with `az aks update-credentials --reset-service-principal`")
    if inp.sp_secret_expires_on is None:
        evidence.append("secret expiry: unknown (pass --sp-secret-expires-on YYYY-MM-DD; "
                        f"`az ad app credential list --id {arm.service_principal_client_id} --query \"[].endDateTime\"`)")
        return Verdict(cid, Grade.WARNING, "service principal with a secret of unknown expiry", tuple(evidence), fix)
    left = (inp.sp_secret_expires_on - inp.today).days
    evidence.append(f"secret expires on: {inp.sp_secret_expires_on.isoformat()} (given)")
    if left < 0:
        return Verdict(cid, Grade.CRITICAL, f"service principal secret expired {_days(-left)} ago: load balancers "
                       "and disks can no longer be provisioned", tuple(evidence), fix)
    severity = Grade.CRITICAL if left <= SECRET_CRITICAL_DAYS else Grade.WARNING
    soon = " (renew now)" if left <= SECRET_WARNING_DAYS else ""
    return Verdict(cid, severity, f"service principal secret expires in {_days(left)}{soon}", tuple(evidence), fix)


# --------------------------------------------------------------------------- network policy


def check_network_policy_manager(inp: Inputs) -> Verdict:
    """Azure Network Policy Manager, retiring (Windows 2026-09-30, Linux 2028-09-30); other engines as info.

    Args:
        inp: ARM ``networkProfile.networkPolicy`` and pools' OS; the nodes' network-policy label and
            an ``azure-npm`` DaemonSet.

    Returns:
        WARNING (CRITICAL within 180 days of its retirement) for Azure NPM; INFO for Calico,
        which the in-place Cilium update removes; OK otherwise.
    """
    cid = "network-policy-manager"
    if inp.arm is None and inp.cluster is None:
        return _skipped(cid, "--arm or --kubeconfig")
    evidence: list[str] = []
    engine = ""
    if inp.arm is not None:
        evidence.append(f"ARM networkProfile.networkPolicy: {inp.arm.network_policy or 'none'}")
        engine = inp.arm.policy
    windows = bool(inp.arm and inp.arm.windows_pools)
    if inp.cluster is not None:
        labels = _label_counts(inp.cluster.nodes, NETWORK_POLICY_LABEL)
        for value, n in sorted(labels.items()):
            if value:
                evidence.append(f"cluster: {n} node(s) labelled {NETWORK_POLICY_LABEL}={value}")
        npm = _named(inp.cluster.daemonsets, "azure-npm", "azure-npm-win")
        if npm is not None:
            evidence.append(f"cluster: DaemonSet kube-system/{(npm.get('metadata') or {}).get('name')}")
        windows = windows or _label_counts(inp.cluster.nodes, OS_LABEL).get("windows", 0) > 0
        if inp.arm is None:  # ARM is authoritative; without it, the nodes' labels and DaemonSets tell
            named = [v for v, _ in labels.most_common() if v]
            engine = "azure" if npm is not None or "azure" in named else (named[0] if named else "none")
    if engine == "azure":
        day = NPM_WINDOWS_RETIREMENT if windows else NPM_LINUX_RETIREMENT
        severity, when = _retirement(inp.today, day)
        return Verdict(cid, severity, f"Azure Network Policy Manager{' on Windows nodes' if windows else ''} {when}",
                       tuple(evidence),
                       "enforce the same NetworkPolicies with Cilium (networking.mode overlay-cilium, networkPolicy cilium); "
                       "policies whose ipBlock names pod or node IPs need selectors instead (see `akshift transform` findings)")
    if engine == "calico":
        return Verdict(cid, Grade.INFO, "Calico enforces network policy: AKS's in-place Cilium update needs it "
                       "uninstalled first (no enforcement in between); a new cluster avoids the gap", tuple(evidence))
    return Verdict(cid, Grade.OK, f"network policy engine: {engine or 'none'}", tuple(evidence))


# --------------------------------------------------------------------------- Windows


def check_windows_pools(inp: Inputs) -> Verdict:
    """Windows node pools, which block the Cilium dataplane (managed or OSS).

    Args:
        inp: ARM ``agentPoolProfiles[].osType``; nodes' ``kubernetes.io/os`` label.

    Returns:
        WARNING when Windows pools or nodes exist, OK otherwise.
    """
    cid = "windows-pools"
    if inp.arm is None and inp.cluster is None:
        return _skipped(cid, "--arm or --kubeconfig")
    evidence: list[str] = []
    found = False
    if inp.arm is not None:
        wins = inp.arm.windows_pools
        evidence.append("ARM agentPoolProfiles osType Windows: " + (", ".join(
            f"{p.name} ({p.os_sku or 'Windows'}, {p.count if p.count is not None else '?'} nodes)" for p in wins) or "none"))
        found = bool(wins)
    if inp.cluster is not None:
        n = _label_counts(inp.cluster.nodes, OS_LABEL).get("windows", 0)
        evidence.append(f"cluster: {n} node(s) labelled {OS_LABEL}=windows")
        found = found or n > 0
    if not found:
        return Verdict(cid, Grade.OK, "no Windows node pools", tuple(evidence))
    return Verdict(cid, Grade.WARNING, "Windows node pools: Cilium has no Windows support, so this cluster cannot "
                   "reach overlay-cilium while they exist", tuple(evidence),
                   "move Windows workloads to a cluster with networking.mode overlay (Azure dataplane), or retire them; "
                   "`akshift strategy` plans a new cluster while the pools remain")


# --------------------------------------------------------------------------- deprecated APIs


def check_deprecated_apis(inp: Inputs) -> Verdict:
    """Removed API versions the team still applies, and deprecated versions the server still serves.

    Args:
        inp: Objects' last-applied apiVersion, served (apiVersion, kind) pairs, CRDs, server version.

    Returns:
        WARNING when manifests name removed versions; INFO when only deprecated-but-served
        versions exist; OK otherwise.
    """
    cid = "deprecated-apis"
    if inp.cluster is None:
        return _skipped(cid, "--kubeconfig")
    c = inp.cluster
    current = c.minor_version or (0, 0)
    evidence: list[str] = []
    removed: dict[tuple[str, str], tuple[Removal, list[str]]] = {}
    for a in c.applied_versions:
        r = removal_of(a.applied, a.kind)
        if r is not None:
            removed.setdefault((a.applied, a.kind), (r, []))[1].append(a.ref)
    for (version, kind), (r, refs) in sorted(removed.items()):
        shown = ", ".join(refs[:3]) + (f" … ({len(refs)} in all)" if len(refs) > 3 else "")
        evidence.append(f"cluster: last applied as {kind} {version} (removed in {r.removed_in_text}, use "
                        f"{r.replacement}): {shown}")
    served_soon = sorted({(r.api_version, r.removed_in_text) for r in REMOVALS for kind in r.kinds
                          if (r.api_version, kind) in c.served and r.removed_in > current})
    for version, when in served_soon:
        evidence.append(f"cluster: serves {version}, removed in {when}")
    for crd in c.crds:
        spec = crd.get("spec") or {}
        for v in spec.get("versions") or []:
            if v.get("served") and v.get("deprecated"):
                evidence.append(f"cluster: CRD {(crd.get('metadata') or {}).get('name')} serves deprecated version "
                                f"{v.get('name')}" + (f" ({v['deprecationWarning']})" if v.get("deprecationWarning") else ""))
    fix = ("update the manifests in Git (charts, kustomizations) to the replacement versions before migrating "
           "(`kubectl convert`, or rewrite apiVersion): the new cluster rejects removed versions")
    if removed:
        n = sum(len(refs) for _r, refs in removed.values())
        return Verdict(cid, Grade.WARNING, f"{n} object(s) were last applied with removed API versions",
                       tuple(evidence), fix)
    if evidence:
        return Verdict(cid, Grade.INFO, "deprecated API versions are served", tuple(evidence), fix)
    return Verdict(cid, Grade.OK, "no removed or deprecated API versions in use",
                   (f"cluster: {len(c.applied_versions)} object(s) last applied with another version than served",))


# --------------------------------------------------------------------------- volumes

#: Volume sources whose data Azure keeps as a disk or a file share (`akshift volumes` carries these).
AZURE_VOLUME_SOURCES = frozenset({"disk.csi.azure.com", "file.csi.azure.com", "kubernetes.io/azure-disk",
                                  "kubernetes.io/azure-file"})


def check_volumes(inp: Inputs) -> Verdict:
    """PersistentVolumes: data a new cluster must carry over, and that must outlive the old cluster.

    Its severity is a contract ``akshift strategy --doctor-report`` reads: INFO when the cluster has
    PersistentVolumes (the blue-green runbook then moves and verifies them before the old cluster is
    retired), OK when it has none, SKIPPED when it could not tell.

    Args:
        inp: The cluster's PersistentVolumes by volume source; ARM ``storageProfile`` CSI drivers.

    Returns:
        INFO with the count per source, OK (no PersistentVolume, or both Azure storage drivers off), or SKIPPED.
    """
    cid = "volumes"
    arm = inp.arm
    if inp.cluster is None:
        if arm is not None and arm.azure_storage_disabled:
            return Verdict(cid, Grade.OK, "no data on Azure Disk or Azure Files: both CSI drivers are disabled",
                           ("ARM storageProfile.diskCSIDriver.enabled: false", "ARM storageProfile.fileCSIDriver.enabled: false"))
        return _skipped(cid, "--kubeconfig (PersistentVolumes are counted on the cluster)")
    volumes = inp.cluster.volumes
    total = sum(volumes.values())
    if not total:
        return Verdict(cid, Grade.OK, "no PersistentVolumes: no data to carry to a new cluster",
                       ("cluster: 0 PersistentVolumes",))
    evidence = [f"cluster: {n} PersistentVolume(s) on {source}" for source, n in sorted(volumes.items())]
    if arm is not None and arm.node_resource_group:
        evidence.append(f"ARM nodeResourceGroup: {arm.node_resource_group} (dynamically provisioned disks and "
                        "file shares live here; Azure deletes it with the cluster)")
    azure = sum(n for source, n in volumes.items() if source in AZURE_VOLUME_SOURCES)
    elsewhere = total - azure
    summary = f"{total} PersistentVolume(s) hold data: {azure} on Azure Disk or Azure Files"
    fix = ("a new cluster needs the data: `akshift volumes plan|move|verify` (or `akshift migrate --move-volumes`); "
           "retire the old cluster only after `akshift volumes verify` passed, and keep the snapshots the move took")
    if elsewhere:
        summary += f", {elsewhere} elsewhere"
        fix += "; volumes on other drivers (node-local, NFS) are not moved by akshift: copy their data yourself"
    return Verdict(cid, Grade.INFO, summary, tuple(evidence), fix)


# --------------------------------------------------------------------------- the table

CHECKS: tuple[Check, ...] = (
    Check("kubenet", "kubenet retirement and pod CIDR", check_kubenet),
    Check("kube-proxy", "kube-proxy mode and Service scale", check_kube_proxy),
    Check("coredns", "CoreDNS and the conntrack DNS race", check_coredns),
    Check("service-principal", "service principal and secret expiry", check_service_principal),
    Check("network-policy-manager", "Azure Network Policy Manager retirement", check_network_policy_manager),
    Check("windows-pools", "Windows pools (block Cilium)", check_windows_pools),
    Check("deprecated-apis", "removed and deprecated API versions", check_deprecated_apis),
    Check("volumes", "PersistentVolumes a new cluster must carry", check_volumes),
)


def run_checks(inp: Inputs, only: Iterable[str] | None = None) -> list[Verdict]:
    """Run the checks of :data:`CHECKS` in order.

    Args:
        inp: The inputs.
        only: Check ids to run; all when None.

    Returns:
        One finding per check run, plus a ``cluster-read`` warning when some types could not be listed.

    Raises:
        ValueError: ``only`` names an unknown check (the message lists the known ones).
    """
    known = [c.id for c in CHECKS]
    wanted = list(only) if only else known
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise ValueError(f"unknown check(s) {', '.join(unknown)}; known: {', '.join(known)}")
    findings = [c.run(inp) for c in CHECKS if c.id in wanted]
    if inp.cluster is not None and inp.cluster.read_errors:
        findings.append(Verdict("cluster-read", Grade.WARNING,
                                f"{len(inp.cluster.read_errors)} type(s) could not be read; checks may miss objects",
                                tuple(inp.cluster.read_errors), "grant the doctor's user get/list on every type"))
    return findings
