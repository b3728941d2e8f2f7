"""`akshift volumes plan|move|verify|rollback`: carry PersistentVolume data to the new cluster, or say why not.

Why a command group of its own: moving data is the one step of a migration
that writes to the *source* (stopping the writers of a disk before it is
snapshotted) and to Azure (snapshots and disks), so it is never a silent side
effect: a person runs it (or ``akshift migrate --move-volumes``), with
``--quiesce-source`` spelled out, and can undo the source side with
``rollback``. The order in a run directory is::

    akshift inventory …
    akshift volumes plan   --out RUN --target new.kubeconfig          # → RUN/volumes-plan.json (no writes)
    akshift transform …    # reads the plan: the carried PVs are written pointing at their copies
    akshift volumes move   --source old --target new --out RUN --quiesce-source
    akshift apply …        # the claims bind to the copies' static PVs
    akshift volumes verify --target new.kubeconfig --out RUN          # every claim Bound to the source's data
    akshift volumes rollback --source old --out RUN                   # if needed: writers back, exact counts

Exit codes (akshift.output): 0 every volume carried (or nothing to carry), 1
some volume blocked, waiting or failed (the migration is incomplete), 2 bad
input (no snapshot or plan, a bad ``--zone-map``, a rolled-back run, a
transform made without the plan), 3 a cluster is unreachable. Each command
calls one function of :mod:`migration.pipeline`; this module is the shell.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from akshift import options as opt
from akshift.output import FAILED, OK, Boundary, Output, OutputOption, emit_json

app = typer.Typer(cls=Boundary, help="Carry PersistentVolume data to the new cluster: plan, move, verify, rollback.",
                  no_args_is_help=True)

ZoneMap = typer.Option([], "--zone-map", help="SOURCE_ZONE=TARGET_ZONE to restore a zonal disk into another zone "
                                              "(=ZONE for regional disks); repeatable")
BindTimeout = opt.duration_option("1m", "--timeout", help="how long to wait for claims to bind on the target")


def _options(out: Path, **kw: Any) -> Any:
    from migration.pipeline import VolumeOptions

    return VolumeOptions(out=out, **kw)


@app.command("plan")
def plan(out: Path = opt.Out, target: Path = opt.Target, target_context: str = opt.TargetCtx, target_stack: str = opt.TargetStack,
         target_resource_group: str = opt.TargetResourceGroup, zone_map: list[str] = ZoneMap,
         output: Output = OutputOption) -> None:
    """Decide per claim how its data reaches the target → OUT/volumes-plan.json (nothing is written to a cluster)."""
    from migration import pipeline
    from migration.volumes import parse_zone_map

    options = _options(out, resource_group=opt.disk_copy_group(target_resource_group, target_stack),
                       zone_map=parse_zone_map(zone_map))
    tgt = opt.client(target, target_context, "target", stack=target_stack) if target or target_context or target_stack else None
    try:
        moves = pipeline.plan_volumes(tgt, options=options)
    finally:
        if tgt:
            tgt.close()
    blocked = [m for m in moves if m.blocked]
    if output is Output.json:
        emit_json({"plan": str(out / "volumes-plan.json"), "volumes": [
            {"claim": m.key, "pv": m.pv_name, "strategy": m.strategy.value, "reason": m.reason,
             "findings": [f.to_dict() for f in m.findings]} for m in moves]})
    else:
        for m in moves:
            typer.echo(f"{m.strategy.value:16} {m.key}: {m.reason}")
            opt.print_findings(m.findings)
        typer.echo(f"volumes plan: {len(moves)} claims, {len(blocked)} blocked → {out / 'volumes-plan.json'}")
    raise typer.Exit(FAILED if blocked else OK)


@app.command("move")
def move(source: Path = opt.Source, source_context: str = opt.SourceCtx, source_stack: str = opt.SourceStack, target: Path = opt.Target,
         target_context: str = opt.TargetCtx, target_stack: str = opt.TargetStack, out: Path = opt.Out, quiesce_source: bool = opt.QuiesceSource,
         disk_mover: opt.Mover = opt.DiskMoverOpt, release_timeout: float = opt.ReleaseTimeout,
         output: Output = OutputOption) -> None:
    """Stop writers (with --quiesce-source), copy disks, put static PVs on the target; resumable."""
    from migration import pipeline

    options = _options(out, quiesce_source=quiesce_source, release_timeout=release_timeout)
    with opt.client(source, source_context, "source", stack=source_stack) as src, opt.client(target, target_context, "target", stack=target_stack) as tgt:
        report = pipeline.move_volumes(src, tgt, options=options, disk_mover=opt.disk_mover(disk_mover, out))
    if output is Output.json:
        emit_json(report.to_dict())
    else:
        for w in report.writers:
            typer.echo(f"writer {w.status:9} {w.key}: {w.message}")
        for v in report.volumes:
            typer.echo(f"{v.status:15} {v.key}: {v.message}")
            opt.print_findings([f for f in v.findings if f.severity.value == "blocker"])
        typer.echo("volumes move: " + ", ".join(f"{n} {s}" for s, n in report.counts().items())
                   + f" → {out / 'volumes-move.json'}")
    raise typer.Exit(OK if report.ok else FAILED)


@app.command("verify")
def verify(target: Path = opt.Target, target_context: str = opt.TargetCtx, target_stack: str = opt.TargetStack, out: Path = opt.Out,
           timeout: float = BindTimeout, output: Output = OutputOption) -> None:
    """Check every claim on the target is Bound to a volume carrying the source's data (by recorded lineage)."""
    from migration import pipeline

    with opt.client(target, target_context, "target", stack=target_stack) as tgt:
        result = pipeline.verify_volumes(tgt, options=_options(out, bind_timeout=timeout))
    if output is Output.json:
        emit_json(result.to_dict())
    else:
        for c in result.volumes:
            typer.echo(f"{c.status:9} {c.key}: {c.message}")
        typer.echo(f"volumes verify: {sum(c.ok for c in result.volumes)}/{len(result.volumes)} claims carry the "
                   "source's data")
    raise typer.Exit(OK if result.ok else FAILED)


@app.command("rollback")
def rollback(source: Path = opt.Source, source_context: str = opt.SourceCtx, source_stack: str = opt.SourceStack, out: Path = opt.Out,
             output: Output = OutputOption) -> None:
    """Restart the writers `volumes move` stopped on the source, with their exact previous counts.

    Source disks were only read and stay untouched; the copies and green PVs stay too (Retain).
    """
    from migration import pipeline
    from migration.volumes import WriterStatus

    with opt.client(source, source_context, "source", stack=source_stack) as src:
        results = pipeline.rollback_volumes(src, options=_options(out))
    ok = all(r.ok for r in results)
    if output is Output.json:
        emit_json({"ok": ok, "writers": [r.to_dict() for r in results]})
    else:
        for r in results:
            typer.echo(f"{r.status:9} {r.key}: {r.message}")
        typer.echo(f"volumes rollback: {sum(r.status is WriterStatus.RESTORED for r in results)} writers restarted")
    raise typer.Exit(OK if ok else FAILED)
