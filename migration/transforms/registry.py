"""The one list of transform rules: name, order, module.

Why one table: the order decides which rule wins when two touch the same
field (the earlier one; the later patch is kept in the conflict log), and
which whiteout reason is reported; having it in one place makes that
reviewable at a glance. The table is an immutable tuple built at import; tests
and callers that want a subset pass their own tuple to
:func:`migration.transforms.runner.transform`.

Order bands: 0–99 decide whether the object is migrated at all (whiteouts
first, so no work is done on excluded objects), or replaced whole (the volume
plan's PVs); 100–199 generic metadata;
200–299 per-kind clean-ups; 300–399 kubenet-to-overlay rewrites; 400+ API
version conversion, last because it may replace a whole ``spec``.
"""
from __future__ import annotations

import dataclasses

from migration.transforms.base import Rule
from migration.transforms.rules import (
    api_version,
    autoscaled,
    coredns_custom,
    empty_volumes,
    identity,
    job,
    lifecycle,
    load_balancer,
    metadata,
    network_policy,
    network_policy_dns,
    node_pool,
    platform_namespaces,
    pod,
    pod_template,
    quiesced_writers,
    quota,
    service,
    service_account_token,
    storage_retain,
    volume_copies,
    volumes,
    whiteout,
)


@dataclasses.dataclass(frozen=True)
class RegisteredRule:
    """A rule module with the name it is logged under and its order (lower runs first and wins conflicts)."""

    name: str
    order: int
    rule: Rule


RULES: tuple[RegisteredRule, ...] = tuple(sorted((
    # Before the whiteouts: an object being deleted is skipped for that reason, whatever else it is.
    RegisteredRule("lifecycle", 3, lifecycle),
    # Before the whiteouts: kube-system and the add-on namespaces, object by object (AKS's or the user's).
    RegisteredRule("platform-namespaces", 5, platform_namespaces),
    RegisteredRule("whiteout", 10, whiteout),
    # A rehearsal's PVs on the source's storage are left out before anything could carry them (volume-copies).
    RegisteredRule("empty-volumes", 12, empty_volumes),
    # Before any cleaning: the volume plan's PV is put in place whole, and ends the object's run.
    RegisteredRule("volume-copies", 15, volume_copies),
    RegisteredRule("service-account-token", 20, service_account_token),
    RegisteredRule("metadata", 100, metadata),
    RegisteredRule("identity", 110, identity),
    RegisteredRule("service", 200, service),
    RegisteredRule("volumes", 210, volumes),
    RegisteredRule("storage-retain", 215, storage_retain),
    RegisteredRule("job", 220, job),
    RegisteredRule("pod", 230, pod),
    RegisteredRule("pod-template", 240, pod_template),
    RegisteredRule("quiesced-writers", 250, quiesced_writers),
    RegisteredRule("autoscaled", 255, autoscaled),
    RegisteredRule("quota", 260, quota),
    RegisteredRule("coredns-custom", 265, coredns_custom),
    RegisteredRule("network-policy-cidr", 300, network_policy),
    # After the CIDR rewrite: adds one egress rule (the node-local DNS addresses) to policies that allow DNS.
    RegisteredRule("network-policy-dns", 305, network_policy_dns),
    RegisteredRule("load-balancer", 310, load_balancer),
    RegisteredRule("node-pool", 320, node_pool),
    RegisteredRule("api-version", 400, api_version),
), key=lambda r: r.order))

RULE_NAMES: tuple[str, ...] = tuple(r.name for r in RULES)
assert len(set(RULE_NAMES)) == len(RULE_NAMES), "rule names must be unique"
assert len({r.order for r in RULES}) == len(RULES), "rule orders must be unique"
