"""The independent checker's own comparison and storage check, on hand-made objects (no cluster)."""
from __future__ import annotations

from typing import Any

from kube.objects import ObjectRef

from support.corpus_check import declared, differences, storage_violations


def _pv(name: str, policy: str, **source: Any) -> tuple[ObjectRef, dict[str, Any]]:
    obj = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
           "spec": {"persistentVolumeReclaimPolicy": policy, **source}}
    return ObjectRef.of(obj), obj


DISK = {"azureDisk": {"diskURI": "/subscriptions/s/resourceGroups/MC_rg/providers/Microsoft.Compute/disks/d1"}}
SHARE = {"csi": {"driver": "file.csi.azure.com", "volumeHandle": "MC_rg#acct#share###ns"}}


def test_a_target_volume_on_the_sources_disk_with_reclaim_delete_is_a_violation() -> None:
    source = dict([_pv("pv-a", "Delete", **DISK), _pv("pv-b", "Delete", **SHARE)])
    target = dict([_pv("pv-a", "Delete", **DISK), _pv("pv-b", "Retain", **SHARE), _pv("pv-new", "Delete",
                                                                                    csi={"driver": "disk.csi.azure.com", "volumeHandle": "new"})])
    assert [v.split(":")[0] for v in storage_violations(source, target)] == ["pv-a"]


def test_declared_fields_ignore_what_servers_fill_in_but_not_what_users_wrote() -> None:
    source = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "uid": "1", "labels": {"a": "b"},
              "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
              "spec": {"clusterIP": "10.0.0.7", "ports": [{"port": 80, "nodePort": 30001}], "selector": {"app": "web"}},
              "status": {"loadBalancer": {}}}
    target = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "uid": "2", "labels": {"a": "b"}},
              "spec": {"clusterIP": "10.1.0.9", "ports": [{"port": 80, "nodePort": 31999, "protocol": "TCP"}],
                       "selector": {"app": "web"}, "type": "ClusterIP"}}
    assert differences(declared(source), declared(target)) == []
    target["spec"]["selector"] = {"app": "api"}
    del target["metadata"]["labels"]
    assert differences(declared(source), declared(target)) == ["/spec/selector/app: 'web' on the source, 'api' on the "
                                                               "target", "/labels: missing"]
