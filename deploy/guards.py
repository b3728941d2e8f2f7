"""The plan guard of `akshift up|preview|promote`: no replacing or deleting a ManagedCluster by accident.

Why it exists: pulumi-azure-native plans a *replacement* of a ManagedCluster
for several innocent-looking changes (network profile, name, some identity
settings), i.e. delete the running cluster and create an empty one. ``protect``
and the networking-mode guard of the program catch the known cases; this guard
catches the rest by looking at what the engine actually planned. It reads the
preview's step events (``ResourcePreEvent``: operation, URN, type, and the keys
that force a replacement), so it is a pure function over a list of steps,
tested with recorded or constructed steps instead of Azure.

The wrappers then apply exactly the previewed plan (``up --plan``), so the
update cannot do something the guard did not see.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from deploy.errors import PlanRefused

#: Resource types whose destruction the guard refuses, with what to call them in messages.
GUARDED_TYPES: Mapping[str, str] = {
    "azure-native:containerservice:ManagedCluster": "AKS cluster",
}

#: Step operations that delete the live resource, now or after creating its replacement.
DESTRUCTIVE_OPS: frozenset[str] = frozenset({
    "delete", "replace", "create-replacement", "delete-replaced", "import-replacement",
})


@dataclasses.dataclass(frozen=True)
class Step:
    """One step of a plan.

    Attributes:
        op: The engine's operation (``create``, ``update``, ``replace``, ``delete`` …).
        urn: The resource's URN.
        type: Its type token.
        keys: Properties that force a replacement (empty for other operations).
    """

    op: str
    urn: str
    type: str
    keys: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The logical name (last URN segment)."""
        return self.urn.rsplit("::", 1)[-1]


def steps_from_events(events: Iterable[Any]) -> list[Step]:
    """The planned steps in engine events (``auto.events.EngineEvent`` or their JSON dicts).

    Args:
        events: Events of a preview or update, as ``on_event`` receives them or as recorded
            in the engine's JSON event log.

    Returns:
        One step per ``ResourcePreEvent``, in event order.
    """
    out = []
    for event in events:
        if isinstance(event, Mapping):
            meta = (event.get("resourcePreEvent") or {}).get("metadata")
            if meta:
                out.append(Step(str(meta.get("op")), meta.get("urn", ""), meta.get("type", ""),
                                tuple(meta.get("keys") or ())))
            continue
        pre = getattr(event, "resource_pre_event", None)
        if pre is None:
            continue
        meta = pre.metadata
        op = getattr(meta.op, "value", meta.op)
        out.append(Step(str(op), meta.urn, meta.type, tuple(meta.keys or ())))
    return out


def refused_steps(steps: Iterable[Step], *, allow_cluster_replacement: bool = False) -> list[Step]:
    """The steps the guard refuses.

    Args:
        steps: A plan's steps.
        allow_cluster_replacement: The user explicitly accepted destroying clusters.

    Returns:
        Destructive steps on guarded types; empty when allowed or when there are none.
    """
    if allow_cluster_replacement:
        return []
    return [s for s in steps if s.type in GUARDED_TYPES and s.op in DESTRUCTIVE_OPS]


def check_plan(stack: str, steps: Iterable[Step], *, allow_cluster_replacement: bool = False) -> None:
    """Refuse a plan that replaces or deletes a guarded resource.

    Args:
        stack: The stack name, for the message.
        steps: The previewed steps.
        allow_cluster_replacement: The user explicitly accepted it (``--allow-cluster-replacement``).

    Raises:
        PlanRefused: With one reason per refused step (a replacement is reported once, not per phase).
    """
    seen: set[str] = set()
    reasons = []
    for s in refused_steps(steps, allow_cluster_replacement=allow_cluster_replacement):
        if s.urn in seen:
            continue
        seen.add(s.urn)
        what = GUARDED_TYPES[s.type]
        verb = "delete" if s.op == "delete" else "replace (delete and recreate)"
        cause = f" because of {', '.join(s.keys)}" if s.keys else ""
        reasons.append(
            f"{stack}: the plan would {verb} the {what} {s.name}{cause}. Nothing was changed. Undo the change that "
            "causes it, or create a new stack next to this one and migrate to it (docs/stack-config.md); pass "
            "--allow-cluster-replacement only if the running cluster may really be destroyed"
        )
    if reasons:
        raise PlanRefused(reasons)
