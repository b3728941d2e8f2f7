"""Seed fixtures and scale sets of Kubernetes objects for the sandbox clusters.

Why this exists: akshift is tested against real kube-apiservers, so it needs
two kinds of input.  The hand-written seed set in ``sandbox/seeds/`` (about
150 objects, each oddity there on purpose, see docs/seeds.md) is read by
:func:`load_seed_objects`.  Benchmarks need far more objects than anyone would
write by hand, so :func:`generate` produces up to tens of thousands of
plausible namespaced objects.

Why it is shaped so:

* ``generate`` is a generator of plain dicts: 50,000 objects are written or
  sent as they are made, never held in memory at once.
* It is deterministic for a seed: one ``random.Random(seed)`` drives every
  choice, and no draw depends on ``max_pods``, so two runs that differ only in
  ``max_pods`` yield the same objects except for Deployment replicas.
* Pods are bounded: kwok nodes are cheap but the scheduler and the kube
  controllers are not, so Deployments get ``replicas: 0`` unless a pod budget
  (``max_pods``) is given, and then the first ``max_pods`` get one replica.
* Objects come namespace by namespace (100-500 objects each, the Namespace
  first), so chunked files applied in name order never reference a namespace
  that does not exist yet.
* A third of the Services are headless: a large set must not exhaust a small
  service CIDR.

Usage::

    python -m sandbox.generate --count 10000 --out /tmp/bench
    kubectl apply -f /tmp/bench
"""
from __future__ import annotations

import argparse
import base64
import itertools
import random
from collections.abc import Iterator
from pathlib import Path

import yaml

try:  # libyaml is ~10x faster; 50,000 objects are noticeably slow in pure Python.
    from yaml import CSafeDumper as _Dumper
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeDumper as _Dumper  # type: ignore[assignment]
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

SEEDS_DIR = Path(__file__).resolve().parent / "seeds"

#: ``kubectl apply -f dir`` handles large files fine, but smaller files keep a
#: failed apply's error output and retries readable.
MAX_OBJECTS_PER_FILE = 500

#: Objects per generated namespace, Namespace included (inclusive bounds).
NAMESPACE_SIZE = (100, 500)

#: Label on every generated object, so a scale set can be found and deleted.
BENCH_LABEL = "akshift.io/bench"

#: Relative frequency of each namespaced kind, roughly what an inventory of a
#: real multi-team cluster looks like (config-heavy, fewer workloads).
KIND_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("ConfigMap", 30),
    ("Secret", 14),
    ("Service", 12),
    ("Deployment", 12),
    ("ServiceAccount", 10),
    ("NetworkPolicy", 8),
    ("Role", 7),
    ("RoleBinding", 7),
)

_APPS = (
    "cart", "checkout", "catalog", "search", "orders", "inventory", "billing",
    "auth", "profile", "reviews", "shipping", "notify", "pricing", "media",
)
_IMAGES = (
    "nginx:1.27",
    "mcr.microsoft.com/dotnet/aspnet:8.0",
    "mcr.microsoft.com/azurelinux/base/core:3.0",
    "mcr.microsoft.com/oss/kubernetes/pause:3.9",
    "redis:7.4-alpine",
)
_SHORT = {
    "ConfigMap": "cm", "Secret": "sec", "Service": "svc", "Deployment": "deploy",
    "ServiceAccount": "sa", "NetworkPolicy": "netpol", "Role": "role", "RoleBinding": "rb",
}


def load_seed_objects(seeds_dir: Path = SEEDS_DIR) -> list[dict]:
    """Read the seed fixtures in apply order.

    Args:
        seeds_dir: directory of multi-document ``*.yaml`` files; defaults to
            ``sandbox/seeds``.

    Returns:
        Every non-empty document, files in sorted name order (``00-…`` first)
        and documents in file order, which is the order to apply them in.
    """
    objects: list[dict] = []
    for path in sorted(seeds_dir.glob("*.yaml")):
        with path.open(encoding="utf-8") as f:
            objects.extend(doc for doc in yaml.load_all(f, Loader=_Loader) if doc)
    return objects


def generate(count: int, seed: int = 0, max_pods: int = 0) -> Iterator[dict]:
    """Yield ``count`` plausible Kubernetes objects, namespace by namespace.

    Args:
        count: exactly how many objects to yield (Namespaces included).
        seed: seeds the only random generator; same seed, same objects.
        max_pods: how many Deployments get ``replicas: 1`` (the first ones
            generated); all others get ``replicas: 0``.  Never more pods.

    Returns:
        An iterator of object dicts with unique (kind, namespace, name).

    Raises:
        ValueError: if ``count`` or ``max_pods`` is negative.
    """
    if count < 0 or max_pods < 0:
        raise ValueError(f"count and max_pods must be >= 0, got count={count}, max_pods={max_pods}")
    rng = random.Random(seed)
    kinds = [k for k, _ in KIND_WEIGHTS]
    cum_weights = list(itertools.accumulate(w for _, w in KIND_WEIGHTS))
    pods_left = max_pods
    produced = 0
    for ns_index in itertools.count():
        if produced >= count:
            return
        size = min(rng.randint(*NAMESPACE_SIZE), count - produced)
        namespace = f"bench-s{seed}-{ns_index:04d}"
        yield _namespace(namespace, seed)
        roles: list[str] = []
        for i in range(1, size):
            kind = rng.choices(kinds, cum_weights=cum_weights)[0]
            app = rng.choice(_APPS)
            name = f"{app}-{_SHORT[kind]}-{i:04d}"
            if kind == "Deployment":
                replicas = 1 if pods_left > 0 else 0
                pods_left -= replicas
                yield _deployment(rng, namespace, name, app, replicas)
            elif kind == "Role":
                roles.append(name)
                yield _BUILDERS[kind](rng, namespace, name, app)
            elif kind == "RoleBinding":
                yield _role_binding(rng, namespace, name, app, roles)
            else:
                yield _BUILDERS[kind](rng, namespace, name, app)
        produced += size


def write_yaml(
    n: int,
    out_dir: Path | str,
    seed: int = 0,
    max_pods: int = 0,
    per_file: int = MAX_OBJECTS_PER_FILE,
) -> list[Path]:
    """Write ``generate(n, seed, max_pods)`` as multi-document YAML files.

    Files are named ``bench-00000.yaml``, ``bench-00001.yaml``… so that
    ``kubectl apply -f out_dir`` (which walks a directory in name order)
    creates each Namespace before its contents.  Stale ``bench-*.yaml`` files
    from an earlier, larger run are removed so they are not applied too.

    Args:
        n: number of objects.
        out_dir: directory to write into (created if missing).
        seed: passed to :func:`generate`.
        max_pods: passed to :func:`generate`.
        per_file: at most this many documents per file.

    Returns:
        The written paths, in apply order.

    Raises:
        ValueError: if ``per_file`` is not positive (or as :func:`generate`).
    """
    if per_file < 1:
        raise ValueError(f"per_file must be >= 1, got {per_file}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("bench-*.yaml"):
        stale.unlink()
    objects = generate(n, seed=seed, max_pods=max_pods)
    paths: list[Path] = []
    while chunk := list(itertools.islice(objects, per_file)):
        path = out / f"bench-{len(paths):05d}.yaml"
        with path.open("w", encoding="utf-8") as f:
            yaml.dump_all(chunk, f, Dumper=_Dumper, sort_keys=False, default_flow_style=False)
        paths.append(path)
    return paths


# --- object builders: one per kind, each takes the shared rng --------------


def _meta(namespace: str, name: str, app: str) -> dict:
    return {
        "name": name,
        "namespace": namespace,
        "labels": {"app.kubernetes.io/name": app, BENCH_LABEL: "true"},
    }


def _namespace(name: str, seed: int) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {BENCH_LABEL: "true", "akshift.io/bench-seed": str(seed)}},
    }


def _config_map(rng: random.Random, namespace: str, name: str, app: str) -> dict:
    data = {f"KEY_{k}": f"value-{rng.getrandbits(32):08x}" for k in range(rng.randint(1, 8))}
    data["application.properties"] = "\n".join(
        f"{app}.setting{k}={rng.randint(0, 10_000)}" for k in range(rng.randint(2, 30))
    )
    if rng.random() < 0.1:  # config that hard-codes a kubenet pod IP, as real clusters do
        data["UPSTREAM"] = f"http://10.244.{rng.randint(0, 255)}.{rng.randint(2, 254)}:8080"
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(namespace, name, app), "data": data}


def _secret(rng: random.Random, namespace: str, name: str, app: str) -> dict:
    data = {
        f"key-{k}": base64.b64encode(rng.randbytes(rng.randint(16, 256))).decode()
        for k in range(rng.randint(1, 4))
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(namespace, name, app),
        "type": "Opaque",
        "data": data,
    }


def _service(rng: random.Random, namespace: str, name: str, app: str) -> dict:
    spec: dict = {
        "selector": {"app.kubernetes.io/name": app},
        "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
    }
    if rng.random() < 1 / 3:
        spec["clusterIP"] = "None"
    else:
        spec["type"] = "ClusterIP"
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(namespace, name, app), "spec": spec}


def _deployment(rng: random.Random, namespace: str, name: str, app: str, replicas: int) -> dict:
    labels = {"app.kubernetes.io/name": app, "app.kubernetes.io/instance": name}
    container: dict = {
        "name": app,
        "image": rng.choice(_IMAGES),
        "ports": [{"name": "http", "containerPort": 8080}],
        "resources": {
            "requests": {"cpu": "10m", "memory": "32Mi"},
            "limits": {"cpu": "100m", "memory": "64Mi"},
        },
    }
    if rng.random() < 0.5:
        container["readinessProbe"] = {"tcpSocket": {"port": "http"}, "periodSeconds": 10}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(namespace, name, app),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": {**labels, BENCH_LABEL: "true"}},
                "spec": {"containers": [container]},
            },
        },
    }


def _service_account(rng: random.Random, namespace: str, name: str, app: str) -> dict:
    meta = _meta(namespace, name, app)
    if rng.random() < 0.2:
        meta["annotations"] = {"azure.workload.identity/client-id": _fake_uuid(rng)}
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}


def _role(rng: random.Random, namespace: str, name: str, app: str) -> dict:
    resources = rng.sample(["configmaps", "secrets", "pods", "services", "endpoints"], k=rng.randint(1, 3))
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(namespace, name, app),
        "rules": [{"apiGroups": [""], "resources": resources, "verbs": ["get", "list", "watch"]}],
    }


def _role_binding(rng: random.Random, namespace: str, name: str, app: str, roles: list[str]) -> dict:
    # Draw unconditionally so the stream of choices does not depend on history.
    pick, use_cluster_role = rng.random(), rng.random() < 0.3
    if roles and not use_cluster_role:
        role_ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": roles[int(pick * len(roles))]}
    else:
        role_ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(namespace, name, app),
        "roleRef": role_ref,
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": namespace}],
    }


def _network_policy(rng: random.Random, namespace: str, name: str, app: str) -> dict:
    roll = rng.random()
    if roll < 0.35:  # the kubenet habit: allow "all pods" as the pod CIDR
        peer: dict = {"ipBlock": {"cidr": "10.244.0.0/16"}}
    elif roll < 0.5:  # one node's /24 of the kubenet pod CIDR
        peer = {"ipBlock": {"cidr": f"10.244.{rng.randint(0, 255)}.0/24"}}
    else:
        peer = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": rng.choice(_APPS)}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(namespace, name, app),
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": app}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [peer], "ports": [{"protocol": "TCP", "port": 8080}]}],
        },
    }


def _fake_uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_BUILDERS = {
    "ConfigMap": _config_map,
    "Secret": _secret,
    "Service": _service,
    "ServiceAccount": _service_account,
    "Role": _role,
    "NetworkPolicy": _network_policy,
}


def main(argv: list[str] | None = None) -> int:
    """Command line: write a scale set for ``kubectl apply -f DIR``."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.generate", description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, required=True, help="number of objects, Namespaces included")
    parser.add_argument("--out", type=Path, required=True, help="directory for bench-NNNNN.yaml files")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--max-pods", type=int, default=0, help="Deployments given 1 replica (default 0)")
    parser.add_argument("--per-file", type=int, default=MAX_OBJECTS_PER_FILE, help="objects per file")
    args = parser.parse_args(argv)
    try:
        paths = write_yaml(args.count, args.out, seed=args.seed, max_pods=args.max_pods, per_file=args.per_file)
    except ValueError as e:
        parser.error(str(e))
    print(f"wrote {args.count} objects in {len(paths)} files to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
