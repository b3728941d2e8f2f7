"""The cutover driver: performs what :mod:`cutover.engine` decides, persists and logs each transition.

Why shaped so: every effect (router, gates, clock, sleep, Kubernetes clients)
is passed in through :class:`Session`, so the same loop runs the sandbox
(HAProxy), Azure (Pulumi) and the unit tests (fakes, a fake clock). The loop
itself is small — apply the intended weights, or hold and judge — because
deciding is the engine's job.

Order of effects, chosen for what a kill at any instant leaves behind:
the state saying *what is about to happen* (``SHIFTING`` with its weights,
``ROLLING_BACK``) is saved before the router is touched; the state saying it
*happened* is saved after the router confirmed. So a resumed run re-applies
at most one idempotent weight change and never skips one.

An emergency ``akshift rollback`` while a cutover runs does not fight it for
the state: it drops a request file that the running cutover picks up within
half a second and acts on itself (:meth:`CutoverStore` is single-writer).
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cutover import engine, freeze, preflight
from cutover.engine import CutoverState, GateResult, Phase
from cutover.errors import CutoverError, PreflightError, RefusedError, RouterError, StateError
from cutover.plan import Plan
from cutover.routers import Router
from cutover.store import CutoverStore

POLL_SECONDS = 0.5  # how often a hold looks for a rollback request; also the finest sleep
ROUTER_ATTEMPTS = 4


@dataclasses.dataclass(frozen=True)
class HoldView:
    """What a hold looks like right now, for a live view: the step, the weights, the countdown, the last results.

    Attributes:
        step: index of the step held; steps: how many steps the plan has.
        weights: the weights set for this step.
        seconds_left: until the hold is over; hold_seconds: its length.
        next_check_seconds: until the next gate evaluation.
        results: the last evaluation of every gate (empty before the first).
    """

    step: int
    steps: int
    weights: Mapping[str, int]
    seconds_left: float
    hold_seconds: float
    next_check_seconds: float
    results: tuple[GateResult, ...] = ()


@dataclasses.dataclass
class Session:
    """What a cutover run touches.

    Attributes:
        store: the state directory.
        router: the switch.
        gates: evaluates every gate once (``GateSet``); None for runs that never hold (rollback).
        blue_kube, green_kube: API clients (None when not given).
        report: called with every logged event (the CLI prints them).
        tick: called with a :class:`HoldView` at every poll of a hold (the CLI's live view).
        clock: wall-clock seconds (persisted times); monotonic: for holds; sleep: for waiting.
    """

    store: CutoverStore
    router: Router
    gates: Any = None
    blue_kube: Any = None
    green_kube: Any = None
    report: Callable[[dict[str, Any]], None] = lambda e: None
    tick: Callable[[HoldView], None] = lambda v: None
    clock: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def log(self, event: str, **fields: Any) -> None:
        self.report(self.store.log(event, **fields))

    def save(self, state: CutoverState) -> CutoverState:
        self.store.save(state)
        return state


# --------------------------------------------------------------------------- preflight and start


def run_preflight(plan: Plan, s: Session, *, verify_report: Path, allow_multi_writer: Sequence[str] = (),
                  sync_status: Path | None = None) -> list[preflight.Check]:
    """Every check that needs no change to anything (the freeze comes after, only if all pass).

    ``sync_status`` is the run's ``sync-status.json`` for the ``green-in-sync`` check (None: not checked).

    Raises:
        RouterError: the switch cannot be read.
    """
    checks = [preflight.check_verify_report(verify_report, s.clock()),
              preflight.check_dns_ttl(s.router.dns_ttl(), plan.hold_seconds),
              preflight.check_start_weights(s.router.weights(), plan)]
    if sync_status is not None:
        checks.append(preflight.check_sync(sync_status, s.clock()))
    auth = _authenticate(s)
    if auth is not None:
        checks.append(auth)
    if s.blue_kube is not None and s.green_kube is not None:
        def sts(client: Any) -> list[dict[str, Any]]:
            return list(client.list(client.resource_for("apps/v1", "StatefulSet")))

        checks.append(preflight.check_single_writers(sts(s.blue_kube), sts(s.green_kube), allow_multi_writer))
    else:
        checks.append(preflight.Check("single-writer", True, "not checked: needs --blue-kubeconfig and "
                                                             "--green-kubeconfig"))
    return checks


def _authenticate(s: Session) -> preflight.Check | None:
    """The ``gates-authenticate`` check: every gate that takes a bearer token gets one now (None: no gate does)."""
    authenticate = getattr(s.gates, "authenticate", None)
    if authenticate is None:
        return None
    try:
        sources = authenticate()
    except CutoverError as e:
        return preflight.Check("gates-authenticate", False, e.headline(), e.fix)
    if not sources:
        return None
    return preflight.Check("gates-authenticate", True,
                           "; ".join(f"{name}: token from {source}" for name, source in sources))


def dry_run(plan: Plan, s: Session, *, verify_report: Path, allow_multi_writer: Sequence[str] = (),
            sync_status: Path | None = None) -> list[preflight.Check]:
    """Every preflight check of :func:`begin`, changing nothing: no freeze, no state, no log line.

    The freeze is shown as what would happen (a dry run must not install an admission policy on blue).

    Raises:
        RouterError: the switch cannot be read.
    """
    checks = run_preflight(plan, s, verify_report=verify_report, allow_multi_writer=allow_multi_writer,
                           sync_status=sync_status)
    if s.blue_kube is not None:
        checks.append(preflight.Check("blue-frozen", True, f"not changed (dry run): {plan.blue} would be frozen "
                                                           f"with {freeze.policy_name(plan.blue)}"))
    return checks


def begin(plan: Plan, s: Session, *, verify_report: Path, allow_multi_writer: Sequence[str] = (),
          sync_status: Path | None = None) -> CutoverState:
    """Preflight, freeze blue, and persist the new cutover's first state.

    Raises:
        PreflightError: with every check, when one fails (nothing changed; a freeze that
            was installed but not proven is removed again).
        StateError: an unfinished cutover already lives in the state directory.
    """
    if s.store.exists():
        old = s.store.load()
        if not old.terminal:
            raise StateError(f"a cutover from {old.plan.blue} to {old.plan.green} is {old.phase.value} "
                             f"in {s.store.root}", fix="add --resume to continue it, or `akshift rollback`")
        if old.phase is Phase.DECOMMISSIONED:
            raise StateError(f"{old.plan.blue} was decommissioned by the cutover in {s.store.root}",
                             fix="use another --state-dir for a new cutover")
    checks = run_preflight(plan, s, verify_report=verify_report, allow_multi_writer=allow_multi_writer,
                           sync_status=sync_status)
    if all(c.ok for c in checks) and s.blue_kube is not None:
        try:
            freeze.freeze(s.blue_kube, plan.blue, plan.green)
            checks.append(preflight.Check("blue-frozen", True, f"{plan.blue} refuses new deployments "
                                                               f"({freeze.policy_name(plan.blue)})"))
        except Exception as e:  # noqa: BLE001 - any failure to prove the freeze fails preflight, then cleans up
            checks.append(preflight.Check("blue-frozen", False, str(e), "see the message"))
            try:
                freeze.unfreeze(s.blue_kube, plan.blue, timeout=10.0)
            except Exception:  # noqa: BLE001 - best effort: the preflight error below is what matters
                pass
    elif s.blue_kube is None:
        checks.append(preflight.Check("blue-frozen", True, f"{plan.blue} NOT frozen (--no-freeze)"))
    s.log("preflight", checks=[c.to_dict() for c in checks])
    failed = [c for c in checks if not c.ok]
    if failed:
        raise PreflightError("preflight failed: " + "; ".join(f"{c.name}: {c.detail}" for c in failed),
                             fix=failed[0].fix, checks=tuple(c.to_dict() for c in checks))
    state = s.save(engine.start(plan, s.clock(), frozen=s.blue_kube is not None))
    s.log("started", plan=plan.to_dict())
    return state


def resume(s: Session) -> CutoverState:
    """Continue the persisted cutover: re-prove the freeze, restart an interrupted hold.

    Raises:
        StateError: no state to resume.
        GateAuthError: a gate cannot get its bearer token (nothing was changed).
    """
    state = s.store.load()
    if state.terminal:
        return state
    authenticate = getattr(s.gates, "authenticate", None)
    if authenticate is not None:
        authenticate()  # a gate that cannot authenticate is bad input: stop before touching anything
    if state.frozen and s.blue_kube is not None:
        freeze.freeze(s.blue_kube, state.plan.blue, state.plan.green)
    state = s.save(engine.resume(state, s.clock()))
    s.log("resumed", phase=state.phase.value, step=state.step, resumes=state.resumes)
    return state


# --------------------------------------------------------------------------- the loop


def _apply(s: Session, weights: Mapping[str, int]) -> None:
    delay = 1.0
    for attempt in range(ROUTER_ATTEMPTS):
        try:
            s.router.set_weights(weights)
            return
        except RouterError as e:
            if not e.retryable or attempt == ROUTER_ATTEMPTS - 1:
                raise
            s.log("router_retry", error=str(e), attempt=attempt + 1)
            s.sleep(delay)
            delay *= 2


def _rollback_requested(s: Session, state: CutoverState) -> CutoverState | None:
    req = s.store.take_rollback_request()
    if req is None:
        return None
    s.log("rollback_requested", reason=req)
    return s.save(engine.request_rollback(state, req, s.clock()))


def drive(state: CutoverState, s: Session) -> CutoverState:
    """Run until a terminal phase: apply intended weights, hold and judge, roll back on a failed gate.

    Raises:
        RouterError: the switch failed for good (the state says what was intended: resume or roll back).
    """
    plan = state.plan
    while not state.terminal:
        target = engine.intended_weights(state)
        if target is not None:
            _apply(s, target)
            state = s.save(engine.weights_applied(state, s.clock()))
            if state.phase is Phase.ROLLED_BACK:
                s.log("rolled_back", weights=target, reason=state.reason,
                      failed_gates=[dict(g) for g in state.failed_gates])
                state = _after_rollback(state, s)
            else:
                s.log("weights_set", step=state.step, weights=target)
            continue
        state = _hold(state, s, plan)
    if state.phase is Phase.DONE:
        s.log("done", weights=plan.weights(state.green_weight or 0))
    return state


def _hold(state: CutoverState, s: Session, plan: Plan) -> CutoverState:
    """Hold one step: evaluate every gate each interval until the hold is over or a gate fails."""
    green = plan.steps[state.step]
    if s.gates is None:
        raise StateError("holding a step needs gates")
    s.gates.begin_step()
    s.log("hold", step=state.step, green=green, seconds=plan.hold_seconds)
    end = s.monotonic() + plan.hold_seconds
    next_check = s.monotonic() + min(plan.gate_interval_seconds, plan.hold_seconds)
    weights = plan.weights(green)
    last: tuple[GateResult, ...] = ()
    while True:
        requested = _rollback_requested(s, state)
        if requested is not None:
            return requested
        now = s.monotonic()
        s.tick(HoldView(state.step, len(plan.steps), weights, max(0.0, end - now), plan.hold_seconds,
                        max(0.0, next_check - now), last))
        if now < next_check:
            s.sleep(min(POLL_SECONDS, next_check - now))
            continue
        results = s.gates.evaluate()
        last = tuple(results)
        hold_over = s.monotonic() >= end
        for r in results:
            s.log("gate", step=state.step, green=green, **r.to_dict())
        new = engine.gates_judged(state, results, hold_over=hold_over, now=s.clock())
        if new is not state:
            s.save(new)
            s.log("step", step=state.step, green=green, outcome=new.records[-1].outcome,
                  failed=[r.gate for r in results if not r.ok])
            return new
        next_check = min(s.monotonic() + plan.gate_interval_seconds, end)


def _after_rollback(state: CutoverState, s: Session) -> CutoverState:
    """Blue serves everything again: lift the freeze so the team can ship fixes to it."""
    if state.frozen and (state.green_weight or 0) == 0 and s.blue_kube is not None:
        freeze.unfreeze(s.blue_kube, state.plan.blue)
        state = s.save(dataclasses.replace(state, frozen=False, updated_at=s.clock()))
        s.log("unfrozen", cluster=state.plan.blue)
    return state


# --------------------------------------------------------------------------- rollback and decommission


def rollback(s: Session, reason: str = "manual rollback", *, wait: float = 120.0) -> CutoverState:
    """Put blue back to 100% (and unfreeze it).

    If another process is driving the cutover, ask it to (it owns the state)
    and wait until the state says rolled back; if that process ends without
    acting on the request, take the lock and do it here.

    Raises:
        StateError: no state, or the rollback did not happen within ``wait``.
    """
    s.store.load()  # no state: the caller falls back to the switch directly
    deadline = s.monotonic() + wait
    delegated = False
    while True:
        try:
            with s.store.locked():
                s.store.take_rollback_request()
                state = s.store.load()
                if delegated and state.phase is Phase.ROLLED_BACK and state.green_weight == 0:
                    return state  # the other process did it and ended
                state = s.save(engine.request_rollback(state, reason, s.clock()))
                s.log("rollback_requested", reason=reason)
                return drive(state, s)
        except StateError as e:
            if "another akshift process" not in str(e):
                raise
        if not delegated:
            s.store.request_rollback(reason)
            s.log("rollback_delegated", reason=reason)
            delegated = True
        state = s.store.load()
        if not s.store.rollback_pending() and state.phase is Phase.ROLLED_BACK and state.green_weight == 0:
            return state
        if s.monotonic() > deadline:
            raise StateError(f"the running cutover did not roll back within {wait:.0f}s",
                             fix="stop it (its state is saved) and run `akshift rollback` again")
        s.sleep(POLL_SECONDS)


def rollback_without_state(router: Router, blue: str, green: str) -> dict[str, int]:
    """Blue 100%, green 0% on the switch directly: the way back when the state directory is lost."""
    weights = {blue: 100, green: 0}
    router.set_weights(weights)
    return router.weights()


def decommission(s: Session, blue: str, *, soak_seconds: float, window_seconds: float = 30.0) -> CutoverState:
    """Take blue out of the switch for good, only when the engine finds no reason to refuse.

    Green's health is the cutover's own gates, observed over ``window_seconds``
    (error-rate gates need a window of traffic to compute a rate).

    Raises:
        RefusedError: listing every reason (blue still has weight, green unhealthy, soak not over …).
        StateError: no state, or ``blue`` is not the cutover's blue.
    """
    with s.store.locked():
        state = s.store.load()
        if blue != state.plan.blue:
            raise StateError(f"the cutover in {s.store.root} moved {state.plan.blue} to {state.plan.green}, "
                             f"not {blue}", fix=f"akshift decommission {state.plan.blue}")
        health: list[GateResult] = []
        if s.gates is not None:
            s.gates.begin_step()
            s.sleep(window_seconds)
            health = s.gates.evaluate()
        for r in health:
            s.log("gate", step=None, green=state.green_weight, **r.to_dict())
        refusals = engine.decommission_refusals(state, s.router.weights(), health, now=s.clock(),
                                                soak_seconds=soak_seconds)
        if refusals:
            s.log("decommission_refused", reasons=refusals)
            raise RefusedError(f"{blue} may not be decommissioned: " + "; ".join(refusals))
        s.router.detach(blue)
        state = s.save(engine.decommissioned(state, s.clock()))
        s.log("decommissioned", cluster=blue)
        return state


def render_summary(state: CutoverState) -> str:
    """The end-of-run summary for people: one line per step, the failed gates, what to do next."""
    d = engine.summary(state)
    lines = [f"cutover {d['from']} → {d['to']}: {d['phase']}"
             + (f" ({d['reason']})" if d["reason"] else "")]
    for st in d["steps"]:
        lines.append(f"  step {st['index'] + 1}: {d['to']} {st['green']:>3}%  {st['outcome']}")
    if d["weights"]:
        lines.append("  weights now: " + ", ".join(f"{n} {w}%" for n, w in d["weights"].items()))
    for g in d["failed_gates"]:
        lines.append(f"  FAILED gate {g['gate']}: {g['detail']}")
    if state.phase is Phase.ROLLED_BACK and (state.green_weight or 0) > 0:
        lines.append(f"  next: `akshift rollback` to send everything back to {d['from']}")
    elif state.phase is Phase.DONE:
        lines.append(f"  next: soak, then `akshift decommission {d['from']}`")
    return "\n".join(lines)
