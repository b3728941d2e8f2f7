"""Where stack state lives and how its secrets are encrypted, for the Automation API wrappers.

Why it exists: one person trying akshift wants state on their disk with a
passphrase; a team needs shared state (Azure Blob Storage, or Pulumi Cloud) and
secrets it can rotate and audit (Azure Key Vault). The Pulumi CLI supports all
of these through ``PULUMI_BACKEND_URL`` and ``--secrets-provider``; this module
picks the project's default (the local file backend, ``file://~``, as ``pulumi
login --local``), checks the combination before the engine starts, and fails
with the variable to set instead of an engine stack trace. Pure: it reads a
mapping, not ``os.environ``.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from deploy.errors import BackendSetupError

DEFAULT_BACKEND = "file://~"
PASSPHRASE_VARS = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")

_SCHEMES = {
    "file://": "file",
    "azblob://": "azblob",
    "https://": "cloud",
    "http://": "cloud",
    "s3://": "s3",
    "gs://": "gcs",
}


@dataclasses.dataclass(frozen=True)
class Backend:
    """The resolved backend and secrets provider.

    Attributes:
        url: ``PULUMI_BACKEND_URL`` to use.
        kind: ``file``, ``azblob``, ``cloud``, ``s3`` or ``gcs``.
        secrets_provider: ``--secrets-provider`` for new stacks (None: the backend's default, a
            passphrase except on Pulumi Cloud).
        env: Variables to add to the engine's environment.
    """

    url: str
    kind: str
    secrets_provider: str | None
    env: Mapping[str, str]


def backend_kind(url: str) -> str:
    """The kind of a backend URL.

    Raises:
        BackendSetupError: An unknown scheme.
    """
    for prefix, kind in _SCHEMES.items():
        if url.startswith(prefix):
            return kind
    raise BackendSetupError(f"PULUMI_BACKEND_URL={url!r} is not a Pulumi backend; use file://~ (default), "
                            "azblob://<container> for Azure Blob Storage, or https://api.pulumi.com for Pulumi Cloud")


def resolve_backend(environ: Mapping[str, str], *, secrets_provider: str | None = None) -> Backend:
    """Pick and check the backend and secrets provider.

    Args:
        environ: The environment (``PULUMI_BACKEND_URL``, passphrase and Azure variables).
        secrets_provider: ``--secrets-provider``: ``passphrase``, ``azurekeyvault://<vault>.vault.azure.net/keys/<key>``,
            or None for the backend's default.

    Returns:
        The backend.

    Raises:
        BackendSetupError: A passphrase is needed but not set, a Blob Storage account is not named,
            or the secrets provider is not one this project supports.
    """
    url = environ.get("PULUMI_BACKEND_URL") or DEFAULT_BACKEND
    kind = backend_kind(url)
    problems = []
    if secrets_provider is not None and not (
        secrets_provider == "passphrase" or secrets_provider.startswith("azurekeyvault://")
        or (kind == "cloud" and secrets_provider == "default")
    ):
        problems.append(f"--secrets-provider {secrets_provider!r} is not supported; use passphrase or "
                        "azurekeyvault://<vault>.vault.azure.net/keys/<key> (or default on Pulumi Cloud)")
    uses_passphrase = secrets_provider == "passphrase" or (secrets_provider is None and kind != "cloud")
    if uses_passphrase and not any(environ.get(v) for v in PASSPHRASE_VARS):
        problems.append("stack secrets are encrypted with a passphrase: set PULUMI_CONFIG_PASSPHRASE (or "
                        "PULUMI_CONFIG_PASSPHRASE_FILE), or use --secrets-provider azurekeyvault://…")
    if kind == "azblob" and not environ.get("AZURE_STORAGE_ACCOUNT"):
        problems.append(f"{url} is in Azure Blob Storage: set AZURE_STORAGE_ACCOUNT (and AZURE_STORAGE_KEY or "
                        "AZURE_STORAGE_SAS_TOKEN, or sign in with `az login`)")
    if problems:
        raise BackendSetupError(problems)
    return Backend(url, kind, secrets_provider, {"PULUMI_BACKEND_URL": url, "PULUMI_SKIP_UPDATE_CHECK": "true"})


def backend_at(url: str) -> Backend:
    """A backend at a URL the caller chose (a run directory's ``file://…``), with the stack's default secrets.

    Unlike :func:`resolve_backend` it checks nothing but the scheme: the caller passes the engine the
    variables its secrets need (the disk mover passes its whole environment).

    Raises:
        BackendSetupError: An unknown scheme.
    """
    return Backend(url, backend_kind(url), None, {"PULUMI_BACKEND_URL": url, "PULUMI_SKIP_UPDATE_CHECK": "true"})
