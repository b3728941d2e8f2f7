"""``MigratedWorkloads`` with the real engine and Kubernetes provider against green: ``up`` owns the workloads.

What they pin: the migrated workloads become Available, the Secret is in the stack state only encrypted, a
second ``up`` is a no-op, a changed object is one update, the kubeconfig can come from another stack's
output in memory, and destroy removes them. Declarations and the program under mocks are
``tests/mocks/test_workloads.py``.
"""
from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from akshift import program
from kube.client import KubeClient

from support.workload_stacks import PASSWORD, age_key, make_project, sandbox_config, workload_set, write_snapshot


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
    project = Project(project_dir, lambda last: program.main(project_dir, last_outputs=last), resolve_backend(pulumi_env), pulumi_env,
                      build.TOOLS["pulumi"].dir)
    stack = open_stack(project, "promo-wl", create=True)
    t0 = time.monotonic()
    preview, result = guarded_up(stack, confirm=lambda p: True)
    state = {"project": project, "stack": stack, "preview": preview, "result": result, "root": root, "key": key,
             "seconds": time.monotonic() - t0}
    yield state
    if not state.get("destroyed"):
        stack.destroy()



def test_pulumi_up_of_the_sandbox_stack_creates_the_migrated_workloads_and_they_become_available(
    deployed: dict[str, Any], green: Any
) -> None:
    result = deployed["result"]
    assert result.result == "succeeded"
    assert result.changes["create"] == 11 + 4  # objects + stack, two components, provider
    # Every record holds what was written (a Secret masked, a CRD's schema keys in the provider's snake case):
    # nothing to read back.
    assert result.reread == ()
    with KubeClient.from_kubeconfig(green.kubeconfig) as k:
        d = k.get("/apis/apps/v1/namespaces/promo-wl/deployments/api")
        assert {c["type"]: c["status"] for c in d["status"]["conditions"]}["Available"] == "True"
        assert d["status"]["availableReplicas"] == 2
        secret = k.get("/api/v1/namespaces/promo-wl/secrets/creds")
        assert base64.b64decode(secret["data"]["password"]).decode() == PASSWORD
        assert k.get("/apis/wl.promo.akshift.dev/v1/namespaces/promo-wl/gadgets/one")["spec"] == {"size": 3}


def test_the_stack_state_holds_the_secret_only_encrypted(deployed: dict[str, Any], pulumi_env: dict[str, str]) -> None:
    # The state file itself (`export_stack` would decrypt: the Automation API passes --show-secrets).
    backend = Path(urlparse(pulumi_env["PULUMI_BACKEND_URL"]).path)
    text = (backend / ".pulumi" / "stacks" / "akshift" / "promo-wl.json").read_text()
    assert PASSWORD not in text
    assert base64.b64encode(PASSWORD.encode()).decode() not in text
    state = json.loads(text)
    secret = next(r for r in state["checkpoint"]["latest"]["resources"] if r["urn"].endswith("/promo-wl/creds"))
    assert "ciphertext" in secret["inputs"]["data"] and "ciphertext" in secret["outputs"]["data"]


def test_a_second_up_of_the_same_snapshot_reports_no_changes(deployed: dict[str, Any]) -> None:
    from deploy.engine import guarded_up

    preview, result = guarded_up(deployed["stack"], confirm=lambda p: True)
    assert preview.changed == []
    # Every resource the same, and nothing read: the gateway handed the program the stack's last outputs before
    # the update (the new → existing guard's input), so no StackReference reads the state the update writes.
    assert set(result.changes) == {"same"}, result.changes


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


def test_an_object_recorded_older_than_the_write_is_read_back_by_a_refresh_of_it_alone(
    deployed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine side of deploy.events.StaleWrites: the real provider's race cannot be provoked at will, so
    the ConfigMap's record is taken as stale; what runs for real is the targeted refresh that follows."""
    from deploy import events
    from deploy.engine import guarded_up

    real = events._covers
    monkeypatch.setattr(events, "_covers", lambda out, inp: real(out, inp) and not (
        isinstance(inp, dict) and inp.get("kind") == "ConfigMap"))
    stack = deployed["stack"]
    snapshots = [write_snapshot(deployed["root"] / "run3" / "transformed",
                                workload_set("promo-wl", "wl.promo.akshift.dev", greeting="hola"), deployed["key"]).root,
                 deployed["root"] / "run" / "transformed"]
    for snapshot in snapshots:  # the change, then back to what the other tests expect
        before = len(stack.history())
        stack.set_config("akshift:workloads.snapshot", str(snapshot))
        _, result = guarded_up(stack, confirm=lambda p: True)
        assert result is not None and result.succeeded
        assert [urn.rsplit("::", 1)[-1] for urn in result.reread] == ["aks-core/ConfigMap/promo-wl/settings"]
        history = stack.history()
        assert [(u.kind, u.result) for u in history[:len(history) - before]] == [("refresh", "succeeded"),
                                                                                 ("update", "succeeded")]
    monkeypatch.undo()
    assert guarded_up(stack, confirm=lambda p: True)[1].changes == {"same": 15}  # type: ignore[union-attr]


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
