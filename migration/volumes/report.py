"""``volumes-report.md``: where each claim's data comes from, as a lineage graph and a table.

Why: the data of a migration travels a chain nobody sees in one place —
source PV → source disk → snapshot → new disk → green PV → the claim on green
— spread over the plan (``volumes-plan.json``), the state file
(``volumes-state.json``) and green's PVs. ``akshift volumes verify`` checks
that chain link by link; this report draws it, so a reviewer sees at a glance
which claims carry copied data, which share a file share, which are blocked,
and which links exist yet (solid) or are only planned (dashed).

Pure: :func:`lineage` and :func:`render_markdown` take the plan, the state
and (after a verify) the per-claim results, and return text; the Mermaid
syntax and the escaping of names (disk ids, PV names, reasons) are
:mod:`diagrams.mermaid`'s. :mod:`migration.pipeline` rewrites the report after
``volumes plan``, ``move`` and ``verify``, each time with what is known then.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from diagrams.mermaid import Edge, Node, fenced, flowchart
from migration.report import _table  # one Markdown table writer for every migration report
from migration.volumes.model import Strategy, VolumeMove, VolumeResult, VolumeStatus
from migration.volumes.state import VolumeState

REPORT_FILE = "volumes-report.md"
MAX_CLAIMS = 40  # claims drawn; the table lists every claim
CLASSES = {
    "source": "fill:#e3f2fd,stroke:#1565c0",
    "copy": "fill:#ede7f6,stroke:#5e35b1",
    "planned": "fill:#fafafa,stroke:#9e9e9e,color:#616161,stroke-dasharray:4 3",
    "verified": "fill:#e8f5e9,stroke:#2e7d32,stroke-width:2px",
    "problem": "fill:#ffebee,stroke:#c62828,stroke-width:2px",
    "claim": "fill:#fffde7,stroke:#f9a825",
}


_ARM = re.compile(r"/resourceGroups/([^/]+)/providers/[^/]+/[^/]+/([^/]+)$", re.I)


def _short_id(arm_id: str) -> str:
    """A disk's or snapshot's ARM id as ``name (rg group)``: the subscription and provider add nothing to a picture.

    >>> _short_id("/subscriptions/s/resourceGroups/rg-1/providers/Microsoft.Compute/snapshots/db-snap")
    'db-snap (rg rg-1)'
    """
    m = _ARM.search(arm_id)
    return f"{m.group(2)} (rg {m.group(1)})" if m else arm_id


def _claim_css(result: VolumeResult | None) -> str:
    if result is None:
        return "claim"
    if result.status is VolumeStatus.VERIFIED:
        return "verified"
    return "claim" if result.ok else "problem"


def _chain(n: int, m: VolumeMove, state: VolumeState, result: VolumeResult | None) -> tuple[list[Node], list[Edge]]:
    """One claim's nodes and links; a link not made yet is dashed, its node grey."""
    p = f"c{n}"
    nodes = [Node(f"{p}pv", f"PV {m.pv_name or '(unbound)'} on blue", "box", "source")]
    claim_text = f"PVC {m.key} on green" + (f": {result.status.value}" if result is not None else "")
    claim = Node(f"{p}pvc", claim_text, "stadium", _claim_css(result))
    if m.strategy is Strategy.BLOCKED:
        nodes += [Node(f"{p}src", m.handle or m.driver, "cylinder", "source"),
                  Node(f"{p}blocked", f"blocked: {m.reason}", "box", "problem")]
        return nodes, [Edge(f"{p}pv", f"{p}src"), Edge(f"{p}src", f"{p}blocked", "not moved", dashed=True)]
    if m.strategy is Strategy.NOTHING_TO_MOVE:
        return [*nodes, claim], [Edge(f"{p}pv", f"{p}pvc", m.reason or "nothing to move", dashed=True)]
    moved = result is not None and result.ok
    if m.strategy is Strategy.SAME_SHARE:
        nodes += [Node(f"{p}share", f"share {m.handle}", "cylinder", "source"),
                  Node(f"{p}green", f"PV {m.pv_name} on green", "box", "copy" if moved else "planned"), claim]
        return nodes, [Edge(f"{p}pv", f"{p}share", "mounts"), Edge(f"{p}share", f"{p}green", "same share",
                                                                       dashed=not moved),
                       Edge(f"{p}green", f"{p}pvc", "binds", dashed=not moved)]
    rec = state.copies.get(m.key)
    planned = m.copy
    snapshot = rec.snapshot_id if rec else (planned.snapshot_id if planned else "")
    disk = rec.disk_id if rec else (planned.disk_id if planned else "")
    made = "copy" if rec else "planned"
    applied = m.pv_name in state.pvs
    nodes += [Node(f"{p}src", f"disk {_short_id(m.handle)}", "cylinder", "source"),
              Node(f"{p}snap", f"snapshot {_short_id(snapshot)}", "cylinder", made),
              Node(f"{p}disk", f"disk {_short_id(disk)}", "cylinder", made),
              Node(f"{p}green", f"PV {m.pv_name} on green", "box", "copy" if applied else "planned"), claim]
    edges = [Edge(f"{p}pv", f"{p}src", "mounts"), Edge(f"{p}src", f"{p}snap", "snapshot", dashed=rec is None),
             Edge(f"{p}snap", f"{p}disk", "new disk", dashed=rec is None),
             Edge(f"{p}disk", f"{p}green", "handle", dashed=not applied),
             Edge(f"{p}green", f"{p}pvc", "binds", dashed=not moved)]
    return nodes, edges


def lineage(moves: Sequence[VolumeMove], state: VolumeState,
            results: Mapping[str, VolumeResult] | None = None) -> str:
    """The lineage graph of every claim (at most :data:`MAX_CLAIMS`): a chain from blue's PV to green's claim.

    Args:
        moves: the volume plan.
        state: what the move has done (copies made, PVs applied).
        results: claim key → its latest move or verify result, when there is one.

    Returns:
        The diagram text (without the Markdown fence).
    """
    nodes: list[Node] = []
    edges: list[Edge] = []
    for n, m in enumerate(moves[:MAX_CLAIMS]):
        ns, es = _chain(n, m, state, (results or {}).get(m.key))
        nodes += ns
        edges += es
    return flowchart(nodes, edges, direction="LR", classes=CLASSES)


def render_markdown(moves: Sequence[VolumeMove], state: VolumeState,
                    results: Sequence[VolumeResult] = (), *, stage: str = "plan") -> str:
    """``volumes-report.md``: a summary, the lineage graph and one row per claim.

    Args:
        moves: the volume plan.
        state: the run's volume state (empty before a move).
        results: the latest per-claim results (of ``move`` or ``verify``), if any.
        stage: which command wrote it (``plan``, ``move``, ``verify``).

    Returns:
        Markdown text ending with a newline.
    """
    by_key = {r.key: r for r in results}
    counts: dict[str, int] = {}
    for m in moves:
        counts[m.strategy.value] = counts.get(m.strategy.value, 0) + 1
    lines = [f"# akshift volumes ({stage})", "",
             f"**{len(moves)} claims: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none")
             + f"** · {len(state.copies)} disk copies made · {len(state.pvs)} green PVs applied"
             + (f" · rolled back at {state.rolled_back_at}" if state.rolled_back_at else ""), ""]
    if moves:
        lines += ["## Lineage", "", fenced(lineage(moves, state, by_key)), "",
                  "_Solid: a link that exists (recorded in volumes-state.json or checked by verify). Dashed, grey: "
                  "planned, not made yet. Green: verified. Red: blocked or not carrying the source's data._", ""]
        if len(moves) > MAX_CLAIMS:
            lines += [f"_The graph draws the first {MAX_CLAIMS} claims; the table lists all {len(moves)}._", ""]
        rows = []
        for m in moves:
            rec = state.copies.get(m.key)
            r = by_key.get(m.key)
            copy = rec.disk_id if rec else (f"planned: {m.copy.disk_id}" if m.copy else "")
            rows.append([m.key, m.strategy.value, m.handle, copy, r.status.value if r else "planned",
                         r.message if r and r.message else m.reason])
        lines += ["## Claims", "", *_table(["Claim", "Strategy", "Source", "Copy", "Status", "Why"], rows)]
    return "\n".join(lines).rstrip("\n") + "\n"


__all__ = ["REPORT_FILE", "lineage", "render_markdown"]
