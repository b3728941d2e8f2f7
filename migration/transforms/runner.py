"""The transform runner: every rule on one object, patches merged, conflicts kept.

Why shaped so (crane-lib ``transform/runner.go``): each rule sees the
*original* object — never another rule's output — and proposes operations.
The runner then merges the proposals in registry order:

* an operation identical to one already accepted is a duplicate: applied once;
* a ``remove`` under a path an earlier rule already removes is redundant: skipped;
* any other operation whose path equals, contains or lies under an accepted
  one is a **conflict**: the earlier rule wins, and the loser's operation is
  recorded in :attr:`TransformOutcome.conflicts` (crane writes these to an
  "ignored patches" file) so a human can see what was not applied.

Rules therefore compose without knowing each other, the patch log says which
rule changed what, and the result does not depend on hidden rule-to-rule
data flow. The first whiteout ends the run: an excluded object needs no
patches (only the excluding rule's own findings are kept); so does a *final* result (a rule that put a whole
object in place, as ``volume-copies`` does with the volume plan's PV).

For every kept object the runner also runs :func:`migration.findings.find` on
the result and merges it with the rules' findings, so callers get all of an
object's findings from :attr:`TransformOutcome.findings`.
"""
from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from kube.objects import ObjectRef
from migration import continuity
from migration.errors import TransformError
from migration.findings import Finding, find, merge
from migration.transforms.base import Op, apply_ops, overlaps, split_pointer
from migration.transforms.context import TransformContext
from migration.transforms.registry import RULES, RegisteredRule


@dataclasses.dataclass(frozen=True)
class PatchRecord:
    """The operations one rule applied to one object."""

    rule: str
    ops: tuple[Op, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "ops": list(self.ops)}


@dataclasses.dataclass(frozen=True)
class Conflict:
    """An operation that was not applied because an earlier rule touched the same path.

    Attributes:
        path: the losing operation's path.
        winner: name of the rule whose operation was applied.
        winner_op: that operation.
        loser: name of the rule whose operation was dropped.
        loser_op: the dropped operation.
    """

    path: str
    winner: str
    winner_op: Op
    loser: str
    loser_op: Op

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class TransformOutcome:
    """What the runner made of one object.

    Attributes:
        ref: the object.
        obj: the cleaned object, None when excluded.
        excluded: why the object is excluded, None when kept.
        excluded_by: name of the rule that excluded it.
        patches: operations applied, per rule, in rule order (empty rules omitted).
        conflicts: operations not applied (see the module docstring).
        findings: everything about the object that needs a human.
    """

    ref: ObjectRef
    obj: dict[str, Any] | None
    excluded: str | None = None
    excluded_by: str | None = None
    patches: tuple[PatchRecord, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    findings: tuple[Finding, ...] = ()

    @property
    def kept(self) -> bool:
        """Whether the object is migrated."""
        return self.excluded is None

    def patch_log(self) -> dict[str, Any]:
        """The patches.jsonl entry of this object (without the snapshot path; the writer adds it)."""
        return {"ref": self.ref.to_dict(), "patches": [p.to_dict() for p in self.patches],
                "conflicts": [c.to_dict() for c in self.conflicts]}


def _merge(proposals: Sequence[tuple[str, tuple[Op, ...]]]) -> tuple[list[PatchRecord], list[Conflict]]:
    accepted: list[tuple[str, Op]] = []
    records, conflicts = [], []
    for rule, ops in proposals:
        own: list[Op] = []
        for op in ops:
            if any(op == other for _, other in accepted):
                continue  # duplicate of an earlier rule's operation
            clash = next(((name, other) for name, other in accepted if overlaps(op["path"], other["path"])), None)
            if clash is None:
                own.append(op)
                continue
            name, other = clash
            if op["op"] == "remove" and other["op"] == "remove" \
                    and len(split_pointer(other["path"])) <= len(split_pointer(op["path"])):
                continue  # the earlier rule already removes the parent
            conflicts.append(Conflict(op["path"], name, other, rule, op))
        accepted.extend((rule, op) for op in own)
        if own:
            records.append(PatchRecord(rule, tuple(own)))
    return records, conflicts


def transform(obj: Mapping[str, Any], ctx: TransformContext,
              rules: Sequence[RegisteredRule] = RULES) -> TransformOutcome:
    """Run every applicable rule on one object.

    Args:
        obj: the object as read from the source; never modified.
        ctx: facts about source and target.
        rules: the rules to run, in order; defaults to the registry.

    Returns:
        The outcome: the cleaned object and its patch log, or the whiteout reason.

    Raises:
        TransformError: a rule raised or produced an operation that does not fit
            the object; the message names the object and the rule. Callers
            record it for the object and go on with the next one.
    """
    ref = ObjectRef.of(obj)
    findings: list[Finding] = []
    proposals: list[tuple[str, tuple[Op, ...]]] = []
    for entry in rules:
        try:
            if not entry.rule.applies_to(obj, ctx):
                continue
            # Each rule gets a private copy: one that mutates its input cannot affect the others or the caller.
            result = entry.rule.run(copy.deepcopy(dict(obj)), ctx)
        except Exception as e:  # a rule bug must name the object and rule, not crash the stage
            raise TransformError(f"rule {entry.name} failed: {e.__class__.__name__}: {e}", ref=ref,
                                 fix="report this as a bug with the object's YAML; "
                                     "exclude the object to continue") from e
        if result.whiteout:
            # A rule may say more than why (what the target must provide instead): its findings are kept.
            return TransformOutcome(ref, None, excluded=result.whiteout, excluded_by=entry.name,
                                    findings=merge(result.findings))
        findings.extend(result.findings)
        if result.ops:
            proposals.append((entry.name, result.ops))
        if result.final:
            break  # the rule decided the whole object: later rules' cleaning would only conflict with it
    records, conflicts = _merge(proposals)
    cleaned = apply_ops(obj, [op for record in records for op in record.ops], ref=ref)
    return TransformOutcome(ref, cleaned, patches=tuple(records), conflicts=tuple(conflicts),
                            findings=merge(findings, find(cleaned, ctx), continuity.find(cleaned, ctx)))
