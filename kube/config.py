"""Kubeconfig: which server, and who we are there — read as kubectl reads it.

Why apart from the client: where to connect and how to authenticate is a
format of its own (contexts, clusters, users, auth plugins) with its own
errors, each naming the file, the context and the user; the client only needs
the result, a frozen :class:`KubeConfig`. How a credential is *obtained* at
request time (exec plugins, token files, refresh before expiry and on a 401)
lives in :mod:`kube.auth`.

Which files, and how they merge (client-go's ``ClientConfigLoadingRules``):

* an explicit path (``--kubeconfig``/``--source`` …) is the only file read, and
  it must exist;
* else ``KUBECONFIG``: one file or a ``:``-separated list (``;`` on Windows);
  files that do not exist are skipped, as kubectl skips them;
* else ``~/.kube/config``.

Merging is kubectl's "first wins": the first file that names a cluster, user or
context defines it whole (later files cannot patch its fields), and the first
file that sets ``current-context`` decides it. Relative paths in an entry
(``certificate-authority``, ``client-key``, ``tokenFile``, an exec ``command``
containing a slash) are resolved against the directory of the file that
defined that entry.

Why our own reader and not lightkube's (docs/dependencies.md): lightkube reads
one file (no ``KUBECONFIG`` list, no merge), speaks exec v1alpha1/v1beta1 only,
and ignores ``expirationTimestamp``, ``installHint``, ``interactiveMode``,
``provideClusterInfo``, ``proxy-url`` and ``tls-server-name`` — the very parts
an AKS kubeconfig written by ``az aks get-credentials`` + kubelogin needs.

Secrets (tokens, passwords, private keys, exec ``env`` values) are kept out of
``repr`` and out of every message.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import ssl
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from kube.errors import KubeconfigError

DEFAULT_KUBECONFIG = "~/.kube/config"
EXEC_API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
INTERACTIVE_MODES = ("Never", "IfAvailable", "Always")
# The cluster extension handed to an exec plugin as spec.cluster.config when provideClusterInfo is set.
EXEC_CLUSTER_EXTENSION = "client.authentication.k8s.io/exec"
SECTIONS = {"clusters": "cluster", "users": "user", "contexts": "context"}


def kubeconfig_paths(path: str | os.PathLike[str] | None = None,
                     environ: Mapping[str, str] | None = None) -> tuple[list[Path], bool]:
    """The kubeconfig files to read, in precedence order, as kubectl chooses them.

    Args:
        path: an explicit file; when given it is the only one.
        environ: the environment to read ``KUBECONFIG`` from (``os.environ`` when None).

    Returns:
        The files, and whether they must exist (True for an explicit path or the
        default file, False for ``KUBECONFIG`` entries, which kubectl skips when missing).

    >>> kubeconfig_paths(None, {"KUBECONFIG": "/a:/b::/a"})
    ([PosixPath('/a'), PosixPath('/b')], False)
    """
    if path is not None and str(path) != "":
        return [Path(path).expanduser()], True
    env = os.environ if environ is None else environ
    listed = env.get("KUBECONFIG", "")
    if listed:
        seen: list[Path] = []
        for entry in listed.split(os.pathsep):
            if entry and Path(entry).expanduser() not in seen:
                seen.append(Path(entry).expanduser())
        if seen:
            return seen, False
    return [Path(DEFAULT_KUBECONFIG).expanduser()], True


@dataclasses.dataclass(frozen=True)
class ExecSpec:
    """A user's ``exec`` credential plugin, validated.

    Attributes:
        api_version: ``client.authentication.k8s.io/v1`` or ``…/v1beta1``.
        command: the program; a relative path with a slash is already resolved against its kubeconfig.
        args: its arguments.
        env: extra environment variables (values may be secrets: kept out of ``repr``).
        install_hint: what to tell a user who does not have the command.
        interactive_mode: ``Never``, ``IfAvailable`` or ``Always``.
        provide_cluster_info: pass the cluster's details in ``KUBERNETES_EXEC_INFO``.
    """

    api_version: str
    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = dataclasses.field(default=(), repr=False)
    install_hint: str = ""
    interactive_mode: str = "IfAvailable"
    provide_cluster_info: bool = False


@dataclasses.dataclass(frozen=True)
class KubeConfig:
    """One resolved kubeconfig context: where the server is, and who we are there.

    Build it with :meth:`load`. Secret fields are left out of ``repr``.
    """

    server: str
    context: str = ""
    ca_data: bytes | None = None
    insecure: bool = False
    client_cert_data: bytes | None = dataclasses.field(default=None, repr=False)
    client_key_data: bytes | None = dataclasses.field(default=None, repr=False)
    token: str | None = dataclasses.field(default=None, repr=False)
    namespace: str = "default"
    cluster: str = ""
    user: str = ""
    source: str = ""  # the file that defined the context (for messages)
    tls_server_name: str = ""
    proxy_url: str = ""
    token_file: Path | None = None
    exec: ExecSpec | None = None
    username: str = ""
    password: str = dataclasses.field(default="", repr=False)
    # The cluster's exec extension (any JSON-shaped value), given to a plugin with provideClusterInfo.
    exec_cluster_config: Any = None

    def where(self) -> str:
        """Context, user and file, for messages: ``context 'aks' (user 'u', kubeconfig /home/me/.kube/config)``."""
        user = f"user '{self.user}'" if self.user else "no user"
        return f"context '{self.context}' ({user}, kubeconfig {self.source or '?'})"

    @property
    def refreshable(self) -> bool:
        """Whether a rejected credential can be obtained again (an exec plugin or a token file)."""
        return self.exec is not None or self.token_file is not None

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None, context: str | None = None, *,
             allow_insecure: bool = False, environ: Mapping[str, str] | None = None) -> KubeConfig:
        """Read one context of the kubeconfig, merged from its files as kubectl does.

        Args:
            path: an explicit kubeconfig file; None for ``KUBECONFIG`` or ``~/.kube/config``.
            context: the context name; the merged ``current-context`` when None.
            allow_insecure: accept a cluster with ``insecure-skip-tls-verify: true``
                (refused by default: it lets anyone on the path read every Secret we move).
            environ: where to read ``KUBECONFIG`` (``os.environ`` when None).

        Returns:
            The resolved connection settings.

        Raises:
            KubeconfigError: no file, a file that is not a kubeconfig, a field of the
                wrong type, a missing context, cluster or user, unreadable
                certificate or token files, or a refused insecure cluster; the
                message names the file, the context and the user.
        """
        files, must_exist = kubeconfig_paths(path, environ)
        merged = _Merged()
        for f in files:
            merged.add(f, must_exist=must_exist)
        if not merged.files:
            listed = ", ".join(str(f) for f in files)
            raise KubeconfigError(f"no kubeconfig found (KUBECONFIG lists {listed}, none exists)",
                                  fix="pass the kubeconfig path, fix KUBECONFIG, or run `az aks get-credentials`")
        return merged.resolve(context, allow_insecure=allow_insecure)

    @classmethod
    def from_text(cls, text: str, source: str, context: str | None = None, *,
                  allow_insecure: bool = False) -> KubeConfig:
        """One context of a kubeconfig held in memory (a stack output), never written to disk.

        Args:
            text: the kubeconfig document.
            source: what it is, for messages (``stack prod output kubeconfig``).
            context: the context name; its ``current-context`` when None.
            allow_insecure: as for :meth:`load`.

        Raises:
            KubeconfigError: the text is not a kubeconfig, or lacks the context, cluster or user.
        """
        merged = _Merged()
        merged.add_text(text, Path(source))
        return merged.resolve(context, allow_insecure=allow_insecure)

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS settings of this context: its CA (or the system's), its client certificate.

        Raises:
            ssl.SSLError, ValueError: the CA or certificate data is not usable PEM.
        """
        ctx = ssl.create_default_context()
        if self.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif self.ca_data:
            ctx.load_verify_locations(cadata=self.ca_data.decode())
        if self.client_cert_data and self.client_key_data:
            load_client_cert(ctx, self.client_cert_data, self.client_key_data)
        return ctx


def load_client_cert(ctx: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    """Load a client certificate into ``ctx``; connections opened afterwards present it.

    ``ssl`` loads keys only from files: they are written 0600 into a private
    temporary directory and removed at once.
    """
    with tempfile.TemporaryDirectory(prefix="akshift-tls-") as d:
        cert_file, key_file = Path(d, "c.pem"), Path(d, "k.pem")
        for f, b in ((cert_file, cert), (key_file, key)):
            f.touch(mode=0o600)
            f.write_bytes(b)
        ctx.load_cert_chain(cert_file, key_file)


# -- reading and merging --------------------------------------------------------


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "nothing"}.get(type(value), type(value).__name__)


@dataclasses.dataclass
class _Entry:
    """One named cluster, user or context, and the file that defined it."""

    body: dict[str, Any]
    file: Path


@dataclasses.dataclass
class _Merged:
    """The merge of several kubeconfig files, first definition wins."""

    files: list[Path] = dataclasses.field(default_factory=list)
    current_context: str = ""
    current_from: Path | None = None
    entries: dict[str, dict[str, _Entry]] = dataclasses.field(
        default_factory=lambda: {s: {} for s in SECTIONS})

    def add(self, f: Path, *, must_exist: bool) -> None:
        try:
            text = f.read_text()
        except FileNotFoundError as e:
            if not must_exist:
                return
            raise KubeconfigError(f"kubeconfig {f} does not exist",
                                  fix="pass an existing file, set KUBECONFIG, or run `az aks get-credentials`") from e
        except OSError as e:
            raise KubeconfigError(f"kubeconfig {f} cannot be read ({e.strerror})") from e
        except UnicodeDecodeError as e:
            raise KubeconfigError(f"kubeconfig {f} is not UTF-8 text (byte {e.start})", fix="fix or regenerate it") from e
        self.add_text(text, f)

    def add_text(self, text: str, f: Path) -> None:
        """Merge one kubeconfig document; ``f`` names it in messages (and anchors its relative paths)."""
        try:
            doc = yaml.safe_load(text)
        except RecursionError as e:
            raise KubeconfigError(f"kubeconfig {f} is nested too deeply to be a kubeconfig", fix="fix or regenerate it") from e
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            at = f" at line {mark.line + 1}" if mark is not None else ""
            raise KubeconfigError(f"kubeconfig {f} is not valid YAML{at}", fix="fix or regenerate it") from e
        self.files.append(f)
        if doc is None:  # an empty file adds nothing, as for kubectl
            return
        if not isinstance(doc, dict):
            raise KubeconfigError(f"kubeconfig {f} is {_type_name(doc)}, not a kubeconfig mapping")
        current = doc.get("current-context")
        if current is not None and not isinstance(current, str):
            raise KubeconfigError(f"kubeconfig {f}: current-context must be a string, found {_type_name(current)}")
        if current and not self.current_context:
            self.current_context, self.current_from = current, f
        for section, item_key in SECTIONS.items():
            items = doc.get(section)
            if items is None:
                continue
            if not isinstance(items, list):
                raise KubeconfigError(f"kubeconfig {f}: `{section}` must be a list of {{name, {item_key}}}, "
                                      f"found {_type_name(items)}")
            for i, item in enumerate(items):
                if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
                    raise KubeconfigError(f"kubeconfig {f}: {section}[{i}] must be a mapping with a string `name`")
                body = item.get(item_key)
                if body is None:
                    body = {}
                if not isinstance(body, dict):
                    raise KubeconfigError(f"kubeconfig {f}: {section}[{i}] ('{item['name']}'): `{item_key}` must be "
                                          f"a mapping, found {_type_name(body)}")
                self.entries[section].setdefault(item["name"], _Entry(body, f))

    def _files(self) -> str:
        return ", ".join(str(f) for f in self.files)

    def resolve(self, context: str | None, *, allow_insecure: bool) -> KubeConfig:
        name = context or self.current_context
        if not name:
            raise KubeconfigError(f"kubeconfig {self._files()} has no current-context",
                                  fix="pass a context (kubectl config get-contexts lists them)")
        ctx_entry = self.entries["contexts"].get(name)
        if ctx_entry is None:
            known = ", ".join(sorted(self.entries["contexts"])) or "none"
            raise KubeconfigError(f"kubeconfig {self._files()}: context '{name}' not found (contexts: {known})",
                                  fix="pass one of the listed contexts")
        f = ctx_entry.file
        ctx = _Fields(ctx_entry.body, f"kubeconfig {f}: context '{name}'")
        cluster_name = ctx.string("cluster")
        user_name = ctx.string("user")
        namespace = ctx.string("namespace") or "default"
        if not cluster_name:
            raise KubeconfigError(f"kubeconfig {f}: context '{name}' names no cluster")
        cluster_entry = self.entries["clusters"].get(cluster_name)
        if cluster_entry is None:
            raise KubeconfigError(f"kubeconfig {self._files()}: context '{name}' names cluster '{cluster_name}', "
                                  "which no file defines", fix="add the cluster or fix the context")
        user_entry: _Entry | None = None
        if user_name:
            user_entry = self.entries["users"].get(user_name)
            if user_entry is None:
                raise KubeconfigError(f"kubeconfig {self._files()}: context '{name}' names user '{user_name}', "
                                      "which no file defines", fix="add the user or fix the context")
        who = f"context '{name}' (user '{user_name or '-'}')"
        cl = _Fields(cluster_entry.body, f"kubeconfig {cluster_entry.file}: cluster '{cluster_name}' of {who}",
                     cluster_entry.file.parent)
        server = cl.string("server")
        if not server:
            raise KubeconfigError(f"kubeconfig {cluster_entry.file}: cluster '{cluster_name}' of {who} has no server")
        insecure = cl.boolean("insecure-skip-tls-verify")
        ca = cl.data("certificate-authority")
        if insecure and ca:
            raise KubeconfigError(f"kubeconfig {cluster_entry.file}: cluster '{cluster_name}' sets both a "
                                  "certificate authority and insecure-skip-tls-verify", fix="keep one (the CA)")
        if insecure and not allow_insecure:
            raise KubeconfigError(f"kubeconfig {cluster_entry.file}: cluster '{cluster_name}' of {who} sets "
                                  "insecure-skip-tls-verify: true; akshift refuses to send credentials and "
                                  "Secrets over an unverified connection",
                                  fix="add the cluster's certificate-authority-data, or allow it explicitly "
                                      "(--insecure-skip-tls-verify)")
        proxy_url = cl.string("proxy-url")
        if proxy_url and proxy_url.split("://", 1)[0] not in ("http", "https", "socks5", "socks5h"):
            raise KubeconfigError(f"{cl.where}: proxy-url must be an http://, https:// or socks5:// URL")
        if not server.startswith(("https://", "http://")):
            raise KubeconfigError(f"{cl.where}: server '{server}' must be an https:// URL")
        extensions = cl.listing("extensions")
        exec_cluster_config = None
        for i, ext in enumerate(extensions):
            if not isinstance(ext, dict):
                raise KubeconfigError(f"{cl.where}: extensions[{i}] must be a mapping")
            if ext.get("name") == EXEC_CLUSTER_EXTENSION:
                exec_cluster_config = ext.get("extension")
        settings: dict[str, Any] = {}
        if user_entry is not None:
            settings = _user_settings(_Fields(user_entry.body, f"kubeconfig {user_entry.file}: user '{user_name}' "
                                                               f"of context '{name}'", user_entry.file.parent))
        return KubeConfig(
            server=server.rstrip("/"), context=name, cluster=cluster_name, user=user_name, source=str(f),
            namespace=namespace, ca_data=ca, insecure=insecure, tls_server_name=cl.string("tls-server-name"),
            proxy_url=proxy_url, exec_cluster_config=exec_cluster_config, **settings,
        )


@dataclasses.dataclass
class _Fields:
    """Typed access to one entry's fields; every error names the entry (file, context, user)."""

    body: dict[str, Any]
    where: str
    base: Path | None = None

    def _typed(self, key: str, kind: type | tuple[type, ...], what: str) -> Any:
        value = self.body.get(key)
        if value is not None and not isinstance(value, kind):
            raise KubeconfigError(f"{self.where}: `{key}` must be {what}, found {_type_name(value)}")
        return value

    def string(self, key: str) -> str:
        return self._typed(key, str, "a string") or ""

    def boolean(self, key: str) -> bool:
        return bool(self._typed(key, bool, "true or false"))

    def listing(self, key: str) -> list[Any]:
        return self._typed(key, list, "a list") or []

    def mapping(self, key: str) -> dict[str, Any] | None:
        value: dict[str, Any] | None = self._typed(key, dict, "a mapping")
        return value

    def path(self, key: str) -> Path | None:
        value = self.string(key)
        if not value:
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() or self.base is None else self.base / p

    def data(self, key: str) -> bytes | None:
        """``<key>-data`` (base64) or the file ``<key>`` names; the inline data wins, as in kubectl."""
        inline = self.string(f"{key}-data")
        if inline:
            try:
                return base64.b64decode(inline, validate=True)
            except (binascii.Error, ValueError) as e:
                raise KubeconfigError(f"{self.where}: `{key}-data` is not valid base64") from e
        p = self.path(key)
        if p is None:
            return None
        try:
            return p.read_bytes()
        except OSError as e:
            raise KubeconfigError(f"{self.where}: `{key}` file {p} cannot be read ({e.strerror})") from e


def _user_settings(u: _Fields) -> dict[str, Any]:
    """The authentication fields of one user, checked for type and for combinations kubectl refuses."""
    if u.body.get("auth-provider") is not None:
        raise KubeconfigError(f"{u.where}: the `auth-provider` plugins (azure, gcp, oidc) were removed from "
                              "kubectl in 1.26 and akshift does not run them",
                              fix="convert the kubeconfig to an exec plugin: `kubelogin convert-kubeconfig -l azurecli`")
    out: dict[str, Any] = {
        "client_cert_data": u.data("client-certificate"),
        "client_key_data": u.data("client-key"),
        "token": u.string("token") or None,
        "token_file": u.path("tokenFile"),
        "username": u.string("username"),
        "password": u.string("password"),
        "exec": _exec_spec(u),
    }
    if bool(out["client_cert_data"]) != bool(out["client_key_data"]):
        raise KubeconfigError(f"{u.where}: a client certificate needs both client-certificate and client-key")
    if out["exec"] is not None and (out["token"] or out["token_file"]):
        raise KubeconfigError(f"{u.where}: sets both a token and an exec plugin", fix="keep one")
    if out["token_file"] is not None and not out["token_file"].is_file():
        raise KubeconfigError(f"{u.where}: tokenFile {out['token_file']} does not exist")
    return out


def _exec_spec(u: _Fields) -> ExecSpec | None:
    raw = u.mapping("exec")
    if raw is None:
        return None
    e = _Fields(raw, f"{u.where}: exec", u.base)
    api_version = e.string("apiVersion")
    if api_version not in EXEC_API_VERSIONS:
        raise KubeconfigError(f"{e.where}: apiVersion '{api_version or '(none)'}' is not supported "
                              f"(v1alpha1 was removed in Kubernetes 1.24)", fix=f"use {' or '.join(EXEC_API_VERSIONS)}")
    command = e.string("command")
    if not command:
        raise KubeconfigError(f"{e.where}: has no command")
    if os.sep in command and not Path(command).is_absolute() and u.base is not None:
        command = str(u.base / command)  # kubectl: relative to the kubeconfig that names it
    args = e.listing("args")
    if not all(isinstance(a, str) for a in args):
        raise KubeconfigError(f"{e.where}: args must be a list of strings")
    env: list[tuple[str, str]] = []
    for i, item in enumerate(e.listing("env")):
        if not (isinstance(item, dict) and isinstance(item.get("name"), str) and isinstance(item.get("value"), str)):
            raise KubeconfigError(f"{e.where}: env[{i}] must be a mapping of string `name` and string `value`")
        env.append((item["name"], item["value"]))
    mode = e.string("interactiveMode")
    if not mode:
        if api_version.endswith("/v1"):
            raise KubeconfigError(f"{e.where}: interactiveMode is required with {api_version}",
                                  fix=f"set it to one of {', '.join(INTERACTIVE_MODES)}")
        mode = "IfAvailable"  # the v1beta1 default
    if mode not in INTERACTIVE_MODES:
        raise KubeconfigError(f"{e.where}: interactiveMode '{mode}' is not one of {', '.join(INTERACTIVE_MODES)}")
    return ExecSpec(api_version=api_version, command=command, args=tuple(args), env=tuple(env),
                    install_hint=e.string("installHint").strip(), interactive_mode=mode,
                    provide_cluster_info=e.boolean("provideClusterInfo"))
