"""Credentials at request time: a bearer header computed per request, refreshed before expiry and once on a 401.

Why a request-time auth flow (an ``httpx.Auth``) and not a header set once:
a cutover with a 24 h soak outlives an Entra ID token (about an hour), and a
projected service-account token file is rotated under a running process. So
every request asks :class:`RefreshingAuth` for the current credential, and
the credential is obtained again

* before it expires (an exec plugin's ``expirationTimestamp``, minus a margin
  of a quarter of its lifetime, at most a minute),
* every minute for a ``tokenFile`` (client-go re-reads it as often),
* once when the server answers 401 to a request that carried it (the plugin
  may have handed out a token the server has since revoked).

A refresh that fails while the credential is still valid is retried every few
seconds and the credential used meanwhile; only a credential that has expired
(or was refused) with no replacement is an error.

Thread-safe and cheap on the hot path: the current credential is one tuple
read without a lock; only a refresh takes the lock, and threads that queued
behind a refresh use its result (or its error) instead of running the plugin
again — thirty-two threads that meet one expired token run the plugin once.

Exec credential plugins (``client.authentication.k8s.io/v1`` and ``v1beta1``)
run as kubectl runs them: the kubeconfig's ``env`` on top of ours,
``KUBERNETES_EXEC_INFO`` (``spec.interactive``, and ``spec.cluster`` when
``provideClusterInfo``), standard input only when interactive. Unlike kubectl
they run under a timeout (a plugin that hangs would stall a migration
forever), and their stderr is passed through line by line (kubelogin's
device-code sign-in prints its instructions there) and its tail summarized in
the error when they fail.
"""
from __future__ import annotations

import base64
import collections
import dataclasses
import datetime as dt
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, Protocol, TextIO

import httpx

from kube.config import ExecSpec, KubeConfig, load_client_cert
from kube.errors import CredentialError, KubeconfigError

TOKEN_FILE_PERIOD = 60.0  # seconds between re-reads of a tokenFile (client-go's period)
MAX_REFRESH_MARGIN = 60.0  # refresh an expiring credential at most this long before it expires
REFRESH_RETRY = 5.0  # seconds between attempts to refresh a credential that is still valid
STDERR_TAIL_LINES = 8
# Strings that look like credentials (JWTs, long base64 or hex runs) are cut from a plugin's stderr.
_SECRETISH = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*|[A-Za-z0-9+_=.-]{40,}")


@dataclasses.dataclass(frozen=True)
class ExecOptions:
    """How exec credential plugins run in this process.

    Args:
        timeout: seconds a plugin may take (long enough for a device-code sign-in).
        interactive: whether a user can answer the plugin; None: when standard input is a terminal.
        stderr: where the plugin's stderr lines go as they arrive (None: only kept for errors).
    """

    timeout: float = 300.0
    interactive: bool | None = None
    stderr: TextIO | None = dataclasses.field(default_factory=lambda: sys.stderr)


@dataclasses.dataclass(frozen=True)
class Credential:
    """What a source hands out: a bearer token and/or a client certificate, and when to get a new one.

    Attributes:
        header: the ``Authorization`` value, ``""`` when the credential is a certificate only.
        cert, key: PEM client certificate and key (from an exec plugin), or None.
        expires_at: epoch seconds after which the server will refuse it, None when unknown.
        refresh_at: epoch seconds after which it is obtained again, None for never (until a 401).
    """

    header: str = dataclasses.field(default="", repr=False)
    cert: bytes | None = dataclasses.field(default=None, repr=False)
    key: bytes | None = dataclasses.field(default=None, repr=False)
    expires_at: float | None = None
    refresh_at: float | None = None


class CredentialSource(Protocol):
    """Where credentials come from: a static token, a token file, an exec plugin."""

    refreshable: bool

    def fetch(self) -> Credential: ...


@dataclasses.dataclass
class StaticToken:
    """A ``token:`` written in the kubeconfig: nothing can replace it when the server refuses it."""

    token: str = dataclasses.field(repr=False)
    refreshable: bool = False

    def fetch(self) -> Credential:
        return Credential(header=f"Bearer {self.token}")


@dataclasses.dataclass
class BasicAuthSource:
    """``username``/``password`` (kubectl still supports it; a server must have been set up for it)."""

    username: str
    password: str = dataclasses.field(repr=False)
    refreshable: bool = False

    def fetch(self) -> Credential:
        raw = f"{self.username}:{self.password}".encode()
        return Credential(header="Basic " + base64.b64encode(raw).decode())


@dataclasses.dataclass
class TokenFile:
    """A ``tokenFile``: re-read every minute and on a 401; a failed re-read keeps the last token read."""

    path: Path
    where: str
    clock: Callable[[], float] = time.time
    refreshable: bool = True
    _last: str = dataclasses.field(default="", repr=False)

    def fetch(self) -> Credential:
        now = self.clock()
        try:
            token = self.path.read_text().strip()
        except OSError as e:
            if self._last:
                token = self._last  # rotated away mid-write: the last token read may still be good
            else:
                raise KubeconfigError(f"{self.where}: tokenFile {self.path} cannot be read ({e.strerror})") from e
        if not token:
            if not self._last:
                raise KubeconfigError(f"{self.where}: tokenFile {self.path} is empty")
            token = self._last
        self._last = token
        return Credential(header=f"Bearer {token}", refresh_at=now + TOKEN_FILE_PERIOD)


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):  # closed or detached
        return False


def _summarize(lines: collections.deque[str]) -> str:
    text = " | ".join(line.strip() for line in lines if line.strip())
    text = _SECRETISH.sub("[redacted]", text)
    return text[-600:] if text else "(no stderr)"


def _parse_time(value: Any) -> float:
    if not isinstance(value, str):
        raise ValueError("not a string")
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@dataclasses.dataclass
class ExecPlugin:
    """An exec credential plugin of one user (kubelogin, aws-iam-authenticator, gke-gcloud-auth-plugin …)."""

    spec: ExecSpec
    config: KubeConfig
    options: ExecOptions = dataclasses.field(default_factory=ExecOptions)
    clock: Callable[[], float] = time.time
    refreshable: bool = True

    @property
    def name(self) -> str:
        return Path(self.spec.command).name

    def _about(self) -> str:
        return f"exec plugin `{self.name}` of {self.config.where()}"

    def _interactive(self) -> bool:
        mode = self.spec.interactive_mode
        available = self.options.interactive if self.options.interactive is not None else _stdin_is_terminal()
        if mode == "Never":
            return False
        if mode == "Always" and not available:
            raise CredentialError(f"{self._about()} needs an interactive terminal (interactiveMode: Always) "
                                  "and none is attached",
                                  fix="run it once in a terminal to sign in, or use a non-interactive login mode "
                                      "(e.g. `kubelogin convert-kubeconfig -l azurecli`)")
        return available

    def exec_info(self, interactive: bool) -> dict[str, Any]:
        """The ``KUBERNETES_EXEC_INFO`` document the plugin receives."""
        spec: dict[str, Any] = {"interactive": interactive}
        if self.spec.provide_cluster_info:
            c = self.config
            cluster: dict[str, Any] = {"server": c.server}
            if c.tls_server_name:
                cluster["tls-server-name"] = c.tls_server_name
            if c.insecure:
                cluster["insecure-skip-tls-verify"] = True
            if c.ca_data:
                cluster["certificate-authority-data"] = base64.b64encode(c.ca_data).decode()
            if c.proxy_url:
                cluster["proxy-url"] = c.proxy_url
            if c.exec_cluster_config is not None:
                cluster["config"] = c.exec_cluster_config
            spec["cluster"] = cluster
        return {"apiVersion": self.spec.api_version, "kind": "ExecCredential", "spec": spec}

    def fetch(self) -> Credential:
        """Run the plugin once and read its ExecCredential.

        Raises:
            CredentialError: the command is missing (its ``installHint`` in the fix), exits
                non-zero (its stderr summarized), outlives the timeout, prints no valid
                ExecCredential, or hands out a credential that has already expired.
        """
        interactive = self._interactive()
        env = dict(os.environ)
        env.update(self.spec.env)
        env["KUBERNETES_EXEC_INFO"] = json.dumps(self.exec_info(interactive))
        try:
            proc = subprocess.Popen(
                [self.spec.command, *self.spec.args], env=env,
                stdin=None if interactive else subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                # Its own process group, so a timeout kills what it started too (a shell's children).
                start_new_session=not interactive,
            )
        except FileNotFoundError as e:
            raise CredentialError(f"{self._about()}: command `{self.spec.command}` not found",
                                  fix=self.spec.install_hint or "install it, or fix the user's exec.command") from e
        except PermissionError as e:
            raise CredentialError(f"{self._about()}: command `{self.spec.command}` is not executable",
                                  fix=self.spec.install_hint or "fix its permissions or the user's exec.command") from e
        tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        out: list[bytes] = []
        readers = [threading.Thread(target=self._pass_stderr, args=(proc.stderr, tail), daemon=True),
                   threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)]  # type: ignore[union-attr]
        for t in readers:
            t.start()
        try:
            rc = proc.wait(timeout=self.options.timeout)
        except subprocess.TimeoutExpired:
            self._kill(proc, interactive)
            for t in readers:
                t.join(timeout=5)
            raise CredentialError(f"{self._about()} did not finish within {self.options.timeout:g}s "
                                  f"(stderr: {_summarize(tail)})",
                                  fix="run the command by hand to see where it waits (a sign-in prompt, "
                                      "an unreachable identity provider)") from None
        for t in readers:
            t.join(timeout=5)
        if rc != 0:
            raise CredentialError(f"{self._about()} exited with {rc}: {_summarize(tail)}",
                                  fix="run the command by hand to see why (often: sign in again, e.g. `az login`)")
        return self._credential(b"".join(out))

    def _pass_stderr(self, stream: Any, tail: collections.deque[str]) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace")
            tail.append(line)
            if self.options.stderr is not None:
                try:
                    self.options.stderr.write(line)
                    self.options.stderr.flush()
                except (OSError, ValueError):
                    pass
        stream.close()

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes], interactive: bool) -> None:
        try:
            if interactive:
                proc.kill()
            else:
                os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()

    def _credential(self, stdout: bytes) -> Credential:
        bad = f"{self._about()} printed no valid ExecCredential"
        try:
            doc = json.loads(stdout)
        except ValueError as e:
            detail = f"{e.msg} at line {e.lineno} column {e.colno}" if isinstance(e, json.JSONDecodeError) else "not UTF-8"
            raise CredentialError(f"{bad} (not JSON: {detail})",
                                  fix="run the command by hand; it must print an ExecCredential on stdout") from None
        if not isinstance(doc, dict) or doc.get("kind") != "ExecCredential":
            raise CredentialError(f"{bad} (kind is not ExecCredential)")
        if doc.get("apiVersion") != self.spec.api_version:
            raise CredentialError(f"{bad}: it answered apiVersion '{doc.get('apiVersion')}', the kubeconfig asked "
                                  f"for '{self.spec.api_version}'", fix="align exec.apiVersion with the plugin")
        status = doc.get("status")
        if not isinstance(status, dict):
            raise CredentialError(f"{bad} (no status)")
        token, cert, key = status.get("token"), status.get("clientCertificateData"), status.get("clientKeyData")
        if token is not None and not (isinstance(token, str) and token):
            raise CredentialError(f"{bad} (status.token is not a non-empty string)")
        if (cert is None) != (key is None) or not all(isinstance(v, str) for v in (cert, key) if v is not None):
            raise CredentialError(f"{bad} (status.clientCertificateData and clientKeyData must come together, as PEM)")
        if not token and not cert:
            raise CredentialError(f"{bad} (neither status.token nor a client certificate)")
        now = self.clock()
        expires_at = refresh_at = None
        if status.get("expirationTimestamp") is not None:
            try:
                expires_at = _parse_time(status["expirationTimestamp"])
            except ValueError:
                raise CredentialError(f"{bad} (status.expirationTimestamp is not an RFC 3339 time)") from None
            if expires_at <= now:
                when = dt.datetime.fromtimestamp(expires_at, dt.UTC).isoformat(timespec="seconds")
                raise CredentialError(f"{self._about()} handed out a credential that expired at {when}, "
                                      "and it cannot be refreshed",
                                      fix="sign in again (e.g. `az login`, `kubelogin remove-tokens`), "
                                          "and check this machine's clock")
            refresh_at = expires_at - min(MAX_REFRESH_MARGIN, (expires_at - now) / 4)
        return Credential(header=f"Bearer {token}" if token else "", cert=cert.encode() if cert else None,
                          key=key.encode() if key else None, expires_at=expires_at, refresh_at=refresh_at)


class RefreshingAuth(httpx.Auth):
    """The httpx auth flow: the current credential's header on every request; refresh when stale and once on a 401.

    Args:
        source: where credentials come from.
        clock: epoch seconds (injectable for tests).
        on_cert: called with (cert, key) PEM when a credential carries a client certificate
            (the client loads it into its TLS context; connections opened after that present it).
    """

    def __init__(self, source: CredentialSource, *, clock: Callable[[], float] = time.time,
                 on_cert: Callable[[bytes, bytes], None] | None = None) -> None:
        self.source = source
        self.clock = clock
        self.on_cert = on_cert
        self._lock = threading.Lock()
        # (credential or None, generation, error of the last attempt or None): replaced whole, read without a lock.
        self._state: tuple[Credential | None, int, BaseException | None] = (None, 0, None)

    def current(self) -> Credential:
        """The credential to send now, obtained or refreshed if needed.

        A refresh that fails while the current credential has not yet expired is not an
        error: the credential is used on and the refresh tried again every few seconds
        (an identity provider that is down for a minute must not stop a 24 h soak).
        """
        cred, gen, _ = self._state
        now = self.clock()
        if cred is not None and (cred.refresh_at is None or now < cred.refresh_at):
            return cred
        try:
            return self._refresh(gen)
        except CredentialError:
            if cred is None or cred.expires_at is None or now >= cred.expires_at:
                raise
            with self._lock:
                latest, latest_gen, _ = self._state
                if latest is cred:
                    retry_at = min(cred.expires_at, now + REFRESH_RETRY)
                    self._state = (dataclasses.replace(cred, refresh_at=retry_at), latest_gen, None)
                return self._state[0] or cred

    def _refresh(self, seen: int) -> Credential:
        with self._lock:
            cred, gen, error = self._state
            if gen != seen:  # another thread refreshed (or failed to) while this one waited
                if error is not None:
                    raise error
                if cred is not None:
                    return cred
            try:
                new = self.source.fetch()
            except BaseException as e:
                self._state = (cred, gen + 1, e)
                raise
            if new.cert and new.key and self.on_cert is not None and (cred is None or cred.cert != new.cert):
                self.on_cert(new.cert, new.key)
            self._state = (new, gen + 1, None)
            return new

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        cred = self.current()
        if cred.header:
            request.headers["Authorization"] = cred.header
        response = yield request
        if response.status_code == 401:
            again = self.after_refusal(cred)
            if again is not None:
                if again.header:
                    request.headers["Authorization"] = again.header
                yield request

    def after_refusal(self, refused: Credential) -> Credential | None:
        """What to send once more after the server answered 401 to ``refused``; None when nothing can change.

        The credential is obtained again, once; when another thread has already replaced the
        refused one, its replacement is used as is.

        Raises:
            CredentialError: obtaining it again failed.
        """
        if not self.source.refreshable:
            return None
        latest, gen, _ = self._state
        same = latest is not None and (latest.header, latest.cert) == (refused.header, refused.cert)
        return self._refresh(gen) if same else self.current()


def source_for(config: KubeConfig, *, exec_options: ExecOptions | None = None,
               clock: Callable[[], float] = time.time) -> CredentialSource | None:
    """The credential source a user's settings call for, None when it authenticates by certificate only (or not at all).

    Precedence as in client-go: an exec plugin, else a ``tokenFile`` (it wins over an inline
    ``token``), else ``token``, else ``username``/``password``.
    """
    if config.exec is not None:
        return ExecPlugin(config.exec, config, exec_options or ExecOptions(), clock)
    if config.token_file is not None:
        return TokenFile(config.token_file, config.where(), clock)
    if config.token:
        return StaticToken(config.token)
    if config.username:
        return BasicAuthSource(config.username, config.password)
    return None


def auth_for(config: KubeConfig, *, exec_options: ExecOptions | None = None, ssl_context: ssl.SSLContext | None = None,
             clock: Callable[[], float] = time.time) -> RefreshingAuth | None:
    """The auth flow for one context, None when no header is ever needed.

    Args:
        config: the resolved context.
        exec_options: how its exec plugin runs.
        ssl_context: the client's TLS context; a client certificate from an exec plugin is loaded into it.
        clock: epoch seconds.
    """
    source = source_for(config, exec_options=exec_options, clock=clock)
    if source is None:
        return None

    def on_cert(cert: bytes, key: bytes) -> None:
        if ssl_context is not None:
            try:
                load_client_cert(ssl_context, cert, key)
            except (ssl.SSLError, ValueError) as e:
                raise CredentialError(f"exec plugin of {config.where()} handed out a client certificate "
                                      f"that cannot be loaded ({e.__class__.__name__})") from None

    return RefreshingAuth(source, clock=clock, on_cert=on_cert)
