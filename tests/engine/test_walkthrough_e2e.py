"""The documented sandbox walkthroughs, run as written: docs/walkthrough.md's and docs/promotion.md's.

Why a test reads the pages: issue 14 asks that every documented walkthrough runs as written. The commands
come from the markdown (tests/support/walkthrough.py), in order, in one ``bash`` — so a changed flag, a renamed
file or a step the page forgot fails here, and the page cannot drift from what passes.

What the test adds, and only this (each visible below):

* an isolated world in ``tmp_path``: ``HOME`` (so ``~/.local/state/akshift/sandbox*``, ``~/.pulumi`` and the
  stack files' ``~`` paths are the test's own), a copy of the project's ``Pulumi.yaml``, ``__main__.py``,
  ``stacks/`` and ``tests/fixtures/arm`` as "the repository root" (``promote`` rewrites a stack file), the
  worktree's packages on ``PYTHONPATH`` and its virtualenv first on ``PATH`` ("`.venv` active"), the
  sandbox binaries from the real cache (``AKSHIFT_CACHE``), no network (no Pulumi plugin downloads);
* the second-terminal commands the pages name, started in the background of the same shell (the pages'
  ``walkthrough-test`` comments; the commands themselves are the pages' own);
* ``y`` typed at the prompt of docs/promotion.md's ``akshift promote`` (see below);
* both branches of docs/walkthrough.md's step 5 from one cutover, with a rewind between them, and one
  command of its own: ``akshift rollback`` after the decommission, which must be refused (see below);
* :data:`SUBSTITUTIONS`, the only text the test changes in a command (empty unless listed there);
* assertions on what users depend on, between the blocks.

``docs/promotion.md``'s sandbox walkthrough is this page's commands up to the promotion (pinned by
tests/unit/doctor/test_strategy.py), then ``akshift promote sandbox sandbox-prod`` without ``--yes``: it runs here, in
this world, just before this page's ``--yes`` promotion, with ``y`` typed at its prompt.

Step 5 has two branches after one cutover, and only one of them can really follow it: a decommissioned
cutover cannot be rolled back (by design), and after the way back a volume run refuses to move again (its
copies are older than what blue writes from then on), so going forward after it means a new migration
(inventory to verify) and a new cutover. Running each branch after its own walkthrough would add the whole
walkthrough again (≈3.7 min, the CI budget allows ~1). What the test does instead, in the page's order:

1. step 5 as written — the 15-second soak (``sleep 15``, real) and ``akshift decommission`` — and its
   effect, per docs/cutover.md: blue out of HAProxy (maintenance, weight 0), the requests on green, the state
   ``decommissioned`` and ``akshift rollback`` refused from then on; and what it keeps: blue running, frozen,
   its writers stopped, its workloads and green's as they were;
2. a rewind of exactly what decommission changed (:func:`_rewind_decommission`): the cutover's state
   directory, copied before step 5, put back, and HAProxy's blue server taken out of maintenance — asserted
   to give back HAProxy's servers as they were after the cutover. Decommission touches nothing else (it
   opens no client to blue; the volumes are not its business), so the way back then runs on the state it is
   written for: green at 100%, blue frozen with its writers stopped;
3. the way back as written (``akshift rollback`` and ``akshift volumes rollback``): blue at 100% and
   unfrozen, its writer running again.

The rewind is the test's own device, not a command of the page (akshift has no undo of a decommission). It
costs ≈27 s (the soak and the health window), instead of a second walkthrough.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cutover.freeze import refuses_new_deployments
from cutover.haproxy import RuntimeApi
from cutover.routers import HaproxyRouter, parse_servers_state
from kube.client import KubeClient
from sandbox import build

from support import ROOT
from support.walkthrough import Block, Shell, blocks, plain

WALKTHROUGH = ROOT / "docs" / "walkthrough.md"
PROMOTION = ROOT / "docs" / "promotion.md"



# Command text the test replaces, with why. Each must occur in the page (asserted), so a stale entry fails.
SUBSTITUTIONS: dict[str, str] = {}

SEEDED = ("shop", "payments", "data", "monitoring", "batch", "legacy")


def _world(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The project copy to run in and the shell's whole environment."""
    for tool in ("etcd", "kubernetes", "kwok", "pulumi", "pulumi-resource-kubernetes"):
        if build.TOOLS[tool].missing():
            pytest.fail(f"sandbox binaries not built: {tool}; run scripts/setup (never skipped)", pytrace=False)
    if not (shutil.which("haproxy") or Path("/usr/sbin/haproxy").exists()):
        pytest.fail("haproxy is not installed; run scripts/setup (scripts/setup-router) — never skipped", pytrace=False)
    home, project = tmp_path / "home", tmp_path / "repo"
    home.mkdir()
    project.mkdir()
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy2(ROOT / name, project / name)
    # The shipped stack files only: test_plain_pulumi_up writes (and removes) Pulumi.plain-up-test.yaml in this
    # checkout while this test may run beside it (scripts/test), and a file gone between listing and copying
    # would fail the copy.
    shutil.copytree(ROOT / "stacks", project / "stacks",
                    ignore=shutil.ignore_patterns("__pycache__", "*.py", "Pulumi.*-test.yaml"))
    shutil.copytree(ROOT / "tests" / "fixtures" / "arm", project / "tests" / "fixtures" / "arm")
    venv = Path(sys.executable).parent
    env = {
        "HOME": str(home),
        # Pulumi finds "~" (its home, `file://~`) through the user database, not $HOME: pinned here.
        "PULUMI_HOME": str(home / ".pulumi"),
        "PATH": os.pathsep.join([str(venv), "/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"]),
        "VIRTUAL_ENV": str(venv.parent),
        "PYTHONPATH": str(ROOT),
        "AKSHIFT_CACHE": str(build.CACHE_ROOT),
        "LANG": "C.UTF-8",
        "COLUMNS": "160",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    }
    return project, env


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Shell, Path]]:
    """A shell in an isolated project copy; afterwards every sandbox it started is stopped."""
    project, env = _world(tmp_path)
    shell = Shell(project, env, tmp_path / "logs")
    try:
        yield shell, project
    finally:
        shell.close()
        home = Path(env["HOME"])
        for root in (home / ".local/state/akshift/sandbox", home / ".local/state/akshift/sandbox-prod"):
            if root.exists():
                from sandbox import manage

                manage.down(root)
        print("walkthrough timings:\n" + "\n".join(f"  {r.seconds:6.1f}s  rc {r.rc}  {r.command[:110]}"
                                                   for r in shell.results))


def _substitute(command: str, page: str) -> str:
    for old, new in SUBSTITUTIONS.items():
        assert old in page, f"stale substitution {old!r}: the page no longer says it"
        command = command.replace(old, new)
    return command


def _run(shell: Shell, block: Block, page: str, *, before: dict[str, tuple[str, str]] | None = None) -> None:
    """Run a block's commands; ``before`` maps a command to another page's command (and its typed answer)
    that runs just before it."""
    for bg in block.background:
        shell.start(bg)
    for command in block.commands:
        if before and plain(command) in before:
            other, answer = before[plain(command)]
            shell.check(other, answer=answer)
        shell.check(_substitute(command, page), answer=None)


def _kubeconfig(home: Path, sandbox: str) -> Path:
    return home / ".local/state/akshift" / sandbox / "green" / "kubeconfig"


def _workloads(kubeconfig: Path) -> set[str]:
    with KubeClient.from_kubeconfig(kubeconfig) as k:
        return {f"{ns}/{kind}/{o['metadata']['name']}" for ns in SEEDED for kind in ("deployments", "statefulsets")
                for o in k.get(f"/apis/apps/v1/namespaces/{ns}/{kind}")["items"]}


def _replicas(kubeconfig: Path, path: str) -> int:
    with KubeClient.from_kubeconfig(kubeconfig) as k:
        return int(k.get(path)["spec"]["replicas"])


def _state(project: Path) -> dict:
    return json.loads((project / "out/sandbox-prod/cutover/state.json").read_text())


def _frozen(kubeconfig: Path) -> bool:
    """Whether blue refuses a new Deployment because of the cutover's freeze (a dry run: nothing is stored)."""
    with KubeClient.from_kubeconfig(kubeconfig) as k:
        return refuses_new_deployments(k, "blue")


def _servers(socket: str) -> list[tuple[str, str, str]]:
    """HAProxy's cutover servers as (name, weight, admin state): what a decommission and its rewind change."""
    rows = parse_servers_state(RuntimeApi(socket).command("show servers state cutover"))
    return sorted((r["srv_name"], r["srv_uweight"], r["srv_admin_state"]) for r in rows)


def _served_by(project: Path, requests: int = 10) -> set[str]:
    """Who answers requests through HAProxy (the loopback ingresses answer with their name)."""
    url = (project / "out/sandbox-router/router.url").read_text().strip()
    names = set()
    for _ in range(requests):
        with urllib.request.urlopen(url + "/", timeout=5) as r:
            names.add(r.read().decode().strip())
    return names


def _rewind_decommission(project: Path, saved: Path, socket: str, servers: list[tuple[str, str, str]]) -> None:
    """Put back exactly what ``akshift decommission`` changed, so that the page's other branch of step 5 (the
    way back) runs on the state after the cutover (see the module docstring): the cutover's state directory
    (``saved``, copied before step 5, with HAProxy's server-state file) and HAProxy's blue server, taken out
    of maintenance (decommission did not change its weight, 0)."""
    cutover = project / "out/sandbox-prod/cutover"
    shutil.rmtree(cutover)
    shutil.copytree(saved / "cutover", cutover)
    shutil.copy2(saved / "servers.state", project / "out/sandbox-router/servers.state")
    answer = RuntimeApi(socket).command("set server cutover/blue state ready").strip()
    assert not answer, f"HAProxy refused to take blue out of maintenance: {answer}"
    assert _servers(socket) == servers, "the rewind did not give back HAProxy's servers as the cutover left them"
    assert _state(project)["phase"] == "done"


def _verified(path: Path) -> dict:
    doc = json.loads(path.read_text())
    assert doc["ok"] is True, f"{path}: {json.dumps(doc)[:2000]}"
    return doc


def test_the_sandbox_walkthrough_runs_as_written_through_the_cutover_then_decommission_or_the_way_back(
    world: tuple[Shell, Path],
) -> None:
    shell, project = world
    page = WALKTHROUGH.read_text()
    home = project.parent / "home"
    steps = blocks(WALKTHROUGH, "## The same walkthrough in the sandbox")
    cutover = next(i for i, b in enumerate(steps) if b.has("akshift cutover"))
    rollback = next(b for b in steps if b.has("akshift rollback"))
    decommission = next(b for b in steps if b.has("akshift decommission"))
    down = next(b for b in steps if b.has("akshift sandbox down"))
    assert steps[cutover + 1:] == [decommission, rollback, down], "step 5, the way back and the teardown moved"
    assert decommission.has("sleep 15") and decommission.has("--soak 15s"), "the page's soak changed"
    blue = home / ".local/state/akshift/sandbox/blue/kubeconfig"
    test, prod = _kubeconfig(home, "sandbox"), _kubeconfig(home, "sandbox-prod")

    # docs/promotion.md's walkthrough is these commands up to the promotion (tests/unit/doctor/test_strategy.py pins
    # that), then `promote` without --yes: it runs here, answered, just before this page's `--yes` one
    # (which then finds nothing left to change).
    (interactive,) = [c for b in blocks(PROMOTION, "## Sandbox walkthrough") for c in b.commands
                      if c.startswith("akshift promote")]
    before = {plain(interactive) + " --yes": (interactive, "y\n")}

    # 0-3: sandboxes, doctor and strategy, migrate and verify on test, promote, the data to prod.
    for block in steps[:cutover]:
        _run(shell, block, page, before=before)
    assert any(r.command == interactive and "promoted" in r.output for r in shell.results), "no interactive promote"
    assert (home / ".pulumi/stacks/akshift/sandbox-prod.json").is_file(), "the stacks' state is not the test's own"
    assert json.loads((project / "out/doctor.json").read_text()), "the doctor wrote no report"
    _verified(project / "out/migration/verify.json")
    _verified(project / "out/sandbox-prod/verify.json")
    promoted = yaml.safe_load((project / "stacks/Pulumi.sandbox-prod.yaml").read_text())["config"]
    assert promoted["akshift:workloads"]["digest"].startswith("sha256:"), promoted
    source = _workloads(blue)
    assert source and _workloads(test) == source and _workloads(prod) == source
    postgres = "/apis/apps/v1/namespaces/data/statefulsets/postgres"
    assert _replicas(blue, postgres) == 0, "volumes move --quiesce-source left blue's writer running"

    # 4: the cutover through HAProxy, sync and loopback in the background.
    _run(shell, steps[cutover], page)
    state = _state(project)
    assert (state["phase"], state["green_weight"]) == ("done", 100), state

    socket = state["plan"]["router"]["socket"]
    router = HaproxyRouter(socket)
    after_cutover = _servers(socket)
    assert router.weights() == {"blue": 0, "green": 100}
    assert _frozen(blue), "a finished cutover keeps blue frozen"
    saved = project.parent / "before-decommission"
    shutil.copytree(project / "out/sandbox-prod/cutover", saved / "cutover")
    shutil.copy2(project / "out/sandbox-router/servers.state", saved / "servers.state")

    # 5: a 15-second soak, then decommission: blue leaves the switch for good; nothing is deleted.
    _run(shell, decommission, page)
    assert "blue is out of the switch" in shell.results[-1].output, shell.results[-1].output
    state = _state(project)
    assert (state["phase"], state["green_weight"]) == ("decommissioned", 100), state
    assert dict((n, int(a) & 1) for n, _, a in _servers(socket)) == {"blue": 1, "green": 0}, "blue not in maintenance"
    assert router.weights() == {"blue": 0, "green": 100}
    assert _served_by(project) == {"green"}
    assert _frozen(blue), "decommission unfroze blue: it stays frozen until its cluster is deleted"
    assert _replicas(blue, postgres) == 0, "decommission restarted blue's writer"
    assert _workloads(blue) == source and _workloads(prod) == source, "decommission changed a cluster's workloads"
    refused = shell.run("akshift rollback --state-dir out/sandbox-prod/cutover")  # the test's, not the page's
    assert refused.rc == 2 and "decommissioned" in refused.output, refused.output
    assert router.weights() == {"blue": 0, "green": 100}

    # The way back instead of 5, on the state the cutover left (see the module docstring and the helper).
    _rewind_decommission(project, saved, socket, after_cutover)
    _run(shell, rollback, page)
    state = _state(project)
    assert (state["phase"], state["green_weight"]) == ("rolled_back", 0), state
    assert router.weights() == {"blue": 100, "green": 0}
    assert _served_by(project) == {"blue"}
    assert not _frozen(blue), "rollback left blue frozen"
    assert _replicas(blue, postgres) > 0, "volumes rollback did not restart blue's writer"

    # 6: Ctrl-C in the other terminals, then the clusters go.
    shell.stop_background()
    _run(shell, down, page)
    for sandbox in ("sandbox", "sandbox-prod"):
        from sandbox import manage

        state = manage.read_state(home / ".local/state/akshift" / sandbox)
        assert state is not None and not state["alive"], f"{sandbox} still runs after `akshift sandbox down`"
