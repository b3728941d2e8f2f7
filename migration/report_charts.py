"""The migration report's pictures: findings by namespace and severity, exclusions by reason.

Why a module beside :mod:`migration.report` and not inside it: the report is
a table of every finding and result, read by someone deciding whether to cut
over; these charts answer the first question first ("where are the
blockers?", "what was left out, and why?") before the tables. What the charts
count is decided here — namespaces worst first, the rest folded into one bar;
reasons with their object names folded so 300 ReplicaSets make one slice —
while the Mermaid text comes from :mod:`diagrams.mermaid` (pure builders that
escape whatever names the cluster holds). ``render_markdown`` calls
:func:`overview` once.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from diagrams.mermaid import Line, fenced, pie, stacked_bars
from migration.findings import Finding, Severity

MAX_NAMESPACES = 12  # bars drawn; the rest are one "N other namespaces" bar
MAX_REASONS = 8  # slices drawn; the rest are one "other reasons" slice
SEVERITIES = (Severity.BLOCKER, Severity.WARNING, Severity.INFO)  # worst first: the order of namespaces and tables
# Stacked bottom first: info, warnings, blockers on top. Mermaid draws a bar of 0 as a sliver a few pixels
# high, and only the bottom layer's sliver shows: it must never be a red "blocker" that is not there.
STACK = (Severity.INFO, Severity.WARNING, Severity.BLOCKER)
COLORS = ("#1565c0", "#f9a825", "#c62828")  # blue, amber, red, in STACK's order
CLUSTER = "(cluster)"

# Object names inside reasons, folded so that one reason counts once: "owned by ReplicaSet web-6d4, …"
# and "translated to CiliumNetworkPolicy shop/deny-all (…)" are one reason each, whatever the name.
_FOLDS = ((re.compile(r"^owned by (\S+) \S+,"), r"owned by \1,"),
          (re.compile(r"^translated to .*? \(([^()]*)\)$"), r"translated (\1)"),
          (re.compile(r"^(system namespace) \S+:"), r"\1:"))


def reason_class(reason: str) -> str:
    """The reason of an exclusion without the names of the objects it mentions.

    >>> reason_class("owned by ReplicaSet web-6d4, whose controller recreates it on the target")
    'owned by ReplicaSet, whose controller recreates it on the target'
    >>> reason_class("whiteout: system namespace kube-system: the target cluster has its own")
    'system namespace: the target cluster has its own'
    """
    text = reason.strip()
    rule, sep, rest = text.partition(": ")
    if sep and " " not in rule:  # "<rule>: <reason>", as verify records it
        text = rest
    for pattern, repl in _FOLDS:
        text = pattern.sub(repl, text)
    return text or "(no reason given)"


def by_namespace(findings: Iterable[Finding]) -> dict[str, Counter[Severity]]:
    """Namespace (``(cluster)`` for cluster-scoped objects) → findings per severity, worst namespaces first."""
    counts: dict[str, Counter[Severity]] = {}
    for f in findings:
        counts.setdefault(f.ref.namespace or CLUSTER, Counter())[f.severity] += 1
    return dict(sorted(counts.items(), key=lambda kv: (*(-kv[1][s] for s in SEVERITIES), kv[0])))


def _folded(counts: dict[str, Counter[Severity]]) -> dict[str, Counter[Severity]]:
    if len(counts) <= MAX_NAMESPACES:
        return counts
    names = list(counts)
    kept = {n: counts[n] for n in names[:MAX_NAMESPACES - 1]}
    rest: Counter[Severity] = Counter()
    for n in names[MAX_NAMESPACES - 1:]:
        rest.update(counts[n])
    kept[f"{len(names) - MAX_NAMESPACES + 1} other namespaces"] = rest
    return kept


Table = Callable[[list[str], Iterable[list[str]]], list[str]]


def findings_chart(findings: Sequence[Finding], table: Table) -> list[str]:
    """Markdown lines: a stacked bar per namespace (blockers on top, red) and its table; none without findings."""
    counts = _folded(by_namespace(findings))
    if not counts:
        return []
    names = list(counts)
    stacks = [Line(s.value, [counts[n][s] for n in names]) for s in STACK]
    lines = ["### Findings by namespace and severity", "",
             fenced(stacked_bars("Findings by namespace", names, "findings", stacks, COLORS)), "",
             "_Each bar stacks info (blue, bottom), warnings (amber) and blockers (red, top)._", ""]
    lines += table(["Namespace", "Blockers", "Warnings", "Info"],
                   ([n, *(str(counts[n][s]) for s in SEVERITIES)] for n in names))
    return lines + [""]


def exclusions_chart(reasons: Iterable[str]) -> list[str]:
    """Markdown lines: a pie of excluded objects by reason (names folded); none when nothing was excluded."""
    counter = Counter(reason_class(r) for r in reasons)
    if not counter:
        return []
    ordered = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    slices = ordered[:MAX_REASONS]
    rest = sum(n for _, n in ordered[MAX_REASONS:])
    if rest:
        slices.append((f"{len(ordered) - MAX_REASONS} other reasons", rest))
    # The counts as a table are the report's "Excluded by reason" section (report.exclusions_by_reason, the same
    # folding): one table, not two.
    return ["### Excluded objects by reason", "", fenced(pie(f"{sum(counter.values())} objects excluded", slices)), ""]


def overview(findings: Sequence[Finding], excluded_reasons: Iterable[str], table: Table) -> list[str]:
    """The report's pictures, in reading order (an ``## At a glance`` section); empty when there is nothing to draw.

    Args:
        findings: every finding of the report.
        excluded_reasons: the message of every excluded object.
        table: the report's table writer (header, rows → lines), so cells are escaped as in every other table.

    Returns:
        Markdown lines, each chart followed by the table it draws.
    """
    body = findings_chart(findings, table) + exclusions_chart(excluded_reasons)
    return ["## At a glance", "", *body] if body else []


__all__ = ["by_namespace", "exclusions_chart", "findings_chart", "overview", "reason_class"]
