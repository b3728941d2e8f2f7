"""`akshift inventory|transform|plan|apply|verify|migrate|keygen`: the migration stages on the command line.

Why shaped so: each command parses its options into a
:class:`migration.pipeline.MigrateOptions`, opens the clusters it needs, calls
*one* function of :mod:`migration.pipeline` and prints the typed result. The
order of the stages, their artifacts (``plan.json``, ``verify.json`` …) and
the volume move inside ``migrate`` belong to the pipeline. A team can run the
stages one by one over one run directory (``--out``), review the artifacts
between them (``git diff`` of ``transformed/``), or run ``migrate`` for the
whole path. Exit codes (akshift.output): 0 clean, 1 done with
failures/gaps/blocking findings, 2 bad input, 3 cluster unreachable.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from akshift import options as opt
from akshift.output import FAILED, OK, Output, OutputOption, emit_json, err_console

ExcludeSecrets = typer.Option(False, "--exclude-secrets", help="leave Secrets out (listed as excluded)")
Overwrite = typer.Option(False, "--overwrite", help="replace existing snapshot/transformed directories")
AllowModified = typer.Option(False, "--allow-modified",
                             help="accept object files of OUT/snapshot or OUT/transformed edited by hand (recorded in "
                                  "the report); missing or extra files are refused all the same")
Force = typer.Option(False, "--force-conflicts", help="take over fields owned by other managers on the target")
Namespace = typer.Option([], "--namespace", "-n", help="only these namespaces (repeatable)")
Kind = typer.Option([], "--kind", help="only these kinds: Kind, plural or plural.group (repeatable)")
Selector = typer.Option(None, "--selector", "-l", help="label selector for the inventory")
PodCidr = typer.Option(None, "--target-pod-cidr", help="target pod CIDR (default: inferred from target nodes)")
SourcePodCidr = typer.Option(None, "--source-pod-cidr",
                             help="the old cluster's kubenet pod CIDR (default: read from its nodes' podCIDRs)")
PoolMap = typer.Option([], "--node-pool-map", help="old=new node-pool name (repeatable; default by pool mode)")
Timeout = opt.duration_option("2m", "--ready-timeout", help="how long to wait for workloads to become ready")
MoveVolumes = typer.Option(False, "--move-volumes", help="carry PersistentVolume data too: plan the volumes before "
                                                         "the transform, move them before plan and apply, verify "
                                                         "them (as `akshift volumes plan/move/verify` do)")
QuiesceSource = typer.Option(False, "--quiesce-source", help="with --move-volumes: stop the disks' writers on the "
                                                             "source (recorded; undone by `akshift volumes rollback`)")
EmptyVolumes = typer.Option(False, "--empty-volumes",
                            help="a rehearsal on a test cluster: leave out the PVs on the source's Azure Disks and "
                                 "shares, so their claims start on new, empty volumes of the target (nothing there "
                                 "names the source's storage); each claim is reported as volume-data-not-copied, "
                                 "and verify never vouches for such a cluster to serve")
DiskMover = typer.Option(opt.Mover.pulumi, "--disk-mover",
                         help="with --move-volumes: pulumi (Azure, via the VolumeMove component) or sandbox (local "
                              "stand-in, creates no disk)")


def register(app: typer.Typer) -> None:
    """Add the migration commands to the top-level app."""
    for fn in (keygen, inventory, transform, plan, apply, verify, migrate):
        app.command()(fn)


def _options(out: Path, **kw: Any) -> Any:
    from migration.pipeline import MigrateOptions

    return MigrateOptions(out=out, **kw)


def _pools(node_pool_map: list[str]) -> dict[str, str]:
    return opt.key_values("--node-pool-map", node_pool_map, "nodepool1=system")


# -- printing ----------------------------------------------------------------------


def _print_outcomes(result: Any, output: Output, extra: dict[str, Any] | None = None) -> None:
    counts = result.counts()
    notes = list(getattr(result, "notes", ()))
    if output is Output.json:
        emit_json({"stage": result.stage.value, "counts": counts, **(extra or {}), **({"notes": notes} if notes else {}),
                   "problems": [o.to_dict() for o in result.problems()]})
        return
    for note in notes:
        err_console.print(f"[yellow]note:[/] {escape(note)}", markup=True)
    typer.echo(f"{result.stage.value}: " + ", ".join(f"{n} {a}" for a, n in counts.items()))
    for o in result.problems():
        err_console.print(f"[red]{o.action}:[/] {escape(o.ref)}: {escape(o.message)}", markup=True)


def _print_verification(v: Any, out: Path, output: Output) -> None:
    if output is Output.json:
        emit_json(v.summary())
        return
    typer.echo("verify: " + ", ".join(f"{n} {s}" for s, n in v.counts.items())
               + f"; {len(v.unaccounted)} unaccounted; {len(v.not_ready)} not ready → {out / 'report.md'}")
    for p in v.unaccounted:
        err_console.print(f"[red]unaccounted:[/] {escape(p)}", markup=True)
    for p in v.not_ready:
        err_console.print(f"[red]not ready:[/] {escape(p)}", markup=True)
    for r in v.problems:
        err_console.print(f"[red]{r['status']}:[/] {escape(r['object'])}: {escape(r['message'])}", markup=True)
    if v.data_not_copied:
        typer.echo(f"verify: {len(v.data_not_copied)} claims started empty (--empty-volumes, a rehearsal): their "
                   "data was not copied; this cluster is not vouched for to serve")


# -- commands ----------------------------------------------------------------------

def keygen(out: Path = typer.Argument(..., help="where to write the new age identity (0600)")) -> None:
    """Create an age identity for encrypting Secrets in snapshots; prints its public recipient."""
    import pyrage

    if out.exists():
        raise opt.bad_input(f"{out} exists; not overwriting a key (choose another path)")
    ident = pyrage.x25519.Identity.generate()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.touch(mode=0o600)
        out.write_text(f"# public key: {ident.to_public()}\n{ident}\n")
    except OSError as e:
        raise opt.bad_input(f"cannot write the key to {out} ({e.strerror or e}): choose a writable path") from e
    typer.echo(str(ident.to_public()))


def inventory(source: Path = opt.Source, source_context: str = opt.SourceCtx, source_stack: str = opt.SourceStack, out: Path = opt.Out,
              namespace: list[str] = Namespace, kind: list[str] = Kind, selector: str = Selector,
              age_recipient: list[str] = opt.Recipient, age_identity: Path = opt.Identity,
              exclude_secrets: bool = ExcludeSecrets, overwrite: bool = Overwrite,
              concurrency: int = opt.Concurrency, output: Output = OutputOption) -> None:
    """List every served type of the source cluster into OUT/snapshot (read only)."""
    from migration import pipeline

    options = _options(out, namespaces=tuple(namespace), kinds=tuple(kind), label_selector=selector,
                       exclude_secrets=exclude_secrets, overwrite=overwrite, concurrency=concurrency)
    key = opt.secret_key(age_recipient, age_identity, exclude_secrets, decrypt=False)
    with opt.client(source, source_context, "source", concurrency, stack=source_stack) as src:
        s = pipeline.inventory(src, options=options, secret_key=key, progress=opt.progress_for(output))
    if output is Output.json:
        emit_json(s.to_dict())
    else:
        typer.echo(f"inventory: {s.objects} objects of {s.types} types in {s.seconds:.1f}s → {s.path}")
        for e in s.errors:
            err_console.print(f"[red]error:[/] {escape(e)}", markup=True)
    raise typer.Exit(OK if s.ok else FAILED)


def transform(out: Path = opt.Out, target: Path = opt.Target, target_context: str = opt.TargetCtx, target_stack: str = opt.TargetStack,
              age_recipient: list[str] = opt.Recipient, age_identity: Path = opt.Identity,
              overwrite: bool = Overwrite, target_pod_cidr: str = PodCidr, node_pool_map: list[str] = PoolMap,
              allow_modified: bool = AllowModified, target_node_dns: str = opt.TargetNodeDns,
              source_pod_cidr: str = SourcePodCidr, empty_volumes: bool = EmptyVolumes,
              accept_blockers: list[str] = opt.AcceptBlockers, output: Output = OutputOption) -> None:
    """Sanitize and rewrite OUT/snapshot into OUT/transformed, with findings (no cluster is written).

    With a volume plan in OUT (`akshift volumes plan`), the PVs it carries point at their copies.
    """
    from migration import pipeline

    options = _options(out, overwrite=overwrite, target_pod_cidr=target_pod_cidr, source_pod_cidr=source_pod_cidr,
                       node_pool_map=_pools(node_pool_map), allow_modified=allow_modified,
                       target_node_dns=opt.node_dns(target_node_dns), empty_volumes=empty_volumes,
                       accept_blockers=tuple(accept_blockers))
    key = opt.secret_key(age_recipient, age_identity, True, decrypt=True)
    tgt = opt.client(target, target_context, "target", stack=target_stack) if target or target_context or target_stack else None
    try:
        t = pipeline.transform(tgt, options=options, secret_key=key, progress=opt.progress_for(output))
    finally:
        if tgt:
            tgt.close()
    if output is Output.json:
        emit_json(t.to_dict())
    else:
        pvs = f", {t.volume_pvs} PVs as the volume plan puts them on the target" if t.volume_pvs else ""
        typer.echo(f"transform: {t.kept} kept, {t.excluded} excluded, {len(t.failed)} failed, "
                   f"{len(t.findings)} findings{pvs} → {out / 'report.md'}")
    raise typer.Exit(OK if t.ok else FAILED)


def _target_stage(stage: Any, target: Path | None, target_context: str | None, target_stack: str | None, out: Path,
                  age_recipient: list[str], age_identity: Path | None, force_conflicts: bool, concurrency: int,
                  target_pod_cidr: str | None, node_pool_map: list[str], allow_modified: bool,
                  accept_blockers: list[str], output: Output) -> None:
    """The one body of `plan` and `apply`: options, key and target client, then one pipeline stage, then print."""
    options = _options(out, force_conflicts=force_conflicts, concurrency=concurrency,
                       target_pod_cidr=target_pod_cidr, node_pool_map=_pools(node_pool_map),
                       allow_modified=allow_modified, accept_blockers=tuple(accept_blockers))
    key = opt.secret_key(age_recipient, age_identity, True, decrypt=True)
    with opt.client(target, target_context, "target", concurrency, stack=target_stack) as tgt:
        result = stage(tgt, options=options, secret_key=key, progress=opt.progress_for(output))
    _print_outcomes(result, output, {"seconds": round(result.seconds, 2)})
    raise typer.Exit(OK if result.ok else FAILED)


def plan(target: Path = opt.Target, target_context: str = opt.TargetCtx, target_stack: str = opt.TargetStack, out: Path = opt.Out,
         age_recipient: list[str] = opt.Recipient, age_identity: Path = opt.Identity, force_conflicts: bool = Force,
         concurrency: int = opt.Concurrency, target_pod_cidr: str = PodCidr, node_pool_map: list[str] = PoolMap,
         allow_modified: bool = AllowModified, accept_blockers: list[str] = opt.AcceptBlockers,
         output: Output = OutputOption) -> None:
    """Dry-run OUT/transformed against the target (dryRun=All): create / update / unchanged / conflict / rejected."""
    from migration import pipeline

    _target_stage(pipeline.plan, target, target_context, target_stack, out, age_recipient, age_identity,
                  force_conflicts, concurrency, target_pod_cidr, node_pool_map, allow_modified, accept_blockers, output)


def apply(target: Path = opt.Target, target_context: str = opt.TargetCtx, target_stack: str = opt.TargetStack, out: Path = opt.Out,
          age_recipient: list[str] = opt.Recipient, age_identity: Path = opt.Identity, force_conflicts: bool = Force,
          concurrency: int = opt.Concurrency, target_pod_cidr: str = PodCidr, node_pool_map: list[str] = PoolMap,
          allow_modified: bool = AllowModified, accept_blockers: list[str] = opt.AcceptBlockers,
          output: Output = OutputOption) -> None:
    """Server-side apply OUT/transformed to the target in dependency order; resumable (OUT/apply-journal.jsonl)."""
    from migration import pipeline

    _target_stage(pipeline.apply, target, target_context, target_stack, out, age_recipient, age_identity,
                  force_conflicts, concurrency, target_pod_cidr, node_pool_map, allow_modified, accept_blockers, output)


def verify(target: Path = opt.Target, target_context: str = opt.TargetCtx, target_stack: str = opt.TargetStack, out: Path = opt.Out,
           age_recipient: list[str] = opt.Recipient, age_identity: Path = opt.Identity,
           concurrency: int = opt.Concurrency, ready_timeout: float = Timeout, allow_modified: bool = AllowModified,
           output: Output = OutputOption) -> None:
    """Account for every source object on the target; compare declared fields; wait for workloads."""
    from migration import pipeline

    options = _options(out, concurrency=concurrency, ready_timeout=ready_timeout, allow_modified=allow_modified)
    key = opt.secret_key(age_recipient, age_identity, True, decrypt=True)
    with opt.client(target, target_context, "target", concurrency, stack=target_stack) as tgt:
        v = pipeline.verify(tgt, options=options, secret_key=key, progress=opt.progress_for(output))
    _print_verification(v, out, output)
    raise typer.Exit(OK if v.ok else FAILED)


def migrate(source: Path = opt.Source, source_context: str = opt.SourceCtx, source_stack: str = opt.SourceStack, target: Path = opt.Target,
            target_context: str = opt.TargetCtx, target_stack: str = opt.TargetStack, out: Path = opt.Out, namespace: list[str] = Namespace,
            kind: list[str] = Kind, selector: str = Selector, age_recipient: list[str] = opt.Recipient,
            age_identity: Path = opt.Identity, exclude_secrets: bool = ExcludeSecrets, overwrite: bool = Overwrite,
            force_conflicts: bool = Force, concurrency: int = opt.Concurrency, target_pod_cidr: str = PodCidr,
            node_pool_map: list[str] = PoolMap, ready_timeout: float = Timeout, move_volumes: bool = MoveVolumes,
            quiesce_source: bool = QuiesceSource, disk_mover: opt.Mover = DiskMover,
            empty_volumes: bool = EmptyVolumes, target_resource_group: str = opt.TargetResourceGroup, accept_blockers: list[str] = opt.AcceptBlockers,
            target_node_dns: str = opt.TargetNodeDns, source_pod_cidr: str = SourcePodCidr,
            output: Output = OutputOption) -> None:
    """All stages: inventory, transform, plan, apply, verify (with --move-volumes: volume plan before the transform,
    volume move before the plan, volume verify before verify). Stops before apply if the plan has problems."""
    from migration import pipeline

    options = _options(out, namespaces=tuple(namespace), kinds=tuple(kind), label_selector=selector,
                       exclude_secrets=exclude_secrets, overwrite=overwrite, force_conflicts=force_conflicts,
                       concurrency=concurrency, target_pod_cidr=target_pod_cidr, source_pod_cidr=source_pod_cidr,
                       node_pool_map=_pools(node_pool_map), ready_timeout=ready_timeout, move_volumes=move_volumes,
                       volume_resource_group=opt.disk_copy_group(target_resource_group, target_stack)
                       if move_volumes else None,
                       quiesce_source=quiesce_source, accept_blockers=tuple(accept_blockers),
                       target_node_dns=opt.node_dns(target_node_dns), empty_volumes=empty_volumes)
    key = opt.secret_key(age_recipient, age_identity, exclude_secrets, decrypt=True)
    mover = opt.disk_mover(disk_mover, out) if move_volumes else None
    with opt.client(source, source_context, "source", concurrency, stack=source_stack) as src, \
            opt.client(target, target_context, "target", concurrency, stack=target_stack) as tgt:
        r = pipeline.migrate(src, tgt, options=options, secret_key=key, disk_mover=mover,
                             progress=opt.progress_for(output))
    if output is Output.json:
        emit_json(r.to_dict())
        raise typer.Exit(OK if r.ok else FAILED)
    for stage, counts in r.to_dict().items():
        if stage in {s.value for s in pipeline.Stage} and counts is not None:
            typer.echo(f"{stage}: {counts}")
    if r.volumes is not None:
        for v in r.volumes.volumes:
            if not v.ok:
                err_console.print(f"[red]volume {v.status}:[/] {escape(v.key)}: {escape(v.message)}", markup=True)
    if r.stopped_before_apply:
        for o in r.plan.problems():
            err_console.print(f"[red]{o.action}:[/] {escape(o.ref)}: {escape(o.message)}", markup=True)
        err_console.print("plan has conflicts or rejections: nothing applied; fix them or use "
                          "--force-conflicts, then run `akshift apply`", highlight=False)
        raise typer.Exit(FAILED)
    if r.apply is not None:
        for note in r.apply.notes:
            err_console.print(f"[yellow]note:[/] {escape(note)}", markup=True)
        for o in r.apply.problems():
            err_console.print(f"[red]{o.action}:[/] {escape(o.ref)}: {escape(o.message)}", markup=True)
    if r.volume_checks is not None:
        for c in r.volume_checks.volumes:
            if not c.ok:
                err_console.print(f"[red]volume {c.status}:[/] {escape(c.key)}: {escape(c.message)}", markup=True)
    if r.verification is not None:
        _print_verification(r.verification, out, output)
    raise typer.Exit(OK if r.ok else FAILED)
