"""The Pulumi project the CLI works in, its stack files, and the Pulumi CLI it drives.

Why one module: `akshift up|preview|promote`, `strategy` and every command that reads a stack's output
(``--target-stack``) must find the same project (the nearest ``Pulumi.yaml``, or ``--project-dir``), the
same stack files (Pulumi.yaml's ``stackConfigDir``) and the same Pulumi CLI (``pulumi`` on PATH, else the
sandbox's build), with the user's own ``pulumi login``.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from errors import AkshiftError, ErrorKind

if TYPE_CHECKING:
    from stacks import Problem, StackConfig


def find_project(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` holding a Pulumi.yaml."""
    for d in (start.resolve(), *start.resolve().parents):
        if (d / "Pulumi.yaml").is_file():
            return d
    return None


def project_dir(given: Path | None) -> Path:
    """``--project-dir`` or the nearest project; raises a bad-input error when there is none."""
    directory = given.resolve() if given else find_project(Path.cwd())
    if directory is None or not (directory / "Pulumi.yaml").is_file():
        raise AkshiftError("no Pulumi.yaml here or above", kind=ErrorKind.BAD_INPUT,
                           fix="run from the akshift project or pass --project-dir")
    return directory


def stack_config_dir(project: Path) -> Path:
    """Where the project keeps its stack files: Pulumi.yaml's ``stackConfigDir``, else the project directory.

    Raises:
        AkshiftError: (bad input) Pulumi.yaml cannot be read.
    """
    import yaml

    try:
        doc = yaml.safe_load((project / "Pulumi.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise AkshiftError(f"cannot read it ({e})", ref=project / "Pulumi.yaml", kind=ErrorKind.BAD_INPUT) from e
    sub = doc.get("stackConfigDir") if isinstance(doc, dict) else None
    return project / sub if isinstance(sub, str) and sub else project


def stack_file(project: Path, stack: str) -> Path:
    """The file Pulumi reads stack ``stack``'s config from (``org/project/stack`` → ``Pulumi.stack.yaml``)."""
    return stack_config_dir(project) / f"Pulumi.{stack.rsplit('/', 1)[-1]}.yaml"


class InvalidStackFile(AkshiftError):
    """A stack file the program would refuse: every problem with its key, before any engine starts (exit 2)."""

    kind = ErrorKind.BAD_INPUT

    def __init__(self, stack: str, path: Path, problems: tuple[Problem, ...]) -> None:
        self.problems = problems
        super().__init__(f"stack {stack}: {len(problems)} problem(s) in {path}; nothing was previewed or deployed",
                         fix=f"change each key below (`akshift config validate {path}` checks the file without "
                             "Pulumi), then run again")

    def details(self) -> tuple[str, ...]:
        return tuple(p.line() for p in self.problems)


def check_stack_file(project: Path, stack: str) -> StackConfig:
    """Validate stack ``stack``'s file with the loader `akshift config validate` uses, before the engine runs.

    The program refuses the same problems (``pulumi.RunError``, nothing registered), but only after an engine
    has started, and the gateway reports that as an engine failure (exit 1); this says every problem with its
    key at once, exit 2, in well under a second.

    Args:
        project: The project directory (Pulumi.yaml).
        stack: The stack name (``test``, ``prod``, ``org/project/prod``).

    Returns:
        The stack's configuration.

    Raises:
        InvalidStackFile: (bad input) the file is missing, unreadable, or has any problem.
    """
    from stacks import ConfigError, load_stack_file

    path = stack_file(project, stack)
    try:
        return load_stack_file(path)
    except ConfigError as e:
        problems = e.problems
        if not path.is_file():
            known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in path.parent.glob("Pulumi.*.yaml"))
            from stacks import Problem

            problems = (Problem((str(path),), "no such file: the stack's configuration lives there; the project's "
                                              f"stacks: {', '.join(known) or 'none'}"),)
        raise InvalidStackFile(stack, path, problems) from None


def pulumi_cli() -> tuple[Path | None, dict[str, str]]:
    """The Pulumi CLI to drive: ``pulumi`` on PATH, else the sandbox's build (with its Kubernetes provider)."""
    if shutil.which("pulumi"):
        return None, {}
    from sandbox import build

    cli, provider = build.TOOLS["pulumi"], build.TOOLS["pulumi-resource-kubernetes"]
    if cli.missing():
        raise AkshiftError("no pulumi CLI on PATH and none built in the sandbox cache", kind=ErrorKind.ENVIRONMENT,
                           fix="install Pulumi, or run `akshift sandbox build`")
    path = os.pathsep.join([str(cli.dir / "bin"), str(provider.dir / "bin"), os.environ.get("PATH", "")])
    return cli.dir, {"PATH": path}


def stack_kubeconfig(stack: str, given_dir: Path | None = None) -> str:
    """The kubeconfig stack ``stack`` exports, decrypted in memory (``--target-stack``/``--source-stack``)."""
    from deploy.backend import resolve_backend
    from deploy.engine import Engine
    from deploy.outputs import kubeconfig_output

    root, env = pulumi_cli()
    engine = Engine(root, env, resolve_backend(os.environ))
    return kubeconfig_output(engine, project_dir(given_dir), stack)


def stack_output(stack: str, output: str, given_dir: Path | None = None) -> str:
    """A string output of stack ``stack`` (``diskCopyResourceGroup`` when ``--target-stack`` is given)."""
    from deploy.backend import resolve_backend
    from deploy.engine import Engine
    from deploy.outputs import string_output

    root, env = pulumi_cli()
    engine = Engine(root, env, resolve_backend(os.environ))
    return string_output(engine, project_dir(given_dir), stack, output)
