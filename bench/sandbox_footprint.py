"""Measure the sandbox: warm start time of one cluster and memory at idle, with 3 and with 1,000 kwok nodes.

Not a test: prints a Markdown table for docs/sandbox.md. Run: .venv/bin/python bench/sandbox_footprint.py
"""
from __future__ import annotations

import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sandbox.cluster import LocalCluster  # noqa: E402
from sandbox.profiles import BLUE  # noqa: E402


def measure(nodes: int, settle: float) -> tuple[float, dict[str, int]]:
    with tempfile.TemporaryDirectory() as d:
        c = LocalCluster(BLUE, Path(d) / "c", nodes=nodes)
        t0 = time.monotonic()
        c.start(timeout=600)
        started = time.monotonic() - t0
        time.sleep(settle)
        rss = c.rss_bytes()
        c.stop()
        return started, rss


def main() -> None:
    print(f"machine: {platform.machine()}, {__import__('os').cpu_count()} cores, date {time.strftime('%Y-%m-%d')}\n")
    print("| kwok nodes | start (s) | etcd | kube-apiserver | controller-manager | scheduler | kwok | total |")
    print("|---|---|---|---|---|---|---|---|")
    for nodes in (3, 1000):
        started, rss = measure(nodes, settle=30)
        mib = {k: v / 2**20 for k, v in rss.items()}
        cols = [mib.get(k, 0) for k in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")]
        print(f"| {nodes} | {started:.1f} | " + " | ".join(f"{v:.0f} MiB" for v in cols) + f" | {sum(cols):.0f} MiB |")


if __name__ == "__main__":
    main()
