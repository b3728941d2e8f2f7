"""`akshift sandbox up|status|down|seed`: long-lived sandbox clusters for the demo and for people.

Why a detached supervisor: the clusters must outlive the `akshift sandbox up`
command, yet never become orphans. `up` starts ``python -m sandbox.manage
supervise`` in its own session; the supervisor owns every control-plane process
(they die with it through PR_SET_PDEATHSIG) and stops them on SIGTERM, which is
what `down` sends. State lives in ``$AKSHIFT_SANDBOX_DIR`` (default
``~/.local/state/akshift/sandbox``): one directory per cluster with its kubeconfig.
Tests do not use this path: they own their clusters directly (tests/conftest.py).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sandbox.cluster import LocalCluster, SandboxError
from sandbox.profiles import PROFILES


def sandbox_root() -> Path:
    default = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "akshift" / "sandbox"
    return Path(os.environ.get("AKSHIFT_SANDBOX_DIR", default))


def _state_file(root: Path) -> Path:
    return root / "supervisor.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_state(root: Path | None = None) -> dict[str, Any] | None:
    root = root or sandbox_root()
    try:
        state = json.loads(_state_file(root).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    state["alive"] = _alive(state.get("pid", -1))
    return state


def supervise(root: Path, names: list[str], nodes: int) -> int:
    """Run in the foreground: start the clusters, report ready, stop them on SIGTERM/SIGINT."""
    root.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {"pid": os.getpid(), "status": "starting", "clusters": {}, "nodes": nodes}
    state_file = _state_file(root)

    def save() -> None:
        tmp = state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(state_file)

    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    save()
    clusters: list[LocalCluster] = []
    try:
        for name in names:
            c = LocalCluster(PROFILES[name], root / name, nodes=nodes)
            clusters.append(c)
            t0 = time.monotonic()
            c.start()
            state["clusters"][name] = {"kubeconfig": str(c.kubeconfig), "server": c.server,
                                       "start_seconds": round(time.monotonic() - t0, 1),
                                       "pod_cidr": c.profile.pod_cidr}
            save()
        state["status"] = "ready"
        save()
        while not stopping:
            for c in clusters:
                c._check_alive()
            time.sleep(1)
    except SandboxError as e:
        state["status"] = "failed"
        state["error"] = str(e)
        save()
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        for c in reversed(clusters):
            c.stop(cleanup=False)
        if state["status"] != "failed":
            state["status"] = "stopped"
            save()
    return 0


def up(names: list[str], nodes: int, timeout: float = 300.0, root: Path | None = None) -> dict[str, Any]:
    """Start the sandbox in a detached supervisor and wait until every cluster is ready.

    Raises:
        SandboxError: the supervisor failed or timed out; the message carries its error and log path.
    """
    root = root or sandbox_root()
    state = read_state(root)
    if state and state["alive"]:
        if sorted(state.get("clusters", {})) == sorted(names) and state.get("status") == "ready":
            return state
        raise SandboxError(f"a sandbox is already running (pid {state['pid']}, clusters "
                           f"{', '.join(state.get('clusters', {})) or 'starting'}); run `akshift sandbox down` first")
    root.mkdir(parents=True, exist_ok=True)
    log = open(root / "supervisor.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox.manage", "supervise", "--root", str(root), "--nodes", str(nodes), *names],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    log.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = read_state(root)
        if state and state.get("pid") == proc.pid:
            if state["status"] == "ready":
                return state
            if state["status"] == "failed":
                raise SandboxError(state.get("error", "sandbox failed") + f" (log: {root / 'supervisor.log'})")
        if proc.poll() is not None:
            raise SandboxError(f"sandbox supervisor exited with {proc.returncode}; see {root / 'supervisor.log'}")
        time.sleep(0.3)
    proc.terminate()
    raise SandboxError(f"sandbox not ready after {timeout:.0f}s; see {root / 'supervisor.log'}")


def down(root: Path | None = None, timeout: float = 60.0) -> bool:
    """Stop the supervisor (and with it every cluster). Returns False when nothing was running."""
    root = root or sandbox_root()
    state = read_state(root)
    if not state or not state["alive"]:
        return False
    os.kill(state["pid"], signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(state["pid"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(state["pid"]):
        os.kill(state["pid"], signal.SIGKILL)
    return True


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m sandbox.manage")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("supervise")
    sp.add_argument("--root", type=Path, required=True)
    sp.add_argument("--nodes", type=int, default=3)
    sp.add_argument("names", nargs="+")
    args = ap.parse_args(argv)
    return supervise(args.root, args.names, args.nodes)


if __name__ == "__main__":
    sys.exit(main())
