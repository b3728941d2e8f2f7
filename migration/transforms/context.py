"""The read-only facts every transform rule and finding check may consult.

Why a frozen dataclass and not globals or a config dict: rules are pure
functions of ``(object, context)``; freezing the context (mappings become
``MappingProxyType``, sets ``frozenset``) means no rule can change what the next
one sees, and one context can be shared by worker threads. The plan stage
builds it once from the stack config, the source inventory
(:func:`selectorless_services`) and the target's discovery
(:func:`served_with_crds`), then passes it everywhere.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import types
from collections.abc import Container, Iterable, Mapping
from typing import Any

from migration.errors import PlanError
from migration.node_dns import NODE_LOCAL_DNS

# Deprecated (apiVersion, kind) → the served apiVersion it converts to. Only
# pairs whose conversion is a rename, or a small documented field move (Ingress,
# see rules/api_version.py), are listed; anything else is reported as a
# finding. Objects listed from a live cluster already come at a served version,
# so these matter for objects that reached the snapshot at an old version
# (read at a pinned version, or recovered from last-applied-configuration).
DEFAULT_API_VERSION_MAP: Mapping[tuple[str, str], str] = types.MappingProxyType({
    ("policy/v1beta1", "PodDisruptionBudget"): "policy/v1",
    ("autoscaling/v2beta2", "HorizontalPodAutoscaler"): "autoscaling/v2",
    ("networking.k8s.io/v1beta1", "Ingress"): "networking.k8s.io/v1",
    ("extensions/v1beta1", "Ingress"): "networking.k8s.io/v1",
    ("networking.k8s.io/v1beta1", "IngressClass"): "networking.k8s.io/v1",
    ("batch/v1beta1", "CronJob"): "batch/v1",
    ("storage.k8s.io/v1beta1", "StorageClass"): "storage.k8s.io/v1",
    ("scheduling.k8s.io/v1beta1", "PriorityClass"): "scheduling.k8s.io/v1",
    ("rbac.authorization.k8s.io/v1beta1", "ClusterRole"): "rbac.authorization.k8s.io/v1",
    ("rbac.authorization.k8s.io/v1beta1", "ClusterRoleBinding"): "rbac.authorization.k8s.io/v1",
    ("rbac.authorization.k8s.io/v1beta1", "Role"): "rbac.authorization.k8s.io/v1",
    ("rbac.authorization.k8s.io/v1beta1", "RoleBinding"): "rbac.authorization.k8s.io/v1",
})

# Namespaces whose contents the target cluster brings itself: Kubernetes' own
# and AKS's. Their objects are whited out, never applied.
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})

# Namespaces of add-ons the Cilium dataplane replaces (Calico and its operator)
# or that AKS reinstalls itself when the add-on is enabled on the target
# (gatekeeper for Azure Policy). Skipped only when the target runs Cilium.
CILIUM_REPLACED_NAMESPACES = frozenset({"calico-system", "tigera-operator", "gatekeeper-system"})

# API groups of Calico, which Cilium replaces: their CRDs and resources are
# meaningless on a Cilium target (and the target has no controller for them).
CILIUM_REPLACED_GROUPS = frozenset({"crd.projectcalico.org", "projectcalico.org", "operator.tigera.io"})


def _freeze_map(value: Mapping[Any, Any] | None) -> Mapping[Any, Any]:
    return types.MappingProxyType(dict(value or {}))


@dataclasses.dataclass(frozen=True)
class TransformContext:
    """What the rules need to know about the source and the target.

    Attributes:
        source_pod_cidr: the kubenet pod CIDR of the old cluster.
        target_pod_cidr: the target's pod CIDR (overlay); None when unknown, then
            ipBlocks on the old CIDR are reported instead of rewritten.
        node_pool_map: old node-pool name → new node-pool name.
        target_node_pools: pool names the target has; None when unknown.
        old_node_resource_group: the old cluster's ``MC_…`` node resource group.
        new_node_resource_group: the target's node resource group.
        public_ip_map: old IP address or public-IP resource name → new one.
        target_served: ``group/version`` strings the target serves (``v1`` for
            core); None when unknown, which disables unserved-version findings.
        api_version_map: ``(apiVersion, kind)`` → served apiVersion; see
            :data:`DEFAULT_API_VERSION_MAP`.
        target_dataplane: ``"cilium"`` (Azure CNI powered by Cilium) or ``"azure"``.
        system_namespaces: namespaces always skipped.
        cilium_replaced_namespaces: namespaces skipped when the target runs Cilium.
        cilium_replaced_groups: API groups skipped when the target runs Cilium.
        keep_node_ports: keep every nodePort of NodePort/LoadBalancer Services.
            Default False: the API server fills nodePorts in whether the user
            chose them or not, and a kept port may already be taken on the target.
            Ports declared in last-applied-configuration are kept either way.
        selectorless_services: ``namespace/name`` of Services without selector,
            whose Endpoints are user data; None when unknown (then Endpoints are
            kept unless the endpoints controller's stamp is on them).
        volume_pvs: PV name → the PersistentVolume the volume plan puts on the
            target in its place (a disk copy's static PV, or the same share,
            retained), from :func:`migration.volumes.plan.planned_pvs`; empty
            when no volumes are moved. The ``volume-copies`` rule writes them.
        empty_volumes: a rehearsal (``--empty-volumes``): PersistentVolumes on the source's Azure Disks
            and Azure Files shares are left out, so their claims start on new, empty volumes of the
            target's storage classes and the target never names the source's storage (the
            ``empty-volumes`` rule, which reports each claim).
        quiesced_writers: workload key (:attr:`kube.objects.ObjectRef.key`) →
            its replica count (a CronJob's ``suspend``) before the volume move
            stopped it on the source (``volumes-state.json``); a snapshot taken
            after the stop gets the value back (the ``quiesced-writers`` rule).
        target_coredns_custom: the ``data`` of the target's kube-system/coredns-custom ConfigMap
            (``{}`` when it has none); None when the target is unknown. The ``coredns-custom`` rule
            applies only the user's keys the target does not hold differently.
        target_node_dns: where the target's pods send DNS: ``"localdns"`` (AKS LocalDNS,
            169.254.10.10/11), ``"nodelocaldns"`` (NodeLocal DNSCache, 169.254.20.10) or None
            (:data:`migration.node_dns.NODE_LOCAL_DNS`); translated Calico policies and Kubernetes
            NetworkPolicies that allow DNS also allow these addresses.
        carried_keys: keys of the snapshot's objects that will exist on the
            target (carried, or recreated by their controller), from
            :func:`migration.transforms.ownership.ownership_facts`; None when
            unknown (then owners are trusted and ownerReferences dropped, as before).
            Any container that answers ``in``: ``akshift sync`` passes a live view
            (what migrate and sync carried, or what is on the source now and will be
            carried), kept as it is; an iterable is frozen.
        target_service_cidr: the target's service CIDR, to check pinned clusterIPs; None when unknown.
        target_node_port_range: the target's node-port range; None for Kubernetes' default 30000-32767.
        autoscaled: keys of workloads a HorizontalPodAutoscaler scales (their replicas are the HPA's).
        source_node_ips: the old nodes' addresses (hard-coded in configuration, they point at nothing later).
        storage_classes: the source's StorageClasses by name (``provisioner``, ``parameters``), from
            :func:`storage_classes`: an in-tree azureDisk PV's SKU is its class's parameter; None when unknown.
    """

    source_pod_cidr: str = "10.244.0.0/16"
    target_pod_cidr: str | None = None
    node_pool_map: Mapping[str, str] = dataclasses.field(default_factory=dict)
    target_node_pools: frozenset[str] | None = None
    old_node_resource_group: str | None = None
    new_node_resource_group: str | None = None
    public_ip_map: Mapping[str, str] = dataclasses.field(default_factory=dict)
    target_served: frozenset[str] | None = None
    api_version_map: Mapping[tuple[str, str], str] = dataclasses.field(default_factory=lambda: DEFAULT_API_VERSION_MAP)
    target_dataplane: str = "cilium"
    system_namespaces: frozenset[str] = SYSTEM_NAMESPACES
    cilium_replaced_namespaces: frozenset[str] = CILIUM_REPLACED_NAMESPACES
    cilium_replaced_groups: frozenset[str] = CILIUM_REPLACED_GROUPS
    keep_node_ports: bool = False
    selectorless_services: frozenset[str] | None = None
    volume_pvs: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    quiesced_writers: Mapping[str, int | bool | None] = dataclasses.field(default_factory=dict)
    empty_volumes: bool = False
    target_coredns_custom: Mapping[str, str] | None = None
    target_node_dns: str | None = None
    carried_keys: Container[str] | None = None
    target_service_cidr: str | None = None
    target_node_port_range: tuple[int, int] | None = None
    autoscaled: frozenset[str] = frozenset()
    source_node_ips: frozenset[str] = frozenset()
    storage_classes: Mapping[str, Mapping[str, Any]] | None = None

    def __post_init__(self) -> None:
        if self.target_coredns_custom is not None:
            object.__setattr__(self, "target_coredns_custom", _freeze_map(self.target_coredns_custom))
        if self.storage_classes is not None:
            object.__setattr__(self, "storage_classes", types.MappingProxyType(
                {k: types.MappingProxyType(dict(v)) for k, v in self.storage_classes.items()}))
        if self.target_node_dns is not None and self.target_node_dns not in NODE_LOCAL_DNS:
            raise PlanError(f"target_node_dns={self.target_node_dns!r} is none of {', '.join(NODE_LOCAL_DNS)}",
                            fix=f"pass --target-node-dns {' or '.join(NODE_LOCAL_DNS)}, or leave it out")
        # Freeze the containers callers passed (dicts, sets, lists) so the context is immutable all the way down.
        for name in ("node_pool_map", "public_ip_map", "api_version_map", "volume_pvs", "quiesced_writers"):
            object.__setattr__(self, name, _freeze_map(getattr(self, name)))
        for name in ("system_namespaces", "cilium_replaced_namespaces", "cilium_replaced_groups", "autoscaled",
                     "source_node_ips"):
            object.__setattr__(self, name, frozenset(getattr(self, name)))
        for name in ("target_node_pools", "target_served", "selectorless_services"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, frozenset(getattr(self, name)))
        if isinstance(self.carried_keys, Iterable):  # a live view (sync's) answers `in` only and stays live
            object.__setattr__(self, "carried_keys", frozenset(self.carried_keys))
        bad = []
        for name in ("source_pod_cidr", "target_pod_cidr"):
            value = getattr(self, name)
            if value is None and name == "target_pod_cidr":
                continue
            try:
                ipaddress.ip_network(value, strict=True)
            except (TypeError, ValueError):
                bad.append(f"{name}={value!r}")
        if bad:
            raise PlanError(f"not a network CIDR: {', '.join(bad)}",
                            fix="give CIDRs with their host bits zero, such as 10.244.0.0/16")
        if self.target_dataplane not in ("cilium", "azure"):
            raise PlanError(f"target_dataplane={self.target_dataplane!r} is neither 'cilium' nor 'azure'")

    @property
    def cilium_target(self) -> bool:
        """Whether the target runs Azure CNI powered by Cilium."""
        return self.target_dataplane == "cilium"

    @property
    def skipped_namespaces(self) -> frozenset[str]:
        """Namespaces whose objects are whited out for this target."""
        if self.cilium_target:
            return self.system_namespaces | self.cilium_replaced_namespaces
        return self.system_namespaces

    @property
    def skipped_groups(self) -> frozenset[str]:
        """API groups whose CRDs and resources are whited out for this target."""
        return self.cilium_replaced_groups if self.cilium_target else frozenset()


def selectorless_services(objs: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    """``namespace/name`` of every core Service without a selector (ExternalName excluded).

    Their Endpoints are maintained by users, not the endpoints controller, so
    they are data to migrate. Feed the result to
    ``TransformContext(selectorless_services=...)``.

    Args:
        objs: source objects (any kinds; non-Services are ignored).

    Returns:
        The keys.
    """
    keys = set()
    for obj in objs:
        if obj.get("kind") == "Service" and obj.get("apiVersion") == "v1":
            spec = obj.get("spec") or {}
            if not spec.get("selector") and spec.get("type") != "ExternalName":
                meta = obj.get("metadata") or {}
                keys.add(f"{meta.get('namespace')}/{meta.get('name')}")
    return frozenset(keys)


def storage_classes(objs: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The StorageClasses among ``objs`` by name: ``{"provisioner": …, "parameters": {…}}`` each.

    Feed the result to ``TransformContext(storage_classes=...)``; non-StorageClasses are ignored.
    """
    out: dict[str, dict[str, Any]] = {}
    for obj in objs:
        if obj.get("kind") == "StorageClass" and str(obj.get("apiVersion") or "").startswith("storage.k8s.io/"):
            name = (obj.get("metadata") or {}).get("name")
            if name:
                out[name] = {"provisioner": obj.get("provisioner"), "parameters": dict(obj.get("parameters") or {})}
    return out


def served_with_crds(served: Iterable[str], crds: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    """The target's served versions plus those the snapshot's CRDs will add.

    Discovery of the target runs before the CRDs are applied, so custom
    resources would otherwise all look unserved.

    Args:
        served: ``group/version`` strings from the target's discovery.
        crds: CustomResourceDefinition objects that will be applied.

    Returns:
        The union, as ``group/version`` strings of served CRD versions.
    """
    result = set(served)
    for crd in crds:
        spec = crd.get("spec") or {}
        for version in spec.get("versions") or ():
            if version.get("served", True):
                result.add(f"{spec.get('group')}/{version.get('name')}")
    return frozenset(result)
