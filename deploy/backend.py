"""Where stack state lives and how its secrets are encrypted, for the Automation API wrappers.

Why it exists: one person trying akshift keeps state on their disk with a
passphrase; a team shares state (Azure Blob Storage, or Pulumi Cloud) and
secrets it can rotate and audit (Azure Key Vault). The Pulumi CLI handles all of
these itself — ``pulumi login`` (or ``PULUMI_BACKEND_URL``) chooses the backend,
each stack's file names its secrets provider — so this module *respects* what the
user set up: without ``PULUMI_BACKEND_URL`` it leaves the backend to the user's
``pulumi login``, and it never demands a passphrase for stacks whose secrets
Pulumi decrypts otherwise (Key Vault, Pulumi Cloud). It only refuses what would
fail anyway, before the engine starts, with what to set instead: an unknown
backend scheme, an explicitly requested passphrase provider without a
passphrase, a Blob Storage URL that names no account. Pure: it reads a
mapping, not ``os.environ``.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from deploy.errors import BackendSetupError

LOGIN = "pulumi login"  # Backend.url when the user's own `pulumi login` decides
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
        url: ``PULUMI_BACKEND_URL`` to use, or :data:`LOGIN` when the user's ``pulumi login`` decides.
        kind: ``file``, ``azblob``, ``cloud``, ``s3``, ``gcs``, or ``login``.
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
    raise BackendSetupError(f"PULUMI_BACKEND_URL={url!r} is not a Pulumi backend; unset it to use your `pulumi "
                            "login`, or use file://~, azblob://<container>?storage_account=<account> for Azure Blob "
                            "Storage, or https://api.pulumi.com for Pulumi Cloud")


def resolve_backend(environ: Mapping[str, str], *, secrets_provider: str | None = None) -> Backend:
    """Check the backend and secrets provider the user chose, changing neither.

    Args:
        environ: The environment (``PULUMI_BACKEND_URL``, passphrase and Azure variables).
        secrets_provider: ``--secrets-provider`` for *new* stacks: ``passphrase``,
            ``azurekeyvault://<vault>.vault.azure.net/keys/<key>``, ``default`` (Pulumi Cloud), or None
            to let Pulumi pick; existing stacks keep the provider their stack file names.

    Returns:
        The backend: ``PULUMI_BACKEND_URL`` when set (passed on unchanged, query parameters included),
        else the user's ``pulumi login`` (nothing is set).

    Raises:
        BackendSetupError: An unknown backend scheme, an unsupported secrets provider, a passphrase
            provider asked for without a passphrase, or a Blob Storage URL that names no account.
    """
    url = environ.get("PULUMI_BACKEND_URL") or None
    kind = backend_kind(url) if url is not None else "login"
    problems = []
    if secrets_provider is not None and not (
        secrets_provider in ("passphrase", "default") or secrets_provider.startswith("azurekeyvault://")
    ):
        problems.append(f"--secrets-provider {secrets_provider!r} is not supported; use passphrase, "
                        "azurekeyvault://<vault>.vault.azure.net/keys/<key>, or default (Pulumi Cloud)")
    if secrets_provider == "passphrase" and not any(environ.get(v) for v in PASSPHRASE_VARS):
        problems.append("--secrets-provider passphrase: set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE)")
    if kind == "azblob" and url is not None and "storage_account=" not in url and not environ.get("AZURE_STORAGE_ACCOUNT"):
        problems.append(f"{url} is in Azure Blob Storage but names no account: add ?storage_account=<account> to "
                        "the URL or set AZURE_STORAGE_ACCOUNT (and sign in with `az login`, or set AZURE_STORAGE_KEY)")
    if problems:
        raise BackendSetupError(problems)
    env = {"PULUMI_SKIP_UPDATE_CHECK": "true"}
    if url is not None:
        env["PULUMI_BACKEND_URL"] = url
    return Backend(url or LOGIN, kind, secrets_provider, env)


def backend_at(url: str) -> Backend:
    """A backend at a URL the caller chose (a run directory's ``file://…``), with the stack's default secrets.

    Unlike :func:`resolve_backend` it checks nothing but the scheme: the caller passes the engine the
    variables its secrets need (the disk mover passes its whole environment).

    Raises:
        BackendSetupError: An unknown scheme.
    """
    return Backend(url, backend_kind(url), None, {"PULUMI_BACKEND_URL": url, "PULUMI_SKIP_UPDATE_CHECK": "true"})
