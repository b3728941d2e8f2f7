"""Benchmark a cutover step's overhead beyond its hold, with a real HAProxy (target: at most 1 s per step).

Not a test (no assertions): prints a Markdown table for docs/cutover.md. Two loopback backends ("blue" and
"green", sandbox.loopback) behind a local HAProxy (sandbox.haproxy), a bounded load generator sending
requests through it, and `akshift cutover` run as its own process, as a user runs it, with an http gate
and an errors gate on green. A step costs its hold (chosen by the user) plus what akshift adds: setting
the weights through HAProxy's runtime API, persisting the state, evaluating the gates once more at the end
of the hold, writing the event lines. That overhead is read from the run's own event log
(``<state-dir>/events.jsonl``): the time between two ``weights_set`` events minus the hold. The first
step's "before" (preflight: verify report, gates that must answer, the router's current weights) is
shown apart, as is the whole run's wall time.

Usage: .venv/bin/python bench/cutover_overhead.py [--hold 2s] [--steps 0,10,25,50,75,100] [--runs 3]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cutover.plan import parse_duration  # noqa: E402
from cutover.store import CutoverStore  # noqa: E402
from migration.sync.engine import percentile  # noqa: E402
from sandbox.cluster import free_port  # noqa: E402
from sandbox.haproxy import LocalHaproxy, LocalRouterConfig  # noqa: E402
from sandbox.loopback import Backend, LoadGenerator  # noqa: E402


def one_run(root: Path, steps: str, hold: str, interval: str) -> dict[str, float]:
    """One cutover from blue to green; the per-step overhead beyond the hold, from the run's events."""
    blue, green = Backend("blue").start(), Backend("green").start()
    port, socket, state_file = free_port(), root / "admin.sock", root / "servers.state"
    cfg = LocalRouterConfig(f"127.0.0.1:{port}", (("blue", blue.address), ("green", green.address)),
                            (("blue", 100), ("green", 0)), socket, state_file)
    haproxy = LocalHaproxy(cfg, root / "haproxy").start()
    verify = root / "verify.json"
    verify.write_text(json.dumps({"ok": True, "unaccounted": [], "not_ready": [], "blocking_findings": 0}))
    state = root / "state"
    args = [sys.executable, "-m", "akshift.cli", "cutover", "--from", "blue", "--to", "green", "--steps", steps,
            "--hold", hold, "--gate-interval", interval,
            "--gate", f"http:{green.url}/healthz,p95=1s,samples=5,name=green-health",
            "--gate", f'errors:{green.url}/metrics,total=http_requests_total,'
                      'failed=http_requests_total{code=~"5.."},max=1%,name=green-errors',
            "--router", "haproxy", "--haproxy-socket", str(socket), "--haproxy-state-file", str(state_file),
            "--verify-report", str(verify), "--state-dir", str(state), "--no-sync-check", "--no-freeze",
            "-o", "json"]
    load = LoadGenerator(port, workers=2, max_seconds=600, pause=0.02).start()  # light: the machine is shared
    try:
        t0 = time.monotonic()
        done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600,
                              env={**os.environ, "COLUMNS": "300"})
        wall = time.monotonic() - t0
    finally:
        hits = load.stop()
        haproxy.stop()
        blue.stop()
        green.stop()
    if done.returncode != 0:
        raise SystemExit(f"the cutover failed (exit {done.returncode}): {done.stderr[-2000:]}")
    events = CutoverStore(state).events()
    started = next(e["ts"] for e in events if e["event"] == "started")
    sets = [e["ts"] for e in events if e["event"] == "weights_set"]
    hold_s = parse_duration(hold)
    gaps = [b - a - hold_s for a, b in zip(sets, sets[1:], strict=False)]
    return {"steps": len(sets), "wall": wall, "before_first": sets[0] - started,
            "p50": percentile(gaps, 50) or 0.0, "max": max(gaps, default=0.0),
            "requests": len(hits), "failed_requests": sum(1 for h in hits if not h.ok)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hold", default="2s")
    parser.add_argument("--gate-interval", default="1s")
    parser.add_argument("--steps", default="0,10,25,50,75,100")
    parser.add_argument("--runs", type=int, default=3)
    a = parser.parse_args()
    print(f"cutover step overhead beyond the hold ({platform.python_version()}, {os.cpu_count()} CPUs, "
          f"steps {a.steps}, hold {a.hold}, gate interval {a.gate_interval}, HAProxy)\n")
    print("| run | steps | wall s | preflight → first weights s | overhead/step p50 s | max s | requests (failed) |")
    print("|---|---|---|---|---|---|---|")
    for i in range(a.runs):
        with tempfile.TemporaryDirectory(prefix="akshift-bench-cutover-") as tmp:
            r = one_run(Path(tmp), a.steps, a.hold, a.gate_interval)
        print(f"| {i + 1} | {r['steps']} | {r['wall']:.2f} | {r['before_first']:.3f} | {r['p50']:.3f} | "
              f"{r['max']:.3f} | {r['requests']} ({r['failed_requests']}) |", flush=True)
    print("\ntarget: overhead per step ≤ 1 s (issue 16)")


if __name__ == "__main__":
    main()
