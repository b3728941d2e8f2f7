"""`akshift inventory|transform|plan|apply|verify|migrate|keygen`: the migration stages on the command line.

Why shaped so: each command is one stage of ``migration.stages`` over one run
directory (``--out``), so a team can run them one by one, review the
artifacts between stages (``git diff`` of ``transformed/``), or run
``migrate`` for the whole path. Exit codes (akshift.output): 0 clean, 1 done
with failures/gaps/blocking findings, 2 bad input, 3 cluster unreachable.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from akshift.output import BAD_INPUT, ENVIRONMENT, FAILED, OK, Output, OutputOption, emit_json, err_console, fail

Source = typer.Option(None, "--source", help="kubeconfig of the old (kubenet) cluster; only read")
SourceCtx = typer.Option(None, "--source-context", help="context in the source kubeconfig")
Target = typer.Option(None, "--target", help="kubeconfig of the new cluster")
TargetCtx = typer.Option(None, "--target-context", help="context in the target kubeconfig")
Out = typer.Option(Path("out/migration"), "--out", help="run directory: snapshot/, transformed/, reports")
Recipient = typer.Option([], "--age-recipient", help="age public key to encrypt Secrets to (repeatable)")
Identity = typer.Option(None, "--age-identity", help="age identity file (encrypts and decrypts Secrets)")
ExcludeSecrets = typer.Option(False, "--exclude-secrets", help="leave Secrets out (listed as excluded)")
Overwrite = typer.Option(False, "--overwrite", help="replace existing snapshot/transformed directories")
Concurrency = typer.Option(32, "--concurrency", min=1, max=128, help="requests in flight (hides API round trips)")
Force = typer.Option(False, "--force-conflicts", help="take over fields owned by other managers on the target")
Namespace = typer.Option([], "--namespace", "-n", help="only these namespaces (repeatable)")
Kind = typer.Option([], "--kind", help="only these kinds: Kind, plural or plural.group (repeatable)")
Selector = typer.Option(None, "--selector", "-l", help="label selector for the inventory")
PodCidr = typer.Option(None, "--target-pod-cidr", help="target pod CIDR (default: inferred from target nodes)")
PoolMap = typer.Option([], "--node-pool-map", help="old=new node-pool name (repeatable; default by pool mode)")
Timeout = typer.Option(120.0, "--ready-timeout", help="seconds to wait for workloads to become ready")
MoveVolumes = typer.Option(False, "--move-volumes", help="carry PersistentVolume data too (akshift volumes plan/move/"
                                                         "verify between transform and apply)")
QuiesceSource = typer.Option(False, "--quiesce-source", help="with --move-volumes: stop the disks' writers on the "
                                                             "source (recorded; undone by `akshift volumes rollback`)")
DiskMover = typer.Option("pulumi", "--disk-mover", help="with --move-volumes: pulumi (Azure, via the VolumeMove "
                                                        "component) or sandbox (local stand-in, creates no disk)")


def register(app: typer.Typer) -> None:
    """Add the migration commands to the top-level app."""
    for fn in (keygen, inventory, transform, plan, apply, verify, migrate):
        app.command()(fn)


# -- plumbing --------------------------------------------------------------------

def _client(path: Path | None, context: str | None, which: str, concurrency: int = 16) -> Any:
    from kube.client import connect

    if path is None:
        raise fail(f"--{which} is required: the {which} cluster's kubeconfig")
    return connect(path, context, role=f"--{which}", max_connections=concurrency)


def _key(recipients: list[str], identity: Path | None, exclude: bool, *, decrypt: bool) -> Any:
    from migration.secrets import load_secret_key, require_key

    key = load_secret_key(recipients=recipients, identity_file=identity)
    if not exclude and key is None:
        require_key(key, decrypt=decrypt)
    return key


@contextlib.contextmanager
def _progress(label: str, total: int | None, output: Output) -> Iterator[Any]:
    """A progress bar on stderr (quiet with --output json); yields an advance(n) function."""
    if output is Output.json:
        yield lambda n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err_console, transient=False) as p:
        task = p.add_task(label, total=total)
        yield lambda n: p.advance(task, n)


# -- commands ----------------------------------------------------------------------

def keygen(out: Path = typer.Argument(..., help="where to write the new age identity (0600)")) -> None:
    """Create an age identity for encrypting Secrets in snapshots; prints its public recipient."""
    import pyrage

    if out.exists():
        raise fail(f"{out} exists; not overwriting a key (choose another path)")
    ident = pyrage.x25519.Identity.generate()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.touch(mode=0o600)
    out.write_text(f"# public key: {ident.to_public()}\n{ident}\n")
    typer.echo(str(ident.to_public()))


def inventory(source: Path = Source, source_context: str = SourceCtx, out: Path = Out, namespace: list[str] = Namespace,
              kind: list[str] = Kind, selector: str = Selector, age_recipient: list[str] = Recipient,
              age_identity: Path = Identity, exclude_secrets: bool = ExcludeSecrets, overwrite: bool = Overwrite,
              concurrency: int = Concurrency, output: Output = OutputOption) -> None:
    """List every served type of the source cluster into OUT/snapshot (read only)."""
    from migration import stages

    key = _key(age_recipient, age_identity, exclude_secrets, decrypt=False)
    src = _client(source, source_context, "source", concurrency)
    try:
        with _progress("inventory", None, output) as advance:
            s = stages.inventory(src, out / "snapshot", namespaces=namespace or None, kinds=kind or None,
                                 label_selector=selector, secret_key=key, exclude_secrets=exclude_secrets,
                                 overwrite=overwrite, concurrency=min(concurrency, 16), progress=advance)
    finally:
        src.close()
    summary = {"snapshot": str(s.path), "objects": s.objects, "types": s.types, "errors": s.errors,
               "seconds": round(s.seconds, 2)}
    if output is Output.json:
        emit_json(summary)
    else:
        typer.echo(f"inventory: {s.objects} objects of {s.types} types in {s.seconds:.1f}s → {s.path}")
        for e in s.errors:
            err_console.print(f"[red]error:[/] {e}", highlight=False)
    raise typer.Exit(FAILED if s.errors else OK)


def _transform(out: Path, target_client: Any, key: Any, overwrite: bool, target_pod_cidr: str | None,
               node_pool_map: list[str], output: Output) -> Any:
    from migration import stages
    from migration.snapshot import Snapshot

    pools = {}
    for item in node_pool_map:
        old, sep, new = item.partition("=")
        if not sep or not old or not new:
            raise fail(f"--node-pool-map {item!r}: expected OLD=NEW, such as nodepool1=system")
        pools[old] = new
    snap = Snapshot(out / "snapshot")
    nodes = [snap.read(p) for p in snap.paths(include_secrets=False) if p.startswith("_cluster/core.Node/")]
    ctx = stages.build_context(nodes, target_client, snap, target_pod_cidr=target_pod_cidr,
                               node_pool_map=pools or None)
    with _progress("transform", len(snap.paths()), output) as advance:
        return stages.transform_snapshot(out / "snapshot", out / "transformed", ctx, secret_key=key,
                                         overwrite=overwrite, progress=advance)


def transform(out: Path = Out, target: Path = Target, target_context: str = TargetCtx,
              age_recipient: list[str] = Recipient, age_identity: Path = Identity, overwrite: bool = Overwrite,
              target_pod_cidr: str = PodCidr, node_pool_map: list[str] = PoolMap,
              output: Output = OutputOption) -> None:
    """Sanitize and rewrite OUT/snapshot into OUT/transformed, with findings (no cluster is written)."""
    from migration import stages

    key = _key(age_recipient, age_identity, True, decrypt=True)
    tgt = _client(target, target_context, "target") if target else None
    try:
        t = _transform(out, tgt, key, overwrite, target_pod_cidr, node_pool_map, output)
    finally:
        if tgt:
            tgt.close()
    stages.write_report(out, t.findings, None, "akshift findings")
    if output is Output.json:
        emit_json({"transformed": str(t.path), "kept": t.kept, "excluded": t.excluded, "failed": t.failed,
                   "findings": [f.to_dict() for f in t.findings]})
    else:
        typer.echo(f"transform: {t.kept} kept, {t.excluded} excluded, {len(t.failed)} failed, "
                   f"{len(t.findings)} findings → {out / 'report.md'}")
    raise typer.Exit(FAILED if t.failed or stages.blocking(t.findings) else OK)


def _outcome_summary(outcomes: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.action] = counts.get(o.action, 0) + 1
    return dict(sorted(counts.items()))


def plan(target: Path = Target, target_context: str = TargetCtx, out: Path = Out, age_recipient: list[str] = Recipient,
         age_identity: Path = Identity, force_conflicts: bool = Force, concurrency: int = Concurrency,
         target_pod_cidr: str = PodCidr, node_pool_map: list[str] = PoolMap, output: Output = OutputOption) -> None:
    """Dry-run OUT/transformed against the target (dryRun=All): create / update / unchanged / conflict / rejected."""
    from migration import stages

    _target_stage("plan", lambda tgt, key, advance: stages.plan(
        tgt, out / "transformed", secret_key=key, force_conflicts=force_conflicts, concurrency=concurrency,
        progress=advance), target, target_context, out, age_recipient, age_identity, concurrency, target_pod_cidr,
        node_pool_map, output)


def _target_stage(stage: str, run: Any, target: Path | None, target_context: str | None, out: Path,
                  age_recipient: list[str], age_identity: Path | None, concurrency: int, target_pod_cidr: str | None,
                  node_pool_map: list[str], output: Output) -> None:
    """Shared shell of plan and apply: transform first when needed, run with a progress bar, report, exit."""
    from migration.snapshot import Snapshot

    key = _key(age_recipient, age_identity, True, decrypt=True)
    tgt = _client(target, target_context, "target", concurrency)
    t0 = time.monotonic()
    try:
        if not (out / "transformed").exists():
            _transform(out, tgt, key, False, target_pod_cidr, node_pool_map, output)
        with _progress(stage, len(Snapshot(out / "transformed").paths()), output) as advance:
            outcomes = run(tgt, key, advance)
    finally:
        tgt.close()
    _write_outcomes(out / f"{stage}.json", outcomes)
    _print_outcomes(stage, outcomes, output, {"seconds": round(time.monotonic() - t0, 2)})
    raise typer.Exit(FAILED if any(not o.ok for o in outcomes) else OK)


def _write_outcomes(path: Path, outcomes: list[Any]) -> None:
    import orjson

    path.write_bytes(orjson.dumps({"counts": _outcome_summary(outcomes), "objects": [o.to_dict() for o in outcomes]},
                                  option=orjson.OPT_INDENT_2))


def _print_outcomes(stage: str, outcomes: list[Any], output: Output, extra: dict[str, Any] | None = None) -> None:
    counts = _outcome_summary(outcomes)
    problems = [o for o in outcomes if not o.ok]
    if output is Output.json:
        emit_json({"stage": stage, "counts": counts, **(extra or {}),
                   "problems": [o.to_dict() for o in problems]})
        return
    typer.echo(f"{stage}: " + ", ".join(f"{n} {a}" for a, n in counts.items()))
    for o in problems:
        err_console.print(f"[red]{o.action}:[/] {o.ref}: {o.message}", highlight=False)


def apply(target: Path = Target, target_context: str = TargetCtx, out: Path = Out, age_recipient: list[str] = Recipient,
          age_identity: Path = Identity, force_conflicts: bool = Force, concurrency: int = Concurrency,
          target_pod_cidr: str = PodCidr, node_pool_map: list[str] = PoolMap, output: Output = OutputOption) -> None:
    """Server-side apply OUT/transformed to the target in dependency order; resumable (OUT/apply-journal.jsonl)."""
    from migration import stages

    _target_stage("apply", lambda tgt, key, advance: stages.apply(
        tgt, out / "transformed", out / "apply-journal.jsonl", secret_key=key, force_conflicts=force_conflicts,
        concurrency=concurrency, progress=advance), target, target_context, out, age_recipient, age_identity,
        concurrency, target_pod_cidr, node_pool_map, output)


def verify(target: Path = Target, target_context: str = TargetCtx, out: Path = Out,
           age_recipient: list[str] = Recipient, age_identity: Path = Identity, concurrency: int = Concurrency,
           ready_timeout: float = Timeout, output: Output = OutputOption) -> None:
    """Account for every source object on the target; compare declared fields; wait for workloads."""
    code = _verify(target, target_context, out, _key(age_recipient, age_identity, True, decrypt=True),
                   concurrency, ready_timeout, output)
    raise typer.Exit(code)


def _verify(target: Path | None, target_context: str | None, out: Path, key: Any, concurrency: int,
            ready_timeout: float, output: Output, resolved_pvs: frozenset[str] = frozenset()) -> int:
    import orjson

    from migration import stages
    from migration.snapshot import Snapshot

    tgt = _client(target, target_context, "target", concurrency)
    try:
        with _progress("verify", len(Snapshot(out / "transformed").paths()), output) as advance:
            report = stages.verify(tgt, out / "snapshot", out / "transformed", secret_key=key,
                                   ready_timeout=ready_timeout, concurrency=concurrency, progress=advance)
    finally:
        tgt.close()
    # A disk whose data a verified volume move carried no longer needs a human.
    findings = [f for f in Snapshot(out / "transformed").findings()
                if not (f.code == "azure-disk-volume" and f.ref.name in resolved_pvs)]
    import datetime as dt

    data = {"ok": report.ok,
            # What `akshift promote` pins: which snapshot was verified, and when (the verification must be newer
            # than the last change of the stack it vouches for).
            "verified_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "snapshot_digest": Snapshot(out / "transformed").digest,
            "counts": {s.value: n for s, n in report.results.counts().items()},
            "unaccounted": report.unaccounted, "not_ready": report.not_ready,
            "problems": [r.to_dict() for r in report.results.problems()],
            "blocking_findings": sum(1 for f in findings if f.severity.value == "blocker")}
    (out / "verify.json").write_bytes(orjson.dumps({**data, **report.results.to_dict()}, option=orjson.OPT_INDENT_2))
    stages.write_report(out, findings, report.results, "akshift migration report")
    if output is Output.json:
        emit_json(data)
    else:
        typer.echo("verify: " + ", ".join(f"{n} {s}" for s, n in data["counts"].items())
                   + f"; {len(report.unaccounted)} unaccounted; {len(report.not_ready)} not ready → {out / 'report.md'}")
        for p in report.unaccounted:
            err_console.print(f"[red]unaccounted:[/] {p}", highlight=False)
        for p in report.not_ready:
            err_console.print(f"[red]not ready:[/] {p}", highlight=False)
        for r in report.results.problems():
            err_console.print(f"[red]{r.status.value}:[/] {r.ref}: {r.message}", highlight=False)
    return OK if report.ok else FAILED


def migrate(source: Path = Source, source_context: str = SourceCtx, target: Path = Target,
            target_context: str = TargetCtx, out: Path = Out, namespace: list[str] = Namespace,
            kind: list[str] = Kind, selector: str = Selector, age_recipient: list[str] = Recipient,
            age_identity: Path = Identity, exclude_secrets: bool = ExcludeSecrets, overwrite: bool = Overwrite,
            force_conflicts: bool = Force, concurrency: int = Concurrency, target_pod_cidr: str = PodCidr,
            node_pool_map: list[str] = PoolMap, ready_timeout: float = Timeout, move_volumes: bool = MoveVolumes,
            quiesce_source: bool = QuiesceSource, disk_mover: str = DiskMover,
            output: Output = OutputOption) -> None:
    """All stages: inventory → transform → [volumes] → plan → apply → verify. Stops before apply if the plan has problems."""
    from migration import stages

    key = _key(age_recipient, age_identity, exclude_secrets, decrypt=True)
    src = _client(source, source_context, "source", concurrency)
    tgt = _client(target, target_context, "target", concurrency)
    summary: dict[str, Any] = {}
    try:
        with _progress("inventory", None, output) as advance:
            inv = stages.inventory(src, out / "snapshot", namespaces=namespace or None, kinds=kind or None,
                                   label_selector=selector, secret_key=key, exclude_secrets=exclude_secrets,
                                   overwrite=overwrite, concurrency=min(concurrency, 16), progress=advance)
        summary["inventory"] = {"objects": inv.objects, "errors": inv.errors}
        t = _transform(out, tgt, key, overwrite, target_pod_cidr, node_pool_map, output)
        summary["transform"] = {"kept": t.kept, "excluded": t.excluded, "failed": t.failed,
                                "findings": len(t.findings)}
        volumes = _move_volumes(src, tgt, out, quiesce_source, disk_mover) if move_volumes else None
        if volumes is not None:
            summary["volumes"] = volumes[1].to_dict()["counts"]
        with _progress("plan", t.kept, output) as advance:
            planned = stages.plan(tgt, out / "transformed", secret_key=key, force_conflicts=force_conflicts,
                                  concurrency=concurrency, progress=advance)
        _write_outcomes(out / "plan.json", planned)
        summary["plan"] = _outcome_summary(planned)
        if any(not o.ok for o in planned):
            stages.write_report(out, t.findings, stages.outcomes_to_results(planned), "akshift plan (not applied)")
            _print_outcomes("plan", planned, output, {"summary": summary})
            if output is Output.text:
                err_console.print("plan has conflicts or rejections: nothing applied; fix them or use "
                                  "--force-conflicts, then run `akshift apply`", highlight=False)
            raise typer.Exit(FAILED)
        with _progress("apply", t.kept, output) as advance:
            applied = stages.apply(tgt, out / "transformed", out / "apply-journal.jsonl", secret_key=key,
                                   force_conflicts=force_conflicts, concurrency=concurrency, progress=advance)
        _write_outcomes(out / "apply.json", applied)
        summary["apply"] = _outcome_summary(applied)
    finally:
        src.close()
        tgt.close()
    if output is Output.text:
        for stage, s in summary.items():
            typer.echo(f"{stage}: {s}")
    resolved: frozenset[str] = frozenset()
    volumes_ok = True
    if volumes is not None:
        resolved, volumes_ok = _verify_volumes(target, target_context, out, volumes[0], output)
    code = _verify(target, target_context, out, key, concurrency, ready_timeout, output, resolved)
    blocking = [f for f in t.findings if not (f.code == "azure-disk-volume" and f.ref.name in resolved)]
    if inv.errors or t.failed or any(not o.ok for o in applied) or stages.blocking(blocking) or not volumes_ok:
        code = FAILED
    raise typer.Exit(code)


def _move_volumes(src: Any, tgt: Any, out: Path, quiesce_source: bool, disk_mover: str) -> tuple[list[Any], Any]:
    """Plan and move PersistentVolume data between transform and apply (see `akshift volumes`)."""
    import orjson

    from akshift import cmd_volumes
    from migration.volume_move import MOVE_REPORT, STATE_FILE, VolumeState, move_volumes

    if disk_mover not in ("pulumi", "sandbox"):
        raise fail(f"--disk-mover {disk_mover!r}: choose pulumi or sandbox")
    moves = cmd_volumes._make_plan(out, tgt, None, [])
    report = move_volumes(src, tgt, moves, VolumeState.load(out / STATE_FILE),
                          cmd_volumes._disk_mover(cmd_volumes.Mover(disk_mover), out),
                          quiesce_source=quiesce_source, transformed_dir=out / "transformed")
    (out / MOVE_REPORT).write_bytes(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    return moves, report


def _verify_volumes(target: Path | None, target_context: str | None, out: Path, moves: list[Any],
                    output: Output) -> tuple[frozenset[str], bool]:
    """Claims bound to copies of their source disks; returns the PVs whose data is verified, and overall ok."""
    import orjson

    from migration.volume_move import STATE_FILE, VERIFY_REPORT, VolumeState, verify_volumes

    tgt = _client(target, target_context, "target")
    try:
        checks = verify_volumes(tgt, moves, VolumeState.load(out / STATE_FILE), timeout=60)
    finally:
        tgt.close()
    ok = all(c.ok for c in checks)
    (out / VERIFY_REPORT).write_bytes(orjson.dumps({"ok": ok, "volumes": [c.to_dict() for c in checks]},
                                                   option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    if output is Output.text:
        for c in checks:
            if not c.ok:
                err_console.print(f"[red]volume {c.status}:[/] {c.key}: {c.message}", highlight=False)
    return frozenset(c.pv for c in checks if c.ok and c.pv), ok
