"""One duration syntax across every command: walk the whole `akshift` CLI, so a new option cannot escape.

What users depend on: wherever a command asks "how long", ``90``, ``90s`` and ``2m`` mean what they say
(issue 16: "one duration syntax across all commands"). The walk starts at the entry point's typer app
(``akshift.cli:app``, the ``akshift`` script) and visits every command and subcommand. An option counts as a
duration when its flag names a time (``--…-timeout``, ``--wait``, ``--hold``, ``--soak``, ``--…-lag`` …) or
its help asks for seconds or "how long"; each must be declared with the shared parser
(:func:`akshift.options.duration_option`) and turn ``2m`` into 120 seconds while the command line is read —
an option left as plain float seconds rejects ``2m`` and fails here, naming itself.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer._click.core import Context  # typer 0.29 vendors click: a parameter parses against its Context
from typer.testing import CliRunner

from akshift import options
from akshift.cli import app

# A flag that names a time, or a help text that asks for one.
TIME_FLAG = re.compile(r"timeout|wait|hold|interval|soak|window|lag|duration|delay|ttl|deadline|grace|period|every")
TIME_HELP = re.compile(r"\bseconds?\b|\bminutes?\b|how long|how often", re.IGNORECASE)

#: Options that match the patterns above but are not durations, each with the reason (none today).
NOT_DURATIONS: dict[str, str] = {}


def walk(command: Any, path: tuple[str, ...] = ("akshift",)) -> Iterator[tuple[str, Any, Any]]:
    """(command path, command, option) for every option of every command under ``command``."""
    for param in command.params:
        if param.param_type_name == "option":
            yield " ".join(path), command, param
    for name, sub in (getattr(command, "commands", None) or {}).items():
        yield from walk(sub, (*path, name))


ROOT_COMMAND = typer.main.get_command(app)
OPTIONS = list(walk(ROOT_COMMAND))


def is_duration(param: Any) -> bool:
    if param.is_flag or param.count:
        return False  # a switch takes no value, whatever its name says
    flags = " ".join(param.opts)
    return bool(TIME_FLAG.search(flags) or TIME_HELP.search(param.help or ""))


DURATIONS = [(f"{path} {param.opts[0]}", command, param) for path, command, param in OPTIONS
             if is_duration(param) and f"{path} {param.opts[0]}" not in NOT_DURATIONS]


def test_the_walk_reaches_every_command_group_and_the_known_duration_options() -> None:
    # A walk that silently stopped at the top would check nothing: pin what it must reach.
    seen = {name for name, _, _ in DURATIONS}
    assert {"akshift migrate --ready-timeout", "akshift verify --ready-timeout", "akshift volumes move --release-timeout",
            "akshift volumes verify --timeout", "akshift cutover --hold", "akshift cutover --gate-interval",
            "akshift rollback --wait", "akshift decommission --soak", "akshift decommission --health-window",
            "akshift sync --max-lag", "akshift sync --duration"} <= seen
    assert len(OPTIONS) > 150  # every command's options, not one group's


@pytest.mark.parametrize(("name", "command", "param"), DURATIONS, ids=[d[0] for d in DURATIONS])
def test_every_duration_option_of_every_command_takes_the_one_syntax(name: str, command: Any, param: Any) -> None:
    info = param.type_descriptor.parameter_info
    assert info.parser is options.duration, f"{name} is not declared with akshift.options.duration_option"
    ctx = Context(command)
    for text, seconds in (("2m", 120.0), ("90s", 90.0), ("90", 90.0), ("1h30m", 5400.0)):
        assert param.process_value(ctx, text) == seconds, f"{name} {text}"
    if param.default is not None:  # the default as the command receives it: seconds
        assert isinstance(param.process_value(ctx, param.default), float)


def test_a_value_that_is_no_duration_is_a_usage_error_naming_the_option(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["volumes", "verify", "--out", str(tmp_path), "--timeout", "soon"])
    assert res.exit_code == 2, res.output
    text = "".join(res.output.replace("│", "").split())  # rich boxes and wraps the usage error
    assert "Invalidvaluefor'--timeout':'soon'isnotaduration" in text and "writeitlike90s,5m" in text
