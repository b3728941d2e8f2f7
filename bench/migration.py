"""Benchmark the migration engine against kubectl, before and after a change, on sandbox clusters: ONE command.

Not a test (no assertions): prints the Markdown tables of docs/migration.md's benchmark section. Every row
runs all sides in the same run, on the same machine, against clusters started the same way:

* inventory: ``akshift inventory`` vs ``kubectl get <every listable type> -A -o json --chunk-size=500``
  (one loaded source cluster per size, reached straight and through each round trip's proxy)
* apply: ``akshift apply`` (server-side apply, concurrent tiers) vs ``kubectl apply --server-side -f <dir>``,
  each onto its own fresh target cluster
* before / after: ``--before REF`` runs the akshift of that git ref (exported with ``git archive`` into a
  temporary directory) next to the akshift of this tree, both as ``python -m akshift.cli`` from their own
  directory with this interpreter, so one table shows the change.
* peak memory: the maximum resident set of each command, from ``wait4`` of its process; client CPU per
  object: its user + system time from ``wait4``, divided by the objects.
* the ceiling: the API server's raw write ceiling on the same kind of cluster — the highest objects/s a
  minimal compiled client (``bench/ceiling/main.go``: Go's net/http, 32 requests in flight, bodies built
  once) reaches for N ConfigMaps of 512 bytes, by server-side apply and by plain create — and
  ``akshift apply`` (before and after) of the same N ConfigMaps as a percentage of it, with its client CPU
  per object. On 2 cores the client's CPU is taken from the API server, so CPU per object is the lever.
  ``--rounds`` (3) rounds of ceiling-then-every-side: medians, and the range, because the ceiling itself
  drifts on a shared host (:func:`ceiling`).

Round trips: ``bench/latency_proxy.py`` adds one (``--rtt`` for every stage, ``--inventory-rtt`` for the
inventory only) to stand for a remote AKS API server; on one 2-core machine the loopback numbers measure CPU
contention between client and server more than the clients.

Usage (the full table of issue 11, about an hour on a quiet 2-core machine):

    .venv/bin/python bench/migration.py --before <ref> 10000 50000

Options: ``--rtt 0,10`` (apply and inventory), ``--inventory-rtt 30`` (inventory only), ``--no-ceiling``,
``--ceiling-only``, ``--no-kubectl``, ``--before REF``; sizes default to 10000 50000.
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
from sandbox.cluster import LocalCluster, binary  # noqa: E402
from sandbox.generate import generate, write_yaml  # noqa: E402
from sandbox.profiles import BLUE, GREEN  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from latency_proxy import LatencyProxy  # noqa: E402


class Akshift:
    """One akshift to measure: a source tree run as ``python -m akshift.cli`` from its own directory."""

    def __init__(self, label: str, tree: Path):
        self.label = label
        self.tree = tree

    def run(self, *args: str) -> tuple[float, float, int, float]:
        return run([sys.executable, "-m", "akshift.cli", *args], cwd=self.tree)

    def transformed(self, objects: Path, run_dir: Path, key_file: Path) -> Path:
        """A run directory whose ``transformed/`` this akshift's own snapshot writer made of ``objects``.

        Each side reads what its own version writes (a newer writer adds files an older reader's
        integrity check refuses as extra, and the other way round). Setup, not measured.
        """
        subprocess.run([sys.executable, "-c", _WRITE_TRANSFORMED, str(objects), str(run_dir / "transformed"),
                        str(key_file)], cwd=self.tree, check=True)
        return run_dir


_WRITE_TRANSFORMED = """\
import sys, orjson
from pathlib import Path
from migration.secrets import SecretKey
from migration.snapshot import SnapshotWriter
with SnapshotWriter(Path(sys.argv[2]), stage="transformed", secret_key=SecretKey.from_identity_file(Path(sys.argv[3]))) as w:
    with open(sys.argv[1], "rb") as f:
        for line in f:
            w.write(orjson.loads(line))
"""


def objects_file(objs: list[dict], path: Path) -> Path:
    """The objects as JSON lines, for each side's writer (:meth:`Akshift.transformed`)."""
    import orjson

    path.write_bytes(b"".join(orjson.dumps(o) + b"\n" for o in objs))
    return path


def export(ref: str, into: Path) -> Path:
    """The tree of a git ref, exported (no worktree, no checkout of this one)."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


# Why a launcher: Linux reports as a child's ru_maxrss at least the RSS its process had before exec, and
# subprocess starts children with vfork, so that is the RSS of the process that started it — this benchmark,
# which holds every generated object. Measured directly, every command at 50,000 objects "peaked" at the
# benchmark's own 439 MiB (2026-12-02). A small launcher (python -S, ~10 MiB) starts the command and reports
# its rusage, so the floor under a measured peak is the launcher's, not ours.
_LAUNCHER = """
import os, sys, time
t0 = time.monotonic()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, ru = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(f"{time.monotonic() - t0} {ru.ru_maxrss} {os.waitstatus_to_exitcode(status)} {ru.ru_utime + ru.ru_stime}")
"""


def run(cmd: list[str], **kw: object) -> tuple[float, float, int, float]:
    """Run a command; return (seconds, peak RSS in MiB, exit code, client CPU seconds) of the command alone."""
    with tempfile.NamedTemporaryFile(prefix="akshift-bench-usage-") as usage_file:
        proc = subprocess.Popen([sys.executable, "-S", "-c", _LAUNCHER, usage_file.name, *map(str, cmd)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)  # type: ignore[call-overload]
        _, err_bytes = proc.communicate()
        seconds, maxrss, code, cpu = Path(usage_file.name).read_text().split()
    if int(code) not in (0, 1):
        print(f"  ! {' '.join(map(str, cmd[:5]))} exited {code}: {err_bytes.decode(errors='replace')[-500:]}",
              file=sys.stderr)
    return float(seconds), int(maxrss) / 1024, int(code), float(cpu)


def load(cluster: LocalCluster, objs: list[dict]) -> None:
    """Put the objects on the source (setup, not measured): namespaces first, then the rest concurrently."""
    import concurrent.futures as cf

    with KubeClient.from_kubeconfig(cluster.kubeconfig, max_connections=16) as k:
        for o in objs:
            if o["kind"] == "Namespace":
                k.apply(o, field_manager="bench-setup")
        with cf.ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda o: k.apply(o, field_manager="bench-setup"), [o for o in objs if o["kind"] != "Namespace"]))


def settled(cluster: LocalCluster, *, quiet: float = 0.1, window: float = 2.0, limit: float = 300.0) -> LocalCluster:
    """The cluster once its own processes use less than ``quiet`` of a core over ``window`` seconds.

    Why: after a load the controllers work on for a while (ReplicaSets, Pods, Endpoints of thousands of
    objects), and a fresh cluster starts its controllers; a row measured meanwhile measures them too. Seen
    2026-12-02: the loopback inventory right after loading 10,000 objects took 6.1-6.4 s for akshift and
    5.3 s for kubectl, where the same commands take 2-3.5 s on a settled source. Gives up after ``limit``
    seconds (and says so) rather than wait for ever.
    """
    tick = os.sysconf("SC_CLK_TCK")

    def cpu() -> float:
        total = 0.0
        for proc in cluster.procs.values():
            try:
                fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick
        return total

    start = time.monotonic()
    while time.monotonic() - start < limit:
        before = cpu()
        time.sleep(window)
        if cpu() - before < quiet * window:
            return cluster
    print(f"(cluster {cluster.state_dir.name} still busy after {limit:.0f} s; measuring anyway)", file=sys.stderr)
    return cluster


def proxied(kubeconfig: Path, proxy_port: int, out: Path) -> Path:
    """A copy of the kubeconfig pointing at the latency proxy."""
    import yaml

    doc = yaml.safe_load(kubeconfig.read_text())
    doc["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{proxy_port}"
    out.write_text(yaml.safe_dump(doc))
    return out


Measured = tuple[float, float, int, float]  # seconds, peak RSS MiB, exit code, CPU seconds


def row(count: int, rtt: float, stage: str, kubectl: Measured | None, sides: list[tuple[str, Measured]]) -> str:
    """One Markdown row: kubectl, then each akshift (time, speed-up over kubectl, peak RSS, CPU per object)."""
    cells = [f"{count:,}", f"{rtt:g} ms", stage,
             f"{kubectl[0]:.1f} s / {kubectl[1]:.0f} MiB" if kubectl else "–"]
    for _label, m in sides:
        speed = f" ({kubectl[0] / m[0]:.1f}×)" if kubectl else ""
        failed = " FAILED" if m[2] not in (0, 1) else ""
        cells.append(f"{m[0]:.1f} s{speed} / {m[1]:.0f} MiB / {1000 * m[3] / count:.2f} ms{failed}")
    return "| " + " | ".join(cells) + " |"


def bench(count: int, apply_rtts: list[float], inventory_rtts: list[float], sides: list[Akshift], work: Path,
          with_kubectl: bool) -> list[str]:
    """Inventory at every round trip (one loaded source), then apply at ``apply_rtts`` (fresh targets)."""
    objs = list(generate(count, seed=1))
    key_file = work / "age.key"
    subprocess.run([sys.executable, "-m", "akshift.cli", "keygen", str(key_file)], check=True,
                   stdout=subprocess.DEVNULL, cwd=ROOT)
    kubectl = binary("kubectl")
    rows = []
    with LocalCluster(BLUE, work / "source", nodes=3) as source:
        load(source, objs)
        settled(source)
        for rtt in inventory_rtts:
            with LatencyProxy(source.port, rtt) as proxy:
                kc = proxied(source.kubeconfig, proxy.port, work / "source.kubeconfig")
                k_inv = None
                if with_kubectl:
                    types = subprocess.run([kubectl, f"--kubeconfig={kc}", "api-resources", "--verbs=list", "-o", "name"],
                                           capture_output=True, text=True, check=True).stdout.split()
                    k_inv = run([kubectl, f"--kubeconfig={kc}", "get", ",".join(types), "-A", "-o", "json",
                                 "--chunk-size=500"])
                measured = []
                for side in sides:
                    # A new directory per run, deleted only at the end: on this machine's ext4 (online
                    # discard) creating files is up to 10× costlier in system time for about a minute after
                    # many files were deleted (docs/migration.md "Benchmarks"), so an --overwrite into the
                    # last run's directory would measure the previous deletion, not the inventory.
                    out = work / f"inv-{side.label}-{rtt:g}ms"
                    measured.append((side.label, side.run("inventory", "--source", str(kc), "--out", str(out),
                                                          "--age-identity", str(key_file), "--output", "json")))
                rows.append(row(count, rtt, "inventory", k_inv, measured))

    # Apply: the same objects, as kubectl users hold them (YAML files) and as akshift holds them.
    yaml_dir = work / "yaml"
    write_yaml(count, yaml_dir, seed=1)
    source_objects = objects_file(objs, work / "objects.jsonl")
    runs = {side.label: side.transformed(source_objects, work / f"run-{side.label}", key_file) for side in sides}
    for rtt in apply_rtts:
        k_apply = None
        if with_kubectl:
            with LocalCluster(GREEN, work / "t-kubectl", nodes=3) as t, LatencyProxy(settled(t).port, rtt) as proxy:
                kc = proxied(t.kubeconfig, proxy.port, work / "t.kubeconfig")
                k_apply = run([kubectl, f"--kubeconfig={kc}", "apply", "--server-side", "-f", str(yaml_dir)])
        measured = []
        for side in sides:
            for journal in runs[side.label].glob("apply*"):
                journal.unlink()  # each side applies everything, onto its own fresh cluster
            with LocalCluster(GREEN, work / f"t-{side.label}", nodes=3) as t, LatencyProxy(settled(t).port, rtt) as proxy:
                kc = proxied(t.kubeconfig, proxy.port, work / "t.kubeconfig")
                measured.append((side.label, side.run("apply", "--target", str(kc), "--out", str(runs[side.label]),
                                                      "--age-identity", str(key_file), "--output", "json")))
        rows.append(row(count, rtt, "apply", k_apply, measured))
    return rows


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


def ceiling_rate(tool: Path, count: int, rtt: float, mode: str, work: Path) -> float:
    """Objects/s of the minimal compiled client on a fresh cluster (``mode``: ``apply`` or ``create``)."""
    import json

    with LocalCluster(GREEN, work, nodes=3) as c, LatencyProxy(settled(c).port, rtt) as proxy:
        pki_dir = c.state_dir / "pki"
        res = subprocess.run([str(tool), f"--server=https://127.0.0.1:{proxy.port}", f"--ca={pki_dir / 'ca.crt'}",
                              f"--cert={pki_dir / 'admin.crt'}", f"--key={pki_dir / 'admin.key'}",
                              f"--count={count}", f"--mode={mode}"], capture_output=True, text=True, check=True)
    return float(json.loads(res.stdout.strip().splitlines()[-1])["per_second"])


def ceiling(count: int, rtt: float, sides: list[Akshift], work: Path, rounds: int) -> list[str]:
    """The server's write ceiling vs ``akshift apply`` of the same ConfigMaps, each on a fresh cluster.

    Why rounds: on this kind of machine (a VM on a shared host) the same ceiling measured 1,100–1,700/s
    within an hour, so one ceiling and one apply a minute apart can make a percentage anything from 64 %
    to 91 % (2026-12-02). Each round measures the ceiling and then every side (in alternating order), each
    side's percentage is taken against its own round's ceiling, and the table shows the medians with the
    range of the rounds.
    """
    import statistics

    tool = ceiling_binary()
    key_file = work / "age.key"
    if not key_file.exists():
        subprocess.run([sys.executable, "-m", "akshift.cli", "keygen", str(key_file)], check=True,
                       stdout=subprocess.DEVNULL, cwd=ROOT)
    source_objects = objects_file(config_maps(count), work / "ceiling-objects.jsonl")
    runs = {side.label: side.transformed(source_objects, work / f"ceiling-run-{side.label}", key_file)
            for side in sides}
    ceilings: list[float] = []
    rates: dict[str, list[float]] = {side.label: [] for side in sides}
    shares: dict[str, list[float]] = {side.label: [] for side in sides}
    cpus: dict[str, list[float]] = {side.label: [] for side in sides}
    for r in range(rounds):
        ceilings.append(ceiling_rate(tool, count, rtt, "apply", work / f"ceiling-apply-{r}"))
        for side in sides if r % 2 == 0 else sides[::-1]:
            run_dir = runs[side.label]
            for journal in run_dir.glob("apply*"):
                journal.unlink()
            with LocalCluster(GREEN, work / f"ceiling-{side.label}-{r}", nodes=3) as c, \
                    LatencyProxy(settled(c).port, rtt) as proxy:
                kc = proxied(c.kubeconfig, proxy.port, work / "ceiling.kubeconfig")
                secs, _rss, _code, cpu = side.run("apply", "--target", str(kc), "--out", str(run_dir),
                                                  "--age-identity", str(key_file), "--output", "json")
            rates[side.label].append((count + 1) / secs)
            shares[side.label].append(100 * rates[side.label][-1] / ceilings[-1])
            cpus[side.label].append(1000 * cpu / count)
    create = ceiling_rate(tool, count, rtt, "create", work / "ceiling-create")
    med = statistics.median

    def spread(values: list[float], unit: str = "") -> str:
        return f" ({min(values):,.0f}–{max(values):,.0f}{unit})" if len(values) > 1 else ""

    cells = [f"{count:,}", f"{rtt:g} ms", f"{med(ceilings):,.0f}/s{spread(ceilings)}", f"{create:,.0f}/s"]
    for side in sides:
        label = side.label
        cells.append(f"{med(rates[label]):,.0f}/s = {med(shares[label]):.0f}%{spread(shares[label], '%')} / "
                     f"{med(cpus[label]):.2f} ms")
    return ["| " + " | ".join(cells) + " |"]


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--rtt", default="0,10", help="round trips for every stage, in ms, comma-separated")
    ap.add_argument("--inventory-rtt", default="30", help="further round trips for the inventory only")
    ap.add_argument("--before", metavar="REF", help="also run the akshift of this git ref (e.g. main, a commit)")
    ap.add_argument("--no-ceiling", action="store_true", help="skip the write-ceiling table")
    ap.add_argument("--ceiling-only", action="store_true", help="only the write-ceiling table (a quick apply check)")
    ap.add_argument("--rounds", type=int, default=3, help="ceiling rounds (ceiling, then every side), medians shown")
    ap.add_argument("--no-kubectl", action="store_true", help="skip kubectl (quick before/after runs)")
    ap.add_argument("counts", nargs="*", type=int, default=[10_000, 50_000])
    args = ap.parse_args()
    rtts = [float(r) for r in args.rtt.split(",") if r]
    inventory_rtts = rtts + [float(r) for r in args.inventory_rtt.split(",") if r and float(r) not in rtts]
    with tempfile.TemporaryDirectory(prefix="akshift-bench-before-") as before_dir:
        sides = [Akshift("after", ROOT)]
        if args.before:
            sides.insert(0, Akshift("before", export(args.before, Path(before_dir))))
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
              f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, load {os.getloadavg()[0]:.1f}, "
              f"date {time.strftime('%Y-%m-%d')}; after = {head} (+ working tree)"
              + (f", before = {args.before}" if args.before else "") + "\n")
        names = " | ".join(f"akshift {s.label}: time (× kubectl) / peak RSS / CPU per object" for s in sides)
        if not args.ceiling_only:
            print(f"| objects | API round trip | stage | kubectl: time / peak RSS | {names} |")
            print("|---" * (4 + len(sides)) + "|")
        for n in [] if args.ceiling_only else args.counts:
            with tempfile.TemporaryDirectory(prefix="akshift-bench-") as d:
                for line in bench(n, rtts, inventory_rtts, sides, Path(d), not args.no_kubectl):
                    print(line, flush=True)
        if args.no_ceiling:
            return
        names = " | ".join(f"akshift {s.label} apply: objects/s = % of SSA ceiling / CPU per object" for s in sides)
        print(f"\n{args.rounds} round(s) per row: medians, (range)\n")
        print(f"| objects | API round trip | ceiling: server-side apply | ceiling: create | {names} |")
        print("|---" * (4 + len(sides)) + "|")
        for n in args.counts:
            for rtt in rtts:
                with tempfile.TemporaryDirectory(prefix="akshift-ceiling-") as d:
                    for line in ceiling(n, rtt, sides, Path(d), args.rounds):
                        print(line, flush=True)


if __name__ == "__main__":
    main()
