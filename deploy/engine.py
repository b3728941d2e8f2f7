"""The one gateway to the Pulumi engine: open a stack, preview behind the guards, ``up`` held to the plan.

Why one module: promotion and ``akshift up|preview``, the Pulumi traffic
router of the cutover, the Pulumi disk mover and doctor's refresh all drive
the same engine. Each used to open Automation API stacks its own way, catch
``CommandError`` its own way and read engine events its own way. Here:

* **one way to reach the engine** — :class:`Engine`: the Pulumi CLI install
  (``<root>/bin/pulumi``), the variables for it, the state backend and
  secrets provider (:mod:`deploy.backend`);
* **three ways to open a stack**, the three the project needs —
  :func:`open_project` (the project's program, by stack name: promotion,
  ``akshift up|preview``), :func:`open_inline` (an inline program with its
  own project settings and backend: the disk mover), :func:`open_work_dir`
  (a stack of the project in a directory, run by the CLI: the traffic router,
  doctor's refresh);
* **a guarded preview** (:func:`guarded_preview`): the plan is saved and the
  guards of :mod:`deploy.guards` read its steps — no ManagedCluster replaced
  by accident, and optionally nothing changed outside one component;
* **an update held to that plan** (:func:`up_to_plan`, ``up --plan``): a step
  the preview did not show fails the update instead of happening;
* engine failures become :class:`deploy.errors.EngineError` (and its
  :class:`~deploy.errors.StackNotFound`, :class:`~deploy.errors.StackBusy`),
  so no caller catches the Automation API's exceptions; events are read by
  :mod:`deploy.events`.

:class:`Stack` wraps the Automation API stack and is the only handle callers
get; results are plain records (:class:`UpdateResult`, :class:`Preview`).
This is the only module of the project that imports ``pulumi.automation``
(``.importlinter`` enforces it); tests hand :class:`Stack` a fake with the
Automation API's method names.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from deploy.backend import Backend
from deploy.errors import EngineError, StackBusy, StackNotFound
from deploy.events import StaleWrites, Step, steps_from_events
from deploy.guards import check_confined, check_plan
from deploy.rules import UpdateRecord

OnEvent = Callable[[Any], None]
OnOutput = Callable[[str], Any]
Program = Callable[[], None]
#: The project's program, given the stack's outputs from its last deployment (read before the operation
#: starts), or None when they are not known (``pulumi up`` run by the CLI: the program then reads them itself,
#: through a StackReference to its own stack).
ProjectProgram = Callable[[Mapping[str, Any] | None], None]
#: URNs per targeted refresh after an update (:meth:`Stack.up`): a few hundred keep the engine's command
#: line far below the kernel's argument limit.
REREAD_BATCH = 200


@dataclasses.dataclass(frozen=True)
class Engine:
    """How to run the Pulumi CLI: which install, with which variables, against which backend.

    Attributes:
        pulumi_root: Directory of a Pulumi CLI install (``<root>/bin/pulumi``); None: ``pulumi`` on PATH.
        env: Variables for the engine on top of this process's (PATH to a provider, PULUMI_HOME,
            Azure credentials, the passphrase …).
        backend: State backend and secrets provider (:func:`deploy.backend.resolve_backend`); None:
            whatever the environment and the project's Pulumi.yaml say.
    """

    pulumi_root: Path | None = None
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    backend: Backend | None = None

    @property
    def variables(self) -> dict[str, str]:
        """Every variable the engine gets beyond this process's environment (the backend's win over ``env``)."""
        return {**self.env, **(self.backend.env if self.backend else {})}

    def options(self, *, work_dir: Path | str | None = None,
                project: auto.ProjectSettings | None = None) -> auto.LocalWorkspaceOptions:
        """Workspace options for one stack (Automation API)."""
        env = self.variables
        return auto.LocalWorkspaceOptions(
            work_dir=str(work_dir) if work_dir is not None else None,
            env_vars=env,
            pulumi_home=env.get("PULUMI_HOME"),
            secrets_provider=self.backend.secrets_provider if self.backend else None,
            project_settings=project,
            pulumi_command=auto.PulumiCommand(root=str(self.pulumi_root)) if self.pulumi_root else None,
        )


@contextlib.contextmanager
def engine_errors(what: str) -> Iterator[None]:
    """Turn the Automation API's failures into :class:`EngineError` (the one place that catches them).

    Args:
        what: The operation, for the message (``preview prod``).

    Raises:
        StackNotFound: The stack does not exist.
        StackBusy: Another update holds the stack's lock.
        EngineError: Any other failure of the engine (the program raised, a provider refused, a plan was broken).
    """
    try:
        yield
    except auto.StackNotFoundError as e:
        raise StackNotFound.of(str(e), what) from e
    except auto.ConcurrentUpdateError as e:
        raise StackBusy.of(str(e), what) from e
    except auto.CommandError as e:
        raise EngineError.of(str(e), what) from e


@dataclasses.dataclass(frozen=True)
class UpdateResult:
    """What an ``up`` did.

    Attributes:
        result: The engine's verdict (``succeeded``, ``failed`` …).
        changes: Operation → count.
        outputs: The stack's outputs after the update, as plain values (secrets decrypted in memory).
        reread: Kubernetes resources whose recorded state was older than the update's write and that were
            read back right after it (:class:`deploy.events.StaleWrites`), by URN.
    """

    result: str
    changes: Mapping[str, int]
    outputs: Mapping[str, Any]
    reread: tuple[str, ...] = ()

    @property
    def succeeded(self) -> bool:
        """Whether the engine reported success."""
        return self.result == "succeeded"


@dataclasses.dataclass(frozen=True)
class Preview:
    """A guarded preview.

    Attributes:
        stack: The stack name.
        steps: Every planned step (including ``same``).
        changes: Operation → count, as the engine summarises it.
        plan: The saved update plan ``up`` will be held to (None when no plan was saved).
    """

    stack: str
    steps: tuple[Step, ...]
    changes: Mapping[str, int]
    plan: Path | None

    @property
    def changed(self) -> list[Step]:
        """Steps that change something: not ``same``, and not the ``read`` of a StackReference."""
        return [s for s in self.steps if s.op not in ("same", "read")]


def _kwargs(**kw: Any) -> dict[str, Any]:
    """Keyword arguments that were given (the engine's defaults stay the engine's)."""
    return {k: v for k, v in kw.items() if v is not None}


def _lookup(values: Mapping[str, str], key: str) -> str | None:
    """A config value by path (``akshift:traffic.weights.blue``) in ``pulumi config --json``'s top-level values.

    Objects come back as JSON text, scalars as the text ``pulumi config get --path`` prints.
    """
    top, _, rest = key.partition(".")
    if top not in values:
        return None
    if not rest:
        return values[top]
    try:
        node: Any = json.loads(values[top])
    except ValueError:
        return None
    for part in rest.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, str) else json.dumps(node)


class Stack:
    """A Pulumi stack opened through the gateway.

    Every method runs one engine command; failures raise :class:`EngineError` (see :func:`engine_errors`).
    Config keys use the path syntax (``akshift:traffic.weights.blue``) throughout.

    Args:
        raw: The Automation API stack (or, in tests, an object with its method names).
        program: The project's program, when the stack is the project's (:func:`open_project`): ``preview`` and
            ``up`` read the stack's outputs first and hand them to it. A program that read its own stack's
            outputs while the update runs (a StackReference to itself) races the engine writing the state:
            the file backend rewrites its metadata sidecar in place, and a read at that moment fails the
            update with "failed to load checkpoint: EOF" (seen in CI).
    """

    def __init__(self, raw: Any, program: ProjectProgram | None = None) -> None:
        self._raw = raw
        self._program = program

    def _program_kwargs(self) -> dict[str, Any]:
        """``program=`` for a preview or an update: the project's program with the outputs read now, if any."""
        if self._program is None:
            return {}
        program, last = self._program, self.outputs()
        return {"program": lambda: program(last)}

    @property
    def name(self) -> str:
        """The stack name."""
        return str(self._raw.name)

    # -- configuration

    def all_config(self) -> dict[str, str]:
        """Every top-level config value of the stack (secrets decrypted in memory)."""
        with engine_errors(f"read the config of {self.name}"):
            return {k: getattr(v, "value", v) for k, v in self._raw.get_all_config().items()}

    def config(self, key: str) -> str | None:
        """One config value by path; None when the stack does not set it."""
        return _lookup(self.all_config(), key)

    def set_config(self, key: str, value: str) -> None:
        """Set one config value by path."""
        with engine_errors(f"set {key} on {self.name}"):
            self._raw.set_config(key, auto.ConfigValue(value), path=True)

    def remove_config(self, key: str) -> None:
        """Remove one config value by path."""
        with engine_errors(f"remove {key} from {self.name}"):
            self._raw.remove_config(key, path=True)

    def set_configs(self, values: Mapping[str, str]) -> dict[str, str | None]:
        """Set several config values, all or none; returns what they were, for :meth:`restore_config`.

        Raises:
            EngineError: A value could not be set (those already set were put back).
        """
        current = self.all_config()
        before = {key: _lookup(current, key) for key in values}
        done: dict[str, str | None] = {}
        try:
            for key, value in values.items():
                self.set_config(key, value)
                done[key] = before[key]
        except EngineError:
            self.restore_config(done)
            raise
        return before

    def restore_config(self, before: Mapping[str, str | None]) -> None:
        """Put config values back as :meth:`set_configs` found them (removing those that were not set)."""
        for key, value in before.items():
            if value is None:
                self.remove_config(key)
            else:
                self.set_config(key, value)

    # -- state

    def outputs(self) -> dict[str, Any]:
        """The outputs of the last update as plain values (secret outputs decrypted in memory)."""
        with engine_errors(f"read the outputs of {self.name}"):
            return {k: getattr(v, "value", v) for k, v in self._raw.outputs().items()}

    def history(self) -> list[UpdateRecord]:
        """The stack's update history as engine-independent records (newest first, as the engine lists it)."""
        with engine_errors(f"read the history of {self.name}"):
            entries = self._raw.history()
        out = []
        for i, h in enumerate(entries):
            out.append(UpdateRecord(
                version=h.version if h.version is not None else -i,
                kind=h.kind, result=h.result,
                start=h.start_time, end=h.end_time,
                changes=dict(h.resource_changes or {}),
                config={k: getattr(v, "value", v) for k, v in (h.config or {}).items()},
            ))
        return out

    # -- operations

    def preview(self, *, plan: Path | None = None, on_event: OnEvent | None = None,
                on_output: OnOutput | None = None, message: str | None = None, diff: bool | None = None) -> Preview:
        """Preview the stack, collecting its steps (no guard; see :func:`guarded_preview`).

        Args:
            plan: Save the update plan to this file (``preview --save-plan``).
            on_event: Also called with every engine event.
            on_output: Called with the engine's output lines.
            message: The update message.
            diff: Print each resource's detailed diff to ``on_output``.

        Returns:
            The preview.
        """
        events: list[Any] = []

        def collect(event: Any) -> None:
            events.append(event)
            if on_event is not None:
                on_event(event)

        with engine_errors(f"preview {self.name}"):
            result = self._raw.preview(on_event=collect, color="never", **self._program_kwargs(),
                                       **_kwargs(plan=str(plan) if plan else None, on_output=on_output,
                                                 message=message, diff=diff))
        return Preview(self.name, tuple(steps_from_events(events)), dict(result.change_summary or {}), plan)

    def up(self, *, plan: Path | None = None, on_event: OnEvent | None = None, on_output: OnOutput | None = None,
           message: str | None = None, continue_on_error: bool | None = None,
           parallel: int | None = None) -> UpdateResult:
        """Run ``up``; with ``plan``, held to that saved plan (prefer :func:`up_to_plan`).

        Args:
            plan: A plan saved by a preview; any step it does not contain fails the update.
            on_event: Called with every engine event.
            on_output: Called with the engine's output lines.
            message: The update message.
            continue_on_error: Keep updating independent resources after one fails.
            parallel: Resource operations at once (the CLI's default when None).

        A successful update that recorded a Kubernetes object older than what it wrote (a provider race,
        :class:`deploy.events.StaleWrites`) is followed by a refresh of exactly those resources, so the
        next preview does not show an update of what is already on the cluster.

        Returns:
            The result, with the stack's outputs after it.
        """
        stale = StaleWrites()

        def watch(event: Any) -> None:
            stale(event)
            if on_event is not None:
                on_event(event)

        with engine_errors(f"up {self.name}"):
            result = self._raw.up(color="never", **self._program_kwargs(), **_kwargs(
                plan=str(plan) if plan else None, on_event=watch, on_output=on_output, message=message,
                continue_on_error=continue_on_error, parallel=parallel))
        done = UpdateResult(str(result.summary.result), dict(result.summary.resource_changes or {}),
                            {k: getattr(v, "value", v) for k, v in (result.outputs or {}).items()})
        if done.succeeded and stale.urns:
            what = (f"refresh {self.name}: the update succeeded; reading back {len(stale.urns)} object(s) it "
                    "recorded older than its write failed")
            for i in range(0, len(stale.urns), REREAD_BATCH):
                with engine_errors(what):
                    self._raw.refresh(color="never", target=stale.urns[i:i + REREAD_BATCH],
                                      message="akshift: read back objects recorded older than the update's write")
            done = dataclasses.replace(done, reread=tuple(stale.urns))
        return done

    def refresh(self, *, on_output: OnOutput | None = None) -> Mapping[str, int]:
        """``pulumi refresh --yes``: read every resource back from the cloud into the state.

        Returns:
            Operation → count.
        """
        with engine_errors(f"refresh {self.name}"):
            result = self._raw.refresh(color="never", **_kwargs(on_output=on_output))
        return dict(result.summary.resource_changes or {})

    def destroy(self, *, on_output: OnOutput | None = None) -> None:
        """Delete every resource of the stack (the stack itself stays, empty)."""
        with engine_errors(f"destroy {self.name}"):
            self._raw.destroy(color="never", **_kwargs(on_output=on_output))


# --------------------------------------------------------------------------- opening a stack


def open_project(engine: Engine, directory: Path, program: ProjectProgram, name: str, *,
                 create: bool = False) -> Stack:
    """Open a stack of the project in ``directory`` with the project's program attached (inline).

    The project name and the stack files come from ``directory``'s Pulumi.yaml (its ``stackConfigDir``).

    Args:
        engine: How to run the engine.
        directory: The project directory (Pulumi.yaml).
        program: The project's program (``lambda last: akshift.program.main(directory, last_outputs=last)``);
            ``preview`` and ``up`` hand it the stack's last outputs (see :class:`Stack`).
        name: The stack name (``test``, ``prod``).
        create: Create the stack when it does not exist (with the backend's secrets provider).

    Returns:
        The stack.

    Raises:
        StackNotFound: ``create`` is False and the stack does not exist.
        EngineError: The engine could not be started or the project read.
    """
    helper = auto.create_or_select_stack if create else auto.select_stack
    with engine_errors(f"open stack {name} in {directory}"):
        # The project name comes from Pulumi.yaml in work_dir; the argument only names a missing project.
        # Engine commands this gateway does not override (refresh, destroy) run no program; should one, the
        # program reads its outputs itself (None), as under `pulumi up`.
        return Stack(helper(stack_name=name, project_name="akshift", program=lambda: program(None),
                            opts=engine.options(work_dir=directory)), program)


def open_inline(engine: Engine, project: str, name: str, program: Program) -> Stack:
    """Open (creating it if needed) a stack of an inline program that has no project directory.

    The project settings are made here (Python runtime, the engine's backend URL), so the program's state
    lives where ``engine.backend`` says, whatever the current directory holds.

    Args:
        engine: How to run the engine; its ``backend`` must be set.
        project: The project name (``akshift-volumes``).
        name: The stack name.
        program: The inline program.

    Returns:
        The stack.

    Raises:
        ValueError: ``engine.backend`` is None (an inline stack's state must live somewhere explicit).
        EngineError: The engine could not be started or the stack created.
    """
    if engine.backend is None:
        raise ValueError(f"inline stack {project}/{name} needs an explicit backend")
    settings = auto.ProjectSettings(name=project, runtime="python", backend=auto.ProjectBackend(url=engine.backend.url))
    with engine_errors(f"open stack {project}/{name}"):
        return Stack(auto.create_or_select_stack(name, project, program, opts=engine.options(project=settings)))


def open_work_dir(engine: Engine, work_dir: Path | str, name: str) -> Stack:
    """Select an existing stack of the project in ``work_dir``; the CLI runs the project's program from there.

    Args:
        engine: How to run the engine.
        work_dir: The project directory (Pulumi.yaml and its program).
        name: The stack name (``prod``, or ``<org>/<project>/<stack>``).

    Returns:
        The stack.

    Raises:
        StackNotFound: No such stack.
        EngineError: The engine could not be started or the project read.
    """
    with engine_errors(f"select stack {name} in {work_dir}"):
        return Stack(auto.select_stack(name, work_dir=str(work_dir), opts=engine.options(work_dir=work_dir)))


# --------------------------------------------------------------------------- guarded preview, held update


def guarded_preview(stack: Stack, plan_dir: Path, *, allow_cluster_replacement: bool = False,
                    confine_to: str | None = None, on_event: OnEvent | None = None,
                    on_output: OnOutput | None = None, message: str | None = None) -> Preview:
    """Preview a stack, save the plan, and refuse what the guards refuse.

    Args:
        stack: The stack.
        plan_dir: Where to save the plan file.
        allow_cluster_replacement: Accept replacing or deleting a ManagedCluster.
        confine_to: A component type token: refuse any change outside it (a cutover step).
        on_event: Also called with every engine event (progress display).
        on_output: Called with the engine's output lines.
        message: The update message.

    Returns:
        The preview, its plan saved in ``plan_dir``.

    Raises:
        PlanRefused: The plan replaces or deletes a ManagedCluster and that was not allowed.
        PlanNotConfined: ``confine_to`` is set and the plan changes something outside it.
        EngineError: The preview failed (the program raised, a provider refused).
    """
    preview = stack.preview(plan=plan_dir / f"{stack.name.replace('/', '_')}.plan.json", on_event=on_event,
                            on_output=on_output, message=message)
    if confine_to is not None:  # first: it names every foreign step, a cluster replacement included
        check_confined(stack.name, preview.steps, confine_to)
    check_plan(stack.name, preview.steps, allow_cluster_replacement=allow_cluster_replacement)
    return preview


def up_to_plan(stack: Stack, preview: Preview, *, on_event: OnEvent | None = None,
               on_output: OnOutput | None = None, message: str | None = None) -> UpdateResult:
    """Run ``up`` held to the previewed plan: any step the preview did not show fails the update.

    Args:
        stack: The stack that was previewed.
        preview: Its guarded preview (with a saved plan).
        on_event: Called with every engine event.
        on_output: Called with the engine's output lines.
        message: The update message.

    Returns:
        The engine's result.

    Raises:
        ValueError: The preview saved no plan.
        EngineError: The update failed (including a plan violation).
    """
    if preview.plan is None:
        raise ValueError(f"the preview of {preview.stack} saved no plan to hold the update to")
    return stack.up(plan=preview.plan, on_event=on_event, on_output=on_output, message=message)


def guarded_up(stack: Stack, *, confirm: Callable[[Preview], bool], allow_cluster_replacement: bool = False,
               on_event: OnEvent | None = None) -> tuple[Preview, UpdateResult | None]:
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
        EngineError: The preview or the update failed.
    """
    with tempfile.TemporaryDirectory(prefix="akshift-plan-") as tmp:
        preview = guarded_preview(stack, Path(tmp), allow_cluster_replacement=allow_cluster_replacement,
                                  on_event=on_event)
        if not confirm(preview):
            return preview, None
        return preview, up_to_plan(stack, preview, on_event=on_event)


__all__ = ["Engine", "Preview", "Stack", "UpdateResult", "engine_errors", "guarded_preview", "guarded_up",
           "ProjectProgram", "open_inline", "open_project", "open_work_dir", "up_to_plan"]
