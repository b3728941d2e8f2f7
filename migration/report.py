"""Reports: per-object results and findings, rendered as Markdown for people and JSON for tools.

Why a collector (velero ``pkg/util/results.Result``): stages never stop at
the first failure; they record one result per object — created, updated,
unchanged, conflict, failed, excluded, skipped (done by an earlier run), or
ok for verify — and the report shows
all of them, grouped by namespace, with the problems spelled out and the
successes counted. The caller derives the exit code from
:meth:`Results.has_problems` and :func:`has_blockers`.

Why this Markdown shape: a migration report is read top-down by someone
deciding whether to cut over. So: a one-line summary, then findings worst
first (blockers, warnings, info) as tables with the fix beside the problem,
then a per-namespace count table, then only the results that need attention.
Thousands of "unchanged" rows would bury the one "failed".
"""
from __future__ import annotations

import dataclasses
import enum
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import orjson

from errors import AkshiftError
from kube.errors import ApiError
from kube.objects import ObjectRef
from migration.findings import Finding, Severity, sort_findings
from migration.report_charts import overview, reason_class


class Status(str, enum.Enum):
    """What happened to one object in a stage."""

    OK = "ok"
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    CONFLICT = "conflict"
    FAILED = "failed"
    EXCLUDED = "excluded"
    SKIPPED = "skipped"  # finished by an earlier run of a resumable stage
    BLOCKED = "blocked"  # held back by a blocker finding: not applied (migration/blockers.py)


PROBLEM_STATUSES = frozenset({Status.CONFLICT, Status.FAILED, Status.BLOCKED})
_STATUS_ORDER = tuple(Status)


@dataclasses.dataclass(frozen=True)
class ObjectResult:
    """The result of one object in one stage."""

    ref: ObjectRef
    status: Status
    message: str = ""
    retryable: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"ref": self.ref.to_dict(), "object": str(self.ref), "status": self.status.value,
                "message": self.message, "retryable": self.retryable}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ObjectResult:
        return cls(ObjectRef(**data["ref"]), Status(data["status"]), data.get("message", ""),
                   data.get("retryable", False))


class Results:
    """Collects per-object results of a stage; safe to add to from worker threads."""

    def __init__(self, entries: Iterable[ObjectResult] = ()):
        self._entries: list[ObjectResult] = list(entries)
        self._lock = threading.Lock()

    def add(self, ref: ObjectRef, status: Status | str, message: str = "", *, retryable: bool = False) -> None:
        """Record one object's result.

        Args:
            ref: the object.
            status: a :class:`Status` or its value.
            message: why (required in practice for conflict, failed and excluded).
            retryable: whether a re-run may succeed unchanged.
        """
        entry = ObjectResult(ref, Status(status), message, retryable)
        with self._lock:
            self._entries.append(entry)

    def add_error(self, ref: ObjectRef, error: BaseException) -> None:
        """Record a failure from an exception (its message, its retryability).

        An :class:`errors.AkshiftError` already names its object, so
        its bare ``message`` and ``fix`` are used to avoid repeating the ref.
        """
        if isinstance(error, AkshiftError):
            text = f"{error.message} — fix: {error.fix}" if error.fix else error.message
            self.add(ref, Status.FAILED, text, retryable=isinstance(error, ApiError) and error.retryable)
        else:
            self.add(ref, Status.FAILED, f"{error.__class__.__name__}: {error}")

    def merge(self, other: Results) -> None:
        """Add all of another collector's results (e.g. one per worker)."""
        entries = list(other)
        with self._lock:
            self._entries.extend(entries)

    def __iter__(self) -> Iterator[ObjectResult]:
        with self._lock:
            return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def counts(self) -> dict[Status, int]:
        """Number of objects per status (statuses with none omitted)."""
        counter = Counter(e.status for e in self)
        return {s: counter[s] for s in _STATUS_ORDER if counter[s]}

    def by_namespace(self) -> dict[str, list[ObjectResult]]:
        """Results grouped by namespace (``""`` for cluster-scoped), sorted by object."""
        groups: dict[str, list[ObjectResult]] = {}
        for e in sorted(self, key=lambda e: (e.ref.namespace, e.ref)):
            groups.setdefault(e.ref.namespace, []).append(e)
        return groups

    def problems(self) -> list[ObjectResult]:
        """Conflicts and failures, sorted by namespace and object."""
        return [e for group in self.by_namespace().values() for e in group if e.status in PROBLEM_STATUSES]

    @property
    def has_problems(self) -> bool:
        return any(e.status in PROBLEM_STATUSES for e in self)

    def to_dict(self) -> dict[str, Any]:
        return {"counts": {s.value: n for s, n in self.counts().items()},
                "objects": [e.to_dict() for group in self.by_namespace().values() for e in group]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Results:
        return cls(ObjectResult.from_dict(e) for e in data.get("objects") or ())


def has_blockers(findings: Iterable[Finding]) -> bool:
    """Whether any finding is a blocker."""
    return any(f.severity is Severity.BLOCKER for f in findings)


def _cell(text: str) -> str:
    # HTML-escape first: fixes such as "--identity-name <identity>" would otherwise vanish as tags.
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")


def _table(header: list[str], rows: Iterable[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _summary(findings: list[Finding], results: Results | None) -> str:
    sev = Counter(f.severity for f in findings)
    parts = [f"{sev[s]} {s.value}{'s' if s is not Severity.INFO and sev[s] != 1 else ''}" for s in
             (Severity.BLOCKER, Severity.WARNING, Severity.INFO)]
    text = "Findings: " + ", ".join(parts)
    if results is not None:
        counts = results.counts()
        text += f" · {len(results)} objects" + (": " + ", ".join(f"{n} {s.value}" for s, n in counts.items())
                                                 if counts else "")
    return text


def render_markdown(findings: Iterable[Finding] = (), results: Results | None = None, *,
                    title: str = "akshift migration report", accepted_blockers: Iterable[str] = ()) -> str:
    """Render findings and results as a Markdown document.

    Args:
        findings: findings of any objects; rendered worst first, then by namespace and object.
        results: per-object results of a stage, or None for a findings-only report.
        title: the document's heading.
        accepted_blockers: blocker codes the user accepted (``--accept-blockers``): recorded up front.

    Returns:
        Markdown text ending with a newline.
    """
    ordered = sort_findings(findings)
    lines = [f"# {title}", "", f"**{_summary(ordered, results)}**", ""]
    accepted = sorted(set(accepted_blockers))
    if accepted:
        lines += [f"**Blockers accepted deliberately (--accept-blockers): {', '.join(accepted)}** — objects held "
                  "back only by these were applied anyway.", ""]
    excluded = [e.message for e in results if e.status is Status.EXCLUDED] if results is not None else []
    lines += overview(ordered, excluded, _table)
    if ordered:
        lines += ["## Findings", ""]
        for severity in (Severity.BLOCKER, Severity.WARNING, Severity.INFO):
            group = [f for f in ordered if f.severity is severity]
            if not group:
                continue
            heading = {"blocker": "Blockers", "warning": "Warnings", "info": "Info"}[severity.value]
            lines += [f"### {heading} ({len(group)})", ""]
            lines += _table(["Object", "Code", "Problem", "Fix"],
                            ([f"`{f.ref}`" + (f" `{f.path}`" if f.path else ""), f.code, f.message, f.fix]
                             for f in group))
            lines.append("")
    if results is not None and len(results):
        lines += ["## Results by namespace", ""]
        statuses = [s for s in _STATUS_ORDER if s in results.counts()]
        rows = []
        for ns, entries in results.by_namespace().items():
            c = Counter(e.status for e in entries)
            rows.append([ns or "(cluster)"] + [str(c[s]) for s in statuses])
        lines += _table(["Namespace"] + [s.value for s in statuses], rows)
        lines.append("")
        by_reason = exclusions_by_reason(results)
        if by_reason:
            lines += [f"## Excluded by reason ({sum(by_reason.values())})", ""]
            lines += _table(["Reason", "Objects"], ([reason, str(n)] for reason, n in by_reason.items()))
            lines.append("")
        problems = results.problems()
        if problems:
            lines += [f"## Needs attention ({len(problems)})", ""]
            current = None
            for e in problems:
                if e.ref.namespace != current:
                    if current is not None:
                        lines.append("")
                    current = e.ref.namespace
                    lines += [f"### {current or '(cluster)'}", ""]
                    lines += _table(["Status", "Object", "Message"], [])
                lines.append("| " + " | ".join(_cell(c) for c in [
                    e.status.value + (" (retryable)" if e.retryable else ""), f"`{e.ref}`", e.message]) + " |")
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def exclusions_by_reason(results: Results) -> dict[str, int]:
    """How many objects were excluded for each reason (object names folded by ``report_charts.reason_class``,
    the one folding the pie uses too), most frequent first.

    Every excluded object is listed with its own reason in ``results``; this is the summary the
    Markdown report and ``report.json`` show.
    """
    counter = Counter(reason_class(e.message) for e in results if e.status is Status.EXCLUDED)
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def render_json(findings: Iterable[Finding] = (), results: Results | None = None, *,
                accepted_blockers: Iterable[str] = ()) -> bytes:
    """Render findings and results as deterministic JSON (sorted keys, 2-space indent).

    Args:
        findings: findings of any objects.
        results: per-object results of a stage, or None.
        accepted_blockers: blocker codes the user accepted (``--accept-blockers``).

    Returns:
        UTF-8 JSON: ``{"summary": ..., "findings": [...], "results": {...} | null, "accepted_blockers": [...]}``.
    """
    ordered = sort_findings(findings)
    body = {
        "accepted_blockers": sorted(set(accepted_blockers)),
        "summary": {
            "findings": {s.value: sum(1 for f in ordered if f.severity is s) for s in Severity},
            "blockers": has_blockers(ordered),
            "problems": results.has_problems if results is not None else False,
            "excluded_by_reason": exclusions_by_reason(results) if results is not None else {},
        },
        "findings": [f.to_dict() for f in ordered],
        "results": results.to_dict() if results is not None else None,
    }
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"
