"""Credentials at request time: exec plugins (run for real, as small shell scripts), token files, refresh and 401.

The API server is an in-process ``httpx.MockTransport``; the plugins are real processes, so
the missing / failing / hanging / garbage cases go through the same subprocess code as kubelogin.
The same proofs against a real kube-apiserver are in tests/cluster/test_kube_auth.py.
"""
from __future__ import annotations

import base64
import datetime as dt
import io
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from errors import ErrorKind
from kube.auth import ExecOptions, RefreshingAuth, TokenFile, auth_for
from kube.client import KubeClient, connect
from kube.config import KubeConfig
from kube.errors import ApiError, CredentialError, KubeconfigError

V1 = "client.authentication.k8s.io/v1"
V1BETA1 = "client.authentication.k8s.io/v1beta1"
CA_PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJtZSJ9.c2lnbmF0dXJl"

SCRIPT = r"""#!/bin/sh
d="$(dirname "$0")"
n=$(( $(cat "$d/count" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$d/count"
printf '%s\n' "$KUBERNETES_EXEC_INFO" >> "$d/info"
printf '%s|%s|%s\n' "$*" "${PLUGIN_ENV:-}" "$(readlink /proc/self/fd/0)" >> "$d/calls"
echo $$ >> "$d/pids"
[ -f "$d/stderr" ] && cat "$d/stderr" >&2
[ -f "$d/sleep" ] && sleep "$(cat "$d/sleep")"
f="$d/out.$n"; [ -f "$f" ] || f="$d/out"
cat "$f"
exit "$(cat "$d/rc" 2>/dev/null || echo 0)"
"""


class Plugin:
    """A credential plugin script in its own directory that records every call."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        directory.mkdir(parents=True)
        self.path = directory / "plugin"
        self.path.write_text(SCRIPT)
        self.path.chmod(0o755)

    def answers(self, *outputs: str | dict[str, Any], rc: int = 0, stderr: str = "", sleep: float = 0) -> Plugin:
        """What the plugin prints on its 1st, 2nd … call (the last answer repeats)."""
        for i, out in enumerate(outputs, 1):
            text = out if isinstance(out, str) else json.dumps(out)
            (self.dir / f"out.{i}").write_text(text)
        (self.dir / "out").write_text((self.dir / f"out.{len(outputs)}").read_text() if outputs else "")
        (self.dir / "rc").write_text(str(rc))
        if stderr:
            (self.dir / "stderr").write_text(stderr)
        if sleep:
            (self.dir / "sleep").write_text(str(sleep))
        return self

    @property
    def calls(self) -> int:
        f = self.dir / "count"
        return int(f.read_text()) if f.exists() else 0

    def infos(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in (self.dir / "info").read_text().splitlines()]

    def call_lines(self) -> list[list[str]]:
        return [line.split("|") for line in (self.dir / "calls").read_text().splitlines()]


def credential(token: str | None = "tok", *, api_version: str = V1, expires: float | None = None,
               cert: str | None = None, key: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if token is not None:
        status["token"] = token
    if expires is not None:
        status["expirationTimestamp"] = dt.datetime.fromtimestamp(expires, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if cert is not None:
        status["clientCertificateData"] = cert
    if key is not None:
        status["clientKeyData"] = key
    return {"apiVersion": api_version, "kind": "ExecCredential", "status": status}


def kubeconfig(tmp_path: Path, user: dict[str, Any], cluster: dict[str, Any] | None = None) -> Path:
    f = tmp_path / "kubeconfig"
    f.write_text(yaml.safe_dump({
        "current-context": "aks",
        "clusters": [{"name": "aks", "cluster": {"server": "https://aks.example:443",
                                                 "certificate-authority-data": base64.b64encode(CA_PEM).decode(),
                                                 **(cluster or {})}}],
        "users": [{"name": "clusterUser_rg_aks", "user": user}],
        "contexts": [{"name": "aks", "context": {"cluster": "aks", "user": "clusterUser_rg_aks"}}],
    }))
    return f


def exec_user(plugin: Plugin, **fields: Any) -> dict[str, Any]:
    return {"exec": {"apiVersion": V1, "command": str(plugin.path), "interactiveMode": "Never", **fields}}


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


class Server:
    """An in-process API server that accepts some bearer tokens and records what it was sent."""

    def __init__(self, *valid: str) -> None:
        self.valid = set(valid)
        self.seen: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        header = request.headers.get("Authorization", "")
        with self.lock:
            self.seen.append(header)
        if header.removeprefix("Bearer ") in self.valid:
            return httpx.Response(200, json={"gitVersion": "v1.36.3"})
        return httpx.Response(401, json={"kind": "Status", "reason": "Unauthorized", "message": "Unauthorized"})


def client_for(path: Path, server: Server, clock: Clock | None = None, **options: Any) -> KubeClient:
    return KubeClient(KubeConfig.load(path), transport=httpx.MockTransport(server), sleep=lambda s: None,
                      exec_options=ExecOptions(stderr=None, **options), clock=clock or time.time)


# -- running the plugin ------------------------------------------------------------


def test_the_plugin_token_is_sent_as_bearer_and_its_args_and_env_reach_it(tmp_path: Path) -> None:
    plugin = Plugin(tmp_path / "p").answers(credential("t1"))
    kc = kubeconfig(tmp_path, exec_user(plugin, args=["get-token", "--server-id", "6dae"],
                                        env=[{"name": "PLUGIN_ENV", "value": "from-kubeconfig"}]))
    server = Server("t1")
    with client_for(kc, server) as k:
        assert k.get("/version") == {"gitVersion": "v1.36.3"}
        assert k.get("/version") == {"gitVersion": "v1.36.3"}
    assert server.seen == ["Bearer t1", "Bearer t1"]
    assert plugin.calls == 1  # no expiry: the token is reused until the server refuses it
    args, env, stdin = plugin.call_lines()[0]
    assert (args, env, stdin) == ("get-token --server-id 6dae", "from-kubeconfig", "/dev/null")
    assert plugin.infos() == [{"apiVersion": V1, "kind": "ExecCredential", "spec": {"interactive": False}}]


def test_provide_cluster_info_hands_the_cluster_to_the_plugin(tmp_path: Path) -> None:
    plugin = Plugin(tmp_path / "p").answers(credential("t1", api_version=V1BETA1))
    kc = kubeconfig(tmp_path, {"exec": {"apiVersion": V1BETA1, "command": str(plugin.path), "provideClusterInfo": True}},
                    cluster={"tls-server-name": "kubernetes.default", "proxy-url": "http://proxy:3128",
                             "extensions": [{"name": "client.authentication.k8s.io/exec",
                                             "extension": {"audience": "6dae"}}]})
    with client_for(kc, Server("t1"), interactive=False) as k:
        k.get("/version")
    (info,) = plugin.infos()
    assert info["apiVersion"] == V1BETA1
    assert info["spec"] == {"interactive": False, "cluster": {
        "server": "https://aks.example:443", "tls-server-name": "kubernetes.default", "proxy-url": "http://proxy:3128",
        "certificate-authority-data": base64.b64encode(CA_PEM).decode(), "config": {"audience": "6dae"}}}


@pytest.mark.parametrize("mode, terminal, interactive, stdin", [
    ("Never", True, False, "/dev/null"),
    ("IfAvailable", False, False, "/dev/null"),
    ("IfAvailable", True, True, None),  # None: our own stdin, inherited
    ("Always", True, True, None),
], ids=["never-with-terminal", "if-available-without", "if-available-with", "always-with"])
def test_interactive_mode_decides_whether_the_plugin_gets_stdin(tmp_path: Path, mode: str, terminal: bool,
                                                                interactive: bool, stdin: str | None) -> None:
    plugin = Plugin(tmp_path / "p").answers(credential("t1"))
    kc = kubeconfig(tmp_path, exec_user(plugin, interactiveMode=mode))
    # Our own stdin becomes a pipe, so the plugin's shows whether it was inherited.
    saved, (r, w) = os.dup(0), os.pipe()
    os.dup2(r, 0)
    try:
        with client_for(kc, Server("t1"), interactive=terminal) as k:
            k.get("/version")
    finally:
        os.dup2(saved, 0)
        for fd in (saved, r, w):
            os.close(fd)
    assert plugin.infos()[0]["spec"]["interactive"] is interactive
    got = plugin.call_lines()[0][2]
    assert got == stdin if stdin else got.startswith("pipe:"), got


def test_interactive_mode_always_without_a_terminal_is_a_clear_error(tmp_path: Path) -> None:
    plugin = Plugin(tmp_path / "p").answers(credential("t1"))
    kc = kubeconfig(tmp_path, exec_user(plugin, interactiveMode="Always"))
    with client_for(kc, Server("t1"), interactive=False) as k, pytest.raises(CredentialError) as e:
        k.get("/version")
    assert "needs an interactive terminal (interactiveMode: Always)" in str(e.value)
    assert plugin.calls == 0


def test_the_plugins_stderr_is_passed_through_as_it_arrives(tmp_path: Path) -> None:
    plugin = Plugin(tmp_path / "p").answers(credential("t1"), stderr="To sign in, open https://microsoft.com/devicelogin\n")
    sink = io.StringIO()
    k = KubeClient(KubeConfig.load(kubeconfig(tmp_path, exec_user(plugin))), transport=httpx.MockTransport(Server("t1")),
                   exec_options=ExecOptions(stderr=sink))
    with k:
        k.get("/version")
    assert sink.getvalue() == "To sign in, open https://microsoft.com/devicelogin\n"


# -- refresh: before expiry, once on 401, once for many threads -------------------------------


def test_the_plugin_runs_again_before_the_token_expires(tmp_path: Path) -> None:
    clock = Clock()
    plugin = Plugin(tmp_path / "p").answers(credential("t1", expires=clock.now + 3600),
                                            credential("t2", expires=clock.now + 7200))
    server = Server("t1", "t2")
    with client_for(kubeconfig(tmp_path, exec_user(plugin)), server, clock) as k:
        k.get("/version")
        clock.now += 3600 - 61  # a minute and a second before expiry: still fresh
        k.get("/version")
        assert plugin.calls == 1
        clock.now += 2  # inside the last minute: refreshed before the server could refuse it
        k.get("/version")
    assert plugin.calls == 2
    assert server.seen == ["Bearer t1", "Bearer t1", "Bearer t2"]


def test_a_short_lived_token_is_refreshed_a_quarter_of_its_life_early(tmp_path: Path) -> None:
    clock = Clock()
    plugin = Plugin(tmp_path / "p").answers(credential("t1", expires=clock.now + 8), credential("t2"))
    with client_for(kubeconfig(tmp_path, exec_user(plugin)), Server("t1", "t2"), clock) as k:
        k.get("/version")
        clock.now += 5.9
        k.get("/version")
        assert plugin.calls == 1
        clock.now += 0.2  # 6.1 s of 8: past the margin of 2 s
        k.get("/version")
    assert plugin.calls == 2


def test_a_failed_refresh_keeps_the_still_valid_token_and_retries_until_it_expires(tmp_path: Path) -> None:
    clock = Clock()
    start = clock.now
    plugin = Plugin(tmp_path / "p").answers(credential("t1", expires=start + 100), "")
    server = Server("t1")
    with client_for(kubeconfig(tmp_path, exec_user(plugin)), server, clock) as k:
        k.get("/version")
        (plugin.dir / "rc").write_text("1")  # from now on the plugin fails (the identity provider is down)
        clock.now = start + 80  # past the refresh point (75): the refresh fails, t1 is still good
        k.get("/version")
        assert plugin.calls == 2
        clock.now = start + 84  # retried only every 5 s, not on every request
        k.get("/version")
        assert plugin.calls == 2
        clock.now = start + 86
        k.get("/version")
        assert plugin.calls == 3
        clock.now = start + 101  # expired and still no new one: now it is an error
        with pytest.raises(CredentialError, match="exited with 1"):
            k.get("/version")
    assert server.seen == ["Bearer t1"] * 4


def test_a_401_on_a_token_kept_through_a_failed_refresh_still_runs_the_plugin_again(tmp_path: Path) -> None:
    clock = Clock()
    start = clock.now
    plugin = Plugin(tmp_path / "p").answers(credential("t1", expires=start + 100), "", credential("t2"))
    server = Server("t1", "t2")
    with client_for(kubeconfig(tmp_path, exec_user(plugin)), server, clock) as k:
        k.get("/version")
        (plugin.dir / "rc").write_text("1")
        clock.now = start + 80
        k.get("/version")  # the refresh fails; t1 is kept
        (plugin.dir / "rc").write_text("0")
        server.valid.discard("t1")  # …and then revoked
        k.get("/version")
    assert plugin.calls == 3
    assert server.seen == ["Bearer t1", "Bearer t1", "Bearer t1", "Bearer t2"]


def test_a_401_runs_the_plugin_again_once_and_resends_the_request(tmp_path: Path) -> None:
    plugin = Plugin(tmp_path / "p").answers(credential("revoked"), credential("t2"))
    server = Server("t2")
    with client_for(kubeconfig(tmp_path, exec_user(plugin)), server) as k:
        assert k.request("POST", "/api/v1/namespaces", body={"metadata": {"name": "x"}}) == {"gitVersion": "v1.36.3"}
    assert server.seen == ["Bearer revoked", "Bearer t2"]
    assert plugin.calls == 2


def test_a_second_401_is_an_error_not_a_loop(tmp_path: Path) -> None:
    plugin = Plugin(tmp_path / "p").answers(credential("revoked"))
    server = Server()
    with client_for(kubeconfig(tmp_path, exec_user(plugin)), server) as k, pytest.raises(ApiError) as e:
        k.get("/version")
    assert e.value.status == 401
    assert plugin.calls == 2 and len(server.seen) == 2


def test_many_threads_meeting_an_expired_token_run_the_plugin_once(tmp_path: Path) -> None:
    clock = Clock()
    plugin = Plugin(tmp_path / "p").answers(credential("t1", expires=clock.now + 100), credential("t2"), sleep=0.3)
    server = Server("t1", "t2")
    with client_for(kubeconfig(tmp_path, exec_user(plugin)), server, clock, timeout=10) as k:
        k.get("/version")
        clock.now += 99
        threads = [threading.Thread(target=k.get, args=("/version",)) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert plugin.calls == 2
    assert server.seen.count("Bearer t2") == 16


def test_threads_queued_behind_a_failing_plugin_share_its_error(tmp_path: Path) -> None:
    plugin = Plugin(tmp_path / "p").answers("", rc=1, stderr="AADSTS70043: the refresh token has expired\n", sleep=0.3)
    errors: list[BaseException] = []

    with client_for(kubeconfig(tmp_path, exec_user(plugin)), Server(), timeout=10) as k:
        def call() -> None:
            try:
                k.get("/version")
            except CredentialError as e:
                errors.append(e)
        threads = [threading.Thread(target=call) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(errors) == 8 and plugin.calls == 1
        with pytest.raises(CredentialError):  # a later request tries again
            k.get("/version")
    assert plugin.calls == 2


def test_a_client_certificate_from_the_plugin_is_handed_to_tls_and_sends_no_header(tmp_path: Path) -> None:
    plugin = Plugin(tmp_path / "p").answers(credential(None, cert="CERT-PEM", key="KEY-PEM"))
    cfg = KubeConfig.load(kubeconfig(tmp_path, exec_user(plugin)))
    loaded: list[tuple[bytes, bytes]] = []
    auth = auth_for(cfg, exec_options=ExecOptions(stderr=None))
    assert auth is not None
    auth.on_cert = lambda c, k: loaded.append((c, k))
    seen: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization"))
        return httpx.Response(200)

    with httpx.Client(base_url=cfg.server, auth=auth, transport=httpx.MockTransport(answer)) as http:
        http.get("/version")
        http.get("/version")
    assert loaded == [(b"CERT-PEM", b"KEY-PEM")]
    assert seen == [None, None]


# -- token files -------------------------------------------------------------------


def test_a_token_file_is_read_again_every_minute_and_on_a_401(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t1\n")
    clock = Clock()
    server = Server("t1", "t2", "t3")
    with client_for(kubeconfig(tmp_path, {"tokenFile": str(token)}), server, clock) as k:
        k.get("/version")
        token.write_text("t2")  # rotated by whoever owns it
        k.get("/version")
        clock.now += 61
        k.get("/version")
        token.write_text("t3")
        server.valid.discard("t2")  # the old token is revoked before our minute is up
        k.get("/version")
    assert server.seen == ["Bearer t1", "Bearer t1", "Bearer t2", "Bearer t2", "Bearer t3"]


def test_a_token_file_that_vanishes_mid_rotation_keeps_the_last_token(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t1")
    clock = Clock()
    source = TokenFile(token, "context 'aks'", clock)
    auth = RefreshingAuth(source, clock=clock)
    assert auth.current().header == "Bearer t1"
    token.unlink()
    clock.now += 61
    assert auth.current().header == "Bearer t1"


# -- static tokens: nothing to refresh -----------------------------------------------------


def test_a_rejected_static_token_is_not_resent_and_connect_says_it_cannot_be_refreshed(tmp_path: Path) -> None:
    server = Server()
    kc = kubeconfig(tmp_path, {"token": "old-static-token"})
    with pytest.raises(KubeconfigError) as e:
        connect(kc, role="--source", transport=httpx.MockTransport(server), sleep=lambda s: None)
    assert len(server.seen) == 1
    text = str(e.value)
    assert "--source" in text and "context 'aks'" in text and "user 'clusterUser_rg_aks'" in text and str(kc) in text
    assert "cannot be refreshed" in e.value.fix
    assert "old-static-token" not in text
    assert e.value.kind is ErrorKind.BAD_INPUT


def test_connect_names_the_plugin_when_even_a_fresh_credential_is_refused(tmp_path: Path) -> None:
    plugin = Plugin(tmp_path / "p").answers(credential("revoked"))
    with pytest.raises(KubeconfigError) as e:
        connect(kubeconfig(tmp_path, exec_user(plugin)), role="--target", transport=httpx.MockTransport(Server()),
                exec_options=ExecOptions(stderr=None))
    assert "refused the credentials of context 'aks'" in str(e.value)
    assert f"fresh run of `{plugin.path}`" in e.value.fix
    assert "revoked" not in str(e.value)


# -- bad plugins: a clear error naming plugin, context, user and file; never a token ----------------


def fail_with(tmp_path: Path, plugin_user: dict[str, Any], timeout: float = 10) -> CredentialError:
    kc = kubeconfig(tmp_path, plugin_user)
    with pytest.raises(CredentialError) as e:
        connect(kc, role="--source", transport=httpx.MockTransport(Server("t1")),
                exec_options=ExecOptions(stderr=None, timeout=timeout))
    err = e.value
    assert err.kind is ErrorKind.ENVIRONMENT
    assert "--source" in str(err) and "context 'aks'" in str(err) and "user 'clusterUser_rg_aks'" in str(err)
    assert str(kc) in str(err)
    return err


def test_a_missing_plugin_shows_its_install_hint(tmp_path: Path) -> None:
    err = fail_with(tmp_path, {"exec": {"apiVersion": V1, "command": "kubelogin-not-installed", "interactiveMode": "Never",
                                        "installHint": "kubelogin is not installed: run `az aks install-cli`"}})
    assert "command `kubelogin-not-installed` not found" in str(err)
    assert err.fix == "kubelogin is not installed: run `az aks install-cli`"


def test_a_plugin_that_is_not_executable_says_so(tmp_path: Path) -> None:
    plugin = Plugin(tmp_path / "p").answers(credential("t1"))
    plugin.path.chmod(0o644)
    assert "is not executable" in str(fail_with(tmp_path, exec_user(plugin)))


def test_a_failing_plugin_summarizes_its_stderr_without_secrets(tmp_path: Path) -> None:
    plugin = Plugin(tmp_path / "p").answers("", rc=3, stderr=f"using cached token {JWT}\nAADSTS700082: expired\n")
    err = fail_with(tmp_path, exec_user(plugin))
    assert "exited with 3" in str(err) and "AADSTS700082: expired" in str(err)
    assert JWT not in str(err) and "[redacted]" in str(err)
    assert "az login" in err.fix


def test_a_hanging_plugin_is_killed_after_the_timeout(tmp_path: Path) -> None:
    plugin = Plugin(tmp_path / "p").answers(credential("t1"), stderr="waiting for the browser\n", sleep=60)
    t0 = time.monotonic()
    err = fail_with(tmp_path, exec_user(plugin), timeout=0.5)
    assert time.monotonic() - t0 < 10
    assert "did not finish within 0.5s" in str(err) and "waiting for the browser" in str(err)
    pid = int((plugin.dir / "pids").read_text().split()[0])
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists(), "the plugin was left running"


GARBAGE: list[tuple[str, Callable[[], Any], str]] = [
    ("not-json", lambda: f"token={JWT}", "not JSON: Expecting value at line 1 column 1"),
    ("json-list", lambda: "[]", "kind is not ExecCredential"),
    ("wrong-kind", lambda: {**credential("t1"), "kind": "Status"}, "kind is not ExecCredential"),
    ("wrong-api-version", lambda: credential("t1", api_version=V1BETA1), "it answered apiVersion"),
    ("no-status", lambda: {"apiVersion": V1, "kind": "ExecCredential"}, "(no status)"),
    ("empty-token", lambda: credential(""), "status.token is not a non-empty string"),
    ("nothing", lambda: credential(None), "neither status.token nor a client certificate"),
    ("cert-without-key", lambda: credential(None, cert="C"), "must come together"),
    ("bad-expiry", lambda: {**credential("t1"), "status": {"token": "t1", "expirationTimestamp": "tomorrow"}},
     "expirationTimestamp is not an RFC 3339 time"),
]


@pytest.mark.parametrize("output, expected", [g[1:] for g in GARBAGE], ids=[g[0] for g in GARBAGE])
def test_a_plugin_printing_garbage_is_a_clear_error(tmp_path: Path, output: Callable[[], Any], expected: str) -> None:
    plugin = Plugin(tmp_path / "p").answers(output())
    err = fail_with(tmp_path, exec_user(plugin))
    assert "printed no valid ExecCredential" in str(err) and expected in str(err)
    assert JWT not in str(err) + err.fix


def test_an_already_expired_token_that_cannot_be_refreshed_is_an_error(tmp_path: Path) -> None:
    plugin = Plugin(tmp_path / "p").answers(credential("stale-token", expires=time.time() - 120))
    err = fail_with(tmp_path, exec_user(plugin))
    assert "handed out a credential that expired at" in str(err) and "cannot be refreshed" in str(err)
    assert "stale-token" not in str(err)
    assert "az login" in err.fix
