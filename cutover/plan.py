"""What a cutover is asked to do: the names, the weight steps, the hold, the gates, where the weights live.

Why a frozen value parsed once: the plan is persisted with the state, and a
resumed run must do exactly what the interrupted one was asked to do. So the
command line is parsed into a :class:`Plan` by pure functions that raise
:class:`~cutover.errors.PlanError` naming the option at fault, and a resume
compares the plan it is given with the persisted one (:func:`differences`).
"""
from __future__ import annotations

import dataclasses
import enum
import itertools
import re
from collections.abc import Mapping, Sequence
from typing import Any

from cutover.errors import PlanError

# One duration syntax for every duration option of every command (akshift.options.duration_option): Go's
# time.ParseDuration units in decreasing order, each at most once (``1h30m``, ``90s``, ``500ms``, ``2d``), or a
# bare number of seconds. Go's syntax because kubectl, Pulumi and Prometheus users already write it.
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)")
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_UNIT_ORDER = tuple(_UNIT_SECONDS)
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class RollbackTo(str, enum.Enum):
    """Where an automatic rollback sends traffic.

    ``blue`` (default): all of it back to blue, in one weight change. A failed
    gate is evidence against green *now*; blue is frozen and untouched, so it is
    the one known-good place. ``last-good``: back to the last step whose gates
    passed, for failures that depend on load (green copes with 10% but not
    50%); ``akshift rollback`` then finishes the job if needed.
    """

    BLUE = "blue"
    LAST_GOOD = "last-good"


def parse_duration(text: str, option: str = "--hold") -> float:
    """Seconds in a duration: ``90s``, ``5m``, ``1h30m``, ``24h``, ``1.5h``, ``250ms``, ``2d`` (a bare number is seconds).

    The one parser behind every duration akshift reads (every command's duration
    options through :func:`akshift.options.duration`, gate keys such as
    ``p95=300ms``): units in decreasing order, each at most once, so
    :func:`format_duration` output always parses back.

    >>> parse_duration("5m"), parse_duration("1s"), parse_duration("250ms"), parse_duration("3")
    (300.0, 1.0, 0.25, 3.0)
    >>> parse_duration("1h30m"), parse_duration("2d12h"), parse_duration("1m30.5s")
    (5400.0, 216000.0, 90.5)

    Args:
        text: what the user wrote.
        option: the option or key it came from, named in the error.

    Returns:
        The duration in seconds (non-negative).

    Raises:
        PlanError: the text is not a duration (the message names ``option`` and quotes the text).
    """
    t = (text or "").strip()
    bad = PlanError(f"{option} {text!r} is not a duration", fix="write it like 90s, 5m, 1h30m, 24h or 500ms")
    if re.fullmatch(r"\d+(?:\.\d+)?", t):
        return float(t)
    pos, total, last = 0, 0.0, -1
    for m in _DURATION_PART.finditer(t):
        if m.start() != pos:
            raise bad
        rank = _UNIT_ORDER.index(m.group(2))
        if rank <= last:
            raise PlanError(f"{option} {text!r}: units must go from largest to smallest, each once",
                            fix="write it like 1h30m or 2m30s")
        last, pos = rank, m.end()
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    if pos == 0 or pos != len(t):
        raise bad
    return total


def format_duration(seconds: float) -> str:
    """A duration for people, in the syntax :func:`parse_duration` reads: ``3h05m``, ``12m30s``, ``45s``, ``250ms``.

    >>> format_duration(11100), format_duration(750), format_duration(45.2), format_duration(0.25)
    ('3h05m', '12m30s', '45s', '250ms')
    """
    if 0 < seconds < 1:
        return f"{round(seconds * 1000)}ms"
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def parse_steps(text: str) -> tuple[int, ...]:
    """Green's weight (percent) at each step, from ``0,10,50,100``.

    >>> parse_steps("0,10,50,100")
    (0, 10, 50, 100)

    Raises:
        PlanError: a value is not an integer in 0..100, or the steps do not strictly increase.
    """
    try:
        steps = tuple(int(s) for s in text.split(","))
    except ValueError as e:
        raise PlanError(f"--steps {text!r} must be comma-separated integers", fix="write it like 0,10,50,100") from e
    validate_steps(steps)
    return steps


def validate_steps(steps: Sequence[int]) -> None:
    """Check that steps are percentages that strictly increase (a cutover only moves towards green).

    Raises:
        PlanError: naming the offending value.
    """
    if not steps:
        raise PlanError("--steps is empty", fix="give at least one weight, such as 0,10,50,100")
    for s in steps:
        if not 0 <= s <= 100:
            raise PlanError(f"--steps: {s} is not a percentage (0..100)")
    for a, b in itertools.pairwise(steps):
        if b <= a:
            raise PlanError(f"--steps must strictly increase: {b} follows {a}",
                            fix="a cutover only moves towards green; use `akshift rollback` to go back")


@dataclasses.dataclass(frozen=True)
class Plan:
    """One cutover request, as persisted with its state.

    Attributes:
        blue: name of the cluster traffic leaves (a router endpoint/server name).
        green: name of the cluster traffic moves to.
        steps: green's weight in percent at each step; blue gets the rest.
        hold_seconds: how long each step is held and observed before it passes.
        gate_interval_seconds: how often gates are evaluated during a hold (a
            failure mid-hold rolls back at once rather than at the end of the hold).
        gates: gate specs as given (``http:URL,...``), parsed by :mod:`cutover.gates`.
        rollback_to: where an automatic rollback sends traffic.
        router: how to reach the switch (``{"kind": "haproxy", ...}``), see :func:`cutover.routers.from_spec`.
        blue_kube: ``{"kubeconfig": path, "context": name}`` (or ``{"stack": name, …}``: its output is read
            again on resume, never stored) of blue for the freeze, or None (no freeze).
        green_kube: the same for green (readiness gates, the single-writer check), or None.
    """

    blue: str
    green: str
    steps: tuple[int, ...]
    hold_seconds: float
    gates: tuple[str, ...]
    router: Mapping[str, Any]
    rollback_to: RollbackTo = RollbackTo.BLUE
    gate_interval_seconds: float = 10.0
    blue_kube: Mapping[str, Any] | None = None
    green_kube: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        for option, name in (("--from", self.blue), ("--to", self.green)):
            if not _NAME.match(name or ""):
                raise PlanError(f"{option} {name!r} is not a valid name", fix="use lowercase letters, digits and '-'")
        if self.blue == self.green:
            raise PlanError(f"--from and --to are both {self.blue!r}", fix="name two different clusters")
        validate_steps(self.steps)
        if self.hold_seconds <= 0:
            raise PlanError("--hold must be positive", fix="hold each step long enough to observe green, such as 5m")
        if self.gate_interval_seconds <= 0:
            raise PlanError("--gate-interval must be positive")
        if not self.gates:
            raise PlanError("no --gate given", fix="a cutover without gates cannot roll back on its own; add at "
                                                    "least one, such as --gate http:https://green.example/healthz")

    def weights(self, green: int) -> dict[str, int]:
        """The router weights that give green ``green`` percent."""
        return {self.blue: 100 - green, self.green: green}

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["steps"] = list(self.steps)
        d["gates"] = list(self.gates)
        d["rollback_to"] = self.rollback_to.value
        d["router"] = dict(self.router)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Plan:
        return cls(blue=d["blue"], green=d["green"], steps=tuple(d["steps"]), hold_seconds=float(d["hold_seconds"]),
                   gates=tuple(d["gates"]), router=dict(d["router"]), rollback_to=RollbackTo(d["rollback_to"]),
                   gate_interval_seconds=float(d["gate_interval_seconds"]),
                   blue_kube=d.get("blue_kube"), green_kube=d.get("green_kube"))


def differences(persisted: Plan, requested: Plan) -> list[str]:
    """What a ``--resume`` request changes from the persisted plan (empty: it is the same cutover).

    Only what decides the traffic (names, steps, hold, gates, rollback target and
    the switch) must match; kubeconfig paths may move between runs.

    >>> p = Plan("blue", "green", (0, 50, 100), 60, ("http:http://g/healthz",), {"kind": "haproxy"})
    >>> differences(p, dataclasses.replace(p, steps=(0, 100)))
    ['--steps: persisted 0,50,100, requested 0,100']
    """
    out = []
    pairs = [("--from", persisted.blue, requested.blue), ("--to", persisted.green, requested.green),
             ("--steps", ",".join(map(str, persisted.steps)), ",".join(map(str, requested.steps))),
             ("--hold", persisted.hold_seconds, requested.hold_seconds),
             ("--gate", list(persisted.gates), list(requested.gates)),
             ("--rollback-to", persisted.rollback_to.value, requested.rollback_to.value),
             ("--router", dict(persisted.router), dict(requested.router))]
    for option, a, b in pairs:
        if a != b:
            out.append(f"{option}: persisted {a}, requested {b}")
    return out
