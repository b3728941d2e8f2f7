"""``MigratedWorkloads`` and the program's ``existing`` cluster mode: pure declarations, mocks, the real engine.

What they pin: stable logical names and provider type tokens; the migration's
apply order with Namespace/CRD dependencies recorded and nothing more; Secrets
as Pulumi secrets; the sandbox stack file composing no Azure resource; the pins
(snapshot digest, Kubernetes version) refusing before anything is registered;
and, against green with the real engine and Kubernetes provider, that ``up``
owns the workloads (Available, secret in state, a second ``up`` is a no-op, a
changed object is one update, destroy removes them).
"""
from __future__ import annotations

import base64
import copy
import dataclasses
import gc
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pulumi_harness as harness
import pyrage
import pytest
import yaml
from builders import obj
from pulumi.runtime import rpc
from pulumi_harness import Registered

from akshift import program
from components.workloads import (
    SECRET_FIELDS,
    declarations,
    logical_name,
    resource_inputs,
    type_token,
)
from kube.client import KubeClient
from kube.order import tier_name
from migration.secrets import SecretKey
from migration.snapshot import Snapshot, SnapshotWriter

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "s3cr3t-promo-value"


# --------------------------------------------------------------------------- object sets and projects


def crd(group: str, kind: str = "Gadget") -> dict[str, Any]:
    plural = kind.lower() + "s"
    return obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", f"{plural}.{group}", spec={
        "group": group, "scope": "Namespaced",
        "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
        "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
            "type": "object",
            "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}],
    })


def workload_set(ns: str, group: str, *, greeting: str = "hello", replicas: int = 2) -> list[dict[str, Any]]:
    """A small migrated application: one object of each tier that matters, a CRD and its resource."""
    labels = {"app": "api"}
    return [
        crd(group),
        obj("v1", "Namespace", ns, labels={"akshift.io/test": "promotion"}),
        obj("v1", "ServiceAccount", "api", ns),
        obj("rbac.authorization.k8s.io/v1", "Role", "reader", ns,
            rules=[{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]),
        obj("rbac.authorization.k8s.io/v1", "RoleBinding", "api-reader", ns,
            roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
            subjects=[{"kind": "ServiceAccount", "name": "api", "namespace": ns}]),
        obj("v1", "ConfigMap", "settings", ns, data={"GREETING": greeting}),
        obj("v1", "Secret", "creds", ns, type="Opaque",
            data={"password": base64.b64encode(PASSWORD.encode()).decode()}),
        obj("networking.k8s.io/v1", "NetworkPolicy", "default-deny", ns,
            spec={"podSelector": {}, "policyTypes": ["Ingress"]}),
        obj("v1", "Service", "api", ns, spec={"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}),
        obj("apps/v1", "Deployment", "api", ns, labels=labels, spec={
            "replicas": replicas, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {
                "serviceAccountName": "api",
                "containers": [{"name": "api", "image": "nginx:1.27",
                                "envFrom": [{"configMapRef": {"name": "settings"}}]}]}}}),
        obj(f"{group}/v1", "Gadget", "one", ns, spec={"size": 3}),
    ]


def age_key(path: Path) -> SecretKey:
    """A fresh X25519 age identity file (no scrypt: milliseconds, unlike a passphrase)."""
    ident = pyrage.x25519.Identity.generate()
    path.write_text(f"# public key: {ident.to_public()}\n{ident}\n")
    path.chmod(0o600)
    return SecretKey.from_identity_file(path)


def write_snapshot(directory: Path, objects: list[dict[str, Any]], key: SecretKey) -> Snapshot:
    """A transformed snapshot, as `akshift transform` writes it (Secrets in the encrypted bundle)."""
    with SnapshotWriter(directory, stage="transformed", secret_key=key) as w:
        for o in objects:
            w.write(o)
    return Snapshot(directory)


def sandbox_config(kubeconfig: Path, snapshot: Path, identity: Path, *, stack: str = "sandbox",
                   **cluster: Any) -> dict[str, Any]:
    """A shipped sandbox stack's configuration, pointed at a test's cluster and snapshot (unprotected
    unless ``protect`` is given)."""
    config = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    config["akshift:cluster"].update({"kubeconfig": str(kubeconfig), "protect": False, **cluster})
    config["akshift:workloads"] = {"snapshot": str(snapshot), "ageIdentityFile": str(identity)}
    return config


def make_project(directory: Path, stacks: dict[str, dict[str, Any]]) -> Path:
    """A Pulumi project directory: the repository's Pulumi.yaml and the given stack files."""
    (directory / "stacks").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "Pulumi.yaml", directory / "Pulumi.yaml")
    for name, config in stacks.items():
        (directory / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}))
    return directory


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
                stack_outputs: dict[str, Any] | None = None) -> Run:
    """Run program.main for a stack configuration under the shared recording mocks; the cluster answers
    ``live_version``; a StackReference answers ``stack_outputs``."""
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
            program.main(base_dir, server_version=lambda _text: live_version)
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


# --------------------------------------------------------------------------- the real engine against green


@pytest.fixture(scope="module")
def deployed(green: Any, pulumi_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The sandbox stack (`promo-wl`) on green, after one guarded `up` through the Automation API."""
    from deploy.backend import resolve_backend
    from deploy.engine import guarded_up
    from deploy.promotion import Project, open_stack
    from sandbox import build

    root = tmp_path_factory.mktemp("promo-wl")
    identity = root / "age.key"
    key = age_key(identity)
    snap = write_snapshot(root / "run" / "transformed", workload_set("promo-wl", "wl.promo.akshift.dev"), key)
    project_dir = make_project(root / "project", {"promo-wl": sandbox_config(green.kubeconfig, snap.root, identity)})
    project = Project(project_dir, lambda: program.main(project_dir), resolve_backend(pulumi_env), pulumi_env,
                      build.TOOLS["pulumi"].dir)
    stack = open_stack(project, "promo-wl", create=True)
    t0 = time.monotonic()
    preview, result = guarded_up(stack, confirm=lambda p: True)
    state = {"project": project, "stack": stack, "preview": preview, "result": result, "root": root, "key": key,
             "seconds": time.monotonic() - t0}
    yield state
    if not state.get("destroyed"):
        stack.destroy()



@pytest.mark.cluster
@pytest.mark.engine
def test_pulumi_up_of_the_sandbox_stack_creates_the_migrated_workloads_and_they_become_available(
    deployed: dict[str, Any], green: Any
) -> None:
    result = deployed["result"]
    assert result.result == "succeeded"
    assert result.changes["create"] == 11 + 4  # objects + stack, two components, provider
    with KubeClient.from_kubeconfig(green.kubeconfig) as k:
        d = k.get("/apis/apps/v1/namespaces/promo-wl/deployments/api")
        assert {c["type"]: c["status"] for c in d["status"]["conditions"]}["Available"] == "True"
        assert d["status"]["availableReplicas"] == 2
        secret = k.get("/api/v1/namespaces/promo-wl/secrets/creds")
        assert base64.b64decode(secret["data"]["password"]).decode() == PASSWORD
        assert k.get("/apis/wl.promo.akshift.dev/v1/namespaces/promo-wl/gadgets/one")["spec"] == {"size": 3}


@pytest.mark.cluster
@pytest.mark.engine
def test_the_stack_state_holds_the_secret_only_encrypted(deployed: dict[str, Any], pulumi_env: dict[str, str]) -> None:
    # The state file itself (`export_stack` would decrypt: the Automation API passes --show-secrets).
    backend = Path(pulumi_env["PULUMI_BACKEND_URL"].removeprefix("file://"))
    text = (backend / ".pulumi" / "stacks" / "akshift" / "promo-wl.json").read_text()
    assert PASSWORD not in text
    assert base64.b64encode(PASSWORD.encode()).decode() not in text
    state = json.loads(text)
    secret = next(r for r in state["checkpoint"]["latest"]["resources"] if r["urn"].endswith("/promo-wl/creds"))
    assert "ciphertext" in secret["inputs"]["data"] and "ciphertext" in secret["outputs"]["data"]


@pytest.mark.cluster
@pytest.mark.engine
def test_a_second_up_of_the_same_snapshot_reports_no_changes(deployed: dict[str, Any]) -> None:
    from deploy.engine import guarded_up

    preview, result = guarded_up(deployed["stack"], confirm=lambda p: True)
    assert preview.changed == []
    assert set(result.changes) == {"same"}, result.changes


@pytest.mark.cluster
@pytest.mark.engine
def test_preview_of_a_changed_snapshot_shows_exactly_the_changed_object(deployed: dict[str, Any]) -> None:
    from deploy.engine import guarded_preview

    changed = write_snapshot(deployed["root"] / "run2" / "transformed",
                             workload_set("promo-wl", "wl.promo.akshift.dev", greeting="bonjour"), deployed["key"])
    stack = deployed["stack"]
    stack.set_config("akshift:workloads.snapshot", str(changed.root))
    try:
        p = guarded_preview(stack, deployed["root"])
    finally:
        stack.set_config("akshift:workloads.snapshot", str(deployed["root"] / "run" / "transformed"))
    # The provider treats ConfigMap data as immutable (a replacement, so Deployments roll) unless its
    # enableConfigMapMutable option is on; either way the preview names that one object and nothing else.
    assert {s.name for s in p.changed} == {"aks-core/ConfigMap/promo-wl/settings"}
    assert {s.op for s in p.changed} <= {"update", "replace", "create-replacement", "delete-replaced"}


@pytest.mark.cluster
@pytest.mark.engine
def test_target_stack_reads_the_clusters_kubeconfig_from_the_stack_output_in_memory(
    deployed: dict[str, Any], pulumi_env: dict[str, str], green: Any, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from akshift import options
    from deploy.errors import StackNotFound

    for name, value in pulumi_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(deployed["project"].directory)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))  # proves the stack's output, not a file, was used
    before = {p for p in tmp_path.rglob("*")}
    with options.client(None, None, "target", stack="promo-wl") as k:
        assert k.config.server == KubeClient.from_kubeconfig(green.kubeconfig).config.server
        assert k.get("/api/v1/namespaces/promo-wl")["metadata"]["name"] == "promo-wl"
    assert {p for p in tmp_path.rglob("*")} == before  # nothing written
    with pytest.raises(StackNotFound):
        options.client(None, None, "target", stack="no-such-stack")


@pytest.mark.cluster
@pytest.mark.engine
def test_destroy_removes_the_migrated_workloads(deployed: dict[str, Any], green: Any) -> None:
    deployed["stack"].destroy()
    deployed["destroyed"] = True
    ref = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"namespace": "promo-wl", "name": "api"}}
    crd_ref = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
               "metadata": {"name": "gadgets.wl.promo.akshift.dev"}}
    with KubeClient.from_kubeconfig(green.kubeconfig) as k:
        deadline = time.monotonic() + 60
        while (k.read(ref) is not None or k.read(crd_ref) is not None) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert k.read(ref) is None and k.read(crd_ref) is None
