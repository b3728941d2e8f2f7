"""Benchmark the migration engine against kubectl on sandbox clusters of 10,000 and 50,000 objects.

Not a test (no assertions): prints a Markdown table for docs/migration.md. Each row runs both sides in the
same process tree, on the same machine, against clusters started the same way:

* inventory: ``akshift inventory`` vs ``kubectl get <every listable type> -A -o json --chunk-size=500``
* apply: ``akshift apply`` (server-side apply, concurrent tiers) vs ``kubectl apply --server-side -f <dir>``
  (each onto its own fresh target cluster)
* peak memory: the maximum resident set of each command, from ``wait4`` of its process.
* the ceiling: the API server's raw write ceiling on the same kind of cluster — the highest objects/s a
  minimal compiled client (``bench/ceiling/main.go``: Go's net/http, 32 requests in flight, bodies built
  once) reaches for N ConfigMaps of 512 bytes, by server-side apply and by plain create — and
  ``akshift apply`` of the same N ConfigMaps as a percentage of it, with akshift's client CPU per object
  (user + system time from ``wait4``). On 2 cores the client's CPU is taken from the API server, so CPU
  per object is the lever.

Each row is run twice: straight on loopback, and through ``bench/latency_proxy.py`` with a round trip
standing for a remote AKS API server (``--rtt``), since on one 2-core machine the loopback numbers measure
CPU contention between client and server more than the clients.

Usage: .venv/bin/python bench/migration.py [--rtt 0,10] [--no-ceiling] [COUNT ...]   (default: 10000 50000)
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kube.client import KubeClient  # noqa: E402
from migration.secrets import SecretKey  # noqa: E402
from migration.snapshot import SnapshotWriter  # noqa: E402
from sandbox.cluster import LocalCluster, binary  # noqa: E402
from sandbox.generate import generate, write_yaml  # noqa: E402
from sandbox.profiles import BLUE, GREEN  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from latency_proxy import LatencyProxy  # noqa: E402

AKSHIFT = str(ROOT / ".venv" / "bin" / "akshift")


def run(cmd: list[str], **kw: object) -> tuple[float, float, int, float]:
    """Run a command; return (seconds, peak RSS in MiB, exit code, client CPU seconds)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)  # type: ignore[call-overload]
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - t0
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        print(f"  ! {' '.join(cmd[:3])} exited {code}: {err[-500:]}", file=sys.stderr)
    return seconds, usage.ru_maxrss / 1024, code, usage.ru_utime + usage.ru_stime


def load(cluster: LocalCluster, objs: list[dict]) -> None:
    """Put the objects on the source (setup, not measured): namespaces first, then the rest concurrently."""
    import concurrent.futures as cf

    with KubeClient.from_kubeconfig(cluster.kubeconfig, max_connections=16) as k:
        for o in objs:
            if o["kind"] == "Namespace":
                k.apply(o, field_manager="bench-setup")
        with cf.ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda o: k.apply(o, field_manager="bench-setup"), [o for o in objs if o["kind"] != "Namespace"]))


def proxied(kubeconfig: Path, proxy_port: int, out: Path) -> Path:
    """A copy of the kubeconfig pointing at the latency proxy."""
    import yaml

    doc = yaml.safe_load(kubeconfig.read_text())
    doc["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{proxy_port}"
    out.write_text(yaml.safe_dump(doc))
    return out


def bench(count: int, rtt: float, work: Path) -> list[str]:
    objs = list(generate(count, seed=1))
    key_file = work / "age.key"
    subprocess.run([AKSHIFT, "keygen", str(key_file)], check=True, stdout=subprocess.DEVNULL)
    kubectl = binary("kubectl")
    rows = []
    with LocalCluster(BLUE, work / "source", nodes=3) as source, LatencyProxy(source.port, rtt) as proxy:
        load(source, objs)
        kc = proxied(source.kubeconfig, proxy.port, work / "source.kubeconfig")
        types = subprocess.run([kubectl, f"--kubeconfig={kc}", "api-resources", "--verbs=list", "-o", "name"],
                               capture_output=True, text=True, check=True).stdout.split()
        k_inv = run([kubectl, f"--kubeconfig={kc}", "get", ",".join(types), "-A", "-o", "json", "--chunk-size=500"])
        a_inv = run([AKSHIFT, "inventory", "--source", str(kc), "--out", str(work / "run"),
                     "--age-identity", str(key_file), "--output", "json"])
        rows.append(("inventory", k_inv, a_inv))

    # Apply: the same objects, as kubectl users hold them (YAML files) and as akshift holds them.
    yaml_dir = work / "yaml"
    write_yaml(count, yaml_dir, seed=1)
    with SnapshotWriter(work / "run" / "transformed", stage="transformed",
                        secret_key=SecretKey.from_identity_file(key_file)) as w:
        for o in objs:
            w.write(o)
    with LocalCluster(GREEN, work / "t1", nodes=3) as t1, LatencyProxy(t1.port, rtt) as proxy:
        kc = proxied(t1.kubeconfig, proxy.port, work / "t1.kubeconfig")
        k_apply = run([kubectl, f"--kubeconfig={kc}", "apply", "--server-side", "-f", str(yaml_dir)])
    with LocalCluster(GREEN, work / "t2", nodes=3) as t2, LatencyProxy(t2.port, rtt) as proxy:
        kc = proxied(t2.kubeconfig, proxy.port, work / "t2.kubeconfig")
        a_apply = run([AKSHIFT, "apply", "--target", str(kc), "--out", str(work / "run"),
                       "--age-identity", str(key_file), "--output", "json"])
    rows.append(("apply", k_apply, a_apply))
    return [f"| {count:,} | {rtt:g} ms | {stage} | {k[0]:.1f} s | {a[0]:.1f} s | {k[0] / a[0]:.1f}× | "
            f"{k[1]:.0f} MiB | {a[1]:.0f} MiB | {count / a[0]:,.0f} |" for stage, k, a in rows]


CEILING_SRC = ROOT / "bench" / "ceiling"


def ceiling_binary() -> Path:
    """Build ``bench/ceiling`` (Go standard library only) into the sandbox cache when it is missing or stale."""
    out = Path.home() / ".cache" / "akshift" / "bench" / "ceiling"
    newest = max(f.stat().st_mtime for f in CEILING_SRC.iterdir())
    if not out.exists() or out.stat().st_mtime < newest:
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["go", "build", "-o", str(out), "."], cwd=CEILING_SRC, check=True,
                       env={**os.environ, "GOFLAGS": "-mod=mod"})
    return out


def config_maps(count: int) -> list[dict]:
    """The ceiling's objects: N ConfigMaps of 512 bytes in one namespace (as the Go client writes them)."""
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ceiling"}}
    return [ns] + [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c-{i:06d}", "namespace": "ceiling"},
                    "data": {"payload": "x" * 512}} for i in range(count)]


def ceiling(count: int, rtt: float, work: Path) -> list[str]:
    """The server's write ceiling vs ``akshift apply`` of the same ConfigMaps, each on a fresh cluster."""
    import json

    tool = ceiling_binary()
    key_file = work / "age.key"
    if not key_file.exists():
        subprocess.run([AKSHIFT, "keygen", str(key_file)], check=True, stdout=subprocess.DEVNULL)
    measured: dict[str, float] = {}
    for mode in ("apply", "create"):
        with LocalCluster(GREEN, work / f"ceiling-{mode}", nodes=3) as c, LatencyProxy(c.port, rtt) as proxy:
            pki_dir = c.state_dir / "pki"
            res = subprocess.run([str(tool), f"--server=https://127.0.0.1:{proxy.port}", f"--ca={pki_dir / 'ca.crt'}",
                                  f"--cert={pki_dir / 'admin.crt'}", f"--key={pki_dir / 'admin.key'}",
                                  f"--count={count}", f"--mode={mode}"], capture_output=True, text=True, check=True)
            measured[mode] = json.loads(res.stdout.strip().splitlines()[-1])["per_second"]
    run_dir = work / "ceiling-run"
    with SnapshotWriter(run_dir / "transformed", stage="transformed",
                        secret_key=SecretKey.from_identity_file(key_file)) as w:
        for o in config_maps(count):
            w.write(o)
    with LocalCluster(GREEN, work / "ceiling-akshift", nodes=3) as c, LatencyProxy(c.port, rtt) as proxy:
        kc = proxied(c.kubeconfig, proxy.port, work / "ceiling.kubeconfig")
        secs, _rss, _code, cpu = run([AKSHIFT, "apply", "--target", str(kc), "--out", str(run_dir),
                                      "--age-identity", str(key_file), "--output", "json"])
    rate = (count + 1) / secs
    return [f"| {count:,} | {rtt:g} ms | {measured['apply']:,.0f}/s | {measured['create']:,.0f}/s | {rate:,.0f}/s | "
            f"{100 * rate / measured['apply']:.0f}% | {1000 * cpu / count:.2f} ms |"]


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--rtt", default="0,10", help="round trips to simulate, in ms, comma-separated")
    ap.add_argument("--no-ceiling", action="store_true", help="skip the write-ceiling table")
    ap.add_argument("counts", nargs="*", type=int, default=[10_000, 50_000])
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, date {time.strftime('%Y-%m-%d')}\n")
    print("| objects | API round trip | stage | kubectl | akshift | speed-up | kubectl peak RSS | akshift peak RSS | akshift objects/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in args.counts:
        for rtt in (float(r) for r in args.rtt.split(",")):
            with tempfile.TemporaryDirectory(prefix="akshift-bench-") as d:
                for line in bench(n, rtt, Path(d)):
                    print(line, flush=True)
    if args.no_ceiling:
        return
    print("\n| objects | API round trip | ceiling: server-side apply | ceiling: create | akshift apply | "
          "akshift / SSA ceiling | akshift client CPU per object |")
    print("|---|---|---|---|---|---|---|")
    for n in args.counts:
        for rtt in (float(r) for r in args.rtt.split(",")):
            with tempfile.TemporaryDirectory(prefix="akshift-ceiling-") as d:
                for line in ceiling(n, rtt, Path(d)):
                    print(line, flush=True)


if __name__ == "__main__":
    main()
