"""What people and scripts see of a cutover: ``akshift cutover status``, the event lines, the live view of a hold.

Why a module of its own, and pure: status is read from what the cutover
persisted (``state.json`` and ``log.jsonl``, :mod:`cutover.store`) by any
process at any time — while a cutover holds a step in another terminal,
after it was killed, days after it finished — so it must not need the
router, the gates or a lock. Every text here is built from plain values, so
the tests pin the words people read, and nothing prints a Python ``dict``
repr: JSON output is JSON (``schemaVersion`` versions its shape), text
output is sentences.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cutover.engine import CutoverState, Phase
from cutover.plan import Plan, format_duration

STATUS_SCHEMA_VERSION = 1


def _weights_text(weights: Mapping[str, Any] | None) -> str:
    return ", ".join(f"{n} {w}%" for n, w in (weights or {}).items()) or "unknown"


def last_gate_results(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The latest result of each gate in the log, in the order gates first appeared."""
    latest: dict[str, dict[str, Any]] = {}
    for e in events:
        if e.get("event") == "gate" and e.get("gate"):
            latest[str(e["gate"])] = {"gate": e["gate"], "ok": bool(e.get("ok")), "detail": e.get("detail", ""),
                                      "value": e.get("value"), "threshold": e.get("threshold"),
                                      "step": e.get("step"), "at": e.get("ts")}
    return list(latest.values())


def status(state: CutoverState, events: Sequence[Mapping[str, Any]], *, now: float, running: bool) -> dict[str, Any]:
    """The status document (``akshift cutover status -o json``).

    Args:
        state: the persisted state.
        events: the persisted log, oldest first.
        now: wall-clock seconds.
        running: whether a process holds the state directory's lock (drives the cutover now).

    Returns:
        ``schemaVersion``, ``phase``, ``from``/``to``, ``step`` (index, of, green), ``weights`` (as last
        confirmed), ``hold`` (seconds, started_at, seconds_left — None unless holding), ``gates`` (the
        last result of each), ``running``, ``reason``, ``lastGood``, ``resumes``, ``frozen``, ``updatedAt``.
    """
    plan = state.plan
    hold = None
    if state.phase is Phase.HOLDING:
        started = next((e for e in reversed(events) if e.get("event") == "hold" and e.get("step") == state.step),
                       None)
        if started is not None:
            end = float(started["ts"]) + float(started.get("seconds", plan.hold_seconds))
            hold = {"seconds": plan.hold_seconds, "startedAt": started["ts"],
                    "secondsLeft": round(max(0.0, end - now), 1) if running else None}
    return {
        "schemaVersion": STATUS_SCHEMA_VERSION,
        "phase": state.phase.value,
        "from": plan.blue,
        "to": plan.green,
        "step": {"index": state.step, "of": len(plan.steps), "green": plan.steps[state.step]},
        "steps": list(plan.steps),
        "weights": plan.weights(state.green_weight) if state.green_weight is not None else None,
        "hold": hold,
        "gates": last_gate_results(events),
        "running": running,
        "reason": state.reason,
        "lastGood": state.last_good,
        "resumes": state.resumes,
        "frozen": state.frozen,
        "updatedAt": state.updated_at,
    }


def render_status(doc: Mapping[str, Any]) -> str:
    """``akshift cutover status`` for people: one sentence per fact, a line per gate."""
    step = doc["step"]
    lines = [f"cutover {doc['from']} → {doc['to']}: {doc['phase'].replace('_', ' ')}"
             + (f" ({doc['reason']})" if doc["reason"] else "")]
    lines.append(f"  step {step['index'] + 1} of {step['of']} ({doc['to']} {step['green']}%), steps "
                 + ", ".join(f"{w}%" for w in doc["steps"]))
    lines.append(f"  weights: {_weights_text(doc['weights'])}")
    hold = doc["hold"]
    if hold is not None:
        if hold["secondsLeft"] is None:
            lines.append(f"  hold of {format_duration(hold['seconds'])} interrupted: no process drives this "
                         "cutover (`akshift cutover --resume` restarts the hold, `akshift rollback` ends it)")
        else:
            lines.append(f"  hold: {format_duration(hold['secondsLeft'])} left of {format_duration(hold['seconds'])}")
    elif not doc["running"] and doc["phase"] in ("shifting", "rolling_back"):
        lines.append("  no process drives this cutover: `akshift cutover --resume` or `akshift rollback`")
    for g in doc["gates"]:
        lines.append(f"  {'ok  ' if g['ok'] else 'FAIL'} {g['gate']}: {g['detail']}")
    if not doc["gates"]:
        lines.append("  no gate evaluated yet")
    return "\n".join(lines)


def render_hold(view: Any) -> list[str]:
    """The live view of a hold (a :class:`cutover.runner.HoldView`): countdown and weights, then each gate."""
    head = (f"step {view.step + 1}/{view.steps} · {_weights_text(view.weights)} · "
            f"{format_duration(view.seconds_left)} left of {format_duration(view.hold_seconds)} · "
            f"next check in {format_duration(view.next_check_seconds)}")
    return [head] + [f"  {'ok  ' if r.ok else 'FAIL'} {r.gate}: {r.detail}" for r in view.results]


def describe_event(e: Mapping[str, Any]) -> str | None:
    """One line for people about a logged event, or None for events that need none (every gate pass).

    >>> describe_event({"event": "rolled_back", "weights": {"blue": 100, "green": 0}, "reason": "gate h failed"})
    'rolled back: blue 100%, green 0% (gate h failed)'
    """
    kind = e.get("event")
    if kind == "weights_set":
        return f"step {e['step'] + 1}: weights {_weights_text(e['weights'])}"
    if kind == "gate" and not e.get("ok"):
        return f"  gate failed {e['gate']}: {e['detail']}"
    if kind == "step":
        return f"  step {e['step'] + 1} ({e['green']}%): {e['outcome']}"
    if kind == "rolled_back":
        return f"rolled back: {_weights_text(e.get('weights'))}" + (f" ({e['reason']})" if e.get("reason") else "")
    if kind == "unfrozen":
        return f"unfrozen: {e.get('cluster')} accepts deployments again"
    if kind == "resumed":
        return f"resumed: {e.get('phase', '').replace('_', ' ')} step {int(e.get('step', 0)) + 1} " \
               f"(resume {e.get('resumes')})"
    if kind == "rollback_requested":
        return f"rollback requested: {e.get('reason')}"
    if kind == "rollback_delegated":
        return f"rollback delegated to the running cutover: {e.get('reason')}"
    if kind == "done":
        return f"done: {_weights_text(e.get('weights'))}"
    return None


def describe_router(spec: Mapping[str, Any]) -> str:
    """The switch for people: ``HAProxy backend cutover (socket /run/admin.sock)``, ``Pulumi stack prod (…)``."""
    kind = spec.get("kind")
    if kind == "haproxy":
        return f"HAProxy backend {spec.get('backend')} (admin socket {spec.get('socket')})"
    if kind == "pulumi":
        return f"Pulumi stack {spec.get('stack')} in {spec.get('work_dir')} ({spec.get('weights_key')})"
    return ", ".join(f"{k} {v}" for k, v in spec.items() if v is not None) or "unknown"


def render_plan(plan: Plan) -> str:
    """What a cutover will do, step by step, for ``--dry-run``: weights, holds, gates, rollback, freeze."""
    from cutover.gates import describe, parse_gates

    total = plan.hold_seconds * len(plan.steps)
    lines = [f"plan: {plan.blue} → {plan.green} in {len(plan.steps)} steps, holding each "
             f"{format_duration(plan.hold_seconds)} with gates every {format_duration(plan.gate_interval_seconds)} "
             f"(at least {format_duration(total)} if every gate passes)"]
    for i, w in enumerate(plan.steps):
        lines.append(f"  step {i + 1}: {_weights_text(plan.weights(w))}")
    lines.append("  gates:")
    for g in parse_gates(plan.gates):
        lines.append(f"    {describe(g)}")
    where = "all traffic back to " + plan.blue if plan.rollback_to.value == "blue" else "back to the last good step"
    lines.append(f"  a failed gate sends {where}")
    lines.append(f"  switch: {describe_router(plan.router)}")
    lines.append(f"  {plan.blue} frozen during the cutover: "
                 + ("yes (ValidatingAdmissionPolicy)" if plan.blue_kube else "no (--no-freeze)"))
    return "\n".join(lines)
