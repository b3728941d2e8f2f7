"""Kubeconfig authentication against a REAL kube-apiserver: exec plugins, refresh, 401, contexts, KUBECONFIG.

The cluster accepts a few static bearer tokens (``--token-auth-file``), each a user of the group
``akshift:readers``, which a ClusterRoleBinding gives the built-in ``view`` role: an RBAC-bound
identity other than the admin certificate. An exec plugin written by the test (a small Python
script) hands these tokens out with short lifetimes and records every invocation, so each test
proves what the client did (who the server says we are, how often the plugin ran) rather than
what it meant to do. The unit tests of the same logic are in tests/unit/kube/.
"""
from __future__ import annotations

import base64
import json
import ssl
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from kube.auth import ExecOptions
from kube.client import KubeClient, connect
from kube.errors import ApiError, KubeconfigError
from sandbox import build
from sandbox.cluster import LocalCluster, SandboxError
from sandbox.profiles import BLUE

READERS = "akshift:readers"
TOKENS = {f"tok-{i}": (f"plugin-user-{i}", (READERS,)) for i in range(1, 7)}
V1 = "client.authentication.k8s.io/v1"

PLUGIN = '''#!{python}
"""A test credential plugin: answers from plan.json by call number (the last answer repeats), logs each call."""
import datetime as dt, json, os, sys, time
from pathlib import Path

d = Path(__file__).parent
calls = d / "calls.jsonl"
n = (len(calls.read_text().splitlines()) if calls.exists() else 0) + 1
plan = json.loads((d / "plan.json").read_text())
answer = plan[min(n, len(plan)) - 1]
with calls.open("a") as f:
    f.write(json.dumps({{"n": n, "time": time.time(), "args": sys.argv[1:],
                         "info": json.loads(os.environ["KUBERNETES_EXEC_INFO"])}}) + "\\n")
status = {{k: v for k, v in answer.items() if k != "ttl"}}
if answer.get("ttl") is not None:
    expiry = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=answer["ttl"])
    status["expirationTimestamp"] = expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
print(json.dumps({{"apiVersion": "{api}", "kind": "ExecCredential", "status": status}}))
'''


class Plugin:
    """The plugin script and its plan; ``calls()`` are its recorded invocations."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True)
        self.dir = directory
        self.path = directory / "plugin.py"
        self.path.write_text(PLUGIN.format(python=sys.executable, api=V1))
        self.path.chmod(0o755)

    def plan(self, *answers: dict[str, Any]) -> Plugin:
        (self.dir / "plan.json").write_text(json.dumps(list(answers)))
        return self

    def calls(self) -> list[dict[str, Any]]:
        f = self.dir / "calls.jsonl"
        return [json.loads(line) for line in f.read_text().splitlines()] if f.exists() else []


@pytest.fixture(scope="module")
def auth_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A cluster that accepts TOKENS, with the group READERS bound to the `view` ClusterRole."""
    missing = [t.name for t in build.TOOLS.values() if t.name in ("etcd", "kubernetes", "kwok") and t.missing()]
    if missing:
        pytest.fail(f"sandbox binaries not built: {', '.join(missing)}; run scripts/setup (never skipped)", pytrace=False)
    c = LocalCluster(BLUE, tmp_path_factory.mktemp("auth") / "blue", tokens=TOKENS)
    try:
        c.start()
    except SandboxError as e:
        c.stop()
        pytest.fail(str(e), pytrace=False)
    try:
        with KubeClient.from_kubeconfig(c.kubeconfig) as admin:
            admin.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                         "metadata": {"name": "akshift-readers-view"},
                         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": READERS}]},
                        field_manager="akshift-test")
        yield c
    finally:
        c.stop()


def cluster_entry(c: LocalCluster, name: str, **extra: Any) -> dict[str, Any]:
    admin = yaml.safe_load(c.kubeconfig.read_text())
    return {"name": name, "cluster": {**admin["clusters"][0]["cluster"], **extra}}


def admin_user(c: LocalCluster, name: str) -> dict[str, Any]:
    return {"name": name, "user": yaml.safe_load(c.kubeconfig.read_text())["users"][0]["user"]}


def plugin_kubeconfig(path: Path, c: LocalCluster, plugin: Plugin, **cluster_extra: Any) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "aks",
        "clusters": [cluster_entry(c, "aks", **cluster_extra)],
        "users": [{"name": "entra-user", "user": {"exec": {
            "apiVersion": V1, "command": str(plugin.path), "args": ["get-token", "--server-id", "6dae42f8"],
            "interactiveMode": "Never", "provideClusterInfo": True,
            "installHint": "the test writes this plugin"}}}],
        "contexts": [{"name": "aks", "context": {"cluster": "aks", "user": "entra-user"}}],
    }))
    return path


def whoami(k: KubeClient) -> str:
    review = k.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                       body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    return str(review["status"]["userInfo"]["username"])


def kube_system_uid(k: KubeClient) -> str:
    return str(k.get("/api/v1/namespaces/kube-system")["metadata"]["uid"])


def quiet() -> ExecOptions:
    return ExecOptions(stderr=None, timeout=30)


# -- exec plugins against the real server --------------------------------------------------


def test_an_exec_plugin_token_authenticates_an_rbac_bound_identity(auth_cluster: LocalCluster, tmp_path: Path) -> None:
    plugin = Plugin(tmp_path / "plugin").plan({"token": "tok-1", "ttl": 3600})
    kc = plugin_kubeconfig(tmp_path / "kubeconfig", auth_cluster, plugin)
    with connect(kc, role="--source", exec_options=quiet()) as k:
        assert whoami(k) == "plugin-user-1"
        assert any(ns["metadata"]["name"] == "kube-system" for ns in k.get("/api/v1/namespaces")["items"])  # view
        with pytest.raises(ApiError) as e:  # …and nothing more: the identity is the bound reader, not an admin
            k.request("POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace",
                                                          "metadata": {"name": "not-allowed"}})
        assert e.value.status == 403
    (call,) = plugin.calls()
    assert call["args"] == ["get-token", "--server-id", "6dae42f8"]
    assert call["info"]["spec"]["interactive"] is False
    cluster = call["info"]["spec"]["cluster"]
    assert cluster["server"] == auth_cluster.server
    assert base64.b64decode(cluster["certificate-authority-data"]) == (auth_cluster.state_dir / "pki" / "ca.crt").read_bytes()


def test_a_token_near_its_expiry_is_replaced_before_the_server_could_refuse_it(auth_cluster: LocalCluster,
                                                                               tmp_path: Path) -> None:
    plugin = Plugin(tmp_path / "plugin").plan({"token": "tok-1", "ttl": 4}, {"token": "tok-2", "ttl": 3600})
    with connect(plugin_kubeconfig(tmp_path / "kc", auth_cluster, plugin), exec_options=quiet()) as k:
        assert whoami(k) == "plugin-user-1"
        assert whoami(k) == "plugin-user-1"
        assert len(plugin.calls()) == 1
        first = plugin.calls()[0]["time"]
        # Refreshed a quarter of its life before expiry; the expiry is written with whole seconds.
        time.sleep(max(0.0, first + 3.2 - time.time()))
        assert whoami(k) == "plugin-user-2"
    calls = plugin.calls()
    assert len(calls) == 2
    assert calls[1]["time"] < first + 4, "the plugin ran only after the token had expired"


def test_a_token_the_server_stops_accepting_is_replaced_once_on_the_401(auth_cluster: LocalCluster,
                                                                        tmp_path: Path) -> None:
    """The plugin's first token is a real ServiceAccount token, revoked under the running client by deleting
    its ServiceAccount; the server's 401 makes the client run the plugin again, once, and resend."""
    with KubeClient.from_kubeconfig(auth_cluster.kubeconfig) as admin:
        sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "soon-revoked", "namespace": "default"}}
        admin.create(sa)
        issued = admin.request("POST", "/api/v1/namespaces/default/serviceaccounts/soon-revoked/token",
                               body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                     "spec": {"expirationSeconds": 3600}})
        sa_token = issued["status"]["token"]
        plugin = Plugin(tmp_path / "plugin").plan({"token": sa_token}, {"token": "tok-3", "ttl": 3600})
        with connect(plugin_kubeconfig(tmp_path / "kc", auth_cluster, plugin), exec_options=quiet()) as k:
            assert whoami(k) == "system:serviceaccount:default:soon-revoked"
            admin.delete(sa)
            # The server caches successful token reviews for a few seconds: wait until it refuses the token.
            verify = ssl.create_default_context(cafile=auth_cluster.state_dir / "pki" / "ca.crt")
            deadline = time.monotonic() + 30
            with httpx.Client(verify=verify) as raw:
                while raw.get(f"{auth_cluster.server}/version",
                              headers={"Authorization": f"Bearer {sa_token}"}).status_code != 401:
                    assert time.monotonic() < deadline, "the server still accepts a deleted ServiceAccount's token"
                    time.sleep(0.5)
            assert len(plugin.calls()) == 1
            assert whoami(k) == "plugin-user-3"
            assert whoami(k) == "plugin-user-3"
    assert len(plugin.calls()) == 2


def test_credentials_refused_even_after_a_fresh_plugin_run_are_a_clear_error(auth_cluster: LocalCluster,
                                                                             tmp_path: Path) -> None:
    plugin = Plugin(tmp_path / "plugin").plan({"token": "never-valid-token"})
    kc = plugin_kubeconfig(tmp_path / "kc", auth_cluster, plugin)
    with pytest.raises(KubeconfigError) as e:
        connect(kc, role="--target", exec_options=quiet())
    text = str(e.value)
    assert text.startswith("--target: ") and "context 'aks' (user 'entra-user', kubeconfig " in text and str(kc) in text
    assert "401" in text and "never-valid-token" not in text + e.value.fix
    assert len(plugin.calls()) == 2  # the first run, and exactly one more on the 401


def test_a_client_certificate_from_the_plugin_authenticates_the_tls_handshake(auth_cluster: LocalCluster,
                                                                              tmp_path: Path) -> None:
    pki = auth_cluster.state_dir / "pki"
    plugin = Plugin(tmp_path / "plugin").plan({"clientCertificateData": (pki / "admin.crt").read_text(),
                                               "clientKeyData": (pki / "admin.key").read_text()})
    with connect(plugin_kubeconfig(tmp_path / "kc", auth_cluster, plugin), exec_options=quiet()) as k:
        assert whoami(k) == "kubernetes-admin"
    assert len(plugin.calls()) == 1


# -- TLS server name ------------------------------------------------------------------


def test_tls_server_name_is_the_name_the_servers_certificate_is_checked_against(auth_cluster: LocalCluster,
                                                                                tmp_path: Path) -> None:
    kc = tmp_path / "kc"
    server = auth_cluster.server.replace("127.0.0.1", "localhost")

    def write(name: str) -> Path:
        kc.write_text(yaml.safe_dump({
            "current-context": "c", "clusters": [cluster_entry(auth_cluster, "c", server=server, **{"tls-server-name": name})],
            "users": [admin_user(auth_cluster, "admin")], "contexts": [{"name": "c", "context": {"cluster": "c", "user": "admin"}}]}))
        return kc

    with connect(write("kubernetes.default.svc")) as k:  # a name in the serving certificate
        assert whoami(k) == "kubernetes-admin"
    with pytest.raises(KubeconfigError) as e:
        connect(write("not-in-the-certificate.example"), role="--source")
    assert "certificate failed verification" in str(e.value) and "tls-server-name" in e.value.fix


# -- contexts and KUBECONFIG ------------------------------------------------------------


def test_one_kubeconfig_with_two_contexts_reaches_two_clusters(auth_cluster: LocalCluster, green: LocalCluster,
                                                               tmp_path: Path) -> None:
    kc = tmp_path / "kubeconfig"
    kc.write_text(yaml.safe_dump({
        "current-context": "target",
        "clusters": [cluster_entry(auth_cluster, "old-aks"), cluster_entry(green, "new-aks")],
        "users": [admin_user(auth_cluster, "old-admin"), admin_user(green, "new-admin")],
        "contexts": [{"name": "source", "context": {"cluster": "old-aks", "user": "old-admin"}},
                     {"name": "target", "context": {"cluster": "new-aks", "user": "new-admin"}}]}))
    with KubeClient.from_kubeconfig(auth_cluster.kubeconfig) as k:
        source_uid = kube_system_uid(k)
    with KubeClient.from_kubeconfig(green.kubeconfig) as k:
        target_uid = kube_system_uid(k)
    assert source_uid != target_uid
    with connect(kc, "source", role="--source") as src, connect(kc, "target", role="--target") as tgt:
        assert (kube_system_uid(src), kube_system_uid(tgt)) == (source_uid, target_uid)
    with connect(kc) as current:
        assert kube_system_uid(current) == target_uid


def test_kubeconfig_with_two_files_merges_them_as_kubectl_does(auth_cluster: LocalCluster, green: LocalCluster,
                                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = Plugin(tmp_path / "plugin").plan({"token": "tok-4", "ttl": 3600})
    first = plugin_kubeconfig(tmp_path / "first", auth_cluster, plugin)  # context "aks", current-context "aks"
    second = tmp_path / "second"
    second.write_text(yaml.safe_dump({
        "current-context": "green",  # the first file's current-context wins
        "clusters": [cluster_entry(green, "green"), cluster_entry(green, "aks")],  # "aks" is the first file's
        "users": [admin_user(green, "green-admin")],
        "contexts": [{"name": "green", "context": {"cluster": "green", "user": "green-admin"}}]}))
    monkeypatch.setenv("KUBECONFIG", f"{first}:{tmp_path / 'absent'}:{second}")
    with KubeClient.from_kubeconfig(green.kubeconfig) as k:
        green_uid = kube_system_uid(k)
    with connect(None, exec_options=quiet()) as k:
        assert k.config.context == "aks" and k.config.server == auth_cluster.server
        assert whoami(k) == "plugin-user-4"
    with connect(None, "green") as k:
        assert kube_system_uid(k) == green_uid and whoami(k) == "kubernetes-admin"
    assert len(plugin.calls()) == 1


def test_an_expiry_in_the_past_is_refused_before_any_request(auth_cluster: LocalCluster, tmp_path: Path) -> None:
    from kube.errors import CredentialError

    plugin = Plugin(tmp_path / "plugin").plan({"token": "tok-5", "ttl": -60})
    with pytest.raises(CredentialError) as e:
        connect(plugin_kubeconfig(tmp_path / "kc", auth_cluster, plugin), role="--source", exec_options=quiet())
    assert "expired at" in str(e.value) and "cannot be refreshed" in str(e.value) and "tok-5" not in str(e.value)
    assert str(e.value).startswith("--source: ") and e.value.exit_code == 3
