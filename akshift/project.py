"""The Pulumi project the CLI works in, and the Pulumi CLI it drives.

Why one module: `akshift up|preview|promote`, `strategy` and every command that reads a stack's output
(``--target-stack``) must find the same project (the nearest ``Pulumi.yaml``, or ``--project-dir``) and
the same Pulumi CLI (``pulumi`` on PATH, else the sandbox's build), with the user's own ``pulumi login``.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from errors import AkshiftError, ErrorKind


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
