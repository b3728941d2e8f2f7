"""`akshift cutover|rollback|decommission`: move traffic from blue to green step by step, back, and retire blue.

Why shaped so: the commands only translate options into a :class:`cutover.plan.Plan`
and a :class:`cutover.runner.Session` (router, gates, Kubernetes clients, the
state directory) and print; every decision lives in :mod:`cutover`. The state
directory (``--state-dir``, default ``out/cutover``) holds ``state.json``,
``log.jsonl`` and ``report.md``, so ``--resume``, ``rollback``,
``decommission``, ``cutover status`` and ``cutover report`` need no other
option. Exit codes (akshift.output): 0 done, 1 rolled back / a gate failed /
refused (the gate is printed), 2 bad input or a failed preflight (nothing
changed), 3 environment (switch or cluster unreachable; the state says what
was intended).

``akshift cutover`` is a group whose bare form runs a cutover (``--dry-run``
prints the plan and the preflight and changes nothing; ``--preflight-only``
runs the checks alone) and whose subcommands read a cutover: ``status`` (text,
or JSON with ``schemaVersion``) and ``report`` (writes ``report.md`` again).
During a hold a live view on stderr counts down and shows the weights and the
last gate results; with ``-o json`` stderr stays quiet but for errors.
Every duration option takes one syntax (``90``, ``90s``, ``5m``, ``1h30m``, ``24h``),
parsed while the command line is read (:func:`akshift.options.duration_option`).

Run as ``python -m akshift.cmd_cutover`` it is a CLI of its own (tests use that).
"""
from __future__ import annotations

import enum
import time
from pathlib import Path
from typing import Any

import typer

from akshift.options import duration_option
from akshift.output import FAILED, OK, Boundary, Output, OutputOption, emit_json, err_console, fail

StateDir = typer.Option(Path("out/cutover"), "--state-dir",
                        help="holds state.json, log.jsonl and report.md of the cutover")
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
BlueStack = typer.Option(None, "--blue-stack", help="read blue's kubeconfig from this Pulumi stack's kubeconfig "
                                                    "output (in memory only; re-read on resume)")
GreenStack = typer.Option(None, "--green-stack", help="read green's kubeconfig from this Pulumi stack's kubeconfig "
                                                      "output (in memory only; re-read on resume)")


class RouterKind(str, enum.Enum):
    pulumi = "pulumi"
    haproxy = "haproxy"


class RollbackTarget(str, enum.Enum):
    blue = "blue"
    last_good = "last-good"


def register(app: typer.Typer) -> None:
    """Add the cutover commands to the top-level app (``cutover`` is a group: a run, ``status``, ``report``)."""
    group = typer.Typer(cls=Boundary, name="cutover", no_args_is_help=False, pretty_exceptions_enable=False,
                        help="Shift traffic from --from to --to in --steps (or: cutover status, cutover report).")
    group.callback(invoke_without_command=True)(cutover_cmd)
    group.command("status")(status_cmd)
    group.command("report")(report_cmd)
    app.add_typer(group, name="cutover")
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


def _kube_spec(path: Path | None, context: str | None, stack: str | None = None) -> dict[str, Any] | None:
    """How to reach a cluster, as the state keeps it for a resume: a kubeconfig file, or a stack whose
    output is read again each time (the kubeconfig itself is never stored)."""
    if path is not None and stack is not None:
        from akshift.options import bad_input

        raise bad_input("a kubeconfig and a stack both given for one cluster: pass one")
    if stack is not None:
        return {"stack": stack, "context": context}
    return {"kubeconfig": str(path.resolve()), "context": context} if path else None


def _kube(spec: dict[str, Any] | None, which: str) -> Any:
    from kube.client import connect

    if not spec:
        return None
    if spec.get("stack"):
        from akshift.project import stack_kubeconfig

        stack = spec["stack"]
        return connect(None, spec.get("context"), role=f"--{which}-stack {stack}", retries=3,
                       kubeconfig_text=stack_kubeconfig(stack), text_source=f"stack {stack} output kubeconfig")
    return connect(spec["kubeconfig"], spec.get("context"), role=f"--{which}-kubeconfig", retries=3)


class _Display:
    """What a run shows on stderr: one line per notable event, and a live view of each hold.

    On a terminal the hold view is redrawn in place (rich ``Live``, cleared when the hold ends);
    elsewhere (CI logs, a pipe) it prints one line per gate evaluation. With ``-o json`` it shows
    nothing: stdout carries the JSON document and stderr only errors.
    """

    def __init__(self, output: Output) -> None:
        self.quiet = output is Output.json
        self.live: Any = None
        self._shown: Any = None

    def event(self, e: dict[str, Any]) -> None:
        from cutover.status import describe_event

        if self.quiet:
            return
        line = describe_event(e)
        if line is None:
            return
        self.stop()
        style = "red" if e.get("event") in ("rolled_back", "gate") else None
        err_console.print(line, style=style, highlight=False, markup=False)

    def tick(self, view: Any) -> None:
        from rich.live import Live
        from rich.text import Text

        from cutover.status import render_hold

        if self.quiet:
            return
        lines = render_hold(view)
        if err_console.is_terminal:
            text = Text("\n".join(lines))
            if self.live is None:
                self.live = Live(text, console=err_console, transient=True, refresh_per_second=4)
                self.live.start()
            else:
                self.live.update(text)
        elif view.results and view.results is not self._shown:
            self._shown = view.results
            gates = ", ".join(f"{r.gate} {'ok' if r.ok else 'FAIL'}" for r in view.results)
            err_console.print(f"  hold {lines[0]} · {gates}", highlight=False, markup=False)

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


def _session(state_dir: Path, router_spec: dict[str, Any], gates: list[str] | None, blue: Any, green: Any,
             display: _Display) -> Any:
    import httpx

    from cutover.gates import GateSet, parse_gates
    from cutover.routers import from_spec
    from cutover.runner import Session
    from cutover.store import CutoverStore

    gate_set = GateSet(parse_gates(gates), http=httpx.Client(follow_redirects=False), kube=green) \
        if gates is not None else None
    router = from_spec(router_spec)
    return Session(CutoverStore(state_dir), router, gate_set, blue, green, report=display.event, tick=display.tick)


def _write_report(store: Any) -> None:
    """Draw ``report.md`` from the state and the log (after every run, whatever its end)."""
    from cutover.errors import CutoverError
    from cutover.report import render_report

    try:
        if store.exists():
            store.write_report(render_report(store.load(), store.events()))
    except (CutoverError, OSError) as e:
        err_console.print(f"warning: could not write {store.report_path}: {e}", highlight=False, markup=False)


def _resume_hint(store: Any) -> None:
    """Before an error propagates (the CLI boundary maps it to its exit code): say how to go on when an
    unfinished cutover is saved in ``store``."""
    from cutover.errors import StateError

    try:
        if store is not None and store.exists() and not store.load().terminal:
            err_console.print("the state is saved: `akshift cutover --resume` or `akshift rollback`", highlight=False)
    except StateError:
        pass


def _finish(state: Any, output: Output, store: Any = None, code: int | None = None) -> typer.Exit:
    """Print the end-of-run summary (text or JSON) and return the Exit: 0 when done, 1 otherwise (or ``code``)."""
    from cutover.engine import Phase, summary
    from cutover.runner import render_summary

    if code is None:
        code = OK if state.phase in (Phase.DONE, Phase.DECOMMISSIONED) else FAILED
    if output is Output.json:
        emit_json({**summary(state), "exit_code": code,
                   "report": str(store.report_path) if store is not None and store.report_path.exists() else None})
    else:
        typer.echo(render_summary(state))
        if store is not None and store.report_path.exists():
            typer.echo(f"  report: {store.report_path}")
    return typer.Exit(code)


def _preview(plan: Any, s: Any, output: Output, *, dry_run: bool, verify_report: Path,
             allow_multi_writer: list[str], sync_status: Path | None) -> typer.Exit:
    """``--dry-run`` / ``--preflight-only``: print the plan (dry run) and every preflight check; change nothing."""
    from cutover import runner
    from cutover.preflight import Check
    from cutover.status import render_plan

    checks = runner.dry_run(plan, s, verify_report=verify_report, allow_multi_writer=allow_multi_writer,
                            sync_status=sync_status)
    if s.store.exists():
        old = s.store.load()
        if not old.terminal:
            checks.append(Check("state-dir", False, f"a cutover from {old.plan.blue} to {old.plan.green} is "
                                                   f"{old.phase.value} in {s.store.root}",
                                "add --resume to continue it, or `akshift rollback`"))
    ok = all(c.ok for c in checks)
    if output is Output.json:
        doc: dict[str, Any] = {"schemaVersion": 1, "dryRun": dry_run, "preflightOnly": not dry_run, "ok": ok,
                               "preflight": [c.to_dict() for c in checks], "changed": False}
        if dry_run:
            doc["plan"] = plan.to_dict()
        emit_json(doc)
    else:
        if dry_run:
            typer.echo(render_plan(plan))
        typer.echo("preflight:")
        for c in checks:
            typer.echo(f"  {'ok  ' if c.ok else 'FAIL'} {c.name}: {c.detail}" + (f" (fix: {c.fix})" if not c.ok and
                                                                                c.fix else ""))
        typer.echo(("nothing was changed (dry run)" if dry_run else "nothing was changed (preflight only)")
                   + ("" if ok else "; the cutover would be refused"))
    return typer.Exit(OK if ok else 2)


# -- commands ----------------------------------------------------------------------


def cutover_cmd(
    ctx: typer.Context,
    from_: str = From, to: str = To,
    steps: str = typer.Option("0,10,50,100", "--steps", help="green's weight in percent at each step"),
    hold: float = duration_option("5m", "--hold", help="how long each step is held and observed"),
    gate: list[str] = typer.Option([], "--gate", help="http:URL[,p95=300ms,status=200-299,samples=10] | "
                                   "ready:deployment/NS/NAME | errors:URL,max=1%[,total=SEL,failed=SEL][,allow-idle]; "
                                   "http/errors also take header=, token-env=, token-cmd=, resolve=HOST:PORT:ADDR, "
                                   "ca= (repeatable)"),
    gate_interval: float = duration_option("10s", "--gate-interval", help="how often gates are evaluated in a hold"),
    rollback_to: RollbackTarget = typer.Option(RollbackTarget.blue, "--rollback-to",
                                               help="where a failed gate sends traffic: blue (100%) or last-good"),
    router: RouterKind = RouterOpt, haproxy_socket: Path = HaSocket, haproxy_backend: str = HaBackend,
    haproxy_state_file: Path = HaState, stack: str = Stack, work_dir: Path = WorkDir, pulumi_root: str = PulumiRoot,
    verify_report: Path = typer.Option(Path("out/migration/verify.json"), "--verify-report",
                                       help="green's verify.json from `akshift verify` (must be ok)"),
    blue_kubeconfig: Path = BlueKube, blue_context: str = BlueCtx, blue_stack: str = BlueStack,
    green_kubeconfig: Path = GreenKube, green_context: str = GreenCtx, green_stack: str = GreenStack,
    no_freeze: bool = typer.Option(False, "--no-freeze", help="do not freeze blue (only when blue has no API to "
                                                              "freeze, such as the loopback sandbox)"),
    allow_multi_writer: list[str] = typer.Option([], "--allow-multi-writer",
                                                 help="NAMESPACE/NAME of a StatefulSet safe to run on both clusters"),
    no_sync_check: bool = typer.Option(False, "--no-sync-check",
                                       help="start even when `akshift sync` is not running or lags (its "
                                            "sync-status.json beside --verify-report); only when blue no longer "
                                            "changes"),
    state_dir: Path = StateDir,
    resume: bool = typer.Option(False, "--resume", help="continue the cutover persisted in --state-dir"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the plan and the preflight checks; change nothing"),
    preflight_only: bool = typer.Option(False, "--preflight-only",
                                        help="run the preflight checks only (exit 0 when they pass, 2 when not); "
                                             "change nothing"),
    output: Output = OutputOption,
) -> None:
    """Shift traffic from --from to --to in --steps, holding each and rolling back on a failed --gate."""
    if ctx.invoked_subcommand is not None:
        return
    from cutover import runner
    from cutover.plan import Plan, RollbackTo, differences, parse_steps
    from cutover.store import CutoverStore

    if (dry_run or preflight_only) and resume:
        raise fail("--dry-run and --preflight-only preview a new cutover; they do not combine with --resume")
    store = CutoverStore(state_dir)
    requested = None
    if from_ or to or not resume:
        if not from_ or not to:
            raise fail("--from and --to are required (the switch's endpoint names, such as blue and green)")
        if blue_kubeconfig is None and not no_freeze:
            raise fail("--blue-kubeconfig is required to freeze blue during the cutover; "
                       "pass --no-freeze only where blue has no API to freeze")
        requested = Plan(from_, to, parse_steps(steps), hold, tuple(gate),
                         _router_spec(router, haproxy_socket, haproxy_backend, haproxy_state_file, stack,
                                      work_dir, pulumi_root),
                         rollback_to=RollbackTo(rollback_to.value),
                         gate_interval_seconds=gate_interval,
                         blue_kube=_kube_spec(blue_kubeconfig, blue_context, blue_stack),
                         green_kube=_kube_spec(green_kubeconfig, green_context, green_stack))
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

    from migration.sync import STATUS_FILE

    sync_status = None if no_sync_check else verify_report.parent / STATUS_FILE
    display = _Display(output)
    blue = _kube(dict(plan.blue_kube) if plan.blue_kube else None, "blue")
    green = _kube(dict(plan.green_kube) if plan.green_kube else None, "green")
    s = None
    try:
        s = _session(state_dir, dict(plan.router), list(plan.gates), blue, green, display)
        if dry_run or preflight_only:
            raise _preview(plan, s, output, dry_run=dry_run, verify_report=verify_report,
                           allow_multi_writer=allow_multi_writer, sync_status=sync_status)
        with store.locked():
            if resume:
                state = runner.resume(s)
            else:
                state = runner.begin(plan, s, verify_report=verify_report, allow_multi_writer=allow_multi_writer,
                                     sync_status=sync_status)
            state = runner.drive(state, s)
    except KeyboardInterrupt:
        display.stop()
        if s is not None:
            s.log("interrupted")
        _write_report(store)
        raise fail("interrupted; the state is saved: `akshift cutover --resume` or `akshift rollback`", FAILED) from None
    except typer.Exit:
        raise
    except Exception:  # noqa: BLE001 - re-raised as it is, after the resume hint
        display.stop()
        _write_report(store)
        _resume_hint(store)
        raise
    finally:
        display.stop()
        if s is not None and s.gates is not None:
            s.gates.close()
        for c in (blue, green):
            if c is not None:
                c.close()
    _write_report(store)
    raise _finish(state, output, store)


def status_cmd(state_dir: Path = StateDir, output: Output = OutputOption) -> None:
    """Where the cutover in --state-dir stands: phase, step, weights, time left in the hold, last gate results."""
    from cutover.status import render_status, status
    from cutover.store import CutoverStore

    store = CutoverStore(state_dir)
    state = store.load()
    doc = status(state, store.events(), now=time.time(), running=store.running())
    if output is Output.json:
        emit_json(doc)
    else:
        typer.echo(render_status(doc))
    raise typer.Exit(OK)


def report_cmd(state_dir: Path = StateDir, output: Output = OutputOption) -> None:
    """Write report.md in --state-dir again from its state and log (weights, holds and gates as charts)."""
    from cutover.report import render_report
    from cutover.store import CutoverStore

    store = CutoverStore(state_dir)
    path = store.write_report(render_report(store.load(), store.events()))
    if output is Output.json:
        emit_json({"schemaVersion": 1, "report": str(path)})
    else:
        typer.echo(f"wrote {path}")
    raise typer.Exit(OK)


def rollback_cmd(
    state_dir: Path = StateDir, from_: str = From, to: str = To, router: RouterKind = RouterOpt,
    haproxy_socket: Path = HaSocket, haproxy_backend: str = HaBackend, haproxy_state_file: Path = HaState,
    stack: str = Stack, work_dir: Path = WorkDir, pulumi_root: str = PulumiRoot,
    blue_kubeconfig: Path = BlueKube, blue_context: str = BlueCtx, blue_stack: str = BlueStack,
    wait: float = duration_option("2m", "--wait", help="how long to wait for a running cutover to roll back"),
    output: Output = OutputOption,
) -> None:
    """Put blue back to 100% and unfreeze it. Without a state, pass --from/--to and the router options."""
    from cutover import runner
    from cutover.routers import from_spec
    from cutover.store import CutoverStore

    store = CutoverStore(state_dir)
    if not store.exists():
        if not from_ or not to or router is None:
            raise fail(f"no cutover state in {state_dir}: pass --from, --to and --router (with its options) to set "
                       "the switch directly")
        spec = _router_spec(router, haproxy_socket, haproxy_backend, haproxy_state_file, stack, work_dir, pulumi_root)
        weights = runner.rollback_without_state(from_spec(spec), from_, to)
        if output is Output.json:
            emit_json({"phase": "rolled_back", "weights": weights, "state": None})
        else:
            typer.echo("rolled back without a state: " + ", ".join(f"{n} {w}%" for n, w in weights.items()))
        raise typer.Exit(OK)
    plan = store.load().plan
    blue_spec = _kube_spec(blue_kubeconfig, blue_context, blue_stack) or (dict(plan.blue_kube) if plan.blue_kube else None)
    blue = _kube(blue_spec, "blue")
    display = _Display(output)
    try:
        s = _session(state_dir, dict(plan.router), None, blue, None, display)
        state = runner.rollback(s, "manual rollback (akshift rollback)", wait=wait)
    except Exception:  # noqa: BLE001 - re-raised as it is, after the resume hint
        _resume_hint(store)
        raise
    finally:
        display.stop()
        if blue is not None:
            blue.close()
    _write_report(store)
    raise _finish(state, output, store, code=OK)  # blue is back: for a manual rollback that is success


def decommission_cmd(
    cluster: str = typer.Argument(..., help="the cutover's blue cluster, such as blue"),
    soak: float = duration_option("24h", "--soak", help="time green must have served 100% before blue may go"),
    health_window: float = duration_option("30s", "--health-window", help="how long to observe green's gates first"),
    state_dir: Path = StateDir, green_kubeconfig: Path = GreenKube, green_context: str = GreenCtx,
    green_stack: str = GreenStack,
    output: Output = OutputOption,
) -> None:
    """Retire blue from the switch: refused while blue has weight, green fails a gate, or the soak is not over."""
    from cutover import runner
    from cutover.store import CutoverStore

    store = CutoverStore(state_dir)
    plan = store.load().plan
    green_spec = _kube_spec(green_kubeconfig, green_context, green_stack) or (dict(plan.green_kube) if plan.green_kube else None)
    green = _kube(green_spec, "green")
    display = _Display(output)
    s = None
    try:
        s = _session(state_dir, dict(plan.router), list(plan.gates), None, green, display)
        if s.gates is not None:
            s.gates.authenticate()
        state = runner.decommission(s, cluster, soak_seconds=soak, window_seconds=health_window)
    finally:
        display.stop()
        if s is not None and s.gates is not None:
            s.gates.close()
        if green is not None:
            green.close()
        _write_report(store)
    if output is Output.text:
        typer.echo(f"{cluster} is out of the switch; delete its cluster when ready "
                   f"(its stack: `pulumi destroy`), then its kubeconfig")
    raise _finish(state, output, store)


if __name__ == "__main__":
    _app = typer.Typer(cls=Boundary, name="akshift-cutover", no_args_is_help=True, pretty_exceptions_enable=False)
    register(_app)
    _app()
