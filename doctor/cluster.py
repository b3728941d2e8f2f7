"""What the doctor reads from a live cluster, and the one function that reads it (GETs only).

Why shaped so: the checks are pure functions over :class:`ClusterObjects`, so
they are tested with small object builders and no cluster; only
:func:`collect` talks to the API server, through :class:`kube.client.KubeClient`
(the project's only Kubernetes client), and it never writes. It keeps what
the checks need and drops the rest while streaming, so memory stays bounded on
a cluster of 50,000 objects: pods are trimmed to their DNS settings, Services,
EndpointSlices and PersistentVolumes (by where their data lives) are counted, and the last-applied scan keeps one short
tuple per object. Secrets and ConfigMaps outside kube-system are never read
(core ``v1`` has no removed versions, and Secrets' last-applied annotation
would carry their data).
"""
from __future__ import annotations

import dataclasses
import json
from collections import Counter
from typing import Any

from kube.client import KubeClient
from kube.discovery import NOT_INVENTORIED, iter_objects, listable_types
from kube.errors import ApiError, ListError
from kube.objects import ObjectRef

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

#: Core types the checks read; every other core type is skipped (``v1`` never had a removed version).
CORE_KINDS = frozenset({"Pod", "Service", "Node", "PersistentVolume"})

#: Where a PersistentVolume's data lives, by its volume source: the CSI driver's name, or the in-tree
#: plugin's (AKS migrated ``azureDisk``/``azureFile`` to the CSI drivers, old objects keep the field).
IN_TREE_VOLUME_SOURCES = {"azureDisk": "kubernetes.io/azure-disk", "azureFile": "kubernetes.io/azure-file",
                          "local": "local", "hostPath": "hostPath", "nfs": "nfs"}


@dataclasses.dataclass(frozen=True)
class AppliedVersion:
    """An object whose last ``kubectl apply`` used ``applied``, while the server now stores it as ``served``."""

    ref: str
    kind: str
    applied: str
    served: str


@dataclasses.dataclass
class ClusterObjects:
    """The slice of a cluster the checks look at. Every field defaults to empty, for tests.

    Attributes:
        server_version: ``/version`` (``gitVersion``, ``major``, ``minor``).
        nodes: Node objects.
        pods: Pods trimmed to ``metadata.namespace/name`` and ``spec.dnsPolicy/dnsConfig/hostNetwork``.
        kube_system_configmaps: ConfigMaps of kube-system, by name.
        daemonsets: DaemonSets of every namespace.
        kube_system_deployments: Deployments of kube-system, by name.
        services_by_type: Service count per ``spec.type``.
        endpoint_slices: EndpointSlice count.
        endpoints: Endpoints across all slices (what kube-proxy programs).
        applied_versions: Objects whose last-applied apiVersion differs from the one served.
        served: Served (apiVersion, kind) pairs.
        crds: CustomResourceDefinitions (for versions they mark deprecated).
        read_errors: Types that could not be listed (RBAC, a broken aggregated API).
        volumes: PersistentVolume count per volume source (:func:`volume_source`), e.g. ``disk.csi.azure.com``.
    """

    server_version: dict[str, Any] = dataclasses.field(default_factory=dict)
    nodes: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    pods: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    kube_system_configmaps: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    daemonsets: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    kube_system_deployments: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    services_by_type: Counter[str] = dataclasses.field(default_factory=Counter)
    endpoint_slices: int = 0
    endpoints: int = 0
    applied_versions: list[AppliedVersion] = dataclasses.field(default_factory=list)
    served: frozenset[tuple[str, str]] = frozenset()
    crds: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    read_errors: list[str] = dataclasses.field(default_factory=list)
    volumes: Counter[str] = dataclasses.field(default_factory=Counter)

    @property
    def services(self) -> int:
        return sum(self.services_by_type.values())

    @property
    def minor_version(self) -> tuple[int, int] | None:
        """``(1, 36)`` from ``/version``; None when unknown."""
        try:
            return int(self.server_version["major"]), int(str(self.server_version["minor"]).rstrip("+"))
        except (KeyError, ValueError):
            return None

    def add(self, obj: dict[str, Any]) -> None:
        """Keep what the checks need of one listed object (used by :func:`collect` and by tests)."""
        kind, md = obj.get("kind"), obj.get("metadata") or {}
        group = (obj.get("apiVersion") or "").rpartition("/")[0]
        if group == "":
            if kind == "Node":
                self.nodes.append(obj)
            elif kind == "Pod":
                spec = obj.get("spec") or {}
                self.pods.append({"metadata": {"namespace": md.get("namespace"), "name": md.get("name")},
                                  "spec": {k: spec[k] for k in ("dnsPolicy", "dnsConfig", "hostNetwork") if k in spec}})
            elif kind == "Service":
                self.services_by_type[(obj.get("spec") or {}).get("type", "ClusterIP")] += 1
            elif kind == "PersistentVolume":
                self.volumes[volume_source(obj)] += 1
            elif kind == "ConfigMap" and md.get("namespace") == "kube-system":
                self.kube_system_configmaps[md.get("name", "")] = obj
            return
        if kind == "EndpointSlice" and group == "discovery.k8s.io":
            self.endpoint_slices += 1
            self.endpoints += len(obj.get("endpoints") or [])
        elif kind == "DaemonSet" and group == "apps":
            self.daemonsets.append(obj)
        elif kind == "Deployment" and group == "apps" and md.get("namespace") == "kube-system":
            self.kube_system_deployments[md.get("name", "")] = obj
        elif kind == "CustomResourceDefinition":
            self.crds.append(obj)
        applied = (md.get("annotations") or {}).get(LAST_APPLIED)
        if applied:
            version = _applied_api_version(applied)
            if version and version != obj.get("apiVersion"):
                self.applied_versions.append(AppliedVersion(str(ObjectRef.of(obj)), kind or "", version, obj.get("apiVersion", "")))


def volume_source(pv: dict[str, Any]) -> str:
    """Where a PersistentVolume keeps its data: the CSI driver (``disk.csi.azure.com``), an in-tree plugin's
    name (:data:`IN_TREE_VOLUME_SOURCES`), or ``other``.

    >>> volume_source({"spec": {"csi": {"driver": "file.csi.azure.com"}}})
    'file.csi.azure.com'
    >>> volume_source({"spec": {"azureDisk": {"diskName": "d"}}})
    'kubernetes.io/azure-disk'
    """
    spec = pv.get("spec") or {}
    driver = (spec.get("csi") or {}).get("driver")
    if isinstance(driver, str) and driver:
        return driver
    return next((name for key, name in IN_TREE_VOLUME_SOURCES.items() if key in spec), "other")


def _applied_api_version(annotation: str) -> str | None:
    try:
        doc = json.loads(annotation)
    except ValueError:
        return None
    value = doc.get("apiVersion") if isinstance(doc, dict) else None
    return value if isinstance(value, str) else None


def collect(client: KubeClient, *, concurrency: int = 8) -> ClusterObjects:
    """Read what the checks need from a live cluster. Sends GET requests only.

    Args:
        client: A client for the cluster (read access to every type is enough).
        concurrency: Lists in flight at once.

    Returns:
        The cluster's objects, trimmed; types that failed to list are named in ``read_errors``.

    Raises:
        migration.errors.ApiError: The cluster is unreachable or refuses discovery.
    """
    out = ClusterObjects(server_version=client.get("/version"))
    types = listable_types(client)
    out.served = frozenset((r.api_version, r.kind) for r in client.resources().values())
    wanted = [r for r in types
              if (r.group, r.kind) not in NOT_INVENTORIED and (r.group != "" or r.kind in CORE_KINDS)]
    errors: list[ListError] = []  # one per type that could not be listed; reported, not raised
    for _res, obj in iter_objects(client, wanted, concurrency=concurrency, errors=errors):
        out.add(obj)
    configmaps = next((r for r in types if r.group == "" and r.kind == "ConfigMap"), None)
    if configmaps is not None:
        try:
            for obj in client.list(configmaps, namespace="kube-system"):
                out.add(obj)
        except ApiError as e:
            if e.status == 0:
                raise
            errors.append(ListError(f"cannot list configmaps in kube-system: {e}; check the reader's RBAC"))
    out.read_errors = [str(e) for e in errors]
    return out
