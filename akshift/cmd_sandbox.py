"""`akshift sandbox`: real local clusters (blue = kubenet-era source, green = Overlay + Cilium target)."""
from __future__ import annotations

import time

import typer

from akshift.output import ENVIRONMENT, FAILED, Boundary, Output, OutputOption, emit_json, fail

app = typer.Typer(cls=Boundary, help="Run real local Kubernetes clusters (etcd + kube-apiserver + kwok) for demos and tests.",
                  no_args_is_help=True)


@app.command()
def build(force: bool = typer.Option(False, help="rebuild even when cached"),
          output: Output = OutputOption) -> None:
    """Build (or reuse) the pinned binaries from the Go module proxy into ~/.cache/akshift.

    Example: akshift sandbox build -o json
    """
    from sandbox import build as b

    code = b.main(["--force"] if force else [])
    if output is Output.json:
        emit_json({"built": code == 0, "tools": {t.name: {"version": t.version, "dir": str(t.dir),
                                                           "missing": [str(m) for m in t.missing()]}
                                                  for t in b.TOOLS.values()}})
    raise typer.Exit(code and ENVIRONMENT)


@app.command()
def up(
    nodes: int = typer.Option(3, min=3, max=1000, help="kwok nodes per cluster"),
    clusters: str = typer.Option("blue,green", help="comma-separated cluster names"),
    seed: bool = typer.Option(True, help="apply the kubenet-era seed workloads to blue"),
    corpus: bool = typer.Option(False, "--corpus", help="also apply the real-world-shaped corpus to blue (Helm, "
                                "Argo CD, cert-manager, Calico, kube-system content; server-side, each tool's manager)"),
    output: Output = OutputOption,
) -> None:
    """Start the sandbox clusters (reuses a running sandbox) and seed blue.

    Example: akshift sandbox up --nodes 3
    """
    from sandbox import manage
    from sandbox.cluster import SandboxError
    from sandbox.profiles import PROFILES

    names = [n.strip() for n in clusters.split(",") if n.strip()]
    unknown = [n for n in names if n not in PROFILES]
    if unknown:
        raise fail(f"unknown cluster name(s) {', '.join(unknown)}; choose from {', '.join(PROFILES)}")
    t0 = time.monotonic()
    try:
        state = manage.up(names, nodes)
        if seed and "blue" in state["clusters"]:
            from pathlib import Path

            from sandbox.seed import seed as do_seed

            state["seeded"] = len(do_seed(Path(state["clusters"]["blue"]["kubeconfig"])))
        if corpus and "blue" in state["clusters"]:
            from pathlib import Path

            from sandbox.corpus import CorpusError, apply_corpus

            try:
                state["corpus"] = len(apply_corpus(Path(state["clusters"]["blue"]["kubeconfig"])))
            except CorpusError as e:
                raise fail(str(e), ENVIRONMENT) from e
    except SandboxError as e:
        raise fail(str(e), ENVIRONMENT) from e
    state["seconds"] = round(time.monotonic() - t0, 1)
    if output is Output.json:
        emit_json(state)
        return
    for name, c in state["clusters"].items():
        typer.echo(f"{name}: {c['server']}  pod CIDR {c['pod_cidr']}  kubeconfig {c['kubeconfig']}")
    if state.get("seeded"):
        typer.echo(f"blue seeded: {state['seeded']} objects applied")
    if state.get("corpus"):
        typer.echo(f"blue corpus: {state['corpus']} objects applied server-side by their tools' field managers")
    typer.echo(f"ready in {state['seconds']}s — stop with `akshift sandbox down`")


@app.command()
def status(output: Output = OutputOption) -> None:
    """Show whether the sandbox runs, and each cluster's readiness and node count.

    Example: akshift sandbox status -o json
    """
    from errors import AkshiftError
    from kube.client import KubeClient
    from sandbox import manage
    from sandbox.cluster import ready_nodes

    state = manage.read_state()
    if not state or not state["alive"]:
        if output is Output.json:
            emit_json({"running": False})
        else:
            typer.echo("sandbox: not running (start it with `akshift sandbox up`)")
        raise typer.Exit(FAILED)
    report = {"running": True, "pid": state["pid"], "status": state["status"], "clusters": {}}
    for name, c in state.get("clusters", {}).items():
        try:
            with KubeClient.from_kubeconfig(c["kubeconfig"]) as k:
                report["clusters"][name] = {**c, "ready": k.ready(), "ready_nodes": ready_nodes(k)}
        except AkshiftError as e:
            report["clusters"][name] = {**c, "ready": False, "error": str(e)}
    if output is Output.json:
        emit_json(report)
    else:
        typer.echo(f"sandbox: {state['status']} (supervisor pid {state['pid']})")
        for name, c in report["clusters"].items():
            typer.echo(f"  {name}: {'ready' if c.get('ready') else 'NOT READY'}, {c.get('ready_nodes', 0)} nodes, "
                       f"kubeconfig {c['kubeconfig']}")
    if not all(c.get("ready") for c in report["clusters"].values()):
        raise typer.Exit(FAILED)


@app.command()
def down(output: Output = OutputOption) -> None:
    """Stop every sandbox cluster (their processes end with the supervisor).

    Example: akshift sandbox down
    """
    from sandbox import manage

    stopped = manage.down()
    if output is Output.json:
        emit_json({"stopped": bool(stopped)})
    else:
        typer.echo("sandbox stopped" if stopped else "sandbox: nothing was running")
