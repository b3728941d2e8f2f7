"""What people see of a cutover: status, event lines, the live hold view, durations, and the report drawn in Chromium.

What they pin: ``cutover status`` reads phase, step, weights, time left in
the hold and the last gate values from the state directory alone (JSON with
``schemaVersion``); no line a person reads is a Python dict repr; the live
view counts down and shows the weights and the last gate results; one
duration syntax parses and formats both ways; ``report.md`` draws weights as
a step chart, gate values against thresholds and markers for rollback and
resume — and those diagrams really render in headless Chromium (the DOM holds
one ``<svg>`` per diagram with the series drawn, no Mermaid syntax error, and
the screenshot is not blank).
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_cutover import Clock, Effects, FakeGates, FakeRouter, Killed, plan, session

from cutover import engine, runner
from cutover.engine import GateResult, Phase
from cutover.errors import PlanError
from cutover.plan import format_duration, parse_duration
from cutover.report import render_report
from cutover.status import describe_event, render_hold, render_status, status
from cutover.store import CutoverStore
from diagrams import browser

from support.pictures import png_pixels

DICT_REPR = re.compile(r"\{'|': |\[\{|\{\"")


# --------------------------------------------------------------------------- one duration syntax


@pytest.mark.parametrize("text,seconds", [("90s", 90.0), ("5m", 300.0), ("1h30m", 5400.0), ("24h", 86400.0),
                                          ("2d12h", 216000.0), ("1m30.5s", 90.5), ("500ms", 0.5), ("45", 45.0)],
                         ids=["seconds", "minutes", "hours-and-minutes", "a-day", "days-and-hours",
                              "fractional-seconds", "milliseconds", "bare-seconds"])
def test_every_duration_option_reads_one_syntax(text: str, seconds: float) -> None:
    assert parse_duration(text, "--soak") == seconds


@pytest.mark.parametrize("text,message", [("5 minutes", "is not a duration"), ("30m1h", "largest to smallest"),
                                          ("1h1h", "largest to smallest"), ("", "is not a duration"),
                                          ("-5m", "is not a duration")],
                         ids=["words", "wrong-order", "repeated-unit", "empty", "negative"])
def test_a_malformed_duration_is_refused_naming_the_option(text: str, message: str) -> None:
    with pytest.raises(PlanError) as e:
        parse_duration(text, "--health-window")
    assert message in str(e.value) and "--health-window" in str(e.value) and e.value.exit_code == 2


@given(st.integers(0, 30 * 86400))
def test_a_formatted_duration_parses_back_to_the_same_minute(seconds: int) -> None:
    back = parse_duration(format_duration(seconds))
    assert abs(back - seconds) < 60 if seconds >= 3600 else back == seconds


# --------------------------------------------------------------------------- a run to look at


class GatesWithThreshold(FakeGates):
    """The fakes' verdicts, with the p95 limit (300 ms) a real http gate reports alongside its value."""

    def evaluate(self) -> list[GateResult]:
        return [dataclasses.replace(r, threshold=0.3) for r in super().evaluate()]


def failing_run_with_a_resume(tmp: Path) -> CutoverStore:
    """A cutover that is killed during its 10% hold, resumed, and rolled back when green fails at 50%."""
    def verdict(g: int) -> bool:
        return g < 50

    p = plan(hold_seconds=4.0, gate_interval_seconds=2.0)
    clock = Clock()
    effects = Effects(kill_at=16)  # an evaluation in the 10% hold
    router = FakeRouter(effects)
    s = session(tmp, verdict, effects, router, clock)
    s.gates = GatesWithThreshold(router, effects, verdict)
    s.store.log("preflight", checks=[])
    with pytest.raises(Killed):
        runner.drive(s.save(engine.start(p, s.clock())), s)
    s2 = session(tmp, verdict, Effects(), router, clock)
    s2.gates = GatesWithThreshold(router, Effects(), verdict)
    final = runner.drive(runner.resume(s2), s2)
    assert final.phase is Phase.ROLLED_BACK
    return s2.store


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CutoverStore:
    clock = iter(range(1_700_000_000, 1_800_000_000, 3))
    monkeypatch.setattr("cutover.store.time.time", lambda: float(next(clock)))  # log times advance 3 s per event
    return failing_run_with_a_resume(tmp_path)


# --------------------------------------------------------------------------- status


def test_status_reads_phase_step_weights_time_left_and_last_gates_from_the_state_dir(tmp_path: Path) -> None:
    s = session(tmp_path, lambda g: True, Effects())
    state = s.save(engine.weights_applied(engine.start(plan(), 1000.0), 1000.0))
    s.store.log("hold", step=0, green=0, seconds=60.0)
    hold_ts = s.store.events()[-1]["ts"]
    s.store.log("gate", step=0, green=0, **GateResult("green-health", True, "5/5 ok, p95 12ms", 0.012, 0.3).to_dict())
    doc = status(state, s.store.events(), now=hold_ts + 20, running=True)
    assert doc["schemaVersion"] == 1
    assert (doc["phase"], doc["step"], doc["weights"]) == ("holding", {"index": 0, "of": 4, "green": 0},
                                                         {"blue": 100, "green": 0})
    assert doc["hold"]["secondsLeft"] == pytest.approx(40, abs=0.2)
    assert doc["gates"] == [{"gate": "green-health", "ok": True, "detail": "5/5 ok, p95 12ms", "value": 0.012,
                             "threshold": 0.3, "step": 0, "at": doc["gates"][0]["at"]}]
    text = render_status(doc)
    assert "hold: 40s left of 1m00s" in text and "ok   green-health: 5/5 ok" in text
    assert not DICT_REPR.search(text)


def test_status_of_a_hold_nobody_drives_says_how_to_go_on(tmp_path: Path) -> None:
    s = session(tmp_path, lambda g: True, Effects())
    state = s.save(engine.weights_applied(engine.start(plan(), 1000.0), 1000.0))
    s.store.log("hold", step=0, green=0, seconds=60.0)
    text = render_status(status(state, s.store.events(), now=1e12, running=s.store.running()))
    assert "interrupted: no process drives this cutover" in text and "--resume" in text


def test_the_state_dir_lock_tells_whether_a_process_drives_the_cutover(tmp_path: Path) -> None:
    store = CutoverStore(tmp_path)
    assert not store.running()
    with store.locked():
        assert CutoverStore(tmp_path).running()
    assert not store.running()


# --------------------------------------------------------------------------- lines for people


def test_every_event_line_and_the_summary_are_sentences_not_dict_reprs(store: CutoverStore) -> None:
    lines = [line for e in store.events() if (line := describe_event(e)) is not None]
    kinds = {e["event"] for e in store.events()}
    assert {"weights_set", "step", "rolled_back", "resumed"} <= kinds
    assert any(line.startswith("rolled back: blue 100%, green 0% (gate") for line in lines)
    assert any(line.startswith("resumed: shifting step") for line in lines)
    for line in lines + runner.render_summary(store.load()).splitlines():
        assert not DICT_REPR.search(line), line


def test_the_live_view_counts_down_the_hold_with_weights_and_the_last_gate_results(tmp_path: Path) -> None:
    views: list[Any] = []
    s = session(tmp_path, lambda g: True, Effects())
    s.tick = views.append
    runner.drive(s.save(engine.start(plan((0, 100), hold_seconds=6.0, gate_interval_seconds=2.0), s.clock())), s)
    first = [v for v in views if v.step == 0]
    assert first[0].seconds_left == 6.0 and first[0].results == ()
    assert [v.seconds_left for v in first] == sorted((v.seconds_left for v in first), reverse=True)
    assert any(v.results and v.results[0].ok for v in first)
    head, *gates = render_hold(first[-1])
    assert head.startswith("step 1/2 · blue 100%, green 0% · ") and "left of 6s" in head
    assert gates and gates[0].startswith("  ok   http:")


# --------------------------------------------------------------------------- the report


def test_the_report_draws_weights_holds_markers_and_gates_against_thresholds(store: CutoverStore) -> None:
    text = render_report(store.load(), store.events())
    blocks = browser.mermaid_blocks(text)
    assert len(blocks) == 3  # weights, timeline, the one gate
    weights, timeline, gate = blocks
    green = [int(v) for v in re.search(r"line \[([^\]]*)\]", weights).group(1).split(", ")]
    assert green[0] == 0 and max(green) == 50 and green[-1] == 0
    assert [green[i] for i in sorted({green.index(v) for v in green})] == [0, 10, 50]  # steps, in order
    assert "xychart-beta" in weights and "#2e7d32" in weights
    assert "step 2 (10%) interrupted :active" in timeline  # the kill
    assert "step 3 (50%) failed :crit" in timeline
    assert re.search(r"rollback :crit, milestone", timeline) and re.search(r"resume :active, milestone", timeline)
    assert "measured against its threshold" in gate and "error rate" not in gate and "p95 latency (ms)" in gate
    assert re.search(r"line \[(\d+(\.\d+)?, )*\d+(\.\d+)?\]\n    line \[300, 300", gate)  # p95 ms vs 300 ms limit
    assert "| 3 | 50% | failed |" in text




def test_the_report_renders_in_headless_chromium_with_every_chart_drawn(store: CutoverStore, tmp_path: Path) -> None:
    text = render_report(store.load(), store.events())
    out = browser.render(text, tmp_path / "render", height=2600)
    dom = out.dom
    assert 'data-mermaid="done"' in dom, re.findall(r'data-error="[^"]*"', dom)
    assert "Syntax error" not in dom
    svgs = re.findall(r"<svg[^>]*>.*?</svg>", dom, re.S)
    assert len(svgs) == len(browser.mermaid_blocks(text)) == 3
    weights, timeline, gate = svgs
    assert weights.count("<path") >= 2 and "green and blue weights" in weights  # both weight lines drawn
    assert "step 3 (50%) failed" in timeline
    assert re.search(r">rollback\s*</text>", timeline) and re.search(r">resume\s*</text>", timeline)
    assert "measured against its threshold" in gate
    width, height, raw = png_pixels(out.png)
    assert (width, height) == (1200, 2600)
    dark = sum(1 for b in raw[::97] if b < 200)
    assert dark > len(raw[::97]) * 0.002, "the screenshot is blank"
