"""A truthful verify for AKS-managed exclusions: accounted only when the target's kube-system really has them."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kube.client import ApiResource
from kube.errors import ApiError
from kube.objects import ObjectRef
from migration.exclusions import AKS_RULE, KubeSystemNames, exclusion_holds
from migration.transforms import RULE_NAMES, TransformContext, transform

from support import builders as b

AKS = {"addonmanager.kubernetes.io/mode": "Reconcile", "kubernetes.azure.com/managedby": "aks"}
_RESOURCES = {("apps/v1", "Deployment"): ApiResource("apps", "v1", "Deployment", "deployments", True, frozenset({"list"})),
              ("apps/v1", "DaemonSet"): ApiResource("apps", "v1", "DaemonSet", "daemonsets", True, frozenset({"list"})),
              ("apps/v1", "ReplicaSet"): ApiResource("apps", "v1", "ReplicaSet", "replicasets", True, frozenset({"list"})),
              ("v1", "ConfigMap"): ApiResource("", "v1", "ConfigMap", "configmaps", True, frozenset({"list"})),
              ("v1", "Service"): ApiResource("", "v1", "Service", "services", True, frozenset({"list"})),
              ("v1", "Namespace"): ApiResource("", "v1", "Namespace", "namespaces", False, frozenset({"list"}))}


class _Target:
    """A target holding the given objects; it answers discovery, lists and reads, and counts the lists."""

    def __init__(self, *objs: dict[str, Any], refuse: str | None = None):
        self.objs = list(objs)
        self.lists: list[tuple[str, str | None]] = []
        self.refuse = refuse

    def resources(self, refresh: bool = False) -> dict[tuple[str, str], ApiResource]:
        return _RESOURCES

    def list(self, res: ApiResource, namespace: str | None = None, **kw: Any) -> list[dict[str, Any]]:
        self.lists.append((res.kind, namespace))
        if res.kind == self.refuse:
            raise ApiError(403, "Forbidden", f"cannot list {res.plural} in the namespace {namespace}")
        return [o for o in self.objs if o["kind"] == res.kind
                and (namespace is None or o["metadata"].get("namespace") == namespace)]

    def read(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        key = (obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])
        return next((o for o in self.objs if (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) == key),
                    None)


def _aks(o: dict[str, Any]) -> dict[str, Any]:
    o["metadata"]["labels"] = {**AKS, **(o["metadata"].get("labels") or {})}
    return o


def _coredns() -> dict[str, dict[str, Any]]:
    deploy = _aks(b.deployment("coredns", "kube-system"))
    rs = _aks(b.owned_by(b.obj("apps/v1", "ReplicaSet", "coredns-5d9f8c", "kube-system"), "Deployment", "coredns"))
    pod = _aks(b.owned_by(b.pod("coredns-5d9f8c-x2k4p", "kube-system"), "ReplicaSet", "coredns-5d9f8c"))
    return {"deploy": deploy, "rs": rs, "pod": pod, "config": _aks(b.config_map("coredns", "kube-system")),
            "kube-proxy": _aks(b.daemon_set("kube-proxy", "kube-system")),
            "token": b.secret("bootstrap-token-abcdef", "kube-system", type="bootstrap.kubernetes.io/token")}


def _holds(target: _Target, name: str, *, kube_system: KubeSystemNames | None = None,
           ctx: TransformContext | None = None) -> tuple[bool, str]:
    objs = _coredns()
    obj = objs[name]
    outcome = transform(obj, ctx or TransformContext())
    assert outcome.excluded_by == AKS_RULE, outcome.excluded  # the rule that excludes it is the one checked
    entry = {"ref": ObjectRef.of(obj).to_dict(), "rule": outcome.excluded_by, "reason": outcome.excluded,
             "source": name}
    paths = {ObjectRef.of(o).key: k for k, o in objs.items()}
    return exclusion_holds(target, objs.__getitem__, ObjectRef.of(obj), entry, paths,  # type: ignore[arg-type]
                           kube_system=kube_system)


def test_the_rule_checked_is_the_registered_one() -> None:
    assert AKS_RULE in RULE_NAMES


def test_an_aks_deployment_is_accounted_when_the_targets_kube_system_has_its_own() -> None:
    assert _holds(_Target(b.deployment("coredns", "kube-system")), "deploy") == (True, "")


def test_an_aks_deployment_the_target_lacks_is_a_gap_naming_what_it_lacks() -> None:
    holds, why = _holds(_Target(b.deployment("coredns", "other")), "deploy")
    assert not holds and why.startswith("the target has no Deployment.apps kube-system/coredns")
    assert "enable the add-on on the target, or carry the object" in why


@pytest.mark.parametrize("name", ["rs", "pod"])
def test_what_a_controller_made_is_judged_by_the_top_of_its_owner_chain(name: str) -> None:
    # The pod's and the ReplicaSet's names carry hashes the target's own never has: their Deployment decides.
    assert _holds(_Target(b.deployment("coredns", "kube-system")), name) == (True, "")
    holds, why = _holds(_Target(), name)
    assert not holds and "no Deployment.apps kube-system/coredns (the Deployment this object was made for)" in why


def test_kube_proxy_on_a_cilium_target_is_accounted_by_ciliums_replacement() -> None:
    outcome = transform(_coredns()["kube-proxy"], TransformContext())
    assert "replaced on the Cilium target by DaemonSet.apps kube-system/cilium" in (outcome.excluded or "")
    assert _holds(_Target(b.daemon_set("cilium", "kube-system")), "kube-proxy") == (True, "")
    holds, why = _holds(_Target(), "kube-proxy")
    assert not holds and "no DaemonSet.apps kube-system/kube-proxy, nor DaemonSet.apps kube-system/cilium" in why


def test_kube_proxy_on_a_target_without_cilium_is_expected_as_the_targets_own() -> None:
    azure = TransformContext(target_dataplane="azure")
    assert transform(_coredns()["kube-proxy"], azure).excluded.endswith("the target's AKS installs its own")
    assert _holds(_Target(b.daemon_set("kube-proxy", "kube-system")), "kube-proxy", ctx=azure) == (True, "")


def test_kube_system_is_listed_once_per_kind_never_read_object_by_object() -> None:
    target = _Target(b.deployment("coredns", "kube-system"), b.config_map("coredns", "kube-system"))
    names = KubeSystemNames(target)  # type: ignore[arg-type]
    for name in ("deploy", "rs", "pod", "config", "deploy"):
        assert _holds(target, name, kube_system=names) == (True, "")
    assert sorted(target.lists) == [("ConfigMap", "kube-system"), ("Deployment", "kube-system")]


def test_a_list_the_target_refuses_is_a_gap_that_says_so() -> None:
    holds, why = _holds(_Target(refuse="Deployment"), "deploy")
    assert not holds and "could not be listed" in why and "Forbidden" in why


def test_a_node_bootstrap_token_means_nothing_on_the_target_and_is_accounted_as_given() -> None:
    target = _Target()
    outcome = transform(_coredns()["token"], TransformContext())
    assert outcome.excluded and "bootstrap token" in outcome.excluded and "managed by AKS" not in outcome.excluded
    assert _holds(target, "token") == (True, "") and target.lists == []


def test_verify_reports_an_aks_object_the_target_lacks_and_accounts_for_one_it_has(tmp_path: Path) -> None:
    from migration import stages
    from migration.report import Status
    from migration.snapshot import Snapshot, SnapshotWriter
    from migration.transforms import transform_snapshot

    objs = _coredns()
    with SnapshotWriter(tmp_path / "snapshot", exclude_secrets=True) as w:
        for name in ("deploy", "rs", "pod", "config"):
            w.write(objs[name])
    transform_snapshot(Snapshot(tmp_path / "snapshot"), tmp_path / "transformed", TransformContext(),
                       exclude_secrets=True)
    # The target's AKS installed its coredns Deployment but not (yet) its coredns ConfigMap.
    target = _Target(b.namespace("kube-system"), b.deployment("coredns", "kube-system"))
    report = stages.verify(target, tmp_path / "snapshot", tmp_path / "transformed",  # type: ignore[arg-type]
                           ready_timeout=0)
    by_name = {(r.ref.kind, r.ref.name): r for r in report.results}
    assert {by_name[k].status for k in (("Deployment", "coredns"), ("ReplicaSet", "coredns-5d9f8c"),
                                        ("Pod", "coredns-5d9f8c-x2k4p"))} == {Status.EXCLUDED}
    gap = by_name["ConfigMap", "coredns"]
    assert gap.status is Status.FAILED and "the target has no ConfigMap kube-system/coredns" in gap.message
    assert report.unaccounted == [ObjectRef.of(objs["config"]).path] and not report.ok
