"""The Azure side of a volume move: disk snapshots and copies, made by the ``VolumeMove`` program through Pulumi.

Why in ``deploy``: it drives the Pulumi engine, and ``deploy`` is the one
gateway to it; the pipeline (:mod:`migration.volumes`) only knows the
:class:`~migration.volumes.model.DiskMover` protocol, and the program comes in
as a function, so neither package imports components or the Azure SDK.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from deploy.backend import backend_at
from deploy.engine import Engine, Stack, open_inline
from deploy.errors import EngineError
from migration.errors import ApplyError, MigrationError
from migration.volumes.model import DiskCopy, DiskCopyResult


class PulumiDiskMover:
    """Copies disks by running the ``VolumeMove`` component through the Pulumi Automation API.

    One stack per run directory declares every copy; Pulumi's state makes reruns no-ops and resumes
    an interrupted run. The component protects the new disks (a later program that stops declaring
    one fails instead of deleting it) and keeps snapshots on delete (the lineage stays).

    Args:
        program_for: builds the inline program declaring the copies (``components.volume_move.program``);
            injected so that the migration package never imports components or the Azure SDK.
        backend_url: the Pulumi state backend (``file://<out>/pulumi`` by default in the CLI).
        stack_name, project_name: where the copies' state lives.
        env: environment for the engine (Azure credentials, ``PULUMI_CONFIG_PASSPHRASE``).
        pulumi_root: a Pulumi CLI install (``<root>/bin/pulumi``); None for the one on PATH.
        stack_factory: opens the stack for a program (tests pass a :class:`deploy.engine.Stack` around a fake).
        on_output: receives the engine's output lines.
    """

    def __init__(self, program_for: Callable[[Sequence[DiskCopy]], Callable[[], None]], *, backend_url: str,
                 stack_name: str = "volumes", project_name: str = "akshift-volumes",
                 env: Mapping[str, str] | None = None, pulumi_root: str | None = None,
                 stack_factory: Callable[[Callable[[], None]], Stack] | None = None,
                 on_output: Callable[[str], object] | None = None) -> None:
        self.program_for = program_for
        self.backend_url = backend_url
        self.stack_name = stack_name
        self.project_name = project_name
        self.env = dict(env or {})
        self.pulumi_root = pulumi_root
        self._factory = stack_factory
        self.on_output = on_output

    def _stack(self, program: Callable[[], None]) -> Stack:
        if self._factory is not None:
            return self._factory(program)
        engine = Engine(Path(self.pulumi_root) if self.pulumi_root else None, self.env, backend_at(self.backend_url))
        return open_inline(engine, self.project_name, self.stack_name, program)

    def copy(self, requests: Sequence[DiskCopy]) -> dict[str, DiskCopyResult | MigrationError]:
        if not requests:
            return {}
        stack = self._stack(self.program_for(requests))
        error: MigrationError | None = None
        try:
            # continue_on_error: one disk Azure refuses (quota, SKU not offered in a zone) must not
            # stop the others; the failed one is retried by the next run.
            outputs = stack.up(on_output=self.on_output, continue_on_error=True).outputs
        except EngineError as e:
            error = ApplyError(f"pulumi up of stack {self.stack_name} failed: {str(e)[-2000:]}",
                               fix="fix the Azure error above and re-run `akshift volumes move` (it resumes)")
            outputs = stack.outputs()
        made = outputs.get("volumes") or {}
        out: dict[str, DiskCopyResult | MigrationError] = {}
        for r in requests:
            ids = made.get(r.claim) or {}
            if ids.get("snapshotId") and ids.get("diskId"):
                out[r.claim] = DiskCopyResult(r.claim, ids["snapshotId"], ids["diskId"])
            else:
                out[r.claim] = error or ApplyError("the stack exported no disk for this claim", ref=r.claim)
        return out
