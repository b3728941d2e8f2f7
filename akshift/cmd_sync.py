"""`akshift sync`: after `migrate`, keep green in step with blue until the cutover.

Why shaped so: the command parses its options into a
:class:`migration.sync.SyncOptions`, opens the two clusters, calls
:func:`migration.sync.sync` and prints; listing, watching, the journal and
``sync-status.json`` belong to :mod:`migration.sync`. Progress goes to stderr
(a summary every few seconds, conflicts, findings and watch errors as they
happen); with ``-o json`` stdout is the final result. SIGINT and SIGTERM end a
watching run cleanly (the status says ``stopped``); SIGKILL loses nothing (the
journal resumes it). As ``migrate``, an object with a blocker finding is held
back unless ``--accept-blockers CODE`` (or the run's apply, ``apply.json``)
accepted every blocker code it has, and
Calico policies are translated for a Cilium green. Exit codes: 0 in step, 1
conflicts, failures, objects held back or a new blocking finding, 2 bad input (the wrong target, no run, no key — nothing
changed), 3 a cluster unreachable.
"""
from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from akshift import options as opt
from akshift.output import FAILED, OK, Output, OutputOption, emit_json, err_console

PROGRESS_EVERY = 5.0  # seconds between progress lines on stderr


def register(app: typer.Typer) -> None:
    """Add `akshift sync` to the top-level app."""
    app.command("sync")(sync_cmd)


def _summary(status: dict[str, Any]) -> str:
    lag = status["lag"]
    counts = status["counts"]
    done = ", ".join(f"{counts[k]} {k}" for k in ("created", "updated", "deleted", "unchanged", "blocked")
                     if counts.get(k))
    figure = (f"lag p50 {lag['p50']:.3f}s p95 {lag['p95']:.3f}s over {lag['samples']}" if lag["p50"] is not None
              else "no change measured yet")
    return (f"sync {status['phase']}: {done or 'nothing carried yet'}; {figure}; {status['pending']} pending; "
            f"{len(status['conflicts'])} conflicts")


class _Progress:
    """Prints the runner's events on stderr: problems at once, a summary every few seconds."""

    def __init__(self, output: Output) -> None:
        self.output = output
        self.last = 0.0

    def __call__(self, event: dict[str, Any]) -> None:
        if self.output is Output.json:
            return
        kind = event.get("event")
        if kind == "blocked":
            err_console.print(f"[red]held back:[/] {escape(event['key'])}: {escape(event['message'])}", markup=True)
        elif kind == "change" and event["result"] in ("conflict", "failed"):
            err_console.print(f"[red]{event['result']}:[/] {escape(event['key'])}: {escape(event['message'])}",
                              markup=True)
        elif kind == "finding":
            f = event["finding"]
            err_console.print(f"[yellow]{f['severity']}[/] {f['code']}: {escape(f['object'])}: {escape(f['message'])}",
                              markup=True)
        elif kind == "accepted-blockers":
            err_console.print(f"accepting blockers as the run's apply did ({escape(event['from'])}): "
                              + escape(", ".join(event["codes"])), highlight=False)
        elif kind in ("watch-error", "expired"):
            what = event.get("message") or "resourceVersion expired: listing it again"
            err_console.print(f"[yellow]watch {escape(event['type'])}:[/] {escape(what)}", markup=True)
        elif kind == "heartbeat":
            now = time.monotonic()
            if now - self.last >= PROGRESS_EVERY or event["status"]["phase"] in ("once", "stopped"):
                self.last = now
                err_console.print(escape(_summary(event["status"])), highlight=False)


def sync_cmd(
    source: Path = opt.Source, source_context: str = opt.SourceCtx, source_stack: str = opt.SourceStack,
    target: Path = opt.Target, target_context: str = opt.TargetCtx, target_stack: str = opt.TargetStack,
    out: Path = opt.Out, identity: Path = opt.Identity,
    force_conflicts: bool = typer.Option(False, "--force-conflicts",
                                         help="take over fields someone changed directly on green (default: "
                                              "report them and keep green's value)"),
    once: bool = typer.Option(False, "--once", help="one list-and-reconcile pass over every type, then exit "
                                                     "(for tests and cron)"),
    max_lag: float = opt.duration_option("30s", "--max-lag", help="the lag bound the cutover's preflight holds the "
                                                                  "sync to; written to OUT/sync-status.json"),
    duration: float | None = opt.duration_option(None, "--duration", help="stop watching after this long (default: "
                                                                          "until interrupted)"),
    concurrency: int = typer.Option(8, "--concurrency", min=1, max=64, help="objects applied at once while "
                                                                             "catching up"),
    accept_blockers: list[str] = opt.AcceptBlockers,
    output: Output = OutputOption,
) -> None:
    """Keep --target (green) in step with --source (blue) after `akshift migrate`, until the cutover.

    Example: akshift sync --source blue.kubeconfig --target-stack prod --out out/migration --age-identity age.key
    """
    from migration.blockers import normalize_codes
    from migration.sync import SyncOptions, sync

    options = SyncOptions(out=out, force_conflicts=force_conflicts, once=once,
                          accept_blockers=normalize_codes(accept_blockers),
                          max_lag=max_lag, duration=duration,
                          concurrency=concurrency)
    key = opt.secret_key([], identity, True, decrypt=True)
    # One watch per type holds a connection for its whole life: the source's pool must fit them all.
    blue = opt.client(source, source_context, "source", 256, stack=source_stack)
    green = None
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        green = opt.client(target, target_context, "target", max(16, concurrency * 2), stack=target_stack)
        result = sync(blue, green, options=options, secret_key=key, report=_Progress(output), stop=stop)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        blue.close()
        if green is not None:
            green.close()
    if output is Output.json:
        emit_json(result.to_dict())
    else:
        lag = result.state.lag()
        typer.echo(f"sync {'pass' if result.once else 'run'} done in {result.seconds:.1f}s: "
                   + (", ".join(f"{n} {k}" for k, n in sorted(result.state.counts.items())) or "no change")
                   + (f"; lag p50 {lag['p50']:.3f}s p95 {lag['p95']:.3f}s" if lag["p50"] is not None else "")
                   + f"; {len(result.state.conflicts)} conflicts → {out / 'sync-status.json'}")
        for k, m in sorted(result.state.conflicts.items()):
            err_console.print(f"[red]conflict:[/] {escape(k)}: {escape(m)}", markup=True)
    raise typer.Exit(OK if result.ok else FAILED)

