"""One recording harness for component tests with ``pulumi.runtime.set_mocks``.

Why shared: every component test needs the same thing — run a program against
mocks, and read back each RegisterResource request (type, name, parent,
protection, dependencies) with the inputs the mocks received. Each test file
supplies only what differs: how its fake Azure answers (``state``).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks

# (type token, logical name, inputs) → (resource id, output state)
StateFn = Callable[[str, str, dict[str, Any]], tuple[str, dict[str, Any]]]


@dataclasses.dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]
    parent: str  # the parent's type token ("" for none)
    protect: bool
    retain_on_delete: bool
    dependencies: list[str]


def echo_state(typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Default fake: outputs are the inputs, the id is derived from the name."""
    return f"{name}-id", dict(inputs)


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self, state: StateFn = echo_state) -> None:
        self.state = state
        self.inputs: dict[tuple[str, str], dict[str, Any]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.inputs[(args.typ, args.name)] = dict(args.inputs)
        return self.state(args.typ, args.name, dict(args.inputs))

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.requests: list[Any] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC name
        self.requests.append(request)
        return super().RegisterResource(request)


def run(program: Callable[[], Any], state: StateFn = echo_state, *, stack: str = "test") -> list[Registered]:
    """Run ``program`` against recording mocks; return every registered resource but the stack."""
    mocks = RecordingMocks(state)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="akshift", stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.test(program)()
    return [Registered(r.type, r.name, mocks.inputs.get((r.type, r.name), {}),
                       r.parent.split("::")[2].split("$")[-1] if r.parent else "", bool(r.protect),
                       bool(getattr(r, "retainOnDelete", False)), list(r.dependencies))
            for r in monitor.requests if r.type != "pulumi:pulumi:Stack"]
