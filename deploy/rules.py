"""What `akshift promote SOURCE TARGET` decides, as pure functions over stack outputs, history and config.

Why it exists: promotion must carry exactly what was verified on the source
stack — never an untested change — and the decision has to be auditable and
testable without an engine. So it is split from the Automation API glue
(:mod:`deploy.promotion`, through the gateway :mod:`deploy.engine`), which only gathers the facts and applies the result:

* :func:`refusals` lists every reason not to promote: no workloads, no or a
  failed verification, a verification of another snapshot, a verification older
  than the source's last change, a last update that did not succeed.
* :func:`last_change` finds that change in the stack's update history: the
  latest update that changed a resource, or ran with a configuration different
  from the update before it. An ``up`` that only records a fresh verification
  (every resource ``same``, same config) is not a change.
* :func:`pinned_values` maps the source's outputs to the target's config keys
  (:data:`PINS`), and :func:`config_changes` says which of them the target does
  not already have.

The contract between the program and this module is the set of stack outputs in
:data:`PINS` plus ``verification``; :func:`addon_versions` is how the program
computes one of them, kept here so both sides read the same table.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from stacks.model import CiliumOssConfig, DnsConfig, NetworkingConfig, NetworkingMode, NodeDnsCache

#: Stack output path → (target config key, what it is). The program exports these; promote pins them.
PINS: tuple[tuple[str, str, str], ...] = (
    ("kubernetesVersion", "akshift:cluster.kubernetesVersion", "Kubernetes version"),
    ("addonVersions.cilium", "akshift:networking.cilium.version", "Cilium OSS chart version"),
    ("addonVersions.nodeLocalDns", "akshift:dns.nodeLocalDnsImage", "NodeLocal DNSCache image"),
    ("workloads.digest", "akshift:workloads.digest", "migrated-workloads snapshot digest"),
)

#: History entries of these kinds change what a stack deployed (previews do not).
CHANGING_KINDS = frozenset({"update", "destroy", "refresh", "import"})
#: Resource operations of an update that change nothing: every `up` reads the stack's own outputs.
UNCHANGED_OPS = frozenset({"same", "read", "read-discard"})

#: Timestamps in Pulumi's update history have whole-second resolution: a verification must be at least
#: this much later than the end of the last change to be known to have come after it.
CLOCK_RESOLUTION = dt.timedelta(seconds=1)


def addon_versions(networking: NetworkingConfig, node_dns: NodeDnsCache, dns: DnsConfig) -> dict[str, str]:
    """The versions of the add-ons a stack installs, as exported in ``addonVersions``.

    Args:
        networking: The ``networking`` section (byo-cilium installs Cilium OSS).
        node_dns: The resolved node DNS cache (NODELOCALDNS installs the DaemonSet).
        dns: The ``dns`` section (its image).

    Returns:
        ``{"cilium": version}`` and/or ``{"nodeLocalDns": image}``; empty when the stack installs neither.
    """
    out: dict[str, str] = {}
    if networking.mode is NetworkingMode.BYO_CILIUM:
        out["cilium"] = (networking.cilium or CiliumOssConfig()).version
    if node_dns is NodeDnsCache.NODELOCALDNS:
        out["nodeLocalDns"] = dns.node_local_dns_image
    return out


@dataclasses.dataclass(frozen=True)
class UpdateRecord:
    """One entry of a stack's update history (``pulumi stack history``), engine-independent.

    Attributes:
        version: The update's number (1 for the first).
        kind: ``update``, ``preview``, ``destroy``, ``refresh`` …
        result: ``succeeded``, ``failed``, ``in-progress``.
        start: When it started (UTC).
        end: When it ended (UTC), None while in progress.
        changes: Operation → count (``{"same": 12, "update": 1}``).
        config: The stack configuration it ran with (values as the engine reports them).
    """

    version: int
    kind: str
    result: str
    start: dt.datetime
    end: dt.datetime | None
    changes: Mapping[str, int]
    config: Mapping[str, Any]

    @property
    def changed_resources(self) -> int:
        """How many resource operations changed something (not ``same``, not a ``read`` such as the stack's
        StackReference to its own last outputs)."""
        return sum(n for op, n in self.changes.items() if op not in UNCHANGED_OPS)


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def parse_time(value: str) -> dt.datetime | None:
    """An ISO 8601 time as an aware UTC datetime (naive times are taken as UTC); None when unreadable."""
    try:
        return _utc(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
    except (ValueError, AttributeError):
        return None


def last_change(history: Iterable[UpdateRecord]) -> tuple[UpdateRecord, str] | None:
    """The latest update that changed the stack, and why it counts as a change.

    Args:
        history: The stack's updates, in any order.

    Returns:
        ``(update, reason)``, or None for a stack that never changed anything.
    """
    runs = sorted((u for u in history if u.kind in CHANGING_KINDS), key=lambda u: (u.version, _utc(u.start)))
    found: tuple[UpdateRecord, str] | None = None
    previous_config: Mapping[str, Any] | None = None
    for u in runs:
        if u.changed_resources:
            ops = ", ".join(f"{n} {op}" for op, n in sorted(u.changes.items()) if op not in UNCHANGED_OPS)
            found = (u, f"update #{u.version} changed resources ({ops})")
        elif previous_config is not None and _canonical(u.config) != _canonical(previous_config):
            keys = sorted(set(u.config) ^ set(previous_config)
                          | {k for k in set(u.config) & set(previous_config) if u.config[k] != previous_config[k]})
            found = (u, f"update #{u.version} ran with changed configuration ({', '.join(keys)})")
        previous_config = u.config
    return found


def _canonical(config: Mapping[str, Any]) -> str:
    def norm(v: Any) -> Any:
        if isinstance(v, str) and v[:1] in ("{", "["):
            try:
                return json.loads(v)
            except json.JSONDecodeError:
                return v
        return v

    return json.dumps({k: norm(v) for k, v in config.items()}, sort_keys=True, default=str)


def output_at(outputs: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path of stack outputs (``workloads.digest``), or None."""
    node: Any = outputs
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def refusals(stack: str, outputs: Mapping[str, Any], history: Sequence[UpdateRecord]) -> list[str]:
    """Every reason the source stack's deployment must not be promoted; empty when it may.

    Args:
        stack: The source stack's name, for the messages.
        outputs: Its outputs (plain values).
        history: Its update history.

    Returns:
        One message per reason, each saying what to do.
    """
    reasons: list[str] = []
    redo = f"then record it with `akshift up --stack {stack}`"
    runs = sorted((u for u in history if u.kind in CHANGING_KINDS), key=lambda u: u.version)
    if not runs:
        return [f"{stack} was never deployed; run `akshift up --stack {stack}` and verify it first"]
    latest = runs[-1]
    if latest.result != "succeeded":
        reasons.append(f"the last update of {stack} (#{latest.version}, {latest.kind}) {latest.result}; "
                       f"fix it and run `akshift up --stack {stack}` before promoting")
    digest = output_at(outputs, "workloads.digest")
    if not digest:
        reasons.append(f"{stack} declares no migrated workloads (no workloads.digest output), so nothing was "
                       f"verified; set akshift:workloads on {stack} and deploy it")
    verification = outputs.get("verification")
    if not isinstance(verification, Mapping):
        reasons.append(f"{stack} has no verification result; run `akshift verify` against its cluster, {redo}")
        return reasons
    at = parse_time(str(verification.get("verifiedAt", "")))
    report = verification.get("report") or "verify.json"
    if verification.get("ok") is not True:
        counts = verification.get("counts") or {}
        detail = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "see the report"
        reasons.append(f"verification failed on {stack} at {verification.get('verifiedAt')} ({detail}; {report}); "
                       f"fix the failures, re-run `akshift verify`, {redo}")
    if verification.get("dataNotCopied"):
        # A promotion would apply these claims to the target through Pulumi: new, empty disks there too, bound
        # before `akshift volumes move` could put the copies in place.
        reasons.append(f"{len(verification['dataNotCopied'])} claims started empty on {stack} (--empty-volumes, a "
                       f"rehearsal; {report}): promoting would give the target's claims empty disks too; run "
                       "`akshift up` on the target instead and carry the data with `akshift volumes move`")
    verified_digest = verification.get("snapshotDigest")
    if digest and verified_digest and verified_digest != digest:
        reasons.append(f"the verification on {stack} covers snapshot {verified_digest}, but {stack} deploys {digest}; "
                       f"re-run `akshift verify` for the deployed snapshot, {redo}")
    if at is None:
        reasons.append(f"the verification time of {stack} ({verification.get('verifiedAt')!r}) is unreadable; "
                       f"re-run `akshift verify`, {redo}")
    else:
        change = last_change(history)
        if change is not None and change[0].end is not None and at < _utc(change[0].end) + CLOCK_RESOLUTION:
            reasons.append(f"the verification on {stack} ({at.isoformat(timespec='seconds')}) is older than its last "
                           f"change: {change[1]} at {_utc(change[0].end).isoformat(timespec='seconds')}; re-run "
                           f"`akshift verify` against {stack}'s cluster, {redo}")
    return reasons


def pinned_values(outputs: Mapping[str, Any]) -> dict[str, str]:
    """The target config values that carry the source's verified deployment.

    Args:
        outputs: The source stack's outputs.

    Returns:
        Config key (``akshift:workloads.digest``) → value, for each pin the source exported.
    """
    out: dict[str, str] = {}
    for path, key, _what in PINS:
        value = output_at(outputs, path)
        if value not in (None, ""):
            out[key] = str(value)
    return out


def config_value(config: Mapping[str, Any], key: str) -> Any:
    """The value at a path config key (``akshift:cluster.kubernetesVersion``) of a stack's configuration.

    Args:
        config: Top-level key → value, as the engine reports it (objects may be JSON text).
        key: ``namespace:top.nested.key``.

    Returns:
        The value, or None when absent.
    """
    top, _, rest = key.partition(".")
    node: Any = config.get(top)
    if isinstance(node, str) and node[:1] == "{":
        try:
            node = json.loads(node)
        except json.JSONDecodeError:
            return None
    for part in rest.split(".") if rest else ():
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


@dataclasses.dataclass(frozen=True)
class ConfigChange:
    """One pinned value the target does not have yet."""

    key: str
    old: Any
    new: str
    what: str


def config_changes(target_config: Mapping[str, Any], pins: Mapping[str, str]) -> list[ConfigChange]:
    """Which pins differ from the target's configuration.

    Args:
        target_config: The target stack's configuration (top-level keys).
        pins: :func:`pinned_values` of the source.

    Returns:
        The changes, in :data:`PINS` order.
    """
    what = {key: label for _path, key, label in PINS}
    out = []
    for key, value in pins.items():
        old = config_value(target_config, key)
        if old is None or str(old) != value:
            out.append(ConfigChange(key, old, value, what.get(key, key)))
    return out


def target_refusals(target: str, target_config: Mapping[str, Any], pins: Mapping[str, str]) -> list[str]:
    """Reasons the pins cannot be applied to the target as it is configured.

    Args:
        target: The target stack's name.
        target_config: Its configuration.
        pins: :func:`pinned_values` of the source.

    Returns:
        One message per reason.
    """
    reasons = []
    if "akshift:workloads.digest" in pins and config_value(target_config, "akshift:workloads.snapshot") is None:
        reasons.append(f"{target} has no akshift:workloads.snapshot; point it at the snapshot verified on the source "
                       "(the same transformed directory, or a copy of it) before promoting")
    return reasons
