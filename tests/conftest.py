"""Session fixtures: the real sandbox clusters and the real Pulumi engine.

Why session-scoped and owned by the test process: starting a cluster costs
~5 s, and the clusters die with pytest even on SIGKILL (PR_SET_PDEATHSIG), so
no test run leaves orphans. Tests that need a pristine cluster use
``fresh_cluster``. Missing binaries FAIL the run rather than skip it: CI must
never pass without having exercised the real clusters (scripts/setup builds them).

Where a test lives says what it needs, and the directory sets its markers
(:data:`GROUPS`), so ``-m "not cluster and not engine"`` selects exactly
``tests/unit/`` and ``tests/mocks/``:

- ``tests/unit/<package>/``: the package's own tests, no sandbox and no Pulumi runtime
  (``<package>`` is the package under test: ``migration``, ``cutover``, ``kube`` …);
- ``tests/mocks/``: Pulumi programs and components under ``pulumi.runtime`` mocks
  (``support/pulumi_harness.py``), Azure bodies judged by Azure's models;
- ``tests/cluster/``: the sandbox — real API servers (``blue``, ``green``,
  ``fresh_cluster``) or its real stand-in processes (HAProxy) — marked ``cluster``;
- ``tests/engine/``: the real Pulumi CLI and provider (``pulumi_env``) against the sandbox —
  marked ``cluster`` and ``engine``.

A test file anywhere else, a sandbox fixture used outside ``cluster``/``engine``, or a
``cluster``/``engine`` marker the directory does not imply fails the collection with
the directory to move the test to. Shared helpers live in ``tests/support/``,
recorded inputs and golden files in ``tests/fixtures/``.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sandbox import build
from sandbox.cluster import LocalCluster, SandboxError
from sandbox.profiles import BLUE, GREEN, ClusterProfile

TESTS = Path(__file__).resolve().parent
# directory under tests/ → the markers every test in it carries
GROUPS: dict[str, tuple[str, ...]] = {"unit": (), "mocks": (), "cluster": ("cluster",), "engine": ("cluster", "engine")}
# fixture → the group it needs (the sandbox's clusters, the real Pulumi engine)
NEEDS = {"sandbox_root": "cluster", "blue": "cluster", "green": "cluster", "fresh_cluster": "cluster",
         "pulumi_env": "engine"}


def _misplaced(rel: Path, group: str, item: pytest.Item) -> str | None:
    """Why ``item`` is in the wrong directory (None when it is where it belongs)."""
    if group not in GROUPS or len(rel.parts) < 2:
        return "a test file lives in tests/unit/<package>/, tests/mocks/, tests/cluster/ or tests/engine/"
    if group == "unit" and len(rel.parts) < 3:
        return "a unit test lives in tests/unit/<package>/, the package it tests"
    markers = {m.name for m in item.iter_markers() if m.name in ("cluster", "engine")}
    params = getattr(getattr(item, "callspec", None), "params", {})  # a parameter named "blue" is no cluster
    fixtures = [f for f in getattr(item, "fixturenames", ()) if f in NEEDS and f not in params]
    needed = {NEEDS[f] for f in fixtures} | markers
    for need in ("engine", "cluster"):
        if need in needed and need not in GROUPS[group]:
            why = ", ".join(sorted(f for f in fixtures if NEEDS[f] == need)) or f"marker {need}"
            return f"it needs the {'real Pulumi engine' if need == 'engine' else 'sandbox'} ({why}): move it to tests/{need}/"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test by its directory; refuse a test whose directory does not say what it needs."""
    wrong: list[str] = []
    for item in items:
        try:
            rel = item.path.resolve().relative_to(TESTS)
        except ValueError:
            continue  # the packages' doctests
        group = rel.parts[0]
        problem = _misplaced(rel, group, item)
        if problem:
            wrong.append(f"tests/{rel}::{item.name}: {problem}")
            continue
        for name in GROUPS[group]:
            item.add_marker(name)
    if wrong:
        raise pytest.UsageError("tests in the wrong place (see tests/conftest.py):\n  " + "\n  ".join(wrong))


def _require_binaries(names: list[str]) -> None:
    missing = [t.name for t in build.TOOLS.values() if t.name in names and t.missing()]
    if missing:
        pytest.fail(f"sandbox binaries not built: {', '.join(missing)}; run scripts/setup (never skipped)", pytrace=False)


@pytest.fixture(scope="session")
def sandbox_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sandbox")


def _start(profile: ClusterProfile, root: Path, nodes: int = 3, audit: bool = False) -> LocalCluster:
    _require_binaries(["etcd", "kubernetes", "kwok"])
    try:
        return LocalCluster(profile, root / profile.name, nodes=nodes, audit=audit).start()
    except SandboxError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def blue(sandbox_root: Path) -> Iterator[LocalCluster]:
    """The kubenet-era source cluster, seeded with the workload set. Tests only read it."""
    from sandbox.seed import seed

    c = _start(BLUE, sandbox_root)
    try:
        seed(c.kubeconfig)
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="session")
def green(sandbox_root: Path) -> Iterator[LocalCluster]:
    """The Overlay + Cilium target. Shared: tests that write to it use their own namespaces."""
    c = _start(GREEN, sandbox_root)
    yield c
    c.stop()


@pytest.fixture
def fresh_cluster(tmp_path: Path) -> Iterator[Callable[..., LocalCluster]]:
    """Factory for a pristine cluster owned by one test (stopped after it)."""
    started: list[LocalCluster] = []

    def make(profile: ClusterProfile = GREEN, nodes: int = 3, audit: bool = False) -> LocalCluster:
        c = _start(profile, tmp_path / f"c{len(started)}", nodes, audit)
        started.append(c)
        return c

    yield make
    for c in started:
        c.stop()


@pytest.fixture(scope="session")
def pulumi_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for the real Pulumi CLI: file backend in a temp dir, no plugin downloads,
    our built provider found on PATH (ambient plugins)."""
    _require_binaries(["pulumi", "pulumi-resource-kubernetes"])
    home = tmp_path_factory.mktemp("pulumi-home")
    backend = tmp_path_factory.mktemp("pulumi-backend")
    path = os.pathsep.join([str(build.TOOLS["pulumi"].dir / "bin"),
                            str(build.TOOLS["pulumi-resource-kubernetes"].dir / "bin"), os.environ.get("PATH", "")])
    env = {
        "PATH": path,
        "PULUMI_HOME": str(home),
        # metadata=skip: no `.attrs` sidecar files, which the file backend rewrites in place — a `pulumi up` whose
        # program reads its own stack (StackReference, as plain `pulumi up` of an existing-cluster stack does)
        # can read one half-written and fail "failed to load checkpoint: EOF" (seen once in CI).
        "PULUMI_BACKEND_URL": f"file://{backend}?metadata=skip",
        "PULUMI_CONFIG_PASSPHRASE": "akshift-test-passphrase",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "false",
    }
    assert shutil.which("pulumi", path=path), "pulumi CLI not on PATH"
    return env
