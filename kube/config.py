"""Kubeconfig: which server, and who we are there — read as kubectl reads it.

Why apart from the client: where to connect and how to authenticate is a
format of its own (contexts, clusters, users, auth plugins) with its own
errors, each naming the file and the context; the client only needs the
result.
"""
from __future__ import annotations

import base64
import dataclasses
import os
import ssl
import tempfile
from pathlib import Path
from typing import Any

import yaml

from kube.errors import KubeconfigError


@dataclasses.dataclass(frozen=True)
class KubeConfig:
    """What we need from a kubeconfig context: where, and who we are."""

    server: str
    context: str
    ca_data: bytes | None = None
    insecure: bool = False
    client_cert_data: bytes | None = None
    client_key_data: bytes | None = None
    token: str | None = None
    namespace: str = "default"

    @classmethod
    def load(cls, path: str | os.PathLike[str], context: str | None = None) -> KubeConfig:
        """Read one context of a kubeconfig file.

        Args:
            path: the kubeconfig file.
            context: the context name; the file's ``current-context`` when None.

        Returns:
            The resolved connection settings.

        Raises:
            KubeconfigError: the file is missing, not YAML, or lacks the context,
                cluster or user it names.
        """
        p = Path(path).expanduser()
        try:
            doc = yaml.safe_load(p.read_text())
        except FileNotFoundError as e:
            raise KubeconfigError(f"kubeconfig {p} does not exist; pass --source/--target with a valid path") from e
        except yaml.YAMLError as e:
            raise KubeconfigError(f"kubeconfig {p} is not valid YAML ({e.__class__.__name__}); fix or regenerate it") from e
        if not isinstance(doc, dict):
            raise KubeconfigError(f"kubeconfig {p} is not a kubeconfig mapping")

        def named(section: str, name: str) -> dict[str, Any]:
            for item in doc.get(section) or []:
                if isinstance(item, dict) and item.get("name") == name:
                    return item.get(section[:-1]) or {}
            raise KubeconfigError(f"kubeconfig {p}: {section[:-1]} '{name}' not found; check the file's {section}")

        ctx_name = context or doc.get("current-context")
        if not ctx_name:
            raise KubeconfigError(f"kubeconfig {p} has no current-context; pass --context")
        ctx = named("contexts", ctx_name)
        cluster = named("clusters", ctx.get("cluster", ""))
        user = named("users", ctx.get("user", "")) if ctx.get("user") else {}
        if not cluster.get("server"):
            raise KubeconfigError(f"kubeconfig {p}: cluster of context '{ctx_name}' has no server")

        def data(obj: dict[str, Any], key: str) -> bytes | None:
            if obj.get(f"{key}-data"):
                return base64.b64decode(obj[f"{key}-data"])
            if obj.get(key):
                f = Path(obj[key])
                if not f.is_absolute():
                    f = p.parent / f
                return f.read_bytes()
            return None

        token = user.get("token")
        if not token and user.get("tokenFile"):
            token = Path(user["tokenFile"]).read_text().strip()
        return cls(
            server=cluster["server"].rstrip("/"),
            context=ctx_name,
            ca_data=data(cluster, "certificate-authority"),
            insecure=bool(cluster.get("insecure-skip-tls-verify")),
            client_cert_data=data(user, "client-certificate"),
            client_key_data=data(user, "client-key"),
            token=token,
            namespace=ctx.get("namespace") or "default",
        )

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        if self.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif self.ca_data:
            ctx.load_verify_locations(cadata=self.ca_data.decode())
        if self.client_cert_data and self.client_key_data:
            # ssl can only load a key from a file: write it 0600 in a private temp dir and remove at once.
            with tempfile.TemporaryDirectory(prefix="akshift-tls-") as d:
                cert, key = Path(d, "c.pem"), Path(d, "k.pem")
                for f, b in ((cert, self.client_cert_data), (key, self.client_key_data)):
                    f.touch(mode=0o600)
                    f.write_bytes(b)
                ctx.load_cert_chain(cert, key)
        return ctx
