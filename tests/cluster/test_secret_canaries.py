"""No Secret value reaches a report, a log, a JSON output or a message, on real sandbox clusters.

Why a canary: the values a migration carries in Secrets are the most sensitive
bytes it touches; the only files allowed to hold them are the age-encrypted
``secrets.age`` bundles. So this test plants recognizable values in Secrets on
blue, runs every command over them (with a Secret deliberately changed on the
target so verify has a difference to describe) and greps every file the runs
wrote and everything they printed, for each value in plain text and in base64.
"""
from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from akshift.cli import app
from kube.client import KubeClient
from migration.verify import scrub, secret_diff
from sandbox.cluster import LocalCluster

runner = CliRunner()

CANARIES = {"password": "canary-pw-7f3a91c2", "token": "canary-token-b84e1d",
            "changed": "canary-before-4c2b9e"}
CHANGED = "canary-after-91de03"
NS = "canary-secrets"


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


NEEDLES = [*CANARIES.values(), CHANGED, *(_b64(v) for v in [*CANARIES.values(), CHANGED])]


def test_a_secret_diff_names_the_keys_and_a_digest_never_the_values() -> None:
    desired = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
               "data": {k: _b64(v) for k, v in CANARIES.items()}}
    live = {**desired, "data": {"password": _b64(CANARIES["password"]), "changed": _b64(CHANGED)}}
    diffs = secret_diff(desired, live)
    text = "\n".join(diffs)
    assert "changed" in text and "token" in text and "sha256:" in text
    assert not [n for n in NEEDLES if n in text]


def test_scrub_removes_plain_and_base64_values_from_a_server_message() -> None:
    secret = {"stringData": {"pw": "hunter2-canary"}, "data": {"k": _b64("other-canary")}}
    msg = "denied: value hunter2-canary and b3RoZXItY2FuYXJ5 and other-canary"
    assert scrub(msg, [secret]) == "denied: value <redacted> and <redacted> and <redacted>"


def test_no_command_writes_or_prints_a_secret_value(blue: LocalCluster, fresh_cluster: Any, tmp_path: Path) -> None:
    green = fresh_cluster()
    key = tmp_path / "age.key"
    assert runner.invoke(app, ["keygen", str(key)]).exit_code == 0
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "canary", "namespace": NS},
              "type": "Opaque", "data": {k: _b64(v) for k, v in CANARIES.items()}}
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}
    with KubeClient.from_kubeconfig(blue.kubeconfig) as k:
        k.apply(namespace, field_manager="test")
        k.apply(secret, field_manager="test")
        k.apply({**secret, "metadata": {"name": "canary-2", "namespace": NS}}, field_manager="test")
    try:
        out, out2 = tmp_path / "run", tmp_path / "run2"
        src, tgt = ["--source", str(blue.kubeconfig)], ["--target", str(green.kubeconfig)]
        ident = ["--age-identity", str(key)]
        printed: list[str] = []

        def run(*args: str) -> Any:
            r = runner.invoke(app, list(args))
            printed.append(r.output)
            assert "Traceback" not in r.output, r.output
            return r

        for o in ("text", "json"):
            printed_before = len(printed)
            run("inventory", *src, "--out", str(out), "--namespace", NS, *ident, "--overwrite", "-o", o)
            run("volumes", "plan", "--out", str(out), *tgt, "--target-resource-group", "rg-canary-disk-copies", "-o", o)
            run("transform", "--out", str(out), *tgt, *ident, "--overwrite", "-o", o)
            run("plan", "--out", str(out), *tgt, *ident, "-o", o)
            r = run("apply", "--out", str(out), *tgt, *ident, "-o", o)
            assert r.exit_code == 0, r.output
            assert len(printed) == printed_before + 5
        with KubeClient.from_kubeconfig(green.kubeconfig) as k:  # someone changed the Secret on the target
            k.apply({**secret, "data": {**secret["data"], "changed": _b64(CHANGED)}}, field_manager="test",
                    force=True)
        for o in ("text", "json"):
            r = run("verify", "--out", str(out), *tgt, *ident, "--ready-timeout", "5", "-o", o)
            assert r.exit_code == 1, r.output
            assert "changed" in r.output  # the key is named
        run("migrate", *src, *tgt, "--out", str(out2), "--namespace", NS, *ident, "--ready-timeout", "5")
        written = [p for d in (out, out2) for p in d.rglob("*") if p.is_file() and p.name != "secrets.age"]
        assert any(p.name == "verify.json" for p in written) and any(p.name == "report.md" for p in written)
        leaks = [(str(p), n) for p in written for n in NEEDLES if n.encode() in p.read_bytes()]
        leaks += [("output", n) for text in printed for n in NEEDLES if n in text]
        assert leaks == []
    finally:
        with KubeClient.from_kubeconfig(blue.kubeconfig) as k:
            k.delete(namespace)
