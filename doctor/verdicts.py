"""What one doctor check concludes: a grade, the evidence it saw, and the fix.

Why shaped so: a check's verdict is only useful if a person can verify it and
act on it, so every :class:`Verdict` carries the evidence (the values read from
the cluster or the ARM description, never inferred silently) and the fix (a
command or a stack setting). Grades are ordered so one threshold
(``--fail-on``) turns a report into a CI exit code; a check that lacked its
input says so (``skipped``) instead of passing.

Why not :class:`migration.findings.Finding` and its ``Severity``: those are about one *object* to be
migrated (a ref, a JSON pointer, ``blocker`` holds its apply back); these are about one *check* of a
cluster (no object, ``skipped`` and ``ok`` are outcomes too). Two vocabularies, two names (issue 11
item 6); the JSON of ``akshift doctor`` keeps its ``findings``/``severity`` keys.
"""
from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable
from typing import Any


class Grade(str, enum.Enum):
    """How much a verdict matters, in increasing order (compare with :meth:`rank`)."""

    SKIPPED = "skipped"
    """The check had no input (no ARM description, no cluster) and concluded nothing."""
    OK = "ok"
    INFO = "info"
    """Worth knowing for the migration; nothing to fix."""
    WARNING = "warning"
    """A known pitfall this cluster has; fix it before or during the migration."""
    CRITICAL = "critical"
    """Breaks soon or now (an expired secret, a retirement date within months)."""

    @property
    def rank(self) -> int:
        return _ORDER.index(self)


_ORDER = [Grade.SKIPPED, Grade.OK, Grade.INFO, Grade.WARNING, Grade.CRITICAL]


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The verdict of one check.

    Attributes:
        check: The check's id (``kubenet``, ``kube-proxy`` …), stable for scripts.
        severity: See :class:`Grade`.
        summary: One sentence: what was found.
        evidence: The facts behind it, each ``source: value`` (``ARM networkProfile.networkPlugin: kubenet``).
        fix: What to do; empty when nothing is needed.
    """

    check: str
    severity: Grade
    summary: str
    evidence: tuple[str, ...] = ()
    fix: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON form used by ``akshift doctor --output json``."""
        return {"check": self.check, "severity": self.severity.value, "summary": self.summary,
                "evidence": list(self.evidence), "fix": self.fix}


def worst(findings: Iterable[Verdict]) -> Grade:
    """The highest severity among ``findings`` (SKIPPED for none).

    Args:
        findings: Any findings.

    Returns:
        The most severe one's severity.
    """
    return max((f.severity for f in findings), key=lambda s: s.rank, default=Grade.SKIPPED)


def fails(findings: Iterable[Verdict], fail_on: Grade) -> bool:
    """Whether a report should fail CI: any finding at ``fail_on`` or worse.

    Args:
        findings: The report.
        fail_on: WARNING (the default of ``akshift doctor``) or CRITICAL.

    Returns:
        True when the command should exit 1.
    """
    return worst(findings).rank >= fail_on.rank
