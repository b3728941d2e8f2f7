"""One stand-in for an Automation API stack, for tests of the engine gateway and of what drives it.

Why shared: :class:`deploy.engine.Stack` wraps whatever has the Automation API's
method names, so the gateway, the plan guard, the Pulumi traffic router, the
Pulumi disk mover and promotion are tested without an engine by wrapping this
one fake (the runtime side, a program under ``pulumi.runtime`` mocks, is
``support/pulumi_harness.py``). It keeps config by path (as ``pulumi config set
--path`` does), emits engine events on preview (built from steps, or as recorded
in a JSON event log), answers ``up`` with outputs computed from its config (what
the deployed resources would report), records every call, and fails on request
with the Automation API's own exception types.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pulumi import automation as auto


def step_event(op: str, urn: str, type_: str, seq: int = 1) -> auto.events.EngineEvent:
    """A ``ResourcePreEvent`` as the Automation API delivers it to ``on_event``."""
    meta = {"op": op, "urn": urn, "type": type_, "provider": "", "keys": None, "diffs": None, "logical": True}
    return auto.events.EngineEvent.from_json({"sequence": seq, "timestamp": 0,
                                              "resourcePreEvent": {"metadata": meta, "planning": True}})


def command_error(stderr: str, kind: type[auto.CommandError] = auto.CommandError) -> auto.CommandError:
    """A failed engine command, as the Automation API raises it."""
    return kind(auto.CommandResult(stdout="", stderr=stderr, code=255))


class _Value:
    def __init__(self, value: Any) -> None:
        self.value = value


class FakeAutomationStack:
    """Answers like ``auto.Stack``: config by path, preview events, ``up`` results with outputs.

    Args:
        name: The stack name.
        config: Top-level config (``{"akshift:traffic": {"weights": {...}}}``), kept as objects.
        steps: (op, urn, type) of every step a preview plans.
        outputs_of: The stack's outputs after an ``up``, from its config at that moment.
        fail_on: Operation (``preview``, ``up``, ``set_config``) → exception it raises.
        events: Engine events as the JSON event log records them (``pulumi preview --event-log``), sent by a
            preview after those of ``steps``.
        changes: What an ``up`` reports it did (operation → count).
        up_events: Engine events (JSON, as recorded) an ``up`` sends to ``on_event``.
    """

    def __init__(self, name: str = "prod", config: dict[str, Any] | None = None,
                 steps: list[tuple[str, str, str]] | None = None,
                 outputs_of: Callable[[dict[str, Any]], dict[str, Any]] = lambda config: {},
                 fail_on: dict[str, BaseException] | None = None, events: list[dict[str, Any]] | None = None,
                 changes: dict[str, int] | None = None, up_events: list[dict[str, Any]] | None = None) -> None:
        self.name = name
        self.values: dict[str, Any] = json.loads(json.dumps(config or {}))
        self.steps = steps or []
        self.outputs_of = outputs_of
        self.fail_on = fail_on or {}
        self.events = [auto.events.EngineEvent.from_json(json.loads(json.dumps(e))) for e in events or []]
        self.changes = changes if changes is not None else {"update": 1}
        self.up_events = [auto.events.EngineEvent.from_json(json.loads(json.dumps(e))) for e in up_events or []]
        self.deployed: dict[str, Any] = outputs_of(self.values)
        self.calls: list[tuple[str, Any]] = []
        self.running = False

    def _maybe_fail(self, op: str) -> None:
        if op in self.fail_on:
            raise self.fail_on[op]

    # -- config by path

    def _walk(self, key: str, create: bool) -> tuple[dict[str, Any] | None, str]:
        top, _, rest = key.partition(".")
        if not rest:
            return self.values, top
        node = self.values.setdefault(top, {}) if create else self.values.get(top)
        parts = rest.split(".")
        for part in parts[:-1]:
            if not isinstance(node, dict):
                return None, parts[-1]
            node = node.setdefault(part, {}) if create else node.get(part)
        return (node if isinstance(node, dict) else None), parts[-1]

    def get_all_config(self) -> dict[str, _Value]:
        return {k: _Value(v if isinstance(v, str) else json.dumps(v)) for k, v in self.values.items()}

    def set_config(self, key: str, value: Any, *, path: bool = False) -> None:
        assert path
        self.calls.append(("set", (key, value.value)))
        self._maybe_fail("set_config")
        node, leaf = self._walk(key, create=True)
        assert node is not None
        text = value.value
        node[leaf] = int(text) if text.lstrip("-").isdigit() else text

    def remove_config(self, key: str, *, path: bool = False) -> None:
        assert path
        self.calls.append(("remove", key))
        node, leaf = self._walk(key, create=False)
        if node is None or leaf not in node:
            raise command_error(f"configuration key '{key}' not found")
        del node[leaf]

    def config_at(self, key: str) -> Any:
        """A config value by path (for assertions)."""
        node, leaf = self._walk(key, create=False)
        return None if node is None else node.get(leaf)

    # -- engine commands

    def _run(self, program: Callable[[], None] | None) -> None:
        """Run an inline program as the engine would, with the state being written meanwhile."""
        if program is None:
            return
        self.running = True
        try:
            program()
        finally:
            self.running = False

    def preview(self, *, on_event: Callable[[Any], None], color: str, plan: str | None = None,
                message: str | None = None, on_output: Any = None, program: Callable[[], None] | None = None) -> Any:
        self.calls.append(("preview", {"message": message, "plan": plan}))
        self._maybe_fail("preview")
        self._run(program)
        if plan:
            Path(plan).write_text("{}")
        summary: dict[str, int] = {}
        for event in [step_event(op, urn, typ, i) for i, (op, urn, typ) in enumerate(self.steps, 1)] + self.events:
            on_event(event)
            op = event.resource_pre_event.metadata.op.value
            summary[op] = summary.get(op, 0) + 1
        return type("PreviewResult", (), {"change_summary": summary})()

    def up(self, *, color: str, plan: str | None = None, message: str | None = None, on_output: Any = None,
           on_event: Any = None, continue_on_error: bool | None = None, parallel: int | None = None,
           program: Callable[[], None] | None = None) -> Any:
        self.calls.append(("up", {"message": message, "plan": plan, "plan_existed": bool(plan and Path(plan).exists()),
                                  "continue_on_error": continue_on_error, "parallel": parallel}))
        self._maybe_fail("up")
        self._run(program)
        for event in self.up_events if on_event is not None else ():
            on_event(event)
        self.deployed = self.outputs_of(self.values)
        summary = type("Summary", (), {"result": "succeeded", "resource_changes": dict(self.changes)})()
        return type("UpResult", (), {"summary": summary,
                                     "outputs": {k: _Value(v) for k, v in self.deployed.items()}})()

    def refresh(self, *, color: str, target: list[str] | None = None, message: str | None = None,
                on_output: Any = None) -> Any:
        self.calls.append(("refresh", {"target": target, "message": message}))
        self._maybe_fail("refresh")
        summary = type("Summary", (), {"result": "succeeded", "resource_changes": {"same": len(target or [])}})()
        return type("RefreshResult", (), {"summary": summary})()

    @property
    def ups(self) -> list[dict[str, Any]]:
        """The arguments of every ``up`` so far (for assertions)."""
        return [args for op, args in self.calls if op == "up"]

    @property
    def saved_plan(self) -> str | None:
        """The plan file the last preview saved (None before a preview with a plan)."""
        plans = [args["plan"] for op, args in self.calls if op == "preview"]
        return plans[-1] if plans else None

    def outputs(self) -> dict[str, _Value]:
        self._maybe_fail("outputs")
        # What a file backend does to a read racing the update's own writes (its metadata sidecar is rewritten in place).
        if self.running:
            raise command_error("error: failed to load checkpoint: EOF")
        return {k: _Value(v) for k, v in self.deployed.items()}
