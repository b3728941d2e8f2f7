"""Pictures in reports: Mermaid diagrams written as text, and a headless browser that proves they render.

Why a package of its own, on the ground floor (beside ``kube`` and ``stacks``,
importing only ``errors``): every report akshift writes — the cutover's
``report.md``, the migration report (findings by namespace and severity,
exclusions by reason), the strategy runbook (a flowchart) and
``volumes-report.md`` (volume lineage as a graph) — draws with the same few
Mermaid forms, and each of those packages sits above this one in the layers,
so all of them use it without importing each other.

* :mod:`diagrams.mermaid` builds the diagram text (pure functions: step
  charts, stacked bars, pies, gantt timelines, flowcharts, and the escaping
  of names from clusters), so reports stay plain Markdown that
  GitHub, Azure DevOps and VS Code render as they are.
* :mod:`diagrams.browser` renders a Markdown file's Mermaid blocks in headless
  Chromium (Debian's package) with mermaid.js from the npm registry, kept in
  ``~/.cache/akshift`` by ``scripts/setup-browser`` — so a test knows the
  charts draw, not merely that the text looks right.
"""
