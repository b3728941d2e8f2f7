"""Shared output plumbing for every command: text for people, JSON for scripts, exit codes for CI.

Why one place: every command takes ``--output text|json`` and the same exit
codes, so scripts can rely on them:

* 0 — done, nothing needs a human;
* 1 — done with failures or gaps (objects failed, verification mismatched);
* 2 — bad input (config, kubeconfig, arguments) — nothing was changed;
* 3 — the environment is missing something (binaries not built, cluster unreachable).
"""
from __future__ import annotations

import contextlib
import enum
import sys
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import typer
from rich.console import Console

OK, FAILED, BAD_INPUT, ENVIRONMENT = 0, 1, 2, 3


class Output(str, enum.Enum):
    text = "text"
    json = "json"


OutputOption = typer.Option(Output.text, "--output", "-o", help="text for people, json for scripts")

err_console = Console(stderr=True)


def emit_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS, default=str).decode() + "\n")


def fail(message: str, code: int = BAD_INPUT) -> typer.Exit:
    """Print one clear error line to stderr and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


@contextlib.contextmanager
def exits_on_error(to_exit: Callable[[Exception], typer.Exit]) -> Iterator[None]:
    """Turn an exception from a stage or the engine into the command's exit (``to_exit`` maps it);
    an Exit raised on purpose passes through."""
    try:
        yield
    except typer.Exit:
        raise
    except Exception as e:
        raise to_exit(e) from e
