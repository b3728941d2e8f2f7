"""`akshift cutover|rollback|decommission`: move traffic from blue to green step by step, back, and retire blue.

Why shaped so: the commands only translate options into a :class:`cutover.plan.Plan`
and a :class:`cutover.runner.Session` (router, gates, Kubernetes clients, the
state directory) and map outcomes to exit codes; every decision lives in
:mod:`cutover`. The state directory (``--state-dir``, default ``out/cutover``)
holds ``state.json`` and ``log.jsonl``, so ``--resume``, ``rollback`` and
``decommission`` need no other option. Exit codes (akshift.output): 0 done,
1 rolled back / a gate failed / refused (the gate is printed), 2 bad input
or a failed preflight (nothing changed), 3 environment (switch or cluster
unreachable; the state says what was intended).

Run as ``python -m akshift.cmd_cutover`` it is a CLI of its own (tests use that).
"""
from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

import typer

from akshift.output import Boundary, BAD_INPUT, ENVIRONMENT, FAILED, OK, Output, OutputOption, emit_json, err_console, fail

StateDir = typer.Option(Path("out/cutover"), "--state-dir", help="holds state.json and log.jsonl of the cutover")
From = typer.Option(None, "--from", help="the cluster traffic leaves (the switch's endpoint name), such as blue")
To = typer.Option(None, "--to", help="the cluster traffic moves to, such as green")
RouterOpt = typer.Option(None, "--router", help="where the weights live: pulumi (Azure, default) or haproxy (sandbox)")
HaSocket = typer.Option(None, "--haproxy-socket", help="HAProxy admin socket (stats socket … level admin)")
HaBackend = typer.Option("cutover", "--haproxy-backend", help="HAProxy backend whose servers are named like the clusters")
HaState = typer.Option(None, "--haproxy-state-file", help="HAProxy server-state-file to save weights to")
Stack = typer.Option(None, "--stack", help="Pulumi stack that declares the TrafficSwitch")
WorkDir = typer.Option(None, "--work-dir", help="Pulumi project directory (default: current directory)")
PulumiRoot = typer.Option(None, "--pulumi-root", help="directory of the Pulumi CLI to use")
BlueKube = typer.Option(None, "--blue-kubeconfig", help="blue's kubeconfig: freeze it (and check single writers)")
BlueCtx = typer.Option(None, "--blue-context", help="context in blue's kubeconfig")
GreenKube = typer.Option(None, "--green-kubeconfig", help="green's kubeconfig: ready: gates, single-writer check")
GreenCtx = typer.Option(None, "--green-context", help="context in green's kubeconfig")


class RouterKind(str, enum.Enum):
    pulumi = "pulumi"
    haproxy = "haproxy"


class RollbackTarget(str, enum.Enum):
    blue = "blue"
    last_good = "last-good"


def register(app: typer.Typer) -> None:
    """Add the cutover commands to the top-level app."""
    app.command("cutover")(cutover_cmd)
    app.command("rollback")(rollback_cmd)
    app.command("decommission")(decommission_cmd)


# -- plumbing --------------------------------------------------------------------


def _router_spec(router: RouterKind | None, socket: Path | None, backend: str, state_file: Path | None,
                 stack: str | None, work_dir: Path | None, pulumi_root: str | None) -> dict[str, Any]:
    from cutover.routers import HaproxyRouter, PulumiTrafficRouter

    if (router or RouterKind.pulumi) is RouterKind.haproxy:
        if socket is None:
            raise fail("--router haproxy needs --haproxy-socket")
        return HaproxyRouter(str(socket.resolve()), backend, str(state_file.resolve()) if state_file else None).spec()
    if not stack:
        raise fail("--router pulumi needs --stack (the stack that declares the TrafficSwitch)")
    return PulumiTrafficRouter(stack, (work_dir or Path.cwd()).resolve(), pulumi_root=pulumi_root).spec()


def _kube_spec(path: Path | None, context: str | None) -> dict[str, Any] | None:
    return {"kubeconfig": str(path.resolve()), "context": context} if path else None


def _kube(spec: dict[str, Any] | None, which: str) -> Any:
    from kube.client import connect

    if not spec:
        return None
    return connect(spec["kubeconfig"], spec.get("context"), role=f"--{which}-kubeconfig", retries=3)


def _reporter(output: Output) -> Any:
    def report(e: dict[str, Any]) -> None:
        if output is Output.json:
            return
        kind = e["event"]
        if kind == "weights_set":
            err_console.print(f"step {e['step'] + 1}: weights " + ", ".join(f"{n} {w}%" for n, w in e["weights"].items()),
                              highlight=False)
        elif kind == "gate" and not e["ok"]:
            err_console.print(f"  [red]gate failed[/] {e['gate']}: {e['detail']}", highlight=False)
        elif kind == "step":
            err_console.print(f"  step {e['step'] + 1} ({e['green']}%): {e['outcome']}", highlight=False)
        elif kind in ("rolled_back", "unfrozen", "resumed", "rollback_requested", "rollback_delegated", "done"):
            detail = {k: v for k, v in e.items() if k not in ("ts", "event", "failed_gates")}
            err_console.print(f"{kind.replace('_', ' ')}: {detail}", highlight=False)
    return report


def _session(state_dir: Path, router_spec: dict[str, Any], gates: list[str] | None, blue: Any, green: Any,
             output: Output) -> Any:
    import httpx

    from cutover.errors import PlanError
    from cutover.gates import GateSet, parse_gates
    from cutover.routers import from_spec
    from cutover.runner import Session
    from cutover.store import CutoverStore

    try:
        gate_set = GateSet(parse_gates(gates), http=httpx.Client(follow_redirects=False), kube=green) \
            if gates is not None else None
        router = from_spec(router_spec)
    except PlanError as e:
        raise fail(str(e)) from e
    return Session(CutoverStore(state_dir), router, gate_set, blue, green, report=_reporter(output))


def _resume_hint(store: Any) -> None:
    """Before an error propagates (the CLI boundary maps it to its exit code): say how to go on when an
    unfinished cutover is saved in ``store``."""
    from cutover.errors import StateError

    try:
        if store is not None and store.exists() and not store.load().terminal:
            err_console.print("the state is saved: `akshift cutover --resume` or `akshift rollback`", highlight=False)
    except StateError:
        pass


def _finish(state: Any, output: Output) -> typer.Exit:
    from cutover.engine import Phase, summary
    from cutover.runner import render_summary

    code = OK if state.phase in (Phase.DONE, Phase.DECOMMISSIONED) else FAILED
    if output is Output.json:
        emit_json({**summary(state), "exit_code": code})
    else:
        typer.echo(render_summary(state))
    return typer.Exit(code)


# -- commands ----------------------------------------------------------------------


def cutover_cmd(
    from_: str = From, to: str = To,
    steps: str = typer.Option("0,10,50,100", "--steps", help="green's weight in percent at each step"),
    hold: str = typer.Option("5m", "--hold", help="how long each step is held and observed (5m, 90s, 1h)"),
    gate: list[str] = typer.Option([], "--gate", help="http:URL[,p95=300ms,status=200-299,samples=10] | "
                                   "ready:deployment/NS/NAME | errors:URL,max=1%[,total=SEL,failed=SEL] (repeatable)"),
    gate_interval: str = typer.Option("10s", "--gate-interval", help="how often gates are evaluated in a hold"),
    rollback_to: RollbackTarget = typer.Option(RollbackTarget.blue, "--rollback-to",
                                               help="where a failed gate sends traffic: blue (100%) or last-good"),
    router: RouterKind = RouterOpt, haproxy_socket: Path = HaSocket, haproxy_backend: str = HaBackend,
    haproxy_state_file: Path = HaState, stack: str = Stack, work_dir: Path = WorkDir, pulumi_root: str = PulumiRoot,
    verify_report: Path = typer.Option(Path("out/migration/verify.json"), "--verify-report",
                                       help="green's verify.json from `akshift verify` (must be ok)"),
    blue_kubeconfig: Path = BlueKube, blue_context: str = BlueCtx,
    green_kubeconfig: Path = GreenKube, green_context: str = GreenCtx,
    no_freeze: bool = typer.Option(False, "--no-freeze", help="do not freeze blue (only when blue has no API to "
                                                              "freeze, such as the loopback sandbox)"),
    allow_multi_writer: list[str] = typer.Option([], "--allow-multi-writer",
                                                 help="NAMESPACE/NAME of a StatefulSet safe to run on both clusters"),
    state_dir: Path = StateDir,
    resume: bool = typer.Option(False, "--resume", help="continue the cutover persisted in --state-dir"),
    output: Output = OutputOption,
) -> None:
    """Shift traffic from --from to --to in --steps, holding each and rolling back on a failed --gate."""
    from cutover import runner
    from cutover.errors import CutoverError
    from cutover.plan import Plan, RollbackTo, differences, parse_duration, parse_steps
    from cutover.store import CutoverStore

    store = CutoverStore(state_dir)
    requested = None
    try:
        if from_ or to or not resume:
            if not from_ or not to:
                raise fail("--from and --to are required (the switch's endpoint names, such as blue and green)")
            if blue_kubeconfig is None and not no_freeze:
                raise fail("--blue-kubeconfig is required to freeze blue during the cutover; "
                           "pass --no-freeze only where blue has no API to freeze")
            requested = Plan(from_, to, parse_steps(steps), parse_duration(hold), tuple(gate),
                             _router_spec(router, haproxy_socket, haproxy_backend, haproxy_state_file, stack,
                                          work_dir, pulumi_root),
                             rollback_to=RollbackTo(rollback_to.value),
                             gate_interval_seconds=parse_duration(gate_interval, "--gate-interval"),
                             blue_kube=_kube_spec(blue_kubeconfig, blue_context),
                             green_kube=_kube_spec(green_kubeconfig, green_context))
        if resume:
            persisted = store.load()
            if requested is not None:
                diff = differences(persisted.plan, requested)
                if diff:
                    raise fail("--resume with a different cutover: " + "; ".join(diff) +
                               " (resume with the same options, or roll back and start again)")
            plan = persisted.plan
        else:
            assert requested is not None
            plan = requested
    except CutoverError as e:
        raise

    blue = _kube(dict(plan.blue_kube) if plan.blue_kube else None, "blue")
    green = _kube(dict(plan.green_kube) if plan.green_kube else None, "green")
    s = _session(state_dir, dict(plan.router), list(plan.gates), blue, green, output)
    try:
        with store.locked():
            if resume:
                state = runner.resume(s)
            else:
                state = runner.begin(plan, s, verify_report=verify_report, allow_multi_writer=allow_multi_writer)
            state = runner.drive(state, s)
    except KeyboardInterrupt:
        s.log("interrupted")
        raise fail("interrupted; the state is saved: `akshift cutover --resume` or `akshift rollback`", FAILED) from None
    except Exception:  # noqa: BLE001 - re-raised as it is, after the resume hint
        _resume_hint(store)
        raise
    finally:
        for c in (blue, green):
            if c is not None:
                c.close()
    raise _finish(state, output)


def rollback_cmd(
    state_dir: Path = StateDir, from_: str = From, to: str = To, router: RouterKind = RouterOpt,
    haproxy_socket: Path = HaSocket, haproxy_backend: str = HaBackend, haproxy_state_file: Path = HaState,
    stack: str = Stack, work_dir: Path = WorkDir, pulumi_root: str = PulumiRoot,
    blue_kubeconfig: Path = BlueKube, blue_context: str = BlueCtx, output: Output = OutputOption,
) -> None:
    """Put blue back to 100% and unfreeze it. Without a state, pass --from/--to and the router options."""
    from cutover import runner
    from cutover.errors import CutoverError
    from cutover.routers import from_spec
    from cutover.store import CutoverStore

    store = CutoverStore(state_dir)
    if not store.exists():
        if not from_ or not to or router is None:
            raise fail(f"no cutover state in {state_dir}: pass --from, --to and --router (with its options) to set "
                       "the switch directly")
        spec = _router_spec(router, haproxy_socket, haproxy_backend, haproxy_state_file, stack, work_dir, pulumi_root)
        try:
            weights = runner.rollback_without_state(from_spec(spec), from_, to)
        except CutoverError as e:
            raise
        if output is Output.json:
            emit_json({"phase": "rolled_back", "weights": weights, "state": None})
        else:
            typer.echo("rolled back without a state: " + ", ".join(f"{n} {w}%" for n, w in weights.items()))
        raise typer.Exit(OK)
    try:
        plan = store.load().plan
    except CutoverError as e:
        raise
    blue_spec = _kube_spec(blue_kubeconfig, blue_context) or (dict(plan.blue_kube) if plan.blue_kube else None)
    blue = _kube(blue_spec, "blue")
    s = _session(state_dir, dict(plan.router), None, blue, None, output)
    try:
        state = runner.rollback(s, "manual rollback (akshift rollback)")
    except CutoverError as e:
        _resume_hint(store)
        raise
    finally:
        if blue is not None:
            blue.close()
    if output is Output.json:
        from cutover.engine import summary

        emit_json({**summary(state), "exit_code": OK})
    else:
        from cutover.runner import render_summary

        typer.echo(render_summary(state))
    raise typer.Exit(OK)


def decommission_cmd(
    cluster: str = typer.Argument(..., help="the cutover's blue cluster, such as blue"),
    soak: str = typer.Option("24h", "--soak", help="time green must have served 100% before blue may go"),
    health_window: str = typer.Option("30s", "--health-window", help="how long to observe green's gates first"),
    state_dir: Path = StateDir, green_kubeconfig: Path = GreenKube, green_context: str = GreenCtx,
    output: Output = OutputOption,
) -> None:
    """Retire blue from the switch: refused while blue has weight, green fails a gate, or the soak is not over."""
    from cutover import runner
    from cutover.errors import CutoverError
    from cutover.plan import parse_duration
    from cutover.store import CutoverStore

    store = CutoverStore(state_dir)
    try:
        soak_seconds = parse_duration(soak, "--soak")
        window_seconds = parse_duration(health_window, "--health-window")
        plan = store.load().plan
    except CutoverError as e:
        raise
    green_spec = _kube_spec(green_kubeconfig, green_context) or (dict(plan.green_kube) if plan.green_kube else None)
    green = _kube(green_spec, "green")
    s = _session(state_dir, dict(plan.router), list(plan.gates), None, green, output)
    try:
        state = runner.decommission(s, cluster, soak_seconds=soak_seconds, window_seconds=window_seconds)
    except CutoverError as e:
        raise
    finally:
        if green is not None:
            green.close()
    if output is Output.text:
        typer.echo(f"{cluster} is out of the switch; delete its cluster when ready "
                   f"(its stack: `pulumi destroy`), then its kubeconfig")
    raise _finish(state, output)


if __name__ == "__main__":
    _app = typer.Typer(cls=Boundary, name="akshift-cutover", no_args_is_help=True, pretty_exceptions_enable=False)
    register(_app)
    _app()
