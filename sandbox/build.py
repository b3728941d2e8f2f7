"""Build the real Kubernetes control plane, kwok and the Pulumi engine from the Go module proxy.

Why this exists: the sandbox must run *real* binaries (no Docker, no release-page
downloads on this machine), so every tool is compiled from its published Go
module at a pinned version, through a throw-away helper ``go.mod``.  Results
are cached outside the repository, keyed by tool and version, and reused.

This module is deliberately stdlib-only: it runs before the project's
virtualenv exists (``scripts/setup`` calls ``python3 sandbox/build.py``).

Three recurring shapes of upstream module need help:

* ``replace`` lines pointing at sibling directories (``=> ../sdk``,
  ``=> ./staging/src/k8s.io/api``) are ignored when the module is a
  dependency, so the helper ``go.mod`` re-creates them against the published
  twin of each sibling (``k8s.io/api v0.36.3`` for kubernetes ``v1.36.3``).
* Version strings are injected with ``-ldflags -X`` where the tool (the
  Pulumi CLI) refuses to work unversioned (the Automation API checks it).
* pulumi-kubernetes embeds generated schema files that the module zip does
  not carry; we copy the module to a writable tree and generate them from
  the ``schema.json`` it ships.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CACHE_ROOT = Path(os.environ.get("AKSHIFT_CACHE", Path.home() / ".cache" / "akshift"))

K8S_VERSION = "v1.36.3"
K8S_STAGING_VERSION = "v0.36.3"


@dataclasses.dataclass(frozen=True)
class Tool:
    """One pinned build: which module, which main packages, and how."""

    name: str
    module: str
    version: str
    packages: tuple[tuple[str, str], ...]  # (binary name, import path)
    sibling_version: str = ""  # version used for `=> ../x` siblings; defaults to version
    extra_replace: tuple[tuple[str, str], ...] = ()  # (module, version) overrides of siblings
    ldflags: str = ""
    patch_schema: bool = False
    assets: tuple[str, ...] = ()  # files of the module source to keep next to the binaries
    scripts: tuple[str, ...] = ()  # executable files of the module source installed into bin/ as they are

    def missing(self) -> list[Path]:
        want = (self.binaries() + [self.dir / "assets" / Path(a).name for a in self.assets]
                + [self.dir / "bin" / Path(s).name for s in self.scripts])
        return [p for p in want if not p.exists()]

    @property
    def dir(self) -> Path:
        return CACHE_ROOT / f"{self.name}-{self.version}"

    def binaries(self) -> list[Path]:
        return [self.dir / "bin" / b for b, _ in self.packages]


PULUMI_VERSION = "v3.274.1"
PULUMI_LANGUAGE_PYTHON = "v3.52.0"  # the newest sdk/v3 whose module still holds python/cmd (see TOOLS)
PULUMI_K8S_PROVIDER = "v4.0.0-20260115033456-f47bc2d6f199"  # the only provider/v4 version the proxy serves
PULUMI_K8S_PROVIDER_LABEL = "4.25.0"  # the release this commit precedes; stamped as its version

TOOLS: dict[str, Tool] = {
    t.name: t
    for t in (
        Tool(
            name="etcd",
            module="go.etcd.io/etcd/server/v3",
            version="v3.6.16",
            packages=(("etcd", "go.etcd.io/etcd/server/v3"),),
        ),
        Tool(
            name="kubernetes",
            module="k8s.io/kubernetes",
            version=K8S_VERSION,
            sibling_version=K8S_STAGING_VERSION,
            packages=(
                ("kube-apiserver", "k8s.io/kubernetes/cmd/kube-apiserver"),
                ("kube-controller-manager", "k8s.io/kubernetes/cmd/kube-controller-manager"),
                ("kube-scheduler", "k8s.io/kubernetes/cmd/kube-scheduler"),
                # Our own kubectl at the cluster's version: seeding uses it as users do, and the
                # benchmarks compare against it (Debian's kubectl is outside the version skew).
                ("kubectl", "k8s.io/kubernetes/cmd/kubectl"),
            ),
            ldflags=(
                "-X k8s.io/component-base/version.gitVersion={v} "
                "-X k8s.io/component-base/version.gitMajor=1 "
                "-X k8s.io/component-base/version.gitMinor={minor} "
                "-X k8s.io/client-go/pkg/version.gitVersion={v}"
            ),
        ),
        Tool(
            name="kwok",
            module="sigs.k8s.io/kwok",
            version="v0.8.0",
            packages=(("kwok", "sigs.k8s.io/kwok/cmd/kwok"),),
            # The bare kwok binary plays no stage unless configured; these are the
            # "fast" stages kwokctl installs by default (nodes Ready, pods Ready/Complete/deleted).
            assets=(
                "kustomize/stage/node/fast/node-initialize.yaml",
                "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
                "kustomize/stage/pod/fast/pod-ready.yaml",
                "kustomize/stage/pod/fast/pod-complete.yaml",
                "kustomize/stage/pod/fast/pod-delete.yaml",
            ),
        ),
        Tool(
            name="pulumi",
            module="github.com/pulumi/pulumi/pkg/v3",
            version=PULUMI_VERSION,
            packages=(("pulumi", "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"),),
            ldflags="-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version={v}",
        ),
        Tool(
            # The Python language host, so plain `pulumi up` runs the project's __main__.py as a user's
            # Pulumi install does. Later versions moved it to a module the Go proxy refuses; v3.52.0 of the
            # SDK module still carries it (and its exec shim, a Python script installed beside it). The
            # CLI talks to it over the same gRPC protocol; it runs the program with the `python` first
            # on PATH (the project's virtualenv).
            name="pulumi-language-python",
            module="github.com/pulumi/pulumi/sdk/v3",
            version=PULUMI_LANGUAGE_PYTHON,
            packages=(("pulumi-language-python", "github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python"),),
            ldflags="-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version={v}",
            scripts=("python/cmd/pulumi-language-python-exec",),
        ),
        Tool(
            name="pulumi-resource-kubernetes",
            module="github.com/pulumi/pulumi-kubernetes/provider/v4",
            version=PULUMI_K8S_PROVIDER,
            sibling_version="v4.24.0",
            packages=(
                (
                    "pulumi-resource-kubernetes",
                    "github.com/pulumi/pulumi-kubernetes/provider/v4/cmd/pulumi-resource-kubernetes",
                ),
            ),
            ldflags="-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=" + PULUMI_K8S_PROVIDER_LABEL,
            patch_schema=True,
        ),
    )
}


class BuildError(RuntimeError):
    """A build step failed; the message names the module and the step."""


def log(msg: str) -> None:
    print(f"[akshift build {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GOTOOLCHAIN", "local")
    env["GOFLAGS"] = "-mod=mod -buildvcs=false"
    env["CGO_ENABLED"] = "0"
    return env


def run(tool: Tool, step: str, args: list[str], cwd: Path) -> str:
    log(f"{tool.name}: {step}: {' '.join(args[:4])}{' …' if len(args) > 4 else ''}")
    proc = subprocess.run(args, cwd=cwd, env=go_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-30:])
        raise BuildError(f"{tool.module}@{tool.version}: step '{step}' failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout


def parse_local_replaces(gomod: str) -> list[str]:
    """Module paths that the upstream go.mod replaces with a local directory.

    >>> parse_local_replaces("replace (\\n\\tk8s.io/api => ./staging/src/k8s.io/api\\n)\\nreplace a/b => ../b\\n")
    ['k8s.io/api', 'a/b']
    """
    out = []
    for m in re.finditer(r"^\s*(?:replace\s+)?(\S+)(?:\s+v\S+)?\s+=>\s+(\.{1,2}/\S*)\s*$", gomod, re.M):
        if m.group(1) not in ("replace", "(") and "FORBIDDEN" not in m.group(2):
            out.append(m.group(1))
    return out


def parse_module_replaces(gomod: str) -> list[tuple[str, str, str]]:
    """Replace lines that point at another module (kept as they are upstream)."""
    out = []
    for m in re.finditer(r"^\s*(?:replace\s+)?(\S+)(?:\s+v\S+)?\s+=>\s+([^\s.]\S*)\s+(v\S+)\s*$", gomod, re.M):
        out.append((m.group(1), m.group(2), m.group(3)))
    return out


def module_dir(tool: Tool, work: Path) -> tuple[Path, str]:
    out = run(tool, "download module", ["go", "mod", "download", "-json", f"{tool.module}@{tool.version}"], work)
    info = json.loads(out)
    return Path(info["Dir"]), Path(info["GoMod"]).read_text()


def generate_k8s_provider_schema(tool: Tool, src: Path, work: Path) -> Path:
    """Copy the provider module to a writable tree and generate its embedded schema files."""
    dst = work / "provider-src"
    shutil.copytree(src, dst)
    for p in dst.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    cmd_dir = dst / "cmd" / "pulumi-resource-kubernetes"
    schema = cmd_dir / "schema.json"
    if not schema.exists():
        raise BuildError(f"{tool.module}@{tool.version}: step 'generate schema' failed: {schema} not shipped")
    embeds = set()
    for go_file in cmd_dir.glob("*.go"):
        embeds.update(re.findall(r"//go:embed\s+(\S+)", go_file.read_text()))
    log(f"{tool.name}: generate schema: embeds {sorted(embeds)}")
    # Mirrors the module's own generate.go (go:build ignore): the schema with its
    # version set, and the terraform mapping, both re-serialized compactly.
    for name in embeds:
        target = cmd_dir / name
        if target.exists():
            continue
        source = cmd_dir / name.replace("-embed", "")
        if not source.exists():
            raise BuildError(f"{tool.module}@{tool.version}: step 'generate schema' failed: no source for embed {name}")
        data = json.loads(source.read_text())
        if name.startswith("schema"):
            data["version"] = PULUMI_K8S_PROVIDER_LABEL
        target.write_text(json.dumps(data, separators=(",", ":")))
    return dst


def copy_assets(tool: Tool, src: Path) -> None:
    for script in tool.scripts:
        if not (src / script).exists():
            raise BuildError(f"{tool.module}@{tool.version}: step 'copy scripts' failed: {script} not in the module")
        target = tool.dir / "bin" / Path(script).name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / script, target)
        target.chmod(0o755)
    if not tool.assets:
        return
    (tool.dir / "assets").mkdir(parents=True, exist_ok=True)
    for a in tool.assets:
        if not (src / a).exists():
            raise BuildError(f"{tool.module}@{tool.version}: step 'copy assets' failed: {a} not in the module")
        shutil.copyfile(src / a, tool.dir / "assets" / Path(a).name)
    log(f"{tool.name}: kept {len(tool.assets)} asset file(s) in {tool.dir / 'assets'}")


def asset_dir(name: str) -> Path:
    return TOOLS[name].dir / "assets"


def build(tool: Tool, force: bool = False) -> list[Path]:
    bins = tool.binaries()
    if not force and not tool.missing():
        log(f"{tool.name} {tool.version}: cached in {tool.dir}")
        return bins
    if not force and all(b.exists() for b in bins):  # binaries cached, only assets missing
        with tempfile.TemporaryDirectory(prefix=f"akshift-build-{tool.name}-") as tmp:
            copy_assets(tool, module_dir(tool, Path(tmp))[0])
        return bins
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"akshift-build-{tool.name}-") as tmp:
        work = Path(tmp)
        (work / "go.mod").write_text(f"module akshift.local/build/{tool.name}\n\ngo 1.26\n")
        src, upstream_mod = module_dir(tool, work)
        sibling = tool.sibling_version or tool.version
        replaces: list[str] = []
        local_src = None
        if tool.patch_schema:
            local_src = generate_k8s_provider_schema(tool, src, work)
            replaces.append(f"{tool.module} => ./provider-src")
        for mod in parse_local_replaces(upstream_mod):
            replaces.append(f"{mod} => {mod} {sibling}")
        for mod, target, ver in parse_module_replaces(upstream_mod):
            replaces.append(f"{mod} => {target} {ver}")
        gomod = f"module akshift.local/build/{tool.name}\n\ngo 1.26\n\nrequire {tool.module} {tool.version}\n"
        if replaces:
            gomod += "\nreplace (\n" + "".join(f"\t{r}\n" for r in replaces) + ")\n"
        (work / "go.mod").write_text(gomod)
        (work / "tools.go").write_text(
            "//go:build tools\n\npackage tools\n\nimport (\n"
            + "".join(f'\t_ "{pkg}"\n' for _, pkg in tool.packages)
            + ")\n"
        )
        run(tool, "resolve dependencies", ["go", "mod", "tidy", "-e"], work)
        out_dir = tool.dir / "bin"
        out_dir.mkdir(parents=True, exist_ok=True)
        minor = tool.version.split(".")[1] if tool.version.count(".") >= 2 else ""
        ldflags = "-s -w " + tool.ldflags.format(v=tool.version, minor=minor)
        for binary, pkg in tool.packages:
            if not force and (out_dir / binary).exists():
                continue
            t0 = time.monotonic()
            tmp_out = out_dir / f".{binary}.partial"
            run(tool, f"compile {binary}", ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(tmp_out), pkg], work)
            tmp_out.rename(out_dir / binary)
            log(f"{tool.name}: built {binary} in {time.monotonic() - t0:.0f}s")
        del local_src
        copy_assets(tool, src)
    (tool.dir / "build.json").write_text(
        json.dumps({"module": tool.module, "version": tool.version, "seconds": round(time.monotonic() - started)})
    )
    log(f"{tool.name} {tool.version}: done in {time.monotonic() - started:.0f}s → {tool.dir}")
    return bins


def bin_dirs() -> list[Path]:
    """Directories to put on PATH so the sandbox and Pulumi find the binaries."""
    return [t.dir / "bin" for t in TOOLS.values()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tools", nargs="*", help=f"subset of {', '.join(TOOLS)} (default: all)")
    ap.add_argument("--force", action="store_true", help="rebuild even when cached")
    ap.add_argument("--print-path", action="store_true", help="print the bin directories, one per line, and exit")
    args = ap.parse_args(argv)
    if args.print_path:
        print("\n".join(str(p) for p in bin_dirs()))
        return 0
    unknown = [t for t in args.tools if t not in TOOLS]
    if unknown:
        print(f"unknown tool(s): {', '.join(unknown)}; choose from {', '.join(TOOLS)}", file=sys.stderr)
        return 2
    failed = []
    for name in args.tools or list(TOOLS):
        try:
            build(TOOLS[name], force=args.force)
        except BuildError as e:
            failed.append(name)
            print(f"error: {e}", file=sys.stderr, flush=True)
    if failed:
        print(f"build failed for: {', '.join(failed)} (the others are cached)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
