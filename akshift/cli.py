"""The single `akshift` command line.

Why it is shaped so: each command group lives in its own module (``cmd_*.py``)
and imports its heavy dependencies (Pulumi, pulumi-azure-native) only when it
runs, so `akshift config validate` answers in well under a second and works
without Pulumi installed. This module only wires the groups together.
"""
from __future__ import annotations

import typer

from akshift import cmd_config, cmd_cutover, cmd_doctor, cmd_migrate, cmd_sandbox, cmd_stack, cmd_sync, cmd_volumes
from akshift.output import Boundary

app = typer.Typer(
    name="akshift",
    help="Move AKS clusters off kubenet: declare the new cluster, migrate workloads, cut over.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=Boundary,
)


def _version(show: bool) -> None:
    if show:
        from importlib.metadata import PackageNotFoundError, version  # 0.05-0.1 s: only for --version

        try:
            typer.echo(f"akshift {version('akshift')}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            typer.echo("akshift (not installed)")
        raise typer.Exit(0)


@app.callback()
def root(ctx: typer.Context,
         debug: bool = typer.Option(False, "--debug", help="print the traceback of an error (for bug reports)"),
         _show_version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                            help="print akshift's version and exit")) -> None:
    """Move AKS clusters off kubenet: declare the new cluster, migrate workloads, cut over."""
    ctx.meta["akshift.debug"] = debug
app.add_typer(cmd_config.app, name="config")
app.add_typer(cmd_sandbox.app, name="sandbox")
app.add_typer(cmd_volumes.app, name="volumes")
cmd_migrate.register(app)
cmd_sync.register(app)
cmd_doctor.register(app)
cmd_cutover.register(app)
cmd_stack.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
