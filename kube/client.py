"""The client: the one module that sends requests to a Kubernetes API server.

Why a thin client of our own on httpx instead of the official ``kubernetes``
package, lightkube or kr8s (see docs/dependencies.md for the measurement):

* a migration handles *every* kind, including custom resources it has never
  seen, so objects stay plain dicts — no model classes to build and throw away;
* the hot paths (list with pagination, server-side apply) are one HTTP call
  each over a keep-alive connection, decoded with orjson; the exchange itself
  is our own lean HTTP/1.1 (:mod:`kube.wire`), one connection per thread: a
  sixth of httpx's client CPU per request and under half of ``http.client``'s,
  the lever on 2 cores shared with the API server; httpx keeps proxies,
  watches and injected test transports;
* concurrency is a thread pool over one client (thread-safe), which keeps the
  code synchronous and easy to kill and resume.

Everything else in the project (sandbox, migration stages, cutover) goes
through :class:`KubeClient`; nothing else opens a socket to an API server.

Authentication is an ``httpx.Auth`` flow (:mod:`kube.auth`): the bearer header
is computed per request so tokens are refreshed mid-process (before they
expire, and once on a 401). The transport and the sleep between retries are
injectable, so the retry, ``Retry-After`` and 410-restart logic is unit-tested
in-process (tests/unit/kube/).
"""
from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import email.utils
import os
import random
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson

from kube.auth import ExecOptions, auth_for
from kube.config import KubeConfig
from kube.errors import RETRY_STATUSES, ApiError, CredentialError, KubeconfigError
from kube.objects import ObjectRef
from kube.wire import Answer, Wire, WireError

APPLY_CONTENT_TYPE = "application/apply-patch+yaml"  # JSON is valid YAML, so we send JSON
TLS_VERIFY_FAILED = "TLSVerificationFailed"  # the reason of an ApiError(0, …) for a certificate we do not trust
# Aggregated discovery (every group's resources in one answer), plain JSON from servers without it.
AGGREGATED_DISCOVERY = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
MAX_RETRY_AFTER = 60.0  # seconds: a server asking for longer is waited on this long, then asked again


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date), None when absent or unreadable.

    >>> retry_after_seconds("3")
    3.0
    >>> retry_after_seconds("Wed, 21 Oct 2015 07:28:05 GMT", now=1445412480.0)
    5.0
    >>> retry_after_seconds("soon") is None
    True
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclasses.dataclass(frozen=True)
class ApiResource:
    """One served resource type, as discovery reports it."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    verbs: frozenset[str]

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def collection_path(self, namespace: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            return f"{base}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{self.plural}"


def object_path(api_version: str, plural: str, namespace: str | None, name: str | None = None) -> str:
    """REST path of a collection or an object.

    >>> object_path("apps/v1", "deployments", "shop", "web")
    '/apis/apps/v1/namespaces/shop/deployments/web'
    >>> object_path("v1", "namespaces", None, "shop")
    '/api/v1/namespaces/shop'
    """
    base = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
    ns = f"/namespaces/{namespace}" if namespace else ""
    return f"{base}{ns}/{plural}" + (f"/{name}" if name else "")


def _tls_verification_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind a transport error (httpx → httpcore → ssl), if any."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class KubeClient:
    """A small, thread-safe Kubernetes API client over one pooled httpx connection set.

    Args:
        config: connection settings (see :meth:`KubeConfig.load`).
        max_connections: size of the connection pool; match the caller's concurrency.
        timeout: seconds per request.
        retries: attempts for retryable failures (429, 5xx, connection errors), with
            exponential backoff and jitter; permanent errors raise at once.
    """

    def __init__(self, config: KubeConfig, *, max_connections: int = 16, timeout: float = 30.0, retries: int = 6,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep,
                 exec_options: ExecOptions | None = None, clock: Callable[[], float] = time.time):
        self.config = config
        self.retries = retries
        self._sleep = sleep
        # TLS settings are the transport's: an injected (in-process) transport has none.
        tls: ssl.SSLContext | None = config.ssl_context() if transport is None else None
        self.auth = auth_for(config, exec_options=exec_options, ssl_context=tls, clock=clock)
        # tls-server-name: the name the server's certificate is checked against (and sent as SNI).
        self._extensions = {"sni_hostname": config.tls_server_name} if config.tls_server_name else None
        self._http = httpx.Client(
            base_url=config.server,
            verify=tls if tls is not None else True,
            auth=self.auth,
            headers={"Accept": "application/json", "User-Agent": "akshift/0.1"},
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            proxy=(config.proxy_url or None) if transport is None else None,
            transport=transport,
        )
        # The lean path (kube/wire.py) for every request/response exchange, unless a transport is injected or
        # a proxy is configured: those keep httpx, as watches and /readyz do.
        self._wire = None if transport is not None or config.proxy_url else Wire(
            config.server, tls=tls, auth=self.auth, timeout=timeout, server_name=config.tls_server_name,
            headers={"Accept": "application/json", "User-Agent": "akshift/0.1"})
        self._resources: dict[tuple[str, str], ApiResource] | None = None

    @classmethod
    def from_kubeconfig(cls, path: str | os.PathLike[str] | None = None, context: str | None = None, *,
                        allow_insecure: bool = False, **kw: Any) -> KubeClient:
        """A client for one context of a kubeconfig (KUBECONFIG or ~/.kube/config when ``path`` is None)."""
        return cls(KubeConfig.load(path, context, allow_insecure=allow_insecure), **kw)

    def close(self) -> None:
        self._http.close()
        if self._wire is not None:
            self._wire.close()

    def __enter__(self) -> KubeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- raw requests -------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        ref: object = "",
        meta: dict[str, Any] | None = None,
        accept: str = "",
    ) -> dict[str, Any]:
        """Send one request, retrying what is retryable.

        Args:
            body: a JSON-ready value, serialized once for all attempts.
            meta: when given, receives ``status``, the server's ``date`` header and the ``bytes`` of the
                answer's (decoded) body.
            accept: the ``Accept`` header, when not plain JSON.

        Raises:
            ApiError: the server answered with an error status (``.status``,
                ``.reason``, ``.retryable``), or the server was unreachable after
                all retries (status 0).
        """
        content = orjson.dumps(body) if body is not None else None
        headers = {"Content-Type": content_type} if content is not None else {}
        if accept:
            headers["Accept"] = accept
        delay = 0.2
        for attempt in range(self.retries):
            wait = delay * (0.5 + random.random())  # jitter: many threads throttled at once spread out
            try:
                resp: httpx.Response | Answer
                if self._wire is not None:
                    resp = self._wire.send(method, path, params=params, content=content, headers=headers)
                else:
                    resp = self._http.request(method, path, params=params, content=content, headers=headers or None,
                                              extensions=self._extensions)
            except (httpx.TransportError, WireError) as e:
                refused = _tls_verification_error(e)
                if refused is not None:  # retrying cannot change the server's certificate
                    raise ApiError(0, TLS_VERIFY_FAILED, f"{self.config.server}: its certificate failed verification "
                                   f"({refused.verify_message or refused.reason})", ref=ref) from e
                if attempt == self.retries - 1:
                    why = str(e) if isinstance(e, WireError) else f"{e.__class__.__name__}: {e}"
                    raise ApiError(0, "Unreachable", f"{self.config.server}: {why}", ref=ref, retryable=True) from e
            else:
                if resp.status_code < 400:
                    if meta is not None:
                        meta["status"] = resp.status_code
                        meta["date"] = resp.headers.get("Date", "")
                        meta["bytes"] = len(resp.content)
                    try:
                        return orjson.loads(resp.content) if resp.content else {}
                    except orjson.JSONDecodeError as e:  # a proxy's login page, a captive portal, not an API server
                        kind = resp.headers.get("Content-Type", "no content type")
                        raise ApiError(0, "NotKubernetes", f"{self.config.server}{path} answered {resp.status_code} "
                                       f"with {kind}, not JSON: a proxy or another web server stands where the API "
                                       "server should be; check the server URL and any HTTPS proxy", ref=ref) from e
                err = ApiError.from_response(resp.status_code, resp.content, ref=ref)
                if resp.status_code not in RETRY_STATUSES or attempt == self.retries - 1:
                    raise err
                # The server knows when it can take the request again (429 with API priority and
                # fairness, 503 while starting): never retry sooner than it asks.
                asked = retry_after_seconds(resp.headers.get("Retry-After"))
                if asked is not None:
                    wait = max(wait, min(asked, MAX_RETRY_AFTER))
            self._sleep(wait)
            delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")  # pragma: no cover

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        return self.request("GET", path, params=params or None)

    # -- discovery ----------------------------------------------------------

    def resources(self, refresh: bool = False) -> dict[tuple[str, str], ApiResource]:
        """Every served resource type keyed by (apiVersion, kind), preferred versions first.

        Aggregated discovery (``apidiscovery.k8s.io/v2``, Kubernetes ≥ 1.30): two requests, ``/api`` and
        ``/apis``, whatever the number of groups (at a 30 ms round trip, one request per group version
        cost 0.8 s). A server that does not offer it answers the plain group lists, and each group
        version is then read concurrently. Subresources (``pods/log``) and the versions of an aggregated
        API that is down (404/503, or ``Stale``) are left out.
        """
        if self._resources is not None and not refresh:
            return self._resources
        found: dict[tuple[str, str], ApiResource] = {}
        core = self.request("GET", "/api", accept=AGGREGATED_DISCOVERY)
        groups = self.request("GET", "/apis", accept=AGGREGATED_DISCOVERY)
        if core.get("kind") == groups.get("kind") == "APIGroupDiscoveryList":
            for g in core.get("items", []) + groups.get("items", []):
                group = (g.get("metadata") or {}).get("name", "")
                for v in g.get("versions", []):
                    if v.get("freshness") == "Stale":
                        continue
                    for r in v.get("resources", []):
                        kind = (r.get("responseKind") or {}).get("kind")
                        if not kind or "/" in r["resource"]:
                            continue
                        res = ApiResource(group, v["version"], kind, r["resource"], r.get("scope") == "Namespaced",
                                          frozenset(r.get("verbs", [])))
                        found.setdefault((res.api_version, res.kind), res)
            self._resources = found
            return found
        if "versions" not in core:  # one of the two answered aggregated, the other not: ask plainly
            core = self.get("/api")
        if "groups" not in groups:
            groups = self.get("/apis")
        group_versions: list[tuple[str, str]] = [("", v) for v in core.get("versions", [])]
        for g in groups.get("groups", []):
            preferred = g.get("preferredVersion", {}).get("version")
            versions = [v["version"] for v in g.get("versions", [])]
            versions.sort(key=lambda v: v != preferred)
            group_versions += [(g["name"], v) for v in versions]

        def read(gv: tuple[str, str]) -> dict[str, Any]:
            group, version = gv
            try:
                return self.get(f"/apis/{group}/{version}" if group else f"/api/{version}")
            except ApiError as e:
                if e.status in (404, 503):  # an aggregated API that is down: skip, not fatal
                    return {}
                raise

        with cf.ThreadPoolExecutor(8, thread_name_prefix="discovery") as pool:
            docs = list(pool.map(read, group_versions))  # in order: preferred versions first
        for (group, version), doc in zip(group_versions, docs, strict=True):
            for r in doc.get("resources", []):
                if "/" in r["name"]:
                    continue
                res = ApiResource(group, version, r["kind"], r["name"], bool(r.get("namespaced")), frozenset(r.get("verbs", [])))
                found.setdefault((res.api_version, res.kind), res)
        self._resources = found
        return found

    def resource_for(self, api_version: str, kind: str) -> ApiResource:
        res = self.resources().get((api_version, kind))
        if res is None:
            res = self.resources(refresh=True).get((api_version, kind))
        if res is None:
            raise ApiError(404, "NotServed", f"{kind} in {api_version} is not served by {self.config.server}; "
                           "install its CRD or convert it to a served version", ref=f"{api_version}/{kind}")
        return res

    def path_of(self, obj: dict[str, Any]) -> str:
        res = self.resource_for(obj["apiVersion"], obj["kind"])
        md = obj.get("metadata", {})
        return object_path(res.api_version, res.plural, md.get("namespace") if res.namespaced else None, md.get("name"))

    # -- reads --------------------------------------------------------------

    def list_pages(self, res: ApiResource, *, namespace: str | None = None, limit: int = 500,
                   label_selector: str | None = None, meta: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Yield list pages of one resource type, following ``continue`` tokens.

        An expired continue token (410) restarts the list: objects already yielded
        may repeat, which snapshot writers tolerate (same path, same content).

        Args:
            meta: when given, holds the ``bytes`` (and ``status``, ``date``) of the page just yielded.
        """
        params: dict[str, Any] = {"limit": limit}
        if label_selector:
            params["labelSelector"] = label_selector
        path = res.collection_path(namespace)
        while True:
            try:
                page = self.request("GET", path, params=params, ref=f"{res.api_version}/{res.plural}", meta=meta)
            except ApiError as e:
                if e.status == 410 and "continue" in params:
                    params.pop("continue")
                    continue
                raise
            yield page
            token = page.get("metadata", {}).get("continue")
            if not token:
                return
            params["continue"] = token

    def list(self, res: ApiResource, **kw: Any) -> Iterator[dict[str, Any]]:
        """Yield every object of a type, with apiVersion and kind filled in (lists omit them)."""
        for page in self.list_pages(res, **kw):
            for item in page.get("items", []):
                item.setdefault("apiVersion", res.api_version)
                item.setdefault("kind", res.kind)
                yield item

    def watch(self, res: ApiResource, *, resource_version: str, timeout_seconds: int = 300,
              bookmarks: bool = True) -> Iterator[dict[str, Any]]:
        """Stream the changes of one resource type after ``resource_version`` (one watch request).

        The server ends the stream after ``timeout_seconds``; the caller watches
        again from the last ``resourceVersion`` it saw (BOOKMARK events carry one
        without a change). Objects get apiVersion and kind filled in.

        Args:
            res: the type to watch (all namespaces).
            resource_version: where to start: a list's ``metadata.resourceVersion``, or the last event's.
            timeout_seconds: how long the server keeps the stream open.
            bookmarks: ask for BOOKMARK events (``allowWatchBookmarks=true``).

        Yields:
            ``{"type": "ADDED"|"MODIFIED"|"DELETED"|"BOOKMARK", "object": {...}}`` in the server's order.

        Raises:
            ApiError: 410 (reason ``Expired``) when ``resource_version`` is too old — the caller lists
                again; any other error status, or the server unreachable (status 0).
        """
        params: dict[str, Any] = {"watch": "1", "resourceVersion": resource_version,
                                  "timeoutSeconds": timeout_seconds}
        if bookmarks:
            params["allowWatchBookmarks"] = "true"
        ref = f"{res.api_version}/{res.plural}"
        # The read timeout outlives the server's own: a stream silent for longer than that is dead.
        timeout = httpx.Timeout(30.0, read=timeout_seconds + 30.0)
        try:
            with self._http.stream("GET", res.collection_path(), params=params, timeout=timeout,
                                   extensions=self._extensions) as resp:
                if resp.status_code >= 400:
                    raise ApiError.from_response(resp.status_code, resp.read(), ref=ref)
                for line in resp.iter_lines():
                    if not line.strip():
                        continue
                    event = orjson.loads(line)
                    obj = event.get("object") or {}
                    if event.get("type") == "ERROR":
                        code = int(obj.get("code") or 500)
                        raise ApiError(code, obj.get("reason") or "WatchError", obj.get("message") or "", ref=ref)
                    obj.setdefault("apiVersion", res.api_version)
                    obj.setdefault("kind", res.kind)
                    yield event
        except httpx.TransportError as e:
            raise ApiError(0, "Unreachable", f"{self.config.server}: watch of {ref} broke: "
                                             f"{e.__class__.__name__}: {e}", ref=ref, retryable=True) from e

    def read(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """The live object with the same identity, or None when it does not exist."""
        try:
            return self.request("GET", self.path_of(obj), ref=ObjectRef.of(obj))
        except ApiError as e:
            if e.status == 404 and e.reason != "NotServed":
                return None
            raise

    # -- writes -------------------------------------------------------------

    def apply(self, obj: dict[str, Any], *, field_manager: str, force: bool = False, dry_run: bool = False,
              meta: dict[str, Any] | None = None) -> dict[str, Any]:
        """Server-side apply one object.

        Raises:
            ApiError: 409 with reason ``Conflict`` when fields are owned by another
                manager and ``force`` is False; 422/400 for invalid objects; 403
                for RBAC or admission denials.
        """
        params: dict[str, Any] = {"fieldManager": field_manager}
        if force:
            params["force"] = "true"
        if dry_run:
            params["dryRun"] = "All"
        return self.request("PATCH", self.path_of(obj), params=params, body=obj,
                            content_type=APPLY_CONTENT_TYPE, ref=ObjectRef.of(obj), meta=meta)

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        res = self.resource_for(obj["apiVersion"], obj["kind"])
        ns = obj.get("metadata", {}).get("namespace") if res.namespaced else None
        return self.request("POST", object_path(res.api_version, res.plural, ns), body=obj, ref=ObjectRef.of(obj))

    def delete(self, obj: dict[str, Any]) -> None:
        try:
            self.request("DELETE", self.path_of(obj), ref=ObjectRef.of(obj))
        except ApiError as e:
            if e.status != 404:
                raise

    def patch_merge(self, obj: dict[str, Any], patch: dict[str, Any], subresource: str = "") -> dict[str, Any]:
        path = self.path_of(obj) + (f"/{subresource}" if subresource else "")
        return self.request("PATCH", path, body=patch, content_type="application/merge-patch+json", ref=ObjectRef.of(obj))

    def ready(self) -> bool:
        try:
            resp = self._http.get("/readyz", extensions=self._extensions)
            return resp.status_code == 200
        except (httpx.HTTPError, CredentialError):
            return False


def connect(path: str | os.PathLike[str] | None = None, context: str | None = None, *, role: str = "kubeconfig",
            check: bool = True, allow_insecure: bool = False, kubeconfig_text: str | None = None,
            text_source: str = "", **kw: Any) -> KubeClient:
    """Open a client for one kubeconfig context and prove the server answers, as every command does first.

    Args:
        path: the kubeconfig file; None reads ``KUBECONFIG`` (one file or a ``:``-separated
            list, merged first-wins) or ``~/.kube/config``, as kubectl does.
        context: its context, None for the current one.
        role: how the user named this cluster (``--source``, ``--target``), used in every message.
        check: ask the server for ``/version`` before returning (this runs an exec plugin, if any).
        allow_insecure: accept ``insecure-skip-tls-verify: true`` (refused otherwise).
        kubeconfig_text: a kubeconfig held in memory (a stack output) instead of ``path``; never written.
        text_source: what ``kubeconfig_text`` is, for messages.
        **kw: passed to :class:`KubeClient` (``max_connections``, ``retries``, ``exec_options`` …).

    Returns:
        An open client; the caller closes it.

    Raises:
        KubeconfigError: the kubeconfig is unusable, or the server refused its credentials (bad input);
            the message names the file, the context and the user.
        CredentialError: its exec plugin is missing, failed, hung or printed garbage (environment).
        ApiError: the server could not be reached or failed (environment).
    """
    try:
        if kubeconfig_text is not None:
            config = KubeConfig.from_text(kubeconfig_text, text_source or "kubeconfig", context,
                                          allow_insecure=allow_insecure)
        else:
            config = KubeConfig.load(path, context, allow_insecure=allow_insecure)
    except KubeconfigError as e:
        raise KubeconfigError(e.message, ref=role, fix=e.fix) from e
    client = open_client(config, role=role, **kw)
    if check:
        try:
            client.get("/version")
        except (CredentialError, KubeconfigError) as e:
            client.close()
            raise type(e)(e.message, ref=role, fix=e.fix) from e
        except ApiError as e:
            client.close()
            if e.reason == TLS_VERIFY_FAILED:
                raise KubeconfigError(f"{config.where()}: {e.detail}", ref=role,
                                      fix=f"check the certificate-authority and tls-server-name of cluster "
                                          f"'{config.cluster}'") from e
            if e.status in (401, 403):
                raise KubeconfigError(f"{config.server} refused the credentials of {config.where()} "
                                      f"({e.status} {e.reason})", ref=role, fix=_credential_fix(config, e.status)) from e
            raise ApiError(e.status, e.reason, f"cannot reach {config.server} ({e.detail}); "
                           "is the cluster running?", ref=role, retryable=e.retryable) from e
    return client


def open_client(config: KubeConfig, *, role: str = "kubeconfig", **kw: Any) -> KubeClient:
    """A :class:`KubeClient` for a resolved context, its TLS and proxy settings turned into clear errors.

    Raises:
        KubeconfigError: the CA or client certificate is not usable PEM, or the proxy URL is unusable.
    """
    try:
        return KubeClient(config, **kw)
    except KubeconfigError as e:
        raise KubeconfigError(e.message, ref=role, fix=e.fix) from e
    except (OSError, ValueError) as e:  # ssl.SSLError is an OSError
        raise KubeconfigError(f"{config.where()}: its certificate data is unusable ({e.__class__.__name__})",
                              ref=role, fix="fix its certificate data or regenerate the kubeconfig") from e
    except ImportError as e:  # httpx needs socksio for socks5:// proxies
        raise KubeconfigError(f"{config.where()}: proxy-url (a {config.proxy_url.split(':', 1)[0]} proxy) needs a package that is not "
                              f"installed ({e.name})", fix="use an http(s):// proxy, or install httpx[socks]") from e


def _credential_fix(config: KubeConfig, status: int) -> str:
    """What to do when the server refuses a user, by how that user authenticates."""
    if status == 403:
        return "the user authenticated but may not read /version: check its RBAC bindings"
    if config.exec is not None:
        return (f"it refused even the credential of a fresh run of `{config.exec.command}`: sign in again "
                "(e.g. `az login`, `kubelogin remove-tokens`) and check the user's access to this cluster")
    if config.token_file is not None:
        return f"it refused even a fresh read of tokenFile {config.token_file}: check what writes that file"
    if config.token:
        return ("its token may have expired, and a token written in a kubeconfig cannot be refreshed: "
                "fetch a new kubeconfig (e.g. `az aks get-credentials`)")
    if config.client_cert_data:
        return "its client certificate may have expired or come from another cluster's CA: regenerate the kubeconfig"
    return "the user has no credentials: add a token, a client certificate or an exec plugin"
