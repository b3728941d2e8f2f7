"""Apply the real-world-shaped corpus (``sandbox/corpus/``) to a cluster the way its tools apply it.

Why a corpus next to the seeds: the seeds are what teams fed a cluster with
``kubectl apply`` for years; real kubenet clusters also hold what Helm, Argo
CD, operators and AKS itself wrote — large CRDs, webhooks whose CA bundles
another controller injects, Helm release Secrets, Calico policies, user
content in ``kube-system``, dynamically provisioned in-tree and CSI volumes,
names at the edge of what Kubernetes allows. The migration must lose none of
it silently (issue 12), so the corpus is applied as those tools apply it:

* **server-side apply with each tool's own field manager** (``helm``,
  ``argocd-controller``, ``kubectl``, ``cert-manager-cainjector``,
  ``operator``, ``addon-manager``, ``kube-controller-manager``,
  ``csi-provisioner``, ``controller`` …), so objects carry their managedFields
  and no ``kubectl.kubernetes.io/last-applied-configuration``. Each file names
  its manager in a ``# field-manager: NAME`` comment; a document may name its
  own in the same way (the cainjector's caBundle-only apply, the Secret a
  controller wrote);
* **CRDs and namespaces first**, then CRDs must be Established before any
  custom resource, then the rest in file order (webhook configurations last,
  as their backends come up with the charts — nothing serves them here);
* ownerReferences written with the all-zero uid are resolved to the owner's
  real uid (the garbage collector deletes dependents of a missing owner).

It uses the project's own client (one HTTP request per object), so the whole
corpus applies in a few seconds.
"""
from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from kube.client import KubeClient
from kube.errors import ApiError
from kube.objects import ObjectRef

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"
UNRESOLVED_UID = "00000000-0000-0000-0000-000000000000"
_MANAGER = re.compile(r"^# field-manager: *(\S+) *$", re.MULTILINE)
_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)


class CorpusError(RuntimeError):
    """The corpus could not be read or applied; the message names the file and object."""


@dataclasses.dataclass(frozen=True)
class Document:
    """One corpus object and the field manager that applies it."""

    file: str
    manager: str
    obj: dict[str, Any]

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef.of(self.obj)


def load(corpus_dir: Path = CORPUS_DIR) -> list[Document]:
    """Every document of the corpus, in file order, with its field manager.

    Raises:
        CorpusError: a file without a ``# field-manager:`` header, or YAML that does not parse.
    """
    docs: list[Document] = []
    files = sorted(corpus_dir.glob("*.yaml"))
    if not files:
        raise CorpusError(f"no corpus files in {corpus_dir}")
    for path in files:
        text = path.read_text()
        header = _MANAGER.search(text)
        if header is None:
            raise CorpusError(f"{path.name}: no '# field-manager: NAME' line names the tool that applies it")
        default = header.group(1)
        for i, chunk in enumerate(_SEPARATOR.split(text)):
            try:
                obj = yaml.safe_load(chunk)
            except yaml.YAMLError as e:
                raise CorpusError(f"{path.name}: document {i} is not valid YAML: {e}") from e
            if not obj:
                continue
            own = _MANAGER.search(chunk)
            docs.append(Document(path.name, own.group(1) if own and i else default, obj))
    return docs


def _is_crd(doc: Document) -> bool:
    return doc.obj.get("kind") == "CustomResourceDefinition"


def _is_namespace(doc: Document) -> bool:
    return doc.obj.get("kind") == "Namespace" and doc.obj.get("apiVersion") == "v1"


def _resolve_owners(client: KubeClient, obj: dict[str, Any]) -> dict[str, Any]:
    owners = (obj.get("metadata") or {}).get("ownerReferences") or ()
    if not any(o.get("uid") == UNRESOLVED_UID for o in owners):
        return obj
    resolved = []
    for o in owners:
        if o.get("uid") == UNRESOLVED_UID:
            owner = client.read({"apiVersion": o["apiVersion"], "kind": o["kind"],
                                 "metadata": {"name": o["name"], "namespace": obj["metadata"].get("namespace")}})
            if owner is None:
                raise CorpusError(f"{ObjectRef.of(obj)}: owner {o['kind']} {o['name']} is not applied yet")
            o = {**o, "uid": owner["metadata"]["uid"]}
        resolved.append(o)
    return {**obj, "metadata": {**obj["metadata"], "ownerReferences": resolved}}


def _apply(client: KubeClient, doc: Document, *, retries: int = 40) -> None:
    obj = _resolve_owners(client, doc.obj)
    for attempt in range(retries):
        try:
            client.apply(obj, field_manager=doc.manager)
            return
        except ApiError as e:
            # A type whose CRD was just established can take a moment to appear in discovery.
            if e.reason == "NotServed" and attempt < retries - 1:
                time.sleep(0.25)
                continue
            raise CorpusError(f"{doc.file}: applying {doc.ref} as {doc.manager} failed: {e}") from e


def wait_established(client: KubeClient, names: Iterable[str], timeout: float = 30.0) -> None:
    """Wait until every named CRD reports condition Established=True.

    Raises:
        CorpusError: one is not established in time (named).
    """
    pending = set(names)
    deadline = time.monotonic() + timeout
    while pending:
        for name in sorted(pending):
            crd = client.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
            conditions = {c["type"]: c["status"] for c in (crd.get("status") or {}).get("conditions") or ()}
            if conditions.get("Established") == "True":
                pending.discard(name)
        if pending and time.monotonic() > deadline:
            raise CorpusError(f"CRDs not Established after {timeout:.0f}s: {', '.join(sorted(pending))}")
        if pending:
            time.sleep(0.2)
    client.resources(refresh=True)


def apply_corpus(kubeconfig: Path, corpus_dir: Path = CORPUS_DIR) -> list[Document]:
    """Apply the corpus to the cluster of ``kubeconfig`` (server-side, each tool's field manager).

    Args:
        kubeconfig: the cluster to fill (a sandbox blue, usually already seeded).
        corpus_dir: the corpus files.

    Returns:
        The documents applied, in order.

    Raises:
        CorpusError: a file or object could not be applied; names it and the server's answer.
    """
    docs = load(corpus_dir)
    with KubeClient.from_kubeconfig(kubeconfig, max_connections=4) as client:
        first = [d for d in docs if _is_namespace(d) or _is_crd(d)]
        for doc in first:
            _apply(client, doc)
        wait_established(client, [d.obj["metadata"]["name"] for d in first if _is_crd(d)])
        for doc in docs:
            if not (_is_namespace(doc) or _is_crd(doc)):
                _apply(client, doc)
    return docs


__all__ = ["CORPUS_DIR", "CorpusError", "Document", "apply_corpus", "load", "wait_established"]
