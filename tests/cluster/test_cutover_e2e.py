"""End-to-end cutovers on this machine: a real HAProxy between two loopback "clusters", driven by the real CLI.

What they pin, with a bounded load generator sending requests through the
router for the whole run:

* a healthy cutover moves every request to green with zero failed requests,
  then decommission waits for the soak time and takes blue out;
* green failing its gate at the 50% step puts traffic back on blue before any
  further step, and the run exits 1 naming the gate;
* a cutover killed with SIGKILL mid-way and resumed ends in the same state as
  an uninterrupted run, still without a failed request;
* with a blue API server (``fresh_cluster(BLUE)``), blue refuses new
  Deployments during the cutover and accepts them again after ``akshift rollback``;
* ``--dry-run``/``--preflight-only`` change nothing, a gate that cannot
  authenticate stops the run before anything changes (exit 2, naming the
  gate), ``cutover status`` shows the time left in a running hold, the live
  view stays off stderr with ``-o json``, and every run leaves ``report.md``.

The CLI runs as ``python -m akshift.cmd_cutover`` in a subprocess, as a user
would run it, so SIGKILL is a real kill.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cutover.routers import HaproxyRouter
from cutover.store import CutoverStore
from sandbox.cluster import free_port
from sandbox.haproxy import LocalHaproxy, LocalRouterConfig
from sandbox.loopback import Backend, Hit, LoadGenerator

from support import ROOT

HOLD = "1s"
INTERVAL = "0.5s"


class Switch:
    """Blue and green loopback backends behind a local HAProxy, plus what the CLI needs to find them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blue = Backend("blue").start()
        self.green = Backend("green").start()
        self.port = free_port()
        self.socket = root / "admin.sock"
        self.state_file = root / "servers.state"
        cfg = LocalRouterConfig(f"127.0.0.1:{self.port}", (("blue", self.blue.address), ("green", self.green.address)),
                                (("blue", 100), ("green", 0)), self.socket, self.state_file)
        self.haproxy = LocalHaproxy(cfg, root / "haproxy").start()
        self.router = HaproxyRouter(self.socket, state_file=self.state_file)
        self.verify = root / "verify.json"
        self.verify.write_text(json.dumps({"ok": True, "unaccounted": [], "not_ready": [], "blocking_findings": 0}))

    def stop(self) -> None:
        self.haproxy.stop()
        self.blue.stop()
        self.green.stop()

    def cutover_args(self, state_dir: Path, steps: str = "0,10,50,100", freeze: list[str] | None = None) -> list[str]:
        return ["cutover", "--from", "blue", "--to", "green", "--steps", steps, "--hold", HOLD,
                "--gate-interval", INTERVAL,
                "--gate", f"http:{self.green.url}/healthz,p95=1s,samples=5,name=green-health",
                "--gate", f'errors:{self.green.url}/metrics,total=http_requests_total,'
                          'failed=http_requests_total{code=~"5.."},max=1%,name=green-errors',
                "--router", "haproxy", "--haproxy-socket", str(self.socket),
                "--haproxy-state-file", str(self.state_file), "--verify-report", str(self.verify),
                "--state-dir", str(state_dir), "--no-sync-check",
                *(freeze if freeze is not None else ["--no-freeze"])]


@pytest.fixture
def switch(tmp_path: Path) -> Iterator[Switch]:
    s = Switch(tmp_path)
    try:
        yield s
    finally:
        s.stop()


ENV = {**os.environ, "COLUMNS": "500"}  # rich wraps stderr at 80 columns without a terminal


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "akshift.cmd_cutover", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=ENV)


def popen(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "akshift.cmd_cutover", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)


def wait_for_event(store: CutoverStore, match: Callable[[dict[str, Any]], bool], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for e in store.events():
            if match(e):
                return e
        time.sleep(0.02)
    raise AssertionError(f"event not seen in {timeout}s; log: {store.events()[-5:]}")


def failures(hits: list[Hit]) -> list[Hit]:
    return [h for h in hits if not h.ok]


def essence(store: CutoverStore) -> tuple[Any, ...]:
    s = store.load()
    return s.phase, s.green_weight, s.step, s.last_good, [(r.index, r.green, r.outcome) for r in s.records]


def test_a_healthy_cutover_moves_every_request_to_green_without_one_failure_then_blue_is_decommissioned(
        switch: Switch, tmp_path: Path) -> None:
    state_dir = tmp_path / "cutover"
    with LoadGenerator(switch.port, max_seconds=90) as load:
        r = cli(*switch.cutover_args(state_dir), "--output", "json")
        time.sleep(0.3)
        hits = load.stop()
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["phase"] == "done" and summary["weights"] == {"blue": 0, "green": 100}
    assert [s["outcome"] for s in summary["steps"]] == ["passed"] * 4
    assert len(hits) > 200 and failures(hits) == []
    assert {h.served_by for h in hits} == {"blue", "green"}
    assert {h.served_by for h in hits[-20:]} == {"green"}
    assert switch.router.weights() == {"blue": 0, "green": 100}
    events = CutoverStore(state_dir).events()
    gates = [e for e in events if e["event"] == "gate"]
    assert {e["gate"] for e in gates} == {"green-health", "green-errors"} and all(e["ok"] for e in gates)
    assert [e["weights"]["green"] for e in events if e["event"] == "weights_set"] == [0, 10, 50, 100]
    assert "left of" not in r.stderr and "step 1" not in r.stderr  # -o json: no live view, no event lines
    report = (state_dir / "report.md").read_text()
    assert summary["report"] == str(state_dir / "report.md")
    assert "xychart-beta" in report and "gantt" in report and "### green-health" in report

    refused = cli("decommission", "blue", "--soak", "1h", "--health-window", "1s", "--state-dir", str(state_dir))
    assert refused.returncode == 1 and "soak time not over" in refused.stderr
    done = cli("decommission", "blue", "--soak", "0s", "--health-window", "1s", "--state-dir", str(state_dir))
    assert done.returncode == 0, done.stderr
    assert "decommissioned" in done.stdout
    assert switch.router.weights()["blue"] == 0  # in maintenance: out of the switch for good
    again = cli("rollback", "--state-dir", str(state_dir))
    assert again.returncode == 2 and "decommissioned" in again.stderr


def test_green_failing_its_gate_at_the_50_percent_step_puts_traffic_back_on_blue_within_that_step(
        switch: Switch, tmp_path: Path) -> None:
    state_dir = tmp_path / "cutover"
    store = CutoverStore(state_dir)
    flipped: dict[str, float] = {}

    def break_green_at_50() -> None:
        wait_for_event(store, lambda e: e["event"] == "weights_set" and e["weights"]["green"] == 50)
        switch.green.mode = "fail"
        flipped["at"] = time.time()

    watcher = threading.Thread(target=break_green_at_50, daemon=True)
    watcher.start()
    with LoadGenerator(switch.port, max_seconds=90) as load:
        r = cli(*switch.cutover_args(state_dir))
        time.sleep(0.5)
        hits = load.stop()
    watcher.join(5)
    assert r.returncode == 1, r.stderr
    assert "FAILED gate green-health" in r.stdout and "gate failed green-health" in r.stderr

    events = store.events()
    changes = [e for e in events if e["event"] in ("weights_set", "rolled_back")]
    assert [(e["event"], e["weights"]["green"]) for e in changes] == [
        ("weights_set", 0), ("weights_set", 10), ("weights_set", 50), ("rolled_back", 0)]
    rolled_back = changes[-1]["ts"]
    assert rolled_back - flipped["at"] < 1.0 + 2.0  # within the step's hold (1 s) and one evaluation
    assert switch.router.weights() == {"blue": 100, "green": 0}
    state = store.load()
    assert state.phase.value == "rolled_back" and {g["gate"] for g in state.failed_gates} >= {"green-health"}

    failed = failures(hits)
    assert failed, "green served 500s to about half the requests until the rollback"
    assert all(flipped["at"] - 0.1 <= h.start <= rolled_back + 0.1 for h in failed)
    after = [h for h in hits if h.start > rolled_back + 0.2]
    assert after and all(h.ok and h.served_by == "blue" for h in after)

    refused = cli("decommission", "blue", "--soak", "0s", "--health-window", "1s", "--state-dir", str(state_dir))
    assert refused.returncode == 1 and "blue still has weight 100" in refused.stderr


def test_a_cutover_killed_mid_way_and_resumed_ends_in_the_same_state_as_an_uninterrupted_one(
        switch: Switch, tmp_path: Path) -> None:
    killed_dir, reference_dir = tmp_path / "killed", tmp_path / "reference"
    store = CutoverStore(killed_dir)
    with LoadGenerator(switch.port, max_seconds=120) as load:
        proc = popen(*switch.cutover_args(killed_dir))
        try:
            wait_for_event(store, lambda e: e["event"] == "gate" and e["green"] == 10)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=30)
        interrupted = store.load()
        assert interrupted.phase.value in ("holding", "shifting") and not interrupted.terminal
        assert switch.router.weights() == {"blue": 90, "green": 10}  # the switch keeps serving while no one drives it

        resumed = cli(*switch.cutover_args(killed_dir), "--resume")
        time.sleep(0.3)
        hits = load.stop()
    assert resumed.returncode == 0, resumed.stderr
    assert failures(hits) == []
    assert any(e["event"] == "resumed" for e in store.events())
    assert store.load().resumes == 1
    resumed_essence = essence(store)

    # The uninterrupted reference, from the same switch put back on blue by a rollback.
    back = cli("rollback", "--state-dir", str(killed_dir))
    assert back.returncode == 0 and switch.router.weights() == {"blue": 100, "green": 0}
    reference = cli(*switch.cutover_args(reference_dir))
    assert reference.returncode == 0, reference.stderr
    assert resumed_essence == essence(CutoverStore(reference_dir))
    assert resumed_essence[1:4] == (100, 3, 3)


def test_resume_with_a_different_plan_is_refused_and_changes_nothing(switch: Switch, tmp_path: Path) -> None:
    state_dir = tmp_path / "cutover"
    store = CutoverStore(state_dir)
    proc = popen(*switch.cutover_args(state_dir))
    try:
        wait_for_event(store, lambda e: e["event"] == "weights_set" and e["weights"]["green"] == 10)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    r = cli(*switch.cutover_args(state_dir, steps="0,100"), "--resume")
    assert r.returncode == 2 and "--steps: persisted 0,10,50,100, requested 0,100" in r.stderr
    fresh = cli(*switch.cutover_args(state_dir))
    assert fresh.returncode == 2 and "add --resume" in fresh.stderr
    assert switch.router.weights() == {"blue": 90, "green": 10}


def test_rollback_during_a_running_cutover_is_carried_out_by_that_cutover_at_once(switch: Switch,
                                                                                  tmp_path: Path) -> None:
    state_dir = tmp_path / "cutover"
    store = CutoverStore(state_dir)
    args = switch.cutover_args(state_dir, steps="10,100")
    args[args.index("--hold") + 1] = "60s"
    proc = popen(*args)
    try:
        wait_for_event(store, lambda e: e["event"] == "hold" and e["green"] == 10)
        t0 = time.monotonic()
        back = cli("rollback", "--state-dir", str(state_dir))
        assert back.returncode == 0, back.stderr
        assert time.monotonic() - t0 < 10
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=30)
    assert proc.returncode == 1 and "manual rollback" in out
    assert switch.router.weights() == {"blue": 100, "green": 0}
    assert [e["event"] for e in store.events() if e["event"].startswith("rollback")] == [
        "rollback_delegated", "rollback_requested"]


def test_blue_refuses_new_deployments_during_the_cutover_and_accepts_them_after_rollback(
        switch: Switch, tmp_path: Path, fresh_cluster: Any) -> None:
    from cutover import freeze
    from kube.client import KubeClient
    from sandbox.profiles import BLUE

    blue = fresh_cluster(BLUE)
    state_dir = tmp_path / "cutover"
    r = cli(*switch.cutover_args(state_dir, steps="0,100", freeze=["--blue-kubeconfig", str(blue.kubeconfig)]))
    assert r.returncode == 0, r.stderr
    preflight = next(e for e in CutoverStore(state_dir).events() if e["event"] == "preflight")
    assert {c["name"]: c["ok"] for c in preflight["checks"]}["blue-frozen"] is True
    with KubeClient.from_kubeconfig(blue.kubeconfig) as k:
        assert freeze.refuses_new_deployments(k, "blue")
        back = cli("rollback", "--state-dir", str(state_dir))
        assert back.returncode == 0, back.stderr
        assert not freeze.refuses_new_deployments(k, "blue")
    assert switch.router.weights() == {"blue": 100, "green": 0}
    assert CutoverStore(state_dir).load().frozen is False


def test_dry_run_and_preflight_only_print_the_plan_and_checks_and_change_nothing(switch: Switch,
                                                                                 tmp_path: Path) -> None:
    state_dir = tmp_path / "cutover"
    dry = cli(*switch.cutover_args(state_dir), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "plan: blue → green in 4 steps" in dry.stdout and "step 3: blue 50%, green 50%" in dry.stdout
    assert "ok   start-weights" in dry.stdout and "nothing was changed (dry run)" in dry.stdout
    assert "{'" not in dry.stdout
    switch.verify.write_text(json.dumps({"ok": False, "unaccounted": [], "not_ready": ["Deployment shop/web"],
                                         "blocking_findings": 0}))
    only = cli(*switch.cutover_args(state_dir), "--preflight-only", "--output", "json")
    assert only.returncode == 2, only.stderr
    doc = json.loads(only.stdout)
    assert (doc["schemaVersion"], doc["ok"], doc["changed"]) == (1, False, False)
    assert {c["name"]: c["ok"] for c in doc["preflight"]}["green-verified"] is False
    assert not state_dir.exists() and switch.router.weights() == {"blue": 100, "green": 0}


def test_a_gate_that_cannot_authenticate_stops_the_cutover_before_anything_changes(switch: Switch,
                                                                                   tmp_path: Path) -> None:
    state_dir = tmp_path / "cutover"
    args = switch.cutover_args(state_dir)
    args += ["--gate", f'errors:{switch.green.url}/metrics,total=http_requests_total,'
                       'failed=http_requests_total{code=~"5.."},max=1%,name=azure-prom,'
                       'token-cmd="sh -c \'echo not logged in >&2; exit 1\'"']
    r = cli(*args)
    assert r.returncode == 2, r.stderr
    assert "gate 'azure-prom' cannot authenticate" in r.stderr and "exited 1: not logged in" in r.stderr
    assert not (state_dir / "state.json").exists() and switch.router.weights() == {"blue": 100, "green": 0}


def test_status_shows_the_time_left_in_a_running_hold_and_the_live_view_counts_down(switch: Switch,
                                                                                    tmp_path: Path) -> None:
    state_dir = tmp_path / "cutover"
    store = CutoverStore(state_dir)
    args = switch.cutover_args(state_dir, steps="10,100")
    args[args.index("--hold") + 1] = "30s"
    proc = popen(*args)
    try:
        wait_for_event(store, lambda e: e["event"] == "gate" and e["green"] == 10)
        r = cli("cutover", "status", "--state-dir", str(state_dir), "--output", "json")
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert (doc["schemaVersion"], doc["phase"], doc["running"]) == (1, "holding", True)
        assert doc["weights"] == {"blue": 90, "green": 10} and doc["step"] == {"index": 0, "of": 2, "green": 10}
        assert 0 < doc["hold"]["secondsLeft"] < 30
        assert {g["gate"] for g in doc["gates"]} == {"green-health", "green-errors"}
        text = cli("cutover", "status", "--state-dir", str(state_dir))
        assert "weights: blue 90%, green 10%" in text.stdout and "left of 30s" in text.stdout
        assert cli("rollback", "--state-dir", str(state_dir)).returncode == 0
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=30)
    assert "hold step 1/2 · blue 90%, green 10% · " in err and "left of 30s" in err
    assert "rolled back: blue 100%, green 0% (manual rollback" in err
    assert "{'" not in err and "{'" not in out
    assert "report.md" in out and (state_dir / "report.md").exists()
