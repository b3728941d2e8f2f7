"""Kubernetes objects as plain dicts: one identity type, and the helpers every layer needs.

Why one identity: an object is named in journals, snapshot paths, reports,
findings and errors. :class:`ObjectRef` is the only spelling; its key (for
journals and cross-cluster matching) and its snapshot path each come with
their inverse, so nothing parses a string back by hand.

Why dicts and not models: a migration carries every kind, custom resources it
has never seen included, so objects stay as the API returns them; these
helpers read the few fields that have a meaning across kinds.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from kube.errors import ObjectNameError

Tokens = tuple[str | int, ...]

CLUSTER_DIR = "_cluster"  # the snapshot directory of cluster-scoped objects
CORE = "core"  # how keys and paths spell the legacy (empty) API group


@dataclasses.dataclass(frozen=True, order=True)
class ObjectRef:
    """Which object: group, kind, namespace and name (no version: it is the same object at any version).

    Ordered by (group, kind, namespace, name) so sorted reports are stable.
    ``str()`` gives ``Kind.group namespace/name`` (``Deployment.apps shop/web``,
    ``ClusterRole.rbac.authorization.k8s.io admin``, ``Service default/web``),
    the form kubectl users recognise, and unique across groups that reuse a
    kind name (knative's ``Service`` is not the core ``Service``).
    """

    group: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectRef:
        """The ref of a Kubernetes object dict.

        Args:
            obj: an object as the API returns it (``apiVersion``, ``kind``, ``metadata``).

        Returns:
            Its ref; missing fields become empty strings so a malformed object can
            still be named in an error.
        """
        meta = obj.get("metadata") or {}
        return cls(group=group_of(obj), kind=obj.get("kind") or "", namespace=meta.get("namespace") or "",
                   name=meta.get("name") or meta.get("generateName") or "")

    def __str__(self) -> str:
        kind = f"{self.kind}.{self.group}" if self.group else self.kind
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{kind} {where}"

    def to_dict(self) -> dict[str, str]:
        """The ref as a JSON-ready dict (for patch logs and reports)."""
        return dataclasses.asdict(self)

    # -- the key: journals, pins, matching objects across clusters ----------------

    @property
    def key(self) -> str:
        """``group/Kind/namespace/name`` (``core`` for the legacy group, empty namespace when cluster-scoped).

        >>> ObjectRef("apps", "Deployment", "shop", "web").key
        'apps/Deployment/shop/web'
        >>> ObjectRef("", "Namespace", "", "shop").key
        'core/Namespace//shop'
        """
        return f"{self.group or CORE}/{self.kind}/{self.namespace}/{self.name}"

    @classmethod
    def from_key(cls, key: str) -> ObjectRef:
        """The inverse of :attr:`key`.

        >>> ObjectRef.from_key("core/Namespace//shop")
        ObjectRef(group='', kind='Namespace', namespace='', name='shop')
        """
        group, kind, ns, name = key.split("/", 3)
        return cls(group="" if group == CORE else group, kind=kind, namespace=ns, name=name)

    # -- the snapshot path ----------------------------------------------------------

    @property
    def kind_dir(self) -> str:
        """``<group or core>.<Kind>``: the directory of the object's kind in a snapshot."""
        return f"{self.group or CORE}.{self.kind}"

    @property
    def path(self) -> str:
        """The snapshot-relative path: ``<namespace or _cluster>/<group or core>.<Kind>/<name>.yaml``.

        Raises:
            ObjectNameError: the namespace, kind or name cannot be a file name.

        >>> ObjectRef("apps", "Deployment", "shop", "web").path
        'shop/apps.Deployment/web.yaml'
        """
        ns = _segment(self.namespace, "namespace", self) if self.namespace else CLUSTER_DIR
        return f"{ns}/{_segment(self.kind_dir, 'kind', self)}/{_segment(self.name, 'name', self)}.yaml"

    @classmethod
    def from_path(cls, path: str) -> ObjectRef:
        """The inverse of :attr:`path`.

        >>> ObjectRef.from_path("_cluster/rbac.authorization.k8s.io.ClusterRole/view.yaml")
        ObjectRef(group='rbac.authorization.k8s.io', kind='ClusterRole', namespace='', name='view')
        """
        ns, kind_dir, name = path.split("/", 2)
        group, _, kind = kind_dir.rpartition(".")
        return cls(group="" if group == CORE else group, kind=kind,
                   namespace="" if ns == CLUSTER_DIR else ns, name=name.removesuffix(".yaml"))


def _segment(value: str, what: str, ref: ObjectRef) -> str:
    # Kubernetes validates names as path segments (no '/', not '.' or '..'); check anyway
    # because a path escaping the snapshot directory would be a security bug.
    if not value or value in (".", "..") or "/" in value or "\0" in value or "\\" in value:
        raise ObjectNameError(f"{what} {value!r} cannot be used as a file name", ref=ref,
                              fix="exclude this object; Kubernetes should not have accepted the name")
    return value


# -- fields with a meaning across kinds ------------------------------------------------


def group_of(obj: Mapping[str, Any]) -> str:
    """API group of an object (``""`` for the core group).

    >>> group_of({"apiVersion": "apps/v1"}), group_of({"apiVersion": "v1"})
    ('apps', '')
    """
    return (obj.get("apiVersion") or "").rpartition("/")[0]


def is_secret(obj: Mapping[str, Any]) -> bool:
    """Whether an object is a core Secret."""
    return obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1"


def controller_owner(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ownerReference marked ``controller: true``, if any."""
    for owner in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if owner.get("controller") is True:
            return owner
    return None


def ptr(*tokens: str | int) -> str:
    """A JSON pointer (RFC 6901) from path tokens, escaping ``~`` and ``/``.

    >>> ptr("metadata", "annotations", "kubernetes.io/psp")
    '/metadata/annotations/kubernetes.io~1psp'
    """
    return "".join("/" + str(t).replace("~", "~0").replace("/", "~1") for t in tokens)


def pod_specs(obj: Mapping[str, Any]) -> Iterator[tuple[Tokens, dict[str, Any]]]:
    """Every pod spec an object carries, with its path tokens.

    Knows Pods, PodTemplates and CronJobs; any other object with
    ``spec.template.spec.containers`` (Deployments, StatefulSets, DaemonSets,
    ReplicaSets, Jobs, and custom resources shaped alike such as Argo Rollouts)
    is treated as a pod template holder.

    Args:
        obj: any Kubernetes object.

    Yields:
        ``(tokens, pod_spec)``; ``tokens`` points at the pod spec.
    """
    kind = obj.get("kind")
    if kind == "Pod" and group_of(obj) == "":
        paths: tuple[Tokens, ...] = (("spec",),)
    elif kind == "PodTemplate":
        paths = (("template", "spec"),)
    elif kind == "CronJob":
        paths = (("spec", "jobTemplate", "spec", "template", "spec"),)
    else:
        paths = (("spec", "template", "spec"),)
    for tokens in paths:
        node: Any = obj
        for t in tokens:
            node = node.get(t) if isinstance(node, Mapping) else None
        if isinstance(node, dict) and (kind in ("Pod", "PodTemplate", "CronJob") or "containers" in node):
            yield tokens, node


def all_containers(pod_spec: Mapping[str, Any]) -> Iterator[tuple[Tokens, dict[str, Any]]]:
    """Containers and init containers of a pod spec, with tokens relative to it."""
    for field in ("initContainers", "containers"):
        for i, c in enumerate(pod_spec.get(field) or ()):
            yield (field, i), c


_SUFFIX = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": 1,
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}
_QUANTITY = re.compile(r"^([+-]?\d+(?:\.\d+)?|[+-]?\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$")


def quantity(value: Any) -> Decimal | None:
    """The value of a Kubernetes quantity, or None when ``value`` is not one.

    >>> quantity("500m") == quantity("0.5") == quantity(0.5)
    True
    >>> quantity("1Gi") == 1024**3, quantity("nginx")
    (True, None)
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    m = _QUANTITY.match(value)
    if not m:
        return None
    try:
        number, suffix = Decimal(m.group(1)), m.group(2) or ""
    except InvalidOperation:
        return None
    if suffix[:1] in ("e", "E"):
        return number * (Decimal(10) ** int(suffix[1:]))
    return number * Decimal(_SUFFIX[suffix])


WORKLOAD_KINDS = frozenset({("apps", "Deployment"), ("apps", "StatefulSet"), ("apps", "DaemonSet")})


def is_ready(obj: Mapping[str, Any]) -> bool:
    """Whether a Deployment/StatefulSet/DaemonSet has caught up with its spec (other kinds: True).

    >>> is_ready({"kind": "Deployment", "spec": {"replicas": 2}, "metadata": {"generation": 1},
    ...           "status": {"observedGeneration": 1, "availableReplicas": 2, "updatedReplicas": 2}})
    True
    """
    spec, status = obj.get("spec", {}), obj.get("status", {}) or {}
    if status.get("observedGeneration", 0) < obj.get("metadata", {}).get("generation", 0):
        return False
    kind = obj.get("kind")
    if kind == "Deployment":
        want = spec.get("replicas", 1)
        return bool(status.get("availableReplicas", 0) >= want and status.get("updatedReplicas", 0) >= want)
    if kind == "StatefulSet":
        return bool(status.get("readyReplicas", 0) >= spec.get("replicas", 1))
    if kind == "DaemonSet":
        return bool(status.get("numberReady", 0) >= status.get("desiredNumberScheduled", 0))
    return True
