"""Test-then-prod promotion through the engine gateway: pin what was verified, preview behind the guards, apply.

Why it is shaped so: every decision lives in pure modules (:mod:`deploy.rules`,
:mod:`deploy.guards`, :mod:`deploy.backend`); the engine is driven only through
:mod:`deploy.engine`; this module gathers the facts the rules need and applies
their results, in the order the issue asks for:

1. ``promote``: read the source's outputs and update history → :func:`deploy.rules.refusals`;
2. write the pinned values into the target's configuration (``pulumi config set --path``);
3. preview the target, collecting the engine's step events, and save the plan
   (``preview --save-plan``) → :func:`deploy.guards.check_plan`;
4. ask for confirmation (a callback: a prompt for people, ``--yes`` for scripts);
5. ``up --plan``: the update may do only what the guarded preview showed.

If anything stops the promotion after step 2 — a refusal, a failing preview, a
declined confirmation — the target's previous configuration is restored, so a
later plain ``pulumi up`` cannot deploy half a promotion.

The program is passed in as a function (an Automation API inline program), so
this package never imports the components or the Azure SDK; ``akshift`` passes
:func:`akshift.program.main`, the function ``__main__.py`` runs.
"""
from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from deploy.backend import Backend
from deploy.engine import (
    Engine,
    OnEvent,
    Preview,
    ProjectProgram,
    Stack,
    UpdateResult,
    guarded_preview,
    open_project,
    up_to_plan,
)
from deploy.errors import PromotionRefused, StackNotFound
from deploy.rules import (
    ConfigChange,
    config_changes,
    pinned_values,
    refusals,
    target_refusals,
)


@dataclasses.dataclass(frozen=True)
class Project:
    """The project's program and where to run it.

    Attributes:
        directory: The Pulumi project directory (Pulumi.yaml; stack files in its ``stackConfigDir``).
        program: The project's program (``lambda last: program.main(directory, last_outputs=last)``).
        backend: State backend and secrets provider (:func:`deploy.backend.resolve_backend`).
        env: Further variables for the engine (PATH to a provider, PULUMI_HOME …).
        pulumi_root: Directory of a Pulumi CLI install (``<root>/bin/pulumi``); None: ``pulumi`` on PATH.
    """

    directory: Path
    program: ProjectProgram
    backend: Backend
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    pulumi_root: Path | None = None

    @property
    def engine(self) -> Engine:
        """How the gateway reaches the engine for this project."""
        return Engine(self.pulumi_root, self.env, self.backend)


def open_stack(project: Project, name: str, *, create: bool = False) -> Stack:
    """Select a stack of the project (or create it) with the project's program attached.

    Args:
        project: Where and how to run.
        name: The stack name (``test``, ``prod``).
        create: Create the stack when it does not exist (with the backend's secrets provider).

    Returns:
        The stack.

    Raises:
        StackNotFound: ``create`` is False and the stack does not exist.
        EngineError: The engine could not open it.
    """
    return open_project(project.engine, project.directory, project.program, name, create=create)


@dataclasses.dataclass(frozen=True)
class Promotion:
    """What a promotion did.

    Attributes:
        source: Source stack name.
        target: Target stack name.
        pins: Config key → value carried from the source.
        changes: The pins the target did not have yet.
        verified_at: When the promoted deployment was verified on the source (ISO 8601).
        preview: The target's guarded preview.
        result: The target's update, None when not confirmed (the target's config was restored).
    """

    source: str
    target: str
    pins: Mapping[str, str]
    changes: tuple[ConfigChange, ...]
    verified_at: str | None
    preview: Preview | None
    result: UpdateResult | None


def check_source(project: Project, source: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Read the source stack and decide whether it may be promoted.

    Args:
        project: Where and how to run.
        source: The source stack name.

    Returns:
        The source's outputs and the pins they yield.

    Raises:
        PromotionRefused: With every reason (unverified, failed, stale, incomplete).
        EngineError: The engine could not read the source.
    """
    try:
        src = open_stack(project, source)
    except StackNotFound:
        raise PromotionRefused(f"source stack {source} does not exist; deploy it with `akshift up --stack {source}`") \
            from None
    outputs = src.outputs()
    reasons = refusals(source, outputs, src.history())
    if reasons:
        raise PromotionRefused(reasons)
    return outputs, pinned_values(outputs)


def promote(project: Project, source: str, target: str, *, confirm: Callable[[Promotion], bool],
            allow_cluster_replacement: bool = False, on_event: OnEvent | None = None) -> Promotion:
    """Carry what was verified on ``source`` to ``target``: pin, preview behind the guards, confirm, apply.

    Args:
        project: Where and how to run.
        source: The verified stack (``test``).
        target: The stack to promote to (``prod``); created if missing.
        confirm: Shown the promotion with its preview; True to apply.
        allow_cluster_replacement: Accept a target plan that replaces or deletes a ManagedCluster.
        on_event: Called with every engine event of the target.

    Returns:
        The promotion; ``result`` is None when not confirmed.

    Raises:
        PromotionRefused: The source may not be promoted, or the target cannot take the pins.
        PlanRefused: The target's plan replaces or deletes a ManagedCluster.
        EngineError: The target's preview or update failed.
    """
    if source == target:
        raise PromotionRefused(f"source and target are both {source}; promote between two stacks")
    outputs, pins = check_source(project, source)
    verified_at = (outputs.get("verification") or {}).get("verifiedAt")
    dst = open_stack(project, target, create=True)
    before = dst.all_config()
    reasons = target_refusals(target, before, pins)
    if reasons:
        raise PromotionRefused(reasons)
    changes = tuple(config_changes(before, pins))
    for c in changes:
        dst.set_config(c.key, c.new)
    applied = False
    try:
        with tempfile.TemporaryDirectory(prefix="akshift-plan-") as tmp:
            preview = guarded_preview(dst, Path(tmp), allow_cluster_replacement=allow_cluster_replacement,
                                      on_event=on_event)
            promotion = Promotion(source, target, pins, changes, verified_at, preview, None)
            if not confirm(promotion):
                return promotion
            # From here a failed update keeps the pins: the stack then says what it was asked to become.
            applied = True
            result = up_to_plan(dst, preview, on_event=on_event)
            return dataclasses.replace(promotion, result=result)
    finally:
        if not applied:
            dst.restore_config({c.key: None if c.old is None else str(c.old) for c in changes})


__all__ = ["Project", "Promotion", "check_source", "open_stack", "promote"]
