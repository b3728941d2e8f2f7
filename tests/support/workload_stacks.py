"""A small migrated application, its snapshot and a sandbox stack around it, for the workload and promotion tests.

Why shared: the mock tests of ``MigratedWorkloads`` (``tests/mocks/``) and the real-engine tests of
``up``, plain ``pulumi up`` and promotion (``tests/engine/``) deploy the same application the same way.
"""
from __future__ import annotations

import base64
import shutil
from pathlib import Path
from typing import Any

import pyrage
import yaml

from migration.secrets import SecretKey
from migration.snapshot import Snapshot, SnapshotWriter

from support import ROOT
from support.builders import obj

PASSWORD = "s3cr3t-promo-value"


def crd(group: str, kind: str = "Gadget") -> dict[str, Any]:
    plural = kind.lower() + "s"
    return obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", f"{plural}.{group}", spec={
        "group": group, "scope": "Namespaced",
        "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
        "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
            "type": "object",
            "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}],
    })


def workload_set(ns: str, group: str, *, greeting: str = "hello", replicas: int = 2) -> list[dict[str, Any]]:
    """A small migrated application: one object of each tier that matters, a CRD and its resource."""
    labels = {"app": "api"}
    return [
        crd(group),
        obj("v1", "Namespace", ns, labels={"akshift.io/test": "promotion"}),
        obj("v1", "ServiceAccount", "api", ns),
        obj("rbac.authorization.k8s.io/v1", "Role", "reader", ns,
            rules=[{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]),
        obj("rbac.authorization.k8s.io/v1", "RoleBinding", "api-reader", ns,
            roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
            subjects=[{"kind": "ServiceAccount", "name": "api", "namespace": ns}]),
        obj("v1", "ConfigMap", "settings", ns, data={"GREETING": greeting}),
        obj("v1", "Secret", "creds", ns, type="Opaque",
            data={"password": base64.b64encode(PASSWORD.encode()).decode()}),
        obj("networking.k8s.io/v1", "NetworkPolicy", "default-deny", ns,
            spec={"podSelector": {}, "policyTypes": ["Ingress"]}),
        obj("v1", "Service", "api", ns, spec={"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}),
        obj("apps/v1", "Deployment", "api", ns, labels=labels, spec={
            "replicas": replicas, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {
                "serviceAccountName": "api",
                "containers": [{"name": "api", "image": "nginx:1.27",
                                "envFrom": [{"configMapRef": {"name": "settings"}}]}]}}}),
        obj(f"{group}/v1", "Gadget", "one", ns, spec={"size": 3}),
    ]


def age_key(path: Path) -> SecretKey:
    """A fresh X25519 age identity file (no scrypt: milliseconds, unlike a passphrase)."""
    ident = pyrage.x25519.Identity.generate()
    path.write_text(f"# public key: {ident.to_public()}\n{ident}\n")
    path.chmod(0o600)
    return SecretKey.from_identity_file(path)


def write_snapshot(directory: Path, objects: list[dict[str, Any]], key: SecretKey) -> Snapshot:
    """A transformed snapshot, as `akshift transform` writes it (Secrets in the encrypted bundle)."""
    with SnapshotWriter(directory, stage="transformed", secret_key=key) as w:
        for o in objects:
            w.write(o)
    return Snapshot(directory)


def sandbox_config(kubeconfig: Path, snapshot: Path, identity: Path, *, stack: str = "sandbox",
                   **cluster: Any) -> dict[str, Any]:
    """A shipped sandbox stack's configuration, pointed at a test's cluster and snapshot (unprotected
    unless ``protect`` is given)."""
    config = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    config["akshift:cluster"].update({"kubeconfig": str(kubeconfig), "protect": False, **cluster})
    config["akshift:workloads"] = {"snapshot": str(snapshot), "ageIdentityFile": str(identity)}
    return config


def make_project(directory: Path, stacks: dict[str, dict[str, Any]]) -> Path:
    """A Pulumi project directory: the repository's Pulumi.yaml and the given stack files."""
    (directory / "stacks").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "Pulumi.yaml", directory / "Pulumi.yaml")
    for name, config in stacks.items():
        (directory / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}))
    return directory
