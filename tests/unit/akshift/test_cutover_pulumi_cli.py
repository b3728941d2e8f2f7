"""`akshift cutover --router pulumi --stack prod`: the command path, option to weight, with the engine faked.

The Pulumi traffic router is tested on its own in ``tests/unit/cutover/test_cutover.py`` (and on a real engine in
``tests/engine/test_engine.py``); nothing ran the path a user types: ``cmd_cutover._router_spec`` →
the persisted spec → ``cutover.routers.from_spec`` → the runner's Session. Here the real CLI runs a whole
cutover with only the Automation API stack replaced — the gateway's ``open_work_dir`` hands out the shared
:class:`support.fake_stack.FakeAutomationStack`, and records which stack of which project it was asked for — and
a real HTTP gate measures a loopback green. If ``from_spec`` built another router, or opened another stack or
project, the weights would not move on this stack and the test fails.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from akshift.cli import app
from deploy import engine
from sandbox.loopback import Backend

from support.fake_stack import FakeAutomationStack

URN = "urn:pulumi:prod::akshift::"
SWITCH_STEPS = [("update", URN + "akshift:index:TrafficSwitch$azure-native:cdn:Route::aks-traffic-route",
                 "azure-native:cdn:Route"),
                ("same", URN + "pulumi:pulumi:Stack::akshift-prod", "pulumi:pulumi:Stack")]


def switch_outputs(config: dict[str, Any]) -> dict[str, Any]:
    """What the deployed switch reports after an ``up``: the weights Azure holds (those the config asked for)."""
    return {"traffic": {"weights": dict(config["akshift:traffic"]["weights"])}, "clusterName": "green"}


@pytest.fixture
def green_ingress() -> Iterator[Backend]:
    with Backend("green", delay=0.2) as b:
        yield b


@pytest.fixture
def prod(monkeypatch: pytest.MonkeyPatch) -> tuple[FakeAutomationStack, list[tuple[str, str]]]:
    """The prod stack with a deployed Front Door switch (all traffic on blue), and every stack the router opened."""
    stack = FakeAutomationStack("prod", {"akshift:traffic": {"weights": {"blue": 100, "green": 0}, "kind": "frontDoor"}},
                                SWITCH_STEPS, switch_outputs)
    opened: list[tuple[str, str]] = []

    def open_work_dir(eng: Any, work_dir: Path | str, name: str) -> engine.Stack:
        opened.append((str(work_dir), name))
        return engine.Stack(stack)

    monkeypatch.setattr(engine, "open_work_dir", open_work_dir)
    return stack, opened


def test_cutover_with_the_pulumi_router_moves_the_named_stacks_weights_step_by_step_and_exits_0(
    tmp_path: Path, green_ingress: Backend, prod: tuple[FakeAutomationStack, list[tuple[str, str]]]
) -> None:
    stack, opened = prod
    project = tmp_path / "project"
    project.mkdir()
    verify = tmp_path / "verify.json"
    verify.write_text(json.dumps({"ok": True, "unaccounted": [], "not_ready": [], "blocking_findings": 0}))
    state_dir = tmp_path / "cutover"
    res = CliRunner().invoke(app, [
        "cutover", "--from", "blue", "--to", "green", "--steps", "0,50,100", "--hold", "0.3s",
        "--gate-interval", "0.1s", "--gate", f"http:{green_ingress.url}/healthz,p95=1s,samples=2,name=green-health",
        "--router", "pulumi", "--stack", "prod", "--work-dir", str(project),
        "--verify-report", str(verify), "--state-dir", str(state_dir), "--no-sync-check", "--no-freeze"])
    assert res.exit_code == 0, res.output

    # The router the command built is the Pulumi one, on stack prod of that project, and persisted so.
    assert opened and set(opened) == {(str(project.resolve()), "prod")}
    router = json.loads((state_dir / "state.json").read_text())["plan"]["router"]
    assert (router["kind"], router["stack"], router["work_dir"]) == ("pulumi", "prod", str(project.resolve()))

    # Each step: the weights written to the stack config, a preview, an `up` held to that preview's plan.
    steps = [(op, arg) for op, arg in stack.calls if op in ("set", "preview", "up")]
    ups = [arg["message"] for op, arg in steps if op == "up"]
    assert ups == ["akshift cutover: blue 100%, green 0%", "akshift cutover: blue 50%, green 50%",
                   "akshift cutover: blue 0%, green 100%"]  # step 0 too: it confirms the start on the switch
    sets = [arg for op, arg in steps if op == "set"]
    assert sets == [("akshift:traffic.weights.blue", "100"), ("akshift:traffic.weights.green", "0"),
                    ("akshift:traffic.weights.blue", "50"), ("akshift:traffic.weights.green", "50"),
                    ("akshift:traffic.weights.blue", "0"), ("akshift:traffic.weights.green", "100")]
    assert [op for op, _ in steps] == ["set", "set", "preview", "up"] * 3
    assert all(arg["plan_existed"] for arg in stack.ups)
    assert stack.deployed["traffic"]["weights"] == {"blue": 0, "green": 100}

    # What the command prints: one line per step and the weights the switch reports now.
    assert res.stdout.splitlines()[:5] == [
        "cutover blue → green: done (every step passed; green at 100%)",
        "  step 1: green   0%  passed", "  step 2: green  50%  passed", "  step 3: green 100%  passed",
        "  weights now: blue 0%, green 100%"]
    assert green_ingress.counts.get(200, 0) >= 6  # the gate measured green at every step (2 samples × 3 steps at least)
