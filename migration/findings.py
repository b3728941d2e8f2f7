"""Findings: what a human must look at before or after the move, one frozen record each.

Why it exists: the transform rules rewrite what they safely can; everything
else — a static public IP the old load balancer still holds, a disk that dies
with the old node resource group, a federated credential trusting the old OIDC
issuer — must reach the user as a finding with a fix, never as a silent change
or a crash. :func:`find` is the one place that looks for those.

Why it is shaped so:

* :func:`find` is meant to run on the *transformed* object (what will be
  applied). The transform runner calls it for every kept object, so a
  NetworkPolicy whose old pod CIDR was rewritten yields no finding, and one that
  could not be rewritten does.
* Rules that cannot rewrite report the same problem through the same
  constructor functions below (``unmapped_node_pool`` …), so a rule's finding
  and :func:`find`'s are equal dataclasses and :func:`merge` drops the double.
* This module also holds the small object-walking helpers (where pod specs
  live, node-pool selectors, ipBlocks, load-balancer IPs) because both findings
  and transform rules need them and transforms import findings, never the
  reverse (an import cycle would otherwise appear through the rule registry).
"""
from __future__ import annotations

import dataclasses
import enum
import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from kube.objects import ObjectRef, Tokens, all_containers, controller_owner, group_of, pod_specs, ptr

if TYPE_CHECKING:  # only for annotations: transforms import this module
    from migration.transforms.context import TransformContext


class Severity(str, enum.Enum):
    """How urgent a finding is.

    BLOCKER: the migrated object will not work (or data will be lost) until a human acts.
    WARNING: it will probably work, but behaviour or reachability changes; check it.
    INFO: nothing is broken; something was changed or needs a follow-up.
    """

    INFO = "info"
    WARNING = "warning"
    BLOCKER = "blocker"

    @property
    def rank(self) -> int:
        """0 for blockers, 2 for info: sort key putting the worst first."""
        return {Severity.BLOCKER: 0, Severity.WARNING: 1, Severity.INFO: 2}[self]


@dataclasses.dataclass(frozen=True)
class Finding:
    """One thing a human must look at.

    Attributes:
        code: stable kebab-case identifier (``static-public-ip``), for filtering and docs.
        severity: see :class:`Severity`.
        ref: the object concerned.
        message: what is wrong and why, in one or two sentences.
        fix: what to do about it.
        path: JSON pointer of the field concerned, ``""`` for the whole object.
    """

    code: str
    severity: Severity
    ref: ObjectRef
    message: str
    fix: str
    path: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The finding as a JSON-ready dict."""
        return {
            "code": self.code,
            "severity": self.severity.value,
            "ref": self.ref.to_dict(),
            "object": str(self.ref),
            "path": self.path,
            "message": self.message,
            "fix": self.fix,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        """Rebuild a finding written by :meth:`to_dict` (findings.jsonl)."""
        return cls(
            code=data["code"],
            severity=Severity(data["severity"]),
            ref=ObjectRef(**data["ref"]),
            message=data["message"],
            fix=data["fix"],
            path=data.get("path", ""),
        )


def merge(*groups: Iterable[Finding]) -> tuple[Finding, ...]:
    """Concatenate finding lists, dropping exact duplicates, keeping first-seen order.

    Args:
        groups: finding iterables (a rule's, then :func:`find`'s).

    Returns:
        The unique findings.
    """
    return tuple(dict.fromkeys(f for group in groups for f in group))


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Worst first, then by namespace, object, path and code: the order reports use."""
    return sorted(findings, key=lambda f: (f.severity.rank, f.ref.namespace, f.ref, f.path, f.code))


# --------------------------------------------------------------------------
# Object-walking helpers shared with the transform rules.
# --------------------------------------------------------------------------



# Labels AKS puts on nodes naming their pool. ``agentpool`` is the legacy one,
# still set on every AKS node; selectors use either.
POOL_LABELS = ("agentpool", "kubernetes.azure.com/agentpool")


def node_selector_values(pod_spec: Mapping[str, Any], keys: Iterable[str]) -> Iterator[tuple[Tokens, str, bool]]:
    """Every place a pod spec selects nodes by one of ``keys``, value by value.

    Covers ``nodeSelector`` and node affinity (required and preferred
    ``matchExpressions``). Each value is yielded on its own so a rewrite is a
    ``replace`` of one string and never shifts list indices.

    Args:
        pod_spec: a pod spec.
        keys: node label keys to look for.

    Yields:
        ``(tokens relative to the pod spec, value, required)``; ``required`` is
        False for preferred affinity, which cannot leave a pod Pending.
    """
    keys = frozenset(keys)
    for key, value in (pod_spec.get("nodeSelector") or {}).items():
        if key in keys and isinstance(value, str):
            yield ("nodeSelector", key), value, True
    node_affinity = (pod_spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    base: Tokens = ("affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution")
    for i, term in enumerate(required.get("nodeSelectorTerms") or ()):
        for j, expr in enumerate(term.get("matchExpressions") or ()):
            if expr.get("key") in keys:
                for k, value in enumerate(expr.get("values") or ()):
                    yield (*base, "nodeSelectorTerms", i, "matchExpressions", j, "values", k), value, True
    base = ("affinity", "nodeAffinity", "preferredDuringSchedulingIgnoredDuringExecution")
    for i, pref in enumerate(node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or ()):
        for j, expr in enumerate((pref.get("preference") or {}).get("matchExpressions") or ()):
            if expr.get("key") in keys:
                for k, value in enumerate(expr.get("values") or ()):
                    yield (*base, i, "preference", "matchExpressions", j, "values", k), value, False


def pool_status(pool: str, ctx: TransformContext) -> str:
    """What to do with a node-pool name found in a selector.

    Returns:
        ``"rewrite"`` when ``ctx.node_pool_map`` maps it to another name;
        ``"ok"`` when it already names a target pool (a value of the map, or a
        member of ``ctx.target_node_pools``); ``"unmapped"`` otherwise.
    """
    mapped = ctx.node_pool_map.get(pool)
    if mapped is not None:
        return "ok" if mapped == pool else "rewrite"
    if pool in ctx.node_pool_map.values():
        return "ok"
    if ctx.target_node_pools is not None and pool in ctx.target_node_pools:
        return "ok"
    return "unmapped"


def ipblock_peers(obj: Mapping[str, Any]) -> Iterator[tuple[Tokens, Mapping[str, Any]]]:
    """Every ipBlock of a NetworkPolicy (networking.k8s.io), ingress and egress.

    Yields:
        ``(tokens of the ipBlock, the ipBlock)``.
    """
    if obj.get("kind") != "NetworkPolicy" or group_of(obj) != "networking.k8s.io":
        return
    spec = obj.get("spec") or {}
    for direction, peers_field in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(direction) or ()):
            for j, peer in enumerate(rule.get(peers_field) or ()):
                if peer.get("ipBlock"):
                    yield ("spec", direction, i, peers_field, j, "ipBlock"), peer["ipBlock"]


def ipblocks(obj: Mapping[str, Any]) -> Iterator[tuple[Tokens, str]]:
    """Every CIDR in a NetworkPolicy's ipBlocks (``cidr`` and ``except`` entries).

    Yields:
        ``(tokens, cidr)``.
    """
    for base, block in ipblock_peers(obj):
        if isinstance(block.get("cidr"), str):
            yield (*base, "cidr"), block["cidr"]
        for k, cidr in enumerate(block.get("except") or ()):
            yield (*base, "except", k), cidr


def network(cidr: str | None) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """The parsed network of a CIDR string, None when it is None or malformed."""
    if cidr is None:
        return None
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None


def contains(outer: ipaddress.IPv4Network | ipaddress.IPv6Network | None,
             inner: ipaddress.IPv4Network | ipaddress.IPv6Network | None) -> bool:
    """Whether ``outer`` holds all of ``inner`` (False across IP versions or when either is None).

    >>> contains(network("10.0.0.0/8"), network("10.244.0.0/16")), contains(network("10.0.0.0/8"), network("::/0"))
    (True, False)
    """
    if isinstance(outer, ipaddress.IPv4Network) and isinstance(inner, ipaddress.IPv4Network):
        return outer.supernet_of(inner)
    if isinstance(outer, ipaddress.IPv6Network) and isinstance(inner, ipaddress.IPv6Network):
        return outer.supernet_of(inner)
    return False


def cidr_status(cidr: str, ctx: TransformContext) -> tuple[str, str]:
    """Classify an ipBlock CIDR against the old (kubenet) pod CIDR.

    CIDRs are either disjoint or nested, so there are four cases:

    * disjoint from the old pod CIDR → ``ok``;
    * equal to it → ``rewrite`` when ``ctx.target_pod_cidr`` is set, else ``flag``;
    * a supernet of it (``10.0.0.0/8``) → ``ok`` when it also covers the target
      pod CIDR (it keeps meaning "all pods"), else ``flag``;
    * a subnet of it (``10.244.3.0/24``: one kubenet node's pod range) → ``flag``:
      overlay allocates other per-node ranges, there is no equivalent.

    Args:
        cidr: the ipBlock CIDR.
        ctx: the transform context (old and target pod CIDRs).

    Returns:
        ``(status, why)`` with status ``ok``/``rewrite``/``flag`` and a short reason.
    """
    net, old = network(cidr), network(ctx.source_pod_cidr)
    if net is None or old is None or net.version != old.version or not net.overlaps(old):
        return "ok", ""
    target = network(ctx.target_pod_cidr) if ctx.target_pod_cidr else None
    if net == old:
        if target is not None:
            return "rewrite", "equals the old pod CIDR"
        return "flag", f"equals the old pod CIDR {ctx.source_pod_cidr} and no target pod CIDR was given"
    if contains(net, old):
        if contains(net, target):
            return "ok", ""
        return "flag", f"contains the old pod CIDR {ctx.source_pod_cidr} but not the target pod CIDR"
    return "flag", (f"is part of the old pod CIDR {ctx.source_pod_cidr} (a kubenet node's pod range), "
                    "which has no equivalent on the target")


# Where a LoadBalancer Service pins an address. The annotations are the
# cloud-provider-azure ones; spec.loadBalancerIP is deprecated since 1.24 but
# still honoured by AKS.
LB_IP_ANNOTATIONS = (
    "service.beta.kubernetes.io/azure-load-balancer-ipv4",
    "service.beta.kubernetes.io/azure-load-balancer-ipv6",
    "service.beta.kubernetes.io/azure-pip-name",
    "service.beta.kubernetes.io/azure-pip-name-ipv6",
)
LB_RESOURCE_GROUP_ANNOTATION = "service.beta.kubernetes.io/azure-load-balancer-resource-group"
LB_INTERNAL_ANNOTATION = "service.beta.kubernetes.io/azure-load-balancer-internal"


def is_core(obj: Mapping[str, Any], kind: str) -> bool:
    """Whether ``obj`` is the core-group ``kind`` (not a custom kind of the same name)."""
    return obj.get("kind") == kind and group_of(obj) == ""


def load_balancer_pins(svc: Mapping[str, Any]) -> Iterator[tuple[Tokens, str]]:
    """Every address or public-IP name a Service pins, with its tokens.

    Yields:
        ``(tokens, value)`` for ``spec.loadBalancerIP`` and the Azure IP/PIP-name annotations.
    """
    if not is_core(svc, "Service") or (svc.get("spec") or {}).get("type") != "LoadBalancer":
        return  # other types ignore these fields
    ip = (svc.get("spec") or {}).get("loadBalancerIP")
    if ip:
        yield ("spec", "loadBalancerIP"), ip
    annotations = (svc.get("metadata") or {}).get("annotations") or {}
    for key in LB_IP_ANNOTATIONS:
        if annotations.get(key):
            yield ("metadata", "annotations", key), annotations[key]


# --------------------------------------------------------------------------
# Finding constructors, shared with the rules so that equal problems give equal findings.
# --------------------------------------------------------------------------

HOST_NETWORK = "host-network"
HOST_PORT = "host-port"
BARE_POD = "bare-pod"
AZURE_DISK = "azure-disk-volume"
STATIC_PUBLIC_IP = "static-public-ip"
LB_OLD_RESOURCE_GROUP = "lb-old-resource-group"
WORKLOAD_IDENTITY = "workload-identity-federation"
ADMISSION_WEBHOOK = "admission-webhook"
CRD_CONVERSION_WEBHOOK = "crd-conversion-webhook"
OLD_POD_CIDR = "old-pod-cidr-ipblock"
IPBLOCK_POD_TRAFFIC = "ipblock-pod-traffic-cilium"
UNMAPPED_NODE_POOL = "unmapped-node-pool"
KUBE_PROXY_DEPENDENT = "kube-proxy-dependent"
WINDOWS_ON_CILIUM = "windows-on-cilium"
UNSERVED_API_VERSION = "unserved-api-version"
JOB_RERUNS = "job-reruns"
PDB_EMPTY_SELECTOR = "pdb-empty-selector"
TOKEN_REISSUED = "service-account-token-reissued"
SOURCE_STORAGE_RETAINED = "source-storage-retained"
AZURE_FILES_SHARED = "azure-files-shared"
IN_TREE_STORAGE_CLASS = "in-tree-storage-class"
VOLUME_DATA_NOT_COPIED = "volume-data-not-copied"


def unmapped_node_pool(ref: ObjectRef, path: str, pool: str, *, required: bool, target_known: bool) -> Finding:
    """A selector names a node pool that has no mapping to a target pool."""
    severity = Severity.INFO if not required else Severity.BLOCKER if target_known else Severity.WARNING
    effect = "its pods will stay Pending" if required else "its preferred affinity will match nothing"
    where = ("the target has no such pool" if target_known
             else "no node_pool_map entry and the target's pools are unknown")
    return Finding(UNMAPPED_NODE_POOL, severity, ref,
                   f"selects node pool '{pool}' ({where}); {effect} unless a pool of that name exists",
                   f"map '{pool}' to a target pool in node_pool_map, or create a pool named '{pool}' on the target",
                   path)


def old_pod_cidr(ref: ObjectRef, path: str, cidr: str, why: str, *, cilium: bool) -> Finding:
    """An ipBlock still names (part of) the kubenet pod CIDR."""
    extra = (" Under Cilium, ipBlock rules do not apply to traffic between pods of the cluster anyway."
             if cilium else "")
    return Finding(OLD_POD_CIDR, Severity.WARNING, ref,
                   f"ipBlock {cidr} {why}; the policy will allow or deny the wrong sources on the target.{extra}",
                   "select pods with podSelector/namespaceSelector instead of their addresses; a CIDR equal to "
                   "the old pod CIDR is rewritten when target_pod_cidr is set, unless its except list names "
                   "kubenet node ranges (the except entries must stay inside the cidr)",
                   path)


def ipblock_pod_traffic(ref: ObjectRef, path: str, cidr: str) -> Finding:
    """An ipBlock covers the target pod CIDR but the target runs Cilium."""
    return Finding(IPBLOCK_POD_TRAFFIC, Severity.WARNING, ref,
                   f"ipBlock {cidr} covers pod addresses; Cilium does not apply CIDR rules to traffic "
                   "between endpoints it manages, so this rule no longer matches pods",
                   "replace the ipBlock with podSelector/namespaceSelector peers", path)


def static_public_ip(ref: ObjectRef, path: str, value: str, *, internal: bool, mapped: bool = False) -> Finding:
    """A Service pins a load-balancer address or public IP resource (``mapped``: already rewritten to a new one)."""
    kind = "private load-balancer IP" if internal else "public IP"
    if mapped:
        return Finding(STATIC_PUBLIC_IP, Severity.INFO, ref,
                       f"pins {kind} '{value}', rewritten from the old one through public_ip_map",
                       "make sure it exists before apply and that the new cluster's identity has Network "
                       "Contributor on its resource group; update DNS at cutover",
                       path)
    return Finding(STATIC_PUBLIC_IP, Severity.WARNING, ref,
                   f"pins {kind} '{value}'; an Azure frontend IP belongs to one load balancer at a time, "
                   "so the new cluster cannot take it while the old Service holds it",
                   "at cutover release it on the old cluster (delete the Service or move the IP), make sure the "
                   "new cluster's identity has Network Contributor on its resource group, then apply; "
                   "or map it to a new IP in public_ip_map and update DNS",
                   path)


def lb_old_resource_group(ref: ObjectRef, path: str, group: str) -> Finding:
    """The LB resource-group annotation names the old node resource group."""
    return Finding(LB_OLD_RESOURCE_GROUP, Severity.BLOCKER, ref,
                   f"the public IP is looked up in the old node resource group '{group}', "
                   "which AKS deletes together with the old cluster",
                   "move the public IP to a resource group you own and point this annotation at it, "
                   "or set new_node_resource_group to rewrite it",
                   path)


def unserved_api_version(ref: ObjectRef, api_version: str, kind: str) -> Finding:
    """The target does not serve the object's apiVersion and no conversion is known."""
    return Finding(UNSERVED_API_VERSION, Severity.BLOCKER, ref,
                   f"the target does not serve {kind} in {api_version} and no conversion is registered",
                   "install the CRD that serves it on the target, or convert the object to a served "
                   "version (kubectl convert) and add the mapping to api_version_map",
                   "/apiVersion")


def pdb_empty_selector(ref: ObjectRef) -> Finding:
    """policy/v1beta1 → v1 changes what an empty selector means."""
    return Finding(PDB_EMPTY_SELECTOR, Severity.WARNING, ref,
                   "converted from policy/v1beta1, where an empty selector matched no pods; "
                   "in policy/v1 it matches every pod of the namespace",
                   "give the PodDisruptionBudget an explicit selector, or delete it if it was unused",
                   "/spec/selector")


def token_reissued(ref: ObjectRef) -> Finding:
    """A hand-made service-account token Secret is recreated empty for the target to fill."""
    return Finding(TOKEN_REISSUED, Severity.INFO, ref,
                   "service-account token Secret recreated without data; the target issues a new token "
                   "(the old one is signed by the old cluster and is useless there)",
                   "update anything outside the cluster that holds the old token", "/data")


def source_storage(spec: Mapping[str, Any]) -> str | None:
    """What Azure storage a PV spec names, in words; None when it is not an Azure Disk or Azure Files volume.

    Reads ``csi`` (``disk.csi.azure.com``: ``volumeHandle`` is the disk's ARM id; ``file.csi.azure.com``:
    ``resourceGroup#account#share…``), in-tree ``azureDisk.diskURI`` and in-tree ``azureFile.shareName``
    (with the Secret holding its storage account).
    """
    csi = spec.get("csi") or {}
    driver = csi.get("driver")
    if driver == "disk.csi.azure.com":
        return f"Azure Disk {csi.get('volumeHandle') or '?'}"
    if driver == "file.csi.azure.com":
        return f"Azure Files share {csi.get('volumeHandle') or '?'}"
    disk = spec.get("azureDisk")
    if isinstance(disk, Mapping):
        return f"Azure Disk {disk.get('diskURI') or disk.get('diskName') or '?'}"
    share = spec.get("azureFile")
    if isinstance(share, Mapping):
        secret = f"{share.get('secretNamespace') or 'default'}/{share.get('secretName') or '?'}"
        return f"Azure Files share {share.get('shareName') or '?'} (account in Secret {secret})"
    return None


def storage_retained(ref: ObjectRef, storage: str) -> Finding:
    """A carried PV on the source's storage was switched from Delete to Retain."""
    return Finding(SOURCE_STORAGE_RETAINED, Severity.INFO, ref,
                   f"points at the source's {storage}; its reclaim policy is set to Retain on the target "
                   "(it was Delete: deleting its claim or namespace there would have deleted the storage the "
                   "source still serves)",
                   "once the source is gone and the target owns the storage, set "
                   "persistentVolumeReclaimPolicy back to Delete if you want claims to delete it",
                   "/spec/persistentVolumeReclaimPolicy")


def volume_data_not_copied(claim: ObjectRef, pv: ObjectRef, storage: str) -> Finding:
    """A rehearsal (``--empty-volumes``) left a claim's PV out: the claim starts on a new, empty volume."""
    return Finding(VOLUME_DATA_NOT_COPIED, Severity.WARNING, claim,
                   f"starts empty on the target: its volume {pv} ({storage}) was left out (--empty-volumes, a "
                   "rehearsal), so the target's storage class provisions a new, empty volume and none of the "
                   "source's data was copied; a claim without a storage class stays Pending",
                   "rehearsal only: a cluster whose claims started empty is not vouched for by verify (the "
                   "cutover's preflight refuses it); carry the data with `akshift volumes plan/move/verify` "
                   "(or `migrate --move-volumes`) into the cluster that will serve",
                   "/spec")


# In-tree provisioners AKS no longer ships, and the CSI driver that replaces each.
IN_TREE_PROVISIONERS: Mapping[str, str] = {
    "kubernetes.io/azure-disk": "disk.csi.azure.com",
    "kubernetes.io/azure-file": "file.csi.azure.com",
}


# --------------------------------------------------------------------------
# The checks find() runs, one function per concern.
# --------------------------------------------------------------------------

def _pod_checks(obj: Mapping[str, Any], ctx: TransformContext, ref: ObjectRef) -> Iterator[Finding]:
    cilium = ctx.cilium_target
    for tokens, spec in pod_specs(obj):
        if spec.get("hostNetwork") is True:
            yield Finding(HOST_NETWORK, Severity.WARNING, ref,
                          "uses the node's network namespace: it gets the new nodes' IPs and can clash on "
                          "ports with other host-network pods; network policies do not isolate it",
                          "update allow-lists that name node IPs and check port clashes, or drop hostNetwork",
                          ptr(*tokens, "hostNetwork"))
        for ctokens, container in all_containers(spec):
            for p, port in enumerate(container.get("ports") or ()):
                if port.get("hostPort"):
                    yield Finding(HOST_PORT, Severity.WARNING, ref,
                                  f"container '{container.get('name')}' binds host port {port['hostPort']}: "
                                  "clients must reach it on the new nodes' IPs, and the target CNI must "
                                  "support hostPort (kubenet used the portmap plugin)",
                                  "prefer a Service; otherwise update clients to the new node IPs and test "
                                  "the port on the target",
                                  ptr(*tokens, *ctokens, "ports", p, "hostPort"))
        for rel, value, required in node_selector_values(spec, POOL_LABELS):
            if pool_status(value, ctx) == "unmapped":
                yield unmapped_node_pool(ref, ptr(*tokens, *rel), value, required=required,
                                         target_known=ctx.target_node_pools is not None)
        if cilium:
            for rel, value, required in node_selector_values(spec, ("kubernetes.io/os", "beta.kubernetes.io/os")):
                if value == "windows" and required:
                    yield Finding(WINDOWS_ON_CILIUM, Severity.BLOCKER, ref,
                                  "selects Windows nodes, but Azure CNI powered by Cilium supports Linux "
                                  "node pools only; its pods will stay Pending",
                                  "keep this workload on a cluster without the Cilium dataplane, or port it to Linux",
                                  ptr(*tokens, *rel))


def _bare_pod(obj: Mapping[str, Any], ctx: TransformContext, ref: ObjectRef) -> Iterator[Finding]:
    if is_core(obj, "Pod") and controller_owner(obj) is None:
        yield Finding(BARE_POD, Severity.WARNING, ref,
                      "is a bare Pod (no controller): it is recreated once on the target and never again "
                      "if it dies or its node goes away",
                      "wrap it in a Deployment, StatefulSet or Job", "")


_ZONE_KEYS = frozenset({"topology.disk.csi.azure.com/zone", "topology.kubernetes.io/zone",
                        "failure-domain.beta.kubernetes.io/zone"})


def _azure_disk(obj: Mapping[str, Any], ctx: TransformContext, ref: ObjectRef) -> Iterator[Finding]:
    if not is_core(obj, "PersistentVolume"):
        return
    spec = obj.get("spec") or {}
    csi, in_tree = spec.get("csi") or {}, spec.get("azureDisk") or {}
    if csi.get("driver") != "disk.csi.azure.com" and not in_tree:
        return
    if ref.name in ctx.volume_pvs:
        # The volume plan carries its data: the PV already names the copy. It stays a blocker until
        # `akshift volumes verify` finds the claim bound to the copy (the verify stage resolves it then).
        yield Finding(AZURE_DISK, Severity.BLOCKER, ref,
                      f"is an Azure Disk whose data the volume move copies to {csi.get('volumeHandle') or '?'}; "
                      "until the copy is made and its claim bound to it, green has none of its data",
                      "run `akshift volumes move --quiesce-source` and `akshift volumes verify` (or "
                      "`akshift migrate --move-volumes`)", "/spec")
        return
    evidence = azure_disk_evidence(spec, ctx)
    reclaim = spec.get("persistentVolumeReclaimPolicy")
    severity = Severity.BLOCKER if evidence else Severity.WARNING
    why = "; ".join(evidence) if evidence else "an Azure Disk attaches to one VM at a time"
    warning = " Its reclaim policy is Delete: deleting its claim deletes the disk." if reclaim == "Delete" else ""
    yield Finding(AZURE_DISK, severity, ref,
                  f"is an Azure Disk ({why}); the new cluster's nodes cannot attach it while the old cluster "
                  f"uses it, and a zonal disk only attaches in its zone.{warning}",
                  "set persistentVolumeReclaimPolicy: Retain on the source, then snapshot the disk and restore "
                  "it into the target (VolumeSnapshot with disk.csi.azure.com, or az snapshot create + az disk "
                  "create in the target node resource group and zone) and point this PV at the new disk",
                  "/spec")


# The SKU each Azure Disk provisioner uses when its StorageClass names none: both are locally redundant.
# (The in-tree azure-disk plugin's default was Standard_LRS, StandardSSD_LRS from Kubernetes 1.19/1.20.)
DEFAULT_DISK_SKU: Mapping[str, str] = {
    "kubernetes.io/azure-disk": "Standard_LRS or StandardSSD_LRS",
    "disk.csi.azure.com": "StandardSSD_LRS",
}


def sku_parameter(params: Mapping[str, Any] | None) -> str | None:
    """The disk SKU named in provisioner parameters or CSI volume attributes, as the provisioners read them:
    ``skuname`` or ``storageaccounttype``, keys case-insensitive (``skuName``, ``storageAccountType``…).

    >>> sku_parameter({"cachingmode": "ReadOnly", "storageAccountType": "Premium_LRS"})
    'Premium_LRS'
    >>> sku_parameter({"kind": "Managed"}) is None
    True
    """
    lowered = {str(k).lower(): v for k, v in (params or {}).items()}
    for key in ("skuname", "storageaccounttype"):
        if lowered.get(key):
            return str(lowered[key])
    return None


def disk_sku(spec: Mapping[str, Any], ctx: TransformContext) -> tuple[str | None, str]:
    """An Azure Disk PV's SKU and where it was read: ``(sku, source)``; ``(None, why)`` when unknown.

    A CSI PV records its class's parameters in ``csi.volumeAttributes`` (the driver copies them there); an
    in-tree ``azureDisk`` PV records no SKU at all (its fields are diskName, diskURI, cachingMode, fsType,
    kind, readOnly), so its SKU is its StorageClass's ``storageaccounttype`` / ``skuname`` parameter — or,
    when the class names none, the provisioner's default — read from the snapshot's StorageClasses
    (``ctx.storage_classes``).
    """
    csi = spec.get("csi") or {}
    sku = sku_parameter(csi.get("volumeAttributes"))
    if sku:
        return sku, "its CSI volume attributes"
    name = spec.get("storageClassName") or ""
    if ctx.storage_classes is None or name not in ctx.storage_classes:
        known = "not given" if ctx.storage_classes is None else "not in the snapshot"
        return None, (f"its StorageClass {name} is {known}" if name else "it names no StorageClass")
    sc = ctx.storage_classes[name]
    sku = sku_parameter(sc.get("parameters"))
    if sku:
        return sku, f"its StorageClass {name}"
    default = DEFAULT_DISK_SKU.get(str(sc.get("provisioner") or ""))
    if default:
        return default, f"the default of {sc.get('provisioner')} (its StorageClass {name} names no SKU)"
    return None, f"its StorageClass {name} names no SKU and is not an Azure Disk provisioner's"


def azure_disk_evidence(spec: Mapping[str, Any], ctx: TransformContext) -> list[str]:
    """Why an Azure Disk PV cannot simply be carried (zonal, LRS, in the old node resource group); [] if none.

    Reads the CSI ``volumeHandle``, the in-tree ``azureDisk.diskURI`` and the SKU (:func:`disk_sku`).
    An in-tree disk whose SKU cannot be known (its StorageClass is not in the snapshot) counts as
    locally redundant: the safe side, a blocker the user accepts deliberately once the disk is known to
    attach elsewhere, rather than a warning that lets a disk of the old cluster through unexamined.
    Non-empty means the disk finding is a blocker.
    """
    csi, in_tree = spec.get("csi") or {}, spec.get("azureDisk") or {}
    evidence = []
    for term in ((spec.get("nodeAffinity") or {}).get("required") or {}).get("nodeSelectorTerms") or ():
        for expr in term.get("matchExpressions") or ():
            if expr.get("key") in _ZONE_KEYS and any(v not in ("", "0") for v in expr.get("values") or ()):
                evidence.append(f"zone affinity {expr['key']}={','.join(expr.get('values') or ())}")
    sku, source = disk_sku(spec, ctx)
    if sku is not None and sku.upper().endswith("LRS"):
        evidence.append(f"locally redundant SKU {sku} (from {source})")
    elif sku is None and in_tree:
        evidence.append(f"SKU unknown ({source}; an in-tree azureDisk PV does not record its SKU): treated as "
                        "locally redundant")
    disk_id = (csi.get("volumeHandle") or in_tree.get("diskURI") or "")
    old_group = (ctx.old_node_resource_group or "").lower()
    in_old_group = bool(old_group) and f"/resourcegroups/{old_group}/" in disk_id.lower()
    if in_old_group:
        evidence.append(f"disk in the old node resource group {ctx.old_node_resource_group}")
    return evidence


def claim_of_held_disk(claim: ObjectRef, pv: ObjectRef, storage: str) -> Finding:
    """The claim of an Azure Disk PV a blocker holds back: applied alone it would get a new, empty disk."""
    return Finding(AZURE_DISK, Severity.BLOCKER, claim,
                   f"its volume {pv} ({storage}) is held back by an azure-disk-volume blocker; applied alone, "
                   "this claim would be provisioned a new, empty disk on the target",
                   "carry the disk with `akshift volumes plan/move` (or `migrate --move-volumes`), or accept "
                   "the blocker for both (--accept-blockers azure-disk-volume) once the disk is free to attach",
                   "/spec")


def _azure_files(obj: Mapping[str, Any], ctx: TransformContext, ref: ObjectRef) -> Iterator[Finding]:
    if not is_core(obj, "PersistentVolume"):
        return
    spec = obj.get("spec") or {}
    storage = source_storage(spec)
    if storage is None or not storage.startswith("Azure Files"):
        return
    secret = ""
    if isinstance(spec.get("azureFile"), Mapping):
        f = spec["azureFile"]
        secret = f" The storage account key Secret {f.get('secretNamespace') or 'default'}/{f.get('secretName')} " \
                 "must be carried with it."
    yield Finding(AZURE_FILES_SHARED, Severity.WARNING, ref,
                  f"mounts the source's {storage}: both clusters read and write the same share until the "
                  f"source is retired (no copy is made).{secret}",
                  "stop the source's writers before the target's start writing (cutover), or copy the share "
                  "(azcopy) and point this PV at the copy", "/spec")


def _in_tree_storage_class(obj: Mapping[str, Any], ctx: TransformContext, ref: ObjectRef) -> Iterator[Finding]:
    if obj.get("kind") != "StorageClass" or group_of(obj) != "storage.k8s.io":
        return
    provisioner = obj.get("provisioner") or ""
    csi = IN_TREE_PROVISIONERS.get(provisioner)
    if csi:
        yield Finding(IN_TREE_STORAGE_CLASS, Severity.WARNING, ref,
                      f"uses the in-tree provisioner {provisioner}, which the target's Kubernetes no longer has: "
                      "new claims of this class are provisioned through CSI migration at best, and its in-tree "
                      "parameters may not carry over",
                      f"create a StorageClass with provisioner {csi} (AKS ships "
                      f"{'managed-csi / managed-csi-premium' if 'disk' in csi else 'azurefile-csi / azurefile-csi-premium'}) "
                      "and move claims to it; a StorageClass's provisioner cannot be changed in place",
                      "/provisioner")


def _load_balancer(obj: Mapping[str, Any], ctx: TransformContext, ref: ObjectRef) -> Iterator[Finding]:
    if not is_core(obj, "Service"):
        return
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    internal = str(annotations.get(LB_INTERNAL_ANNOTATION, "")).lower() == "true"
    for tokens, value in load_balancer_pins(obj):
        yield static_public_ip(ref, ptr(*tokens), value, internal=internal,
                               mapped=value in ctx.public_ip_map.values() and value not in ctx.public_ip_map)
    group = annotations.get(LB_RESOURCE_GROUP_ANNOTATION)
    if group and ctx.old_node_resource_group and group.lower() == ctx.old_node_resource_group.lower():
        yield lb_old_resource_group(ref, ptr("metadata", "annotations", LB_RESOURCE_GROUP_ANNOTATION), group)


# Keys whose meaning depends on kube-proxy; the Cilium target replaces kube-proxy.
KUBE_PROXY_KEYS: tuple[tuple[str, str, str], ...] = (
    ("labels", "service.kubernetes.io/service-proxy-name",
     "tells kube-proxy to leave the Service to another proxy; Cilium's kube-proxy replacement may serve it or not"),
    ("annotations", "service.kubernetes.io/topology-aware-hints",
     "topology-aware routing is a kube-proxy feature; Cilium honours it only with service topology enabled"),
    ("annotations", "service.kubernetes.io/topology-mode",
     "topology-aware routing is a kube-proxy feature; Cilium honours it only with service topology enabled"),
)


def _kube_proxy(obj: Mapping[str, Any], ctx: TransformContext, ref: ObjectRef) -> Iterator[Finding]:
    if not ctx.cilium_target or not is_core(obj, "Service"):
        return
    meta = obj.get("metadata") or {}
    for field, key, why in KUBE_PROXY_KEYS:
        if key in (meta.get(field) or {}):
            yield Finding(KUBE_PROXY_DEPENDENT, Severity.WARNING, ref, f"{key} {why}",
                          "test the Service's routing on the target before cutover",
                          ptr("metadata", field, key))


WORKLOAD_IDENTITY_ANNOTATION = "azure.workload.identity/client-id"


def _workload_identity(obj: Mapping[str, Any], ctx: TransformContext, ref: ObjectRef) -> Iterator[Finding]:
    if not is_core(obj, "ServiceAccount"):
        return
    client_id = ((obj.get("metadata") or {}).get("annotations") or {}).get(WORKLOAD_IDENTITY_ANNOTATION)
    if client_id:
        subject = f"system:serviceaccount:{ref.namespace}:{ref.name}"
        yield Finding(WORKLOAD_IDENTITY, Severity.WARNING, ref,
                      f"uses Azure workload identity (client-id {client_id}); its federated credential trusts the "
                      f"old cluster's OIDC issuer, so pods on the new cluster cannot get Azure tokens",
                      "az identity federated-credential create --identity-name <identity of client-id "
                      f"{client_id}> --resource-group <its group> --name <new name> --issuer <new cluster "
                      f"oidcIssuerProfile.issuerUrl> --subject {subject} --audience api://AzureADTokenExchange "
                      "(the new cluster needs --enable-oidc-issuer --enable-workload-identity)",
                      ptr("metadata", "annotations", WORKLOAD_IDENTITY_ANNOTATION))


def _webhooks(obj: Mapping[str, Any], ctx: TransformContext, ref: ObjectRef) -> Iterator[Finding]:
    if obj.get("kind") in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration") \
            and group_of(obj) == "admissionregistration.k8s.io":
        targets = []
        for hook in obj.get("webhooks") or ():
            cfg = hook.get("clientConfig") or {}
            svc = cfg.get("service")
            target = f"service {svc.get('namespace')}/{svc.get('name')}" if svc else f"URL {cfg.get('url')}"
            targets.append(f"{hook.get('name')} → {target} (failurePolicy {hook.get('failurePolicy', 'Fail')})")
        yield Finding(ADMISSION_WEBHOOK, Severity.WARNING, ref,
                      "admission webhook: " + "; ".join(targets) + ". While its backend is missing, "
                      "failurePolicy Fail rejects every matching request on the target",
                      "it is applied last, after its backend; check the backend is Ready on the target, that "
                      "its caBundle is valid there (cert-manager re-injects it), and that URL backends accept "
                      "calls from the new cluster's egress IP",
                      "/webhooks")
    elif obj.get("kind") == "CustomResourceDefinition":
        conversion = (obj.get("spec") or {}).get("conversion") or {}
        if conversion.get("strategy") == "Webhook":
            svc = (((conversion.get("webhook") or {}).get("clientConfig") or {}).get("service")) or {}
            yield Finding(CRD_CONVERSION_WEBHOOK, Severity.WARNING, ref,
                          f"converts versions through a webhook (service {svc.get('namespace')}/{svc.get('name')}); "
                          "until it runs on the target, custom resources in non-storage versions cannot be "
                          "read or applied",
                          "make sure the conversion service is deployed and Ready on the target before the "
                          "custom resources are applied; retry failed ones after it is",
                          "/spec/conversion")


def _network_policy(obj: Mapping[str, Any], ctx: TransformContext, ref: ObjectRef) -> Iterator[Finding]:
    target = network(ctx.target_pod_cidr) if ctx.target_pod_cidr else None
    for tokens, cidr in ipblocks(obj):
        status, why = cidr_status(cidr, ctx)
        if status != "ok":  # "rewrite" here means the runner did not apply the rewrite
            yield old_pod_cidr(ref, ptr(*tokens), cidr, why or "names the old pod CIDR", cilium=ctx.cilium_target)
        elif ctx.cilium_target and target is not None:
            net = network(cidr)
            if net is not None and net.version == target.version and net.overlaps(target):
                yield ipblock_pod_traffic(ref, ptr(*tokens), cidr)


def _api_version(obj: Mapping[str, Any], ctx: TransformContext, ref: ObjectRef) -> Iterator[Finding]:
    api_version, kind = obj.get("apiVersion") or "", obj.get("kind") or ""
    if ctx.target_served is not None and api_version not in ctx.target_served \
            and (api_version, kind) not in ctx.api_version_map:
        yield unserved_api_version(ref, api_version, kind)


def _job(obj: Mapping[str, Any], ctx: TransformContext, ref: ObjectRef) -> Iterator[Finding]:
    if obj.get("kind") == "Job" and group_of(obj) == "batch" and controller_owner(obj) is None:
        yield Finding(JOB_RERUNS, Severity.WARNING, ref,
                      "is a standalone Job: applying it on the target runs it again, even if it already "
                      "completed on the source",
                      "exclude it if it must not run twice (migrations, one-off imports), "
                      "or make it idempotent", "")


CHECKS = (_pod_checks, _bare_pod, _azure_disk, _azure_files, _in_tree_storage_class, _load_balancer, _kube_proxy,
          _workload_identity, _webhooks, _network_policy, _api_version, _job)


def find(obj: Mapping[str, Any], ctx: TransformContext) -> list[Finding]:
    """Everything about one object that needs a human.

    Run it on the transformed object (the transform runner does, for every kept
    object); on a raw object it also works but reports problems a rule would
    have fixed (a rewritable pod CIDR, a mapped node pool).

    Args:
        obj: a Kubernetes object dict; not modified.
        ctx: the transform context (target dataplane, CIDRs, pool map, served versions).

    Returns:
        The findings, in check order; empty when nothing needs a human.
    """
    ref = ObjectRef.of(obj)
    return [f for check in CHECKS for f in check(obj, ctx, ref)]
