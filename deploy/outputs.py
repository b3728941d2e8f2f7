"""Reading what a stack exports — a cluster's kubeconfig for ``--target-stack`` / ``--source-stack``, and
the green stack's disk-copy resource group for ``akshift volumes``.

Why here: stack outputs are read through the engine gateway like every other engine command, and a
kubeconfig output is a Pulumi secret: it is decrypted by the engine into this process's memory and handed
to :func:`kube.client.connect` as text; it is never written to disk.
"""
from __future__ import annotations

from pathlib import Path

from deploy.engine import Engine, open_work_dir
from deploy.errors import StackOutputError


def kubeconfig_output(engine: Engine, project_dir: Path, stack: str, output: str = "kubeconfig") -> str:
    """The kubeconfig a stack exports, decrypted in memory.

    Args:
        engine: How to run the engine.
        project_dir: The Pulumi project (its Pulumi.yaml).
        stack: The stack name.
        output: The output holding the kubeconfig.

    Returns:
        The kubeconfig text.

    Raises:
        StackNotFound: No such stack (bad input).
        StackOutputError: The stack has no such output, or it is not a kubeconfig (bad input).
        EngineError: The engine failed.
    """
    outputs = open_work_dir(engine, project_dir, stack).outputs()
    if output not in outputs:
        known = ", ".join(sorted(outputs)) or "none"
        raise StackOutputError(f"stack {stack} exports no {output!r} (its outputs: {known})", ref=f"--{stack}",
                               fix=f"run `akshift up --stack {stack}` first, or pass the kubeconfig file instead")
    value = outputs[output]
    if not isinstance(value, str) or "clusters" not in value or "contexts" not in value:
        raise StackOutputError(f"output {output!r} of stack {stack} is not a kubeconfig",
                               fix="point at the output that holds the cluster's kubeconfig")
    return value


def string_output(engine: Engine, project_dir: Path, stack: str, output: str) -> str:
    """One string output of a stack (``diskCopyResourceGroup`` for ``akshift volumes --target-stack``).

    Args:
        engine: How to run the engine.
        project_dir: The Pulumi project (its Pulumi.yaml).
        stack: The stack name.
        output: The output's name.

    Returns:
        Its value.

    Raises:
        StackNotFound: No such stack (bad input).
        StackOutputError: The stack has no such output, or it is not a non-empty string (bad input).
        EngineError: The engine failed.
    """
    outputs = open_work_dir(engine, project_dir, stack).outputs()
    value = outputs.get(output)
    if not isinstance(value, str) or not value:
        known = ", ".join(sorted(outputs)) or "none"
        raise StackOutputError(f"stack {stack} exports no {output!r} (its outputs: {known})", ref=f"--{stack}",
                               fix=f"run `akshift up --stack {stack}` first (a stack with cluster.mode new exports it)")
    return value
