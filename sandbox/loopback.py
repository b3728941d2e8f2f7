"""Loopback stand-ins for the sandbox cutover: the two clusters' ingress, and a bounded load generator.

Why they exist: the sandbox clusters (kwok) run no containers, so nothing in
them answers HTTP. To run a cutover end to end on one machine — a real
HAProxy moving real requests between blue and green while a load generator
counts failures — each cluster's ingress is played by a small HTTP server on
127.0.0.1 that says who it is (``X-Served-By``), counts requests in the
Prometheus text format at ``/metrics`` (for ``errors:`` gates), and can be
told to fail (500) or be slow, to make green fail its gates on purpose.

It can also serve TLS (a certificate from :func:`sandbox.pki.generate_server`) and
records the ``Host`` header, the TLS SNI name and the ``Authorization`` header of
each request, and can demand a bearer token on ``/metrics`` — so gates that probe
green by IP with a ``Host``/SNI override, or authenticate like Azure Monitor,
are tested against a real socket. ``metric_lines`` adds series to ``/metrics``
(label values with ``}``, ``,`` or quotes, as real exporters write them).

The load generator only ever talks to 127.0.0.1 and is bounded in requests
and seconds, so a test that forgets to stop it cannot run away.
"""
from __future__ import annotations

import dataclasses
import http.client
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LOOPBACK = "127.0.0.1"


class _QuietServer(ThreadingHTTPServer):
    """A proxy closing idle keep-alive connections is normal here, not an error worth a traceback."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class Backend:
    """An HTTP server on 127.0.0.1 playing one cluster's ingress.

    Args:
        name: what it answers with (``blue``, ``green``) in the body and ``X-Served-By``.
        port: 0 for any free port.
        tls: (certificate, key) PEM paths to serve HTTPS, or None for HTTP.
        token: a bearer token ``/metrics`` demands (401 without it), or None.

    Attributes:
        mode: ``ok``, ``fail`` (every request but /metrics answers 500) or ``slow`` (each request waits ``delay``).
        seen: (Host header, SNI name or None, Authorization header) of every request, oldest first.
        metric_lines: extra exposition lines served on ``/metrics``.
    """

    def __init__(self, name: str, port: int = 0, delay: float = 0.5, *, tls: tuple[str, str] | None = None,
                 token: str | None = None) -> None:
        self.name = name
        self.mode = "ok"
        self.delay = delay
        self.token = token
        self._lock = threading.Lock()
        self.counts: dict[int, int] = {}
        self.seen: list[tuple[str, str | None, str]] = []
        self.metric_lines: list[str] = []
        self._sni: dict[int, str | None] = {}
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                sni = backend._sni.get(id(self.connection)) if isinstance(self.connection, ssl.SSLSocket) else None
                auth = self.headers.get("Authorization", "")
                with backend._lock:
                    backend.seen.append((self.headers.get("Host", ""), sni, auth))
                if self.path == "/metrics":
                    if backend.token is not None and auth != f"Bearer {backend.token}":
                        self._send(401, b"bearer token required\n", "text/plain")
                        return
                    self._send(200, backend.metrics().encode(), "text/plain; version=0.0.4")
                    return
                if self.path in ("/-/ok", "/-/fail", "/-/slow"):  # for people trying a failing cutover by hand
                    backend.mode = self.path[3:]
                    self._send(200, f"{backend.name} is now {backend.mode}\n".encode(), "text/plain")
                    return
                mode = backend.mode
                if mode == "slow":
                    time.sleep(backend.delay)
                code = 500 if mode == "fail" else 200
                with backend._lock:
                    backend.counts[code] = backend.counts.get(code, 0) + 1
                self._send(code, f"{backend.name}\n".encode(), "text/plain")

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Served-By", backend.name)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _QuietServer((LOOPBACK, port), Handler)
        self.server.daemon_threads = True
        self.scheme = "http"
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)

            def remember_sni(sock: ssl.SSLObject, server_name: str | None, _ctx: ssl.SSLContext) -> None:
                backend._sni[id(sock)] = server_name

            ctx.sni_callback = remember_sni
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, name=f"backend-{name}", daemon=True)

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.server.server_address[1]}"

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.address}"

    def metrics(self) -> str:
        with self._lock:
            counts = dict(self.counts)
            extra = list(self.metric_lines)
        lines = ["# TYPE http_requests_total counter"]
        lines += [f'http_requests_total{{code="{c}"}} {n}' for c, n in sorted(counts.items())]
        return "\n".join(lines + extra) + "\n"

    def start(self) -> Backend:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Backend:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclasses.dataclass(frozen=True)
class Hit:
    """One request of the load generator: when it started and ended (wall clock), what answered, how."""

    start: float
    end: float
    status: int | None
    served_by: str
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 400


class LoadGenerator:
    """Keep-alive GET requests to one loopback URL from a few threads, bounded in count and time.

    Args:
        port: the router's port on 127.0.0.1 (nothing else is ever contacted).
        path: the request path.
        workers: concurrent connections.
        max_requests: stop after this many requests in total.
        max_seconds: stop after this long, whatever happens.
        pause: seconds each worker waits between requests (keeps two shared cores usable).
    """

    def __init__(self, port: int, *, path: str = "/", workers: int = 4, max_requests: int = 200_000,
                 max_seconds: float = 120.0, pause: float = 0.002) -> None:
        self.port = port
        self.path = path
        self.workers = workers
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.pause = pause
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _take(self) -> bool:
        with self._lock:
            return len(self.hits) < self.max_requests

    def _work(self, deadline: float) -> None:
        conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=10)
        while not self._stop.is_set() and time.monotonic() < deadline and self._take():
            t0 = time.time()  # wall clock: compared with the cutover log's timestamps
            try:
                conn.request("GET", self.path)
                resp = conn.getresponse()
                resp.read()
                hit = Hit(t0, time.time(), resp.status, resp.getheader("X-Served-By") or "")
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException) as e:
                hit = Hit(t0, time.time(), None, "", f"{e.__class__.__name__}: {e}")
                conn.close()
                conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=10)
            with self._lock:
                self.hits.append(hit)
            if self.pause:
                time.sleep(self.pause)
        conn.close()

    def start(self) -> LoadGenerator:
        deadline = time.monotonic() + self.max_seconds
        self._threads = [threading.Thread(target=self._work, args=(deadline,), name=f"load-{i}", daemon=True)
                         for i in range(self.workers)]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> list[Hit]:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=15)
        with self._lock:
            return list(self.hits)

    def snapshot(self) -> list[Hit]:
        with self._lock:
            return list(self.hits)

    def __enter__(self) -> LoadGenerator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """``python -m sandbox.loopback [WORKDIR]``: blue, green and a HAProxy on loopback, until Ctrl-C.

    Prints the ``akshift cutover`` command that drives them, for trying a
    cutover (and a failing one) by hand; see docs/cutover.md.
    """
    import json
    import signal
    import socket
    import sys
    from pathlib import Path

    from sandbox.haproxy import LocalHaproxy, LocalRouterConfig

    workdir = Path((argv if argv is not None else sys.argv[1:])[0] if (argv or sys.argv[1:]) else "out/sandbox-router")
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop cleanly on SIGTERM too
    with Backend("blue") as blue, Backend("green") as green:
        with socket.socket() as s:
            s.bind((LOOPBACK, 0))
            port = s.getsockname()[1]
        cfg = LocalRouterConfig(f"{LOOPBACK}:{port}", (("blue", blue.address), ("green", green.address)),
                                (("blue", 100), ("green", 0)), workdir / "admin.sock", workdir / "servers.state")
        verify = workdir / "verify.json"
        verify.write_text(json.dumps({"ok": True, "unaccounted": [], "not_ready": [], "blocking_findings": 0}))
        # The URLs also go to files, written once HAProxy listens, so a script (or the walkthrough,
        # `export GREEN_URL=$(cat out/sandbox-router/green.url)`) needs no copying from this terminal.
        urls = {"router": f"http://{LOOPBACK}:{port}", "blue": blue.url, "green": green.url}
        for name in urls:
            (workdir / f"{name}.url").unlink(missing_ok=True)
        with LocalHaproxy(cfg, workdir / "haproxy"):
            print(f"router:  http://{LOOPBACK}:{port}/   blue: {blue.url}   green: {green.url}", flush=True)
            for name, url in urls.items():
                (workdir / f"{name}.url").write_text(url + "\n")
            print(f"break green: curl {green.url}/-/fail   (mend: /-/ok, slow: /-/slow)")
            print("cutover:\n  akshift cutover --from blue --to green --steps 0,10,50,100 --hold 20s --gate-interval 5s \\\n"
                  f"    --gate http:{green.url}/healthz,p95=300ms \\\n"
                  f"    --gate 'errors:{green.url}/metrics,total=http_requests_total,"
                  f"failed=http_requests_total{{code=~\"5..\"}},max=1%' \\\n"
                  f"    --router haproxy --haproxy-socket {cfg.socket} --haproxy-state-file {cfg.state_file} \\\n"
                  f"    --verify-report {verify} --no-freeze --no-sync-check --state-dir {workdir / 'cutover'}", flush=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
            finally:
                for name in urls:
                    (workdir / f"{name}.url").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
