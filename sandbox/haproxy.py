"""A local HAProxy as the sandbox's traffic switch: its configuration and its process.

Why here and not in ``cutover``: the process is a stand-in for the Azure
traffic switch on this machine (Debian's ``haproxy`` package, installed by
``scripts/setup-router``); the cutover only speaks to it through its runtime
API (:mod:`cutover.haproxy`). ``balance roundrobin`` is the algorithm that
honours dynamic weights (``static-rr`` does not).

Weights set at run time are lost on restart unless saved: after each change
the router dumps ``show servers state`` to the ``server-state-file`` the
configuration loads at start (``load-server-state-from-file global``).
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from cutover.errors import RouterError
from cutover.haproxy import RuntimeApi
from sandbox.cluster import spawn_owned


@dataclasses.dataclass(frozen=True)
class LocalRouterConfig:
    """One listening port in front of two loopback backends.

    Attributes:
        listen: ``127.0.0.1:PORT`` the load generator and probes use.
        servers: backend name → ``HOST:PORT`` (``{"blue": "127.0.0.1:8081", "green": …}``), in order.
        weights: starting weights (percent) by server name.
        socket: path of the admin socket (runtime API).
        state_file: path of the server-state file (weights survive a restart).
        backend: HAProxy backend name.
    """

    listen: str
    servers: tuple[tuple[str, str], ...]
    weights: tuple[tuple[str, int], ...]
    socket: Path
    state_file: Path
    backend: str = "cutover"


def render_config(cfg: LocalRouterConfig) -> str:
    """The haproxy.cfg text for ``cfg``.

    ``retries`` with ``retry-on conn-failure empty-response`` and ``option
    redispatch`` send a request that could not reach a server to the other one:
    a backend restarting between two weight changes costs latency, not errors.
    """
    weights = dict(cfg.weights)
    servers = "\n".join(f"  server {name} {addr} weight {weights.get(name, 0)}" for name, addr in cfg.servers)
    return f"""# Written by akshift (sandbox/haproxy.py); weights change at run time through the admin socket.
global
  stats socket {cfg.socket} mode 600 level admin
  server-state-file {cfg.state_file}
  maxconn 2048

defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 10s
  option redispatch
  retries 2
  retry-on conn-failure empty-response
  load-server-state-from-file global

frontend public
  bind {cfg.listen}
  default_backend {cfg.backend}

backend {cfg.backend}
  balance roundrobin
{servers}
"""


class LocalHaproxy:
    """A haproxy process in the foreground (``-db``) for the sandbox and tests, stopped with :meth:`stop`.

    Args:
        cfg: what to listen on and proxy to.
        workdir: where the config file, socket and state file live.
    """

    def __init__(self, cfg: LocalRouterConfig, workdir: Path) -> None:
        self.cfg = cfg
        self.workdir = Path(workdir)
        self.config_path = self.workdir / "haproxy.cfg"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> LocalHaproxy:
        """Check the config, start haproxy and wait for its admin socket.

        Raises:
            RouterError: haproxy is not installed, rejects the config, or does not come up.
        """
        exe = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)
        if exe is None:
            raise RouterError("haproxy is not installed", fix="run scripts/setup-router (apt-get install haproxy)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(render_config(self.cfg))
        check = subprocess.run([exe, "-c", "-q", "-f", str(self.config_path)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RouterError(f"haproxy rejected {self.config_path}: {check.stderr.strip() or check.stdout.strip()}")
        log = open(self.workdir / "haproxy.log", "ab")  # noqa: SIM115 - owned by the child for its lifetime
        # A sandbox router must not outlive the process (test run, demo) that started it, even on SIGKILL.
        self.proc = spawn_owned([exe, "-db", "-f", str(self.config_path)], signum=signal.SIGTERM, stdout=log,
                                stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        api = RuntimeApi(self.cfg.socket, timeout=1.0)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RouterError(f"haproxy exited with {self.proc.returncode}; see {self.workdir / 'haproxy.log'}")
            try:
                api.command("show version")
                return self
            except RouterError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RouterError(f"haproxy's admin socket did not come up in {timeout:.0f}s") from None
                time.sleep(0.05)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop haproxy (SIGUSR1 is its graceful stop: in-flight requests finish), then SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGUSR1)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> LocalHaproxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
