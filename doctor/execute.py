"""Run the in-place route: the Azure networking updates in runbook order, then the Pulumi refresh.

Why shaped so: the order and the refusals are the part worth testing, and
they are pure given two callables — ``update`` (one ``networkProfile`` change
through the Azure API, :func:`doctor.azure.update_network_profile` in
production) and ``refresh`` (:func:`refresh_stack`). Tests pass recording
fakes; production passes the real ones. It refuses a blue-green strategy and
any plan that still has manual steps (identity, Windows pools, a version
upgrade): do those, export a fresh ``az aks show``, and plan again — the new
plan no longer contains them, so re-running is safe.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from deploy.errors import EngineError
from doctor.arm import ArmCluster
from doctor.errors import ExecutionRefused, StepFailed
from doctor.strategy import Route, StepKind, Strategy

if TYPE_CHECKING:  # the gateway loads the Pulumi SDK: only --execute needs it
    from deploy.engine import Engine

Update = Callable[[str, str, str, dict[str, str]], Any]
Refresh = Callable[[], dict[str, Any]]


def execute_in_place(strategy: Strategy, current: ArmCluster, *, update: Update, refresh: Refresh,
                     log: Callable[[str], None] = lambda _m: None) -> list[str]:
    """Perform the AZURE steps of an in-place strategy in order, then refresh the Pulumi stack.

    Args:
        strategy: From :func:`doctor.strategy.decide`.
        current: The running cluster (subscription, resource group, name).
        update: ``update(subscription, resource_group, name, network_profile_changes)``.
        refresh: Refreshes the stack and previews it; returns the preview's change summary.
        log: Receives one line per step.

    Returns:
        Titles of the steps performed, the refresh last.

    Raises:
        ExecutionRefused: Not an in-place strategy, or manual steps remain.
        StepFailed: An update failed (from ``update``), or the preview still plans a replacement.
    """
    if strategy.route is not Route.IN_PLACE:
        raise ExecutionRefused(f"--execute runs only the in-place route; this plan is {strategy.route.value}: "
                               "follow its runbook")
    manual = [s.title for s in strategy.steps if s.kind is StepKind.MANUAL]
    if manual:
        raise ExecutionRefused("do these steps first, then export a fresh `az aks show` and plan again: "
                               + "; ".join(manual))
    done = []
    for step in strategy.steps:
        if step.kind is StepKind.AZURE and step.network_profile:
            log(f"{step.title}: networkProfile {step.network_profile}" + (" (irreversible)" if step.irreversible else ""))
            update(current.subscription, current.resource_group, current.name, dict(step.network_profile))
            done.append(step.title)
    log("pulumi refresh, then preview")
    summary = refresh()
    destructive = {op: n for op, n in summary.items() if n and ("replace" in op or op == "delete")}
    if destructive:
        raise StepFailed(f"the Azure updates are done, but `pulumi preview` still plans {destructive}: the stack "
                                   "file disagrees with the cluster; fix it and never run `pulumi up` over a replace")
    done.append("pulumi refresh")
    return done


def refresh_stack(stack: str, work_dir: str, log: Callable[[str], None] = lambda _m: None, *,
                  engine: Engine | None = None) -> dict[str, Any]:
    """``pulumi refresh --yes`` then ``pulumi preview`` of one stack of the project in ``work_dir``.

    Runs through the engine gateway (:func:`deploy.engine.open_work_dir`): the CLI runs the project's
    program from ``work_dir``.

    Args:
        stack: The stack name (``prod``).
        work_dir: The directory holding ``Pulumi.yaml``.
        log: Receives the engine's output lines.
        engine: How to reach the engine (default: ``pulumi`` on PATH, this process's environment).

    Returns:
        The preview's change summary (operation → count, e.g. ``{"same": 12}``).

    Raises:
        StepFailed: Pulumi could not select, refresh or preview the stack.
    """
    from deploy.engine import Engine, open_work_dir

    try:
        s = open_work_dir(engine or Engine(), work_dir, stack)
        s.refresh(on_output=log)
        return dict(s.preview(on_output=log, diff=True).changes)
    except EngineError as e:
        raise StepFailed(f"pulumi refresh/preview of stack {stack} in {work_dir} failed: {e}") from e
