"""The client's retry, Retry-After, 410 list restart and connect(), against an in-process API server.

Fast: the transport is an ``httpx.MockTransport`` and the sleeps between retries are recorded, not slept.
"""
from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from errors import ErrorKind
from kube.client import ApiResource, KubeClient, connect
from kube.config import KubeConfig
from kube.errors import ApiError, KubeconfigError

CONFIGMAPS = ApiResource("", "v1", "ConfigMap", "configmaps", True, frozenset({"list"}))


def status(code: int, reason: str = "", headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(code, headers=headers, json={"kind": "Status", "code": code, "reason": reason, "message": reason})


class Script:
    """An API server that answers from a list (the last answer repeats) and records every request."""

    def __init__(self, *answers: httpx.Response | Callable[[httpx.Request], httpx.Response] | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer(request) if callable(answer) else answer


def client(server: Any, *, retries: int = 6, **config: Any) -> tuple[KubeClient, list[float]]:
    sleeps: list[float] = []
    k = KubeClient(KubeConfig(server="https://api.example:443", context="test", **config), retries=retries,
                   transport=httpx.MockTransport(server), sleep=sleeps.append)
    return k, sleeps


# -- retry and backoff --------------------------------------------------------------


def test_throttling_and_server_errors_are_retried_with_growing_jittered_backoff() -> None:
    server = Script(status(503), status(500), status(429), httpx.Response(200, json={"ok": True}))
    k, sleeps = client(server)
    assert k.get("/api/v1/namespaces") == {"ok": True}
    assert len(server.requests) == 4 and len(sleeps) == 3
    # 0.2 s doubling, each jittered into [0.5, 1.5) of itself
    for wait, base in zip(sleeps, (0.2, 0.4, 0.8), strict=True):
        assert 0.5 * base <= wait < 1.5 * base


def test_backoff_is_capped_at_five_seconds() -> None:
    k, sleeps = client(Script(status(503)), retries=10)
    with pytest.raises(ApiError):
        k.get("/healthz")
    assert max(sleeps) < 7.5 and len(sleeps) == 9


def test_retries_exhausted_raise_the_last_error_as_the_environment() -> None:
    server = Script(status(503, "ServiceUnavailable"))
    k, sleeps = client(server, retries=3)
    with pytest.raises(ApiError) as e:
        k.get("/api")
    assert (e.value.status, e.value.reason, e.value.retryable) == (503, "ServiceUnavailable", True)
    assert e.value.kind is ErrorKind.ENVIRONMENT
    assert len(server.requests) == 3 and len(sleeps) == 2


@pytest.mark.parametrize("code", [400, 403, 404, 409, 422])
def test_permanent_errors_are_not_retried(code: int) -> None:
    server = Script(status(code, "Nope"))
    k, sleeps = client(server)
    with pytest.raises(ApiError) as e:
        k.get("/api")
    assert e.value.status == code and e.value.kind is ErrorKind.FAILED
    assert len(server.requests) == 1 and sleeps == []


def test_connection_errors_are_retried_then_reported_as_unreachable() -> None:
    server = Script(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.Response(200, json={}))
    k, sleeps = client(server)
    assert k.get("/api") == {}
    assert len(sleeps) == 2
    k, _ = client(Script(httpx.ConnectError("refused")), retries=2)
    with pytest.raises(ApiError) as e:
        k.get("/api")
    assert (e.value.status, e.value.reason) == (0, "Unreachable")
    assert "https://api.example:443" in str(e.value) and e.value.kind is ErrorKind.ENVIRONMENT


def test_a_retried_write_sends_the_same_body() -> None:
    server = Script(status(503), httpx.Response(201, json={"created": True}))
    k, _ = client(server)
    k.request("POST", "/api/v1/namespaces", body={"metadata": {"name": "shop"}})
    assert [r.content for r in server.requests] == [b'{"metadata":{"name":"shop"}}'] * 2


# -- Retry-After -------------------------------------------------------------------


def test_retry_after_seconds_are_waited_in_full() -> None:
    server = Script(status(429, "TooManyRequests", {"Retry-After": "7"}), httpx.Response(200, json={}))
    k, sleeps = client(server)
    k.get("/api")
    assert sleeps[0] >= 7.0


def test_retry_after_as_an_http_date_is_honoured() -> None:
    import email.utils
    import time

    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    server = Script(status(503, "", {"Retry-After": when}), httpx.Response(200, json={}))
    k, sleeps = client(server)
    k.get("/api")
    assert 25 <= sleeps[0] <= 31


def test_a_retry_after_shorter_than_the_backoff_does_not_shorten_it() -> None:
    server = Script(status(503), status(503), status(503), status(429, "", {"Retry-After": "0"}), httpx.Response(200, json={}))
    k, sleeps = client(server)
    k.get("/api")
    assert sleeps[3] >= 0.5 * 1.6


def test_an_absurd_retry_after_is_capped() -> None:
    server = Script(status(429, "", {"Retry-After": "86400"}), httpx.Response(200, json={}))
    k, sleeps = client(server)
    k.get("/api")
    assert sleeps == [60.0]


# -- 410: an expired continue token restarts the list ---------------------------------------


def page(names: list[str], cont: str = "") -> httpx.Response:
    return httpx.Response(200, json={"kind": "ConfigMapList", "metadata": {"continue": cont} if cont else {},
                                     "items": [{"metadata": {"name": n}} for n in names]})


def test_an_expired_continue_token_restarts_the_list_from_the_start() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        cont = request.url.params.get("continue")
        if cont is None:
            fresh = sum(1 for r in server.requests if "continue" not in r.url.params)
            return page(["a", "b"], f"t{fresh}")
        if cont == "t1":  # the first list's token expired while we were slow
            return status(410, "Expired")
        return page(["c"])

    server = Script(answer)
    k, sleeps = client(server)
    names = [o["metadata"]["name"] for o in k.list(CONFIGMAPS, namespace="shop", limit=2)]
    assert names == ["a", "b", "a", "b", "c"]  # repeats are fine: snapshot writes are idempotent
    assert [r.url.params.get("continue") for r in server.requests] == [None, "t1", None, "t2"]
    assert all(r.url.params["limit"] == "2" for r in server.requests)
    assert server.requests[0].url.path == "/api/v1/namespaces/shop/configmaps"
    assert sleeps == []


def test_list_items_get_the_apiversion_and_kind_lists_omit() -> None:
    k, _ = client(Script(page(["a"])))
    (item,) = list(k.list(CONFIGMAPS))
    assert (item["apiVersion"], item["kind"]) == ("v1", "ConfigMap")


def test_a_410_on_the_first_page_is_an_error_not_a_loop() -> None:
    server = Script(status(410, "Gone"))
    k, _ = client(server)
    with pytest.raises(ApiError) as e:
        list(k.list_pages(CONFIGMAPS))
    assert e.value.status == 410 and len(server.requests) == 1


# -- what every request carries ------------------------------------------------------------


def test_tls_server_name_is_the_name_every_request_verifies_and_sends_as_sni() -> None:
    server = Script(httpx.Response(200, json={}))
    k, _ = client(server, tls_server_name="kubernetes.default")
    k.get("/api")
    k.ready()
    assert [r.extensions.get("sni_hostname") for r in server.requests] == ["kubernetes.default"] * 2


def test_a_static_token_is_sent_on_every_request_and_a_certificate_user_sends_none() -> None:
    server = Script(httpx.Response(200, json={}))
    k, _ = client(server, token="t0")
    k.get("/a")
    k.get("/b")
    k2, _ = client(server)
    k2.get("/c")
    assert [r.headers.get("Authorization") for r in server.requests] == ["Bearer t0", "Bearer t0", None]
    assert "t0" not in repr(k.config)


# -- connect() -------------------------------------------------------------------------


def write_kubeconfig(path: Path, name: str, server: str = "https://api.example:443") -> Path:
    path.write_text(yaml.safe_dump({
        "current-context": name,
        "clusters": [{"name": name, "cluster": {"server": server}}],
        "users": [{"name": f"{name}-user", "user": {"token": f"token-{name}"}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-user"}}]}))
    return path


def test_connect_without_a_path_reads_kubeconfig_and_checks_version(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    a = write_kubeconfig(tmp_path / "a", "a")
    b = write_kubeconfig(tmp_path / "b", "b", "https://b.example")
    monkeypatch.setenv("KUBECONFIG", f"{a}:{b}")
    server = Script(httpx.Response(200, json={"gitVersion": "v1.36.3"}))
    with connect(None, "b", transport=httpx.MockTransport(server)) as k:
        assert k.config.server == "https://b.example"
    assert str(server.requests[0].url) == "https://b.example/version"
    assert server.requests[0].headers["Authorization"] == "Bearer token-b"


def test_connect_reports_an_unreachable_server_as_the_environment(tmp_path: Path) -> None:
    kc = write_kubeconfig(tmp_path / "kc", "a")
    with pytest.raises(ApiError) as e:
        connect(kc, role="--target", retries=2, transport=httpx.MockTransport(Script(httpx.ConnectError("refused"))),
                sleep=lambda s: None)
    assert "--target" in str(e.value) and "cannot reach https://api.example:443" in str(e.value)
    assert e.value.kind is ErrorKind.ENVIRONMENT


def test_connect_puts_the_role_on_kubeconfig_errors(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError) as e:
        connect(tmp_path / "missing", role="--source")
    assert str(e.value).startswith("--source: kubeconfig ")


def test_connect_reports_unusable_certificate_data_naming_the_context(tmp_path: Path) -> None:
    kc = tmp_path / "kc"
    kc.write_text(yaml.safe_dump({
        "current-context": "a",
        "clusters": [{"name": "a", "cluster": {"server": "https://a.example",
                                               "certificate-authority-data": base64.b64encode(b"not a pem").decode()}}],
        "contexts": [{"name": "a", "context": {"cluster": "a"}}]}))
    with pytest.raises(KubeconfigError) as e:
        connect(kc, role="--source")
    assert "context 'a'" in str(e.value) and "certificate data is unusable" in str(e.value)
