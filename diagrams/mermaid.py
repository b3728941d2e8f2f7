"""Mermaid diagram text for reports: step charts, value-against-threshold charts, gantt timelines.

Why text builders and not images: a report stays a Markdown file that a
reviewer reads in a pull request, a wiki or an editor, and that CI can diff;
Mermaid is drawn by GitHub, Azure DevOps and VS Code from the text itself.
Each builder is a pure function of plain numbers and labels, escaping what
Mermaid's grammar would otherwise trip on (quotes in titles, ``:``/``#``/``;``
in task names), so callers never hand-write diagram syntax. Whether the text
really draws is checked by :mod:`diagrams.browser` in a test.
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
import time
from collections.abc import Sequence

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
