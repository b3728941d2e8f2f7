"""The client's lean HTTP path (kube/wire.py) against an in-process HTTP server on 127.0.0.1.

The server is ``http.server`` in a thread of the test (plain HTTP: the TLS settings are the same
``ssl.SSLContext`` httpx used and are covered by the cluster tests). Sleeps between retries are recorded,
not slept.
"""
from __future__ import annotations

import gzip
import http.server
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kube.client import KubeClient
from kube.config import KubeConfig
from kube.errors import ApiError

Handler = Callable[["Recorder", http.server.BaseHTTPRequestHandler], tuple[int, dict[str, str], bytes]]


class Recorder:
    """What the server saw: (method, path, headers, body, client port) per request; answers come from ``handler``."""

    def __init__(self, handler: Handler):
        self.handler = handler
        self.seen: list[dict[str, Any]] = []
        self.close_after_answer = False


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], tuple[Recorder, int]]]:
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(handler: Handler) -> tuple[Recorder, int]:
        rec = Recorder(handler)

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                rec.seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                 "body": body, "port": self.client_address[1]})
                status, headers, content = rec.handler(rec, self)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)
                if rec.close_after_answer:  # drop the connection without saying so (an idle timeout)
                    self.close_connection = True

            do_GET = do_PATCH = do_POST = do_DELETE = _any  # noqa: N815  (http.server names its handlers so)

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return rec, srv.server_address[1]

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def ok(body: Any = None) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "application/json"}, json.dumps(body if body is not None else {}).encode()


def lean_client(port: int, **config: Any) -> tuple[KubeClient, list[float]]:
    sleeps: list[float] = []
    k = KubeClient(KubeConfig(server=f"http://127.0.0.1:{port}", context="test", **config), sleep=sleeps.append)
    assert k._wire is not None  # no injected transport, no proxy: the lean path
    return k, sleeps


def test_requests_of_one_thread_share_one_keep_alive_connection(serve: Any) -> None:
    rec, port = serve(lambda rec, h: ok({"n": len(rec.seen)}))
    k, _ = lean_client(port)
    answers = [k.get("/api/v1/namespaces") for _ in range(5)]
    assert answers == [{"n": n} for n in range(1, 6)]
    assert len({s["port"] for s in rec.seen}) == 1
    k.close()


def test_the_connection_of_a_thread_that_ended_is_let_go(serve: Any) -> None:
    import gc

    _, port = serve(lambda rec, h: ok())
    k, _ = lean_client(port)
    k.get("/api")
    worker = threading.Thread(target=lambda: k.get("/api"))
    worker.start()
    worker.join()
    gc.collect()
    assert len(k._wire._all) == 1  # type: ignore[union-attr]  # the main thread's; the worker's was closed with it
    k.close()
    assert len(k._wire._all) == 0  # type: ignore[union-attr]


def test_an_apply_arrives_with_its_body_content_type_and_parameters(serve: Any) -> None:
    rec, port = serve(lambda rec, h: (201, {"Content-Type": "application/json"},
                                      b'{"metadata": {"name": "web"}}'))
    k, _ = lean_client(port)
    k._resources = {}
    meta: dict[str, Any] = {}
    out = k.request("PATCH", "/api/v1/namespaces/shop/configmaps/web", params={"fieldManager": "akshift", "force": "true"},
                    body={"kind": "ConfigMap", "metadata": {"name": "web"}}, content_type="application/apply-patch+yaml",
                    meta=meta)
    seen = rec.seen[0]
    assert out == {"metadata": {"name": "web"}}
    assert seen["method"] == "PATCH" and seen["path"] == "/api/v1/namespaces/shop/configmaps/web?fieldManager=akshift&force=true"
    assert seen["headers"]["Content-Type"] == "application/apply-patch+yaml"
    assert json.loads(seen["body"]) == {"kind": "ConfigMap", "metadata": {"name": "web"}}
    assert (meta["status"], meta["bytes"]) == (201, 29) and meta["date"].endswith(" GMT")  # the server's Date


def test_a_server_path_prefix_is_kept(serve: Any) -> None:
    rec, port = serve(lambda rec, h: ok())
    k = KubeClient(KubeConfig(server=f"http://127.0.0.1:{port}/k8s/clusters/c-1/", context="test"))
    k.get("/version")
    assert rec.seen[0]["path"] == "/k8s/clusters/c-1/version"


def test_a_connection_the_server_dropped_while_idle_is_reopened_without_a_retry(serve: Any) -> None:
    rec, port = serve(lambda rec, h: ok({"n": len(rec.seen)}))
    rec.close_after_answer = True
    k, sleeps = lean_client(port)
    assert k.get("/api") == {"n": 1}
    assert k.get("/api") == {"n": 2}  # sent on a new connection, at once
    assert sleeps == [] and len(rec.seen) == 2
    assert rec.seen[0]["port"] != rec.seen[1]["port"]


def test_gzip_answers_are_decoded(serve: Any) -> None:
    rec, port = serve(lambda rec, h: (200, {"Content-Type": "application/json", "Content-Encoding": "gzip"},
                                      gzip.compress(b'{"items": [1, 2, 3]}')))
    k, _ = lean_client(port)
    assert k.get("/api/v1/pods") == {"items": [1, 2, 3]}
    assert "gzip" in rec.seen[0]["headers"]["Accept-Encoding"]


def test_throttling_is_retried_after_the_time_the_server_asks(serve: Any) -> None:
    answers = iter([(429, {"Retry-After": "3"}, b'{"kind": "Status", "reason": "TooManyRequests"}'), ok({"ok": True})])
    rec, port = serve(lambda rec, h: next(answers))
    k, sleeps = lean_client(port)
    assert k.get("/api") == {"ok": True}
    assert len(rec.seen) == 2 and sleeps[0] >= 3.0


def test_a_refused_token_file_token_is_read_again_and_the_request_sent_once_more(serve: Any, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("old")

    def handler(rec: Recorder, h: http.server.BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        if h.headers.get("Authorization") != "Bearer new":
            token.write_text("new")  # rotated while the request was on its way
            return 401, {"Content-Type": "application/json"}, b'{"kind": "Status", "reason": "Unauthorized"}'
        return ok({"ok": True})

    rec, port = serve(handler)
    k, sleeps = lean_client(port, token_file=token)
    assert k.get("/api") == {"ok": True}
    assert [s["headers"]["Authorization"] for s in rec.seen] == ["Bearer old", "Bearer new"] and sleeps == []


def test_an_unreachable_server_is_retried_then_reported_as_unreachable(serve: Any) -> None:
    _, port = serve(lambda rec, h: ok())
    k, sleeps = lean_client(port)
    k._wire._port = 1  # type: ignore[union-attr]  # nothing listens on port 1
    with pytest.raises(ApiError) as e:
        k.get("/api")
    assert (e.value.status, e.value.reason) == (0, "Unreachable") and len(sleeps) == k.retries - 1
    assert "ConnectionRefusedError" in str(e.value)


def test_a_proxy_keeps_the_httpx_path() -> None:
    k = KubeClient(KubeConfig(server="https://api.example:443", context="test", proxy_url="http://proxy.example:3128"))
    assert k._wire is None


@pytest.mark.parametrize("body", [b'{"apiVersion":"v1","kind":"ConfigMap"}', None], ids=["apply", "get"])
def test_a_request_goes_out_in_one_write_with_the_bytes_the_standard_library_sends(body: bytes | None) -> None:
    """Head and body in one ``send``: one TLS record and one segment per request, one read for the server."""
    import http.client

    from kube import wire

    ours, stdlib = wire._OneWrite("127.0.0.1", 9), http.client.HTTPConnection("127.0.0.1", 9)
    writes: dict[str, list[bytes]] = {"ours": [], "stdlib": []}
    ours.send, stdlib.send = writes["ours"].append, writes["stdlib"].append  # type: ignore[method-assign]
    for conn in (ours, stdlib):
        conn.request("PATCH", "/api/v1/namespaces/shop/configmaps/a?fieldManager=akshift", body=body,
                     headers={"Content-Type": "application/apply-patch+yaml"})
    assert len(writes["ours"]) == 1
    assert writes["ours"][0] == b"".join(writes["stdlib"])
    assert len(writes["stdlib"]) == (2 if body else 1)  # what the override is for
