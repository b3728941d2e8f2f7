"""``akshift config``: check a stack file and export its JSON schema, without Pulumi.

Why it exists: a stack file should be checked where it is edited — in review,
in CI, before ``pulumi up`` — and a failing check must name every key to fix at
once. This module is a thin shell around :mod:`stacks` (the same loader
``__main__.py`` uses during ``pulumi up``); it imports no Pulumi package, so it
answers in well under a second (enforced by ``.importlinter``).

Exit codes follow :mod:`akshift.output`: 0 valid, 2 bad input (invalid config,
missing or malformed file).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from akshift.output import BAD_INPUT, OK, Boundary, Output, OutputOption, emit_json, err_console
from errors import AkshiftError, ErrorKind

if TYPE_CHECKING:
    from stacks import Problem, StackConfig

# The stack model (pydantic) takes 0.2-0.3 s to import: every command line imports this module, so
# :mod:`stacks` is imported by the commands that use it (tests/unit/akshift/test_cli_startup.py).
SCHEMA_FILE_NAME = "stack-config.schema.json"  # stacks.schema.SCHEMA_FILE.name (a test holds them equal)

app = typer.Typer(cls=Boundary,
    help="Check stack files (stacks/Pulumi.<stack>.yaml) and export their JSON schema, without Pulumi.",
    no_args_is_help=True,
)


def summary(path: str, cfg: StackConfig) -> str:
    """One line describing a valid stack file.

    Args:
        path: The file as given on the command line.
        cfg: Its configuration.

    Returns:
        ``OK <path>: cluster …, networking …, N node pools (≤ M nodes), node DNS cache …``.
    """
    if cfg.cluster.mode == "existing":  # node pools and node DNS belong to whoever created that cluster
        return (f"OK {path}: existing cluster {cfg.cluster.name} (Kubernetes {cfg.cluster.kubernetes_version}), "
                f"networking {cfg.networking.mode.value}, protect {'on' if cfg.cluster.protect else 'off'}")
    from stacks.capabilities import resolve_node_dns_cache

    dns = resolve_node_dns_cache(cfg.dns.node_cache, cfg.networking.mode, cfg.cluster.kubernetes_version,
                                 cfg.node_pools)
    return (
        f"OK {path}: cluster {cfg.cluster.name}, networking {cfg.networking.mode.value}, "
        f"{len(cfg.node_pools)} node pool(s) (up to {cfg.max_nodes} nodes), node DNS cache {dns.value}, "
        f"protect {'on' if cfg.cluster.protect else 'off'}"
    )


@app.command()
def validate(
    stack_file: Path = typer.Argument(..., help="A stack file, e.g. stacks/Pulumi.prod.yaml", show_default=False),
    output: Output = OutputOption,
) -> None:
    """Check a stack file: exit 0 and what will really run when valid, 2 with one line per problem otherwise.

    Example: akshift config validate stacks/Pulumi.prod.yaml
    """
    from stacks import ConfigError, load_stack_file
    from stacks.effective import describe

    try:
        cfg = load_stack_file(stack_file)
    except ConfigError as e:
        _report(e.problems, output, stack_file)
        raise typer.Exit(BAD_INPUT) from None
    if output is Output.json:
        emit_json([])
    else:
        typer.echo(summary(str(stack_file), cfg))
        # What will really run: defaults and fallbacks resolved (node DNS, egress, version window).
        for topic, what in describe(cfg):
            typer.echo(f"  {topic}: {what}")
    raise typer.Exit(OK)


@app.command()
def schema(
    write: bool = typer.Option(False, "--write", help=f"write {SCHEMA_FILE_NAME} next to the stack files"),
    out: Path | None = typer.Option(None, "--out", help="write the schema to this file instead of stdout"),
    output: Output = OutputOption,
) -> None:
    """Print (or write) the JSON schema of stack files, for editors and reviewers.

    The schema itself is JSON; with --out and -o json, a JSON line says where it was written.
    Example: akshift config schema --out stacks/stack-config.schema.json
    """
    from stacks.schema import SCHEMA_FILE, render_schema

    text = render_schema()
    target = SCHEMA_FILE if write else out
    if target is None:
        typer.echo(text, nl=False)
        return
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as e:
        raise AkshiftError(f"cannot write the schema to {target} ({e.strerror or e})",
                           fix="pass a writable file path to --out", kind=ErrorKind.BAD_INPUT) from e
    if output is Output.json:
        emit_json({"schema": str(target)})
    else:
        err_console.print(f"wrote {target}")


def _report(problems: tuple[Problem, ...], output: Output, path: Path) -> None:
    if output is Output.json:
        emit_json([p.as_dict() for p in problems])
        return
    for p in problems:
        # Plain stdout lines, one per problem: greppable in CI logs, no wrapping.
        typer.echo(p.line())
    err_console.print(f"{len(problems)} problem(s) in {path}")
