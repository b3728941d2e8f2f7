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


class _Answered(Exception):
    """Raised by a handler that wrote its answer itself."""


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
                try:
                    status, headers, content = rec.handler(rec, self)
                except _Answered:
                    return
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


class FakeSocket:
    """A connected socket as :class:`kube.wire._Conn` uses it: what it was sent, and a canned answer to read."""

    def __init__(self, answer: bytes):
        self.sent: list[bytes] = []
        self.answer = answer

    def sendall(self, data: bytes) -> None:
        self.sent.append(data)

    def makefile(self, mode: str) -> Any:
        import io

        return io.BufferedReader(io.BytesIO(self.answer))  # type: ignore[arg-type]


def exchange(answer: bytes, method: str = "GET", body: bytes | None = None) -> tuple[Any, FakeSocket]:
    from kube import wire

    sock = FakeSocket(answer)
    return wire._Conn(sock, "10.0.0.1:6443").exchange(method, "/api/v1/pods?limit=5", body, {"Accept": "application/json"}), sock


@pytest.mark.parametrize("body", [b'{"apiVersion":"v1","kind":"ConfigMap"}', None], ids=["apply", "get"])
def test_a_request_goes_out_in_one_write_head_and_body(body: bytes | None) -> None:
    """Head and body in one ``sendall``: one TLS record and one segment per request, one read for the server."""
    (status, _, content, close), sock = exchange(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
                                                 "PATCH" if body else "GET", body)
    assert (status, content, close) == (200, b"{}", False)
    (sent,) = sock.sent
    length = [f"Content-Length: {len(body)}\r\n".encode()] if body else []
    assert sent == b"".join([b"PATCH" if body else b"GET", b" /api/v1/pods?limit=5 HTTP/1.1\r\n",
                             b"Host: 10.0.0.1:6443\r\nAccept: application/json\r\n", *length, b"\r\n", body or b""])


@pytest.mark.parametrize(("answer", "want"), [
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
     (200, b"hello world", False)),
    (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"a\": 1}", (200, b'{"a": 1}', True)),  # to the close
    (b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", (200, b"x", True)),
    (b"HTTP/1.1 201 Created\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", (201, b"ok", True)),
    (b"HTTP/1.1 204 No Content\r\n\r\n", (204, b"", False)),
], ids=["chunked-with-trailer", "no-length", "http-1.0", "connection-close", "no-content"])
def test_answers_are_read_whole_by_their_framing(answer: bytes, want: tuple[int, bytes, bool]) -> None:
    (status, _, content, close), _ = exchange(answer)
    assert (status, content, close) == want


def test_headers_are_found_in_any_case_and_repeated_ones_are_joined() -> None:
    (_, headers, _, _), _ = exchange(b"HTTP/1.1 200 OK\r\nWarning: 299 - \"a\"\r\nwarning: 299 - \"b\"\r\n"
                                     b"Retry-After: 3\r\nContent-Length: 0\r\n\r\n")
    assert headers.get("Retry-After") == headers.get("retry-after") == "3"
    assert headers.get("WARNING") == '299 - "a", 299 - "b"' and headers.get("Date", "") == ""


@pytest.mark.parametrize(("answer", "error", "says"), [
    (b"", "Closed", "closed the connection"),
    (b"SSH-2.0-OpenSSH\r\n\r\n", "ProtocolError", "not an HTTP status line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "ProtocolError", "5 of 10 bytes"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "ProtocolError", "not a chunk size"),
    (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "ProtocolError", "not a header line"),
], ids=["closed", "not-http", "short-body", "bad-chunk", "bad-header"])
def test_a_broken_answer_is_an_error_that_names_what_was_wrong(answer: bytes, error: str, says: str) -> None:
    from kube import wire

    with pytest.raises(getattr(wire, error), match=says):
        exchange(answer)


def test_a_chunked_answer_from_a_real_server_is_decoded(serve: Any) -> None:
    def handler(rec: Recorder, h: http.server.BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        h.send_response(200)  # framing of its own: chunked, as Go's net/http sends a large answer
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for part in (b'{"items": [', b"1, 2", b"]}"):
            h.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        h.wfile.write(b"0\r\n\r\n")
        raise _Answered

    rec, port = serve(handler)
    k, _ = lean_client(port)
    assert k.get("/api/v1/pods") == {"items": [1, 2]}
    assert k.get("/api/v1/pods") == {"items": [1, 2]} and len({s["port"] for s in rec.seen}) == 1  # kept alive


def test_a_header_value_http_cannot_carry_is_an_error_not_a_traceback(serve: Any) -> None:
    rec, port = serve(lambda rec, h: ok())
    k, _ = lean_client(port)
    from kube.wire import WireError

    with pytest.raises(WireError, match="UnicodeEncodeError"):
        k._wire.send("GET", "/api", headers={"X-Name": "caf\u00e9\u2603"})  # type: ignore[union-attr]
    assert rec.seen == [] and k.get("/api") == {}  # nothing sent; the next request goes out as usual
