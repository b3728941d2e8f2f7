"""Where the weights live: one small ``Router`` protocol, a local HAProxy and the Pulumi-managed Azure switch.

Why a protocol: the step engine must not care whether a weight change is a
runtime-API command to a loopback HAProxy (the sandbox) or a change of the
``akshift:traffic`` stack config followed by a Pulumi ``up`` (through the
engine gateway, :mod:`deploy.engine`) that updates Azure Traffic Manager
endpoint weights or Front Door origin weights. Both
are idempotent "set these weights" operations, both can be read back, and
both are rebuilt from a small JSON spec persisted with the cutover state
(:func:`from_spec`), so ``rollback`` and ``--resume`` need nothing but the
state directory.

Blue and green are never both at 0: weights change in an order that raises
the growing side before lowering the shrinking one (:func:`change_order`).
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cutover.errors import PlanError, RouterError
from cutover.haproxy import MAX_WEIGHT, RuntimeApi
from deploy.errors import EngineError, PlanNotConfined, PlanRefused, StackBusy

if TYPE_CHECKING:  # the gateway loads the Pulumi SDK: only a Pulumi router imports it, when it runs
    from deploy.engine import Stack

#: The component a weight step may change (``components.traffic.TOKEN``; cutover never imports components).
SWITCH_TYPE = "akshift:index:TrafficSwitch"


class Router(Protocol):
    """A traffic switch between named endpoints (``blue``, ``green``) with percent weights."""

    def spec(self) -> dict[str, Any]:
        """JSON-ready description that :func:`from_spec` turns back into this router."""

    def weights(self) -> dict[str, int]:
        """The live weights by endpoint name."""

    def set_weights(self, weights: Mapping[str, int]) -> None:
        """Set (idempotently) and confirm these weights.

        Raises:
            RouterError: the switch refused or could not be reached.
        """

    def dns_ttl(self) -> float:
        """Seconds a client may keep using an old answer after a change (0 for a proxy)."""

    def detach(self, name: str) -> None:
        """Take an endpoint out of the switch for good (decommission); it must already be at 0."""


def change_order(current: Mapping[str, int], target: Mapping[str, int]) -> list[tuple[str, int]]:
    """The (name, weight) changes to make, growing endpoints first, so no instant has every weight at 0.

    >>> change_order({"blue": 50, "green": 50}, {"blue": 0, "green": 100})
    [('green', 100), ('blue', 0)]
    >>> change_order({"blue": 0, "green": 100}, {"blue": 100, "green": 0})
    [('blue', 100), ('green', 0)]
    """
    ups = [(n, w) for n, w in target.items() if w > current.get(n, 0)]
    downs = [(n, w) for n, w in target.items() if w < current.get(n, 0)]
    same = [(n, w) for n, w in target.items() if w == current.get(n, 0) and n not in current]
    return sorted(ups, key=lambda c: -c[1]) + same + sorted(downs, key=lambda c: c[1])


# --------------------------------------------------------------------------- HAProxy (sandbox)


def parse_servers_state(text: str) -> list[dict[str, str]]:
    """Rows of ``show servers state`` as dicts keyed by its header (``srv_name``, ``srv_uweight``, …).

    >>> rows = parse_servers_state("1\\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state "
    ...     "srv_uweight\\n3 cutover 1 blue 127.0.0.1 2 0 90\\n")
    >>> rows[0]["srv_name"], rows[0]["srv_uweight"]
    ('blue', '90')
    """
    header: list[str] = []
    rows = []
    for line in text.splitlines():
        if line.startswith("#"):
            header = line[1:].split()
        elif header and line.strip():
            rows.append(dict(zip(header, line.split(), strict=False)))  # a short row leaves trailing columns out
    return rows


class HaproxyRouter:
    """Weights of one HAProxy backend's servers, through the runtime API (no reload, no dropped connection).

    Args:
        socket: the admin socket path.
        backend: the backend whose servers are the endpoints (servers named like the clusters).
        state_file: where to save ``show servers state`` after each change (the path the config's
            ``server-state-file`` names), or None.
    """

    def __init__(self, socket: str | Path, backend: str = "cutover", state_file: str | Path | None = None) -> None:
        self.socket = str(socket)
        self.backend = backend
        self.state_file = str(state_file) if state_file else None
        self.api = RuntimeApi(socket)

    def spec(self) -> dict[str, Any]:
        return {"kind": "haproxy", "socket": self.socket, "backend": self.backend, "state_file": self.state_file}

    def _rows(self) -> list[dict[str, str]]:
        text = self.api.command(f"show servers state {self.backend}")
        rows = parse_servers_state(text)
        if not rows:
            raise RouterError(f"HAProxy has no backend {self.backend!r} (answer: {text.strip()[:200]!r})",
                              fix="pass the backend that holds the blue and green servers (--haproxy-backend)")
        return rows

    def weights(self) -> dict[str, int]:
        # srv_admin_state bit 0x01 (FMAINT): a server in maintenance takes no traffic whatever its weight.
        return {r["srv_name"]: 0 if int(r.get("srv_admin_state", "0")) & 1 else int(r["srv_uweight"])
                for r in self._rows()}

    def set_weights(self, weights: Mapping[str, int]) -> None:
        for name, w in weights.items():
            if not 0 <= w <= MAX_WEIGHT:
                raise RouterError(f"weight {w} for {name} is outside HAProxy's 0..{MAX_WEIGHT}")
        current = self.weights()
        missing = sorted(set(weights) - set(current))
        if missing:
            raise RouterError(f"HAProxy backend {self.backend!r} has no server {', '.join(missing)} "
                              f"(it has {', '.join(sorted(current))})",
                              fix="name the servers like --from/--to, or pass those names")
        for name, w in change_order(current, weights):
            answer = self.api.command(f"set server {self.backend}/{name} weight {w}").strip()
            if answer:
                raise RouterError(f"HAProxy refused weight {w} for {self.backend}/{name}: {answer}")
        live = self.weights()
        wrong = {n: live.get(n) for n, w in weights.items() if live.get(n) != w}
        if wrong:
            raise RouterError(f"HAProxy reports {wrong} after setting {dict(weights)}", retryable=True)
        self._save_state()

    def _save_state(self) -> None:
        if not self.state_file:
            return
        text = self.api.command("show servers state")
        tmp = f"{self.state_file}.tmp"
        with open(tmp, "w") as f:
            f.write(text + "\n")
        os.replace(tmp, self.state_file)

    def dns_ttl(self) -> float:
        return 0.0

    def detach(self, name: str) -> None:
        answer = self.api.command(f"set server {self.backend}/{name} state maint").strip()
        if answer:
            raise RouterError(f"HAProxy refused maintenance for {self.backend}/{name}: {answer}")
        self._save_state()


# --------------------------------------------------------------------------- Pulumi (Azure)


def live_weights(outputs: Mapping[str, Any], output_key: str = "traffic") -> dict[str, int] | None:
    """The weights the deployed switch reports, from the stack's outputs (``traffic.weights``), or None.

    The program exports them from the Azure resources' own outputs (an endpoint's weight, 0 when it is
    disabled), so they say what Azure holds after the last update, not what the stack config asks for.

    >>> live_weights({"traffic": {"weights": {"blue": 90, "green": 10}, "fqdn": "shop.trafficmanager.net"}})
    {'blue': 90, 'green': 10}
    >>> live_weights({"clusterName": "green"}) is None
    True
    """
    traffic = outputs.get(output_key)
    weights = traffic.get("weights") if isinstance(traffic, Mapping) else None
    if not isinstance(weights, Mapping):
        return None
    return {str(k): int(v) for k, v in weights.items()}


class PulumiTrafficRouter:
    """Weights kept in a stack's config (``akshift:traffic.weights``); each change is an ``up`` of that stack.

    Every step goes through the engine gateway (:mod:`deploy.engine`): the new weights are written to the
    stack config, a preview saves its plan and must change the ``TrafficSwitch`` only (a cutover step never
    deploys unrelated drift that happened to be pending), ``up`` is held to that plan, and the weights are
    read back from the stack's outputs — what Azure reports, not what the config asked. On any failure the
    config is put back as it was, so a later plain ``pulumi up`` does not deploy a step that failed.

    Args:
        stack: the stack name (``prod``, or ``<org>/<project>/<stack>``).
        work_dir: the Pulumi project directory (where ``Pulumi.yaml`` is); the current directory when None.
        weights_key: config key of the weights map.
        ttl_key: config key of the Traffic Manager DNS TTL (seconds).
        kind_key: config key of the switch kind (``frontDoor`` has no DNS TTL to wait for).
        output_key: stack output holding the deployed switch (``{"weights": {name: percent}, …}``).
        pulumi_root: directory of the Pulumi CLI (``<root>/bin/pulumi``), None for the one on PATH.
        stack_factory: opens the stack (tests pass a :class:`deploy.engine.Stack` around a fake).
        on_output: receives the engine's output lines.
    """

    def __init__(self, stack: str, work_dir: str | Path | None = None, *, weights_key: str = "akshift:traffic.weights",
                 ttl_key: str = "akshift:traffic.dnsTtl", kind_key: str = "akshift:traffic.kind",
                 output_key: str = "traffic", pulumi_root: str | None = None,
                 stack_factory: Callable[[], Stack] | None = None,
                 on_output: Callable[[str], Any] | None = None) -> None:
        self.stack_name = stack
        self.work_dir = str(work_dir or os.getcwd())
        self.weights_key = weights_key
        self.ttl_key = ttl_key
        self.kind_key = kind_key
        self.output_key = output_key
        self.pulumi_root = pulumi_root
        self._factory = stack_factory
        self._stack: Stack | None = None
        self.on_output = on_output

    def spec(self) -> dict[str, Any]:
        return {"kind": "pulumi", "stack": self.stack_name, "work_dir": self.work_dir,
                "weights_key": self.weights_key, "ttl_key": self.ttl_key, "kind_key": self.kind_key,
                "output_key": self.output_key, "pulumi_root": self.pulumi_root}

    def stack(self) -> Stack:
        """The stack, opened once (through the gateway)."""
        if self._stack is None:
            if self._factory is not None:
                self._stack = self._factory()
            else:
                from deploy.engine import Engine, open_work_dir

                engine = Engine(Path(self.pulumi_root) if self.pulumi_root else None)
                try:
                    self._stack = open_work_dir(engine, self.work_dir, self.stack_name)
                except EngineError as e:
                    raise RouterError(f"cannot select stack {self.stack_name!r} in {self.work_dir}: {e}",
                                      fix="pass --stack and --work-dir of the stack that declares the "
                                          "TrafficSwitch") from e
        return self._stack

    def _config(self, key: str) -> str | None:
        try:
            return self.stack().config(key)
        except EngineError as e:
            raise RouterError(f"cannot read {key} of stack {self.stack_name!r}: {e}") from e

    def _live(self, outputs: Mapping[str, Any]) -> dict[str, int]:
        weights = live_weights(outputs, self.output_key)
        if weights is None:
            raise RouterError(f"stack {self.stack_name!r} exports no {self.output_key}.weights: its program does "
                              "not compose the TrafficSwitch, or it was never deployed",
                              fix=f"add akshift:traffic to the stack config and run `akshift up --stack "
                                  f"{self.stack_name}` before the cutover")
        return weights

    def weights(self) -> dict[str, int]:
        try:
            outputs = self.stack().outputs()
        except EngineError as e:
            raise RouterError(f"cannot read the outputs of stack {self.stack_name!r}: {e}") from e
        return self._live(outputs)

    def set_weights(self, weights: Mapping[str, int]) -> None:
        from deploy.engine import guarded_preview, up_to_plan

        current = self.weights()
        missing = sorted(set(weights) - set(current))
        if missing:
            raise RouterError(f"the switch of stack {self.stack_name!r} has no endpoint {', '.join(missing)} "
                              f"(it has {', '.join(sorted(current))})")
        stack = self.stack()
        label = ", ".join(f"{n} {w}%" for n, w in weights.items())
        values = {f"{self.weights_key}.{name}": str(w) for name, w in weights.items()}
        try:
            before = stack.set_configs(values)
        except EngineError as e:
            raise RouterError(f"cannot write {self.weights_key} of stack {self.stack_name!r}: {e}") from e
        try:
            with tempfile.TemporaryDirectory(prefix="akshift-cutover-plan-") as tmp:
                preview = guarded_preview(stack, Path(tmp), confine_to=SWITCH_TYPE, on_output=self.on_output,
                                          message=f"akshift cutover preview: {label}")
                result = up_to_plan(stack, preview, on_output=self.on_output, message=f"akshift cutover: {label}")
            if not result.succeeded:
                raise RouterError(f"pulumi up of stack {self.stack_name!r} ended {result.result}")
            live = self._live(result.outputs)
            wrong = {n: live.get(n) for n, w in weights.items() if live.get(n) != w}
            if wrong:
                raise RouterError(f"stack {self.stack_name!r} reports {wrong} after setting {dict(weights)}",
                                  retryable=True)
        except BaseException as e:
            self._restore(stack, before, e)
            if isinstance(e, PlanNotConfined):
                foreign = [f"{s.op} {s.type} {s.name}" for s in e.steps]
                raise RouterError(f"stack {self.stack_name!r} would also change {len(foreign)} resources outside the "
                                  f"traffic switch: {'; '.join(foreign[:5])}",
                                  fix="deploy or revert those changes first; a cutover step only moves weights") from e
            if isinstance(e, PlanRefused):
                raise RouterError(f"stack {self.stack_name!r}: {e}") from e
            if isinstance(e, StackBusy):
                raise RouterError(f"stack {self.stack_name!r} is being updated by someone else",
                                  retryable=True) from e
            if isinstance(e, EngineError):
                raise RouterError(f"the weight step on stack {self.stack_name!r} failed: {e}") from e
            raise

    def _restore(self, stack: Stack, before: Mapping[str, str | None], cause: BaseException) -> None:
        """Put the weights config back; a failure to do so is reported with the step's own failure."""
        try:
            stack.restore_config(before)
        except EngineError as e:
            raise RouterError(f"the cutover step failed ({cause}) and the config of stack {self.stack_name!r} could "
                              f"not be restored: {e}",
                              fix=f"set {self.weights_key} back to the live weights by hand before any `pulumi up`") \
                from cause

    def dns_ttl(self) -> float:
        if (self._config(self.kind_key) or "trafficManager") == "frontDoor":
            return 0.0  # Front Door weighs each request at the edge: no DNS answer to expire
        raw = self._config(self.ttl_key)
        return float(raw) if raw is not None else 60.0  # Traffic Manager's default TTL

    def detach(self, name: str) -> None:
        current = self.weights()
        if current.get(name, 0) != 0:
            raise RouterError(f"{name} still has weight {current[name]}")
        self.set_weights({**current, name: 0})


def from_spec(spec: Mapping[str, Any], **kw: Any) -> Router:
    """Rebuild a router from its persisted :meth:`Router.spec`.

    Raises:
        PlanError: an unknown kind or missing fields.
    """
    kind = spec.get("kind")
    try:
        if kind == "haproxy":
            return HaproxyRouter(spec["socket"], spec.get("backend") or "cutover", spec.get("state_file"))
        if kind == "pulumi":
            return PulumiTrafficRouter(spec["stack"], spec.get("work_dir"), weights_key=spec["weights_key"],
                                       ttl_key=spec["ttl_key"], kind_key=spec["kind_key"],
                                       output_key=spec.get("output_key") or "traffic",
                                       pulumi_root=spec.get("pulumi_root"), **kw)
    except KeyError as e:
        raise PlanError(f"router spec {dict(spec)} lacks {e}") from e
    raise PlanError(f"unknown router kind {kind!r}", fix="use haproxy or pulumi")
