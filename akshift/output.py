"""Shared output plumbing for every command: text for people, JSON for scripts, exit codes for CI.

Why one place: every command takes ``--output text|json`` and the same exit
codes, so scripts can rely on them (the mapping itself is :mod:`errors`'):

* 0 — done, nothing needs a human;
* 1 — done with failures or gaps (objects failed, verification mismatched);
* 2 — bad input (config, kubeconfig, arguments) — nothing was changed;
* 3 — the environment is missing something (binaries not built, cluster unreachable).

:class:`Boundary` is the one place where an error becomes an exit: every
``typer.Typer`` of the CLI is built with it, so a command raises the error it
means and never maps it to a code itself. An exception that is not an
:class:`errors.AkshiftError` is a bug: one line naming it, exit 1, and the
traceback only with ``--debug``.
"""
from __future__ import annotations

import enum
import sys
import traceback
from typing import Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from typer._click.core import Context as ClickContext  # what TyperGroup.invoke receives (a typer.Context is one)
from typer._click.exceptions import ClickException  # typer 0.29 vendors click: its usage errors are these
from typer.core import TyperGroup

from errors import EXIT_CODES, AkshiftError, ErrorKind
from errors import OK as OK  # re-exported: the commands take every exit code from this module

FAILED, BAD_INPUT, ENVIRONMENT = (EXIT_CODES[k] for k in (ErrorKind.FAILED, ErrorKind.BAD_INPUT, ErrorKind.ENVIRONMENT))


class Output(str, enum.Enum):
    text = "text"
    json = "json"


OutputOption = typer.Option(Output.text, "--output", "-o", help="text for people, json for scripts")

# Safe by default: user and server text (a path with "[/]", an admission message with "[denied]",
# ":x:") is printed as it is. Calls that style a label pass ``markup=True`` and escape() the text.
err_console = Console(stderr=True, markup=False, emoji=False, highlight=False)


#: The version of every command's ``--output json`` shape; raised when a command changes its shape.
SCHEMA_VERSION = 1


def emit_json(data: Any) -> None:
    """Print one JSON document on stdout; a mapping gets ``schemaVersion`` unless it carries its own."""
    if isinstance(data, dict):
        data = {"schemaVersion": SCHEMA_VERSION, **data}
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS, default=str).decode() + "\n")


def fail(message: str, code: int = BAD_INPUT) -> typer.Exit:
    """Print one clear error line to stderr and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", markup=True)
    return typer.Exit(code)


def error_exit(e: AkshiftError) -> typer.Exit:
    """Print an error (its message, then any detail lines it carries) and return the Exit of its kind."""
    err_console.print(f"[bold red]error:[/] {escape(e.headline())}", markup=True)
    for line in getattr(e, "details", lambda: ())():
        err_console.print(f"  {line}")
    return typer.Exit(e.exit_code)


class Boundary(TyperGroup):
    """The CLI's one error boundary: an :class:`errors.AkshiftError` becomes its message and its kind's exit code.

    Used as ``typer.Typer(cls=Boundary)`` by every command group, so the same
    mapping holds whether the command is run as ``akshift …`` or a group is
    invoked on its own (tests, ``python -m``).
    """

    def invoke(self, ctx: ClickContext) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, ClickException):  # typer's own exits and usage errors (exit 2)
            raise
        except AkshiftError as e:
            if ctx.find_root().meta.get("akshift.debug"):
                traceback.print_exc()
            raise error_exit(e) from e
        except KeyboardInterrupt:
            err_console.print("interrupted", highlight=False)
            raise typer.Exit(130) from None
        except Exception as e:
            if ctx.find_root().meta.get("akshift.debug"):
                traceback.print_exc()
            err_console.print(f"[bold red]error:[/] internal error: {escape(type(e).__name__)}: {escape(str(e))} — "
                              "please report it with the output of the same command run with --debug",
                              markup=True)
            raise typer.Exit(FAILED) from e
