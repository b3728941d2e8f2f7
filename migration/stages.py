"""The migration stages as re-runnable functions between artifacts on disk.

    inventory (source, read only)  → <out>/snapshot/
    transform (no cluster)         → <out>/transformed/   (+ patches, excluded, findings logs)
    plan      (target, dry run)    → <out>/plan.json
    apply     (target, writes)     → <out>/apply.json     (+ apply-journal.jsonl to resume)
    verify    (target, read only)  → <out>/verify.json    and <out>/report.md

(the files are written by :mod:`migration.pipeline`, which sequences these
functions; ``verify.json``'s format belongs to :mod:`migration.verification`)

Why shaped so (konveyor/crane: "non-destructive … run repeatedly … consistent
results"): each stage reads the previous stage's directory and writes its own,
so any stage can be re-run, inspected, diffed or reviewed in a pull request
before the next one touches a cluster. Only apply writes to a cluster, and
only to the target; the source is only ever listed.

Every stage collects results per object and never stops at the first error;
the caller turns the results into an exit code.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, cast

from errors import AkshiftError
from kube.client import KubeClient
from kube.discovery import check_selector, iter_objects, listable_types
from kube.errors import ApiError, ListError
from kube.identity import ClusterIdentity
from kube.objects import WORKLOAD_KINDS, ObjectRef, is_ready, is_secret
from kube.order import apply_tiers
from migration import identity, tempfiles
from migration.applier import FIELD_MANAGER, Action, Journal, Outcome, apply_object, digest, plan_object, run_tiers
from migration.errors import InventoryError, MigrationError
from migration.exclusions import KubeSystemNames, blocked_owner, exclusion_holds
from migration.findings import Finding, Severity
from migration.report import Results, Status, render_json, render_markdown
from migration.secrets import SecretKey
from migration.snapshot import Snapshot, SnapshotWriter
from migration.transforms import TransformContext, served_with_crds
from migration.transforms.context import storage_classes
from migration.transforms.stage import transform_snapshot as run_transform_stage
from migration.verify import scrub, verify_object, workload_ready

Progress = Callable[[int], None]


def _noop(_: int) -> None:
    pass


# -- inventory ---------------------------------------------------------------

@dataclasses.dataclass
class InventorySummary:
    path: Path
    objects: int
    types: int
    errors: list[str]
    seconds: float


def inventory(source: KubeClient, out: Path, *, namespaces: list[str] | None = None, kinds: list[str] | None = None,
              label_selector: str | None = None, secret_key: SecretKey | None = None, exclude_secrets: bool = False,
              overwrite: bool = False, concurrency: int = 8, progress: Progress = _noop) -> InventorySummary:
    """List every served, listable type of the source into ``out`` (only GET requests are sent).

    An inventory that matched nothing (no object at all, or none in the ``namespaces`` asked for)
    says so in its errors: a filter that empties a run is not a success.

    Raises:
        FilterError: an unknown kind or a malformed selector (bad input, before anything is written).
        SecretKeyError: Secrets would be written without a key (before any listing).
        InventoryError: ``out`` exists without ``overwrite``.
        ApiError: discovery failed (unreachable or unauthorized source).
    """
    t0 = time.monotonic()
    errors: list[AkshiftError] = []  # ListError per type that could not be listed, InventoryError per object
    count = in_namespaces = 0
    if label_selector is not None:
        check_selector(label_selector)
    types = listable_types(source, kinds)
    with SnapshotWriter(out, stage="snapshot", secret_key=secret_key, exclude_secrets=exclude_secrets,
                        overwrite=overwrite) as writer:
        seen: set[ObjectRef] = set()
        list_errors: list[ListError] = []
        for _res, obj in iter_objects(source, types, namespaces=namespaces, label_selector=label_selector,
                                      concurrency=concurrency, errors=list_errors):
            ref = ObjectRef.of(obj)
            if ref in seen:  # a list restarted after an expired continue token repeats objects
                continue
            seen.add(ref)
            try:
                writer.write(obj)
            except InventoryError:
                continue  # this object only: the writer records it in the index and in writer.failures
            count += 1
            in_namespaces += bool(namespaces and ref.namespace in namespaces)
            progress(1)
    errors += list_errors
    errors += writer.failures
    if count == 0 or (namespaces and in_namespaces == 0):
        what = [f"namespace(s) {', '.join(namespaces)}" if namespaces else "",
                f"kind(s) {', '.join(kinds)}" if kinds else "",
                f"selector {label_selector!r}" if label_selector else ""]
        errors.append(InventoryError(f"the inventory matched nothing ({'; '.join(w for w in what if w) or 'no filter'})"
                                     ": no object to migrate", fix="check the filters and the reader's RBAC"))
    return InventorySummary(out, count, len(types), [str(e) for e in errors], time.monotonic() - t0)


# -- context -------------------------------------------------------------------

def _pod_cidr(nodes: list[dict[str, Any]]) -> str | None:
    """The cluster pod CIDR as far as the nodes show it: the smallest network holding every node's
    per-node range (kubenet nodes' ``podCIDR``), widened to AKS's /16 when the nodes cover less.

    Override it (``--source-pod-cidr``) when the cluster was created with a larger one.
    """
    cidrs = [ipaddress.IPv4Network(n["spec"]["podCIDR"], strict=False) for n in nodes
             if (n.get("spec") or {}).get("podCIDR") and ":" not in n["spec"]["podCIDR"]]
    if not cidrs:
        return None
    net = cidrs[0].supernet(new_prefix=min(16, cidrs[0].prefixlen))
    while not all(c.subnet_of(net) for c in cidrs) and net.prefixlen > 0:
        net = net.supernet()
    return str(net)


def _node_ips(nodes: list[dict[str, Any]]) -> frozenset[str]:
    return frozenset(a["address"] for n in nodes for a in (n.get("status") or {}).get("addresses") or ()
                     if a.get("type") in ("InternalIP", "ExternalIP") and a.get("address"))


def _pools(nodes: list[dict[str, Any]]) -> dict[str, str]:
    """Node-pool name → mode (system/user), from the labels AKS sets."""
    out: dict[str, str] = {}
    for n in nodes:
        labels = n.get("metadata", {}).get("labels", {})
        pool = labels.get("kubernetes.azure.com/agentpool") or labels.get("agentpool")
        if pool:
            out[pool] = labels.get("kubernetes.azure.com/mode", "user")
    return out


def default_pool_map(source_pools: dict[str, str], target_pools: dict[str, str]) -> dict[str, str]:
    """Map each old pool to the first new pool of the same mode (system→system, user→user).

    >>> default_pool_map({"nodepool1": "system", "userpool": "user"}, {"apps": "user", "system": "system"})
    {'nodepool1': 'system', 'userpool': 'apps'}
    """
    out = {}
    for old, mode in sorted(source_pools.items()):
        same = sorted(p for p, m in target_pools.items() if m == mode)
        if old in target_pools:
            out[old] = old
        elif same:
            out[old] = same[0]
    return out


def build_context(source_nodes: list[dict[str, Any]], target: KubeClient | None, snapshot: Snapshot, *,
                  source_pod_cidr: str | None = None, target_pod_cidr: str | None = None,
                  node_pool_map: Mapping[str, str] | None = None, target_dataplane: str = "cilium",
                  public_ip_map: dict[str, str] | None = None,
                  volume_pvs: Mapping[str, Mapping[str, Any]] | None = None,
                  quiesced_writers: Mapping[str, int | bool | None] | None = None,
                  target_node_dns: str | None = None, empty_volumes: bool = False) -> TransformContext:
    """Facts for the transform rules, from the snapshot, the source's nodes and (when given) the target.

    Explicit arguments win over what is inferred. ``volume_pvs`` and ``quiesced_writers`` come from
    the volume plan and state (see :class:`TransformContext`); without them PVs are carried as they are.
    ``empty_volumes`` marks a rehearsal whose claims start empty (see :class:`TransformContext`).
    From the target it also reads its kube-system/coredns-custom (merged, never clobbered) and where its
    pods send DNS (:func:`node_dns`), unless ``target_node_dns`` says it.
    """
    target_nodes = target.get("/api/v1/nodes").get("items", []) if target else []
    src_pools, dst_pools = _pools(source_nodes), _pools(target_nodes)
    crds = [snapshot.read(p) for p in snapshot.paths(include_secrets=False) if "apiextensions.k8s.io.CustomResourceDefinition" in p]
    classes = storage_classes(snapshot.read(p) for p in snapshot.paths(include_secrets=False)
                              if p.startswith("_cluster/storage.k8s.io.StorageClass/"))
    served = None
    if target is not None:
        served = served_with_crds({r.api_version for r in target.resources(refresh=True).values()}, crds)

    def rg(nodes: list[dict[str, Any]]) -> str | None:
        for n in nodes:
            if v := n.get("metadata", {}).get("labels", {}).get("kubernetes.azure.com/cluster"):
                return v
        return None

    return TransformContext(
        source_pod_cidr=source_pod_cidr or _pod_cidr(source_nodes) or "10.244.0.0/16",
        target_pod_cidr=target_pod_cidr or _pod_cidr(target_nodes),
        node_pool_map=node_pool_map if node_pool_map is not None else default_pool_map(src_pools, dst_pools),
        target_node_pools=frozenset(dst_pools) if dst_pools else None,
        old_node_resource_group=rg(source_nodes),
        new_node_resource_group=rg(target_nodes),
        public_ip_map=public_ip_map or {},
        target_served=served,
        target_dataplane=target_dataplane,
        volume_pvs=volume_pvs or {},
        quiesced_writers=quiesced_writers or {},
        empty_volumes=empty_volumes,
        target_coredns_custom=_coredns_custom(target) if target is not None else None,
        target_node_dns=target_node_dns or (node_dns(target, target_nodes) if target is not None else None),
        source_node_ips=_node_ips(source_nodes),
        storage_classes=classes,
    )


# AKS LocalDNS labels the nodes of pools that run it (kubernetes.azure.com/localdns-state=enabled).
LOCALDNS_LABEL_PREFIX = "kubernetes.azure.com/localdns"


def node_dns(target: KubeClient, nodes: list[dict[str, Any]]) -> str | None:
    """Where the target's pods send DNS: ``"localdns"``, ``"nodelocaldns"`` or None (kube-dns).

    AKS LocalDNS is a node-pool setting visible on the nodes' labels; NodeLocal DNSCache is the
    ``node-local-dns`` DaemonSet in kube-system.
    """
    for node in nodes:
        labels = node.get("metadata", {}).get("labels", {}) or {}
        if any(k.startswith(LOCALDNS_LABEL_PREFIX) and str(v).lower() in ("enabled", "true", "required", "preferred")
               for k, v in labels.items()):
            return "localdns"
    ds = target.read({"apiVersion": "apps/v1", "kind": "DaemonSet",
                      "metadata": {"name": "node-local-dns", "namespace": "kube-system"}})
    return "nodelocaldns" if ds is not None else None


def _coredns_custom(target: KubeClient) -> dict[str, str]:
    """The data of the target's kube-system/coredns-custom ({} when it has none)."""
    cm = target.read({"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": "coredns-custom", "namespace": "kube-system"}})
    return dict((cm or {}).get("data") or {})


# -- transform -------------------------------------------------------------------

@dataclasses.dataclass
class TransformSummary:
    path: Path
    kept: int
    excluded: int
    failed: list[str]
    findings: list[Finding]


def _opened(snapshot: Path | Snapshot) -> Snapshot:
    """A snapshot directory opened, or the Snapshot a caller checked (it reads unchanged files once)."""
    return snapshot if isinstance(snapshot, Snapshot) else Snapshot(snapshot)


def transform_snapshot(snapshot: Path | Snapshot, out: Path, ctx: TransformContext, *, secret_key: SecretKey | None = None,
                       overwrite: bool = False, progress: Progress = _noop) -> TransformSummary:
    """Sanitize and transform every object of a raw snapshot into ``out`` (no cluster involved).

    Secrets excluded at inventory stay excluded; encrypted ones are decrypted and re-encrypted.
    """
    snap = _opened(snapshot)
    results = run_transform_stage(snap, out, ctx, secret_key=secret_key, exclude_secrets=not snap.index["secrets"],
                                  overwrite=overwrite)
    progress(len(results))
    counts = results.counts()
    failed = [f"{r.ref}: {r.message}" for r in results.problems()]
    return TransformSummary(out, counts.get(Status.OK, 0), counts.get(Status.EXCLUDED, 0), failed,
                            list(Snapshot(out).findings()))


# -- plan / apply ------------------------------------------------------------------

def _held_back(objs: list[dict[str, Any]], blocked: Mapping[str, str]) -> tuple[list[dict[str, Any]], list[Outcome]]:
    """Split objects into those to send and the ``blocked`` outcomes of those a blocker finding holds back."""
    if not blocked:
        return objs, []
    send, held = [], []
    for obj in objs:
        ref = ObjectRef.of(obj)
        if ref.key in blocked:
            held.append(Outcome(ref.key, str(ref), Action.BLOCKED, blocked[ref.key], digest=digest(obj)))
        else:
            send.append(obj)
    return send, held


def plan(target: KubeClient, transformed: Path | Snapshot, *, secret_key: SecretKey | None = None,
         force_conflicts: bool = False, concurrency: int = 16, progress: Progress = _noop,
         blocked: Mapping[str, str] | None = None) -> list[Outcome]:
    """Server-side dry run of every object against the target; nothing is written.

    Custom resources whose CRD is not on the target yet cannot be dry-run
    (the type is not served until the CRD is applied); they are planned as
    ``create`` when their CRD is part of the same plan, and ``rejected`` otherwise.
    Objects in ``blocked`` (key → why, :func:`migration.blockers.blocked_objects`) are not sent:
    they are ``blocked``.
    Objects of namespaces the plan creates are dry-run in a scratch namespace
    (created for the plan and deleted after it, the plan's one write), so
    admission and validation reject them now rather than at apply; when the
    target refuses the scratch namespace they are ``create``, validated at apply.
    """
    objs, held = _held_back(list(_opened(transformed).objects(secret_key=secret_key)), blocked or {})
    if held:
        progress(len(held))
    planned_crds = {f"{o['spec']['group']}/{o['spec']['names']['kind']}" for o in objs
                    if o["kind"] == "CustomResourceDefinition"}
    planned_ns = {o["metadata"]["name"] for o in objs if o["kind"] == "Namespace" and o["apiVersion"] == "v1"}
    served = {(r.group, r.kind) for r in target.resources(refresh=True).values()}
    existing_ns = {n["metadata"]["name"] for n in target.get("/api/v1/namespaces").get("items", [])}

    new_ns = {ObjectRef.of(o).namespace for o in objs} & (planned_ns - existing_ns)
    scratch = _scratch_namespace(target) if new_ns else None

    def step(obj: dict[str, Any]) -> Outcome:
        # The server cannot dry-run into a type that does not exist yet; when this plan creates its
        # CRD, the object is a create validated at apply time, and says so. Objects of namespaces the
        # plan creates are dry-run in a scratch namespace instead, so their rejections show now.
        ref = ObjectRef.of(obj)
        group, ns = ref.group, ref.namespace
        if (group, obj["kind"]) not in served and f"{group}/{obj['kind']}" in planned_crds:
            return Outcome(ref.key, str(ref), Action.CREATE,
                           "not dry-run: its CustomResourceDefinition is created first by this plan", digest=digest(obj))
        if ns and ns in new_ns and scratch is not None:
            moved = {**obj, "metadata": {**obj["metadata"], "namespace": scratch}}
            o = plan_object(target, moved, force_conflicts=force_conflicts)
            note = f"dry-run in scratch namespace {scratch}: namespace {ns} is created first by this plan"
            if o.action is Action.REJECTED and o.status not in (400, 422):
                # Only invalid objects (400/422) are judged in the scratch namespace: other refusals may
                # depend on what the real namespace will hold (a ServiceAccount, a quota) before them.
                return _scrubbed(obj, Outcome(ref.key, str(ref), Action.CREATE,
                                              f"validated at apply; {note} answered: {o.message}", digest=digest(obj)))
            return _scrubbed(obj, dataclasses.replace(o, key=ref.key, ref=str(ref), digest=digest(obj),
                                                      message=f"{o.message} ({note})" if o.message else note))
        if ns and ns not in existing_ns and ns in planned_ns:
            # No scratch namespace (the target refused one): validated at apply, as before.
            return Outcome(ref.key, str(ref), Action.CREATE,
                           f"not dry-run: namespace {ns} is created first by this plan", digest=digest(obj))
        return _scrubbed(obj, plan_object(target, obj, force_conflicts=force_conflicts))

    try:
        return held + run_tiers(target, [objs], step, concurrency=concurrency, on_done=lambda o: progress(1),
                                wait_crds=False)
    finally:
        if scratch is not None:
            target.delete({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": scratch}})


def _scrubbed(obj: dict[str, Any], outcome: Outcome) -> Outcome:
    """The outcome with any of a Secret's values taken out of its message (a server may echo one)."""
    if outcome.message and is_secret(obj):
        outcome.message = scrub(outcome.message, [obj])
    return outcome


SCRATCH_PREFIX = "akshift-plan-"


def _scratch_namespace(target: KubeClient) -> str | None:
    """Create a namespace to dry-run objects of namespaces the plan creates; None when the target refuses.

    The plan's one write to the target, deleted when the plan ends (labelled so a leftover is recognisable).
    """
    import secrets as random_names

    name = SCRATCH_PREFIX + random_names.token_hex(4)
    try:
        target.create({"apiVersion": "v1", "kind": "Namespace",
                       "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "akshift-plan"}}})
    except ApiError:
        return None  # no right to create namespaces: those objects are validated at apply, as before
    return name


def apply(target: KubeClient, transformed: Path | Snapshot, journal_path: Path, *, secret_key: SecretKey | None = None,
          force_conflicts: bool = False, concurrency: int = 16, progress: Progress = _noop,
          target_identity: ClusterIdentity | None = None, notes: list[str] | None = None,
          blocked: Mapping[str, str] | None = None) -> list[Outcome]:
    """Server-side apply every object in tier order; resumable through ``journal_path``.

    Objects in ``blocked`` (key → why) are not applied and not journaled (a re-run that accepts their
    blockers applies them): their outcome is ``blocked``. After the tiers, ownerReferences whose owners
    were applied later are re-pointed (:func:`link_owners`).

    Args:
        target_identity: the target's identity: a journal of another cluster is set aside and the apply
            starts afresh (why is appended to ``notes``).
        notes: receives what a human should know about the run (a journal set aside).
        blocked: keys of objects held back by an unaccepted blocker finding, and why.

    Raises:
        JournalError: the journal has an unreadable line (bad input).
    """
    snap = _opened(transformed)
    objs, held = _held_back(list(snap.objects(secret_key=secret_key)), blocked or {})
    if held:
        progress(len(held))
    tiers = [cast(list[dict[str, Any]], list(t)) for t in apply_tiers(objs)]
    rewrites = identity.rewrites_by_key(snap.patches())
    owners = identity.OwnerCache(target)
    journal = Journal(journal_path, target=target_identity)
    if journal.restarted and notes is not None:
        notes.append(journal.restarted)
    resumed = journal.resumed

    def step(obj: dict[str, Any]) -> Outcome:
        before = target.read(obj) if resumed else None
        outcome = _scrubbed(obj, apply_object(target, obj, force_conflicts=force_conflicts,
                                              rewrites=rewrites.get(ObjectRef.of(obj).key, ()), owners=owners))
        if before is not None and outcome.action is Action.UPDATED:
            # A resumed run re-applies what the killed one may have applied a moment ago (the time of
            # our managedFields entry then looks like "now"): it changed nothing when our entry (its
            # fields and time) is what it was before (controllers may have written other fields).
            after = target.read(obj)
            if after is not None and _ours(after) == _ours(before) and _ours(before):
                outcome.action = Action.UNCHANGED
        return outcome

    try:
        outcomes = run_tiers(target, tiers, step, concurrency=concurrency, journal=journal,
                             on_done=lambda o: progress(1))
    finally:
        journal.close()
    return held + link_owners(target, objs, outcomes, rewrites, owners)


def link_owners(target: KubeClient, objs: list[dict[str, Any]], outcomes: list[Outcome],
                rewrites: Mapping[str, list[str]], owners: identity.OwnerCache) -> list[Outcome]:
    """Re-point the ownerReferences whose owners were applied in a later tier (or by an earlier run).

    An owner that still does not exist on the target leaves the object without that reference,
    and its outcome says so (the object itself is in place).
    """
    done = {o.key: o for o in outcomes if o.ok}
    result = list(outcomes)
    for obj in objs:
        key = ObjectRef.of(obj).key
        if not (obj.get("metadata") or {}).get("ownerReferences") or key not in done:
            continue
        resolved, uid_map, complete = identity.resolve_owners(obj, owners)
        try:
            live = target.read(identity.body(obj))
            have = [o.get("uid") for o in (live or {}).get("metadata", {}).get("ownerReferences") or ()]
            if live is not None and sorted(have) != sorted(o["uid"] for o in resolved):
                identity.restore(target, obj, rewrites.get(key, ()), manager=FIELD_MANAGER, uid_map=uid_map,
                                 owners=resolved)
        except ApiError as e:
            result = [o if o.key != key else dataclasses.replace(o, action=Action.FAILED,
                                                                 message=f"linking its owners failed: {e}")
                      for o in result]
            continue
        if not complete:
            missing = [f"{r.get('kind')} {r.get('name')}" for r in obj["metadata"]["ownerReferences"]
                       if r.get("uid") not in uid_map]
            result = [o if o.key != key else dataclasses.replace(
                o, message=(o.message + "; " if o.message else "") + "owner not on the target, reference left out: "
                + ", ".join(missing)) for o in result]
    return result


def _ours(obj: dict[str, Any]) -> list[Any]:
    """Our field manager's Apply entries of an object's managedFields."""
    return [m for m in (obj.get("metadata") or {}).get("managedFields") or []
            if m.get("manager") == FIELD_MANAGER and m.get("operation") == "Apply"]


# -- verify --------------------------------------------------------------------------

@dataclasses.dataclass
class VerifyReport:
    results: Results
    unaccounted: list[str]
    not_ready: list[str]

    @property
    def ok(self) -> bool:
        return not self.unaccounted and not self.not_ready and not self.results.has_problems


def verify(target: KubeClient, snapshot: Path | Snapshot, transformed: Path | Snapshot, *, secret_key: SecretKey | None = None,
           ready_timeout: float = 120.0, concurrency: int = 16, progress: Progress = _noop,
           blocked: Mapping[str, str] | None = None) -> VerifyReport:
    """Account for every source object and compare the declared fields on the target.

    Every object of the raw snapshot must be either excluded with a reason or
    present on the target with every field the transformed object declares
    (server defaults are ignored: only the desired object's fields are compared).
    Objects the inventory listed but could not store (the snapshot index's ``failed``) and objects the
    transform stage could not store are ``failed`` and unaccounted, each with the writer's message: they
    are on no stage's disk, so nothing carried them.
    Workloads must become Available/Ready within ``ready_timeout``. Objects apply held back
    (``blocked``: key → why) are reported ``blocked`` (a problem) and not looked for on the target;
    so are objects excluded as owned by one of them (nothing recreates them until their owner is applied).
    """
    import concurrent.futures as cf

    source = _opened(snapshot)
    transformed = _opened(transformed)
    excluded = {ObjectRef(**e["ref"]): e for e in transformed.excluded()}
    results = Results()
    desired = {ObjectRef.of(o): o for o in transformed.objects(secret_key=secret_key)}
    for ref in [r for r in desired if r.key in (blocked or {})]:
        results.add(ref, Status.BLOCKED, (blocked or {})[ref.key])
        del desired[ref]
    unaccounted: list[str] = []
    source_index = {source.ref(p).key: p for p in source.paths()}
    source_secrets: dict[str, dict[str, Any]] = {}

    def read_source(path: str) -> dict[str, Any]:
        if "/core.Secret/" in path:
            if not source_secrets:
                source_secrets.update(source.secrets(secret_key))
            return source_secrets[path]
        return source.read(path)

    not_written = {ObjectRef(**e["ref"]): e for e in transformed.failed}
    kube_system = KubeSystemNames(target)  # AKS-managed exclusions: one list per kind of the target's kube-system
    for path in source.paths():
        ref = source.ref(path)
        if ref in desired or ref.key in (blocked or {}):
            continue
        if ref in not_written:  # transformed, but the transformed snapshot could not store it
            results.add(ref, Status.FAILED, f"not carried: the transform stage could not store it "
                                            f"({not_written[ref]['message']})")
            unaccounted.append(path)
            continue
        if ref in excluded:
            e = excluded[ref]
            if e.get("error"):  # the transform failed on it: a gap, not an exclusion
                results.add(ref, Status.FAILED, f"not transformed: {e['reason']}")
                unaccounted.append(path)
                continue
            owner = blocked_owner(read_source, ref, e, source_index, blocked or {})
            if owner is not None:  # its owner is held back by a blocker: so is the object (reported, not a gap)
                results.add(ref, Status.BLOCKED, f"{e['rule']}: {e['reason']}; not on the target while its owner "
                            f"{owner} is held back by a blocker")
                continue
            holds, why = exclusion_holds(target, read_source, ref, e, source_index, kube_system=kube_system)
            if holds:
                results.add(ref, Status.EXCLUDED, f"{e['rule']}: {e['reason']}")
            else:  # a false reason is a gap, not an account (issue 12 item 5)
                results.add(ref, Status.FAILED, f"excluded as '{e['reason']}', but that does not hold: {why}")
                unaccounted.append(path)
            continue
        unaccounted.append(path)
    for path in source.index.get("secrets_excluded", []):
        results.add(source.ref(path), Status.EXCLUDED, "Secret left out at inventory (--exclude-secrets)")
    for entry in source.failed:  # listed on the source but never stored: nothing carried it (issue 12, bad input)
        ref = ObjectRef(**entry["ref"])
        results.add(ref, Status.FAILED, f"not carried: the inventory could not store it ({entry['message']})")
        unaccounted.append(entry.get("path") or str(ref))

    def check(obj: dict[str, Any]) -> tuple[dict[str, Any], list[str] | MigrationError]:
        try:
            return obj, verify_object(target, obj)
        except MigrationError as e:
            return obj, e

    with cf.ThreadPoolExecutor(concurrency) as pool:
        for obj, diffs in pool.map(check, desired.values()):
            ref = ObjectRef.of(obj)
            if isinstance(diffs, MigrationError) and is_secret(obj):
                results.add(ref, Status.FAILED, scrub(f"{diffs.message}" + (f" — fix: {diffs.fix}" if diffs.fix else ""),
                                                      [obj]))
            elif isinstance(diffs, MigrationError):
                results.add_error(ref, diffs)
            elif diffs:
                results.add(ref, Status.FAILED, "differs on the target: " + "; ".join(diffs[:5]))
            else:
                results.add(ref, Status.OK)
            progress(1)
    source_ready = set()
    for path in source.paths(include_secrets=False):
        if any(f"/{g}.{k}/" in path for g, k in WORKLOAD_KINDS):
            obj = source.read(path)
            if is_ready(obj):
                source_ready.add(str(ObjectRef.of(obj)))
    not_ready = workload_ready(target, list(desired.values()), source_ready=source_ready, timeout=ready_timeout)
    return VerifyReport(results, unaccounted, not_ready)


def outcomes_to_results(outcomes: Iterable[Outcome]) -> Results:
    """Apply outcomes as report Results (conflicts and failures are the problems)."""
    mapping = {Action.CREATED: Status.CREATED, Action.UPDATED: Status.UPDATED, Action.UNCHANGED: Status.UNCHANGED,
               Action.SKIPPED: Status.SKIPPED, Action.CONFLICT: Status.CONFLICT, Action.FAILED: Status.FAILED,
               Action.BLOCKED: Status.BLOCKED}
    results = Results()
    for o in outcomes:
        results.add(ObjectRef.from_key(o.key), mapping.get(o.action, Status.FAILED), o.message)
    return results


def write_report(out: Path, findings: Iterable[Finding], results: Results | None, title: str, *,
                 accepted_blockers: Iterable[str] = ()) -> Path:
    """Write ``report.md`` and ``report.json`` into ``out`` (with the blocker codes the user accepted)."""
    findings = list(findings)
    accepted = list(accepted_blockers)
    tempfiles.write_atomic(out / "report.md",
                           render_markdown(findings, results, title=title, accepted_blockers=accepted).encode())
    tempfiles.write_atomic(out / "report.json", render_json(findings, results, accepted_blockers=accepted))
    return out / "report.md"


def blocking(findings: Iterable[Finding]) -> bool:
    return any(f.severity is Severity.BLOCKER for f in findings)


__all__ = ["FIELD_MANAGER", "InventorySummary", "TransformSummary", "VerifyReport", "apply", "build_context",
           "inventory", "outcomes_to_results", "plan", "transform_snapshot", "verify", "write_report"]
