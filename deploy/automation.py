"""The Automation API glue: open stacks, preview behind the guards, apply the previewed plan, promote.

Why it is shaped so: every decision lives in pure modules (rules, guards,
backend); this module gathers the facts they need from the engine and applies
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
this package never imports the components or the Azure SDK; `akshift` passes
:func:`akshift.program.main`, the function ``__main__.py`` runs.
"""
from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from deploy.backend import Backend
from deploy.errors import PromotionRefused
from deploy.guards import Step, check_plan, steps_from_events
from deploy.rules import (
    ConfigChange,
    UpdateRecord,
    config_changes,
    pinned_values,
    refusals,
    target_refusals,
)

OnEvent = Callable[[auto.events.EngineEvent], None]


@dataclasses.dataclass(frozen=True)
class Project:
    """How to run the project's program through the Automation API.

    Attributes:
        directory: The Pulumi project directory (Pulumi.yaml; stack files in its ``stackConfigDir``).
        program: The inline program (``lambda: program.main(directory)``).
        backend: State backend and secrets provider (:func:`deploy.backend.resolve_backend`).
        env: Further variables for the engine (PATH to a provider, PULUMI_HOME …).
        pulumi_root: Directory of a Pulumi CLI install (``<root>/bin/pulumi``); None: ``pulumi`` on PATH.
    """

    directory: Path
    program: Callable[[], None]
    backend: Backend
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    pulumi_root: Path | None = None


def open_stack(project: Project, name: str, *, create: bool = False) -> auto.Stack:
    """Select a stack (or create it) with the project's program attached.

    Args:
        project: Where and how to run.
        name: The stack name (``test``, ``prod``).
        create: Create the stack when it does not exist (with the backend's secrets provider).

    Returns:
        The stack.

    Raises:
        auto.StackNotFoundError: ``create`` is False and the stack does not exist.
    """
    opts = auto.LocalWorkspaceOptions(
        work_dir=str(project.directory),
        env_vars={**project.backend.env, **project.env},
        secrets_provider=project.backend.secrets_provider,
        pulumi_command=auto.PulumiCommand(root=str(project.pulumi_root) if project.pulumi_root else None),
        pulumi_home=project.env.get("PULUMI_HOME"),
    )
    # The project name comes from Pulumi.yaml in work_dir; the argument only names a missing project.
    helper = auto.create_or_select_stack if create else auto.select_stack
    return helper(stack_name=name, project_name="akshift", program=project.program, opts=opts)


def update_records(stack: auto.Stack) -> list[UpdateRecord]:
    """The stack's update history as engine-independent records (newest first, as the engine lists it)."""
    out = []
    for i, h in enumerate(stack.history()):
        out.append(UpdateRecord(
            version=h.version if h.version is not None else -i,
            kind=h.kind, result=h.result,
            start=h.start_time, end=h.end_time,
            changes=dict(h.resource_changes or {}),
            config={k: getattr(v, "value", v) for k, v in (h.config or {}).items()},
        ))
    return out


def plain_outputs(stack: auto.Stack) -> dict[str, Any]:
    """The stack's outputs as plain values (secret outputs are decrypted in memory)."""
    return {k: v.value for k, v in stack.outputs().items()}


@dataclasses.dataclass(frozen=True)
class Preview:
    """A guarded preview.

    Attributes:
        stack: The stack name.
        steps: Every planned step (including ``same``).
        changes: Operation → count, as the engine summarises it.
        plan: The saved update plan ``up`` will be held to.
    """

    stack: str
    steps: tuple[Step, ...]
    changes: Mapping[str, int]
    plan: Path

    @property
    def changed(self) -> list[Step]:
        """Steps that change something: not ``same``, and not the ``read`` of a StackReference."""
        return [s for s in self.steps if s.op not in ("same", "read")]


def guarded_preview(stack: auto.Stack, plan_dir: Path, *, allow_cluster_replacement: bool = False,
                    on_event: OnEvent | None = None) -> Preview:
    """Preview a stack, save the plan, and refuse destructive steps on guarded resources.

    Args:
        stack: The stack.
        plan_dir: Where to save the plan file.
        allow_cluster_replacement: Accept replacing or deleting a ManagedCluster.
        on_event: Also called with every engine event (progress display).

    Returns:
        The preview.

    Raises:
        PlanRefused: The plan replaces or deletes a ManagedCluster and that was not allowed.
        auto.CommandError: The preview failed (the program raised, a provider refused).
    """
    events: list[Any] = []

    def collect(event: auto.events.EngineEvent) -> None:
        events.append(event)
        if on_event is not None:
            on_event(event)

    plan = plan_dir / f"{stack.name}.plan.json"
    result = stack.preview(on_event=collect, plan=str(plan), color="never")
    steps = steps_from_events(events)
    check_plan(stack.name, steps, allow_cluster_replacement=allow_cluster_replacement)
    return Preview(stack.name, tuple(steps), dict(result.change_summary), plan)


def apply_preview(stack: auto.Stack, preview: Preview, *, on_event: OnEvent | None = None) -> auto.UpResult:
    """Run ``up`` held to the previewed plan: any step the preview did not show fails the update.

    Args:
        stack: The stack that was previewed.
        preview: Its guarded preview.
        on_event: Called with every engine event.

    Returns:
        The engine's result.

    Raises:
        auto.CommandError: The update failed (including a plan violation).
    """
    return stack.up(plan=str(preview.plan), on_event=on_event, color="never")


def guarded_up(stack: auto.Stack, *, confirm: Callable[[Preview], bool], allow_cluster_replacement: bool = False,
               on_event: OnEvent | None = None) -> tuple[Preview, auto.UpResult | None]:
    """Preview behind the guards, ask, then apply exactly that plan.

    Args:
        stack: The stack.
        confirm: Shown the preview; True to apply it.
        allow_cluster_replacement: Accept replacing or deleting a ManagedCluster.
        on_event: Called with every engine event (preview and update).

    Returns:
        The preview, and the update result (None when not confirmed).

    Raises:
        PlanRefused: See :func:`guarded_preview`.
        auto.CommandError: The preview or the update failed.
    """
    with tempfile.TemporaryDirectory(prefix="akshift-plan-") as tmp:
        preview = guarded_preview(stack, Path(tmp), allow_cluster_replacement=allow_cluster_replacement,
                                  on_event=on_event)
        if not confirm(preview):
            return preview, None
        return preview, apply_preview(stack, preview, on_event=on_event)


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
    result: auto.UpResult | None


def check_source(project: Project, source: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Read the source stack and decide whether it may be promoted.

    Args:
        project: Where and how to run.
        source: The source stack name.

    Returns:
        The source's outputs and the pins they yield.

    Raises:
        PromotionRefused: With every reason (unverified, failed, stale, incomplete).
    """
    try:
        src = open_stack(project, source)
    except auto.StackNotFoundError:
        raise PromotionRefused(f"source stack {source} does not exist; deploy it with `akshift up --stack {source}`") \
            from None
    outputs = plain_outputs(src)
    reasons = refusals(source, outputs, update_records(src))
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
        auto.CommandError: The target's preview or update failed.
    """
    if source == target:
        raise PromotionRefused(f"source and target are both {source}; promote between two stacks")
    outputs, pins = check_source(project, source)
    verified_at = (outputs.get("verification") or {}).get("verifiedAt")
    dst = open_stack(project, target, create=True)
    before = {k: v.value for k, v in dst.get_all_config().items()}
    reasons = target_refusals(target, before, pins)
    if reasons:
        raise PromotionRefused(reasons)
    changes = tuple(config_changes(before, pins))
    for c in changes:
        dst.set_config(c.key, auto.ConfigValue(c.new), path=True)
    applied = False
    try:
        with tempfile.TemporaryDirectory(prefix="akshift-plan-") as tmp:
            preview = guarded_preview(dst, Path(tmp), allow_cluster_replacement=allow_cluster_replacement,
                                      on_event=on_event)
            promotion = Promotion(source, target, pins, changes, verified_at, preview, None)
            if not confirm(promotion):
                return promotion
            applied = True
            result = apply_preview(dst, preview, on_event=on_event)
            return dataclasses.replace(promotion, result=result)
    finally:
        if not applied:
            _restore(dst, changes)


def _restore(stack: auto.Stack, changes: tuple[ConfigChange, ...]) -> None:
    """Put back the target's configuration as it was before the pins were written."""
    for c in changes:
        if c.old is None:
            stack.remove_config(c.key, path=True)
        else:
            stack.set_config(c.key, auto.ConfigValue(str(c.old)), path=True)


__all__ = ["Preview", "Project", "Promotion", "apply_preview", "check_source", "guarded_preview", "guarded_up",
           "open_stack", "plain_outputs", "promote", "update_records"]
