"""Guards that compare the desired configuration with what the stack already deployed.

Why it exists: some changes are valid configuration but destructive for a live
stack. Changing the networking mode is the main one: pulumi-azure-native plans
a *replacement* of the ManagedCluster when its network profile changes, i.e.
delete the running cluster and create an empty one. That is exactly the outage
this project exists to avoid, so it is refused with the way forward instead.

The previously deployed mode comes from the stack's own last outputs
(``networkingMode``), read by ``__main__`` and handed to ``AksCluster``, which
evaluates this guard before the ManagedCluster is registered. The guard itself
is pure so it is tested without Pulumi.
"""
from __future__ import annotations

from stacks.errors import NetworkingModeChangeRefused, Problem
from stacks.model import NetworkingMode

MIGRATION_HINT = (
    "create a new stack with the new mode (e.g. `pulumi stack init prod-v2`), deploy it next to this one, "
    "move workloads with `akshift migrate`, then retire this stack — see docs/stack-config.md#changing-the-networking-mode"
)


def check_networking_mode_change(deployed: str | None, desired: NetworkingMode) -> str:
    """Refuse a networking-mode change of an already deployed cluster.

    Args:
        deployed: The mode the stack last deployed (its ``networkingMode``
            output), or None for a stack that has not deployed a cluster yet.
        desired: ``networking.mode`` of the configuration being deployed.

    Returns:
        ``desired.value``, so the guard can sit inside an ``Output.apply`` that
        feeds the cluster's mode tag.

    Raises:
        NetworkingModeChangeRefused: When ``deployed`` differs from ``desired``.
    """
    if deployed is None or deployed == "" or deployed == desired.value:
        return desired.value
    raise NetworkingModeChangeRefused(
        [
            Problem(
                ("networking.mode",),
                f"this stack's cluster runs {deployed!r}; changing it to {desired.value!r} would make Pulumi replace "
                f"(delete and recreate) the live cluster. Set networking.mode back to {deployed!r}, or {MIGRATION_HINT}",
            )
        ]
    )
