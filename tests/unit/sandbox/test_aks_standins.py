"""Green's kube-system stand-ins (sandbox/aks/): what AKS installs, enough for every AKS object the corpus holds."""
from __future__ import annotations

from kube.objects import ObjectRef
from migration.transforms.rules.platform_namespaces import aks_managed, counterparts
from sandbox.cluster import aks_kube_system
from sandbox.corpus import load
from sandbox.profiles import BLUE, GREEN


def test_green_stands_in_for_aks_and_blue_brings_nothing_of_its_own() -> None:
    assert aks_kube_system(BLUE) == []
    standins = aks_kube_system(GREEN)
    assert standins and {o["metadata"]["namespace"] for o in standins} == {"kube-system"}
    # Each stand-in is one the platform-namespaces rule sees as AKS's — coredns-custom apart: AKS creates it
    # empty and its content is the user's.
    assert [str(ObjectRef.of(o)) for o in standins
            if aks_managed(o) is None] == ["ConfigMap kube-system/coredns-custom"]
    names = {(o["kind"], o["metadata"]["name"]) for o in standins}
    assert ("DaemonSet", "kube-proxy") not in names and ("DaemonSet", "cilium") in names  # a Cilium target


def test_every_aks_object_of_the_corpus_has_its_counterpart_among_greens_standins() -> None:
    # The corpus migration's verify checks each AKS-managed kube-system object against green: a missing
    # stand-in would be a (false) gap there; this names it without starting a cluster.
    have = {(ObjectRef.of(o).group, o["kind"], o["metadata"]["name"]) for o in aks_kube_system(GREEN)}
    aks = [d.obj for d in load() if d.obj["metadata"].get("namespace") == "kube-system" and aks_managed(d.obj)]
    assert aks
    missing = [str(ObjectRef.of(o)) for o in aks if not set(counterparts(o)) & have]
    assert missing == []
