"""Which objects a blocker finding holds back from the target, and which blockers the user accepted.

Why its own module: a blocker finding means "this object will not work, or
data is at risk, until a human acts" — so applying that object anyway (a PV
pointing at a disk the source still attaches, a policy translated only in
part) is exactly the harm the finding warns about. Plan and apply therefore
leave such objects out, one by one, and everything else proceeds; verify then
reports them as ``blocked`` rather than missing. ``--accept-blockers CODE``
(repeatable) is the deliberate way through: objects whose every blocker has an
accepted code are applied, and the report records which codes were accepted.

Two exemptions are decided here, not in the stages: a PV the volume plan
carries as a copy keeps its ``azure-disk-volume`` blocker until the volume
verify resolves it, but the move applies it itself, so it is not held back.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from migration.findings import AZURE_DISK, Finding, Severity

ACCEPT_OPTION = "--accept-blockers"


def normalize_codes(codes: Iterable[str]) -> tuple[str, ...]:
    """Accepted codes, trimmed, deduplicated and sorted (comma-separated values are split too)."""
    out = {c.strip() for code in codes for c in str(code).split(",") if c.strip()}
    return tuple(sorted(out))


def blocked_objects(findings: Iterable[Finding], *, accepted: Iterable[str] = (),
                    carried_pvs: Iterable[str] = ()) -> dict[str, str]:
    """The objects plan and apply must leave out, each with the message saying why.

    Args:
        findings: the transform's findings (``transformed/findings.jsonl``).
        accepted: blocker codes the user accepted (``--accept-blockers``).
        carried_pvs: names of PVs the volume plan carries as copies (their disk blocker does not hold them back).

    Returns:
        :attr:`kube.objects.ObjectRef.key` → ``"blocked by <code>: <message> …"``; empty when nothing is held back.
    """
    accepted_codes = frozenset(normalize_codes(accepted))
    carried = frozenset(carried_pvs)
    held: dict[str, list[Finding]] = {}
    for f in findings:
        if f.severity is not Severity.BLOCKER or f.code in accepted_codes:
            continue
        if f.code == AZURE_DISK and f.ref.kind == "PersistentVolume" and f.ref.name in carried:
            continue
        held.setdefault(f.ref.key, []).append(f)
    return {key: blocked_message(fs) for key, fs in held.items()}


def blocked_message(findings: Iterable[Finding]) -> str:
    """One line naming every blocker code of an object and how to proceed deliberately."""
    fs = list(findings)
    codes = sorted({f.code for f in fs})
    return (f"not applied: blocked by {', '.join(codes)} ({fs[0].message}); fix it, or re-run with "
            + " ".join(f"{ACCEPT_OPTION} {c}" for c in codes) + " to apply it anyway")


def open_blockers(findings: Iterable[Finding], accepted: Iterable[str]) -> tuple[Finding, ...]:
    """The blocker findings whose code the user did not accept."""
    accepted_codes = frozenset(normalize_codes(accepted))
    return tuple(f for f in findings if f.severity is Severity.BLOCKER and f.code not in accepted_codes)


def from_outcomes(outcomes: Iterable[Mapping[str, object]]) -> dict[str, str]:
    """The objects an apply held back, from ``apply.json``'s ``objects`` (``action == "blocked"``)."""
    return {str(o["key"]): str(o.get("message") or "") for o in outcomes if o.get("action") == "blocked"}


def accepted_at_apply(record: Mapping[str, object]) -> tuple[str, ...]:
    """The blocker codes an apply accepted, from its ``apply.json`` (the run's decision, which ``sync`` keeps)."""
    codes = record.get("accepted_blockers")
    return normalize_codes(str(c) for c in codes) if isinstance(codes, list) else ()
