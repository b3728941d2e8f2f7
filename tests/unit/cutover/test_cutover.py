"""The cutover's decisions: plan parsing, the state machine, the driver loop with fakes, gates, preflight, routers.

What they pin: a healthy plan walks every step to DONE; a failed gate rolls
back at once (to blue by default, to the last good step on request); a run
killed before or after *any* effect and then resumed ends in the same state
as an uninterrupted one; decommission is refused for every unsafe reason;
gate specs parse or fail naming the gate; thresholds judge as documented;
weights never pass through all-zero; a Pulumi step refuses to carry
unrelated changes along. The freeze policy and the readiness gate on a real
sandbox cluster are in ``tests/cluster/test_cutover_on_clusters.py``.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pulumi import automation as auto

from cutover import engine, runner
from cutover.engine import CutoverState, GateResult, Phase
from cutover.errors import PlanError, PreflightError, RefusedError, RouterError, StateError
from cutover.gates import (
    ErrorRateGate,
    GateSet,
    HttpGate,
    ReadyGate,
    Sample,
    judge_error_delta,
    judge_error_ratio,
    judge_http,
    judge_ready,
    parse_gate,
    parse_gates,
    parse_selector,
)
from cutover.plan import Plan, RollbackTo, differences, parse_duration, parse_steps
from cutover.preflight import check_dns_ttl, check_single_writers, check_start_weights, check_verify_report
from cutover.routers import PulumiTrafficRouter, change_order, parse_servers_state
from cutover.store import CutoverStore
from deploy.engine import Stack as EngineStack
from sandbox.loopback import Backend

from support.fake_stack import FakeAutomationStack, command_error

GATE = "http:http://127.0.0.1:1/healthz"


def plan(steps: tuple[int, ...] = (0, 10, 50, 100), **kw: Any) -> Plan:
    return Plan("blue", "green", steps, kw.pop("hold_seconds", 60.0), kw.pop("gates", (GATE,)),
                kw.pop("router", {"kind": "fake"}), **{"gate_interval_seconds": 20.0, **kw})


def ok(name: str = GATE) -> GateResult:
    return GateResult(name, True, "fine", 0.01)


def bad(name: str = GATE) -> GateResult:
    return GateResult(name, False, "3/10 probes failed (first: status 500), allowed 0", 0.02)


# --------------------------------------------------------------------------- plan


@pytest.mark.parametrize("text,expected", [("5m", 300.0), ("90s", 90.0), ("1.5h", 5400.0), ("250ms", 0.25),
                                           ("3", 3.0), ("2d", 172800.0)],
                         ids=["minutes", "seconds", "fractional-hours", "milliseconds", "bare-number", "days"])
def test_durations_parse_to_seconds(text: str, expected: float) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text,message", [
    ("0,50,50,100", "strictly increase: 50 follows 50"),
    ("0,50,10", "strictly increase: 10 follows 50"),
    ("0,10,150", "150 is not a percentage"),
    ("0,ten", "comma-separated integers"),
    ("-5,10", "-5 is not a percentage"),
], ids=["repeated", "decreasing", "over-100", "not-a-number", "negative"])
def test_bad_steps_are_refused_with_the_value_at_fault(text: str, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        parse_steps(text)


def test_a_plan_without_gates_is_refused_because_it_could_not_roll_back_on_its_own() -> None:
    with pytest.raises(PlanError, match="no --gate"):
        plan(gates=())


def test_a_plan_from_and_to_the_same_cluster_is_refused() -> None:
    with pytest.raises(PlanError, match="both 'blue'"):
        Plan("blue", "blue", (0, 100), 60, (GATE,), {"kind": "fake"})


def test_a_resume_with_other_steps_or_gates_is_reported_as_a_different_cutover() -> None:
    p = plan()
    assert differences(p, dataclasses.replace(p, blue_kube={"kubeconfig": "/elsewhere"})) == []
    assert differences(p, dataclasses.replace(p, steps=(0, 100), gates=("http:http://x/",))) == [
        "--steps: persisted 0,10,50,100, requested 0,100",
        f"--gate: persisted ['{GATE}'], requested ['http:http://x/']",
    ]


# --------------------------------------------------------------------------- state machine


def walk(state: CutoverState, verdict: Callable[[int], bool], now: float = 0.0) -> CutoverState:
    """Drive the pure machine: apply intended weights, judge once with the hold over."""
    while not state.terminal:
        if engine.intended_weights(state) is not None:
            state = engine.weights_applied(state, now)
        else:
            green = state.plan.steps[state.step]
            state = engine.gates_judged(state, [ok() if verdict(green) else bad()], hold_over=True, now=now)
        now += 1
    return state


def test_a_healthy_plan_walks_every_step_to_done_with_green_at_100() -> None:
    final = walk(engine.start(plan(), 0.0), lambda green: True)
    assert (final.phase, final.green_weight, final.last_good) == (Phase.DONE, 100, 3)
    assert [(r.green, r.outcome) for r in final.records] == [(0, "passed"), (10, "passed"), (50, "passed"),
                                                             (100, "passed")]
    assert final.finished_at is not None


def test_a_gate_failing_at_50_percent_rolls_back_to_blue_in_one_change_by_default() -> None:
    s = walk(engine.start(plan(), 0.0), lambda green: green < 50)
    assert (s.phase, s.green_weight, s.last_good) == (Phase.ROLLED_BACK, 0, 1)
    assert s.records[-1].outcome == "failed" and s.records[-1].green == 50
    assert s.reason == f"gate {GATE} failed at step 3 of 4 (green 50%)"
    assert [g["gate"] for g in s.failed_gates] == [GATE]


def test_rollback_to_last_good_keeps_the_last_step_whose_gates_passed() -> None:
    s = walk(engine.start(plan(rollback_to=RollbackTo.LAST_GOOD), 0.0), lambda green: green < 50)
    assert (s.phase, s.green_weight) == (Phase.ROLLED_BACK, 10)


def test_rollback_to_last_good_before_any_good_step_goes_to_blue() -> None:
    s = walk(engine.start(plan((10, 100), rollback_to=RollbackTo.LAST_GOOD), 0.0), lambda green: False)
    assert (s.phase, s.green_weight) == (Phase.ROLLED_BACK, 0)


def test_passing_gates_before_the_hold_is_over_do_not_advance_but_a_failure_rolls_back_at_once() -> None:
    holding = engine.weights_applied(engine.start(plan(), 0.0), 0.0)
    assert engine.gates_judged(holding, [ok()], hold_over=False, now=1.0) is holding
    failed = engine.gates_judged(holding, [ok("a"), bad("b")], hold_over=False, now=1.0)
    assert failed.phase is Phase.ROLLING_BACK and [g["gate"] for g in failed.failed_gates] == ["b"]


def test_resuming_a_hold_restarts_it_from_its_weights_and_counts_the_resume() -> None:
    holding = engine.weights_applied(engine.start(plan(), 0.0), 0.0)
    resumed = engine.resume(holding, 5.0)
    assert (resumed.phase, resumed.step, resumed.resumes) == (Phase.SHIFTING, 0, 1)
    assert engine.intended_weights(resumed) == {"blue": 100, "green": 0}


def test_manual_rollback_after_done_sends_everything_back_to_blue() -> None:
    done = walk(engine.start(plan(), 0.0), lambda green: True)
    s = engine.request_rollback(done, "manual", 10.0)
    assert engine.intended_weights(s) == {"blue": 100, "green": 0}
    assert engine.weights_applied(s, 11.0).phase is Phase.ROLLED_BACK


def test_a_decommissioned_cutover_cannot_be_rolled_back() -> None:
    gone = engine.decommissioned(walk(engine.start(plan(), 0.0), lambda green: True), 5.0)
    with pytest.raises(StateError, match="decommissioned"):
        engine.request_rollback(gone, "manual", 6.0)


def test_state_round_trips_through_its_json_document() -> None:
    s = walk(engine.start(plan(blue_kube={"kubeconfig": "/k", "context": None}), 0.0), lambda green: green < 50)
    assert CutoverState.from_dict(json.loads(json.dumps(s.to_dict()))) == s


def test_a_state_document_of_another_version_is_refused() -> None:
    doc = engine.start(plan(), 0.0).to_dict() | {"version": 99}
    with pytest.raises(StateError, match="version 99"):
        CutoverState.from_dict(doc)


HOUR = 3600.0
DONE = walk(engine.start(plan(), 0.0), lambda green: True, now=1000.0)


@pytest.mark.parametrize("state,live,health,now,reasons", [
    (DONE, {"blue": 0, "green": 100}, [ok()], 1000 + 25 * HOUR, []),
    (DONE, {"blue": 0, "green": 100}, [ok()], 1000 + 2 * HOUR, ["soak time not over: 1h59m of 24h00m"]),
    (DONE, {"blue": 10, "green": 90}, [ok()], 1000 + 25 * HOUR, ["blue still has weight 10 on the switch"]),
    (DONE, {"blue": 0, "green": 100}, [bad()], 1000 + 25 * HOUR, ["green is unhealthy: gate"]),
    (DONE, {"blue": 0, "green": 100}, [], 1000 + 25 * HOUR, ["no gate to prove green healthy"]),
    (walk(engine.start(plan(), 0.0), lambda g: g < 50), {"blue": 100, "green": 0}, [ok()], 25 * HOUR,
     ["the cutover is rolled_back, not done", "blue still has weight 100"]),
    (walk(engine.start(plan((0, 50)), 0.0), lambda g: True), {"blue": 50, "green": 50}, [ok()], 25 * HOUR,
     ["finished with green at 50%, so blue still has 50%", "blue still has weight 50"]),
], ids=["allowed", "soak-not-over", "blue-has-weight", "green-unhealthy", "no-gates", "rolled-back", "canary-only"])
def test_decommission_is_refused_for_every_unsafe_reason(state: CutoverState, live: dict[str, int],
                                                         health: list[GateResult], now: float,
                                                         reasons: list[str]) -> None:
    got = engine.decommission_refusals(state, live, health, now=now, soak_seconds=24 * HOUR)
    assert len(got) == len(reasons)
    for text, expected in zip(got, reasons, strict=True):
        assert expected in text


# --------------------------------------------------------------------------- the driver, with fakes


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing in the driver catches it."""


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def time(self) -> float:
        return self.t

    def sleep(self, dt: float) -> None:
        self.t += max(dt, 0.0)


class Effects:
    """Counts effects and kills the run at effect number ``kill_at`` (before or after it happens)."""

    def __init__(self, kill_at: int | None = None, after: bool = False) -> None:
        self.n = 0
        self.kill_at = kill_at
        self.after = after

    def __call__(self, do: Callable[[], Any]) -> Any:
        self.n += 1
        if self.kill_at == self.n and not self.after:
            raise Killed
        out = do()
        if self.kill_at == self.n and self.after:
            raise Killed
        return out


class FakeRouter:
    def __init__(self, effects: Effects, weights: dict[str, int] | None = None,
                 failures: list[RouterError] | None = None) -> None:
        self.w = dict(weights or {"blue": 100, "green": 0})
        self.effects = effects
        self.failures = list(failures or [])
        self.history: list[dict[str, int]] = []
        self.detached: list[str] = []

    def spec(self) -> dict[str, Any]:
        return {"kind": "fake"}

    def weights(self) -> dict[str, int]:
        return dict(self.w)

    def set_weights(self, weights: dict[str, int]) -> None:
        if self.failures:
            raise self.failures.pop(0)

        def do() -> None:
            self.w.update(weights)
            self.history.append(dict(weights))

        self.effects(do)

    def dns_ttl(self) -> float:
        return 0.0

    def detach(self, name: str) -> None:
        self.detached.append(name)


class FakeGates:
    def __init__(self, router: FakeRouter, effects: Effects, verdict: Callable[[int], bool]) -> None:
        self.router, self.effects, self.verdict = router, effects, verdict
        self.evaluations = 0

    def begin_step(self) -> None:
        pass

    def evaluate(self) -> list[GateResult]:
        def do() -> list[GateResult]:
            self.evaluations += 1
            return [ok() if self.verdict(self.router.w["green"]) else bad()]

        return self.effects(do)


def session(tmp: Path, verdict: Callable[[int], bool], effects: Effects, router: FakeRouter | None = None,
            clock: Clock | None = None) -> runner.Session:
    clock = clock or Clock()
    router = router or FakeRouter(effects)
    return runner.Session(CutoverStore(tmp), router, FakeGates(router, effects, verdict),
                          clock=clock.time, monotonic=clock.time, sleep=lambda dt: effects(lambda: clock.sleep(dt)))


def essence(s: CutoverState) -> tuple[Any, ...]:
    return s.phase, s.green_weight, s.step, s.last_good, [(r.index, r.outcome) for r in s.records], s.failed_gates


def run_fresh(tmp: Path, verdict: Callable[[int], bool], effects: Effects, p: Plan | None = None) -> CutoverState:
    s = session(tmp, verdict, effects)
    state = s.save(engine.start(p or plan(), s.clock()))
    return runner.drive(state, s)


def test_the_driver_holds_each_step_evaluating_gates_every_interval_and_logs_each_result(tmp_path: Path) -> None:
    effects = Effects()
    s = session(tmp_path, lambda g: True, effects)
    final = runner.drive(s.save(engine.start(plan(), s.clock())), s)
    assert final.phase is Phase.DONE
    assert s.router.history == [{"blue": 100, "green": 0}, {"blue": 90, "green": 10}, {"blue": 50, "green": 50},
                                {"blue": 0, "green": 100}]
    assert s.gates.evaluations == 4 * 3  # 60 s hold, a gate evaluation every 20 s
    events = [e["event"] for e in s.store.events()]
    assert events.count("gate") == 12 and events.count("step") == 4 and events[-1] == "done"
    assert CutoverStore(tmp_path).load() == final


@pytest.mark.parametrize("verdict,name", [(lambda g: True, "healthy"), (lambda g: g < 50, "fails-at-50")],
                         ids=["healthy", "fails-at-50"])
def test_a_run_killed_before_or_after_any_effect_and_resumed_ends_like_an_uninterrupted_one(
        tmp_path: Path, verdict: Callable[[int], bool], name: str) -> None:
    short = plan(hold_seconds=2.0, gate_interval_seconds=1.0)  # few effects per step: every one is a kill point
    reference_effects = Effects()
    reference = run_fresh(tmp_path / "reference", verdict, reference_effects, short)
    assert reference_effects.n > 15
    for kill_at in range(1, reference_effects.n + 1):
        for after in (False, True):
            d = tmp_path / f"k{kill_at}-{after}"
            effects = Effects(kill_at, after)
            router = FakeRouter(effects)
            with pytest.raises(Killed):
                s = session(d, verdict, effects, router)
                runner.drive(s.save(engine.start(short, s.clock())), s)
            # A new process: same store and the same switch (it outlives us), no kill this time.
            s2 = session(d, verdict, Effects(), router)
            final = runner.drive(runner.resume(s2), s2)
            assert essence(final) == essence(reference), (kill_at, after)
            assert router.w == {"blue": 100 - reference.green_weight, "green": reference.green_weight}


def test_a_rollback_request_during_a_hold_is_acted_on_by_the_running_cutover(tmp_path: Path) -> None:
    effects = Effects()
    s = session(tmp_path, lambda g: True, effects)
    sleeps = 0

    def sleep(dt: float) -> None:
        nonlocal sleeps
        sleeps += 1
        if sleeps == 3:
            s.store.request_rollback("pager went off")

    s.sleep = sleep
    final = runner.drive(s.save(engine.start(plan(), s.clock())), s)
    assert (final.phase, final.green_weight, final.reason) == (Phase.ROLLED_BACK, 0, "pager went off")
    assert not s.store.rollback_pending()


def test_transient_router_errors_are_retried_and_permanent_ones_leave_the_intent_saved(tmp_path: Path) -> None:
    effects = Effects()
    router = FakeRouter(effects, failures=[RouterError("busy", retryable=True)])
    s = session(tmp_path / "a", lambda g: True, effects, router)
    assert runner.drive(s.save(engine.start(plan((0, 100)), s.clock())), s).phase is Phase.DONE

    router = FakeRouter(effects, failures=[RouterError("no such backend")])
    s = session(tmp_path / "b", lambda g: True, effects, router)
    with pytest.raises(RouterError, match="no such backend"):
        runner.drive(s.save(engine.start(plan((0, 100)), s.clock())), s)
    saved = s.store.load()
    assert saved.phase is Phase.SHIFTING and engine.intended_weights(saved) == {"blue": 100, "green": 0}


def test_manual_rollback_without_a_running_cutover_drives_blue_back_to_100(tmp_path: Path) -> None:
    run_fresh(tmp_path, lambda g: True, Effects())
    effects = Effects()
    router = FakeRouter(effects, {"blue": 0, "green": 100})
    s = session(tmp_path, lambda g: True, effects, router)
    final = runner.rollback(s, "manual")
    assert (final.phase, final.green_weight, router.w) == (Phase.ROLLED_BACK, 0, {"blue": 100, "green": 0})


def test_a_new_cutover_is_refused_while_an_unfinished_one_lives_in_the_state_directory(tmp_path: Path) -> None:
    store = CutoverStore(tmp_path)
    store.save(engine.start(plan(), 0.0))
    s = session(tmp_path, lambda g: True, Effects())
    with pytest.raises(StateError, match="add --resume"):
        runner.begin(plan(), s, verify_report=tmp_path / "verify.json")


def test_a_failed_preflight_reports_every_check_and_saves_nothing(tmp_path: Path) -> None:
    router = FakeRouter(Effects(), {"blue": 70, "green": 30})
    s = session(tmp_path, lambda g: True, Effects(), router)
    with pytest.raises(PreflightError) as e:
        runner.begin(plan(), s, verify_report=tmp_path / "missing.json")
    assert {c["name"]: c["ok"] for c in e.value.checks} == {
        "green-verified": False, "dns-ttl": True, "start-weights": False, "single-writer": True, "blue-frozen": True}
    assert not s.store.exists()
    assert s.store.events()[-1]["event"] == "preflight"


def test_decommission_detaches_blue_only_when_nothing_refuses(tmp_path: Path) -> None:
    clock = Clock()
    s = session(tmp_path, lambda g: True, Effects(), clock=clock)
    runner.drive(s.save(engine.start(plan(), s.clock())), s)
    effects = Effects()
    router = FakeRouter(effects, {"blue": 0, "green": 100})
    s = session(tmp_path, lambda g: True, effects, router, clock=clock)
    with pytest.raises(RefusedError, match="soak time not over"):
        runner.decommission(s, "blue", soak_seconds=HOUR)
    with pytest.raises(StateError, match="not green"):
        runner.decommission(s, "green", soak_seconds=0)
    assert runner.decommission(s, "blue", soak_seconds=0).phase is Phase.DECOMMISSIONED
    assert router.detached == ["blue"]


# --------------------------------------------------------------------------- store


def test_state_is_replaced_atomically_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    store = CutoverStore(tmp_path)
    for i in range(3):
        store.save(dataclasses.replace(engine.start(plan(), 0.0), step=i % 4))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
    assert store.load().step == 2


def test_a_torn_last_log_line_from_a_kill_is_skipped(tmp_path: Path) -> None:
    store = CutoverStore(tmp_path)
    store.log("hold", step=0)
    with open(store.log_path, "ab") as f:
        f.write(b'{"ts": 1, "event": "ga')
    assert [e["event"] for e in store.events()] == ["hold"]


def test_a_second_process_cannot_drive_the_same_cutover(tmp_path: Path) -> None:
    store = CutoverStore(tmp_path)
    with store.locked():
        with pytest.raises(StateError, match="another akshift process"):
            with CutoverStore(tmp_path).locked():
                pass


# --------------------------------------------------------------------------- gates: specs


def test_gate_specs_parse_with_defaults_and_names() -> None:
    http, ready, errors, prom = parse_gates([
        "http:https://green.example/healthz,status=200-299|304,p95=300ms,max=1s,samples=5,failures=1,name=green-health",
        "ready:deployment/shop/web",
        'errors:http://127.0.0.1:9/metrics,total=http_requests_total,failed=http_requests_total{code=~"5..",job="a"},'
        "max=1%,min=50",
        "errors:http://prom:9090/api/v1/query?query=ratio,max=0.02",
    ])
    assert http == HttpGate("green-health", "https://green.example/healthz", ((200, 299), (304, 304)), 0.3, 1.0, 5, 1)
    assert ready == ReadyGate("ready:deployment/shop/web", "Deployment", "shop", "web")
    assert isinstance(errors, ErrorRateGate) and errors.max_ratio == 0.01 and errors.min_requests == 50
    assert errors.failed is not None and errors.failed.matchers == (("code", "=~", "5.."), ("job", "=", "a"))
    assert isinstance(prom, ErrorRateGate) and prom.total is None and prom.max_ratio == 0.02


@pytest.mark.parametrize("text,message", [
    ("healthz", "expected KIND:TARGET"),
    ("tcp:1.2.3.4:80", "unknown gate kind 'tcp'"),
    ("http:ftp://x", "is not an http(s) URL"),
    ("http:http://x/,p99=1s", "unknown option p99"),
    ("http:http://x/,samples=0", "samples must be at least 1"),
    ("http:http://x/,status=ok", "status 'ok' is not codes or ranges"),
    ("ready:shop/web", "expected ready:KIND/NAMESPACE/NAME"),
    ("ready:pod/shop/web", "expected ready:KIND/NAMESPACE/NAME"),
    ("errors:http://x/metrics", "max= is required"),
    ("errors:http://x/metrics,max=1%,total=a", "give both total= and failed="),
    ("errors:http://x/metrics,max=150%", "not between 0 and 100%"),
    ('errors:http://x/m,max=1%,total=a,failed=b{code=5}', "cannot read the label matchers"),
], ids=["no-kind", "unknown-kind", "not-http", "unknown-option", "no-samples", "bad-status", "ready-short",
        "ready-pod", "errors-no-max", "errors-half-selectors", "errors-ratio-range", "errors-bad-matcher"])
def test_malformed_gate_specs_are_refused_quoting_the_gate(text: str, message: str) -> None:
    with pytest.raises(PlanError) as e:
        parse_gate(text)
    assert message in str(e.value) and repr(text) in str(e.value)


def test_two_gates_with_one_name_are_refused() -> None:
    with pytest.raises(PlanError, match="two gates are named 'x'"):
        parse_gates(["http:http://a/,name=x", "http:http://b/,name=x"])


def test_selectors_match_like_promql() -> None:
    sel = parse_selector('r{code=~"5..",job!="probe"}', "w")
    assert sel.matches("r", {"code": "503", "job": "web"})
    assert not sel.matches("r", {"code": "503", "job": "probe"})
    assert not sel.matches("r", {"code": "200", "job": "web"})
    assert not sel.matches("other", {"code": "500"})


# --------------------------------------------------------------------------- gates: judging


HG = HttpGate("h", "http://x/", p95_seconds=0.3, max_seconds=1.0, samples=10)


@pytest.mark.parametrize("samples,passes,detail", [
    ([Sample(200, 0.05)] * 10, True, "10/10 ok"),
    ([Sample(200, 0.05)] * 9 + [Sample(500, 0.05)], False, "1/10 probes failed (first: status 500)"),
    ([Sample(200, 0.05)] * 9 + [Sample(None, 5.0, "ConnectError: refused")], False, "first: ConnectError"),
    ([Sample(200, 0.05)] * 8 + [Sample(200, 0.5)] * 2, False, "p95 500ms > 300ms"),
    ([Sample(200, 0.05)] * 19 + [Sample(200, 1.5)], False, "slowest 1500ms > 1000ms"),
    ([Sample(301, 0.05)] * 10, True, "10/10 ok"),
], ids=["all-ok", "one-500", "one-refused", "slow-p95", "one-very-slow", "redirect-is-ok"])
def test_http_gate_judges_status_codes_and_latency(samples: list[Sample], passes: bool, detail: str) -> None:
    r = judge_http(HG, samples)
    assert r.ok is passes and detail in r.detail


def test_http_gate_tolerates_the_failures_it_is_given() -> None:
    gate = dataclasses.replace(HG, max_failures=1)
    assert judge_http(gate, [Sample(200, 0.01)] * 9 + [Sample(503, 0.01)]).ok


EG = ErrorRateGate("e", "http://x/metrics", 0.01, parse_selector("t", "w"), parse_selector("f", "w"))


@pytest.mark.parametrize("before,after,gate,passes,detail", [
    ((100, 0), (1100, 5), EG, True, "error rate 0.50% (5/1000) <= 1.00%"),
    ((100, 0), (1100, 50), EG, False, "error rate 5.00% (50/1000) > 1.00%"),
    ((5000, 10), (200, 1), EG, True, "(1/200)"),
    ((100, 0), (100, 0), dataclasses.replace(EG, allow_idle=True), True, "no requests in the window"),
    ((100, 0), (100, 0), EG, False, "no requests in the window: an idle green proves nothing"),
    ((100, 0), (110, 0), dataclasses.replace(EG, min_requests=50), False, "only 10 requests in the window, need 50"),
    ((100, 0), (100, 0), dataclasses.replace(EG, min_requests=50, allow_idle=True), False, "only 0 requests"),
    (None, (100, 0), EG, False, "no baseline"),
], ids=["under", "over", "counter-reset", "no-traffic-allowed-idle", "no-traffic-fails", "too-little-traffic",
        "allow-idle-does-not-lower-min", "no-baseline"])
def test_error_rate_gate_judges_the_counter_deltas_of_the_step(before: Any, after: Any, gate: ErrorRateGate,
                                                               passes: bool, detail: str) -> None:
    r = judge_error_delta(gate, before, after)
    assert r.ok is passes and detail in r.detail


def test_error_rate_from_a_query_fails_when_it_returns_nothing() -> None:
    assert judge_error_ratio(EG, 0.002).ok
    assert not judge_error_ratio(EG, 0.02).ok
    assert "no value" in judge_error_ratio(EG, None).detail


def test_ready_gate_needs_the_workload_to_exist_and_be_caught_up() -> None:
    g = ReadyGate("r", "Deployment", "shop", "web")
    live = {"kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "availableReplicas": 2, "updatedReplicas": 2, "readyReplicas": 2}}
    assert judge_ready(g, live).ok
    assert not judge_ready(g, {**live, "status": {**live["status"], "availableReplicas": 1}}).ok
    assert "does not exist" in judge_ready(g, None).detail


# --------------------------------------------------------------------------- gates: measuring on loopback


@pytest.fixture
def green_backend() -> Any:
    with Backend("green", delay=0.4) as b:
        yield b


def test_gates_measure_a_real_loopback_server_and_fail_when_it_fails_or_slows(green_backend: Backend) -> None:
    gates = parse_gates([f"http:{green_backend.url}/healthz,p95=300ms,samples=3",
                         f'errors:{green_backend.url}/metrics,total=http_requests_total,'
                         'failed=http_requests_total{code=~"5.."},max=10%'])
    with httpx.Client() as http:
        gs = GateSet(gates, http=http)
        gs.begin_step()
        assert [r.ok for r in gs.evaluate()] == [True, True]
        green_backend.mode = "fail"
        http_result, errors_result = gs.evaluate()
        assert not http_result.ok and "status 500" in http_result.detail
        assert not errors_result.ok and "(3/6)" in errors_result.detail
        green_backend.mode = "slow"
        assert "p95" in gs.evaluate()[0].detail


def test_a_gate_that_cannot_measure_fails_instead_of_passing() -> None:
    with httpx.Client() as http:
        gs = GateSet(parse_gates(["http:http://127.0.0.1:9/x,samples=1,timeout=1s",
                                  "errors:http://127.0.0.1:9/api/v1/query,max=1%"]), http=http)
        results = gs.evaluate()
    assert [r.ok for r in results] == [False, False]
    assert "ConnectError" in results[0].detail and "could not measure" in results[1].detail


def test_ready_gates_need_a_green_kubeconfig() -> None:
    with pytest.raises(PlanError, match="--green-kubeconfig"):
        GateSet(parse_gates(["ready:deployment/shop/web"]), http=httpx.Client())


# --------------------------------------------------------------------------- preflight


def write_verify(path: Path, **doc: Any) -> Path:
    path.write_text(json.dumps({"ok": True, "unaccounted": [], "not_ready": [], "blocking_findings": 0, **doc}))
    return path


@pytest.mark.parametrize("doc,passes,detail", [
    ({}, True, "verified"),
    ({"ok": False, "not_ready": ["Deployment shop/web"]}, False, "verification did not pass; 1 workloads not ready"),
    ({"blocking_findings": 2}, False, "2 blocking findings"),
    ({"data_not_copied": ["core/PersistentVolumeClaim/data/pg-data-postgres-0"]}, False,
     "1 claims started empty, their data not copied"),
], ids=["verified", "not-ready", "blocking-findings", "rehearsal-claims-started-empty"])
def test_green_must_be_verified_by_the_migration_engine(tmp_path: Path, doc: dict[str, Any], passes: bool,
                                                        detail: str) -> None:
    c = check_verify_report(write_verify(tmp_path / "verify.json", **doc))
    assert c.ok is passes and detail in c.detail


def test_a_missing_verify_report_fails_preflight_with_the_command_to_run(tmp_path: Path) -> None:
    c = check_verify_report(tmp_path / "nope.json")
    assert not c.ok and "akshift verify" in c.fix


@pytest.mark.parametrize("ttl,hold,passes", [(0, 1, True), (30, 60, True), (30, 59, False), (300, 300, False)],
                         ids=["proxy", "twice-ttl", "just-under", "ttl-equals-hold"])
def test_dns_ttl_must_be_at_most_half_the_hold(ttl: float, hold: float, passes: bool) -> None:
    assert check_dns_ttl(ttl, hold).ok is passes


def sts(name: str, replicas: int = 1, volumes: bool = True, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"replicas": replicas}
    if volumes:
        spec["volumeClaimTemplates"] = [{"metadata": {"name": "data"}}]
    return {"metadata": {"namespace": "shop", "name": name, "annotations": annotations or {}}, "spec": spec}


@pytest.mark.parametrize("blue,green,allowed,passes", [
    ([sts("db")], [sts("db")], [], False),
    ([sts("db")], [sts("db", replicas=0)], [], True),
    ([sts("cache", volumes=False)], [sts("cache", volumes=False)], [], True),
    ([sts("db")], [sts("db", annotations={"akshift.io/multi-writer": "true"})], [], True),
    ([sts("db")], [sts("db")], ["shop/db"], True),
], ids=["both-write", "green-scaled-to-zero", "no-volumes", "annotated-safe", "allowed-by-flag"])
def test_a_stateful_writer_must_not_run_on_both_clusters(blue: list[Any], green: list[Any], allowed: list[str],
                                                         passes: bool) -> None:
    c = check_single_writers(blue, green, allowed)
    assert c.ok is passes
    if not passes:
        assert "shop/db" in c.detail and "scale green's to 0" in c.fix


@pytest.mark.parametrize("live,passes", [({"blue": 100, "green": 0}, True), ({"blue": 100, "green": 0, "x": 5}, True),
                                         ({"blue": 60, "green": 40}, False), ({"blue": 100}, False)],
                         ids=["all-on-blue", "other-endpoints-ignored", "already-shifted", "no-green-endpoint"])
def test_a_new_cutover_starts_from_all_traffic_on_blue(live: dict[str, int], passes: bool) -> None:
    assert check_start_weights(live, plan()).ok is passes


# --------------------------------------------------------------------------- routers


@given(st.dictionaries(st.sampled_from(["blue", "green", "red"]), st.integers(0, 100), min_size=1),
       st.dictionaries(st.sampled_from(["blue", "green", "red"]), st.integers(0, 100), min_size=1))
def test_weight_changes_never_pass_through_all_zero(current: dict[str, int], target: dict[str, int]) -> None:
    if not any(current.values()) or not any(target.values()):
        return
    w = dict(current)
    for name, weight in change_order(current, target):
        w[name] = weight
        assert any(w.values()), (current, target, w)
    assert {n: w[n] for n in target} == target


def test_haproxy_servers_state_is_read_by_its_header() -> None:
    text = ("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight\n"
            "3 cutover 1 blue 127.0.0.1 2 0 90 100\n3 cutover 2 green 127.0.0.1 2 0 10 0\n")
    assert [(r["srv_name"], r["srv_uweight"]) for r in parse_servers_state(text)] == [("blue", "90"), ("green", "10")]


URN = "urn:pulumi:prod::akshift::"
PROFILE = (URN + "akshift:index:TrafficSwitch$azure-native:trafficmanager:Profile::traffic-profile",
           "azure-native:trafficmanager:Profile")
CLUSTER_REPLACE = ("replace", URN + "akshift:index:AksCluster$azure-native:containerservice:ManagedCluster::aks-cluster",
                   "azure-native:containerservice:ManagedCluster")


def switch_outputs(config: dict[str, Any]) -> dict[str, Any]:
    """What the deployed switch reports: the weights Azure holds (here: the ones the config asked for)."""
    return {"traffic": {"weights": dict(config["akshift:traffic"]["weights"])}, "clusterName": "green"}


def traffic_stack(weights: dict[str, int], extra: list[tuple[str, str, str]] | None = None,
                  kind: str = "trafficManager", ttl: int = 30, **kw: Any) -> FakeAutomationStack:
    """A prod stack with a deployed switch; a preview plans an update of its profile (and ``extra``)."""
    return FakeAutomationStack("prod", {"akshift:traffic": {"weights": weights, "kind": kind, "dnsTtl": ttl}},
                               [("update", *PROFILE), ("same", URN + "pulumi:pulumi:Stack::akshift-prod",
                                                       "pulumi:pulumi:Stack"), *(extra or [])],
                               kw.pop("outputs_of", switch_outputs), **kw)


def router_for(stack: FakeAutomationStack) -> PulumiTrafficRouter:
    return PulumiTrafficRouter("prod", "/p", stack_factory=lambda: EngineStack(stack))


def test_pulumi_router_sets_weights_in_stack_config_then_previews_and_ups_the_stack() -> None:
    stack = traffic_stack({"blue": 100, "green": 0})
    router = router_for(stack)
    router.set_weights({"blue": 90, "green": 10})
    assert [(op, arg if op == "set" else arg["message"]) for op, arg in stack.calls] == [
        ("set", ("akshift:traffic.weights.blue", "90")),
        ("set", ("akshift:traffic.weights.green", "10")),
        ("preview", "akshift cutover preview: blue 90%, green 10%"),
        ("up", "akshift cutover: blue 90%, green 10%")]
    assert router.weights() == {"blue": 90, "green": 10}
    assert router.dns_ttl() == 30.0
    assert router.spec()["kind"] == "pulumi"


def test_each_pulumi_step_runs_up_held_to_the_plan_its_preview_saved() -> None:
    stack = traffic_stack({"blue": 100, "green": 0})
    router_for(stack).set_weights({"blue": 50, "green": 50})
    (_, preview), = [c for c in stack.calls if c[0] == "preview"]
    (_, up), = [c for c in stack.calls if c[0] == "up"]
    assert preview["plan"] and up["plan"] == preview["plan"] and up["plan_existed"]


def test_pulumi_router_refuses_a_step_that_would_deploy_unrelated_changes_and_restores_the_config() -> None:
    stack = traffic_stack({"blue": 100, "green": 0}, [CLUSTER_REPLACE])
    router = router_for(stack)
    with pytest.raises(RouterError, match="outside the traffic switch: replace azure-native:containerservice"):
        router.set_weights({"blue": 90, "green": 10})
    assert router.weights() == {"blue": 100, "green": 0}
    assert stack.config_at("akshift:traffic.weights") == {"blue": 100, "green": 0}
    assert not any(c[0] == "up" for c in stack.calls)


@pytest.mark.parametrize("failure, retryable", [
    ({"up": command_error("error: the Azure API refused the weight")}, False),
    ({"up": command_error("error: [409] Conflict: another update is in progress", auto.ConcurrentUpdateError)}, True),
    ({"preview": command_error("error: the program raised")}, False),
], ids=["up fails", "stack busy", "preview fails"])
def test_a_failed_pulumi_step_restores_the_weights_config_and_says_whether_to_retry(
    failure: dict[str, BaseException], retryable: bool
) -> None:
    stack = traffic_stack({"blue": 100, "green": 0}, fail_on=failure)
    with pytest.raises(RouterError) as e:
        router_for(stack).set_weights({"blue": 90, "green": 10})
    assert e.value.retryable is retryable
    assert stack.config_at("akshift:traffic.weights") == {"blue": 100, "green": 0}


def test_pulumi_router_reports_the_weights_azure_reports_not_the_ones_the_config_asks_for() -> None:
    stack = traffic_stack({"blue": 100, "green": 0},
                          outputs_of=lambda config: {"traffic": {"weights": {"blue": 100, "green": 0}}})
    router = router_for(stack)
    with pytest.raises(RouterError, match=r"reports \{'blue': 100, 'green': 0\} after setting") as e:
        router.set_weights({"blue": 90, "green": 10})
    assert e.value.retryable
    assert stack.config_at("akshift:traffic.weights") == {"blue": 100, "green": 0}  # restored: the step failed
    stack.values["akshift:traffic"]["weights"] = {"blue": 0, "green": 100}  # the config alone says nothing
    assert router.weights() == {"blue": 100, "green": 0}


def test_a_stack_that_exports_no_switch_has_no_live_weights_and_says_how_to_deploy_one() -> None:
    stack = traffic_stack({"blue": 100, "green": 0}, outputs_of=lambda config: {"clusterName": "green"})
    with pytest.raises(RouterError, match="exports no traffic.weights") as e:
        router_for(stack).weights()
    assert "akshift up --stack prod" in e.value.fix


def test_pulumi_router_reports_no_dns_ttl_for_front_door() -> None:
    stack = traffic_stack({"blue": 100, "green": 0}, kind="frontDoor", ttl=300)
    assert PulumiTrafficRouter("prod", stack_factory=lambda: EngineStack(stack)).dns_ttl() == 0.0
