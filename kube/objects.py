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
import hashlib
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
        """The snapshot-relative path: ``<namespace or _cluster>/<group or core>.<Kind>/<file>.yaml``.

        ``<file>`` is the name itself when it is a plain file name everywhere
        (see :func:`file_stem`); any other legal name — longer than
        :data:`MAX_PLAIN_NAME` bytes, or holding characters some filesystems or
        git checkouts refuse or fold (``:``, capitals, unicode) — becomes
        ``<readable prefix>~<hash>``, deterministic and unique per name. The real
        name stays inside the file, and the snapshot index maps such paths back.

        Raises:
            ObjectNameError: the namespace, kind or name could escape the snapshot
                directory or cannot be a file name at all.

        >>> ObjectRef("apps", "Deployment", "shop", "web").path
        'shop/apps.Deployment/web.yaml'
        >>> ObjectRef("rbac.authorization.k8s.io", "ClusterRole", "", "system:node").path
        '_cluster/rbac.authorization.k8s.io.ClusterRole/system_node~324d7600023a69586e0e.yaml'
        """
        ns = _segment(self.namespace, "namespace", self) if self.namespace else CLUSTER_DIR
        if ns != CLUSTER_DIR and not _PLAIN.fullmatch(ns):
            raise ObjectNameError(f"namespace {ns!r} is not a DNS label", ref=self,
                                  fix="exclude this object; Kubernetes should not have accepted the namespace")
        kind_dir = _segment(self.kind_dir, "kind", self)
        if len(kind_dir.encode()) > MAX_PLAIN_NAME or "\\" in kind_dir or ":" in kind_dir:
            raise ObjectNameError(f"kind directory {kind_dir!r} cannot be a portable file name", ref=self,
                                  fix="exclude this kind (--kind) or shorten its API group")
        return f"{ns}/{kind_dir}/{file_stem(_segment(self.name, 'name', self))}.yaml"

    @property
    def hashed(self) -> bool:
        """Whether :attr:`path` holds a hashed file name (the name cannot be read back from the path)."""
        return is_hashed_path(self.path)

    @classmethod
    def from_path(cls, path: str) -> ObjectRef:
        """The inverse of :attr:`path` for plain names (for a hashed one, read the snapshot index).

        Raises:
            ObjectNameError: the path holds a hashed file name, or is not a snapshot path.

        >>> ObjectRef.from_path("_cluster/rbac.authorization.k8s.io.ClusterRole/view.yaml")
        ObjectRef(group='rbac.authorization.k8s.io', kind='ClusterRole', namespace='', name='view')
        """
        parts = path.split("/", 2)
        if len(parts) != 3 or not parts[2].endswith(".yaml") or "." not in parts[1]:
            raise ObjectNameError(f"{path!r} is not a snapshot path (<namespace>/<group>.<Kind>/<name>.yaml)")
        ns, kind_dir, name = parts
        if is_hashed_path(path):
            raise ObjectNameError(f"{path!r} holds a hashed file name: the object's name is in the file and "
                                  "in the snapshot index, not in the path",
                                  fix="look the path up in the index (Snapshot.ref)")
        group, _, kind = kind_dir.rpartition(".")
        return cls(group="" if group == CORE else group, kind=kind,
                   namespace="" if ns == CLUSTER_DIR else ns, name=name.removesuffix(".yaml"))


# A name is its own file name only when it is safe on every filesystem and in git checkouts
# people use (ext4, APFS and NTFS, which are case-insensitive by default and refuse ':'
# and '\\'; eCryptfs, whose names stop at 143 bytes): DNS-subdomain characters — what almost
# every Kubernetes name is — and at most MAX_PLAIN_NAME bytes. Anything else a Kubernetes name
# may legally be (253 characters; RBAC names of any length with ':' or unicode) is hashed.
MAX_PLAIN_NAME = 120
HASH_MARK = "~"  # never in a plain name, so a hashed file name cannot collide with one
_HASH_HEX = 20  # 80 bits of sha256: collisions need ~10^12 names in one kind directory
_PREFIX = 64  # readable start of a hashed name, for people browsing the snapshot
_PLAIN = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?")
_UNSAFE = re.compile(r"[^a-z0-9.-]")
# NTFS device names refuse to be files whatever the extension ("con.yaml", "aux.1.yaml").
_DEVICE_NAMES = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)),
                           *(f"lpt{i}" for i in range(10))})


def file_stem(name: str) -> str:
    """The file name (without ``.yaml``) a snapshot gives an object name.

    Args:
        name: a non-empty object name, already checked not to escape a directory.

    Returns:
        ``name`` itself when it is plain (DNS-subdomain characters, at most
        :data:`MAX_PLAIN_NAME` bytes, not an NTFS device name); otherwise
        ``<prefix>~<hash>``: up to 64 characters of the name with unsafe ones
        replaced by ``_``, then the first 20 hex digits of its sha256.

    >>> file_stem("web"), file_stem("a" * 253)[60:]
    ('web', 'aaaa~32859a3ab65ac52932e1')
    """
    if _PLAIN.fullmatch(name) and len(name) <= MAX_PLAIN_NAME and name.split(".", 1)[0] not in _DEVICE_NAMES:
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_HEX]
    return f"{_UNSAFE.sub('_', name.lower())[:_PREFIX]}{HASH_MARK}{digest}"


def is_hashed_path(path: str) -> bool:
    """Whether a snapshot path's file name is hashed (its object name must come from the index)."""
    return HASH_MARK in path.rpartition("/")[2]


def _segment(value: str, what: str, ref: ObjectRef) -> str:
    # Kubernetes validates names as path segments (no '/', not '.' or '..'); check anyway
    # because a path escaping the snapshot directory would be a security bug. Other characters
    # ('\\', ':', unicode) are legal in some names and make file_stem hash the name.
    if not value or value in (".", "..") or "/" in value or "\0" in value:
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


_SUFFIX: dict[str, int | Decimal] = {
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
