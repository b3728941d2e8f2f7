"""Bad inputs and faults, tried as a careless or unlucky user would: a clear message, the right exit code, no traceback.

Why one table: every command takes files, options and directories a person
typed; each row is one such mistake (or one fault of the environment) with
what the user depends on — the exit code (2 bad input, 3 environment, 1
failed), a message naming the culprit (file, key, option), no Python
traceback or "internal error", and nothing changed outside the run directory
(the working directory and every other file of the test's scene are
hashed before and after). Rows needing a real cluster are in
``support/bad_inputs.py`` and run against the sandbox by
``tests/cluster/test_bad_input_on_clusters.py``.
"""
from __future__ import annotations

import base64
import dataclasses
import http.server
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from akshift.cli import app
from migration.snapshot import SnapshotWriter

from support import ROOT
from support.bad_inputs import BINARY, CLUSTER_CASES
from support.bad_inputs import fingerprint as _fingerprint

runner = CliRunner()
Setup = Callable[[Path], None]


# --------------------------------------------------------------------------- scenes


def _deploy(name: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "shop"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


def snapshot(tmp: Path) -> None:
    """run/snapshot with two Deployments (no Secrets)."""
    with SnapshotWriter(tmp / "run" / "snapshot", exclude_secrets=True) as w:
        for n in ("web", "api"):
            w.write(_deploy(n))


def key(tmp: Path) -> None:
    r = runner.invoke(app, ["keygen", str(tmp / "age.key")])
    assert r.exit_code == 0, r.output


def secrets_snapshot(tmp: Path) -> None:
    """run/snapshot with a Deployment and a Secret (in secrets.age), and the age key."""
    from migration.secrets import SecretKey

    key(tmp)
    with SnapshotWriter(tmp / "run" / "snapshot", secret_key=SecretKey.from_identity_file(tmp / "age.key")) as w:
        w.write(_deploy("web"))
        w.write({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pw", "namespace": "shop"},
                 "data": {"pw": base64.b64encode(b"x").decode()}})


def transformed(tmp: Path) -> None:
    snapshot(tmp)
    r = runner.invoke(app, ["transform", "--out", str(tmp / "run")])
    assert r.exit_code == 0, r.output


def kubeconfig(tmp: Path, server: Any = "https://127.0.0.1:1", name: str = "kc.yaml", **cluster: Any) -> Path:
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
           "clusters": [{"name": "c", "cluster": {"server": server, "certificate-authority-data":
                                             base64.b64encode(b"not a CA").decode(), **cluster}}],
           "users": [{"name": "u", "user": {"token": "t"}}],
           "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}
    (tmp / name).write_text(yaml.safe_dump(doc))
    return tmp / name


def write(rel: str, data: bytes | str) -> Setup:
    def setup(tmp: Path) -> None:
        p = tmp / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return setup


def both(*setups: Setup) -> Setup:
    def setup(tmp: Path) -> None:
        for s in setups:
            s(tmp)
    return setup


def edit_index(change: Callable[[dict[str, Any]], Any]) -> Setup:
    def setup(tmp: Path) -> None:
        snapshot(tmp)
        p = tmp / "run/snapshot/index.json"
        doc = json.loads(p.read_text())
        new = change(doc)
        p.write_text(json.dumps(doc if new is None else new))
    return setup


class _Html(http.server.BaseHTTPRequestHandler):
    """A proxy's login page where the API server should be: 200, text/html, for every path."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = b"<html><body>Please sign in to the proxy</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


_html_server: list[http.server.ThreadingHTTPServer] = []


def html_proxy(tmp: Path) -> None:
    """kc.yaml pointing at a local web server answering 200 with HTML."""
    if not _html_server:
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Html)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        _html_server.append(srv)
    kubeconfig(tmp, f"http://127.0.0.1:{_html_server[0].server_port}")
    doc = yaml.safe_load((tmp / "kc.yaml").read_text())
    del doc["clusters"][0]["cluster"]["certificate-authority-data"]
    (tmp / "kc.yaml").write_text(yaml.safe_dump(doc))


def unreachable(tmp: Path) -> None:
    """kc.yaml pointing at a port nothing listens on."""
    kubeconfig(tmp, "http://127.0.0.1:1")
    doc = yaml.safe_load((tmp / "kc.yaml").read_text())
    del doc["clusters"][0]["cluster"]["certificate-authority-data"]
    (tmp / "kc.yaml").write_text(yaml.safe_dump(doc))


def arm_with(key: str, value: Any) -> Setup:
    """arm.json: the kubenet fixture with one networkProfile value (or the version) changed."""
    def setup(tmp: Path) -> None:
        doc = json.loads((ROOT / "tests/fixtures/arm/kubenet-prod.json").read_text())
        (doc if key in doc else doc["networkProfile"])[key] = value
        (tmp / "arm.json").write_text(json.dumps(doc))
    return setup


def nothing(tmp: Path) -> None:
    pass


def stack_file(tmp: Path, text: str) -> None:
    (tmp / "Pulumi.bad.yaml").write_text(text)


DEEP = "[" * 100_000 + "]" * 100_000
WEB = "run/snapshot/shop/apps.Deployment/web.yaml"
ARM_OK = {"name": "c", "location": "westeurope", "properties": {"kubernetesVersion": "1.30.0", "networkProfile": {
    "networkPlugin": "kubenet", "podCidr": "10.244.0.0/16", "serviceCidr": "10.0.0.0/16"}, "agentPoolProfiles": []}}


@dataclasses.dataclass(frozen=True)
class Case:
    """One bad input: the scene, the command line ({tmp} is the scene's directory), what the user must see."""

    id: str
    setup: Setup
    argv: list[str]
    code: int
    says: str  # a substring of the output naming the culprit


CASES = [
    # -- kubeconfigs (no cluster needed: they fail before any request) --------------------------------
    Case("kubeconfig-missing", snapshot, ["plan", "--target", "{tmp}/nope.yaml", "--out", "{tmp}/run"], 2, "nope.yaml"),
    Case("kubeconfig-binary", both(snapshot, write("kc.yaml", BINARY)),
         ["plan", "--target", "{tmp}/kc.yaml", "--out", "{tmp}/run"], 2, "kc.yaml"),
    Case("kubeconfig-empty", both(snapshot, write("kc.yaml", "")),
         ["apply", "--target", "{tmp}/kc.yaml", "--out", "{tmp}/run"], 2, "kc.yaml"),
    Case("kubeconfig-a-list", both(snapshot, write("kc.yaml", "- a\n- b\n")),
         ["apply", "--target", "{tmp}/kc.yaml", "--out", "{tmp}/run"], 2, "kc.yaml"),
    Case("kubeconfig-server-without-scheme", both(snapshot, lambda t: kubeconfig(t, "127.0.0.1:6443")),
         ["plan", "--target", "{tmp}/kc.yaml", "--out", "{tmp}/run"], 2, "127.0.0.1:6443"),
    Case("kubeconfig-server-a-list", both(snapshot, lambda t: kubeconfig(t, ["https://a"])),
         ["plan", "--target", "{tmp}/kc.yaml", "--out", "{tmp}/run"], 2, "server"),
    Case("kubeconfig-unknown-context", both(snapshot, kubeconfig),
         ["verify", "--target", "{tmp}/kc.yaml", "--target-context", "nope", "--out", "{tmp}/run"], 2, "nope"),
    Case("kubeconfig-is-a-directory", snapshot, ["plan", "--target", "{tmp}/run", "--out", "{tmp}/run"], 2, "run"),
    Case("kubeconfig-clusters-not-a-list", both(snapshot, write("kc.yaml", "clusters: 3\ncurrent-context: c\n")),
         ["plan", "--target", "{tmp}/kc.yaml", "--out", "{tmp}/run"], 2, "clusters"),
    Case("kubeconfig-deeply-nested", both(snapshot, write("kc.yaml", DEEP)),
         ["plan", "--target", "{tmp}/kc.yaml", "--out", "{tmp}/run"], 2, "kc.yaml"),
    Case("proxy-answers-200-with-html", both(snapshot, html_proxy),
         ["plan", "--target", "{tmp}/kc.yaml", "--out", "{tmp}/run"], 3, "text/html, not JSON"),
    Case("source-behind-an-html-proxy", html_proxy,
         ["inventory", "--source", "{tmp}/kc.yaml", "--out", "{tmp}/run", "--exclude-secrets"], 3, "text/html"),
    Case("server-unreachable", both(snapshot, unreachable),
         ["plan", "--target", "{tmp}/kc.yaml", "--out", "{tmp}/run"], 3, "127.0.0.1:1"),
    Case("source-kubeconfig-missing", nothing, ["inventory", "--source", "{tmp}/nope.yaml", "--out", "{tmp}/run",
                                                "--exclude-secrets"], 2, "nope.yaml"),
    Case("migrate-without-source", nothing, ["migrate", "--target", "{tmp}/kc.yaml", "--out", "{tmp}/run",
                                             "--exclude-secrets"], 2, "--source"),
    # -- run directories ------------------------------------------------------------------------------
    Case("transform-without-snapshot", nothing, ["transform", "--out", "{tmp}/run"], 2, "index.json"),
    Case("transform-out-is-a-file", write("run", "x"), ["transform", "--out", "{tmp}/run"], 2, "run"),
    Case("transform-out-under-a-file", write("file", "x"), ["transform", "--out", "{tmp}/file/run"], 2, "file"),
    Case("transform-existing-output-without-overwrite", transformed, ["transform", "--out", "{tmp}/run"], 2,
         "--overwrite"),
    Case("volumes-plan-without-snapshot", nothing, ["volumes", "plan", "--out", "{tmp}/run"], 2, "inventory"),
    # -- snapshot integrity ---------------------------------------------------------------------------
    Case("object-file-truncated", both(snapshot, lambda t: (t / WEB).write_text((t / WEB).read_text()[:30])),
         ["transform", "--out", "{tmp}/run"], 2, "web.yaml: changed"),
    Case("object-file-missing", both(snapshot, lambda t: (t / WEB).unlink()),
         ["transform", "--out", "{tmp}/run"], 2, "web.yaml: missing"),
    Case("object-file-binary", both(snapshot, write(WEB, BINARY)),
         ["transform", "--out", "{tmp}/run", "--allow-modified"], 2, "web.yaml"),
    Case("extra-file-in-snapshot", both(snapshot, write("run/snapshot/shop/apps.Deployment/x.yaml", "a: 1")),
         ["transform", "--out", "{tmp}/run"], 2, "x.yaml: not in index.json"),
    Case("object-file-edited-without-allow-modified",
         both(snapshot, lambda t: (t / WEB).write_text((t / WEB).read_text().replace("replicas: 1", "replicas: 5"))),
         ["transform", "--out", "{tmp}/run"], 2, "--allow-modified"),
    Case("index-not-json", both(snapshot, write("run/snapshot/index.json", "{nope")),
         ["transform", "--out", "{tmp}/run"], 2, "index.json"),
    Case("index-binary", both(snapshot, write("run/snapshot/index.json", BINARY)),
         ["transform", "--out", "{tmp}/run"], 2, "index.json"),
    Case("index-a-list", edit_index(lambda d: [d]), ["transform", "--out", "{tmp}/run"], 2, "index.json"),
    Case("index-objects-a-list", edit_index(lambda d: d.update(objects=["a"])),
         ["transform", "--out", "{tmp}/run"], 2, "'objects'"),
    Case("index-secrets-a-string", edit_index(lambda d: d.update(secrets="shop/core.Secret/x.yaml")),
         ["transform", "--out", "{tmp}/run"], 2, "'secrets'"),
    Case("index-path-escapes-the-snapshot", edit_index(lambda d: d["objects"].update({"../../etc/passwd": "0"})),
         ["transform", "--out", "{tmp}/run"], 2, "../../etc/passwd"),
    Case("index-wrong-format", edit_index(lambda d: d.update(format="other/v9")),
         ["transform", "--out", "{tmp}/run"], 2, "other/v9"),
    Case("index-stage-unknown", edit_index(lambda d: d.update(stage="raw")),
         ["transform", "--out", "{tmp}/run"], 2, "'stage'"),
    Case("index-deeply-nested", both(snapshot, write("run/snapshot/index.json", DEEP)),
         ["transform", "--out", "{tmp}/run"], 2, "index.json"),
    # -- Secrets and keys -----------------------------------------------------------------------------
    Case("secrets-bundle-missing", both(secrets_snapshot, lambda t: (t / "run/snapshot/secrets.age").unlink()),
         ["transform", "--out", "{tmp}/run", "--age-identity", "{tmp}/age.key"], 2, "secrets.age"),
    Case("secrets-bundle-corrupt", both(secrets_snapshot, write("run/snapshot/secrets.age", BINARY)),
         ["transform", "--out", "{tmp}/run", "--age-identity", "{tmp}/age.key"], 2, "secrets"),
    Case("secrets-without-identity", secrets_snapshot, ["transform", "--out", "{tmp}/run"], 2, "--age-identity"),
    Case("identity-file-missing", secrets_snapshot,
         ["transform", "--out", "{tmp}/run", "--age-identity", "{tmp}/nope.key"], 2, "nope.key"),
    Case("identity-file-garbage", both(secrets_snapshot, write("bad.key", "not a key\n")),
         ["transform", "--out", "{tmp}/run", "--age-identity", "{tmp}/bad.key"], 2, "bad.key"),
    Case("identity-file-binary", both(secrets_snapshot, write("bad.key", BINARY)),
         ["transform", "--out", "{tmp}/run", "--age-identity", "{tmp}/bad.key"], 2, "bad.key"),
    Case("keygen-existing-file", write("age.key", "x"), ["keygen", "{tmp}/age.key"], 2, "age.key"),
    Case("keygen-under-a-file", write("file", "x"), ["keygen", "{tmp}/file/age.key"], 2, "file"),
    Case("recipient-garbage", snapshot, ["inventory", "--source", "{tmp}/kc.yaml", "--out", "{tmp}/run2",
                                         "--age-recipient", "nope"], 2, "nope"),
    # -- options --------------------------------------------------------------------------------------
    Case("node-pool-map-without-equals", snapshot, ["transform", "--out", "{tmp}/run", "--node-pool-map", "a"], 2,
         "--node-pool-map"),
    Case("target-pod-cidr-invalid", snapshot, ["transform", "--out", "{tmp}/run", "--target-pod-cidr", "10.0.0/99"],
         2, "10.0.0/99"),
    Case("output-format-unknown", snapshot, ["transform", "--out", "{tmp}/run", "-o", "xml"], 2, "xml"),
    Case("concurrency-zero", snapshot, ["plan", "--out", "{tmp}/run", "--concurrency", "0"], 2, "--concurrency"),
    Case("ready-timeout-not-a-number", snapshot, ["verify", "--out", "{tmp}/run", "--ready-timeout", "soon"], 2,
         "--ready-timeout"),
    Case("zone-map-without-equals", snapshot, ["volumes", "plan", "--out", "{tmp}/run", "--zone-map", "1"], 2,
         "--zone-map"),
    Case("out-with-markup-in-its-name", nothing, ["transform", "--out", "{tmp}/run [/] :x: [denied]"], 2,
         "[/] :x: [denied]"),
    # -- volume files ---------------------------------------------------------------------------------
    Case("volumes-plan-file-garbage", both(snapshot, write("run/volumes-plan.json", "{nope")),
         ["transform", "--out", "{tmp}/run"], 2, "volumes-plan.json"),
    Case("volumes-plan-file-a-list", both(snapshot, write("run/volumes-plan.json", "[1, 2]")),
         ["transform", "--out", "{tmp}/run"], 2, "volumes-plan.json"),
    Case("volumes-plan-file-binary", both(snapshot, write("run/volumes-plan.json", BINARY)),
         ["transform", "--out", "{tmp}/run"], 2, "volumes-plan.json"),
    # -- stack files ----------------------------------------------------------------------------------
    Case("stack-file-missing", nothing, ["config", "validate", "{tmp}/Pulumi.nope.yaml"], 2, "Pulumi.nope.yaml"),
    Case("stack-file-duplicate-key", lambda t: stack_file(t, (ROOT / "stacks/Pulumi.test.yaml").read_text()
                                                         .replace("config:\n", "config:\n  akshift:location: a\n"
                                                                  "  akshift:location: b\n", 1)),
         ["config", "validate", "{tmp}/Pulumi.bad.yaml"], 2, "akshift:location"),
    Case("stack-file-binary", write("Pulumi.bad.yaml", BINARY), ["config", "validate", "{tmp}/Pulumi.bad.yaml"], 2,
         "Pulumi.bad.yaml"),
    Case("stack-file-a-list", write("Pulumi.bad.yaml", "- 1\n"), ["config", "validate", "{tmp}/Pulumi.bad.yaml"],
         2, "Pulumi.bad.yaml"),
    Case("stack-file-deeply-nested", write("Pulumi.bad.yaml", "config: " + "[" * 5000 + "]" * 5000),
         ["config", "validate", "{tmp}/Pulumi.bad.yaml"], 2, "Pulumi.bad.yaml"),
    Case("stack-file-is-a-directory", write("d/x", ""), ["config", "validate", "{tmp}/d"], 2, "d"),
    Case("config-schema-out-under-a-file", write("file", "x"), ["config", "schema", "--out", "{tmp}/file/s.json"], 2,
         "file"),
    Case("config-schema-out-is-a-directory", write("d/x", ""), ["config", "schema", "--out", "{tmp}/d"], 2, "d"),
    # -- ARM descriptions (doctor, strategy) ----------------------------------------------------------
    Case("arm-missing", nothing, ["doctor", "--arm", "{tmp}/nope.json"], 2, "nope.json"),
    Case("arm-not-json", write("arm.json", "{nope"), ["doctor", "--arm", "{tmp}/arm.json"], 2, "arm.json"),
    Case("arm-binary", write("arm.json", BINARY), ["doctor", "--arm", "{tmp}/arm.json"], 2, "arm.json"),
    Case("arm-a-list", write("arm.json", "[]"), ["doctor", "--arm", "{tmp}/arm.json"], 2, "arm.json"),
    Case("arm-deeply-nested", write("arm.json", DEEP), ["doctor", "--arm", "{tmp}/arm.json"], 2, "arm.json"),
    Case("arm-network-profile-a-string",
         write("arm.json", json.dumps({**ARM_OK, "properties": {**ARM_OK["properties"], "networkProfile": "x"}})),
         ["doctor", "--arm", "{tmp}/arm.json"], 2, "networkProfile"),
    Case("arm-pools-not-a-list",
         write("arm.json", json.dumps({**ARM_OK, "properties": {**ARM_OK["properties"], "agentPoolProfiles": 3}})),
         ["doctor", "--arm", "{tmp}/arm.json"], 2, "agentPoolProfiles"),
    Case("doctor-expiry-not-a-date", write("arm.json", json.dumps(ARM_OK)),
         ["doctor", "--arm", "{tmp}/arm.json", "--sp-secret-expires-on", "tomorrow"], 2, "tomorrow"),
    Case("strategy-arm-binary", write("arm.json", BINARY),
         ["strategy", "--stack-file", str(ROOT / "stacks/Pulumi.test.yaml"), "--arm", "{tmp}/arm.json"], 2, "arm.json"),
    Case("strategy-arm-plugin-unknown", arm_with("networkPlugin", "banana"),
         ["strategy", "--stack-file", str(ROOT / "stacks/Pulumi.test.yaml"), "--arm", "{tmp}/arm.json"], 2,
         "networkProfile.networkPlugin"),
    Case("strategy-arm-pod-cidr-invalid", arm_with("podCidr", "10.244.0.0/99"),
         ["strategy", "--stack-file", str(ROOT / "stacks/Pulumi.test.yaml"), "--arm", "{tmp}/arm.json"], 2,
         "networkProfile.podCidr"),
    Case("doctor-arm-dns-ip-invalid", arm_with("dnsServiceIp", "10.0.0.999"),
         ["doctor", "--arm", "{tmp}/arm.json"], 2, "networkProfile.dnsServiceIp"),
    Case("doctor-arm-version-invalid", arm_with("currentKubernetesVersion", "latest"),
         ["doctor", "--arm", "{tmp}/arm.json"], 2, "kubernetesVersion"),
    # -- cutover state --------------------------------------------------------------------------------
    Case("cutover-state-not-json", write("cut/state.json", "{nope"), ["cutover", "status", "--state-dir", "{tmp}/cut"],
         2, "state.json"),
    Case("cutover-state-binary", write("cut/state.json", BINARY), ["cutover", "status", "--state-dir", "{tmp}/cut"],
         2, "state.json"),
    Case("cutover-state-a-list", write("cut/state.json", "[]"), ["cutover", "status", "--state-dir", "{tmp}/cut"],
         2, "state.json"),
    Case("cutover-state-wrong-types", write("cut/state.json", json.dumps({"from_cluster": 1, "steps": "x"})),
         ["cutover", "status", "--state-dir", "{tmp}/cut"], 2, "state.json"),
    Case("cutover-state-deeply-nested", write("cut/state.json", DEEP),
         ["cutover", "status", "--state-dir", "{tmp}/cut"], 2, "state.json"),
    Case("rollback-state-wrong-shape", write("cut/state.json", "[]"),
         ["rollback", "--state-dir", "{tmp}/cut", "--router", "haproxy"], 2, "state.json"),
    Case("cutover-wait-not-a-duration", nothing, ["rollback", "--state-dir", "{tmp}/cut", "--wait", "soon"], 2, "soon"),
]


def _run(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    scene = tmp_path / "scene"
    scene.mkdir()
    case.setup(scene)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # a default --out (out/migration) would land here: it must not
    argv = [a.replace("{tmp}", str(scene)) for a in case.argv]
    before = _fingerprint(tmp_path, scene / "run")
    r = runner.invoke(app, argv)
    after = _fingerprint(tmp_path, scene / "run")
    return r, before, after


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gets_a_clear_error_and_the_right_exit_code(case: Case, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    r, before, after = _run(case, tmp_path, monkeypatch)
    output = r.output
    assert "Traceback" not in output and "internal error" not in output, output
    assert r.exit_code == case.code, output
    assert "".join(case.says.split()) in "".join(output.split()), output  # the console wraps long lines
    assert after == before, "files outside the run directory changed"


def test_the_table_has_at_least_sixty_distinct_bad_inputs() -> None:
    assert len({c.id for c in CASES}) == len(CASES) >= 60
    assert len({c.id for c in CLUSTER_CASES} | {c.id for c in CASES}) == len(CASES) + len(CLUSTER_CASES)
