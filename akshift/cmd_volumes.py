"""`akshift volumes plan|move|verify|rollback`: carry PersistentVolume data to the new cluster, or say why not.

Why a command group of its own: moving data is the one step of a migration
that writes to the *source* (stopping the writers of a disk before it is
snapshotted) and to Azure (snapshots and disks), so it is never a side effect
of ``migrate``: a person runs it, with ``--quiesce-source`` spelled out, and
can undo the source side with ``rollback``. The order in a run directory is::

    akshift inventory …  &&  akshift transform …
    akshift volumes plan   --out RUN --target new.kubeconfig          # → RUN/volumes-plan.json (no writes)
    akshift volumes move   --source old --target new --out RUN --quiesce-source
    akshift apply …        # the claims bind to the copies' static PVs
    akshift volumes verify --target new.kubeconfig --out RUN          # every claim Bound to the source's data
    akshift volumes rollback --source old --out RUN                   # if needed: writers back, exact counts

Exit codes (akshift.output): 0 every volume carried (or nothing to carry), 1
some volume blocked, waiting or failed (the migration is incomplete), 2 bad
input (no snapshot or plan, a bad ``--zone-map``, a rolled-back run), 3 a
cluster is unreachable. The decisions live in :mod:`migration.volumes`, the
actions in :mod:`migration.volume_move`; this module is the shell.
"""
from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import Any

import typer

from akshift.cmd_migrate import Out, Source, SourceCtx, Target, TargetCtx, _client
from akshift.output import Boundary, BAD_INPUT, ENVIRONMENT, FAILED, OK, Output, OutputOption, emit_json, err_console, fail

app = typer.Typer(cls=Boundary, help="Carry PersistentVolume data to the new cluster: plan, move, verify, rollback.",
                  no_args_is_help=True)


class Mover(str, enum.Enum):
    pulumi = "pulumi"
    sandbox = "sandbox"


ZoneMap = typer.Option([], "--zone-map", help="SOURCE_ZONE=TARGET_ZONE to restore a zonal disk into another zone "
                                              "(=ZONE for regional disks); repeatable")
ResourceGroup = typer.Option(None, "--target-resource-group",
                             help="where snapshots and new disks go (default: the target's node resource group)")
QuiesceOpt = typer.Option(False, "--quiesce-source",
                       help="stop the disks' writers on the source (scale to 0 / suspend CronJobs), recorded in "
                            "OUT/volumes-state.json and undone by `akshift volumes rollback`")
DiskMoverOpt = typer.Option(Mover.pulumi, "--disk-mover",
                            help="pulumi: snapshots and disks in Azure through the VolumeMove component; sandbox: "
                                 "the local sandbox's stand-in (no Azure; its disks do not exist)")
ReleaseTimeout = typer.Option(120.0, "--release-timeout",
                              help="seconds to wait for the source's pods to release a claim")
BindTimeout = typer.Option(60.0, "--timeout", help="seconds to wait for claims to bind on the target")


def _facts(target: Any, resource_group: str | None, zone_map: list[str]) -> Any:
    from migration.errors import PlanError
    from migration.volumes import TargetFacts, parse_zone_map, target_facts

    try:
        zones = parse_zone_map(zone_map)
    except PlanError as e:
        raise fail(str(e), BAD_INPUT) from e
    if target is None:
        return TargetFacts(resource_group=resource_group, zone_map=zones, known=False)
    return target_facts(target.get("/api/v1/nodes").get("items", []), resource_group=resource_group, zone_map=zones)


def _make_plan(out: Path, target: Any, resource_group: str | None, zone_map: list[str]) -> list[Any]:
    from migration.errors import InventoryError
    from migration.volume_move import plan_from_snapshot, write_plan

    facts = _facts(target, resource_group, zone_map)
    try:
        moves = plan_from_snapshot(out / "snapshot", facts)
    except InventoryError as e:
        raise fail(f"{e} (run `akshift inventory --out {out}` first)", BAD_INPUT) from e
    write_plan(out, moves, facts)
    return moves


def _print_findings(findings: list[Any]) -> None:
    for f in findings:
        colour = "red" if f.severity.value == "blocker" else "yellow"
        err_console.print(f"  [{colour}]{f.severity.value}[/] {f.code}: {f.message}\n    fix: {f.fix}", highlight=False)


@app.command("plan")
def plan(out: Path = Out, target: Path = Target, target_context: str = TargetCtx,
         target_resource_group: str = ResourceGroup, zone_map: list[str] = ZoneMap,
         output: Output = OutputOption) -> None:
    """Decide per claim how its data reaches the target → OUT/volumes-plan.json (nothing is written to a cluster)."""
    tgt = _client(target, target_context, "target") if target else None
    try:
        moves = _make_plan(out, tgt, target_resource_group, zone_map)
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
            _print_findings(list(m.findings))
        typer.echo(f"volumes plan: {len(moves)} claims, {len(blocked)} blocked → {out / 'volumes-plan.json'}")
    raise typer.Exit(FAILED if blocked else OK)


def _disk_mover(kind: Mover, out: Path) -> Any:
    from deploy.disk_mover import PulumiDiskMover
    from sandbox.disk_mover import FakeAzureDiskMover

    if kind is Mover.sandbox:
        return FakeAzureDiskMover()
    # Imported here, not at the top: the CLI does not load the Azure SDK at start-up.
    from components import volume_move as component

    (out / "pulumi").mkdir(parents=True, exist_ok=True)  # a file:// backend must exist before login
    return PulumiDiskMover(component.program, backend_url=f"file://{(out / 'pulumi').resolve()}",
                           env=dict(os.environ), on_output=lambda line: err_console.print(line, end="",
                                                                                          highlight=False))


@app.command("move")
def move(source: Path = Source, source_context: str = SourceCtx, target: Path = Target,
         target_context: str = TargetCtx, out: Path = Out, quiesce_source: bool = QuiesceOpt,
         disk_mover: Mover = DiskMoverOpt, release_timeout: float = ReleaseTimeout,
         output: Output = OutputOption) -> None:
    """Stop writers (with --quiesce-source), copy disks, put static PVs on the target; resumable."""
    import orjson

    from migration.volume_move import MOVE_REPORT, STATE_FILE, VolumeState, move_volumes, read_plan

    src = _client(source, source_context, "source")
    tgt = _client(target, target_context, "target")
    try:
        if not (out / "volumes-plan.json").exists():
            _make_plan(out, tgt, None, [])
        moves, _ = read_plan(out)
        state = VolumeState.load(out / STATE_FILE)
        report = move_volumes(src, tgt, moves, state, _disk_mover(disk_mover, out), quiesce_source=quiesce_source,
                              release_timeout=release_timeout, transformed_dir=out / "transformed")
    finally:
        src.close()
        tgt.close()
    data = report.to_dict()
    (out / MOVE_REPORT).write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    if output is Output.json:
        emit_json(data)
    else:
        for w in report.writers:
            typer.echo(f"writer {w.status:9} {w.key}: {w.message}")
        for v in report.volumes:
            typer.echo(f"{v.status:15} {v.key}: {v.message}")
            _print_findings([f for f in v.findings if f.severity.value == "blocker"])
        if report.transformed:
            typer.echo(f"transformed/: {len(report.transformed)} objects retargeted to the copies")
        typer.echo("volumes move: " + ", ".join(f"{n} {s}" for s, n in data["counts"].items())
                   + f" → {out / MOVE_REPORT}")
    raise typer.Exit(OK if report.ok else FAILED)


@app.command("verify")
def verify(target: Path = Target, target_context: str = TargetCtx, out: Path = Out, timeout: float = BindTimeout,
           output: Output = OutputOption) -> None:
    """Check every claim on the target is Bound to a volume carrying the source's data (by recorded lineage)."""
    import orjson

    from migration.errors import PlanError
    from migration.volume_move import STATE_FILE, VERIFY_REPORT, VolumeState, read_plan, verify_volumes

    tgt = _client(target, target_context, "target")
    try:
        moves, _ = read_plan(out)
        checks = verify_volumes(tgt, moves, VolumeState.load(out / STATE_FILE), timeout=timeout)
    except PlanError as e:
        raise fail(str(e), BAD_INPUT) from e
    finally:
        tgt.close()
    ok = all(c.ok for c in checks)
    data = {"ok": ok, "volumes": [c.to_dict() for c in checks]}
    (out / VERIFY_REPORT).write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    if output is Output.json:
        emit_json(data)
    else:
        for c in checks:
            typer.echo(f"{c.status:9} {c.key}: {c.message}")
        typer.echo(f"volumes verify: {sum(c.ok for c in checks)}/{len(checks)} claims carry the source's data")
    raise typer.Exit(OK if ok else FAILED)


@app.command("rollback")
def rollback(source: Path = Source, source_context: str = SourceCtx, out: Path = Out,
             output: Output = OutputOption) -> None:
    """Restart the writers `volumes move` stopped on the source, with their exact previous counts.

    Source disks were only read and stay untouched; the copies and green PVs stay too (Retain).
    """
    from migration.errors import PlanError
    from migration.volume_move import STATE_FILE, VolumeState, rollback as run_rollback

    if not (out / STATE_FILE).exists():
        raise fail(f"{out / STATE_FILE} does not exist: `akshift volumes move` stopped nothing in this run", BAD_INPUT)
    src = _client(source, source_context, "source")
    try:
        results = run_rollback(src, VolumeState.load(out / STATE_FILE))
    except PlanError as e:
        raise fail(str(e), BAD_INPUT) from e
    finally:
        src.close()
    ok = all(r.ok for r in results)
    if output is Output.json:
        emit_json({"ok": ok, "writers": [r.to_dict() for r in results]})
    else:
        for r in results:
            typer.echo(f"{r.status:9} {r.key}: {r.message}")
        typer.echo(f"volumes rollback: {sum(r.status == 'restored' for r in results)} writers restarted")
    raise typer.Exit(OK if ok else FAILED)
