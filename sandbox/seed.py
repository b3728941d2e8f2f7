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


def seed(kubeconfig: Path, seeds_dir: Path = SEEDS_DIR) -> list[str]:
    files = sorted(p for p in seeds_dir.glob("*.yaml"))
    if not files:
        raise SandboxError(f"no seed files in {seeds_dir}")
    return apply_files(kubeconfig, files)
