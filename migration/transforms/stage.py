"""The transform stage: raw snapshot in, transformed snapshot out, no network.

Why here and this small: it is the only stage that needs nothing but files,
so it composes the pieces — read the raw snapshot lazily, run the rules on
each object, write the cleaned object with its patch log, exclusions and
findings — and records one result per object without stopping at the first
failure (velero ``results.Result``). Re-running it with ``overwrite=True``
replaces the previous output atomically (see :mod:`migration.snapshot`).

Calico policies are the one place where one source object becomes *other*
objects: when the target replaces Calico (``ctx.skipped_groups``), each
``crd.projectcalico.org`` policy or network set goes through
:func:`migration.policies.calico.translate` (which needs every Calico object of
the snapshot, read first). The translated objects run through the rules like any
object (so a target that does not serve ``cilium.io`` gets its blocker) and are
written; the Calico object is recorded as excluded — "translated to …" or
"blocked: …" — with the translation's findings.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from kube.objects import ObjectRef, group_of
from migration.errors import InventoryError, TransformError
from migration.findings import Finding, Severity
from migration.policies import calico
from migration.report import Results, Status
from migration.secrets import SecretKey
from migration.snapshot import Snapshot, SnapshotWriter
from migration.transforms.context import TransformContext, selectorless_services, storage_classes
from migration.transforms.ownership import ownership_facts
from migration.transforms.rules import autoscaled, lifecycle, whiteout
from migration.transforms.runner import TransformOutcome, transform

CALICO_RULE = "calico-translation"


def with_ownership_facts(source: Snapshot, ctx: TransformContext) -> TransformContext:
    """The context with the keys of the objects that will exist on the target (the owners a rule may rely on).

    One read of the snapshot's non-Secret objects before the rules run (see
    :mod:`migration.transforms.ownership`); the workloads HPAs scale too (``rules/autoscaled.py``).
    """
    def excluded(obj: Any) -> bool:
        return lifecycle.deleting(obj) is not None or whiteout.excluded_regardless_of_owner(obj, ctx)

    hpas: list[Any] = []

    def objs() -> Any:  # one pass, never the whole snapshot in memory
        for p in source.paths(include_secrets=False):
            obj = source.read(p)
            if obj.get("kind") == "HorizontalPodAutoscaler":
                hpas.append(obj)
            yield obj

    facts = ownership_facts(objs(), excluded)
    return dataclasses.replace(ctx, carried_keys=facts["carried_keys"],
                               autoscaled=autoscaled.autoscaled(hpas))


def transform_snapshot(source: Snapshot, dest: str | os.PathLike[str], ctx: TransformContext, *,
                       secret_key: SecretKey | None = None, exclude_secrets: bool = False,
                       overwrite: bool = False) -> Results:
    """Transform every object of a raw snapshot into a ``transformed`` snapshot.

    When ``ctx.selectorless_services`` is None it is filled in from the
    snapshot's Services first (so user-maintained Endpoints are kept), ``ctx.storage_classes``
    from its StorageClasses (an in-tree disk's SKU is its class's); when
    ``ctx.carried_keys`` is None, the ownership facts too (:func:`with_ownership_facts`).

    Args:
        source: the raw inventory snapshot.
        dest: the transformed snapshot directory to write.
        ctx: the transform context.
        secret_key: decrypts the source's Secrets and encrypts the output's; it
            must hold the identity (or passphrase), not only a recipient.
        exclude_secrets: leave Secrets out of the output.
        overwrite: replace an existing output directory.

    Returns:
        One result per object: ``ok`` (kept), ``excluded`` (whiteout, with the
        reason) or ``failed`` (a rule error, also logged in excluded.jsonl).

    Raises:
        SecretKeyError: Secrets are to be carried and the key cannot decrypt them.
        InventoryError: the output exists and ``overwrite`` is False.
    """
    if ctx.selectorless_services is None:
        services = (source.read(p) for p in source.paths(include_secrets=False) if "/core.Service/" in p)
        ctx = dataclasses.replace(ctx, selectorless_services=selectorless_services(services))
    if ctx.storage_classes is None:
        classes = (source.read(p) for p in source.paths(include_secrets=False) if ".StorageClass/" in p)
        ctx = dataclasses.replace(ctx, storage_classes=storage_classes(classes))
    if ctx.carried_keys is None:
        ctx = with_ownership_facts(source, ctx)
    results = Results()
    facts = calico_facts(source, ctx)
    source_paths = frozenset(source.paths()) if facts is not None else frozenset()
    items = source.items(secret_key=secret_key, include_secrets=not exclude_secrets)
    with SnapshotWriter(dest, stage="transformed", secret_key=secret_key, exclude_secrets=exclude_secrets,
                        overwrite=overwrite) as writer:
        for path, obj in items:
            ref = ObjectRef.of(obj)
            try:
                if facts is not None and calico.applies_to(obj):
                    outcome = translate_calico(obj, ctx, facts, source_paths, writer, results)
                else:
                    outcome = transform(obj, ctx)
                writer.write_outcome(outcome, source_path=path)
            except (TransformError, InventoryError) as e:  # this object only; the rest proceeds
                results.add_error(ref, e)
                writer.write_failure(ref, str(e), source_path=path)
                continue
            if outcome.kept:
                results.add(ref, Status.OK)
            else:
                results.add(ref, Status.EXCLUDED, outcome.excluded or "")
    return results


def calico_facts(source: Snapshot, ctx: TransformContext) -> calico.TargetFacts | None:
    """What the Calico translation needs, or None when Calico objects are carried as they are.

    Calico is translated when the target replaces it (its API group is skipped: a Cilium target).
    Every Calico policy and network set of the snapshot is read first: the translation of one
    depends on the others (policy order, network-set selection).
    """
    if calico.CALICO_GROUP not in ctx.skipped_groups:
        return None
    marker = f"/{calico.CALICO_GROUP}."
    objects = [source.read(p) for p in source.paths(include_secrets=False) if marker in p]
    objects = [o for o in objects if calico.applies_to(o)]
    cidrs = tuple(c for c in (ctx.source_pod_cidr, ctx.target_pod_cidr) if c)
    return calico.TargetFacts(dataplane=ctx.target_dataplane, node_local_dns=ctx.target_node_dns,
                              pod_cidrs=cidrs, calico_objects=tuple(objects))


def _collision(ref: ObjectRef, made: Mapping[str, Any], path: str) -> Finding:
    return Finding(calico.CODE_UNTRANSLATABLE, Severity.BLOCKER, ref,
                   f"translates to {ObjectRef.of(made)}, but the source already has an object of that name "
                   f"({path}); neither is overwritten",
                   "rename one of them on the source (or write the translated policy by hand), then re-run "
                   "the migration")


def translate_calico(obj: Mapping[str, Any], ctx: TransformContext, facts: calico.TargetFacts,
                     source_paths: frozenset[str], writer: SnapshotWriter, results: Results) -> TransformOutcome:
    """Translate one Calico object, write what it becomes, and return the Calico object's own outcome.

    Args:
        obj: a Calico policy or network set of the source.
        ctx: the transform context (the translated objects run through every rule).
        facts: from :func:`calico_facts`.
        source_paths: the snapshot's paths: a translated object may not take a source object's place.
        writer: the transformed snapshot being written.
        results: the stage's results; each written translated object is recorded ``ok``.

    Returns:
        The Calico object's outcome: excluded, "translated to …" or "blocked: …", with the findings.

    Raises:
        TransformError: a rule failed on a translated object (recorded for the Calico object).
    """
    ref = ObjectRef.of(obj)
    translation = calico.translate(obj, facts)
    findings = list(translation.findings)
    made = list(translation.objects)
    for new in made:
        path = ObjectRef.of(new).path
        if path in source_paths:
            findings.append(_collision(ref, new, path))
    if any(f.severity is Severity.BLOCKER for f in findings):
        codes = sorted({f.code for f in findings if f.severity is Severity.BLOCKER})
        return TransformOutcome(ref, None, excluded=f"blocked: not translated to Cilium ({', '.join(codes)}: "
                                "see the findings for the rule that does not map)",
                                excluded_by=CALICO_RULE, findings=tuple(findings))
    names = []
    for new in made:
        outcome = transform(new, ctx)
        if outcome.kept:
            writer.write_outcome(outcome)
            results.add(outcome.ref, Status.OK)
            names.append(str(outcome.ref))
        else:  # a rule left a translated object out: say so on the Calico object
            findings.append(Finding(calico.CODE_UNTRANSLATABLE, Severity.BLOCKER, ref,
                                    f"its translation {outcome.ref} was left out: {outcome.excluded}",
                                    "write the equivalent policy by hand on the target"))
    group = group_of(obj)
    return TransformOutcome(ref, None, excluded=f"translated to {', '.join(names) or 'nothing'} "
                            f"({group} is replaced by the target's Cilium)", excluded_by=CALICO_RULE,
                            findings=tuple(findings))
