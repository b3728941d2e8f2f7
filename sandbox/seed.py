"""Seed a sandbox cluster with the kubenet-era workload set, the way its users created it.

Why kubectl and client-side apply: blue stands for a cluster that teams fed
with `kubectl apply` for years, so its objects carry
``kubectl.kubernetes.io/last-applied-configuration`` and kubectl's field
manager, exactly what the migration must clean up. Files are applied in
sorted order; a file whose kinds are not served yet (a CRD still being
established) is retried briefly.
"""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

from sandbox.cluster import SandboxError, binary

SEEDS_DIR = Path(__file__).resolve().parent / "seeds"


def apply_files(kubeconfig: Path, files: list[Path], *, retries: int = 20) -> list[str]:
    """`kubectl apply -f` each file in order. Returns kubectl's output lines.

    Raises:
        SandboxError: a file was still rejected after retries; the message names the file and kubectl's error.
    """
    kubectl = binary("kubectl")
    out: list[str] = []
    for f in files:
        for attempt in range(retries):
            proc = subprocess.run([kubectl, f"--kubeconfig={kubeconfig}", "apply", "-f", str(f)],
                                  capture_output=True, text=True)
            if proc.returncode == 0:
                out += proc.stdout.splitlines()
                break
            transient = any(s in proc.stderr for s in ("no matches for kind", "ensure CRDs are installed",
                                                        "the server could not find the requested resource",
                                                        "not found" if "namespaces" in proc.stderr else "\0"))
            if not transient or attempt == retries - 1:
                raise SandboxError(f"seeding {f.name} failed: {proc.stderr.strip()}")
            time.sleep(0.5)
    return out


def wait_bound(kubeconfig: Path, timeout: float = 60.0) -> None:
    """Wait until every PersistentVolume pre-bound to a claim (``claimRef``) is Bound.

    Why: the PV controller binds asynchronously, and StatefulSets create their claims only after
    their pods' turn comes; an inventory taken before that sees "not bound on the source: it holds no
    data" and plans no copy (the sandbox walkthrough's volume plan changed from run to run).

    Raises:
        SandboxError: still unbound after ``timeout``; the message names the volumes.
    """
    import json

    kubectl = binary("kubectl")
    deadline = time.monotonic() + timeout
    while True:
        proc = subprocess.run([kubectl, f"--kubeconfig={kubeconfig}", "get", "pv", "-o", "json"],
                              capture_output=True, text=True)
        pending = [] if proc.returncode else [
            pv["metadata"]["name"] for pv in json.loads(proc.stdout)["items"]
            if (pv["spec"].get("claimRef") or {}).get("name") and (pv.get("status") or {}).get("phase") != "Bound"]
        if proc.returncode == 0 and not pending:
            return
        if time.monotonic() > deadline:
            raise SandboxError(f"seeded volumes not bound after {timeout:.0f}s: "
                               f"{', '.join(pending) or proc.stderr.strip()}")
        time.sleep(0.5)


def seed(kubeconfig: Path, seeds_dir: Path = SEEDS_DIR) -> list[str]:
    """Apply the seed files and wait until their pre-bound volumes are Bound (:func:`wait_bound`).

    Raises:
        SandboxError: no seed files, a file rejected, or volumes left unbound.
    """
    files = sorted(p for p in seeds_dir.glob("*.yaml"))
    if not files:
        raise SandboxError(f"no seed files in {seeds_dir}")
    out = apply_files(kubeconfig, files)
    wait_bound(kubeconfig)
    return out
