"""Objects stay themselves (issue 13 items 1–3): lifecycle, ownership, field managers — the pure parts.

The sandbox half (kubectl server-side apply as the original manager on both
clusters, owners re-pointed to the target's uids) is in tests/cluster/test_identity_e2e.py.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from migration.snapshot import Snapshot, SnapshotWriter
from migration.transforms import TransformContext, transform
from migration.transforms.ownership import ownership_facts
from migration.transforms.rules import whiteout
from migration.transforms.stage import transform_snapshot


def _owned_secret(owner_kind: str = "SealedSecret", api: str = "bitnami.com/v1alpha1") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "data": {},
            "metadata": {"name": "payment-gateway", "namespace": "storefront", "uid": "s-1",
                         "ownerReferences": [{"apiVersion": api, "kind": owner_kind, "name": "payment-gateway",
                                              "uid": "o-1", "controller": True}]}}


def _sealed(ns: str = "storefront") -> dict[str, Any]:
    return {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
            "metadata": {"name": "payment-gateway", "namespace": ns, "uid": "o-1"}, "spec": {}}


def _controller(ns: str) -> list[dict[str, Any]]:
    """A sealed-secrets controller: a Deployment whose ServiceAccount is bound to a role over bitnami.com.

    Whether it is carried changes nothing for the Secrets it unseals: they are carried either way."""
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "sealed-secrets", "namespace": ns},
         "spec": {"template": {"spec": {"serviceAccountName": "sealed-secrets", "containers": []}}}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "unsealer"},
         "rules": [{"apiGroups": ["bitnami.com"], "resources": ["sealedsecrets"], "verbs": ["*"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "unsealer"},
         "roleRef": {"kind": "ClusterRole", "name": "unsealer"},
         "subjects": [{"kind": "ServiceAccount", "name": "sealed-secrets", "namespace": ns}]},
    ]


def _ctx(objs: list[dict[str, Any]]) -> TransformContext:
    base = TransformContext()
    return TransformContext(**ownership_facts(objs, lambda o: whiteout.excluded_regardless_of_owner(o, base)))


def _aks_managed(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects labelled as AKS's add-on manager's (kube-system objects AKS manages are not carried)."""
    return [{**o, "metadata": {**o["metadata"], "labels": {"addonmanager.kubernetes.io/mode": "Reconcile"}}}
            for o in objs]


@pytest.mark.parametrize("controller", [
    pytest.param(lambda: _controller("sealed-secrets"), id="controller-carried-in-its-own-namespace"),
    pytest.param(lambda: _controller("kube-system"), id="user-controller-carried-from-kube-system"),
    pytest.param(lambda: _aks_managed(_controller("kube-system")), id="aks-managed-controller-not-carried"),
    pytest.param(lambda: _controller("kube-public"), id="controller-in-a-namespace-the-target-has"),
    pytest.param(list, id="no-controller-at-all"),
])
def test_a_secret_owned_by_a_sealed_secret_is_carried_as_data_whether_or_not_its_controller_is(
        controller: Any) -> None:
    # Nothing on the target is sure to unseal it (the sealing key, a controller that is not running yet);
    # carrying loses nothing: a controller that runs there later writes the same content.
    secret = _owned_secret()
    outcome = transform(secret, _ctx([secret, _sealed(), *controller()]))
    assert outcome.kept, outcome.excluded
    assert outcome.obj["data"] == secret["data"]
    assert outcome.obj["metadata"]["ownerReferences"][0]["name"] == "payment-gateway"


def test_a_secret_a_cert_manager_certificate_owns_is_carried_with_its_owner_reference() -> None:
    secret = _owned_secret("Certificate", "cert-manager.io/v1")
    cert = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": "payment-gateway", "namespace": "storefront"}, "spec": {}}
    outcome = transform(secret, _ctx([secret, cert]))
    assert outcome.kept and outcome.obj["metadata"]["ownerReferences"][0]["kind"] == "Certificate"


def test_a_config_map_a_user_marked_as_controlled_by_a_deployment_is_carried() -> None:
    # The deployment controller makes ReplicaSets, never ConfigMaps: leaving it out would lose it.
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"}, "metadata": {
        "name": "web-cfg", "namespace": "shop",
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "d", "controller": True}]}}
    outcome = transform(cm, _ctx([deploy, cm]))
    assert outcome.kept and outcome.obj["metadata"]["ownerReferences"][0]["name"] == "web"


def test_jobs_of_a_carried_cron_job_are_excluded_and_those_of_an_absent_one_carried() -> None:
    cron = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly", "namespace": "shop"},
            "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}}}
    job = {"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": {"containers": []}}}, "metadata": {
        "name": "nightly-2960", "namespace": "shop",
        "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "nightly", "uid": "c", "controller": True}]}}
    excluded = transform(job, _ctx([cron, job]))
    assert not excluded.kept and excluded.excluded.startswith("owned by CronJob nightly")
    assert transform(job, _ctx([job])).kept


def test_pods_of_a_replica_set_a_custom_resource_owns_are_excluded_and_the_replica_set_carried() -> None:
    # An Argo Rollout's ReplicaSet is data (Argo Rollouts may not run on the target); its Pods are the
    # replicaset controller's, which runs on every cluster.
    rollout = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "web", "namespace": "shop"}}
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "spec": {}, "metadata": {
        "name": "web-6d4", "namespace": "shop",
        "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "web", "uid": "r",
                             "controller": True}]}}
    pod = {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": []}, "metadata": {
        "name": "web-6d4-x", "namespace": "shop",
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-6d4", "uid": "s",
                             "controller": True}]}}
    ctx = _ctx([rollout, rs, pod])
    assert transform(rs, ctx).kept and not transform(pod, ctx).kept


def test_an_owned_object_whose_owner_is_not_in_the_snapshot_is_carried_without_the_reference() -> None:
    secret = _owned_secret()
    outcome = transform(secret, _ctx([secret, *_controller("sealed-secrets")]))
    assert outcome.kept and "ownerReferences" not in outcome.obj["metadata"]
    assert [f.code for f in outcome.findings] == ["owner-not-carried"]


def test_pods_of_a_replica_set_of_a_carried_deployment_are_still_excluded() -> None:
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
              "spec": {"template": {"spec": {"containers": []}}}}
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
        "name": "web-6d4", "namespace": "shop",
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "d", "controller": True}]}}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "web-6d4-x", "namespace": "shop",
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-6d4", "uid": "r", "controller": True}]},
        "spec": {"containers": []}}
    ctx = _ctx([deploy, rs, pod])
    assert not transform(rs, ctx).kept and not transform(pod, ctx).kept


def test_a_statefulset_claim_with_a_delete_retention_policy_is_carried_not_left_to_the_controller() -> None:
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "shop"},
           "spec": {"template": {"spec": {"containers": []}}}}
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "spec": {}, "metadata": {
        "name": "data-db-0", "namespace": "shop",
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "uid": "s", "controller": True}]}}
    outcome = transform(pvc, _ctx([sts, pvc]))
    assert outcome.kept and outcome.obj["metadata"]["ownerReferences"][0]["kind"] == "StatefulSet"


def test_non_controller_owner_references_to_carried_objects_are_kept() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "data": {}, "metadata": {
        "name": "cfg", "namespace": "shop",
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "d"}]}}
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}}
    outcome = transform(cm, _ctx([cm, deploy]))
    assert outcome.obj["metadata"]["ownerReferences"] == cm["metadata"]["ownerReferences"]


def test_an_object_being_deleted_is_skipped_and_owns_nothing_on_the_target(tmp_path: Path) -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace",
          "metadata": {"name": "old-team", "deletionTimestamp": "2026-11-30T08:00:00Z"}}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "data": {}, "metadata": {
        "name": "cfg", "namespace": "shop",
        "ownerReferences": [{"apiVersion": "v1", "kind": "Namespace", "name": "old-team", "uid": "n"}]}}
    with SnapshotWriter(tmp_path / "snapshot", stage="snapshot", exclude_secrets=True) as w:
        w.write(ns)
        w.write(cm)
    results = transform_snapshot(Snapshot(tmp_path / "snapshot"), tmp_path / "transformed", TransformContext(),
                                 exclude_secrets=True)
    by_kind = {r.ref.kind: r for r in results}
    assert by_kind["Namespace"].status == "excluded" and "being deleted" in by_kind["Namespace"].message
    out = Snapshot(tmp_path / "transformed")
    carried = [out.read(p) for p in out.paths()]
    assert [o["kind"] for o in carried] == ["ConfigMap"] and "ownerReferences" not in carried[0]["metadata"]


class _Target:
    """A target that holds exactly the given objects (by kind, namespace, name)."""

    def __init__(self, *objs: dict[str, Any]):
        self.objs = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in objs}

    def read(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        key = (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        return obj if key in self.objs else None


def _chain() -> dict[str, dict[str, Any]]:
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}}
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
        "name": "web-6d4", "namespace": "shop",
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "controller": True}]}}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "web-6d4-x", "namespace": "shop",
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-6d4", "controller": True}]}}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "web-cfg", "namespace": "shop",
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "controller": True}]}}
    return {"d": deploy, "rs": rs, "pod": pod, "cm": cm, "secret": _owned_secret(), "sealed": _sealed()}


def _holds(target: _Target, name: str) -> tuple[bool, str]:
    from kube.objects import ObjectRef
    from migration.exclusions import exclusion_holds

    objs = _chain()
    paths = {ObjectRef.of(o).key: k for k, o in objs.items()}
    obj = objs[name]
    entry = {"reason": f"owned by {obj['metadata']['ownerReferences'][0]['kind']} x, whose controller recreates it",
             "source": name}
    return exclusion_holds(target, objs.__getitem__, ObjectRef.of(obj), entry, paths)  # type: ignore[arg-type]


def test_an_excluded_pod_is_accounted_when_the_root_of_its_owner_chain_is_on_the_target() -> None:
    assert _holds(_Target(_chain()["d"]), "pod") == (True, "")


def test_an_excluded_pod_is_a_gap_when_its_deployment_is_not_on_the_target() -> None:
    holds, why = _holds(_Target(), "pod")
    assert not holds and "Deployment web is not on the target" in why


def test_an_excluded_pod_is_accounted_when_its_replica_set_is_on_the_target() -> None:
    assert _holds(_Target(_chain()["rs"]), "pod") == (True, "")


def test_an_object_excluded_as_owned_by_a_deployment_that_does_not_make_its_kind_is_a_gap() -> None:
    objs = _chain()
    holds, why = _holds(_Target(objs["d"]), "cm")
    assert not holds and "no built-in controller of Deployment web makes a ConfigMap" in why


def test_a_secret_excluded_for_its_custom_owner_is_a_gap_until_its_controller_recreates_it() -> None:
    # (the transform no longer excludes it; an exclusion from elsewhere is still checked truthfully)
    objs = _chain()
    holds, why = _holds(_Target(objs["sealed"]), "secret")
    assert not holds and "nothing recreated it" in why
    assert _holds(_Target(objs["sealed"], objs["secret"]), "secret") == (True, "")


def _helm_service(node_port: int, cluster_ip: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {
        "name": "edge", "namespace": "shop",
        "managedFields": [{"manager": "helm", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1",
                           "fieldsV1": {"f:spec": {"f:clusterIP": {}, "f:ports": {
                               'k:{"port":80,"protocol":"TCP"}': {"f:nodePort": {}}}}}}]},
        "spec": {"type": "NodePort", "clusterIP": cluster_ip, "ports": [{"port": 80, "protocol": "TCP",
                                                                         "nodePort": node_port}]}}


def test_a_chosen_node_port_outside_the_targets_range_is_kept_and_reported() -> None:
    outcome = transform(_helm_service(30080, "10.0.1.1"), TransformContext(target_node_port_range=(31000, 32000)))
    assert outcome.obj["spec"]["ports"][0]["nodePort"] == 30080
    assert "chosen-node-port-out-of-range" in {f.code for f in outcome.findings}


def test_a_chosen_health_check_node_port_outside_the_targets_range_is_kept_and_reported() -> None:
    svc = _helm_service(30080, "10.0.1.1")
    svc["spec"].update(type="LoadBalancer", externalTrafficPolicy="Local", healthCheckNodePort=30081)
    svc["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:healthCheckNodePort"] = {}
    outcome = transform(svc, TransformContext(target_node_port_range=(31000, 32000)))
    assert outcome.obj["spec"]["healthCheckNodePort"] == 30081
    assert [f.path for f in outcome.findings if f.code == "chosen-node-port-out-of-range"] == \
        ["/spec/ports/0/nodePort", "/spec/healthCheckNodePort"]


def test_a_pinned_cluster_ip_outside_the_targets_service_cidr_is_a_blocker() -> None:
    outcome = transform(_helm_service(30080, "10.0.1.1"), TransformContext(target_service_cidr="172.16.0.0/16"))
    assert outcome.obj["spec"]["clusterIP"] == "10.0.1.1"
    assert "pinned-cluster-ip-outside-target" in {f.code for f in outcome.findings}
    inside = transform(_helm_service(30080, "172.16.0.10"), TransformContext(target_service_cidr="172.16.0.0/16"))
    assert not inside.findings


def test_an_allocated_cluster_ip_and_node_port_are_dropped() -> None:
    svc = _helm_service(30080, "10.0.1.1")
    svc["metadata"]["managedFields"][0]["fieldsV1"] = {"f:spec": {"f:type": {}}}
    spec = transform(svc, TransformContext()).obj["spec"]
    assert "clusterIP" not in spec and "nodePort" not in spec["ports"][0]


def test_an_object_excluded_as_owned_waits_with_its_owner_when_a_blocker_holds_that_owner_back() -> None:
    from kube.objects import ObjectRef
    from migration.exclusions import blocked_owner

    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}}
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
        "name": "web-6d4", "namespace": "shop",
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "d", "controller": True}]}}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "web-6d4-x", "namespace": "shop",
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-6d4", "uid": "r", "controller": True}]}}
    paths = {ObjectRef.of(o).key: ObjectRef.of(o).path for o in (deploy, rs, pod)}
    objs = {ObjectRef.of(o).path: o for o in (deploy, rs, pod)}
    entry = {"reason": "owned by ReplicaSet web-6d4, whose controller recreates it on the target",
             "source": ObjectRef.of(pod).path}
    held = {ObjectRef.of(deploy).key: "not applied: blocked by aad-pod-identity"}
    assert blocked_owner(objs.__getitem__, ObjectRef.of(pod), entry, paths, held) == "Deployment web"
    assert blocked_owner(objs.__getitem__, ObjectRef.of(pod), entry, paths, {}) is None


def test_a_rewrite_inside_an_atomic_field_makes_the_whole_field_akshifts_and_no_longer_the_tools() -> None:
    from migration.identity import restored_fields

    # nodeSelector is an atomic map: the API server records it as one leaf, never per key.
    tool = {"manager": "team-tool", "operation": "Apply", "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {
        "f:spec": {"f:nodeSelector": {}}}}}}
    ours = {"manager": "akshift", "operation": "Apply", "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {
        "f:spec": {"f:nodeSelector": {}}}}}}
    live = {"metadata": {"managedFields": [ours]},
            "spec": {"replicas": 2, "template": {"spec": {"nodeSelector": {"agentpool": "apps"}}}}}
    entries = restored_fields([tool], live, ["/spec/template/spec/nodeSelector/agentpool"], manager="akshift",
                              uid_map={}, now="2026-12-01T00:00:00Z")
    assert {e["manager"]: e["fieldsV1"] for e in entries} == {
        "team-tool": {"f:spec": {"f:replicas": {}}},
        "akshift": {"f:metadata": {"f:name": {}}, "f:spec": {"f:template": {"f:spec": {"f:nodeSelector": {}}}}}}


def test_restored_managers_do_not_claim_fields_the_transform_removed() -> None:
    # kubectl (client-side apply) owned the annotations map and its last-applied annotation on blue; the
    # transform drops that annotation (so the map), and the controller's provisioner annotation is not
    # carried either. Restoring those claims would make the next server-side apply that adds an annotation
    # (Pulumi adopting the claim) conflict on `.metadata.annotations` with a manager that owns nothing there.
    from migration.identity import restored_fields

    kubectl = {"manager": "kubectl-client-side-apply", "operation": "Update", "fieldsV1": {
        "f:metadata": {"f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}}},
        "f:spec": {"f:accessModes": {}, "f:storageClassName": {}}}}
    kcm = {"manager": "kube-controller-manager", "operation": "Update", "fieldsV1": {
        "f:metadata": {"f:annotations": {"f:volume.kubernetes.io/storage-provisioner": {}}}}}
    live = {"metadata": {"name": "reports-archive", "managedFields": []},
            "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "azurefile-csi"}}
    entries = restored_fields([kubectl, kcm], live, [], manager="akshift", uid_map={}, now="2026-12-01T00:00:00Z")
    assert {e["manager"]: e["fieldsV1"] for e in entries} == {
        "kubectl-client-side-apply": {"f:spec": {"f:accessModes": {}, "f:storageClassName": {}}}}


def test_a_source_manager_keeps_the_owner_references_it_set_re_pointed_to_the_target_uid() -> None:
    from migration.identity import restored_fields

    tool = {"manager": "team-tool", "operation": "Apply", "fieldsV1": {"f:metadata": {"f:ownerReferences": {
        'k:{"uid":"blue-uid"}': {".": {}, "f:name": {}, "f:uid": {}}}}, "f:data": {"f:k": {}}}}
    live = {"metadata": {"managedFields": [], "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "base", "uid": "green-uid"}]}, "data": {"k": "v"}}
    entries = restored_fields([tool], live, [], manager="akshift", uid_map={"blue-uid": "green-uid"},
                              now="2026-12-01T00:00:00Z")
    assert entries[0]["fieldsV1"]["f:metadata"] == {"f:ownerReferences": {
        'k:{"uid":"green-uid"}': {".": {}, "f:name": {}, "f:uid": {}}}}
