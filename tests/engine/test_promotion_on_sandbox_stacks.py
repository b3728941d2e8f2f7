"""`akshift promote` with the real engine: two sandbox stacks, the source on green, the target on a fresh cluster
reached through a StackReference.

What they pin: promotion is refused while the source is unverified or failed, pins the verified values and
applies them once verified, is restored when declined, and is refused again once the source changed. The
pure decision (refusals, last change, pins, backends) is in ``tests/unit/deploy/test_promotion.py``.
"""
from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from typer.testing import CliRunner

from deploy import backend
from deploy.errors import PromotionRefused


def write_verify(report: Path, ok: bool) -> None:
    """verify.json as `akshift verify` writes it, stamped now."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    report.write_bytes(orjson.dumps({"ok": ok, "counts": {"ok": 11} if ok else {"ok": 10, "failed": 1},
                                     "unaccounted": [], "not_ready": [], "verified_at": now}))


@pytest.fixture(scope="module")
def sandbox_pair(green: Any, pulumi_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Source `promo-test` on green (kubeconfig file); target `promo-prod` on a fresh cluster whose
    kubeconfig is another stack's output (StackReference)."""
    from sandbox.cluster import LocalCluster
    from sandbox.profiles import GREEN

    root = tmp_path_factory.mktemp("promo-pair")
    (root / "platform").mkdir()
    prod_cluster = LocalCluster(GREEN, root / "prod-cluster", nodes=3).start()
    try:
        yield from _pair(root, prod_cluster, green, pulumi_env)
    finally:
        prod_cluster.stop()


def _pair(root: Path, prod_cluster: Any, green: Any, pulumi_env: dict[str, str]) -> Any:
    import pulumi

    from akshift import program
    from deploy.backend import backend_at
    from deploy.engine import Engine, open_inline
    from deploy.errors import StackNotFound
    from deploy.promotion import Project, open_stack
    from sandbox import build

    from support.workload_stacks import age_key, make_project, sandbox_config, workload_set, write_snapshot

    kubeconfig_text = prod_cluster.kubeconfig.read_text()
    platform = open_inline(Engine(build.TOOLS["pulumi"].dir, pulumi_env, backend_at(pulumi_env["PULUMI_BACKEND_URL"])),
                           "akshift-platform", "promo-prod-cluster",
                           lambda: pulumi.export("kubeconfig", pulumi.Output.secret(kubeconfig_text)))
    platform.up()

    identity = root / "age.key"
    key = age_key(identity)
    snap = write_snapshot(root / "run" / "transformed", workload_set("promo-app", "app.promo.akshift.dev"), key)
    source = sandbox_config(green.kubeconfig, snap.root, identity)
    target = sandbox_config(green.kubeconfig, snap.root, identity, name="green-prod")
    del target["akshift:cluster"]["kubeconfig"]
    target["akshift:cluster"]["stackReference"] = {"stack": "organization/akshift-platform/promo-prod-cluster"}
    project_dir = make_project(root / "project", {"promo-test": source, "promo-prod": target})
    project = Project(project_dir, lambda last: program.main(project_dir, last_outputs=last),
                      backend.resolve_backend(pulumi_env), pulumi_env, build.TOOLS["pulumi"].dir)
    state = {"project": project, "root": root, "prod": prod_cluster, "report": snap.root.parent / "verify.json",
             "digest": snap.digest, "snapshot": snap.root, "key": key}
    try:
        yield state
    finally:
        # Only what is on the session's shared green is destroyed: promo-prod's resources live on the prod
        # cluster, stopped and removed right after, and the platform stack holds none; both stacks stay in the
        # session's temporary file backend (destroying them cost ≈ 10 s and checked nothing).
        try:
            open_stack(project, "promo-test").destroy()
        except StackNotFound:
            pass


def _up(project: Any, stack: str) -> Any:
    from deploy.engine import guarded_up
    from deploy.promotion import open_stack

    _, result = guarded_up(open_stack(project, stack, create=True), confirm=lambda p: True)
    assert result is not None and result.result == "succeeded"
    return result


def _target_file(state: dict[str, Any]) -> str:
    return (state["project"].directory / "stacks" / "Pulumi.promo-prod.yaml").read_text()


def test_promoting_an_unverified_source_is_refused_and_leaves_the_target_untouched(
    sandbox_pair: Any, green: Any
) -> None:
    from deploy.promotion import promote
    from kube.client import KubeClient
    from migration import stages

    # As in the sandbox walkthrough: `akshift migrate` applied the objects; the first `up` adopts them.
    with KubeClient.from_kubeconfig(green.kubeconfig) as client:
        applied = stages.apply(client, sandbox_pair["snapshot"], sandbox_pair["root"] / "journal.jsonl",
                               secret_key=sandbox_pair["key"])
        assert all(o.ok for o in applied), [o.to_dict() for o in applied if not o.ok]
        _up(sandbox_pair["project"], "promo-test")
        d = client.get("/apis/apps/v1/namespaces/promo-app/deployments/api")
        managers = {m["manager"] for m in d["metadata"]["managedFields"]}
        assert "akshift" in managers and any(m.startswith("pulumi-kubernetes") for m in managers), managers
    before = _target_file(sandbox_pair)
    with pytest.raises(PromotionRefused, match="promo-test has no verification result"):
        promote(sandbox_pair["project"], "promo-test", "promo-prod", confirm=lambda p: True)
    assert _target_file(sandbox_pair) == before


def test_a_failed_verification_blocks_promotion_with_a_clear_message(
    sandbox_pair: Any, monkeypatch: pytest.MonkeyPatch, pulumi_env: dict[str, str]
) -> None:

    write_verify(sandbox_pair["report"], ok=False)
    result = _up(sandbox_pair["project"], "promo-test")  # records the verification; changes nothing
    # Nothing read either: the gateway hands the program the stack's own last outputs (no self StackReference).
    assert set(result.changes) == {"same"}, result.changes
    for k, v in pulumi_env.items():
        monkeypatch.setenv(k, v)
    from akshift.cli import app as app
    res = CliRunner().invoke(app, ["promote", "promo-test", "promo-prod", "--yes",
                                   "--project-dir", str(sandbox_pair["project"].directory)])
    assert res.exit_code == 1, res.output
    assert "refused: verification failed on promo-test" in res.output
    assert "fix the failures, re-run `akshift verify`, then record it with `akshift up --stack promo-test`" in \
        " ".join(res.output.split())


def test_promotion_between_two_sandbox_stacks_pins_the_verified_values_and_applies_them(sandbox_pair: Any) -> None:
    from deploy.promotion import open_stack, promote
    from kube.client import KubeClient

    time.sleep(1.1)  # history has whole seconds: verify strictly after the last change
    write_verify(sandbox_pair["report"], ok=True)
    _up(sandbox_pair["project"], "promo-test")
    project = sandbox_pair["project"]

    declined = promote(project, "promo-test", "promo-prod", confirm=lambda p: False)
    assert declined.result is None and declined.preview is not None
    assert {s.op for s in declined.preview.changed} == {"create"}
    assert "digest" not in _target_file(sandbox_pair)  # restored

    done = promote(project, "promo-test", "promo-prod", confirm=lambda p: True)
    assert done.result is not None and done.result.result == "succeeded"
    assert done.pins["akshift:workloads.digest"] == sandbox_pair["digest"]
    assert [c.key for c in done.changes] == ["akshift:workloads.digest"]  # the version was already 1.36
    pinned = yaml.safe_load(_target_file(sandbox_pair))["config"]
    assert pinned["akshift:workloads"]["digest"] == sandbox_pair["digest"]
    assert pinned["akshift:cluster"]["kubernetesVersion"] == "1.36"
    prod = open_stack(project, "promo-prod").outputs()
    assert prod["workloads"]["digest"] == sandbox_pair["digest"] and prod["clusterName"] == "green-prod"
    with KubeClient.from_kubeconfig(sandbox_pair["prod"].kubeconfig) as k:
        d = k.get("/apis/apps/v1/namespaces/promo-app/deployments/api")
        assert {c["type"]: c["status"] for c in d["status"]["conditions"]}["Available"] == "True"


def test_the_promoted_stack_refuses_a_snapshot_other_than_the_one_verified(
    sandbox_pair: Any, monkeypatch: pytest.MonkeyPatch, pulumi_env: dict[str, str]
) -> None:
    from deploy.promotion import open_stack

    from support.workload_stacks import age_key, workload_set, write_snapshot

    root, project = sandbox_pair["root"], sandbox_pair["project"]
    other = write_snapshot(root / "untested" / "transformed",
                           workload_set("promo-app", "app.promo.akshift.dev", greeting="untested"),
                           age_key(root / "other.key"))
    prod = open_stack(project, "promo-prod")
    prod.set_config("akshift:workloads.snapshot", str(other.root))
    for k, v in pulumi_env.items():
        monkeypatch.setenv(k, v)
    from akshift.cli import app as app
    try:
        res = CliRunner().invoke(app, ["preview", "--stack", "promo-prod", "--project-dir", str(project.directory)])
    finally:
        prod.set_config("akshift:workloads.snapshot", str(root / "run" / "transformed"))
    assert res.exit_code == 1, res.output
    text = " ".join(res.output.split())
    assert f"has digest {other.digest}, but workloads.digest pins {sandbox_pair['digest']}" in text


def test_a_verification_older_than_the_last_change_blocks_promotion(sandbox_pair: Any) -> None:
    from deploy.promotion import open_stack, promote

    project = sandbox_pair["project"]
    open_stack(project, "promo-test").set_config("akshift:tags.owner", "someone-else")
    _up(project, "promo-test")  # a config change after the verification
    with pytest.raises(PromotionRefused, match=r"older than its last change: update #\d+ ran with changed configuration"):
        promote(project, "promo-test", "promo-prod", confirm=lambda p: True)
