"""`akshift up` / `preview` / `promote` refuse an invalid stack file before any engine starts: exit 2, every key.

The program would refuse the same file inside an engine run, which the gateway reports as an engine failure
(exit 1, one ``pulumi.RunError`` text); the commands check the file first with the loader `akshift config
validate` uses. No engine is needed for the refusal: opening the project or a stack fails the test, and a
valid file must reach that point (the check is not a blanket refusal).
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from akshift import cmd_stack
from akshift.cli import app

from support import ROOT

runner = CliRunner()


class EngineOpened(Exception):
    """Raised in place of the engine: the command got past the stack file check."""


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every attempt to open the project's engine (each one stops the command there)."""
    calls: list[Any] = []

    def no_engine(*args: Any) -> Any:
        calls.append(args)
        raise EngineOpened(args)

    monkeypatch.setattr(cmd_stack, "_project", no_engine)
    return calls


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory with the shipped Pulumi.yaml (``stackConfigDir: stacks``) and prod stack file."""
    (tmp_path / "stacks").mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copy(ROOT / "stacks" / "Pulumi.prod.yaml", tmp_path / "stacks" / "Pulumi.prod.yaml")
    return tmp_path


def break_prod(project: Path) -> None:
    path = project / "stacks" / "Pulumi.prod.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["config"]["akshift:networking"]["podCidr"] = doc["config"]["akshift:network"]["addressSpace"]  # overlaps
    doc["config"]["akshift:nodePools"][0]["count"] = 0
    doc["config"]["akshift:clsuter"] = {"name": "typo"}
    path.write_text(yaml.safe_dump(doc))


def squash(text: str) -> str:
    return "".join(text.split())  # rich folds stderr at 80 columns under the test runner, paths included


# Each command with prod as the stack it deploys; promote writes its pins into prod's file, so a broken
# file is refused before the pins are written.
ON_PROD = [["up", "--yes", "--stack", "prod"], ["preview", "--stack", "prod"], ["promote", "test", "prod", "--yes"]]


@pytest.mark.parametrize("command", ON_PROD, ids=["up", "preview", "promote"])
def test_an_invalid_stack_file_exits_2_with_every_problem_and_its_key_before_any_engine(
    project: Path, opened: list[Any], command: list[str]
) -> None:
    break_prod(project)
    before = (project / "stacks" / "Pulumi.prod.yaml").read_bytes()
    res = runner.invoke(app, [*command, "--project-dir", str(project)])
    assert (project / "stacks" / "Pulumi.prod.yaml").read_bytes() == before
    assert opened == []
    assert res.exit_code == 2, res.output
    out = squash(res.output)
    path = project / "stacks" / "Pulumi.prod.yaml"
    assert squash(f"error: stack prod: 3 problem(s) in {path}; nothing was previewed or deployed") in out
    assert squash(f"`akshift config validate {path}`") in out
    lines = [ln.strip() for ln in res.output.splitlines()]
    for key in ("networking.podCidr", "nodePools[0].count", "clsuter"):
        assert any(ln.startswith(f"{key}: ") for ln in lines), f"no line for {key}:\n{res.output}"
    assert squash("did you mean akshift:cluster?") in out
    assert "Traceback" not in res.output and "internal error" not in res.output


def test_a_stack_without_a_file_exits_2_naming_the_file_and_the_projects_stacks(
    project: Path, opened: list[Any]
) -> None:
    res = runner.invoke(app, ["preview", "--stack", "organization/akshift/staging", "--project-dir", str(project)])
    assert opened == []
    assert res.exit_code == 2, res.output
    out = squash(res.output)
    assert squash(f"{project / 'stacks' / 'Pulumi.staging.yaml'}: no such file") in out
    assert squash("the project's stacks: prod") in out


@pytest.mark.parametrize("command", ON_PROD, ids=["up", "preview", "promote"])
def test_a_valid_stack_file_goes_on_to_the_engine(project: Path, opened: list[Any], command: list[str]) -> None:
    res = runner.invoke(app, [*command, "--project-dir", str(project)])
    assert opened == [(project, None)], res.output
