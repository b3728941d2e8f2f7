"""The Pulumi engine's events, read in one place: planned steps, progress, failures, diagnostics.

Why it exists: the guards need the steps a preview planned, the CLI's progress
bar needs to know when a resource is done, and every caller wants the
failures and error diagnostics. The engine delivers the same events two ways —
as ``pulumi.automation.events.EngineEvent`` objects to an ``on_event``
callback, and as JSON dicts in a recorded event log — so this module reads
both, by attribute or by key, into small frozen records. It imports nothing
of the Automation API: recorded or constructed events test it without an
engine.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class Step:
    """One step of a plan (or of an update).

    Attributes:
        op: The engine's operation (``create``, ``update``, ``replace``, ``delete`` …).
        urn: The resource's URN.
        type: Its type token.
        keys: Properties that force a replacement (empty for other operations).
        diffs: What changes (an ``update``'s or a ``replace``'s): the property paths of the provider's
            detailed diff (``spec.replicas``), else the top-level properties; empty when the engine names none.
    """

    op: str
    urn: str
    type: str
    keys: tuple[str, ...] = ()
    diffs: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The logical name (last URN segment)."""
        return self.urn.rsplit("::", 1)[-1]

    @property
    def parents(self) -> tuple[str, ...]:
        """Type tokens of the resource's parents, outermost first (read from the URN's type part).

        A child's URN carries its parents' types: ``urn:pulumi:<stack>::<project>::<parent>$<type>::<name>``.
        """
        parts = self.urn.split("::")
        return tuple(parts[2].split("$")[:-1]) if len(parts) >= 4 else ()


@dataclasses.dataclass(frozen=True)
class Diagnostic:
    """A message the engine, a provider or the program printed.

    Attributes:
        severity: ``info``, ``warning``, ``error`` …
        message: The text, stripped.
        urn: The resource it concerns, ``""`` for the whole update.
    """

    severity: str
    message: str
    urn: str = ""


@dataclasses.dataclass(frozen=True)
class Event:
    """What one engine event means to akshift.

    Attributes:
        step: The step the engine is about to take (``ResourcePreEvent``), else None.
        done: A resource's step finished, with outputs or with a failure (one tick of progress).
        failed: The step that failed (``ResOpFailedEvent``), else None.
        diagnostic: A message (``DiagnosticEvent``), else None.
    """

    step: Step | None = None
    done: bool = False
    failed: Step | None = None
    diagnostic: Diagnostic | None = None


def _field(obj: Any, attr: str, key: str) -> Any:
    """An event's part, by attribute (an ``EngineEvent``) or by key (its JSON dict)."""
    return obj.get(key) if isinstance(obj, Mapping) else getattr(obj, attr, None)


def _step(part: Any) -> Step | None:
    """The step in a ``ResourcePreEvent``/``ResOutputsEvent``/``ResOpFailedEvent`` (object or JSON)."""
    meta = _field(part, "metadata", "metadata") if part is not None else None
    if not meta:
        return None
    op = _field(meta, "op", "op")
    op = getattr(op, "value", op)
    detailed = _field(meta, "detailed_diff", "detailedDiff") or {}
    return Step(str(op), _field(meta, "urn", "urn") or "", _field(meta, "type", "type") or "",
                tuple(_field(meta, "keys", "keys") or ()),
                tuple(detailed) if detailed else tuple(_field(meta, "diffs", "diffs") or ()))


def parse(event: Any) -> Event:
    """Read one engine event.

    Args:
        event: An ``auto.events.EngineEvent`` as ``on_event`` receives it, or its JSON dict as the
            engine's event log records it.

    Returns:
        What it means; an event of no interest (prelude, summary, stdout) is an empty :class:`Event`.
    """
    pre = _step(_field(event, "resource_pre_event", "resourcePreEvent"))
    outputs = _field(event, "res_outputs_event", "resOutputsEvent")
    failed = _step(_field(event, "res_op_failed_event", "resOpFailedEvent"))
    diag = _field(event, "diagnostic_event", "diagnosticEvent")
    diagnostic = None
    if diag is not None:
        diagnostic = Diagnostic(str(_field(diag, "severity", "severity") or ""),
                                str(_field(diag, "message", "message") or "").strip(),
                                _field(diag, "urn", "urn") or "")
    return Event(step=pre, done=outputs is not None or failed is not None, failed=failed, diagnostic=diagnostic)


def steps_from_events(events: Iterable[Any]) -> list[Step]:
    """The planned steps in engine events.

    Args:
        events: Events of a preview or update, as ``on_event`` receives them or as recorded
            in the engine's JSON event log.

    Returns:
        One step per ``ResourcePreEvent``, in event order.
    """
    return [e.step for e in map(parse, events) if e.step is not None]


#: What the engine shows in place of a secret value in an event's inputs or outputs.
MASKED = "[secret]"
#: Operations after which a provider records the object it read back as the resource's outputs.
WRITES = frozenset({"create", "update", "create-replacement", "replace", "import"})


def _output_key(outputs: Mapping[str, Any], key: str) -> str:
    """The key under which the provider's outputs hold an input key: the provider names a CRD schema's
    extensions in snake case (``x-kubernetes-preserve-unknown-fields`` → ``x_kubernetes_preserve_unknown_fields``,
    ``$ref`` → ``_ref``, seen with the real provider)."""
    return key if key in outputs else key.replace("-", "_").replace("$", "_")


def _covers(outputs: Any, inputs: Any) -> bool:
    """Whether ``outputs`` hold every value of ``inputs`` (maps by key, lists element by element).

    A masked secret matches anything (the event does not say what it is); a null input asks for nothing.
    """
    if inputs == MASKED or outputs == MASKED:
        return True
    if isinstance(inputs, Mapping):
        if not isinstance(outputs, Mapping):
            return False
        for k, v in inputs.items():
            key = _output_key(outputs, k)
            if v is not None and (key not in outputs or not _covers(outputs[key], v)):
                return False
        return True
    if isinstance(inputs, list):
        return isinstance(outputs, list) and len(outputs) == len(inputs) and all(map(_covers, outputs, inputs))
    return bool(inputs == outputs)


class StaleWrites:
    """The Kubernetes objects an update wrote whose recorded outputs lack what it applied.

    Why: the Kubernetes provider (v4) records as a resource's outputs the object its await logic last
    observed, through a watch that can start from the API server's watch cache — older than the write.
    It ignores events of an older ``metadata.generation``, but a change that does not bump the generation
    (labels, annotations; an object already ready) can be recorded as it was before the write. The next
    preview diffs the new inputs against that stale record and shows an ``update`` of what is already
    there (seen in the sandbox walkthrough: the ``pulumi.com/patchForce`` annotation of an adopted
    StatefulSet, pulumi/pulumi-kubernetes#3980 guards generations only). Feed it an update's events
    (``on_event``); :attr:`urns` are then the custom ``kubernetes:`` resources it wrote (not Helm
    releases, whose outputs are not the object) whose outputs do not hold their inputs: re-reading them
    (a targeted refresh) makes the state what the cluster holds.
    """

    def __init__(self) -> None:
        self.urns: list[str] = []
        self._seen: set[str] = set()

    def __call__(self, event: Any) -> None:
        part = _field(event, "res_outputs_event", "resOutputsEvent")
        meta = _field(part, "metadata", "metadata") if part is not None else None
        if not meta or _field(part, "planning", "planning"):  # a preview's, not an update's
            return
        op = _field(meta, "op", "op")
        new = _field(meta, "new", "new")
        type_ = str(_field(meta, "type", "type") or "")
        if (str(getattr(op, "value", op)) not in WRITES or new is None or not _field(new, "custom", "custom")
                or not type_.startswith("kubernetes:") or type_.startswith("kubernetes:helm.sh/")):
            return
        inputs = _field(new, "inputs", "inputs")
        urn = str(_field(meta, "urn", "urn") or "")
        if inputs and urn not in self._seen and not _covers(_field(new, "outputs", "outputs") or {}, inputs):
            self._seen.add(urn)  # once: a replacement reports its create and its replace
            self.urns.append(urn)


def failures(events: Iterable[Any]) -> list[Step]:
    """The steps that failed, in event order (``ResOpFailedEvent``)."""
    return [e.failed for e in map(parse, events) if e.failed is not None]


__all__ = ["Diagnostic", "Event", "StaleWrites", "Step", "failures", "parse", "steps_from_events"]
