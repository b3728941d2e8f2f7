"""The lean HTTP/1.1 path of the client: one persistent ``http.client`` connection per thread, no pool.

Why it exists (issue 11, measured in docs/dependencies.md): on a 2-core machine the client's CPU is
taken from the API server, so client CPU per request bounds the apply rate. httpx spends most of a
small request above the socket (request and URL models, the auth and redirect flows, the pool's lock
that 32 threads contend for): a server-side apply of a 512-byte ConfigMap cost 1.3 ms of client CPU
through ``httpx.Client`` and 0.3 ms through ``http.client`` on the same connection settings. Every
thread of a :class:`~kube.client.KubeClient` pool keeps one keep-alive connection of its own, so no
lock is taken per request.

What stays on httpx: injected transports (the in-process unit tests), proxies (``proxy-url``),
watches (streamed) and ``/readyz``. Both paths share the TLS context (so a client certificate an
exec plugin hands out is presented by connections opened afterwards), the credential (refreshed
before expiry and once on a 401) and :meth:`KubeClient.request`'s retry rules.
"""
from __future__ import annotations

import http.client
import ssl
import threading
import urllib.parse
import weakref
import zlib
from collections.abc import Mapping
from typing import Any

from kube.auth import RefreshingAuth

# What a dropped keep-alive connection looks like when a request is written to it or its answer
# read: the server closed it while it sat idle, so the request never reached the server.
STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


class WireError(Exception):
    """A request that got no HTTP answer (refused, reset, timed out, TLS failure); ``__cause__`` says why."""


class Answer:
    """One HTTP answer, read whole: status, headers (case-insensitive) and the decoded body."""

    __slots__ = ("status_code", "headers", "content")

    def __init__(self, status_code: int, headers: http.client.HTTPMessage, content: bytes):
        self.status_code = status_code
        self.headers = headers
        self.content = content


class _OneWrite(http.client.HTTPConnection):
    """Writes a request's head and body in one ``send``.

    Why: ``http.client`` sends them with two calls — two TLS records, two TCP segments, two reads for the
    API server to wake up for. One write costs the client one TLS record instead of two and the server one
    read per request (measured: docs/dependencies.md). Overrides ``_send_output``, whose shape (a list of
    header lines in ``_buffer``, joined with CRLF) is the same in CPython 3.11 to 3.13; anything other than a
    bytes body (a file, chunked encoding) goes the standard way.
    """

    def _send_output(self, message_body: Any = None, encode_chunked: bool = False) -> None:
        if not isinstance(message_body, bytes) or encode_chunked:
            super()._send_output(message_body, encode_chunked)  # type: ignore[misc]
            return
        self._buffer.extend((b"", message_body))  # type: ignore[attr-defined]
        msg = b"\r\n".join(self._buffer)  # type: ignore[attr-defined]
        del self._buffer[:]  # type: ignore[attr-defined]
        self.send(msg)


class _Https(_OneWrite, http.client.HTTPSConnection):
    """An HTTPS connection whose certificate is checked against (and SNI names) ``tls-server-name`` when set."""

    def __init__(self, host: str, port: int, *, context: ssl.SSLContext, server_name: str,
                 timeout: float):
        super().__init__(host, port, context=context, timeout=timeout)
        self._server_name = server_name

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._server_name or self.host)  # type: ignore[attr-defined]


class Wire:
    """Send requests to one API server over a keep-alive connection per calling thread.

    Args:
        server: the server URL (``https://host:port[/prefix]``); a path prefix is kept.
        tls: the TLS context (certificate authority, client certificate); unused for ``http://``.
        auth: the credential flow, None when no header is needed.
        headers: sent with every request (``Accept``, ``User-Agent``).
        timeout: seconds for connecting and for each read.
        server_name: the name the server's certificate is checked against, ``""`` for the URL's host.
    """

    def __init__(self, server: str, *, tls: ssl.SSLContext | None, auth: RefreshingAuth | None,
                 headers: Mapping[str, str], timeout: float, server_name: str = ""):
        url = urllib.parse.urlsplit(server)
        self._https = url.scheme == "https"
        self._host = url.hostname or "localhost"
        self._port = url.port or (443 if self._https else 80)  # explicit: http.client would read "::1" as host ":" port 1
        self._prefix = url.path.rstrip("/")
        self._tls = tls if tls is not None else ssl.create_default_context()
        self._server_name = server_name
        self._timeout = timeout
        self._auth = auth
        self._headers = {**headers, "Accept-Encoding": "gzip"}
        self._local = threading.local()
        # Weakly held: the connection of a thread that ended (a pool shut down) goes with its thread-local
        # slot, so a long-running command that starts pools again and again does not pile up sockets.
        self._all: weakref.WeakSet[http.client.HTTPConnection] = weakref.WeakSet()
        self._lock = threading.Lock()

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's connection and whether it has carried a request before (it may have gone stale)."""
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn, True
        if self._https:
            conn = _Https(self._host, self._port, context=self._tls, server_name=self._server_name,
                          timeout=self._timeout)
        else:
            conn = _OneWrite(self._host, self._port, timeout=self._timeout)
        self._local.conn = conn
        with self._lock:
            self._all.add(conn)
        return conn, False

    def _drop(self, conn: http.client.HTTPConnection) -> None:
        conn.close()
        self._local.conn = None
        with self._lock:
            self._all.discard(conn)

    def send(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, content: bytes | None = None,
             headers: Mapping[str, str] | None = None) -> Answer:
        """One request and its whole answer; a 401 refreshes a refreshable credential and is sent once more.

        Raises:
            WireError: no HTTP answer (its ``__cause__`` is the socket, TLS or protocol error).
            CredentialError: the credential could not be obtained.
        """
        target = self._prefix + path + ("?" + urllib.parse.urlencode(params) if params else "")
        sent = {**self._headers, **(headers or {})}
        cred = self._auth.current() if self._auth is not None else None
        if cred is not None and cred.header:
            sent["Authorization"] = cred.header
        answer = self._exchange(method, target, content, sent)
        if answer.status_code == 401 and self._auth is not None and cred is not None:
            again = self._auth.after_refusal(cred)
            if again is not None:
                if again.header:
                    sent["Authorization"] = again.header
                answer = self._exchange(method, target, content, sent)
        return answer

    def _exchange(self, method: str, target: str, content: bytes | None, headers: dict[str, str]) -> Answer:
        for _ in range(2):
            conn, reused = self._connection()
            try:
                conn.request(method, target, body=content, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
            except STALE as e:
                self._drop(conn)
                if reused:  # the server closed an idle connection: the request never reached it
                    continue
                raise WireError(f"{e.__class__.__name__}: {e}") from e
            except (OSError, http.client.HTTPException) as e:  # ssl.SSLError and socket.timeout are OSErrors
                self._drop(conn)
                raise WireError(f"{e.__class__.__name__}: {e}") from e
            if resp.getheader("Content-Encoding", "").lower() == "gzip":
                try:
                    body = zlib.decompress(body, wbits=31)
                except zlib.error as e:
                    self._drop(conn)
                    raise WireError(f"undecodable gzip body: {e}") from e
            if resp.will_close:
                self._drop(conn)
            return Answer(resp.status, resp.headers, body)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close every thread's connection."""
        with self._lock:
            conns = list(self._all)
            self._all.clear()
        for conn in conns:
            try:
                conn.close()
            except OSError:
                pass

