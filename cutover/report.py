"""The cutover report: ``report.md`` in the state directory, Markdown with Mermaid pictures, written from the log.

Why from the log: ``log.jsonl`` (:mod:`cutover.store`) already holds every
weight change, every gate result with its value and threshold, every hold,
rollback and resume, with wall-clock times — the report is a pure function of
it and the state, so it can be written again at any time (``akshift cutover
report``), also for a run that was killed, and tests pin it without a clock.

What it draws, because people would rather look than read:

* the weights over time as a step chart (green and blue, percent against
  seconds since the start);
* a timeline of the holds (passed, failed, interrupted) with markers for
  rollbacks, resumes, rollback requests and the end;
* each gate's measured value against its threshold, one chart per gate that
  measures a number (p95 latency, error ratio, ready replicas).

The diagram text comes from :mod:`diagrams.mermaid`; tests draw it in
headless Chromium (:mod:`diagrams.browser`).
"""
from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from cutover.engine import CutoverState
from cutover.errors import PlanError
from cutover.gates import ErrorRateGate, Gate, HttpGate, ReadyGate, parse_gates
from cutover.plan import format_duration
from diagrams.mermaid import Line, Task, fenced, gantt, sample_steps, xychart

GREEN, BLUE, THRESHOLD = "#2e7d32", "#1565c0", "#c62828"
MARKERS = {"rolled_back": ("rollback", ("crit",)), "rollback_requested": ("rollback requested", ("crit",)),
           "rollback_delegated": ("rollback asked by another process", ("crit",)),
           "resumed": ("resume", ("active",)), "interrupted": ("interrupted", ("crit",)),
           "done": ("done", ("done",)), "unfrozen": ("blue unfrozen", ()), "decommissioned": ("blue decommissioned", ())}


def _utc(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts)) if ts else "—"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _gates_by_name(specs: Sequence[str]) -> dict[str, Gate]:
    try:
        return {g.name: g for g in parse_gates(specs)}
    except PlanError:  # a spec that no longer parses here (a CA file moved): draw its values without units
        return {}


def _unit(gate: Gate | None) -> tuple[str, float]:
    """The axis label and scale for a gate's values (p95 seconds → ms, ratios → %)."""
    if isinstance(gate, HttpGate):
        return "p95 latency (ms)", 1000.0
    if isinstance(gate, ErrorRateGate):
        return "error rate (%)", 100.0
    if isinstance(gate, ReadyGate):
        return "ready replicas", 1.0
    return "value", 1.0


def weight_changes(events: Sequence[Mapping[str, Any]], state: CutoverState) -> list[tuple[float, int]]:
    """(time, green's weight) at the start and at every confirmed change, oldest first."""
    plan = state.plan
    out: list[tuple[float, int]] = []
    start = next((e for e in events if e.get("event") in ("preflight", "started")), None)
    if start is not None:
        out.append((float(start["ts"]), 0))
    for e in events:
        if e.get("event") in ("weights_set", "rolled_back") and isinstance(e.get("weights"), Mapping):
            out.append((float(e["ts"]), int(e["weights"].get(plan.green, 0))))
    return out


def timeline(events: Sequence[Mapping[str, Any]], state: CutoverState) -> tuple[list[Task], list[Task]]:
    """The holds (bars: passed done, failed crit, interrupted active) and the markers (milestones)."""
    steps = state.plan.steps
    holds: list[Task] = []
    markers: list[Task] = []
    open_hold: Mapping[str, Any] | None = None
    last_ts = float(events[-1]["ts"]) if events else 0.0
    previous = 0.0
    for e in events:
        kind, ts = e.get("event"), float(e.get("ts", 0.0))
        if kind == "hold":
            if open_hold is not None:
                holds.append(_hold_task(open_hold, previous, "interrupted", steps))
            open_hold = e
        elif kind == "step" and open_hold is not None:
            holds.append(_hold_task(open_hold, ts, str(e.get("outcome")), steps))
            open_hold = None
        elif kind in ("rolled_back", "interrupted") and open_hold is not None:
            holds.append(_hold_task(open_hold, ts, "ended by rollback" if kind == "rolled_back" else "interrupted",
                                    steps))
            open_hold = None
        elif kind == "resumed" and open_hold is not None:  # killed: the hold ended with its last logged event
            holds.append(_hold_task(open_hold, previous, "interrupted", steps))
            open_hold = None
        if kind in MARKERS:
            name, tags = MARKERS[kind]
            markers.append(Task(name, ts, ts, tags, milestone=True))
        previous = ts
    if open_hold is not None:
        holds.append(_hold_task(open_hold, max(last_ts, float(open_hold["ts"]) + 1), "holding", steps))
    return holds, markers


def _hold_task(hold: Mapping[str, Any], end: float, outcome: str, steps: Sequence[int]) -> Task:
    step = int(hold.get("step", 0))
    tags = {"passed": ("done",), "failed": ("crit",), "holding": ("active",)}.get(outcome, ("active",))
    green = hold.get("green", steps[step] if step < len(steps) else "?")
    return Task(f"step {step + 1} ({green}%) {outcome}", float(hold["ts"]), end, tags)


def render_report(state: CutoverState, events: Sequence[Mapping[str, Any]]) -> str:
    """The whole ``report.md`` text (see the module docstring).

    Args:
        state: the persisted state (its plan names the clusters, steps and gates).
        events: the persisted log, oldest first.

    Returns:
        Markdown with fenced Mermaid blocks.
    """
    plan = state.plan
    events = [e for e in events if isinstance(e.get("ts"), (int, float))]
    t0 = float(events[0]["ts"]) if events else state.started_at
    t1 = float(events[-1]["ts"]) if events else state.updated_at
    span = max(t1 - t0, 1.0)
    lines = [f"# Cutover {plan.blue} → {plan.green}: {state.phase.value.replace('_', ' ')}", ""]
    lines += ["| | |", "|---|---|",
              f"| phase | {_cell(state.phase.value.replace('_', ' '))} |",
              f"| steps ({plan.green}'s weight) | {', '.join(f'{w}%' for w in plan.steps)} |",
              f"| hold | {format_duration(plan.hold_seconds)} per step, gates every "
              f"{format_duration(plan.gate_interval_seconds)} |",
              "| weights now | " + (", ".join(f"{n} {w}%" for n, w in plan.weights(state.green_weight).items())
                                    if state.green_weight is not None else "not set yet") + " |",
              f"| started | {_utc(state.started_at)} |",
              f"| finished | {_utc(state.finished_at)} |",
              f"| resumes | {state.resumes} |"]
    if state.reason:
        lines.append(f"| why | {_cell(state.reason)} |")
    lines.append("")

    changes = weight_changes(events, state)
    lines += ["## Weights over time", ""]
    if changes:
        rel = [(t - t0, g) for t, g in changes]
        green = sample_steps(rel, 0.0, span)
        lines += [fenced(xychart(f"{plan.green} and {plan.blue} weights", "seconds since the cutover started",
                                 (0, round(span, 1)), "weight (%)", (0, 100),
                                 [Line(plan.green, green), Line(plan.blue, [100 - g for g in green])],
                                 [GREEN, BLUE])), "",
                  f"Green line: {plan.green}; blue line: {plan.blue}. Each vertical edge is one confirmed weight "
                  "change (a step, or a rollback).", ""]
    else:
        lines += ["No weight was changed yet.", ""]

    holds, markers = timeline(events, state)
    lines += ["## Timeline: holds, rollbacks, resumes", ""]
    if holds or markers:
        lines += [fenced(gantt(f"cutover {plan.blue} to {plan.green} (UTC)",
                               [("holds", holds), ("events", markers)])), "",
                  "Bars are holds (grey: passed, red: failed, blue: interrupted or running); diamonds mark "
                  "rollbacks, rollback requests, resumes and the end.", ""]
    else:
        lines += ["Nothing happened yet.", ""]

    lines += ["## Gates", ""]
    gates = _gates_by_name(plan.gates)
    results: dict[str, list[Mapping[str, Any]]] = {}
    for e in events:
        if e.get("event") == "gate" and e.get("gate"):
            results.setdefault(str(e["gate"]), []).append(e)
    if not results:
        lines += ["No gate was evaluated yet.", ""]
    for name, rs in results.items():
        gate = gates.get(name)
        label, scale = _unit(gate)
        failed = [r for r in rs if not r.get("ok")]
        lines += [f"### {name}", "",
                  f"{len(rs)} evaluations, {len(failed)} failed."]
        measured = [r for r in rs if isinstance(r.get("value"), (int, float))]
        threshold = next((r.get("threshold") for r in reversed(rs) if isinstance(r.get("threshold"), (int, float))),
                         None)
        if len(measured) < len(rs):
            lines.append(f"{len(rs) - len(measured)} evaluations measured no value (a failed gate each).")
        lines.append("")
        if measured:
            values = [float(r["value"]) * scale for r in measured]
            series = [Line(name, values)]
            colors = [GREEN]
            top = max(values)
            if threshold is not None:
                series.append(Line("threshold", [float(threshold) * scale] * len(values)))
                colors.append(THRESHOLD)
                top = max(top, float(threshold) * scale)
            lines += [fenced(xychart(f"{name}: measured against its threshold", "evaluation",
                                     (1, max(len(values), 2)), label, (0, _nice(top * 1.1)), series, colors)), "",
                      "Green line: measured value" + ("; red line: the threshold (for ready replicas: the "
                                                      "replicas wanted)." if threshold is not None else "."), ""]
        if failed:
            lines += ["| when | step | detail |", "|---|---|---|"]
            for r in failed[-5:]:
                step = r.get("step")
                lines.append(f"| {_utc(r.get('ts'))} | {int(step) + 1 if isinstance(step, int) else '—'} | "
                             f"{_cell(r.get('detail', ''))} |")
            lines.append("")

    lines += ["## Steps", "", "| step | " + plan.green + " | outcome | at |", "|---|---|---|---|"]
    for rec in state.records:
        lines.append(f"| {rec.index + 1} | {rec.green}% | {rec.outcome} | {_utc(rec.at)} |")
    if not state.records:
        lines.append("| — | — | no step finished yet | — |")
    lines.append("")
    return "\n".join(lines)


def _nice(v: float) -> float:
    """A round axis maximum at or above ``v`` (1, 2, 5 × a power of ten).

    >>> _nice(0.0), _nice(3.3), _nice(110), _nice(0.011)
    (1.0, 5.0, 200.0, 0.02)
    """
    if v <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 5, 10):
        if m * power >= v - 1e-12:
            return float(round(m * power, 12))
    return float(10 * power)
