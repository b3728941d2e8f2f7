"""Benchmark `akshift sync`: lag from a change on blue to the change on green, at 10 and 100 changes per second.

Not a test (no assertions): prints a Markdown table for docs/migration.md. One blue and one green sandbox
cluster, migrated with `akshift migrate`; `akshift sync` runs as its own process, as a user would run it.
For each rate a paced writer updates ConfigMaps on blue (server-side apply, each change a new value), for
``--seconds`` seconds. The lag is measured outside akshift, end to end: from the moment blue answered the
write to the moment a watch on green delivers the new value (the same machine's clock on both ends), so
it includes blue's watch delivery, the transform, the apply and green's watch delivery. The sync's own
figure (``sync-status.json``: watch arrival → apply answered) is printed beside it. CPU per change is the
sync process's user + system time (``/proc/PID/stat``) over the phase, divided by the changes.

Usage: .venv/bin/python bench/sync_lag.py [--seconds 20] [RATE ...]   (default: 10 100)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kube.client import KubeClient  # noqa: E402
from kube.errors import ApiError  # noqa: E402
from migration.sync.engine import percentile  # noqa: E402
from sandbox.cluster import LocalCluster  # noqa: E402
from sandbox.profiles import BLUE, GREEN  # noqa: E402

NS = "bench-sync"
OBJECTS = 50  # ConfigMaps the writer cycles through


def cm(name: str, value: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NS},
            "data": {"value": value}}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def phase(blue: KubeClient, green: KubeClient, pid: int, rate: int, seconds: float, out: Path) -> dict[str, object]:
    """Write at ``rate`` changes/s for ``seconds``; returns the measured lags and CPU."""
    written: dict[str, float] = {}
    arrived: dict[str, float] = {}
    stop = threading.Event()
    res = green.resource_for("v1", "ConfigMap")
    rv = green.get(f"/api/v1/namespaces/{NS}/configmaps").get("metadata", {}).get("resourceVersion", "0")

    def watch_green() -> None:
        nonlocal rv
        while not stop.is_set():
            try:
                for event in green.watch(res, resource_version=rv, timeout_seconds=30):
                    obj = event["object"]
                    rv = obj["metadata"]["resourceVersion"]
                    value = (obj.get("data") or {}).get("value")
                    if value and value not in arrived:
                        arrived[value] = time.time()
                    if stop.is_set():
                        return
            except ApiError:
                time.sleep(0.1)

    watcher = threading.Thread(target=watch_green, daemon=True)
    watcher.start()
    time.sleep(0.5)
    cpu0 = cpu_seconds(pid)
    n = int(rate * seconds)
    t0 = time.monotonic()
    for i in range(n):
        due = t0 + i / rate
        if (wait := due - time.monotonic()) > 0:
            time.sleep(wait)
        value = f"r{rate}-{i}"
        blue.apply(cm(f"cm-{i % OBJECTS}", value), field_manager="bench")
        written[value] = time.time()
    deadline = time.monotonic() + 60
    while len(arrived.keys() & written.keys()) < n and time.monotonic() < deadline:
        time.sleep(0.2)
    cpu = cpu_seconds(pid) - cpu0
    stop.set()
    lags = [arrived[v] - written[v] for v in written if v in arrived]
    status = json.loads((out / "sync-status.json").read_text())
    return {"rate": rate, "changes": n, "carried": len(lags), "achieved": n / (time.monotonic() - t0),
            "p50": percentile(lags, 50), "p95": percentile(lags, 95), "max": max(lags) if lags else None,
            "cpu_ms": 1000 * cpu / n, "sync_p50": status["lag"]["p50"], "sync_p95": status["lag"]["p95"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("rates", nargs="*", type=int, default=[10, 100])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="akshift-bench-sync-") as tmp:
        root = Path(tmp)
        blue_c = LocalCluster(BLUE, root / "blue").start()
        green_c = LocalCluster(GREEN, root / "green").start()
        proc = None
        try:
            blue = KubeClient.from_kubeconfig(blue_c.kubeconfig)
            green = KubeClient.from_kubeconfig(green_c.kubeconfig)
            blue.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}, field_manager="bench")
            for i in range(OBJECTS):
                blue.apply(cm(f"cm-{i}", "initial"), field_manager="bench")
            out = root / "run"
            akshift = [sys.executable, "-m", "akshift.cli"]
            subprocess.run([*akshift, "migrate", "--source", str(blue_c.kubeconfig), "--target",
                            str(green_c.kubeconfig), "--out", str(out), "--exclude-secrets", "--ready-timeout", "10",
                            "-o", "json"], cwd=ROOT, check=True, capture_output=True)
            proc = subprocess.Popen([*akshift, "sync", "--source", str(blue_c.kubeconfig), "--target",
                                     str(green_c.kubeconfig), "--out", str(out), "-o", "json"], cwd=ROOT,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while True:
                try:
                    if json.loads((out / "sync-status.json").read_text())["phase"] == "watching":
                        break
                except (FileNotFoundError, json.JSONDecodeError):
                    pass
                time.sleep(0.2)
            rows = [phase(blue, green, proc.pid, rate, args.seconds, out) for rate in args.rates]
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(30)
            blue_c.stop()
            green_c.stop()
    cores = os.cpu_count()
    print(f"Machine: {platform.machine()}, {cores} cores, {platform.system()}; {time.strftime('%Y-%m-%d')}; "
          f"{args.seconds:.0f} s per rate\n")
    print("| changes/s asked | achieved | changes | on green | lag p50 | lag p95 | lag max "
          "| sync's own p50 / p95 | sync CPU per change |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['rate']} | {r['achieved']:.0f} | {r['changes']} | {r['carried']} | {1000 * r['p50']:.0f} ms "
              f"| {1000 * r['p95']:.0f} ms | {1000 * r['max']:.0f} ms "
              f"| {1000 * r['sync_p50']:.0f} / {1000 * r['sync_p95']:.0f} ms | {r['cpu_ms']:.1f} ms |")


if __name__ == "__main__":
    main()
