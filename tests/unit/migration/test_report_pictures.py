"""The pictures of the migration report, the strategy runbook and the volumes report — and that they draw.

What they pin: the migration report draws findings by namespace and severity
(blockers red on top of each stack, the worst namespaces first, the rest
folded into one bar) and excluded objects by reason (object names folded);
``akshift strategy --runbook`` draws the route decision (in-place vs a new
cluster, the other route dashed) and, for blue-green, the decisions after the
cutover (decommission, or the way back); ``volumes-report.md`` draws each
claim's lineage, source PV → disk → snapshot → new disk → green PV → claim,
with links not made yet dashed. Names from clusters — quotes, brackets,
angle brackets, ``#``, backticks, unicode — never reach Mermaid's grammar.
Every diagram is drawn in headless Chromium: the page reports no Mermaid
error, holds one ``<svg>`` per diagram with the names in it, and the
screenshot is not blank; a broken diagram fails the same check.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_volumes import GREEN, NEW_RG, SUB, claim, disk_pv, file_pv, mounts, node
from typer.testing import CliRunner

from diagrams import browser
from diagrams.mermaid import Edge, Node, escaped, flowchart, label, pie, stacked_bars
from kube.objects import ObjectRef
from migration.findings import Finding, Severity
from migration.report import Results, Status, render_markdown
from migration.report_charts import MAX_NAMESPACES, by_namespace, reason_class
from migration.volumes import DiskCopy, VolumeResult, VolumeStatus, volume_plan
from migration.volumes.report import render_markdown as render_volumes
from migration.volumes.state import CopyRecord, PvRecord, VolumeState

from support import builders as b
from support.pictures import NASTY, assert_draws

runner = CliRunner()


def finding(ns: str, severity: Severity, name: str = "web", code: str = "some-code") -> Finding:
    return Finding(code, severity, ObjectRef("apps", "Deployment", ns, name), f"{name} needs a look", "fix it")


# --------------------------------------------------------------------------- names from clusters


@pytest.mark.parametrize("text", [NASTY, 'a"b', "x#quot;y", "<script>alert(1)</script>", "`md`", "line\nbreak",
                                  "日本語 ünïcødé"],
                         ids=["everything", "quote", "an-entity-lookalike", "html", "backticks", "newline", "unicode"])
def test_a_name_from_a_cluster_cannot_reach_mermaids_grammar(text: str) -> None:
    out = escaped(text)
    assert not set(out) & set('"<>`\n')
    assert re.sub(r"#(quot|lt|gt|96|35);", "", out).count("#") == 0  # every # is the start of our own entity
    decoded = (out.replace("#quot;", '"').replace("#lt;", "<").replace("#gt;", ">").replace("#96;", "`")
               .replace("#35;", "#"))
    assert decoded == re.sub(r"\s+", " ", text).strip()  # nothing lost but line breaks


def test_flowchart_ids_are_ours_and_an_edge_to_an_undeclared_node_is_refused() -> None:
    text = flowchart([Node("a", NASTY), Node("b", "end", "round")], [Edge("a", "b", NASTY)])
    assert "    a[" + label(NASTY) + "]" in text and f'a -->|{label(NASTY)}| b' in text
    with pytest.raises(ValueError, match="undeclared"):
        flowchart([Node("a", "x")], [Edge("a", "end")])
    with pytest.raises(ValueError, match="unknown shape"):
        flowchart([Node("a", "x", "star")], [])


def test_stacked_bars_draw_running_totals_tallest_first_so_the_first_layer_is_at_the_bottom() -> None:
    from diagrams.mermaid import Line

    text = stacked_bars("t", ["a", "b"], "n", [Line("x", [1, 2]), Line("y", [3, 0]), Line("z", [1, 1])],
                        ["#111111", "#222222", "#333333"])
    assert re.findall(r"bar \[([^\]]*)\]", text) == ["5, 3", "4, 2", "1, 2"]
    assert '"plotColorPalette": "#333333, #222222, #111111"' in text


def test_a_pie_leaves_out_empty_slices_and_escapes_its_labels() -> None:
    text = pie("t", [(NASTY, 2), ("none", 0)])
    assert "none" not in text and "#quot;main#quot;" in text and " : 2" in text


# --------------------------------------------------------------------------- the migration report


def test_the_migration_report_draws_findings_by_namespace_with_blockers_on_top() -> None:
    findings = [finding("shop", Severity.BLOCKER), finding("shop", Severity.WARNING, "db"),
                finding("web", Severity.INFO), finding("web", Severity.INFO, "api"), finding("", Severity.WARNING)]
    text = render_markdown(findings, None)
    assert text.index("## At a glance") < text.index("## Findings")
    chart = browser.mermaid_blocks(text)[0]
    assert 'x-axis ["shop", "(cluster)", "web"]' in chart  # the namespace with a blocker first
    # drawn tallest first: the totals (their top is red), info + warnings (amber), info alone (blue)
    assert re.findall(r"bar \[([^\]]*)\]", chart) == ["2, 1, 2", "1, 1, 2", "0, 0, 2"]
    assert '"plotColorPalette": "#c62828, #f9a825, #1565c0"' in chart
    assert "| shop | 1 | 1 | 0 |" in text and "| web | 0 | 0 | 2 |" in text


def test_namespaces_beyond_the_chart_are_folded_into_one_bar_counting_all_of_them() -> None:
    findings = [finding(f"ns-{i:02}", Severity.WARNING) for i in range(MAX_NAMESPACES + 5)]
    findings.append(finding("ns-zz", Severity.BLOCKER))
    chart = browser.mermaid_blocks(render_markdown(findings, None))[0]
    categories = re.search(r"x-axis \[(.*)\]", chart).group(1).split(", ")
    assert len(categories) == MAX_NAMESPACES and categories[0] == '"ns-zz"' and categories[-1] == '"7 other namespaces"'
    assert re.findall(r"bar \[([^\]]*)\]", chart)[0].endswith(", 7")
    assert sum(sum(c.values()) for c in by_namespace(findings).values()) == len(findings)


def test_exclusions_are_counted_by_reason_with_object_names_folded() -> None:
    results = Results()
    for i in range(3):
        results.add(ObjectRef("", "Pod", "shop", f"web-6d4-{i}"), Status.EXCLUDED,
                    f"owned by ReplicaSet web-6d4{i}, whose controller recreates it on the target")
    results.add(ObjectRef("", "Event", "shop", "e1"), Status.EXCLUDED, "whiteout: Events are not migrated")
    results.add(ObjectRef("", "ConfigMap", "shop", "ok"), Status.CREATED)
    text = render_markdown([], results)
    assert "### Excluded objects by reason" in text
    assert "| owned by ReplicaSet, whose controller recreates it on the target | 3 |" in text
    assert "| Events are not migrated | 1 |" in text
    assert reason_class("translated to CiliumNetworkPolicy shop/deny (crd.projectcalico.org is replaced)") \
        == "translated (crd.projectcalico.org is replaced)"


def test_a_report_with_nothing_to_draw_has_no_pictures() -> None:
    results = Results()
    results.add(ObjectRef("", "ConfigMap", "shop", "ok"), Status.CREATED)
    text = render_markdown([], results)
    assert "At a glance" not in text and "```mermaid" not in text


# --------------------------------------------------------------------------- the strategy runbook


# --------------------------------------------------------------------------- volume lineage


def lineage_case() -> tuple[list, VolumeState, list[VolumeResult]]:
    """A copied disk (done and verified), a disk only planned, a shared file share and a blocked claim."""
    nasty = 'pv-"nfs"-[0]-ü'
    objects = [node(), claim(), disk_pv(), b.deployment("db", spec=mounts("data")),
               claim("logs", volume="pvc-logs"), disk_pv("pvc-logs", claim="logs"),
               claim("media", volume="pv-media", storage_class="azurefile-csi"), file_pv(),
               claim("odd", volume=nasty),
               b.obj("v1", "PersistentVolume", nasty, spec={
                   "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany"],
                   "nfs": {"server": "10.0.0.4", "path": "/exports/odd"},
                   "claimRef": {"namespace": "shop", "name": "odd"}})]
    moves = volume_plan(objects, GREEN)
    data = next(m for m in moves if m.claim == "data")
    assert isinstance(data.copy, DiskCopy)
    rec = CopyRecord(data.copy, data.copy.snapshot_id, data.copy.disk_id, data.handle, "2026-12-01T05:00:00Z")
    state = VolumeState(copies={data.key: rec},
                        pvs={data.pv_name: PvRecord(data.copy.disk_id, data.key, "2026-12-01T05:01:00Z")})
    results = [VolumeResult(data.key, data.strategy, VolumeStatus.VERIFIED, "carries it", pv=data.pv_name)]
    return moves, state, results


def test_volume_lineage_draws_each_link_solid_once_made_and_dashed_while_planned() -> None:
    moves, state, results = lineage_case()
    text = render_volumes(moves, state, results, stage="verify")
    graph = browser.mermaid_blocks(text)[0]
    keys = [m.key for m in moves]
    data, logs = keys.index("shop/data"), keys.index("shop/logs")
    assert f"c{data}src -->|\"snapshot\"| c{data}snap" in graph and f"c{data}green -->|\"binds\"| c{data}pvc" in graph
    assert f"c{logs}src -.->|\"snapshot\"| c{logs}snap" in graph and f"c{logs}disk -.->|\"handle\"| c{logs}green" in graph
    assert f'c{data}pvc(["PVC shop/data on green: verified"])' in graph
    snapshot_name = moves[data].copy.snapshot_name
    assert f"snapshot {snapshot_name} (rg {NEW_RG})" in graph and f"/subscriptions/{SUB}" not in graph
    blocked = [m for m in moves if m.blocked]
    assert blocked and "blocked: " in graph and re.search(r"class [\w,]*blocked[\w,]* problem", graph)
    assert "same share" in graph
    assert "| shop/data | copy-disk |" in text and "| verified |" in text


# --------------------------------------------------------------------------- drawn in a browser


def test_the_migration_report_with_nasty_names_renders_in_headless_chromium(tmp_path: Path) -> None:
    results = Results()
    results.add(ObjectRef("", "Pod", "shop", "p"), Status.EXCLUDED, f"whiteout: {NASTY}")
    results.add(ObjectRef("", "Event", "shop", "e"), Status.EXCLUDED, "whiteout: Events are not migrated")
    findings = [finding("shop", Severity.BLOCKER), finding("web", Severity.WARNING),
                finding("kube-system", Severity.INFO)]
    text = render_markdown(findings, results)
    assert_draws(text, tmp_path / "migration", texts=[["Findings by namespace", "shop", "kube-system"],
                                                     ['db "main" [x] {y} (z) <b>bold</b>', "Events are not migrated"]])


def test_the_volume_lineage_renders_in_headless_chromium(tmp_path: Path) -> None:
    moves, state, results = lineage_case()
    text = render_volumes(moves, state, results, stage="verify")
    assert_draws(text, tmp_path / "volumes", texts=[["PVC shop/data on green: verified", "same share",
                                                     'PV pv-"nfs"-[0]-ü on blue', "blocked: "]])


def test_a_diagram_mermaid_cannot_parse_fails_the_render_check(tmp_path: Path) -> None:
    broken = "```mermaid\nflowchart TD\n    a[\"unclosed] --> \n```\n"
    with pytest.raises(AssertionError):
        assert_draws(broken, tmp_path / "broken", texts=[["unclosed"]])
