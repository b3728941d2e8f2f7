"""``akshift strategy --runbook FILE``: the runbook as Markdown, led by a flowchart of its steps and decisions.

Why a picture: a blue-green runbook is twenty-odd steps, and the two places
where a person decides — before anything, whether the cluster needs a new
one at all (in-place vs blue-green), and after the cutover, whether green
holds (decommission blue) or not (the way back) — are what a change board
asks about first. The flowchart shows the route taken with the other route
dashed, each step numbered as in the text, irreversible steps in red, the
steps a person does by hand apart, and each decision with its yes and no.
The Markdown below it is the same runbook as ``akshift strategy`` prints.

Pure: :func:`flow` and :func:`render_markdown` take a
:class:`doctor.strategy.Strategy` and return text; the diagram's syntax is
:mod:`diagrams.mermaid`'s, which escapes every name the cluster and stack
bring (cluster names, resource groups, paths).
"""
from __future__ import annotations

from diagrams.mermaid import Edge, Node, fenced, flowchart
from doctor.strategy import Route, Step, StepKind, Strategy

#: Node styles: what a reader must tell apart at a glance.
CLASSES = {
    "irreversible": "fill:#ffebee,stroke:#c62828,stroke-width:2px,color:#b71c1c",
    "manual": "fill:#fff8e1,stroke:#f9a825",
    "check": "fill:#e8f5e9,stroke:#2e7d32",
    "wayback": "fill:#fff3e0,stroke:#ef6c00,stroke-dasharray:4 3",
    "nottaken": "fill:#f5f5f5,stroke:#9e9e9e,color:#757575,stroke-dasharray:4 3",
    "decision": "fill:#e3f2fd,stroke:#1565c0",
}
SHAPE = {StepKind.CHECK: "round", StepKind.MANUAL: "subroutine"}
NEEDS_NEW = "does the target need a new cluster?"


def _css(step: Step) -> str:
    if step.irreversible:
        return "irreversible"
    if step.way_back:
        return "wayback"
    return {StepKind.MANUAL: "manual", StepKind.CHECK: "check"}.get(step.kind, "")


def _step_text(n: int, step: Step) -> str:
    marks = " (IRREVERSIBLE)" if step.irreversible else ""
    return f"{n}. {step.title}{marks} [{step.kind.value}]"


def flow(strategy: Strategy) -> str:
    """The runbook as a Mermaid flowchart: the route decision, the steps in order, and their decisions.

    Args:
        strategy: what :func:`doctor.strategy.decide` returned.

    Returns:
        The diagram text (without the Markdown fence).
    """
    nodes = [Node("start", f"{strategy.current} → {strategy.target} (stack {strategy.stack})", "stadium")]
    edges: list[Edge] = []
    prev, pending = "start", ""  # pending: the label of the edge from prev to the next node
    if strategy.route is not Route.NOTHING:
        keys = list(dict.fromkeys(k for r in strategy.reasons for k in r.keys))  # the first reason's first
        why = ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
        nodes.append(Node("route", NEEDS_NEW, "diamond", "decision"))
        edges.append(Edge("start", "route"))
        if strategy.route is Route.BLUE_GREEN:
            nodes.append(Node("other", "in-place update by AKS: ruled out", "box", "nottaken"))
            edges.append(Edge("route", "other", "no", dashed=True))
            pending = f"yes: {why}" if why else "yes"
        else:
            nodes.append(Node("other", "new cluster (blue-green): not needed; --require-rollback plans it",
                              "box", "nottaken"))
            edges.append(Edge("route", "other", "yes", dashed=True))
            pending = "no: AKS updates it in place"
        prev = "route"
    way_back = ""
    for n, step in enumerate(strategy.steps, 1):
        sid = f"step{n}"
        nodes.append(Node(sid, _step_text(n, step), SHAPE.get(step.kind, "box"), _css(step)))
        if step.way_back:
            way_back = sid
            nodes.append(Node(f"{sid}end", "blue serves again; green stays to be looked at", "stadium", "wayback"))
            edges.append(Edge(sid, f"{sid}end"))
            continue
        if step.decision:
            ask = f"ask{n}"
            nodes.append(Node(ask, step.decision, "diamond", "decision"))
            edges.append(Edge(prev, ask, pending))
            if way_back:
                edges.append(Edge(ask, way_back, "no"))
            prev, pending = ask, "yes"
        edges.append(Edge(prev, sid, pending))
        prev, pending = sid, ""
    nodes.append(Node("done", "done", "stadium"))
    edges.append(Edge(prev, "done", pending))
    return flowchart(nodes, edges, direction="TD", classes=CLASSES)


def render_markdown(strategy: Strategy) -> str:
    """The runbook as a Markdown document: route, reasons, caveats, the flowchart, then every step.

    Args:
        strategy: what :func:`doctor.strategy.decide` returned.

    Returns:
        Markdown text ending with a newline.
    """
    lines = [f"# Runbook: {strategy.current} → {strategy.target} (stack {strategy.stack})", "",
             f"**Route: {strategy.route.value}** · storage: {strategy.storage.value} · {len(strategy.steps)} steps", "",
             "## Why", ""]
    lines += [f"- {r.message} ({', '.join(f'`{k}`' for k in r.keys)})" for r in strategy.reasons]
    if strategy.caveats:
        lines += ["", "## Caveats", ""] + [f"- {c}" for c in strategy.caveats]
    lines += ["", "## Flow", "", fenced(flow(strategy)), "",
              "_Steps are numbered as below. Red: irreversible. Double-edged: done by hand with Azure's tools. "
              "Green, rounded: a look before acting. Orange, dashed: the way back. Grey, dashed: the route not "
              "taken._", "", "## Steps", ""]
    for n, step in enumerate(strategy.steps, 1):
        marks = " — **IRREVERSIBLE**" if step.irreversible else ""
        lines += [f"### {n}. {step.title}{marks}", "", f"Kind: `{step.kind.value}`"
                  + (f" · only if: {step.decision}" if step.decision else "")
                  + (" · the way back: run it when a later question is answered no" if step.way_back else ""), ""]
        if step.command:
            lines += ["```sh", step.command, "```", ""]
        if step.why:
            lines += [step.why, ""]
    return "\n".join(lines).rstrip("\n") + "\n"


__all__ = ["CLASSES", "flow", "render_markdown"]
