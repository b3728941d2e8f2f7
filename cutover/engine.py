"""The cutover as a pure state machine: state in, observation in, next state out.

Why pure: the dangerous part of a cutover is deciding — which weights next,
when a step has passed, where a rollback goes, what a resumed run must redo,
whether blue may go. Keeping every decision here, free of clocks, sockets and
sleeps, lets the tests walk every path (including a kill between any two
transitions) in milliseconds. :mod:`cutover.runner` performs the actions and
feeds the observations back; :mod:`cutover.store` persists each state.

The phases::

    SHIFTING(i) --weights applied--> HOLDING(i) --gates pass, hold over--> SHIFTING(i+1) ... DONE
                                        |  gates fail (any time in the hold)
                                        v
                              ROLLING_BACK(w) --weights applied--> ROLLED_BACK
    DONE --(soak, healthy, blue at 0)--> DECOMMISSIONED

``SHIFTING`` and ``ROLLING_BACK`` carry the weights *intended*, persisted
before the router is touched; applying weights is idempotent, so a run killed
in either phase re-applies them on resume. A run killed while ``HOLDING``
restarts that step's hold: the observation window must be whole to count.
"""
from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from typing import Any

from cutover.errors import StateError
from cutover.plan import Plan, RollbackTo, format_duration

STATE_VERSION = 1


class Phase(str, enum.Enum):
    SHIFTING = "shifting"
    HOLDING = "holding"
    ROLLING_BACK = "rolling_back"
    DONE = "done"
    ROLLED_BACK = "rolled_back"
    DECOMMISSIONED = "decommissioned"


TERMINAL = frozenset({Phase.DONE, Phase.ROLLED_BACK, Phase.DECOMMISSIONED})


@dataclasses.dataclass(frozen=True)
class GateResult:
    """One gate's verdict on one evaluation.

    Attributes:
        gate: the gate's name (``http:https://green/healthz`` unless named).
        ok: whether green passed.
        detail: what was measured against what threshold, for people.
        value: the measured number (p95 seconds, error ratio, ready count), None when nothing was measured.
        threshold: what ``value`` is judged against (the p95 limit, the highest error ratio, the replicas
            wanted), None when the gate has no number to compare; the cutover report draws both.
    """

    gate: str
    ok: bool
    detail: str
    value: float | None = None
    threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class StepRecord:
    """How one step ended: ``passed`` or ``failed``, with the gate results that decided it."""

    index: int
    green: int
    outcome: str
    gates: tuple[Mapping[str, Any], ...]
    at: float

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "green": self.green, "outcome": self.outcome,
                "gates": [dict(g) for g in self.gates], "at": self.at}


@dataclasses.dataclass(frozen=True)
class CutoverState:
    """Everything needed to continue, roll back or report a cutover; persisted after every transition.

    Attributes:
        plan: the request (persisted so a resume does the same thing).
        phase: see the module docstring.
        step: index into ``plan.steps`` of the step being applied or held.
        last_good: index of the last step whose gates passed, -1 before any.
        green_weight: green's weight the router last confirmed; None before the first change.
        rollback_weight: green's weight a ``ROLLING_BACK`` phase is moving to.
        failed_gates: the gate results that caused the last rollback.
        reason: why the run is in its phase, for people (``gate http:… failed at step 2 (50%)``).
        records: how each finished step ended.
        started_at, updated_at: wall-clock seconds.
        finished_at: when a terminal phase (or, for DONE, full cutover) was reached; None before.
        resumes: how many times the run was resumed.
        frozen: whether this run froze blue (so a rollback knows to unfreeze it).
    """

    plan: Plan
    phase: Phase
    step: int = 0
    last_good: int = -1
    green_weight: int | None = None
    rollback_weight: int | None = None
    failed_gates: tuple[Mapping[str, Any], ...] = ()
    reason: str = ""
    records: tuple[StepRecord, ...] = ()
    started_at: float = 0.0
    updated_at: float = 0.0
    finished_at: float | None = None
    resumes: int = 0
    frozen: bool = False

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL

    def to_dict(self) -> dict[str, Any]:
        return {"version": STATE_VERSION, "plan": self.plan.to_dict(), "phase": self.phase.value, "step": self.step,
                "last_good": self.last_good, "green_weight": self.green_weight,
                "rollback_weight": self.rollback_weight, "failed_gates": [dict(g) for g in self.failed_gates],
                "reason": self.reason, "records": [r.to_dict() for r in self.records],
                "started_at": self.started_at, "updated_at": self.updated_at, "finished_at": self.finished_at,
                "resumes": self.resumes, "frozen": self.frozen}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CutoverState:
        """Rebuild a persisted state.

        Raises:
            StateError: the document is of another version or misses fields.
        """
        if d.get("version") != STATE_VERSION:
            raise StateError(f"state file version {d.get('version')!r} is not {STATE_VERSION}",
                             fix="finish or roll back that cutover with the akshift version that started it")
        try:
            return cls(plan=Plan.from_dict(d["plan"]), phase=Phase(d["phase"]), step=int(d["step"]),
                       last_good=int(d["last_good"]), green_weight=d["green_weight"],
                       rollback_weight=d["rollback_weight"], failed_gates=tuple(d["failed_gates"]),
                       reason=d["reason"],
                       records=tuple(StepRecord(r["index"], r["green"], r["outcome"], tuple(r["gates"]), r["at"])
                                     for r in d["records"]),
                       started_at=d["started_at"], updated_at=d["updated_at"], finished_at=d["finished_at"],
                       resumes=int(d["resumes"]), frozen=bool(d["frozen"]))
        except (KeyError, TypeError, ValueError) as e:
            raise StateError(f"state file is incomplete or malformed ({e.__class__.__name__}: {e})",
                             fix="restore it from the JSON-lines log or run `akshift rollback --router …`") from e


# --------------------------------------------------------------------------- transitions


def start(plan: Plan, now: float, *, frozen: bool = False) -> CutoverState:
    """A new cutover, about to apply its first step."""
    return CutoverState(plan=plan, phase=Phase.SHIFTING, started_at=now, updated_at=now, frozen=frozen)


def intended_weights(state: CutoverState) -> dict[str, int] | None:
    """The weights the router must be set to next, or None when the run is holding or finished.

    >>> from cutover.plan import Plan
    >>> s = start(Plan("blue", "green", (0, 10, 100), 60, ("http:http://g/",), {"kind": "haproxy"}), 0.0)
    >>> intended_weights(s)
    {'blue': 100, 'green': 0}
    """
    if state.phase is Phase.SHIFTING:
        return state.plan.weights(state.plan.steps[state.step])
    if state.phase is Phase.ROLLING_BACK:
        return state.plan.weights(state.rollback_weight or 0)
    return None


def weights_applied(state: CutoverState, now: float) -> CutoverState:
    """The router confirmed :func:`intended_weights`: start holding, or finish the rollback.

    Raises:
        StateError: the state was not changing weights.
    """
    if state.phase is Phase.SHIFTING:
        return dataclasses.replace(state, phase=Phase.HOLDING, green_weight=state.plan.steps[state.step],
                                   updated_at=now)
    if state.phase is Phase.ROLLING_BACK:
        return dataclasses.replace(state, phase=Phase.ROLLED_BACK, green_weight=state.rollback_weight or 0,
                                   updated_at=now, finished_at=now)
    raise StateError(f"weights applied while {state.phase.value}")


def rollback_target(state: CutoverState) -> int:
    """Green's weight after an automatic rollback (see :class:`~cutover.plan.RollbackTo`).

    ``last-good`` never goes *up*: if the last good step is not below the
    current one (it cannot be, but a hand-edited state might say so), blue.
    """
    if state.plan.rollback_to is RollbackTo.LAST_GOOD and state.last_good >= 0:
        good = state.plan.steps[state.last_good]
        if good < state.plan.steps[state.step]:
            return good
    return 0


def gates_judged(state: CutoverState, results: Sequence[GateResult], *, hold_over: bool, now: float) -> CutoverState:
    """Fold one evaluation of every gate into the state.

    Any failure rolls back at once, whenever in the hold it happens. All
    passing advances only when the hold is over (the last evaluation of a hold
    is the one recorded for the step).

    Raises:
        StateError: the state was not holding.
    """
    if state.phase is not Phase.HOLDING:
        raise StateError(f"gates judged while {state.phase.value}")
    green = state.plan.steps[state.step]
    failed = [r for r in results if not r.ok]
    gates = tuple(r.to_dict() for r in results)
    if failed:
        record = StepRecord(state.step, green, "failed", gates, now)
        names = ", ".join(r.gate for r in failed)
        return dataclasses.replace(
            state, phase=Phase.ROLLING_BACK, rollback_weight=rollback_target(state),
            failed_gates=tuple(r.to_dict() for r in failed), records=(*state.records, record),
            reason=f"gate {names} failed at step {state.step + 1} of {len(state.plan.steps)} (green {green}%)",
            updated_at=now)
    if not hold_over:
        return state
    record = StepRecord(state.step, green, "passed", gates, now)
    if state.step == len(state.plan.steps) - 1:
        return dataclasses.replace(state, phase=Phase.DONE, last_good=state.step, records=(*state.records, record),
                                   reason=f"every step passed; green at {green}%", updated_at=now, finished_at=now)
    return dataclasses.replace(state, phase=Phase.SHIFTING, step=state.step + 1, last_good=state.step,
                               records=(*state.records, record), updated_at=now)


def request_rollback(state: CutoverState, reason: str, now: float) -> CutoverState:
    """``akshift rollback``: all traffic back to blue, from any phase but decommissioned.

    Idempotent: rolling back a rolled-back run re-applies blue 100%, which
    repairs a switch someone changed by hand.

    Raises:
        StateError: blue was already decommissioned.
    """
    if state.phase is Phase.DECOMMISSIONED:
        raise StateError(f"{state.plan.blue} was decommissioned; there is nothing to roll back to",
                         fix=f"send traffic with the switch directly, or build {state.plan.blue} again")
    return dataclasses.replace(state, phase=Phase.ROLLING_BACK, rollback_weight=0, reason=reason, updated_at=now,
                               finished_at=None)


def resume(state: CutoverState, now: float) -> CutoverState:
    """The state a resumed run continues from.

    A hold that was interrupted starts again from its weights: an observation
    window only counts when it is whole. Changing phases are kept (their
    weights are re-applied, which is idempotent); finished runs are unchanged.
    """
    if state.terminal:
        return state
    phase = Phase.SHIFTING if state.phase is Phase.HOLDING else state.phase
    return dataclasses.replace(state, phase=phase, resumes=state.resumes + 1, updated_at=now)


def decommission_refusals(state: CutoverState, live_weights: Mapping[str, int], health: Sequence[GateResult], *,
                          now: float, soak_seconds: float) -> list[str]:
    """Every reason blue may not be decommissioned now (empty: it may).

    Blue goes only when the cutover is DONE with blue at 0% — in the state *and*
    on the live switch, since someone may have changed it by hand — green is
    healthy on every gate right now, and the soak time since the cutover
    finished has passed.
    """
    blue = state.plan.blue
    out = []
    if state.phase is Phase.DECOMMISSIONED:
        return [f"{blue} is already decommissioned"]
    if state.phase is not Phase.DONE:
        out.append(f"the cutover is {state.phase.value}, not done")
    elif state.green_weight != 100:
        out.append(f"the cutover finished with {state.plan.green} at {state.green_weight}%, so {blue} still has "
                   f"{100 - (state.green_weight or 0)}%")
    live_blue = live_weights.get(blue)
    if live_blue is None:
        out.append(f"the switch has no endpoint {blue!r}")
    elif live_blue > 0:
        out.append(f"{blue} still has weight {live_blue} on the switch")
    for r in health:
        if not r.ok:
            out.append(f"{state.plan.green} is unhealthy: gate {r.gate}: {r.detail}")
    if not health:
        out.append(f"no gate to prove {state.plan.green} healthy")
    if state.phase is Phase.DONE and state.finished_at is not None:
        soaked = now - state.finished_at
        if soaked < soak_seconds:
            out.append(f"soak time not over: {_human(soaked)} of {_human(soak_seconds)} since the cutover finished")
    return out


def decommissioned(state: CutoverState, now: float) -> CutoverState:
    return dataclasses.replace(state, phase=Phase.DECOMMISSIONED, reason=f"{state.plan.blue} decommissioned",
                               updated_at=now)


_human = format_duration  # the soak message reads like the --soak it compares with


def summary(state: CutoverState) -> dict[str, Any]:
    """The end-of-run summary, for ``--output json`` and (rendered) for people."""
    plan = state.plan
    return {
        "phase": state.phase.value,
        "from": plan.blue,
        "to": plan.green,
        "weights": plan.weights(state.green_weight) if state.green_weight is not None else None,
        "steps": [{"index": i, "green": w,
                   "outcome": next((r.outcome for r in reversed(state.records) if r.index == i), "not run")}
                  for i, w in enumerate(plan.steps)],
        "failed_gates": [dict(g) for g in state.failed_gates],
        "reason": state.reason,
        "resumes": state.resumes,
        "frozen": state.frozen,
        "records": [r.to_dict() for r in state.records],
    }
