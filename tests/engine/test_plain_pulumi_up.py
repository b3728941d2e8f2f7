"""Plain `pulumi up` on the project as a user runs it: the real Pulumi CLI, the Python language host, the
project's own Pulumi.yaml and __main__.py, against the sandbox's green cluster.

Why a test of its own: `akshift up` runs the program inline through the Automation API, which proves the
composition but not the entry point users type. Here the CLI starts `pulumi-language-python` (built by
sandbox/build.py from the SDK module), which runs `__main__.py` with the virtualenv's `python` — the
path on which a missing requirements file or a broken `__main__.py` would fail (issue 14).
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kube.client import KubeClient
from sandbox import build

from support import ROOT
from support.workload_stacks import age_key, sandbox_config, workload_set, write_snapshot

STACK = "plain-up-test"



def _pulumi(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["pulumi", *args, "--non-interactive"], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


#: The cluster a stack created when its last `up` ran with cluster.mode new (the test stack's defaults).
CREATED = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-akshift-test/providers/"
           "Microsoft.ContainerService/managedClusters/aks-akshift-test")


def _as_if_it_created_a_cluster(stack: str, project: Path, env: dict[str, str], tmp_path: Path) -> str:
    """Give a new stack the state of one whose last `up` created its cluster: its root resource exported clusterId
    (no Azure here to create one). Returns that id."""
    exported = json.loads(_pulumi(["stack", "export", "--stack", stack], project, env).stdout)
    exported["deployment"]["resources"] = [{
        "urn": f"urn:pulumi:{stack}::akshift::pulumi:pulumi:Stack::akshift-{stack}", "custom": False,
        "type": "pulumi:pulumi:Stack", "outputs": {"clusterId": CREATED, "clusterName": "aks-akshift-test"}}]
    state = tmp_path / "state.json"
    state.write_text(json.dumps(exported))
    imported = _pulumi(["stack", "import", "--stack", stack, "--file", str(state)], project, env)
    assert imported.returncode == 0, imported.stderr
    return CREATED


def test_plain_pulumi_up_runs_the_projects_main_and_deploys_the_migrated_workloads(
    green: Any, pulumi_env: dict[str, str], tmp_path: Path
) -> None:
    host = build.TOOLS["pulumi-language-python"]
    if host.missing():
        pytest.fail(f"pulumi-language-python not built: {host.missing()}; run scripts/setup (never skipped)",
                    pytrace=False)
    identity = tmp_path / "age.key"
    key = age_key(identity)
    snap = write_snapshot(tmp_path / "run" / "transformed", workload_set("plain-up", "plain.akshift.dev"), key)
    # The project as a user has it — this checkout: Pulumi.yaml, __main__.py, the packages and the
    # virtualenv it names; only the stack file is the test's own (pointing at green and the snapshot), and
    # it is removed afterwards (.gitignore keeps a leftover out of commits).
    project = ROOT
    stack_file = project / "stacks" / f"Pulumi.{STACK}.yaml"
    config = sandbox_config(green.kubeconfig, snap.root, identity)
    stack_file.write_text(yaml.safe_dump({"config": config}))
    env = {**os.environ, **pulumi_env,
           "PATH": os.pathsep.join([str(ROOT / ".venv" / "bin"), str(host.dir / "bin"), pulumi_env["PATH"]])}
    env.pop("PYTHONPATH", None)

    init = _pulumi(["stack", "init", STACK], project, env)
    try:
        assert init.returncode == 0, init.stderr
        up = _pulumi(["up", "--yes", "--stack", STACK], project, env)
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        assert "ModuleNotFoundError" not in up.stdout + up.stderr
        with KubeClient.from_kubeconfig(green.kubeconfig) as k:
            assert k.get("/api/v1/namespaces/plain-up/configmaps/settings")["data"] == {"GREETING": "hello"}
            assert k.get("/apis/apps/v1/namespaces/plain-up/deployments/api")["spec"]["replicas"] == 2
        again = _pulumi(["preview", "--expect-no-changes", "--stack", STACK], project, env)
        assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    finally:
        down = _pulumi(["destroy", "--yes", "--stack", STACK], project, env)
        _pulumi(["stack", "rm", "--yes", "--preserve-config", STACK], project, env)
        stack_file.unlink(missing_ok=True)
    assert down.returncode == 0, down.stderr[-2000:]


def test_plain_pulumi_up_refuses_a_stack_switched_from_a_cluster_it_created_to_existing(
    green: Any, pulumi_env: dict[str, str], tmp_path: Path
) -> None:
    """A stack whose last deployment created its cluster (it exported clusterId) is now mode existing:
    `pulumi up` would delete that cluster, so the program refuses at preview, naming cluster.deleteCreatedCluster."""
    host = build.TOOLS["pulumi-language-python"]
    if host.missing():
        pytest.fail(f"pulumi-language-python not built: {host.missing()}; run scripts/setup (never skipped)",
                    pytrace=False)
    stack = "plain-switch-test"
    identity = tmp_path / "age.key"
    snap = write_snapshot(tmp_path / "run" / "transformed", workload_set("plain-sw", "sw.akshift.dev"), age_key(identity))
    project = ROOT
    stack_file = project / "stacks" / f"Pulumi.{stack}.yaml"
    stack_file.write_text(yaml.safe_dump({"config": sandbox_config(green.kubeconfig, snap.root, identity)}))
    env = {**os.environ, **pulumi_env,
           "PATH": os.pathsep.join([str(ROOT / ".venv" / "bin"), str(host.dir / "bin"), pulumi_env["PATH"]])}
    env.pop("PYTHONPATH", None)
    assert _pulumi(["stack", "init", stack], project, env).returncode == 0
    try:
        _as_if_it_created_a_cluster(stack, project, env, tmp_path)
        up = _pulumi(["up", "--yes", "--stack", stack], project, env)
        assert up.returncode != 0
        text = up.stdout + up.stderr
        assert "with mode existing Pulumi would delete it" in text and "cluster.deleteCreatedCluster: true" in text
        with KubeClient.from_kubeconfig(green.kubeconfig) as k:  # nothing reached the cluster
            assert k.read({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "plain-sw"}}) is None
    finally:
        _pulumi(["destroy", "--yes", "--stack", stack], project, env)
        _pulumi(["stack", "rm", "--yes", "--force", "--preserve-config", stack], project, env)
        stack_file.unlink(missing_ok=True)


def test_plain_pulumi_up_refuses_a_renamed_cluster_the_stack_created_before_it_asks_azure(
    pulumi_env: dict[str, str], tmp_path: Path
) -> None:
    """A mode-new stack whose last deployment created aks-akshift-test is now named aks-akshift-test2: the live read
    by the new name would find nothing, so the program reads its own last clusterId (the engine's built-in
    readStackOutputs invoke, through the language host) and refuses at preview — before the first Azure call, so no
    Azure and no azure-native plugin are needed to see it."""
    import json

    from support.stack_files import mutate, stack_config

    host = build.TOOLS["pulumi-language-python"]
    if host.missing():
        pytest.fail(f"pulumi-language-python not built: {host.missing()}; run scripts/setup (never skipped)",
                    pytrace=False)
    stack = "plain-rename-test"
    project = ROOT
    stack_file = project / "stacks" / f"Pulumi.{stack}.yaml"
    config = mutate(stack_config("test"), {"cluster.name": "aks-akshift-test2"})
    stack_file.write_text(yaml.safe_dump({"config": config}))
    env = {**os.environ, **pulumi_env,
           "PATH": os.pathsep.join([str(ROOT / ".venv" / "bin"), str(host.dir / "bin"), pulumi_env["PATH"]])}
    env.pop("PYTHONPATH", None)
    assert _pulumi(["stack", "init", stack], project, env).returncode == 0
    try:
        created = _as_if_it_created_a_cluster(stack, project, env, tmp_path)
        up = _pulumi(["up", "--yes", "--stack", stack], project, env)
        text = " ".join((up.stdout + up.stderr).split())
        assert up.returncode != 0, text[-3000:]
        assert (f"stack {stack} created the AKS cluster rg-akshift-test/aks-akshift-test ({created}); this stack "
                "file names rg-akshift-test/aks-akshift-test2") in text, text[-3000:]
        assert "getManagedCluster" not in text  # refused before the live read
        after = json.loads(_pulumi(["stack", "export", "--stack", stack], project, env).stdout)
        assert [r["type"] for r in after["deployment"]["resources"]] == ["pulumi:pulumi:Stack"]  # nothing registered
    finally:
        _pulumi(["stack", "rm", "--yes", "--force", "--preserve-config", stack], project, env)
        stack_file.unlink(missing_ok=True)
