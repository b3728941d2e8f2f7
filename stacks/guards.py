"""Guards that compare the wanted cluster with the one running in Azure, before Pulumi plans anything.

Why it exists: pulumi-azure-native replaces (deletes, then recreates: the name
is fixed) the ManagedCluster when a force-new field changes — the network
profile, the DNS prefix, the node resource group, the location — and AKS
refuses to change others in place (a pool's VM size, zones, max pods). A stack
file that disagrees with the live cluster on one of them would therefore make
``pulumi up`` delete the running cluster, or fail half-way. The stack's own
outputs cannot tell: after an in-place update through ARM (kubenet → Overlay →
Cilium, ``akshift strategy --execute``) and ``pulumi refresh``, the cluster runs
the new mode while the outputs still name the old one.

So the program reads the live cluster (the ``getManagedCluster`` invoke) before
it registers anything, and this module decides, purely:

* every force-new field the stack sends must equal what the cluster runs;
  a difference is refused with the key, the live and the wanted value, and the
  way forward (an in-place update then ``pulumi refresh``, or a new cluster and
  ``akshift migrate``);
* what the cluster already runs is accepted (the in-place path), and those
  fields are put under ``ignore_changes`` so a stack state that missed the
  refresh cannot plan a replacement either;
* versions follow AVM: with an auto-upgrade channel, a live version ahead of
  the stack is drift to keep (``ignore_changes``), never a downgrade to send;
  raising ``kubernetesVersion`` above the live minor is an explicit upgrade
  (one minor at a time).

The component (:mod:`components.cluster`) computes the wanted values from the
same builders that produce the ARM body and passes both sides in as flat maps.

The live read looks the cluster up by the name the stack file gives *now*. A
renamed ``cluster.name`` or ``resourceGroup`` finds nothing there, so the
comparison above would pass while Pulumi replaces the cluster the stack
created (and, for the group, everything in it). :func:`created_cluster_problems`
closes that gap from the other side: the stack's own last ``clusterId``
output names the cluster it created, and a stack file that names another one
is refused unless ``cluster.deleteCreatedCluster`` says the deletion is meant.
The subscription is part of that name: a deployment that now goes to another
subscription (``azure-native:subscriptionId``, ``ARM_SUBSCRIPTION_ID`` or the
Azure CLI's current one) would create the cluster there while deleting the one
it created, so it is refused the same way.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any

from stacks import versions
from stacks.errors import ClusterReplacementError, Problem

MIGRATION_HINT = (
    "create a new stack with the new value (e.g. `pulumi stack init prod-v2`), deploy it next to this one, "
    "move workloads with `akshift migrate`, then retire this stack — see docs/stack-config.md#changing-the-networking-mode"
)
IN_PLACE_HINT = (
    "if AKS updates it in place (`akshift strategy --arm <az aks show JSON> --stack <stack file>` says so), run "
    "`akshift strategy --execute`, then `pulumi refresh`, then `pulumi up`; otherwise "
)
POOL_HINT = ("add a new pool with the new value, move the workloads to it (cordon and drain), then remove the old "
             "pool from nodePools")


@dataclasses.dataclass(frozen=True)
class ForceNew:
    """A field Pulumi or AKS will not change in place: its Pulumi ignore path and how to change it anyway."""

    ignore: str
    """The ManagedCluster input path for ``ignore_changes`` ("" for per-pool fields)."""
    hint: str


#: Flat path of a live/wanted value → what changing it means. Paths mirror the getManagedCluster result.
FORCE_NEW: dict[str, ForceNew] = {
    "location": ForceNew("location", MIGRATION_HINT),
    "dns_prefix": ForceNew("dnsPrefix", MIGRATION_HINT),
    "node_resource_group": ForceNew("nodeResourceGroup", MIGRATION_HINT),
    "network_profile.network_plugin": ForceNew("networkProfile.networkPlugin", IN_PLACE_HINT + MIGRATION_HINT),
    "network_profile.network_plugin_mode": ForceNew("networkProfile.networkPluginMode", IN_PLACE_HINT + MIGRATION_HINT),
    "network_profile.network_dataplane": ForceNew("networkProfile.networkDataplane", IN_PLACE_HINT + MIGRATION_HINT),
    "network_profile.network_policy": ForceNew("networkProfile.networkPolicy", IN_PLACE_HINT + MIGRATION_HINT),
    "network_profile.pod_cidr": ForceNew("networkProfile.podCidr", MIGRATION_HINT),
    "network_profile.service_cidr": ForceNew("networkProfile.serviceCidr", MIGRATION_HINT),
    "network_profile.dns_service_ip": ForceNew("networkProfile.dnsServiceIP", MIGRATION_HINT),
    "network_profile.outbound_type": ForceNew(
        "networkProfile.outboundType",
        "`az aks update --outbound-type <wanted>` changes it in place (create the NAT gateway or route table "
        "first), then `pulumi refresh` and `pulumi up`; or " + MIGRATION_HINT),
    "network_profile.load_balancer_sku": ForceNew("networkProfile.loadBalancerSku", MIGRATION_HINT),
}
#: Per-pool fields AKS refuses to change in place (``pools.<name>.<field>``).
POOL_FORCE_NEW = ("vm_size", "os_type", "max_pods", "availability_zones", "os_disk_type")

#: Live values AKS reports for an unset field.
_EQUIVALENT = {"network_profile.network_policy": {None: "none"},
               "network_profile.network_dataplane": {None: "azure"},
               "network_profile.load_balancer_sku": {None: "standard"}}


@dataclasses.dataclass(frozen=True)
class Wanted:
    """One value the stack sends, with the stack-file key that sets it."""

    key: str
    value: Any


@dataclasses.dataclass(frozen=True)
class ClusterPlan:
    """What the guard decided for one cluster.

    Attributes:
        ignore_changes: ManagedCluster input paths Pulumi must not diff (accepted live values, version drift).
        pool_ignore_changes: The same for each ``AgentPool`` resource, by pool name.
        live_id: The live cluster's resource ID (None: there is no cluster yet).
        live_pools: Names of the pools the live cluster has (an adopted pool is imported only if it exists).
    """

    ignore_changes: tuple[str, ...] = ()
    pool_ignore_changes: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    live_id: str | None = None
    live_pools: frozenset[str] = frozenset()


def _norm(path: str, value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return sorted(str(v).lower() for v in value)
    value = _EQUIVALENT.get(path, {}).get(value, value)
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, (list, tuple)):
        return sorted(str(v).lower() for v in value)
    return value


def _flat(live: Mapping[str, Any], path: str) -> Any:
    cur: Any = live
    for part in path.split("."):
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(part)
    return cur


def replacement_problems(wanted: Mapping[str, Wanted], live: Mapping[str, Any], cluster: str) -> list[Problem]:
    """Every force-new field whose wanted value differs from the live cluster's.

    Args:
        wanted: Flat path (a key of :data:`FORCE_NEW`, or ``pools.<name>.<field>``) → what the stack sends;
            fields the stack leaves to AKS are absent.
        live: The live cluster as the ``getManagedCluster`` invoke returns it (snake_case keys); its pools under
            ``pools`` by name.
        cluster: The cluster's name, for messages.

    Returns:
        One problem per differing field, primary key the stack-file key.
    """
    problems = []
    for path, want in wanted.items():
        if path.startswith("pools."):
            _, pool, field = path.split(".", 2)
            if pool not in (live.get("pools") or {}):
                continue  # a pool the cluster does not have yet is created, not replaced
            hint = POOL_HINT
            have = (live["pools"][pool] or {}).get(field)
            if field == "max_pods" and have is None:
                continue
        else:
            hint = FORCE_NEW[path].hint
            have = _flat(live, path)
        if _norm(path, have) != _norm(path, want.value):
            problems.append(Problem(
                (want.key,),
                f"the live cluster {cluster} runs {have!r}, this stack wants {want.value!r}; Pulumi would replace "
                f"(delete and recreate) the cluster, or AKS would refuse the change. Set {want.key} back to "
                f"{have!r}, or {hint}"))
    return problems


def version_decision(wanted: str | None, live: str | None, *, auto_upgrade: bool, key: str) -> tuple[bool, list[Problem]]:
    """Whether to ignore a version field (drift), or why the change cannot be sent.

    Args:
        wanted: ``cluster.kubernetesVersion`` (None: left to AKS).
        live: The version the cluster (or pool) runs now (``currentKubernetesVersion``), None without a cluster.
        auto_upgrade: An upgrade channel moves the version on its own (patch, stable, rapid).
        key: The stack-file key, for messages.

    Returns:
        ``(ignore, problems)``: ``ignore`` keeps the live version (no diff, never a downgrade).
    """
    if live is None:
        return False, []
    if wanted is None:
        return True, []
    want, have = versions.minor_of(wanted), versions.minor_of(live)
    if want > have:
        if want[1] > have[1] + 1:
            step = f"{have[0]}.{have[1] + 1}"
            return False, [Problem((key,), f"the live cluster runs {live}; AKS upgrades one minor version at a time, "
                                           f"so set {key} to \"{step}\" first, `pulumi up`, then raise it again")]
        return False, []  # an explicit upgrade
    behind = want < have or (wanted.count(".") == 2 and tuple(map(int, wanted.split("."))) <
                             tuple(map(int, live.split(".")[:3])))
    if not behind:
        return want == have and wanted.count(".") < 2, []
    if auto_upgrade:
        return True, []  # the channel moved the cluster ahead: keep it
    return False, [Problem((key,), f"the live cluster already runs {live} and AKS cannot downgrade; set {key} to "
                                   f"\"{have[0]}.{have[1]}\" (or \"{live}\")")]


def refuse(problems: list[Problem]) -> None:
    """Raise :class:`ClusterReplacementError` when there is any problem."""
    if problems:
        raise ClusterReplacementError(problems)


_CLUSTER_ID = re.compile(r"(?:/subscriptions/(?P<subscription>[^/]+))?/resourceGroups/(?P<group>[^/]+)/providers/"
                         r"Microsoft\.ContainerService/managedClusters/(?P<name>[^/]+)/?$", re.IGNORECASE)
SUBSCRIPTION_KEY = "azure-native:subscriptionId"


def created_cluster_problems(created_id: str | None, *, resource_group: str, cluster: str, delete_intent: bool,
                             stack: str, subscription: Callable[[], str] | None = None) -> list[Problem]:
    """Whether the stack file still names the cluster this stack created, or the user named its deletion.

    Args:
        created_id: The stack's last ``clusterId`` output (the ARM ID of the cluster it created); None or empty
            before its first deployment, or when it never created one (``cluster.mode existing``).
        resource_group: ``resourceGroup`` as the stack file gives it now.
        cluster: ``cluster.name`` as the stack file gives it now.
        delete_intent: ``cluster.deleteCreatedCluster``.
        stack: The stack's name, for messages.
        subscription: Tells the subscription this deployment goes to; asked only when the group and the name
            are unchanged (it costs an Azure call, and a renamed cluster is refused without one). None: not
            compared.

    Returns:
        One problem naming ``cluster.name`` and/or ``resourceGroup`` (both the created and the named cluster, the
        way back and the way forward) when they differ and the deletion is not named; one naming
        ``cluster.deleteCreatedCluster`` when it is set while nothing would be deleted (a leftover would let a later
        rename delete the cluster without asking); otherwise none. Names compare case-insensitively, as Azure's do.
    """
    if not created_id:
        if delete_intent:
            return [_stale_intent(stack, "it has not created a cluster yet")]
        return []
    m = _CLUSTER_ID.search(created_id)
    old_group, old_name = (m.group("group"), m.group("name")) if m else (None, None)
    renamed = []
    if old_name is None or old_name.lower() != cluster.lower():
        renamed.append(("cluster.name", old_name, cluster))
    if old_group is None or old_group.lower() != resource_group.lower():
        renamed.append(("resourceGroup", old_group, resource_group))
    old_subscription = m.group("subscription") if m else None
    if not renamed and old_subscription and subscription is not None:
        now = subscription()
        if now.lower() != old_subscription.lower():  # GUIDs: Azure writes them in either case
            return [] if delete_intent else [_moved(stack, created_id, old_subscription, now)]
    if not renamed:
        return [_stale_intent(stack, f"it still names the cluster it created ({created_id})")] if delete_intent else []
    if delete_intent:
        return []
    back = " and ".join(f'{key} back to "{old}"' for key, old, _ in renamed if old is not None)
    group_note = (" — and with the resource group, everything the stack put in it" if
                  any(key == "resourceGroup" for key, _, _ in renamed) else "")
    return [Problem(
        tuple(key for key, _, _ in renamed) + ("cluster.deleteCreatedCluster",),
        f"stack {stack} created the AKS cluster {old_group or '?'}/{old_name or '?'} ({created_id}); this stack file "
        f"names {resource_group}/{cluster}, which Pulumi would create while deleting the cluster it created"
        f"{group_note}. Set {back or 'cluster.name and resourceGroup back to those of ' + created_id} to keep it; "
        f"or, for a cluster of the new name next to it, create a new stack with it (`pulumi stack init {stack}-v2`), "
        "deploy it next to this one, move the workloads with `akshift migrate`, then retire this stack; "
        "or, only if the running cluster may really be deleted, set cluster.deleteCreatedCluster: true for this one "
        "`pulumi up` (and pass --allow-cluster-replacement to `akshift up`), then remove it")]


def _moved(stack: str, created_id: str, old: str, now: str) -> Problem:
    return Problem(
        (SUBSCRIPTION_KEY, "cluster.deleteCreatedCluster"),
        f"stack {stack} created the AKS cluster {created_id} in subscription {old}; this deployment goes to "
        f"subscription {now} ({SUBSCRIPTION_KEY}, ARM_SUBSCRIPTION_ID or the Azure CLI's current subscription), "
        "where Pulumi would create it while deleting the cluster it created. Deploy to the cluster's subscription "
        f"again (`az account set --subscription {old}`, or {SUBSCRIPTION_KEY}: {old} in the stack file) to keep it; "
        f"or, for a cluster in the other subscription, create a new stack there (`pulumi stack init {stack}-v2`), "
        "deploy it next to this one, move the workloads with `akshift migrate`, then retire this stack; or, only if "
        "the running cluster may really be deleted, set cluster.deleteCreatedCluster: true for this one `pulumi up` "
        "(and pass --allow-cluster-replacement to `akshift up`), then remove it")


def _stale_intent(stack: str, why: str) -> Problem:
    return Problem(("cluster.deleteCreatedCluster",),
                   f"set, but stack {stack} would delete no cluster: {why}. Remove it — left in place it would let a "
                   "later rename of cluster.name or resourceGroup delete the running cluster without asking")


def existence_problems(*, live_exists: bool, adopt: bool, kubenet: bool, cluster: str, resource_group: str) -> list[Problem]:
    """What the stack asks of a cluster that exists, or does not, in Azure.

    Args:
        live_exists: The ``getManagedCluster`` invoke found the cluster.
        adopt: ``cluster.adopt``: import the live cluster instead of creating one.
        kubenet: ``networking.mode`` is kubenet, which only describes a live cluster.
        cluster: The cluster's name.
        resource_group: Its resource group.

    Returns:
        Problems naming ``cluster.adopt`` or ``networking.mode``.
    """
    problems = []
    if adopt and not live_exists:
        problems.append(Problem(("cluster.adopt",), f"there is no cluster {cluster} in resource group {resource_group} "
                                                    "to adopt; check cluster.name and resourceGroup, or remove adopt "
                                                    "to create the cluster"))
    if kubenet and not live_exists:
        problems.append(Problem(("networking.mode", "cluster.adopt"),
                                "kubenet only describes a live cluster being adopted (AKS retires kubenet and akshift "
                                f"never creates one), and there is no cluster {cluster} in {resource_group}; use "
                                "overlay-cilium for a new cluster"))
    return problems
