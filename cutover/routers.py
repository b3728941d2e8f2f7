"""Where the weights live: one small ``Router`` protocol, a local HAProxy and the Pulumi-managed Azure switch.

Why a protocol: the step engine must not care whether a weight change is a
runtime-API command to a loopback HAProxy (the sandbox) or a change of the
``akshift:traffic`` stack config followed by a Pulumi ``up`` that updates
Azure Traffic Manager endpoint weights or Front Door origin weights. Both
are idempotent "set these weights" operations, both can be read back, and
both are rebuilt from a small JSON spec persisted with the cutover state
(:func:`from_spec`), so ``rollback`` and ``--resume`` need nothing but the
state directory.

Blue and green are never both at 0: weights change in an order that raises
the growing side before lowering the shrinking one (:func:`change_order`).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from cutover.errors import PlanError, RouterError
from cutover.haproxy import MAX_WEIGHT, RuntimeApi

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
            rows.append(dict(zip(header, line.split())))
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


def foreign_changes(changes: Sequence[tuple[str, str, str]]) -> list[str]:
    """Planned changes (op, urn, type) outside the traffic switch; a weight step must not carry them along.

    A child's URN carries its parents' types (``…::akshift:index:TrafficSwitch$azure-native:…``),
    so membership is read from the URN.

    >>> foreign_changes([("update", "urn:pulumi:p::akshift::akshift:index:TrafficSwitch$azure-native:"
    ...                  "trafficmanager:Profile::traffic-profile", "azure-native:trafficmanager:Profile"),
    ...                  ("same", "urn:pulumi:p::akshift::pulumi:pulumi:Stack::akshift-p", "pulumi:pulumi:Stack"),
    ...                  ("replace", "urn:pulumi:p::akshift::akshift:index:AksCluster$azure-native:containerservice:"
    ...                  "ManagedCluster::aks-cluster", "azure-native:containerservice:ManagedCluster")])
    ['replace azure-native:containerservice:ManagedCluster aks-cluster']
    """
    out = []
    for op, urn, typ in changes:
        if op in ("same", "read", "refresh"):
            continue
        parts = urn.split("::")
        if len(parts) >= 4 and SWITCH_TYPE in parts[2].split("$"):
            continue
        out.append(f"{op} {typ} {urn.rsplit('::', 1)[-1]}")
    return out


class PulumiTrafficRouter:
    """Weights kept in a stack's config (``akshift:traffic.weights``); each change is an ``up`` of that stack.

    Before each ``up`` a preview must show changes to the ``TrafficSwitch`` only:
    a cutover step never deploys unrelated drift that happened to be pending.

    Args:
        stack: the stack name (``prod``, or ``<org>/<project>/<stack>``).
        work_dir: the Pulumi project directory (where ``Pulumi.yaml`` is); the current directory when None.
        weights_key: config key of the weights map.
        ttl_key: config key of the Traffic Manager DNS TTL (seconds).
        kind_key: config key of the switch kind (``frontDoor`` has no DNS TTL to wait for).
        pulumi_root: directory of the Pulumi CLI (``auto.PulumiCommand(root=…)``), None for the one on PATH.
        stack_factory: builds the Automation API stack (tests pass a fake).
    """

    def __init__(self, stack: str, work_dir: str | Path | None = None, *, weights_key: str = "akshift:traffic.weights",
                 ttl_key: str = "akshift:traffic.dnsTtl", kind_key: str = "akshift:traffic.kind",
                 pulumi_root: str | None = None, stack_factory: Callable[[], Any] | None = None,
                 on_output: Callable[[str], Any] | None = None) -> None:
        self.stack_name = stack
        self.work_dir = str(work_dir or os.getcwd())
        self.weights_key = weights_key
        self.ttl_key = ttl_key
        self.kind_key = kind_key
        self.pulumi_root = pulumi_root
        self._factory = stack_factory
        self._stack: Any = None
        self.on_output = on_output

    def spec(self) -> dict[str, Any]:
        return {"kind": "pulumi", "stack": self.stack_name, "work_dir": self.work_dir,
                "weights_key": self.weights_key, "ttl_key": self.ttl_key, "kind_key": self.kind_key,
                "pulumi_root": self.pulumi_root}

    def stack(self) -> Any:
        if self._stack is None:
            self._stack = self._factory() if self._factory else self._select()
        return self._stack

    def _select(self) -> Any:
        from pulumi import automation as auto

        opts = auto.LocalWorkspaceOptions(
            pulumi_command=auto.PulumiCommand(root=self.pulumi_root) if self.pulumi_root else None)
        try:
            return auto.select_stack(self.stack_name, work_dir=self.work_dir, opts=opts)
        except auto.errors.CommandError as e:
            raise RouterError(f"cannot select stack {self.stack_name!r} in {self.work_dir}: {e}",
                              fix="pass --stack and --work-dir of the stack that declares the TrafficSwitch") from e

    def _config(self, key: str) -> str | None:
        from pulumi import automation as auto

        try:
            return self.stack().get_config(key, path=True).value
        except auto.errors.CommandError:
            return None

    def weights(self) -> dict[str, int]:
        import json

        raw = self._config(self.weights_key)
        if raw is None:
            raise RouterError(f"stack {self.stack_name!r} has no {self.weights_key}",
                              fix=f"add {self.weights_key} (such as {{blue: 100, green: 0}}) to its stack config")
        try:
            return {str(k): int(v) for k, v in json.loads(raw).items()}
        except (ValueError, AttributeError) as e:
            raise RouterError(f"{self.weights_key} of stack {self.stack_name!r} is not a map of weights: {raw!r}") from e

    def set_weights(self, weights: Mapping[str, int]) -> None:
        from pulumi import automation as auto

        stack = self.stack()
        current = self.weights()
        missing = sorted(set(weights) - set(current))
        if missing:
            raise RouterError(f"{self.weights_key} of stack {self.stack_name!r} has no endpoint {', '.join(missing)}")
        for name, w in weights.items():
            stack.set_config(f"{self.weights_key}.{name}", auto.ConfigValue(str(w)), path=True)
        changes: list[tuple[str, str, str]] = []

        def collect(event: Any) -> None:
            pre = getattr(event, "resource_pre_event", None)
            if pre is not None:
                md = pre.metadata
                changes.append((getattr(md.op, "value", str(md.op)), md.urn, md.type))

        label = ", ".join(f"{n} {w}%" for n, w in weights.items())
        try:
            stack.preview(on_event=collect, message=f"akshift cutover preview: {label}")
            foreign = foreign_changes(changes)
            if foreign:
                for name, w in current.items():  # put the config back: nothing was deployed
                    stack.set_config(f"{self.weights_key}.{name}", auto.ConfigValue(str(w)), path=True)
                raise RouterError(f"stack {self.stack_name!r} would also change {len(foreign)} resources outside the "
                                  f"traffic switch: {'; '.join(foreign[:5])}",
                                  fix="deploy or revert those changes first; a cutover step only moves weights")
            result = stack.up(message=f"akshift cutover: {label}", on_output=self.on_output)
        except auto.errors.ConcurrentUpdateError as e:
            raise RouterError(f"stack {self.stack_name!r} is being updated by someone else", retryable=True) from e
        except auto.errors.CommandError as e:
            raise RouterError(f"pulumi up of stack {self.stack_name!r} failed: {e}") from e
        outcome = getattr(result.summary, "result", "succeeded")
        if outcome != "succeeded":
            raise RouterError(f"pulumi up of stack {self.stack_name!r} ended {outcome}")

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
                                       pulumi_root=spec.get("pulumi_root"), **kw)
    except KeyError as e:
        raise PlanError(f"router spec {dict(spec)} lacks {e}") from e
    raise PlanError(f"unknown router kind {kind!r}", fix="use haproxy or pulumi")
