"""Mermaid diagram text for reports: step charts, stacked bars, pies, gantt timelines, flowcharts.

Why text builders and not images: a report stays a Markdown file that a
reviewer reads in a pull request, a wiki or an editor, and that CI can diff;
Mermaid is drawn by GitHub, Azure DevOps and VS Code from the text itself.
Each builder is a pure function of plain numbers and labels, so callers never
hand-write diagram syntax. Names that come from clusters and Azure (object
names, disk ids, exclusion reasons) go through :func:`escaped`/:func:`label`,
which write everything Mermaid's grammars would read (quotes, ``#``, angle
brackets, backticks) as Mermaid entity codes; node ids are always our own
(``step3``, ``c0pv``: the callers'), never a name. Whether the text really draws is checked by
:mod:`diagrams.browser` in a test.
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
import time
from collections.abc import Mapping, Sequence

# Mermaid's xychart evenly spaces a series over the x axis; a step function is drawn as this many
# samples, enough that a change of weight looks like a vertical edge at report widths.
STEP_SAMPLES = 100


def fenced(diagram: str) -> str:
    """A Markdown fenced block that renderers draw as Mermaid."""
    return f"```mermaid\n{diagram.rstrip()}\n```"


def quoted(text: str) -> str:
    """A double-quoted Mermaid string (titles, axis labels): quotes become single quotes, no newlines.

    >>> quoted('green "canary" weight')
    '"green \\'canary\\' weight"'
    """
    return '"' + re.sub(r"\s+", " ", text.replace('"', "'")).strip() + '"'


def task_name(text: str) -> str:
    """A gantt task or section name: ``:``, ``;`` and ``#`` would end or break it in Mermaid's grammar.

    >>> task_name("gate http:https://green/healthz #1; failed")
    'gate http https //green/healthz no.1, failed'
    """
    return re.sub(r"\s+", " ", text.replace(":", " ").replace(";", ",").replace("#", "no.")).strip()


def _number(v: float) -> str:
    return f"{v:.6g}"


def sample_steps(changes: Sequence[tuple[float, float]], start: float, end: float,
                 samples: int = STEP_SAMPLES) -> list[float]:
    """A step function (value holds from each change until the next) sampled evenly over [start, end].

    Before the first change the value is the first change's. An empty ``changes`` gives no samples.

    >>> sample_steps([(0, 0), (10, 50), (20, 100)], 0, 30, samples=4)
    [0, 50, 100, 100]
    """
    if not changes:
        return []
    ordered = sorted(changes)
    span = max(end - start, 0.0)
    out = []
    for i in range(samples):
        t = start + span * i / max(samples - 1, 1)
        value = ordered[0][1]
        for at, v in ordered:
            if at <= t + 1e-9:
                value = v
            else:
                break
        out.append(value)
    return out


@dataclasses.dataclass(frozen=True)
class Line:
    """One line of an xychart: a name (for the legend written under the chart) and its values."""

    name: str
    values: Sequence[float]


def xychart(title: str, x_label: str, x_range: tuple[float, float], y_label: str, y_range: tuple[float, float],
            lines: Sequence[Line], colors: Sequence[str] = ()) -> str:
    """An ``xychart-beta`` with a numeric x axis and one ``line`` per series (values evenly spaced over x).

    ``colors`` (``#rrggbb``, one per line, in order) are set with an init directive; Mermaid's
    default palette draws a second line almost white.

    >>> print(xychart("w", "seconds", (0, 60), "%", (0, 100), [Line("green", [0, 100])], ["#2e7d32"]))
    %%{init: {"themeVariables": {"xyChart": {"plotColorPalette": "#2e7d32"}}}}%%
    xychart-beta
        title "w"
        x-axis "seconds" 0 --> 60
        y-axis "%" 0 --> 100
        line [0, 100]
    """
    lo, hi = x_range
    if hi <= lo:
        hi = lo + 1
    ylo, yhi = y_range
    if yhi <= ylo:
        yhi = ylo + 1
    out = []
    if colors:
        palette = {"themeVariables": {"xyChart": {"plotColorPalette": ", ".join(colors)}}}
        out.append(f"%%{{init: {json.dumps(palette)}}}%%")
    out += ["xychart-beta", f"    title {quoted(title)}",
            f"    x-axis {quoted(x_label)} {_number(lo)} --> {_number(hi)}",
            f"    y-axis {quoted(y_label)} {_number(ylo)} --> {_number(yhi)}"]
    for line in lines:
        values = [0.0 if (v is None or math.isnan(v)) else v for v in line.values]
        out.append(f"    line [{', '.join(_number(v) for v in values)}]")
    return "\n".join(out)


@dataclasses.dataclass(frozen=True)
class Task:
    """A gantt bar (``end`` > ``start``) or milestone (``milestone=True``) in wall-clock seconds.

    Attributes:
        tags: Mermaid task tags: ``done``, ``active``, ``crit`` (drawn green-grey, blue, red by default).
    """

    name: str
    start: float
    end: float
    tags: tuple[str, ...] = ()
    milestone: bool = False


def _clock(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))


def gantt(title: str, sections: Sequence[tuple[str, Sequence[Task]]]) -> str:
    """A ``gantt`` timeline of wall-clock seconds, written and labelled in UTC (hours:minutes:seconds).

    >>> print(gantt("t", [("steps", [Task("step 1", 100, 130, ("done",)), Task("rollback", 130, 130, ("crit",),
    ...                                                                    milestone=True)])]))
    gantt
        title t
        dateFormat YYYY-MM-DD HH:mm:ss
        axisFormat %H:%M:%S
        todayMarker off
        section steps
        step 1 :done, t0, 1970-01-01 00:01:40, 1970-01-01 00:02:10
        rollback :crit, milestone, t1, 1970-01-01 00:02:10, 1970-01-01 00:02:10
    """
    out = ["gantt", f"    title {task_name(title)}", "    dateFormat YYYY-MM-DD HH:mm:ss", "    axisFormat %H:%M:%S",
           "    todayMarker off"]
    n = 0
    for section, tasks in sections:
        if not tasks:
            continue
        out.append(f"    section {task_name(section)}")
        for t in tasks:
            tags = list(t.tags) + (["milestone"] if t.milestone else [])
            end = t.start if t.milestone else max(t.end, t.start + 1)
            out.append(f"    {task_name(t.name)} :{', '.join([*tags, f't{n}'])}, {_clock(t.start)}, {_clock(end)}")
            n += 1
    return "\n".join(out)


# --------------------------------------------------------------------------- text from clusters

def escaped(text: str) -> str:
    """``text`` with everything Mermaid's grammars would read written as Mermaid entity codes, on one line.

    Names come from clusters and Azure (object names, disk ids, exclusion reasons), so nothing in
    them may reach Mermaid's grammar: ``#`` first (Mermaid decodes ``#name;`` entities in flowchart,
    pie and xychart text alike), then the quote, angle brackets (HTML, which strict mode would strip),
    backticks (they start a Markdown string) and newlines; brackets, braces, pipes and unicode are
    safe inside quotes.

    >>> escaped('db "main" <a> `x` #1')
    'db #quot;main#quot; #lt;a#gt; #96;x#96; #35;1'
    """
    out = text.replace("#", "#35;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
    return re.sub(r"\s+", " ", out.replace("`", "#96;")).strip()


def label(text: str) -> str:
    """A double-quoted label (flowchart nodes and edges, chart categories) showing ``text`` as it is.

    >>> label('a "b" [c]')
    '"a #quot;b#quot; [c]"'
    """
    return '"' + escaped(text) + '"'


def short(text: str, limit: int = 60) -> str:
    """``text`` on one line, cut to ``limit`` characters with ``…`` (chart labels have no room to wrap).

    >>> short("owned by ReplicaSet web-6d4, whose controller", 20)
    'owned by ReplicaSet…'
    """
    out = re.sub(r"\s+", " ", text).strip()
    return out if len(out) <= limit else out[:limit - 1].rstrip() + "…"


# --------------------------------------------------------------------------- bar and pie charts

def stacked_bars(title: str, categories: Sequence[str], y_label: str, stacks: Sequence[Line],
                 colors: Sequence[str]) -> str:
    """A bar chart whose bars are stacks, bottom first, drawn with Mermaid's overlapping ``bar`` series.

    ``xychart-beta`` has no stacked bars, but draws each ``bar`` series over the previous one at the
    same place: so the running totals are drawn tallest first (the top of the stack, in the last
    color), down to the bottom layer alone (the first color). ``colors`` go with ``stacks``.

    >>> print(stacked_bars("f", ["a", "b"], "n", [Line("blocker", [1, 0]), Line("info", [2, 3])],
    ...                    ["#c62828", "#1565c0"]))
    %%{init: {"themeVariables": {"xyChart": {"plotColorPalette": "#1565c0, #c62828"}}}}%%
    xychart-beta
        title "f"
        x-axis ["a", "b"]
        y-axis "n" 0 --> 3
        bar [3, 3]
        bar [1, 0]
    """
    totals: list[list[float]] = []
    running = [0.0] * len(categories)
    for layer in stacks:
        running = [r + (v or 0) for r, v in zip(running, layer.values, strict=True)]
        totals.append(running)
    top = max((max(t) for t in totals if t), default=0) or 1
    palette = {"themeVariables": {"xyChart": {"plotColorPalette": ", ".join(reversed(list(colors)))}}}
    out = [f"%%{{init: {json.dumps(palette)}}}%%", "xychart-beta", f"    title {quoted(title)}",
           f"    x-axis [{', '.join(label(short(c, 24)) for c in categories)}]",
           f"    y-axis {quoted(y_label)} 0 --> {_number(top)}"]
    out += [f"    bar [{', '.join(_number(v) for v in t)}]" for t in reversed(totals)]
    return "\n".join(out)


def pie(title: str, slices: Sequence[tuple[str, float]]) -> str:
    """A ``pie`` chart with its values shown (``showData``); slices of zero are left out.

    >>> print(pie('why "excluded"', [("Events", 3), ("none", 0)]))
    pie showData
        title why #quot;excluded#quot;
        "Events" : 3
    """
    out = ["pie showData", f"    title {escaped(title)}"]
    out += [f"    {label(short(name))} : {_number(v)}" for name, v in slices if v > 0]
    return "\n".join(out)


# --------------------------------------------------------------------------- flowcharts

#: Node shapes: Mermaid's brackets around a label.
SHAPES = {"box": ("[", "]"), "round": ("(", ")"), "stadium": ("([", "])"), "diamond": ("{", "}"),
          "cylinder": ("[(", ")]"), "subroutine": ("[[", "]]"), "hexagon": ("{{", "}}")}


@dataclasses.dataclass(frozen=True)
class Node:
    """A flowchart node: an id of our own (never a name from a cluster), its label, shape and class."""

    id: str
    text: str
    shape: str = "box"
    css: str = ""


@dataclasses.dataclass(frozen=True)
class Edge:
    """An arrow from ``src`` to ``dst`` (node ids), with an optional label; ``dashed`` for a way not taken."""

    src: str
    dst: str
    text: str = ""
    dashed: bool = False


def flowchart(nodes: Sequence[Node], edges: Sequence[Edge], *, direction: str = "TD",
              classes: Mapping[str, str] | None = None) -> str:
    """A ``flowchart``: nodes, edges and class styles (``classDef``), every label escaped by :func:`label`.

    Args:
        nodes: the nodes, in the order they are declared.
        edges: arrows between node ids.
        direction: ``TD`` (top down) or ``LR`` (left to right).
        classes: class name → Mermaid style (``fill:#fdd,stroke:#c62828``) for nodes' ``css``.

    Returns:
        The diagram text.

    Raises:
        ValueError: an edge names a node that is not declared, or a shape is unknown.

    >>> print(flowchart([Node("a", "start", "stadium"), Node("b", 'ok "now"?', "diamond", "ask")],
    ...                 [Edge("a", "b", "then")], classes={"ask": "fill:#eee"}))
    flowchart TD
        a(["start"])
        b{"ok #quot;now#quot;?"}
        a -->|"then"| b
        classDef ask fill:#eee
        class b ask
    """
    ids = {n.id for n in nodes}
    out = [f"flowchart {direction}"]
    for n in nodes:
        if n.shape not in SHAPES:
            raise ValueError(f"node {n.id}: unknown shape {n.shape!r} (one of {', '.join(SHAPES)})")
        opening, closing = SHAPES[n.shape]
        out.append(f"    {n.id}{opening}{label(n.text)}{closing}")
    for e in edges:
        if e.src not in ids or e.dst not in ids:
            raise ValueError(f"edge {e.src} → {e.dst} names an undeclared node")
        arrow = "-.->" if e.dashed else "-->"
        out.append(f"    {e.src} {arrow}{f'|{label(e.text)}|' if e.text else ''} {e.dst}")
    for name, style in (classes or {}).items():
        members = [n.id for n in nodes if n.css == name]
        if members:
            out.append(f"    classDef {name} {style}")
            out.append(f"    class {','.join(members)} {name}")
    return "\n".join(out)
