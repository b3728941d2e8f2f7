"""The strategy runbook's flowchart — what it draws, and that it draws.

``akshift strategy --runbook`` draws the route decision (in-place vs a new cluster, the other route
dashed) and, for blue-green, the decisions after the cutover (decommission, or the way back); names from
the user's stack and kubeconfig never reach Mermaid's grammar; the chart renders in headless Chromium.
"""
from __future__ import annotations

import re
from pathlib import Path

from test_strategy import NEW_NAME, current, target
from typer.testing import CliRunner

from diagrams import browser
from doctor.runbook import flow
from doctor.runbook import render_markdown as render_runbook
from doctor.strategy import Route, RunbookNames, Storage, decide

from support.pictures import NASTY, assert_draws

runner = CliRunner()


NASTY_NAMES = RunbookNames(stack=NASTY, source_kubeconfig='~/kube "blue" [x]/ünï.yaml',
                           source_context="ctx <admin> #1")


def test_a_blue_green_runbook_draws_the_route_decision_and_the_way_back_after_the_cutover() -> None:
    s = decide(current(), target(name=NEW_NAME), rollback_required=True, names=NASTY_NAMES, storage=Storage.PRESENT)
    assert s.route is Route.BLUE_GREEN
    text = flow(s)
    assert 'route{"does the target need a new cluster?"}' in text
    assert 'route -.->|"no"| other' in text and "in-place update by AKS: ruled out" in text
    assert re.search(r'route -->\|"yes: --require-rollback[^"]*"\| step1', text)
    back = next(n for n, st in enumerate(s.steps, 1) if st.way_back)
    asks = re.findall(rf"(ask\d+) -->\|\"no\"\| step{back}\b", text)
    assert len(asks) == 2  # the cutover did not reach 100%, or green did not hold through the soak
    decommission = next(n for n, st in enumerate(s.steps, 1) if st.command.startswith("akshift decommission"))
    assert re.search(rf'{asks[1]} -->\|"yes"\| step{decommission}\b', text)
    assert f"step{back} --> step{back}end" in text  # the way back leads out, not on to the next step
    assert not re.search(rf"step{back} --> step{back + 1}\b", text)


def test_an_in_place_runbook_draws_the_other_route_dashed_and_its_irreversible_steps_red() -> None:
    s = decide(current(), target(), names=RunbookNames(stack="prod"))
    assert s.route is Route.IN_PLACE
    text = flow(s)
    assert 'route -.->|"yes"| other' in text and 'route -->|"no: AKS updates it in place"| step1' in text
    red = re.search(r"class ([\w,]+) irreversible", text).group(1).split(",")
    assert red == [f"step{n}" for n, st in enumerate(s.steps, 1) if st.irreversible] and red
    assert "wayback" not in text


def test_strategy_writes_the_runbook_with_its_flowchart_when_asked(tmp_path: Path) -> None:
    from test_strategy import FIXTURES, PROD

    from akshift.cli import app

    out = tmp_path / "runbook.md"
    result = runner.invoke(app, ["strategy", "--stack-file", str(PROD), "--arm", str(FIXTURES / "kubenet-prod.json"),
                                 "--runbook", str(out)])
    assert result.exit_code == 0, result.output
    assert f"→ {out}" in result.output
    text = out.read_text()
    assert text.startswith("# Runbook: kubenet → ") and len(browser.mermaid_blocks(text)) == 1
    assert "## Steps" in text and "```sh\naz aks update" in text


def test_the_runbook_flowchart_renders_in_headless_chromium(tmp_path: Path) -> None:
    s = decide(current(), target(name=NEW_NAME), rollback_required=True, names=NASTY_NAMES, storage=Storage.PRESENT)
    text = render_runbook(s)
    assert_draws(text, tmp_path / "runbook", texts=[[f"(stack {NASTY})", "does the target need a new cluster?", "ruled out",
                                                     "the way back, until decommission", "green healthy through"]])
