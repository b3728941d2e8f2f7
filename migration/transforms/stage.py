"""The transform stage: raw snapshot in, transformed snapshot out, no network.

Why here and this small: it is the only stage that needs nothing but files,
so it composes the pieces — read the raw snapshot lazily, run the rules on
each object, write the cleaned object with its patch log, exclusions and
findings — and records one result per object without stopping at the first
failure (velero ``results.Result``). Re-running it with ``overwrite=True``
replaces the previous output atomically (see :mod:`migration.snapshot`).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any

from kube.objects import ObjectRef
from migration.errors import InventoryError, TransformError
from migration.report import Results, Status
from migration.secrets import SecretKey
from migration.snapshot import Snapshot, SnapshotWriter
from migration.transforms.context import TransformContext, selectorless_services
from migration.transforms.ownership import ownership_facts
from migration.transforms.rules import autoscaled, lifecycle, whiteout
from migration.transforms.runner import transform


def with_ownership_facts(source: Snapshot, ctx: TransformContext) -> TransformContext:
    """The context with which owners will exist on the target and which groups have a controller there.

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
    return dataclasses.replace(ctx, carried_keys=facts["carried_keys"], controlled_groups=facts["controlled_groups"],
                               autoscaled=autoscaled.autoscaled(hpas))


def transform_snapshot(source: Snapshot, dest: str | os.PathLike[str], ctx: TransformContext, *,
                       secret_key: SecretKey | None = None, exclude_secrets: bool = False,
                       overwrite: bool = False) -> Results:
    """Transform every object of a raw snapshot into a ``transformed`` snapshot.

    When ``ctx.selectorless_services`` is None it is filled in from the
    snapshot's Services first (so user-maintained Endpoints are kept); when
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
    if ctx.carried_keys is None:
        ctx = with_ownership_facts(source, ctx)
    results = Results()
    items = source.items(secret_key=secret_key, include_secrets=not exclude_secrets)
    with SnapshotWriter(dest, stage="transformed", secret_key=secret_key, exclude_secrets=exclude_secrets,
                        overwrite=overwrite) as writer:
        for path, obj in items:
            ref = ObjectRef.of(obj)
            try:
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
