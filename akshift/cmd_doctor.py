"""`akshift doctor` and `akshift strategy`: a cluster's known AKS pitfalls, and the route off kubenet.

Why shaped so: a thin shell around :mod:`doctor` — read the inputs (a
kubeconfig, the ARM description from a file or from Azure, a stack file),
call the pure checks or the decision, print a table or JSON, and map the
outcome to the shared exit codes (:mod:`akshift.output`):

* ``doctor``: 0 no finding at ``--fail-on`` (default warning) or worse, 1 some,
  2 bad input (ARM JSON, kubeconfig, dates — the message names the file and key),
  3 cluster unreachable or Azure SDK/credentials missing.
* ``strategy``: 0 plan printed (or executed), 1 an executed step failed,
  2 bad input (ARM, stack file, a stack with ``cluster.mode: existing``,
  ``--execute`` refused), 3 Azure SDK/credentials missing.

Heavy imports (httpx via the Kubernetes client, the Azure SDK, Pulumi) happen
inside the commands, so ``akshift --help`` stays fast.
"""
from __future__ import annotations

import datetime as dt
import enum
import re
from pathlib import Path
from typing import Any

import typer

from akshift.output import BAD_INPUT, ENVIRONMENT, FAILED, OK, Output, OutputOption, emit_json, err_console, fail

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
    """Report the cluster's known AKS pitfalls, each with its evidence and fix (read-only)."""
    from doctor import Inputs, Severity, fails, run_checks, worst

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
    threshold = Severity(fail_on.value)
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

    console = Console(highlight=False)
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

def strategy(
    stack: Path = typer.Option(..., "--stack", help="the target stack file, e.g. stacks/Pulumi.prod.yaml"),
    arm: Path = Arm,
    azure_id: str = AzureId,
    require_rollback: bool = typer.Option(False, "--require-rollback", help="a way back is required: plan blue-green"),
    kubeconfig: str = typer.Option("<kubeconfig>", "--kubeconfig", help="kubeconfig path to write into the runbook's commands"),
    execute: bool = typer.Option(False, "--execute", help="perform the in-place route's Azure updates, then refresh "
                                 "the Pulumi stack (Azure SDK and credentials needed)"),
    yes: bool = typer.Option(False, "--yes", help="confirm --execute: the in-place updates are irreversible"),
    work_dir: Path = typer.Option(Path("."), "--work-dir", help="the Pulumi project directory, for --execute's refresh"),
    output: Output = OutputOption,
) -> None:
    """Decide in-place update or new cluster (blue-green), and print the ordered runbook."""
    from doctor.errors import UnsupportedTarget
    from doctor.strategy import decide, stack_name_of
    from stacks import ConfigError, load_stack_file

    if arm is None and azure_id is None:
        raise fail("--arm (or --azure-id) is required: the current cluster's ARM description")
    current = _arm(arm, azure_id)
    try:
        target = load_stack_file(stack)
    except ConfigError as e:
        for p in e.problems:
            typer.echo(p.line(), err=True)
        raise fail(f"{len(e.problems)} problem(s) in {stack}; `akshift config validate {stack}` shows them") from e
    name = stack_name_of(stack)
    try:
        plan = decide(current, target, rollback_required=require_rollback, stack=name, kubeconfig=kubeconfig)
    except UnsupportedTarget as e:
        raise fail(f"{stack}: {e}") from e
    if output is Output.json:
        emit_json(plan.as_dict())
    else:
        _print_strategy(plan)
    if execute:
        _execute(plan, current, name, work_dir, yes)
    raise typer.Exit(OK)


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
