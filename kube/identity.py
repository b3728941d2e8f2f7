"""Which cluster a client talks to, whatever its kubeconfig calls it: server, CA and kube-system's UID.

Why: a migration writes to the target only, and a user can point ``--target``
at the source by mistake — the same file, another context naming the same
server, or another URL (``localhost`` vs ``127.0.0.1``, a private endpoint) for
the same API server. The UID of the ``kube-system`` namespace is created once
with the cluster and survives every rename, so it tells clusters apart where
names cannot; a recreated cluster gets a new one. The server URL and a digest
of the CA it presents are kept beside it, for messages and for clusters whose
``kube-system`` cannot be read.
"""
from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from typing import Any

from kube.client import KubeClient
from kube.errors import ApiError


@dataclasses.dataclass(frozen=True)
class ClusterIdentity:
    """What makes a cluster itself.

    Attributes:
        server: the API server URL of the kubeconfig.
        ca: ``sha256:<hex>`` of the certificate authority data ("" when the kubeconfig has none).
        uid: the UID of the ``kube-system`` namespace ("" when it cannot be read).
    """

    server: str
    ca: str = ""
    uid: str = ""

    def same_cluster(self, other: ClusterIdentity) -> bool:
        """Whether both name one cluster: the same kube-system UID, or (a UID unknown) the same server and CA."""
        if self.uid and other.uid:
            return self.uid == other.uid
        return self.server == other.server and self.ca == other.ca

    def describe(self) -> str:
        """One line for messages: the server and kube-system's UID."""
        return f"{self.server} (kube-system uid {self.uid or 'unknown'})"

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> ClusterIdentity | None:
        """Read back :meth:`to_dict` (None when ``data`` is not such a mapping)."""
        if not isinstance(data, Mapping) or not isinstance(data.get("server"), str):
            return None
        return cls(str(data["server"]), str(data.get("ca") or ""), str(data.get("uid") or ""))


def cluster_identity(client: KubeClient) -> ClusterIdentity:
    """The identity of the cluster ``client`` talks to (one GET of the kube-system namespace).

    Raises:
        ApiError: the server is unreachable (a 403 or 404 on kube-system only leaves the UID empty).
    """
    ca = client.config.ca_data
    uid = ""
    try:
        uid = str((client.get("/api/v1/namespaces/kube-system").get("metadata") or {}).get("uid") or "")
    except ApiError as e:
        if e.status not in (401, 403, 404):
            raise
    return ClusterIdentity(client.config.server, "sha256:" + hashlib.sha256(ca).hexdigest() if ca else "", uid)


__all__ = ["ClusterIdentity", "cluster_identity"]
