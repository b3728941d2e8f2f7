"""The plan guards: no replacing or deleting a ManagedCluster by accident; a cutover step changes only the switch.

Why it exists: pulumi-azure-native plans a *replacement* of a ManagedCluster
for several innocent-looking changes (network profile, name, some identity
settings), i.e. delete the running cluster and create an empty one. ``protect``
and the networking-mode guard of the program catch the known cases; this guard
catches the rest by looking at what the engine actually planned. It reads the
preview's step events (``ResourcePreEvent``: operation, URN, type, and the keys
that force a replacement), so it is a pure function over a list of steps,
tested with recorded or constructed steps instead of Azure.

The second guard confines a plan to one component: a cutover step must move
weights and nothing else, so a preview that would also deploy unrelated
pending changes (drift, a half-finished edit of the stack file) is refused
(:func:`check_confined`).

The gateway (:mod:`deploy.engine`) then applies exactly the previewed plan
(``up --plan``), so the update cannot do something the guards did not see.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from deploy.errors import PlanNotConfined, PlanRefused
from deploy.events import Step

#: Resource types whose destruction the guard refuses, with what to call them in messages.
GUARDED_TYPES: Mapping[str, str] = {
    "azure-native:containerservice:ManagedCluster": "AKS cluster",
}

#: Step operations that delete the live resource, now or after creating its replacement.
DESTRUCTIVE_OPS: frozenset[str] = frozenset({
    "delete", "replace", "create-replacement", "delete-replaced", "import-replacement",
})


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


#: Operations that change nothing: a step with one of them may appear anywhere in a confined plan.
UNCHANGED_OPS: frozenset[str] = frozenset({"same", "read", "refresh"})

#: The stack's root resource: its outputs follow from the resources, it is never a change of its own.
ROOT_TYPE = "pulumi:pulumi:Stack"


def steps_outside(steps: Iterable[Step], component: str) -> list[Step]:
    """The changing steps on resources that are not the component or inside it.

    Args:
        steps: A plan's steps.
        component: The component's type token (``akshift:index:TrafficSwitch``).

    Returns:
        Steps that change something (not ``same``/``read``/``refresh``) outside the component, in plan order.

    >>> inside = Step("update", "urn:pulumi:p::akshift::akshift:index:TrafficSwitch$azure-native:"
    ...               "trafficmanager:Profile::traffic-profile", "azure-native:trafficmanager:Profile")
    >>> outside = Step("update", "urn:pulumi:p::akshift::akshift:index:ClusterNetwork$azure-native:"
    ...                "network:VirtualNetwork::aks-vnet", "azure-native:network:VirtualNetwork")
    >>> [s.name for s in steps_outside([inside, outside], "akshift:index:TrafficSwitch")]
    ['aks-vnet']
    """
    return [s for s in steps
            if s.op not in UNCHANGED_OPS and s.type not in (component, ROOT_TYPE) and component not in s.parents]


def check_confined(stack: str, steps: Iterable[Step], component: str) -> None:
    """Refuse a plan that changes anything outside one component.

    Args:
        stack: The stack name, for the message.
        steps: The previewed steps.
        component: The component's type token; the plan may change it and its children only.

    Raises:
        PlanNotConfined: With one reason per foreign step, in plan order, and the steps themselves.
    """
    foreign: list[Step] = []
    for s in steps_outside(steps, component):
        if all((s.op, s.urn) != (f.op, f.urn) for f in foreign):
            foreign.append(s)
    if foreign:
        raise PlanNotConfined([f"{stack}: the plan would also {s.op} {s.type} {s.name}, which is outside "
                               f"{component}. Nothing was changed" for s in foreign], steps=foreign)
