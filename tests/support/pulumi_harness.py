"""One recording harness for component tests with ``pulumi.runtime.set_mocks``.

Why shared: every component test needs the same thing — run a program against
mocks, and read back each RegisterResource request (type, name, parent,
protection, ignoreChanges, import ID, dependencies) with the inputs the mocks
received. Each test file supplies only what differs: how its fake Azure
answers resources (``state``) and invokes (``calls``: the live cluster a
``getManagedCluster`` returns, credentials), and the stack's previous outputs
(``stack_outputs``, what a StackReference and the engine's ``readStackOutputs``
invoke read).

Inputs are kept as the engine serialised them (``inputs``: secrets wrapped, so
a test can check a value is sent as a secret) and unwrapped (``plain``: what
Azure receives).
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

# (type token, logical name, inputs) → (resource id, output state)
StateFn = Callable[[str, str, dict[str, Any]], tuple[str, dict[str, Any]]]
# (invoke token, args) → result, or (result, [(property, reason)]) to fail the invoke as the engine would
CallFn = Callable[[str, dict[str, Any]], Any]


def is_secret(value: Any) -> bool:
    """True for a value the engine holds as a Pulumi secret."""
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


def plain(value: Any) -> Any:
    """``value`` with Pulumi's secret wrappers removed: the values Azure receives."""
    if is_secret(value):
        return plain(value["value"])
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


@dataclasses.dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]
    parent: str  # the parent's type token ("" for none)
    protect: bool
    retain_on_delete: bool
    dependencies: list[str]
    ignore_changes: list[str] = dataclasses.field(default_factory=list)
    provider: str = ""
    import_id: str = ""

    @property
    def plain(self) -> dict[str, Any]:
        """The inputs without secret wrappers."""
        return plain(self.inputs)


def echo_state(typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Default fake: outputs are the inputs, the id is derived from the name."""
    return f"{name}-id", dict(inputs)


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self, state: StateFn = echo_state, calls: CallFn | None = None,
                 stack_outputs: Mapping[str, Any] | None = None) -> None:
        self.state = state
        self.call_fn = calls
        self.stack_outputs = stack_outputs
        self.inputs: dict[tuple[str, str], dict[str, Any]] = {}
        self.invokes: list[tuple[str, dict[str, Any]]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.inputs[(args.typ, args.name)] = dict(args.inputs)
        if args.typ == "pulumi:pulumi:StackReference" and self.stack_outputs is not None:
            return args.name, {"name": args.inputs.get("name"), "outputs": dict(self.stack_outputs),
                               "secretOutputNames": []}
        return self.state(args.typ, args.name, dict(args.inputs))

    def call(self, args: pulumi.runtime.MockCallArgs) -> Any:
        self.invokes.append((args.token, dict(args.args)))
        if args.token == "pulumi:pulumi:readStackOutputs" and self.stack_outputs is not None:
            # The engine's built-in read of a stack's outputs: the same answer a StackReference gets.
            return {"name": args.args.get("name"), "outputs": dict(self.stack_outputs), "secretOutputNames": []}
        return self.call_fn(args.token, dict(args.args)) if self.call_fn is not None else {}


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.requests: list[Any] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC name
        self.requests.append(request)
        return super().RegisterResource(request)


class Harness:
    """One mocked Pulumi run; keeps what was registered even when the program fails."""

    def __init__(self, state: StateFn = echo_state, *, calls: CallFn | None = None,
                 stack_outputs: Mapping[str, Any] | None = None, stack: str = "test",
                 config: Mapping[str, Any] | None = None, secret_keys: Sequence[str] = ()) -> None:
        self.mocks = RecordingMocks(state, calls, stack_outputs)
        self.monitor = RecordingMonitor(self.mocks)
        self.stack = stack
        self.config = config
        self.secret_keys = list(secret_keys)

    def run(self, program: Callable[[], Any]) -> list[Registered]:
        """Run ``program``; return every registered resource but the stack (exceptions propagate)."""
        pulumi.runtime.set_mocks(self.mocks, project="akshift", stack=self.stack, preview=False,
                                 monitor=self.monitor, organization="organization")
        if self.config is not None:
            pulumi.runtime.set_all_config(
                {k: json.dumps(v) if isinstance(v, (dict, list)) else str(v) for k, v in self.config.items()},
                self.secret_keys)
        pulumi.runtime.test(program)()
        return self.registered()

    def registered(self) -> list[Registered]:
        """What the program registered so far, in order."""
        return [Registered(r.type, r.name, self.mocks.inputs.get((r.type, r.name), {}),
                           r.parent.split("::")[2].split("$")[-1] if r.parent else "", bool(r.protect),
                           bool(getattr(r, "retainOnDelete", False)), list(r.dependencies),
                           list(r.ignoreChanges), r.provider, r.importId)
                for r in self.monitor.requests if r.type != "pulumi:pulumi:Stack"]


def run(program: Callable[[], Any], state: StateFn = echo_state, *, stack: str = "test", **kwargs: Any) -> list[Registered]:
    """Run ``program`` against recording mocks; return every registered resource but the stack."""
    return Harness(state, stack=stack, **kwargs).run(program)
