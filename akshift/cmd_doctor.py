"""`akshift doctor` and `akshift strategy`: a cluster's known AKS pitfalls, and the route off kubenet.

Why shaped so: a thin shell around :mod:`doctor` — read the inputs (a
kubeconfig, the ARM description from a file or from Azure, a stack),
call the pure checks or the decision, print a table or JSON, and map the
outcome to the shared exit codes (:mod:`akshift.output`):

* ``doctor``: 0 no finding at ``--fail-on`` (default warning) or worse, 1 some,
  2 bad input (ARM JSON, kubeconfig, dates — the message names the file and key),
  3 cluster unreachable or Azure SDK/credentials missing.
* ``strategy``: 0 plan printed (or executed), 1 an executed step failed,
  2 bad input (ARM, stack name or file, a stack with ``cluster.mode: existing``,
  a blue-green target that names the running cluster, ``--execute`` refused),
  3 Azure SDK/credentials missing.

One meaning per flag, as in the other commands: ``--stack`` is a stack *name*
resolved in the project (``--stack-file`` takes a path), ``--project-dir`` is
the Pulumi project. What the runbook prints about the running cluster —
``--source-kubeconfig``, ``--source-context`` — is text put into its commands,
never opened: ``strategy`` reads only the ARM description, the stack file and
a saved ``akshift doctor -o json`` report.

Heavy imports (httpx via the Kubernetes client, the Azure SDK, Pulumi) happen
inside the commands, so ``akshift --help`` stays fast.
"""
from __future__ import annotations

import datetime as dt
import enum
import os
import re
from pathlib import Path
from typing import Any

import typer

from akshift.output import ENVIRONMENT, FAILED, OK, Output, OutputOption, emit_json, err_console, fail
from errors import AkshiftError, ErrorKind

_AZURE_ID = re.compile(r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
                       r"Microsoft\.ContainerService/managedClusters/(?P<name>[^/]+)/?$", re.IGNORECASE)


class FailOn(str, enum.Enum):
    warning = "warning"
    critical = "critical"


Kubeconfig = typer.Option(None, "--kubeconfig", help="kubeconfig of the cluster to examine (only read)")
Context = typer.Option(None, "--context", help="context in the kubeconfig")
Arm = typer.Option(None, "--arm", help="the cluster's ARM description: `az aks show -g RG -n NAME -o json > current.json`")
AzureId = typer.Option(None, "--azure-id", help="read the ARM description from Azure (Azure SDK and credentials "
                       "needed): /subscriptions/…/resourceGroups/…/providers/Microsoft.ContainerService/managedClusters/…")
Today = typer.Option(None, "--today", hidden=True, help="count days from this date (YYYY-MM-DD); for tests")


def register(app: typer.Typer) -> None:
    """Add ``doctor`` and ``strategy`` to the top-level app."""
    app.command()(doctor)
    app.command()(strategy)


# -- plumbing --------------------------------------------------------------------

def _date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise fail(f"{option} {value!r} is not a date; write it as YYYY-MM-DD") from None


def _arm(path: Path | None, azure_id: str | None) -> Any:
    from doctor import ArmError, AzureUnavailable, load_arm_file, parse_arm

    if path is not None and azure_id is not None:
        raise fail("--arm and --azure-id both given; pass one")
    try:
        if path is not None:
            return load_arm_file(path)
        if azure_id is not None:
            m = _AZURE_ID.match(azure_id)
            if not m:
                raise fail(f"--azure-id {azure_id!r} is not a managed cluster resource ID "
                           "(/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.ContainerService/managedClusters/<name>)")
            from doctor.azure import fetch_managed_cluster

            return parse_arm(fetch_managed_cluster(m["sub"], m["rg"], m["name"]), source=azure_id)
    except ArmError as e:
        for p in e.problems:
            typer.echo(f"{e.source}: {p.key}: {p.message}", err=True)
        raise fail(f"{len(e.problems)} problem(s) in the ARM description {e.source}") from e
    except AzureUnavailable as e:
        raise fail(str(e), ENVIRONMENT) from e
    return None


def _collect(kubeconfig: Path, context: str | None) -> Any:
    from doctor import collect
    from kube.client import connect

    with connect(kubeconfig, context, role="--kubeconfig", retries=3) as client:
        return collect(client)


# -- doctor ----------------------------------------------------------------------

def doctor(
    kubeconfig: Path = Kubeconfig,
    context: str = Context,
    arm: Path = Arm,
    azure_id: str = AzureId,
    sp_secret_expires_on: str = typer.Option(
        None, "--sp-secret-expires-on", help="expiry of the service principal's secret, YYYY-MM-DD (ARM does not "
        "return it: `az ad app credential list --id <clientId> --query \"[].endDateTime\"`)"),
    fail_on: FailOn = typer.Option(FailOn.warning, "--fail-on", help="exit 1 when a finding is at this severity or worse"),
    check: list[str] = typer.Option([], "--check", help="run only these checks (repeatable); default all"),
    today: str = Today,
    output: Output = OutputOption,
) -> None:
    """Report the cluster's known AKS pitfalls, each with its evidence and fix (read-only).

    Example: akshift doctor --kubeconfig old.kubeconfig --arm current.json -o json > doctor.json
    """
    from doctor import Grade, Inputs, fails, run_checks, worst

    if kubeconfig is None and arm is None and azure_id is None:
        raise fail("nothing to examine: pass --kubeconfig, --arm or --azure-id (or several)")
    day = _date(today, "--today") or dt.date.today()
    expires = _date(sp_secret_expires_on, "--sp-secret-expires-on")
    arm_cluster = _arm(arm, azure_id)
    objects = _collect(kubeconfig, context) if kubeconfig is not None else None
    try:
        findings = run_checks(Inputs(objects, arm_cluster, day, expires), only=check or None)
    except ValueError as e:
        raise fail(f"--check: {e}") from e
    threshold = Grade(fail_on.value)
    code = FAILED if fails(findings, threshold) else OK
    if output is Output.json:
        emit_json({"schemaVersion": 1, "findings": [f.as_dict() for f in findings], "worst": worst(findings).value,
                   "failOn": threshold.value, "exitCode": code, "today": day.isoformat()})
    else:
        _print_findings(findings)
        err_console.print(f"worst: {worst(findings).value}; failing on {threshold.value} or worse → exit {code}",
                          highlight=False)
    raise typer.Exit(code)


_STYLE = {"skipped": "dim", "ok": "green", "info": "cyan", "warning": "yellow", "critical": "bold red"}


def _print_findings(findings: list[Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    console = Console(highlight=False, emoji=False)
    table = Table(show_lines=False)
    table.add_column("check")
    table.add_column("severity")
    table.add_column("finding")
    for f in findings:
        table.add_row(f.check, f"[{_STYLE[f.severity.value]}]{f.severity.value}[/]", Text(f.summary))
    console.print(table)
    for f in findings:
        if f.severity.value in ("skipped", "ok") or not (f.evidence or f.fix):
            continue
        console.print(f"\n[{_STYLE[f.severity.value]}]{f.severity.value}[/] [bold]{f.check}[/]: {escape(f.summary)}")
        for e in f.evidence:
            console.print(f"  - {e}", markup=False)
        if f.fix:
            console.print(f"  fix: {f.fix}", markup=False)


# -- strategy --------------------------------------------------------------------

def _shown(path: Path) -> str:
    """A resolved stack file as the runbook prints it: relative to the current directory, so its commands run there."""
    return os.path.relpath(path, Path.cwd())


def _target_stack(stack: str | None, stack_file: Path | None, project_dir: Path | None) -> tuple[str, Path, Path | None]:
    """The target stack's name, its file, and the Pulumi project directory (None when there is none).

    Raises:
        AkshiftError: (bad input) neither option, no project for ``--stack``, no such stack file, or a file whose
            name does not say its stack while ``--stack`` is not given.
    """
    from akshift.project import find_project
    from doctor.strategy import stack_name_of

    project = project_dir.resolve() if project_dir else find_project(Path.cwd())
    if stack_file is not None:
        name = stack or stack_name_of(stack_file)
        if name == "<stack>":
            raise AkshiftError("the file name does not say which stack it is (Pulumi.<stack>.yaml)", ref=stack_file,
                               fix="pass --stack NAME as well", kind=ErrorKind.BAD_INPUT)
        return name, stack_file, project
    if stack is None:
        raise AkshiftError("no target stack: pass --stack NAME (stacks/Pulumi.NAME.yaml of the project) or "
                           "--stack-file PATH", kind=ErrorKind.BAD_INPUT)
    if project is None or not (project / "Pulumi.yaml").is_file():
        where = project_dir or Path.cwd()
        raise AkshiftError(f"no Pulumi.yaml here or above, so stack {stack} cannot be found", ref=where,
                           fix="run from the akshift project, pass --project-dir, or --stack-file PATH",
                           kind=ErrorKind.BAD_INPUT)
    from akshift.project import stack_config_dir

    directory = stack_config_dir(project)
    path = directory / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in directory.glob("Pulumi.*.yaml"))
        raise AkshiftError(f"no stack {stack} in the project", ref=path,
                           fix=f"the project's stacks: {', '.join(known) or 'none'}; or pass --stack-file PATH",
                           kind=ErrorKind.BAD_INPUT)
    return stack, path, project


def _doctor_findings(path: Path | None) -> list[dict[str, Any]] | None:
    """The findings of ``akshift doctor -o json`` saved in ``path``."""
    if path is None:
        return None
    import json

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AkshiftError("no such file; write it with `akshift doctor --kubeconfig … -o json > doctor.json`",
                           ref=path, kind=ErrorKind.BAD_INPUT) from None
    except (OSError, ValueError) as e:
        raise AkshiftError(f"not the JSON of `akshift doctor -o json` ({e})", ref=path, kind=ErrorKind.BAD_INPUT) from e
    findings = doc.get("findings") if isinstance(doc, dict) else None
    if not isinstance(findings, list) or not all(isinstance(f, dict) for f in findings):
        raise AkshiftError("findings: missing or not a list of findings; is this `akshift doctor -o json` output?",
                           ref=path, kind=ErrorKind.BAD_INPUT)
    return findings


def strategy(
    stack: str = typer.Option(None, "--stack", "-s", help="the target stack's name, e.g. prod: stacks/Pulumi.prod.yaml "
                              "of the project (the nearest Pulumi.yaml at or above the current directory)"),
    stack_file: Path = typer.Option(None, "--stack-file", help="the target stack file, when it is not the project's "
                                    "(with --stack NAME unless the file is named Pulumi.NAME.yaml)"),
    arm: Path = Arm,
    azure_id: str = AzureId,
    doctor_report: Path = typer.Option(None, "--doctor-report", help="`akshift doctor --kubeconfig … -o json` output "
                                       "for the running cluster: its volumes finding says whether data must move"),
    require_rollback: bool = typer.Option(False, "--require-rollback", help="a way back is required: plan blue-green"),
    test_stack: str = typer.Option(None, "--test-stack", help="blue-green: rehearse on this stack's cluster first and "
                                   "promote what was verified there, e.g. test"),
    source_kubeconfig: str = typer.Option(None, "--source-kubeconfig", help="the running cluster's kubeconfig, printed "
                                          "as given into the runbook's commands (not read); default: a step fetches one "
                                          "with `az aks get-credentials`"),
    source_context: str = typer.Option(None, "--source-context", help="context of --source-kubeconfig, printed as "
                                       "given into the runbook's commands"),
    execute: bool = typer.Option(False, "--execute", help="perform the in-place route's Azure updates, then refresh "
                                 "the Pulumi stack (Azure SDK and credentials needed)"),
    yes: bool = typer.Option(False, "--yes", help="confirm --execute: the in-place updates are irreversible"),
    project_dir: Path = typer.Option(None, "--project-dir", help="Pulumi project directory (default: the nearest "
                                     "Pulumi.yaml at or above the current directory); --execute refreshes its stack"),
    runbook: Path = typer.Option(None, "--runbook", help="also write the runbook as Markdown to this file, led by a "
                                 "flowchart of its steps and decisions (Mermaid)"),
    output: Output = OutputOption,
) -> None:
    """Decide in-place update or new cluster (blue-green), and print the ordered runbook.

    Example: akshift strategy --stack prod --arm current.json --doctor-report doctor.json --test-stack test
    """
    from doctor.errors import UnsupportedTarget
    from doctor.strategy import RunbookNames, decide, storage_of
    from stacks import ConfigError, load_stack_file

    if arm is None and azure_id is None:
        raise fail("--arm (or --azure-id) is required: the current cluster's ARM description")
    name, path, project = _target_stack(stack, stack_file, project_dir)
    current = _arm(arm, azure_id)
    findings = _doctor_findings(doctor_report)
    try:
        target = load_stack_file(path)
    except ConfigError as e:
        for p in e.problems:
            typer.echo(p.line(), err=True)
        raise fail(f"{len(e.problems)} problem(s) in {path}; `akshift config validate {path}` shows them") from e
    names = RunbookNames(stack=name, stack_file=str(stack_file) if stack_file is not None else _shown(path),
                         test_stack=test_stack,
                         source_kubeconfig=source_kubeconfig, source_context=source_context)
    try:
        plan = decide(current, target, rollback_required=require_rollback, names=names,
                      storage=storage_of(current, findings))
    except UnsupportedTarget as e:
        if e.ref:
            raise
        raise UnsupportedTarget(e.message, ref=names.file, fix=e.fix) from e
    if runbook is not None:
        _write_runbook(runbook, plan)
    if output is Output.json:
        emit_json(plan.as_dict())
    else:
        _print_strategy(plan)
        if runbook is not None:
            typer.echo(f"runbook with its flowchart → {runbook}")
    if execute:
        if project is None:
            raise fail("--execute refreshes the stack in its Pulumi project: run from the project or pass --project-dir")
        _execute(plan, current, name, project, yes)
    raise typer.Exit(OK)


def _write_runbook(path: Path, plan: Any) -> None:
    from doctor.runbook import render_markdown

    try:
        path.write_text(render_markdown(plan), encoding="utf-8")
    except OSError as e:
        raise AkshiftError(f"cannot write the runbook ({e.strerror or e})", ref=str(path),
                           kind=ErrorKind.BAD_INPUT) from e


def _print_strategy(plan: Any) -> None:
    typer.echo(f"route: {plan.route.value} ({plan.current} → {plan.target})")
    typer.echo("why:")
    for r in plan.reasons:
        typer.echo(f"  - {r.message} [{', '.join(r.keys)}]")
    if plan.caveats:
        typer.echo("caveats:")
        for c in plan.caveats:
            typer.echo(f"  - {c}")
    typer.echo("runbook:")
    for i, s in enumerate(plan.steps, 1):
        mark = " (IRREVERSIBLE)" if s.irreversible else ""
        typer.echo(f"  {i}. [{s.kind.value}] {s.title}{mark}")
        if s.command:
            typer.echo(f"       $ {s.command}")
        if s.why:
            typer.echo(f"       {s.why}")


def _execute(plan: Any, current: Any, stack: str, work_dir: Path, yes: bool) -> None:
    from doctor.execute import execute_in_place, refresh_stack

    if not yes:
        raise fail("--execute changes the cluster irreversibly; add --yes to confirm")
    from doctor.azure import update_network_profile

    def log(line: str) -> None:
        err_console.print(line, highlight=False, markup=False)

    done = execute_in_place(plan, current, update=update_network_profile,
                            refresh=lambda: refresh_stack(stack, str(work_dir), log), log=log)
    err_console.print(f"done: {'; '.join(done)}", highlight=False)
