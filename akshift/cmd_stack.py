"""`akshift preview|up --stack NAME` and `akshift promote SOURCE TARGET`: Pulumi with the project's guards.

Why these wrappers exist instead of plain `pulumi up`: they run the project's
program through the Automation API (the same ``program.main`` as ``__main__.py``),
watch the engine's events, and so can (1) refuse a plan that replaces or deletes
a ManagedCluster before anything happens, (2) apply exactly the previewed plan,
(3) show progress, and (4) promote only what was verified on the source stack.
`preview` and `up` first check the stack file with the loader `akshift config
validate` uses: an invalid one exits 2 with every problem and its key before
any engine starts (the program would refuse it too, but only inside an engine
run, which the gateway reports as a failure, exit 1).
The decisions are in :mod:`deploy` (pure, tested), the engine is driven by its
gateway (:mod:`deploy.engine`, which also turns engine failures into
``EngineError``); this module is the shell: options, prompts, progress, exit
codes (akshift.output: 0 applied or nothing to do, 1 refused / declined /
failed, 2 bad input, 3 environment).

Pulumi and the program are imported when a command runs, not when the CLI
starts. The program is :func:`akshift.program.main`, the function ``__main__.py``
runs, given the project directory (where ``Pulumi.yaml`` and ``stacks/`` are).
"""
from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from akshift.output import (
    FAILED,
    OK,
    Output,
    OutputOption,
    emit_json,
    err_console,
    fail,
)

ProjectDir = typer.Option(None, "--project-dir", help="Pulumi project directory (default: the nearest Pulumi.yaml "
                                                      "at or above the current directory)")
StackName = typer.Option(..., "--stack", "-s", help="stack name, e.g. test or prod")
Yes = typer.Option(False, "--yes", "-y", help="apply without asking (for scripts)")
AllowReplace = typer.Option(False, "--allow-cluster-replacement",
                            help="accept a plan that replaces or deletes a ManagedCluster (destroys the running cluster)")
SecretsProvider = typer.Option(None, "--secrets-provider",
                               help="for new stacks: passphrase (default) or azurekeyvault://<vault>.vault.azure.net/keys/<key>")

#: How many changed resources a preview lists before summarising the rest.
SHOWN_STEPS = 40


def register(app: typer.Typer) -> None:
    """Add `preview`, `up` and `promote` to the top-level app."""
    for fn in (preview, up, promote):
        app.command()(fn)


# -- plumbing ----------------------------------------------------------------------------


def _load_program(directory: Path) -> Callable[[Mapping[str, Any] | None], None]:
    """The project's Pulumi program (the same :func:`akshift.program.main` as ``__main__.py``), for ``directory``,
    taking the stack's last outputs as the gateway reads them before each preview or update."""
    from akshift import program

    return lambda last: program.main(directory, last_outputs=last)


def _checked(project_dir: Path | None, stack: str) -> None:
    """Refuse an invalid stack file before any engine starts: every problem with its key, exit 2."""
    from akshift.project import check_stack_file
    from akshift.project import project_dir as find_project_dir

    check_stack_file(find_project_dir(project_dir), stack)


def _project(project_dir: Path | None, secrets_provider: str | None) -> Any:
    from akshift.project import project_dir as find_project_dir
    from akshift.project import pulumi_cli
    from deploy.backend import resolve_backend
    from deploy.promotion import Project

    directory = find_project_dir(project_dir)
    backend = resolve_backend(os.environ, secrets_provider=secrets_provider)
    root, env = pulumi_cli()
    return Project(directory, _load_program(directory), backend, env, root)


class _Events:
    """Engine events as a progress bar (stderr) and error lines; quiet with --output json."""

    def __init__(self, output: Output) -> None:
        self.quiet = output is Output.json
        self.progress: Any = None
        self.task: Any = None

    def start(self, label: str, total: int | None) -> None:
        if self.quiet:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.stop()
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=err_console, transient=False)
        self.progress.start()
        self.task = self.progress.add_task(label, total=total)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def __call__(self, raw: Any) -> None:
        from deploy.events import parse

        event = parse(raw)
        if event.done and self.progress is not None:
            self.progress.advance(self.task, 1)
        if self.quiet:
            return
        if event.failed is not None:
            err_console.print(f"[red]failed:[/] {escape(str(event.failed.op))} {escape(str(event.failed.name))}",
                              markup=True)
        diag = event.diagnostic
        if diag is not None and diag.severity == "error" and diag.message:
            err_console.print(f"[red]error:[/] {escape(diag.message)}", markup=True)


def _summary(changes: dict[str, int]) -> str:
    return ", ".join(f"{n} {op}" for op, n in sorted(changes.items())) or "no resources"


def _show_preview(preview: Any, output: Output) -> None:
    if output is Output.json:
        return
    changed = preview.changed
    typer.echo(f"preview {preview.stack}: {_summary(dict(preview.changes))}")
    for s in changed[:SHOWN_STEPS]:
        fields = f"  ({', '.join(s.diffs)})" if s.diffs else ""
        typer.echo(f"  {s.op:<20} {s.type}  {s.name}{fields}")
    if len(changed) > SHOWN_STEPS:
        typer.echo(f"  … and {len(changed) - SHOWN_STEPS} more")


def _confirm(yes: bool, question: str) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise fail("not applied: no terminal to confirm on; pass --yes to apply from a script", FAILED)
    return typer.confirm(question, default=False)


@contextlib.contextmanager
def _engine(events: Any, label: str) -> Iterator[None]:
    """Run an engine operation with its progress display (the gateway raises ``EngineError`` on failure)."""
    events.start(label, None)
    try:
        yield
    finally:
        events.stop()


def _result_dict(result: Any) -> dict[str, Any]:
    return {"result": result.result, "changes": dict(result.changes), "reread": list(result.reread)}


def _show_reread(result: Any) -> None:
    if result.reread:
        typer.echo(f"  read back {len(result.reread)} Kubernetes object(s) the provider recorded older than this "
                   "update's write (a refresh of those alone; the cluster was not changed)")


# -- commands ------------------------------------------------------------------------------


def preview(stack: str = StackName, project_dir: Path = ProjectDir, allow_cluster_replacement: bool = AllowReplace,
            secrets_provider: str = SecretsProvider, output: Output = OutputOption) -> None:
    """Preview a stack behind the project's guards (no changes are made).

    Example: akshift preview --stack prod
    """
    import tempfile

    from deploy.engine import guarded_preview
    from deploy.promotion import open_stack

    _checked(project_dir, stack)
    project = _project(project_dir, secrets_provider)
    events = _Events(output)
    with _engine(events, f"preview {stack}"), tempfile.TemporaryDirectory(prefix="akshift-plan-") as tmp:
        p = guarded_preview(open_stack(project, stack, create=True), Path(tmp),
                            allow_cluster_replacement=allow_cluster_replacement, on_event=events)
    if output is Output.json:
        emit_json({"stack": stack, "changes": dict(p.changes),
                   "steps": [{"op": s.op, "type": s.type, "name": s.name, "diffs": list(s.diffs)}
                             for s in p.changed]})
    else:
        _show_preview(p, output)
    raise typer.Exit(OK)


def up(stack: str = StackName, project_dir: Path = ProjectDir, yes: bool = Yes,
       allow_cluster_replacement: bool = AllowReplace, secrets_provider: str = SecretsProvider,
       output: Output = OutputOption) -> None:
    """Preview behind the guards, confirm, then apply exactly the previewed plan, with progress.

    Example: akshift up --stack test --yes
    """
    from deploy.engine import guarded_up
    from deploy.promotion import open_stack

    _checked(project_dir, stack)
    project = _project(project_dir, secrets_provider)
    events = _Events(output)

    def confirm(p: Any) -> bool:
        events.stop()
        _show_preview(p, output)
        ok = _confirm(yes, f"Apply these changes to {stack}?")
        if ok:
            events.start(f"up {stack}", len(p.steps))
        return ok

    with _engine(events, f"preview {stack}"):
        p, result = guarded_up(open_stack(project, stack, create=True), confirm=confirm,
                               allow_cluster_replacement=allow_cluster_replacement, on_event=events)
    if result is None:
        err_console.print(f"not applied: {stack} is unchanged", highlight=False)
        raise typer.Exit(FAILED)
    if output is Output.json:
        emit_json({"stack": stack, **_result_dict(result)})
    else:
        typer.echo(f"up {stack}: {result.result}, {_summary(dict(result.changes))}")
        _show_reread(result)
    raise typer.Exit(OK if result.succeeded else FAILED)


def promote(source: str = typer.Argument(..., help="the verified stack, e.g. test"),
            target: str = typer.Argument(..., help="the stack to promote to, e.g. prod"),
            project_dir: Path = ProjectDir, yes: bool = Yes, allow_cluster_replacement: bool = AllowReplace,
            secrets_provider: str = SecretsProvider, output: Output = OutputOption) -> None:
    """Carry what was verified on SOURCE to TARGET: pin its versions and snapshot digest, preview, confirm, up.

    Example: akshift promote test prod
    """
    from deploy import promotion

    _checked(project_dir, target)  # before the pins are written into it
    project = _project(project_dir, secrets_provider)
    events = _Events(output)

    def confirm(p: Any) -> bool:
        events.stop()
        if output is Output.text:
            typer.echo(f"promote {source} → {target} (verified on {source} at {p.verified_at})")
            old = {c.key: c.old for c in p.changes}
            for key, value in p.pins.items():
                typer.echo(f"  {key}: {value}  " + (f"(was {old[key]})" if key in old else "(unchanged)"))
        _show_preview(p.preview, output)
        ok = _confirm(yes, f"Apply to {target}?")
        if ok:
            events.start(f"up {target}", len(p.preview.steps))
        return ok

    with _engine(events, f"preview {target}"):
        done = promotion.promote(project, source, target, confirm=confirm,
                                  allow_cluster_replacement=allow_cluster_replacement, on_event=events)
    if done.result is None:
        err_console.print(f"not applied: {target}'s configuration was restored", highlight=False)
        raise typer.Exit(FAILED)
    data = {"source": source, "target": target, "pins": dict(done.pins), "verified_at": done.verified_at,
            **_result_dict(done.result)}
    if output is Output.json:
        emit_json(data)
    else:
        typer.echo(f"promoted {source} → {target}: {done.result.result}, {_summary(data['changes'])}")
        _show_reread(done.result)
    raise typer.Exit(OK if done.result.succeeded else FAILED)
