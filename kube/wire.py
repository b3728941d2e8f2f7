"""The lean HTTP/1.1 path of the client: one persistent connection per thread, no pool, no ``http.client``.

Why it exists (issue 11, measured in docs/dependencies.md): on a 2-core machine the client's CPU is
taken from the API server, so client CPU per request bounds the apply rate. httpx spends most of a
small request above the socket (request and URL models, the auth and redirect flows, the pool's lock
that 32 threads contend for): a server-side apply of a 512-byte ConfigMap cost 1.3 ms of client CPU
through ``httpx.Client``, 0.35–0.48 ms through ``http.client`` — whose header handling (``putheader``'s
checks, ``email.feedparser`` for every answer's headers, eight ``HTTPMessage.get`` per exchange) was
most of it — and 0.13–0.22 ms through :class:`_Conn` (2026-12-02, one thread, alternating on one
cluster). Every thread of a :class:`~kube.client.KubeClient` pool keeps one keep-alive connection of its
own, so no lock is taken per request.

What :class:`_Conn` speaks, and no more: HTTP/1.1 requests with a ``bytes`` body (or none) written in one
``sendall`` (head and body: one TLS record, one server read); answers with ``Content-Length``, chunked,
or read to the connection's close; ``Connection: close`` and HTTP/1.0 honoured. What stays on httpx:
injected transports (the in-process unit tests), proxies (``proxy-url``), watches (streamed) and
``/readyz``. Both paths share the TLS context (so a client certificate an exec plugin hands out is
presented by connections opened afterwards), the credential (refreshed before expiry and once on a 401)
and :meth:`KubeClient.request`'s retry rules.
"""
from __future__ import annotations

import socket
import ssl
import threading
import urllib.parse
import weakref
import zlib
from collections.abc import Mapping
from typing import Any, BinaryIO

from kube.auth import RefreshingAuth

#: Longest status or header line, and most header lines, accepted in an answer (``http.client``'s limits).
MAX_LINE = 65536
MAX_HEADERS = 100


class WireError(Exception):
    """A request that got no HTTP answer (refused, reset, timed out, TLS failure); ``__cause__`` says why."""


class Closed(ConnectionError):
    """The server closed the connection before the answer's status line (an idle keep-alive it let go)."""


class ProtocolError(Exception):
    """An answer that is not HTTP/1.1 as this client reads it (a malformed line, a short body)."""


# What a dropped keep-alive connection looks like when a request is written to it or its answer
# read: the server closed it while it sat idle, so the request never reached the server.
STALE = (Closed, BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


class Headers(dict[str, str]):
    """An answer's headers by lower-case name; :meth:`get` takes any case (repeated headers joined by ``, ``)."""

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)


class Answer:
    """One HTTP answer, read whole: status, headers (case-insensitive) and the decoded body."""

    __slots__ = ("status_code", "headers", "content")

    def __init__(self, status_code: int, headers: Headers, content: bytes):
        self.status_code = status_code
        self.headers = headers
        self.content = content


def _line(rf: BinaryIO) -> bytes:
    line = rf.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise ProtocolError("an answer line longer than 64 KiB")
    return line


def _exactly(rf: BinaryIO, n: int) -> bytes:
    data = rf.read(n)
    if len(data) != n:
        raise ProtocolError(f"the answer's body ended after {len(data)} of {n} bytes")
    return data


class _Conn:
    """One keep-alive HTTP/1.1 connection (plain or TLS) and its buffered reader.

    Args:
        sock: A connected socket (TLS already wrapped).
        host_header: The ``Host`` header's value (``host:port``).
    """

    __slots__ = ("sock", "rf", "_host", "__weakref__")

    def __init__(self, sock: Any, host_header: str):
        self.sock = sock
        self.rf: BinaryIO = sock.makefile("rb")
        self._host = f"Host: {host_header}\r\n"

    @classmethod
    def open(cls, host: str, port: int, *, tls: ssl.SSLContext | None, server_name: str, timeout: float,
             default_port: int) -> _Conn:
        """Connect (``TCP_NODELAY``: a request is one write, nothing to coalesce), then the TLS handshake."""
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname=server_name or host)
        except BaseException:
            sock.close()
            raise
        name = f"[{host}]" if ":" in host else host
        return cls(sock, name if port == default_port else f"{name}:{port}")

    def exchange(self, method: str, target: str, body: bytes | None,
                 headers: Mapping[str, str]) -> tuple[int, Headers, bytes, bool]:
        """Send one request and read its whole answer.

        Returns:
            (status, headers, body as received, whether the server closes the connection after it).

        Raises:
            Closed: no status line (the server had closed the connection).
            ProtocolError: a malformed answer.
            OSError: the socket's or TLS's failure (a timeout included).
        """
        head = f"{method} {target} HTTP/1.1\r\n{self._host}" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        if body is not None or method in ("POST", "PUT", "PATCH"):
            head += f"Content-Length: {len(body or b'')}\r\n"
        self.sock.sendall((head + "\r\n").encode("latin-1") + (body or b""))
        rf = self.rf
        status_line = _line(rf)
        if not status_line:
            raise Closed("the server closed the connection before answering")
        version, _, rest = status_line.partition(b" ")
        if not version.startswith(b"HTTP/") or not rest[:3].isdigit():
            raise ProtocolError(f"not an HTTP status line: {status_line[:80]!r}")
        status = int(rest[:3])
        got = Headers()
        for _ in range(MAX_HEADERS + 1):
            line = _line(rf)
            if line in (b"\r\n", b"\n", b""):
                break
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise ProtocolError(f"not a header line: {line[:80]!r}")
            key, val = name.strip().lower(), value.strip()
            got[key] = f"{got[key]}, {val}" if key in got else val
        else:
            raise ProtocolError(f"more than {MAX_HEADERS} header lines")
        close = version == b"HTTP/1.0" and "keep-alive" not in got.get("connection", "").lower() \
            or "close" in got.get("connection", "").lower()
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return status, got, b"", close
        if "chunked" in got.get("transfer-encoding", "").lower():
            parts = []
            while True:
                size_line = _line(rf).split(b";", 1)[0].strip()
                try:
                    size = int(size_line, 16)
                except ValueError:
                    raise ProtocolError(f"not a chunk size: {size_line[:40]!r}") from None
                if size == 0:
                    while _line(rf) not in (b"\r\n", b"\n", b""):  # trailers
                        pass
                    break
                parts.append(_exactly(rf, size))
                _line(rf)  # the chunk's CRLF
            return status, got, b"".join(parts), close
        length = got.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise ProtocolError(f"not a Content-Length: {length[:40]!r}")
            return status, got, _exactly(rf, int(length)), close
        return status, got, rf.read(), True  # no length: the body ends with the connection

    def close(self) -> None:
        for part in (self.rf, self.sock):
            try:
                part.close()
            except OSError:
                pass


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
        self._port = url.port or (443 if self._https else 80)
        self._prefix = url.path.rstrip("/")
        self._tls = tls if tls is not None else ssl.create_default_context()
        self._server_name = server_name
        self._timeout = timeout
        self._auth = auth
        self._headers = {**headers, "Accept-Encoding": "gzip"}
        self._local = threading.local()
        # Weakly held: the connection of a thread that ended (a pool shut down) goes with its thread-local
        # slot, so a long-running command that starts pools again and again does not pile up sockets.
        self._all: weakref.WeakSet[_Conn] = weakref.WeakSet()
        self._lock = threading.Lock()

    def _connection(self) -> tuple[_Conn, bool]:
        """This thread's connection and whether it has carried a request before (it may have gone stale)."""
        conn: _Conn | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn, True
        conn = _Conn.open(self._host, self._port, tls=self._tls if self._https else None,
                          server_name=self._server_name, timeout=self._timeout,
                          default_port=443 if self._https else 80)
        self._local.conn = conn
        with self._lock:
            self._all.add(conn)
        return conn, False

    def _drop(self, conn: _Conn) -> None:
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
            try:
                conn, reused = self._connection()
            except OSError as e:  # refused, unreachable, timed out, the TLS handshake failed
                raise WireError(f"{e.__class__.__name__}: {e}") from e
            try:
                status, got, body, close = conn.exchange(method, target, content, headers)
            except STALE as e:
                self._drop(conn)
                if reused:  # the server closed an idle connection: the request never reached it
                    continue
                raise WireError(f"{e.__class__.__name__}: {e}") from e
            except (OSError, ProtocolError, UnicodeEncodeError) as e:  # ssl.SSLError, socket.timeout: OSErrors;
                # a header value that is not Latin-1 (HTTP/1.1 carries no other) cannot be sent
                self._drop(conn)
                raise WireError(f"{e.__class__.__name__}: {e}") from e
            if got.get("content-encoding", "").lower() == "gzip":
                try:
                    body = zlib.decompress(body, wbits=31)
                except zlib.error as e:
                    self._drop(conn)
                    raise WireError(f"undecodable gzip body: {e}") from e
            if close:
                self._drop(conn)
            return Answer(status, got, body)
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

