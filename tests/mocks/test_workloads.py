"""``MigratedWorkloads`` and the program's ``existing`` cluster mode: pure declarations, mocks, the real engine.

What they pin: stable logical names and provider type tokens; the migration's
apply order with Namespace/CRD dependencies recorded and nothing more; Secrets
as Pulumi secrets; the sandbox stack file composing no Azure resource; the pins
(snapshot digest, Kubernetes version) refusing before anything is registered.
That ``up`` with the real engine owns the workloads on green is
``tests/engine/test_workloads_on_green.py``.
"""
from __future__ import annotations

import copy
import dataclasses
import gc
import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime import rpc

from akshift import program
from components.workloads import (
    SECRET_FIELDS,
    declarations,
    logical_name,
    resource_inputs,
    type_token,
)
from kube.order import tier_name
from migration.snapshot import Snapshot

from support import ROOT
from support import pulumi_harness as harness
from support.builders import obj
from support.pulumi_harness import Registered
from support.workload_stacks import age_key, sandbox_config, workload_set, write_snapshot

# --------------------------------------------------------------------------- pure declarations


def test_logical_names_are_the_object_identity_and_ignore_content_and_version() -> None:
    a = obj("apps/v1", "Deployment", "web", "shop", spec={"replicas": 1})
    b = obj("apps/v1beta2", "Deployment", "web", "shop", spec={"replicas": 5})
    assert logical_name(a) == logical_name(b) == "apps/Deployment/shop/web"
    assert logical_name(obj("v1", "Namespace", "shop")) == "core/Namespace//shop"


def test_a_double_colon_in_a_name_is_escaped_so_it_cannot_split_the_urn() -> None:
    name = logical_name(obj("rbac.authorization.k8s.io/v1", "ClusterRole", "system::odd"))
    assert "::" not in name and name.endswith("system%3A%3Aodd")


@pytest.mark.parametrize(("api_version", "kind", "token"), [
    ("v1", "ConfigMap", "kubernetes:core/v1:ConfigMap"),
    ("apps/v1", "Deployment", "kubernetes:apps/v1:Deployment"),
    ("gadgets.example.com/v1alpha1", "Gadget", "kubernetes:gadgets.example.com/v1alpha1:Gadget"),
], ids=["core", "apps", "custom"])
def test_type_tokens_are_the_providers_own(api_version: str, kind: str, token: str) -> None:
    assert type_token(obj(api_version, kind, "x")) == token


def test_inputs_drop_status_and_server_owned_metadata() -> None:
    live = obj("v1", "ConfigMap", "c", "ns", data={"a": "1"})
    live["status"] = {"x": 1}
    live["metadata"].update(uid="u", resourceVersion="7", managedFields=[{}], creationTimestamp="t")
    assert resource_inputs(live) == obj("v1", "ConfigMap", "c", "ns", data={"a": "1"})


@pytest.mark.parametrize(("o", "skipped"), [
    (obj("v1", "PersistentVolumeClaim", "data", "ns"), True),
    (obj("v1", "Service", "web", "ns", spec={"type": "LoadBalancer"}), True),
    (obj("v1", "Service", "web", "ns", spec={"type": "ClusterIP"}), False),
    (obj("networking.k8s.io/v1", "Ingress", "web", "ns"), True),
    (obj("batch/v1", "Job", "once", "ns"), True),
    (obj("apps/v1", "StatefulSet", "db", "ns", spec={"replicas": 0}), True),
    (obj("apps/v1", "Deployment", "web", "ns", spec={"replicas": 2}), False),
    (obj("v1", "ConfigMap", "c", "ns"), False),
], ids=["pending-claim", "load-balancer", "cluster-ip", "ingress", "job", "quiesced-statefulset",
        "running-deployment", "configmap"])
def test_up_does_not_wait_on_what_a_migration_leaves_not_yet_ready(o: dict[str, Any], skipped: bool) -> None:
    annotations = resource_inputs(o)["metadata"].get("annotations") or {}
    assert (annotations.get("pulumi.com/skipAwait") == "true") is skipped
    assert "annotations" not in o["metadata"] or "pulumi.com/skipAwait" not in o["metadata"]["annotations"]


@pytest.mark.parametrize(("o", "forced"), [
    (obj("apps/v1", "StatefulSet", "db", "ns", spec={"volumeClaimTemplates": [{"metadata": {"name": "data"}}]}), True),
    (obj("apps/v1", "StatefulSet", "cache", "ns", spec={"replicas": 1}), False),
    (obj("apps/v1", "Deployment", "web", "ns", spec={"replicas": 2}), False),
], ids=["statefulset-with-claim-templates", "statefulset-without", "deployment"])
def test_adoption_forces_only_the_objects_whose_defaulted_atomic_list_would_conflict(o: dict[str, Any],
                                                                                      forced: bool) -> None:
    annotations = resource_inputs(o)["metadata"].get("annotations") or {}
    assert (annotations.get("pulumi.com/patchForce") == "true") is forced


def test_declarations_follow_the_migration_apply_order_crds_and_namespaces_first() -> None:
    tiers = declarations(workload_set("promo-x", "x.promo.akshift.dev"))
    names = [tier_name(row[0].tier) for row in tiers]
    assert names[:2] == ["crds", "namespaces"]
    assert names.index("role-bindings") > names.index("roles")
    assert names.index("workloads") > names.index("services") > names.index("network-policies")
    assert names[-1] == "custom resources"


def test_each_object_needs_only_its_namespace_and_its_crd() -> None:
    flat = {d.name: d for row in declarations(workload_set("promo-x", "x.promo.akshift.dev")) for d in row}
    assert flat["apps/Deployment/promo-x/api"].namespace == "promo-x"
    assert flat["apps/Deployment/promo-x/api"].crd is None
    assert flat["x.promo.akshift.dev/Gadget/promo-x/one"].crd == "x.promo.akshift.dev/Gadget"
    assert flat["core/Namespace//promo-x"].defines == "namespace/promo-x"
    assert flat["apiextensions.k8s.io/CustomResourceDefinition//gadgets.x.promo.akshift.dev"].defines == \
        "crd/x.promo.akshift.dev/Gadget"


def test_an_object_listed_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="appears twice"):
        declarations([obj("v1", "ConfigMap", "c", "ns"), obj("v1", "ConfigMap", "c", "ns", data={"a": "b"})])


# --------------------------------------------------------------------------- the program under mocks


@dataclasses.dataclass
class Run:
    """What a mocked run of the program registered, read and exported."""

    resources: list[Registered]
    read: dict[str, dict[str, Any]]  # logical name → inputs of every resource the mocks saw, reads included
    exports: dict[str, Any]


def run_program(config: dict[str, Any], base_dir: Path, *, live_version: str = "v1.36.3",
                stack_outputs: dict[str, Any] | None = None, last_outputs: dict[str, Any] | None = None) -> Run:
    """Run program.main for a stack configuration under the shared recording mocks; the cluster answers
    ``live_version``; a StackReference answers ``stack_outputs`` (``pulumi up``); ``last_outputs`` are handed to
    the program as the engine gateway does (``akshift up``)."""
    seen: dict[str, dict[str, Any]] = {}

    def state(typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        seen[name] = copy.deepcopy(inputs)
        if typ == "pulumi:pulumi:StackReference":
            return name, {"name": name, "outputs": stack_outputs or {}, "secretOutputNames": []}
        return harness.echo_state(typ, name, inputs)

    pulumi.runtime.set_all_config(
        {k: json.dumps(v) if isinstance(v, (dict, list)) else str(v) for k, v in config.items()}, [])
    exported: dict[str, Any] = {}

    def prog() -> Any:
        original = pulumi.export
        pulumi.export = lambda k, v: exported.__setitem__(k, v)  # type: ignore[assignment]
        try:
            program.main(base_dir, server_version=lambda _text: live_version, last_outputs=last_outputs)
        finally:
            pulumi.export = original  # type: ignore[assignment]
        return pulumi.Output.all(**exported).apply(exported.update)

    try:
        resources = harness.run(prog, state, stack="sandbox")
    finally:
        # Finalise the run's futures now: collected later, inside a compile() (pytest's assertion rewriting),
        # their finalisers trip CPython 3.11.7's "AST constructor recursion depth mismatch" (gh-106905).
        gc.collect()
    return Run(resources, seen, exported)


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


@pytest.fixture
def sandbox_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_SECRET_KEYS", raising=False)
    monkeypatch.delenv("AKSHIFT_SECRET_PASSPHRASE", raising=False)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "green",
        "contexts": [{"name": "green", "context": {"cluster": "green", "user": "admin"}}],
        "clusters": [{"name": "green", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "admin", "user": {"token": "t"}}]}))
    identity = tmp_path / "age.key"
    snap = write_snapshot(tmp_path / "run" / "transformed", workload_set("promo-m", "m.promo.akshift.dev"),
                          age_key(identity))
    return {"kubeconfig": kubeconfig, "identity": identity, "snapshot": snap.root}


def test_the_sandbox_stack_declares_workloads_through_one_provider_and_no_azure_resource(
    sandbox_files: dict[str, Path], tmp_path: Path
) -> None:
    config = sandbox_config(sandbox_files["kubeconfig"], sandbox_files["snapshot"], sandbox_files["identity"])
    run = run_program(config, tmp_path)
    exports = run.exports
    types = [r.type for r in run.resources]
    assert not [t for t in types if t.startswith("azure-native:")]
    assert types.count("pulumi:providers:kubernetes") == 1
    workloads = [r for r in run.resources if r.parent == "akshift:index:MigratedWorkloads"]
    assert len(workloads) == 11
    assert exports["workloads"]["digest"] == Snapshot(sandbox_files["snapshot"]).digest
    assert exports["kubernetesVersion"] == "1.36" and exports["addonVersions"] == {}
    assert exports["verification"] is None  # no verify.json next to the snapshot yet
    assert exports["clusterName"] == "green"


@pytest.mark.parametrize(("stack", "protected"), [("sandbox", False), ("sandbox-prod", True)])
def test_each_shipped_sandbox_stack_protects_its_workloads_as_its_file_says(
    sandbox_files: dict[str, Path], tmp_path: Path, stack: str, protected: bool
) -> None:
    shipped = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    config = sandbox_config(sandbox_files["kubeconfig"], sandbox_files["snapshot"], sandbox_files["identity"],
                            stack=stack, protect=shipped["akshift:cluster"]["protect"])
    children = [r for r in run_program(config, tmp_path).resources if r.parent == "akshift:index:MigratedWorkloads"]
    assert children and {r.protect for r in children} == {protected}


def test_secret_data_is_sent_as_a_pulumi_secret_and_other_objects_are_not(
    sandbox_files: dict[str, Path], tmp_path: Path
) -> None:
    config = sandbox_config(sandbox_files["kubeconfig"], sandbox_files["snapshot"], sandbox_files["identity"])
    raw = run_program(config, tmp_path).read
    secret = raw["aks-core/Secret/promo-m/creds"]
    assert _is_secret(secret["data"]) and secret["data"]["value"]["password"]
    assert not _is_secret(raw["aks-core/ConfigMap/promo-m/settings"]["data"])
    assert set(SECRET_FIELDS) >= {"data"}


def test_only_namespace_and_crd_dependencies_are_recorded(sandbox_files: dict[str, Path], tmp_path: Path) -> None:
    config = sandbox_config(sandbox_files["kubeconfig"], sandbox_files["snapshot"], sandbox_files["identity"])
    deps = {r.name: {d.rsplit("::", 1)[-1] for d in r.dependencies} for r in run_program(config, tmp_path).resources}
    assert deps["aks-apps/Deployment/promo-m/api"] == {"aks-core/Namespace//promo-m"}
    assert deps["aks-m.promo.akshift.dev/Gadget/promo-m/one"] == {
        "aks-core/Namespace//promo-m", "aks-apiextensions.k8s.io/CustomResourceDefinition//gadgets.m.promo.akshift.dev"}
    assert deps["aks-core/Namespace//promo-m"] == set()


def test_a_snapshot_that_is_not_the_pinned_one_registers_nothing(
    sandbox_files: dict[str, Path], tmp_path: Path
) -> None:
    config = sandbox_config(sandbox_files["kubeconfig"], sandbox_files["snapshot"], sandbox_files["identity"])
    config["akshift:workloads"]["digest"] = "sha256:" + "0" * 64
    with pytest.raises(Exception, match="workloads.digest pins sha256:0000"):
        run_program(config, tmp_path)


def test_a_cluster_running_another_kubernetes_version_gets_no_provider(
    sandbox_files: dict[str, Path], tmp_path: Path
) -> None:
    config = sandbox_config(sandbox_files["kubeconfig"], sandbox_files["snapshot"], sandbox_files["identity"])
    with pytest.raises(Exception, match=r"cluster green runs v1.35.1, but the stack expects 1.36"):
        run_program(config, tmp_path, live_version="v1.35.1")


def test_the_kubeconfig_can_come_from_another_stacks_output(sandbox_files: dict[str, Path], tmp_path: Path) -> None:
    config = sandbox_config(sandbox_files["kubeconfig"], sandbox_files["snapshot"], sandbox_files["identity"])
    del config["akshift:cluster"]["kubeconfig"]
    config["akshift:cluster"]["stackReference"] = {"stack": "organization/platform/prod", "output": "kubeconfig"}
    run = run_program(config, tmp_path, stack_outputs={"kubeconfig": sandbox_files["kubeconfig"].read_text()})
    assert "organization/platform/prod" in run.read  # a read, not a registration
    assert [r.name for r in run.resources if r.type == "pulumi:providers:kubernetes"] == ["aks-provider"]
    exports = run.exports
    assert exports["kubeconfig"] == sandbox_files["kubeconfig"].read_text()


CREATED = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-akshift-test/providers/" \
          "Microsoft.ContainerService/managedClusters/aks-akshift-test"


@pytest.mark.parametrize("channel", ["stack_outputs", "last_outputs"])
def test_switching_a_stack_that_created_its_cluster_to_existing_is_refused_naming_the_intent(
    sandbox_files: dict[str, Path], tmp_path: Path, channel: str
) -> None:
    # The stack's last deployment (mode new) exported clusterId: with mode existing Pulumi would delete that cluster.
    # Under `pulumi up` the program reads it itself (StackReference); under `akshift up` the gateway hands it over.
    config = sandbox_config(sandbox_files["kubeconfig"], sandbox_files["snapshot"], sandbox_files["identity"])
    with pytest.raises(Exception, match=r"created the AKS cluster .*aks-akshift-test \(cluster.mode new\); with mode "
                                        r"existing Pulumi would delete it") as e:
        run_program(config, tmp_path, **{channel: {"clusterId": CREATED}})
    assert "cluster.deleteCreatedCluster: true" in str(e.value) and "pulumi state delete" in str(e.value)


def test_a_stack_switched_to_existing_deploys_once_the_user_names_the_deletion(
    sandbox_files: dict[str, Path], tmp_path: Path
) -> None:
    config = sandbox_config(sandbox_files["kubeconfig"], sandbox_files["snapshot"], sandbox_files["identity"])
    config["akshift:cluster"]["deleteCreatedCluster"] = True
    run = run_program(config, tmp_path, stack_outputs={"clusterId": CREATED})
    assert [r.name for r in run.resources if r.type == "pulumi:providers:kubernetes"] == ["aks-provider"]


def test_a_stack_that_never_created_a_cluster_reads_its_own_outputs_and_is_not_refused(
    sandbox_files: dict[str, Path], tmp_path: Path
) -> None:
    config = sandbox_config(sandbox_files["kubeconfig"], sandbox_files["snapshot"], sandbox_files["identity"])
    run = run_program(config, tmp_path, stack_outputs={"clusterName": "green"})
    assert "organization/akshift/sandbox" in run.read  # its own outputs, read (not registered)
    assert run.exports["clusterName"] == "green"


def test_outputs_handed_over_by_the_gateway_are_not_read_again_while_the_update_writes_the_state(
    sandbox_files: dict[str, Path], tmp_path: Path
) -> None:
    config = sandbox_config(sandbox_files["kubeconfig"], sandbox_files["snapshot"], sandbox_files["identity"])
    run = run_program(config, tmp_path, last_outputs={"clusterName": "green"})
    assert not [r for r in run.resources if r.type == "pulumi:pulumi:StackReference"]
    assert "organization/akshift/sandbox" not in run.read
    assert run.exports["clusterName"] == "green"
