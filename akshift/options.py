"""Options the migration and volume commands share, and turning them into what the pipeline takes.

Why one module: ``akshift migrate`` and ``akshift volumes`` take the same
``--source``/``--target``/``--out`` options and the same ``--disk-mover``, and
must read them the same way; before this module, one command imported the
other's private functions. Here are the typer option declarations, the
parsers of repeated ``KEY=VALUE`` options, opening a cluster client, loading
the Secret key, the progress bar that implements :class:`migration.pipeline.Progress`,
and the choice of disk mover. Command modules import this one, never each other.

Every duration option of every command is declared with :func:`duration_option`:
one syntax (``90``, ``90s``, ``2m``, ``1h30m``, ``24h``, read by
:func:`cutover.plan.parse_duration`), parsed while the command line is read, so a
command receives seconds and a bad value is a usage error (exit 2) naming the
option. ``tests/unit/akshift/test_durations.py`` walks the whole CLI so an option
that escapes it fails.
"""
from __future__ import annotations

import contextlib
import enum
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from akshift.output import Output, err_console
from errors import AkshiftError, ErrorKind
from migration.node_dns import NODE_LOCAL_DNS

# Rich would read "[volumes]" in a help text as markup and swallow it; help texts use no square brackets.
Source = typer.Option(None, "--source", help="kubeconfig of the old (kubenet) cluster, only read; default: "
                                              "KUBECONFIG or ~/.kube/config with --source-context")
SourceCtx = typer.Option(None, "--source-context", help="context in the source kubeconfig")
Target = typer.Option(None, "--target", help="kubeconfig of the new cluster; default: KUBECONFIG or "
                                              "~/.kube/config with --target-context")
TargetCtx = typer.Option(None, "--target-context", help="context in the target kubeconfig")
SourceStack = typer.Option(None, "--source-stack", help="read the source cluster's kubeconfig from this Pulumi "
                                                        "stack's kubeconfig output (decrypted in memory only)")
TargetStack = typer.Option(None, "--target-stack", help="read the target cluster's kubeconfig from this Pulumi "
                                                        "stack's kubeconfig output (decrypted in memory only)")
Out = typer.Option(Path("out/migration"), "--out", help="run directory: snapshot/, transformed/, reports")
Recipient = typer.Option([], "--age-recipient", help="age public key to encrypt Secrets to (repeatable)")
Identity = typer.Option(None, "--age-identity", help="age identity file (encrypts and decrypts Secrets)")
Concurrency = typer.Option(32, "--concurrency", min=1, max=128, help="requests in flight (hides API round trips)")
QuiesceSource = typer.Option(False, "--quiesce-source",
                             help="stop the disks' writers on the source (scale to 0 / suspend CronJobs), recorded "
                                  "in OUT/volumes-state.json and undone by `akshift volumes rollback`")
AcceptBlockers = typer.Option([], "--accept-blockers", metavar="CODE",
                              help="apply objects held back by blocker findings of this code anyway (repeatable, "
                                   "or comma-separated); recorded in the report")
TargetNodeDns = typer.Option(None, "--target-node-dns", metavar="localdns|nodelocaldns",
                             help="where the target's pods send DNS (default: detected on the target): localdns "
                                  "(AKS LocalDNS, 169.254.10.10/11) or nodelocaldns (NodeLocal DNSCache, "
                                  "169.254.20.10); network policies that allow DNS (Kubernetes ones and translated "
                                  "Calico ones) also allow these")
#: How every duration option's help names the syntax.
DURATIONS = "90s, 5m, 1h30m, 24h; a bare number is seconds"


def duration(text: str) -> float:
    """The parser of every duration option: seconds from ``90``, ``90s``, ``2m``, ``1h30m``, ``24h``, ``500ms``.

    Raises:
        typer.BadParameter: Not a duration (the CLI prints it as a usage error naming the option, exit 2).
    """
    from cutover.errors import PlanError
    from cutover.plan import parse_duration

    if isinstance(text, (int, float)):  # a default given as a number
        return float(text)
    try:
        return parse_duration(text, "")
    except PlanError as e:
        raise typer.BadParameter(f"{e.message.strip()} — {e.fix}") from None


def duration_option(default: str | None, *decls: str, help: str) -> Any:  # noqa: A002 - typer's own name
    """A typer option holding a duration, in seconds when the command receives it (None stays None)."""
    return typer.Option(default, *decls, parser=duration, metavar="DURATION", help=f"{help} ({DURATIONS})")


ReleaseTimeout = duration_option("2m", "--release-timeout", help="how long to wait for the source's pods to release "
                                                                  "a claim")


class Mover(str, enum.Enum):
    """Which disk mover carries disk copies (``--disk-mover``)."""

    pulumi = "pulumi"
    sandbox = "sandbox"


DiskMoverOpt = typer.Option(Mover.pulumi, "--disk-mover",
                            help="pulumi: snapshots and disks in Azure through the VolumeMove component; sandbox: "
                                 "the local sandbox's stand-in (no Azure; its disks do not exist)")


def bad_input(message: str) -> AkshiftError:
    """An error in what the user passed on the command line (exit 2)."""
    return AkshiftError(message, kind=ErrorKind.BAD_INPUT)


def node_dns(value: str | None) -> str | None:
    """``--target-node-dns``, checked: ``localdns``, ``nodelocaldns`` or None.

    Raises:
        AkshiftError: (bad input) any other value.
    """
    if value is None:
        return None
    if value.lower() not in NODE_LOCAL_DNS:
        raise bad_input(f"--target-node-dns {value!r}: expected localdns (AKS LocalDNS, 169.254.10.10/11) or "
                        "nodelocaldns (NodeLocal DNSCache, 169.254.20.10)")
    return value.lower()


def key_values(option: str, items: Iterable[str], example: str) -> dict[str, str]:
    """Repeated ``OLD=NEW`` options into a dict.

    Args:
        option: the option's name, for the error.
        items: the values given.
        example: a valid value, for the error.

    Raises:
        AkshiftError: (bad input) a value without ``=``, or with an empty side.
    """
    out = {}
    for item in items:
        old, sep, new = item.partition("=")
        if not sep or not new or not old:
            raise bad_input(f"{option} {item!r}: expected OLD=NEW, such as {example}")
        out[old] = new
    return out


def client(path: Path | None, context: str | None, which: str, concurrency: int = 16, *,
           stack: str | None = None) -> Any:
    """Open and check a cluster client from ``--source``/``--target``, its ``--…-context``, or ``--…-stack``.

    Without a file or a stack, the kubeconfig is found as kubectl finds it (``KUBECONFIG``, then
    ``~/.kube/config``), and its current context is used unless ``--…-context`` names one.

    Raises:
        AkshiftError: (bad input) both a file and a stack; the errors of :func:`kube.client.connect`
            and of reading the stack's output.
    """
    from kube.client import connect

    if path is not None and stack is not None:
        raise bad_input(f"--{which} and --{which}-stack both given: pass one")
    if stack is not None:
        from akshift.project import stack_kubeconfig

        return connect(None, context, role=f"--{which}-stack {stack}", max_connections=concurrency,
                       kubeconfig_text=stack_kubeconfig(stack), text_source=f"stack {stack} output kubeconfig")
    return connect(path, context, role=f"--{which}", max_connections=concurrency)


def secret_key(recipients: list[str], identity: Path | None, exclude: bool, *, decrypt: bool) -> Any:
    """The Secret key from ``--age-recipient``/``--age-identity`` (or the environment's passphrase).

    Raises:
        SecretKeyError: Secrets are carried (not ``exclude``) and there is no usable key.
    """
    from migration.secrets import load_secret_key, require_key

    key = load_secret_key(recipients=recipients, identity_file=identity)
    if not exclude and key is None:
        require_key(key, decrypt=decrypt)
    return key


def progress_for(output: Output) -> Any:
    """The :class:`migration.pipeline.Progress` of a command: bars on stderr, quiet with ``--output json``."""

    @contextlib.contextmanager
    def progress(stage: Any, total: int | None) -> Iterator[Any]:
        if output is Output.json:
            yield lambda n: None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err_console, transient=False) as p:
            task = p.add_task(str(stage), total=total)
            yield lambda n: p.advance(task, n)

    return progress


def disk_mover(kind: Mover, out: Path) -> Any:
    """The disk mover ``--disk-mover`` names, keeping its Pulumi state in ``OUT/pulumi``."""
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


def print_findings(findings: Iterable[Any]) -> None:
    """Findings on stderr, one with its fix per pair of lines."""
    for f in findings:
        colour = "red" if f.severity.value == "blocker" else "yellow"
        err_console.print(f"  [{colour}]{f.severity.value}[/] {escape(f.code)}: {escape(f.message)}\n    fix: {escape(f.fix)}",
                          markup=True)


TargetResourceGroup = typer.Option(
    None, "--target-resource-group",
    help="where disk snapshots and copies go: the green stack's diskCopyResourceGroup output (read from "
         "--target-stack when given); never green's node resource group, which AKS deletes with the cluster")


def disk_copy_group(given: str | None, target_stack: str | None) -> str | None:
    """``--target-resource-group``, else the ``diskCopyResourceGroup`` output of ``--target-stack`` (None: neither).

    Raises:
        AkshiftError: (bad input) the stack has no such output.
    """
    if given is not None or target_stack is None:
        return given
    from akshift.project import stack_output

    return stack_output(target_stack, "diskCopyResourceGroup")
