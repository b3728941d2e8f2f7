"""Checks the Pulumi program runs so that a stack deploys only what its pinned configuration says.

Why it exists: `akshift promote` writes the values verified on the source stack
(snapshot digest, Kubernetes version, add-on versions) into the target stack's
configuration. Add-on versions are inputs the program simply uses, but the
snapshot and the cluster's version are facts of the world the program reads at
deploy time: the snapshot directory could have been regenerated, the existing
cluster upgraded. These pure functions compare the fact with the pin and refuse
with the way forward, before any resource is registered.
"""
from __future__ import annotations

import re

from deploy.errors import PinMismatch


def check_snapshot_digest(actual: str, pinned: str | None, *, snapshot: str) -> str:
    """Refuse a snapshot whose content is not the pinned one.

    Args:
        actual: The snapshot's digest (``index.json``).
        pinned: ``workloads.digest`` of the stack, or None when nothing is pinned
            (a source stack such as ``test`` deploys whatever it is given).
        snapshot: The snapshot directory, for the message.

    Returns:
        ``actual``.

    Raises:
        PinMismatch: When a digest is pinned and differs.
    """
    if pinned is None or actual == pinned:
        return actual
    raise PinMismatch(
        f"workloads.snapshot: {snapshot} has digest {actual}, but workloads.digest pins {pinned} (the snapshot "
        "verified on the source stack); point workloads.snapshot at that snapshot, or verify this one on the "
        "source stack and run `akshift promote` again"
    )


_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")


def check_kubernetes_version(live: str, expected: str, *, cluster: str) -> str:
    """Refuse a cluster that runs another Kubernetes version than the stack expects.

    ``"1.34"`` accepts any 1.34 patch; ``"1.34.2"`` only that patch.

    Args:
        live: The API server's ``gitVersion`` (``v1.34.2``, ``v1.34.2-aks.1``).
        expected: ``cluster.kubernetesVersion``.
        cluster: The cluster's name, for the message.

    Returns:
        ``live``.

    Raises:
        PinMismatch: On another minor (or patch, when the pin names one), or an unreadable version.
    """
    got, want = _VERSION.match(live.strip()), _VERSION.match(expected.strip())
    if got is None or want is None:
        raise PinMismatch(f"cluster.kubernetesVersion: cannot compare {live!r} with {expected!r}; "
                          "use a version such as \"1.34\"")
    same_minor = got.group(1, 2) == want.group(1, 2)
    same_patch = want.group(3) is None or got.group(3) == want.group(3)
    if same_minor and same_patch:
        return live
    raise PinMismatch(
        f"cluster.kubernetesVersion: cluster {cluster} runs {live}, but the stack expects {expected}; "
        f"set cluster.kubernetesVersion to the version it runs after verifying the workloads on it, or "
        f"upgrade the cluster first"
    )
