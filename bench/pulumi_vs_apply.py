"""`pulumi up` of migrated workloads against the migration engine's direct apply, side by side, in one run.

Why it exists: `MigratedWorkloads` makes Pulumi own the reproduced objects
(preview, drift, destroy), at the price of one engine resource per object; the
migration engine's ``apply`` stage sends the same objects with server-side apply
and nothing else. docs/promotion.md advises users which path to take at which
size, from these numbers.

For each size (1,000 and 5,000 generated objects, Deployments with replicas 0,
Secrets left out as ``--exclude-secrets`` would), both paths start from a fresh
green cluster (``LocalCluster``), one after the other, so they never compete for
the two cores:

* **apply**: ``migration.stages.apply`` (tiers, 16 requests in flight, journal);
* **pulumi up**: the project's own program (``program.main``, the ``sandbox``
  stack shape: cluster.mode existing + workloads) through the engine gateway
  (:func:`deploy.engine.open_project`, as ``akshift up`` opens it),
  ``up`` without preview as ``pulumi up --yes --skip-preview`` does, at the CLI's
  default parallelism (``--parallel`` to change it), file backend;
* **pulumi up again**: the no-op second ``up`` (what every later deployment of an
  unchanged snapshot costs), and the size of the state file.

Not a test. Run: ``.venv/bin/python bench/pulumi_vs_apply.py [--sizes 1000,5000] [--parallel N]``;
prints a Markdown table and writes JSON next to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from kube.client import KubeClient  # noqa: E402
from migration import stages  # noqa: E402
from migration.snapshot import Snapshot, SnapshotWriter  # noqa: E402
from sandbox import build  # noqa: E402
from sandbox.cluster import LocalCluster  # noqa: E402
from sandbox.generate import generate  # noqa: E402
from sandbox.profiles import GREEN  # noqa: E402


def snapshot(n: int, directory: Path) -> Snapshot:
    """``n`` generated objects as a transformed snapshot (Secrets excluded, replicas 0)."""
    with SnapshotWriter(directory, stage="transformed", exclude_secrets=True) as w:
        for obj in generate(n, seed=7, max_pods=0):
            w.write(obj)
    return Snapshot(directory)


def engine_env(root: Path) -> dict[str, str]:
    (root / "home").mkdir(parents=True)
    (root / "backend").mkdir()
    return {
        "PATH": os.pathsep.join([str(build.TOOLS["pulumi"].dir / "bin"),
                                 str(build.TOOLS["pulumi-resource-kubernetes"].dir / "bin"), os.environ["PATH"]]),
        "PULUMI_HOME": str(root / "home"),
        "PULUMI_BACKEND_URL": f"file://{root / 'backend'}",
        "PULUMI_CONFIG_PASSPHRASE": "bench",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    }


def time_apply(snap: Snapshot, work: Path) -> dict[str, Any]:
    with LocalCluster(GREEN, work / "apply-cluster", nodes=3) as cluster, \
            KubeClient.from_kubeconfig(cluster.kubeconfig, max_connections=16) as client:
        t0 = time.monotonic()
        outcomes = stages.apply(client, snap.root, work / "apply-journal.jsonl", concurrency=16)
        seconds = time.monotonic() - t0
    actions: dict[str, int] = {}
    for o in outcomes:
        actions[o.action] = actions.get(o.action, 0) + 1
    return {"seconds": round(seconds, 1), "actions": actions}


def time_pulumi(snap: Snapshot, work: Path, parallel: int | None) -> dict[str, Any]:
    from akshift import program
    from deploy.engine import Engine, open_project

    env = engine_env(work / "pulumi")
    project = work / "project"
    (project / "stacks").mkdir(parents=True)
    shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
    with LocalCluster(GREEN, work / "pulumi-cluster", nodes=3) as cluster:
        config = {
            "akshift:cluster": {"mode": "existing", "name": "bench", "kubeconfig": str(cluster.kubeconfig),
                                "kubernetesVersion": "1.36", "protect": False},
            "akshift:networking": {"mode": "overlay-cilium", "podCidr": "192.168.0.0/16"},
            "akshift:dns": {"nodeCache": "none"},
            "akshift:workloads": {"snapshot": str(snap.root)},
        }
        (project / "stacks" / "Pulumi.bench.yaml").write_text(yaml.safe_dump({"config": config}))
        # Through the engine gateway, as `akshift up` runs it (without its preview: `--skip-preview`).
        stack = open_project(Engine(build.TOOLS["pulumi"].dir, env), project, lambda: program.main(project), "bench",
                             create=True)
        t0 = time.monotonic()
        first = stack.up(parallel=parallel)
        up_s = time.monotonic() - t0
        t0 = time.monotonic()
        second = stack.up(parallel=parallel)
        again_s = time.monotonic() - t0
        state = Path(env["PULUMI_BACKEND_URL"].removeprefix("file://")) / ".pulumi" / "stacks" / "akshift" / "bench.json"
        size = state.stat().st_size
    return {"seconds": round(up_s, 1), "changes": dict(first.changes),
            "again_seconds": round(again_s, 1), "again_changes": dict(second.changes),
            "state_mib": round(size / 2**20, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000")
    parser.add_argument("--parallel", type=int, default=None, help="pulumi up --parallel (default: the CLI's)")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "akshift-bench-pulumi-vs-apply.json")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, date {time.strftime('%Y-%m-%d')}, "
          f"pulumi {build.TOOLS['pulumi'].version}, pulumi-kubernetes 4.25.0, parallel {args.parallel or 'default'}",
          flush=True)
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix=f"akshift-bench-{n}-") as tmp:
            work = Path(tmp)
            snap = snapshot(n, work / "transformed")
            objects = len(snap.paths(include_secrets=False))
            applied = time_apply(snap, work)
            print(f"[{n}] apply: {applied}", flush=True)
            pulumi_run = time_pulumi(snap, work, args.parallel)
            print(f"[{n}] pulumi: {pulumi_run}", flush=True)
            results.append({"generated": n, "objects": objects, "apply": applied, "pulumi": pulumi_run,
                            "ratio": round(pulumi_run["seconds"] / max(applied["seconds"], 0.1), 1)})
    args.out.write_text(json.dumps(results, indent=2))
    print("\n| objects (Secrets excluded) | direct apply (s) | pulumi up (s) | ratio | second up, no changes (s) "
          "| state file |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['objects']:,} of {r['generated']:,} | {r['apply']['seconds']} | {r['pulumi']['seconds']} | "
              f"{r['ratio']}× | {r['pulumi']['again_seconds']} | {r['pulumi']['state_mib']} MiB |")
    print(f"\nJSON: {args.out}")


if __name__ == "__main__":
    main()
