"""Encryption of Secret data at rest: Secrets are never written or logged in plain text.

Why age (``pyrage``): a small, audited format with two ways in that fit the
two ways people run a migration — an X25519 key pair (``age-keygen``; the
recipient can be shared, the identity file stays with whoever applies), or a
passphrase for a one-person run. The passphrase comes only from the
environment (``AKSHIFT_SECRET_PASSPHRASE``), never from a command-line
argument, which would land in shell history and ``ps`` output.

Why one bundle per snapshot (``secrets.age``) rather than one file per Secret:
age's passphrase mode runs scrypt on every encryption *and* decryption. On the
2-core development machine (busy with a build), measured with pyrage 1.4.0::

    passphrase encrypt or decrypt, any size    2.5–4.5 s  (scrypt, work factor 2^18)
    X25519 encrypt, 200 bytes                  ~60 µs
    bundle of 5,000 Secrets (6.7 MB), X25519   17 ms encrypt, 28 ms decrypt
    the same bundle, passphrase                2.6 s each way: one scrypt

Per-object passphrase files would cost hours for a cluster with thousands of
Secrets; one bundle costs one scrypt per stage. Deriving a key once and
running our own cipher would avoid that too, but would mean designing crypto
instead of using age's. The cost of the bundle is memory: all Secrets of a
snapshot are held in memory while it is written (Kubernetes caps each Secret at
1 MiB, and clusters hold megabytes of them, not gigabytes).

The bundle's plain text is JSON ``{"format": ..., "secrets": {path: object}}``
with sorted keys; only its ciphertext touches the disk.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import pyrage

from migration.errors import SecretKeyError

PASSPHRASE_ENV = "AKSHIFT_SECRET_PASSPHRASE"
BUNDLE_FORMAT = "akshift.secrets/v1"
NO_KEY_HELP = ("Secrets would be written in plain text; pass --age-recipient/--age-identity or set "
               f"{PASSPHRASE_ENV}, or exclude secrets with --exclude-secrets")


class SecretKey:
    """What encrypts and decrypts Secret bundles: age recipients/identities, or a passphrase.

    Build one with :func:`load_secret_key` or the ``from_*`` constructors. A key
    made from recipients only can encrypt but not decrypt (the usual split: the
    inventory host gets the public recipient, the apply host the identity file).
    ``repr`` never shows key material.
    """

    def __init__(self, *, recipients: Sequence[Any] = (), identities: Sequence[Any] = (),
                 passphrase: str | None = None, source: str):
        self._recipients = tuple(recipients)
        self._identities = tuple(identities)
        self._passphrase = passphrase or None
        self.source = source

    def __repr__(self) -> str:
        return f"SecretKey(source={self.source!r})"

    @classmethod
    def from_recipients(cls, recipients: Sequence[str]) -> SecretKey:
        """A key that can only encrypt, to the given ``age1…`` recipients.

        Raises:
            SecretKeyError: a recipient is not a valid age X25519 recipient.
        """
        parsed = []
        for r in recipients:
            try:
                parsed.append(pyrage.x25519.Recipient.from_str(r.strip()))
            except pyrage.RecipientError as e:
                raise SecretKeyError(f"'{r[:12]}…' is not an age recipient ({e})",
                                     fix="pass the age1… public key printed by age-keygen") from e
        return cls(recipients=parsed, source=f"{len(parsed)} age recipient(s)")

    @classmethod
    def from_identity_file(cls, path: str | os.PathLike[str]) -> SecretKey:
        """A key that encrypts and decrypts with the identities of an age identity file.

        Args:
            path: a file as written by ``age-keygen``: ``AGE-SECRET-KEY-1…`` lines, ``#`` comments.

        Raises:
            SecretKeyError: the file is missing, unreadable or holds no valid identity.
        """
        p = Path(path)
        try:
            lines = p.read_text().splitlines()
        except UnicodeDecodeError as e:
            raise SecretKeyError(f"age identity file {p} is not text (byte {e.start}): not an age identity",
                                 fix="pass the file written by age-keygen to --age-identity") from e
        except OSError as e:
            raise SecretKeyError(f"cannot read age identity file {p} ({e.strerror})",
                                 fix="pass the file written by age-keygen to --age-identity") from e
        identities = []
        for n, line in enumerate(lines, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                identities.append(pyrage.x25519.Identity.from_str(line))
            except pyrage.IdentityError as e:
                # The line is key material: never echo it.
                raise SecretKeyError(f"line {n} of {p} is not an age X25519 identity",
                                     fix="pass the file written by age-keygen to --age-identity") from e
        if not identities:
            raise SecretKeyError(f"{p} holds no age identity", fix="generate one with age-keygen -o FILE")
        return cls(recipients=[i.to_public() for i in identities], identities=identities,
                   source=f"age identity file {p}")

    @classmethod
    def from_passphrase(cls, passphrase: str) -> SecretKey:
        """A key that encrypts and decrypts with a passphrase (scrypt: ~1 s per operation)."""
        if not passphrase:
            raise SecretKeyError("the passphrase is empty", fix=f"set {PASSPHRASE_ENV} to a non-empty value")
        return cls(passphrase=passphrase, source=f"passphrase from {PASSPHRASE_ENV}")

    @property
    def can_encrypt(self) -> bool:
        return bool(self._recipients or self._passphrase)

    @property
    def can_decrypt(self) -> bool:
        return bool(self._identities or self._passphrase)

    def encrypt(self, data: bytes) -> bytes:
        """Encrypt bytes to this key.

        Raises:
            SecretKeyError: the key has nothing to encrypt to.
        """
        if self._passphrase:
            return pyrage.passphrase.encrypt(data, self._passphrase)
        if not self._recipients:
            raise SecretKeyError(f"the key from {self.source} cannot encrypt", fix=NO_KEY_HELP)
        return pyrage.encrypt(data, list(self._recipients))

    def decrypt(self, data: bytes) -> bytes:
        """Decrypt bytes encrypted to this key.

        Raises:
            SecretKeyError: the key cannot decrypt (recipients only), does not match,
                or the data is corrupt.
        """
        if not self.can_decrypt:
            raise SecretKeyError(f"the key from {self.source} can encrypt but not decrypt",
                                 fix="pass the matching identity file with --age-identity")
        try:
            if self._passphrase:
                return pyrage.passphrase.decrypt(data, self._passphrase)
            return pyrage.decrypt(data, list(self._identities))
        except pyrage.DecryptError as e:
            raise SecretKeyError(f"cannot decrypt with the key from {self.source} ({e})",
                                 fix="use the identity or passphrase the snapshot was written with") from e


def load_secret_key(*, recipients: Sequence[str] = (), identity_file: str | os.PathLike[str] | None = None,
                    environ: Mapping[str, str] | None = None) -> SecretKey | None:
    """The key the user configured, or None when they configured none.

    Precedence: an identity file (it can do both directions), then recipients,
    then the passphrase environment variable. Giving both a passphrase and age
    keys is refused: the user would not know which one the snapshot needs.

    Args:
        recipients: ``age1…`` public keys (``--age-recipient``, repeatable).
        identity_file: an age identity file (``--age-identity``).
        environ: the environment to read ``AKSHIFT_SECRET_PASSPHRASE`` from; ``os.environ`` when None.

    Returns:
        The key, or None when nothing was configured (see :func:`require_key`).

    Raises:
        SecretKeyError: a given key is invalid, or both a passphrase and age keys were given.
    """
    env = os.environ if environ is None else environ
    passphrase = env.get(PASSPHRASE_ENV) or None
    if passphrase and (recipients or identity_file):
        raise SecretKeyError(f"both {PASSPHRASE_ENV} and age keys are set",
                             fix=f"unset {PASSPHRASE_ENV} or drop --age-recipient/--age-identity")
    if identity_file:
        key = SecretKey.from_identity_file(identity_file)
        if recipients:
            extra = SecretKey.from_recipients(recipients)
            return SecretKey(recipients=key._recipients + extra._recipients, identities=key._identities,
                             source=f"{key.source} and {extra.source}")
        return key
    if recipients:
        return SecretKey.from_recipients(recipients)
    if passphrase:
        return SecretKey.from_passphrase(passphrase)
    return None


def require_key(key: SecretKey | None, *, decrypt: bool = False) -> SecretKey:
    """Fail with the user-facing explanation when no usable key was configured.

    Args:
        key: what :func:`load_secret_key` returned.
        decrypt: whether the key must be able to decrypt (apply) rather than encrypt (inventory).

    Returns:
        The key.

    Raises:
        SecretKeyError: with :data:`NO_KEY_HELP`, or because the key cannot decrypt.
    """
    if key is None or not key.can_encrypt:
        raise SecretKeyError(NO_KEY_HELP)
    if decrypt and not key.can_decrypt:
        raise SecretKeyError(f"the key from {key.source} can encrypt but not decrypt",
                             fix="pass the matching identity file with --age-identity, or set " + PASSPHRASE_ENV)
    return key


def encrypt_bundle(secrets: Mapping[str, Mapping[str, Any]], key: SecretKey) -> bytes:
    """Serialise and encrypt Secret objects keyed by snapshot path.

    Args:
        secrets: snapshot path → Secret object.
        key: a key that can encrypt.

    Returns:
        The age ciphertext (binary).

    Raises:
        SecretKeyError: the key cannot encrypt.
    """
    plain = orjson.dumps({"format": BUNDLE_FORMAT, "secrets": secrets}, option=orjson.OPT_SORT_KEYS)
    return key.encrypt(plain)


def decrypt_bundle(data: bytes, key: SecretKey) -> dict[str, dict[str, Any]]:
    """Decrypt a bundle written by :func:`encrypt_bundle`.

    Returns:
        Snapshot path → Secret object.

    Raises:
        SecretKeyError: wrong key, corrupt data, or not a bundle.
    """
    plain = key.decrypt(data)
    try:
        body = orjson.loads(plain)
    except orjson.JSONDecodeError:
        # Not chained: the decode error carries the decrypted document in its .doc attribute.
        raise SecretKeyError("the decrypted secrets bundle is not JSON", fix="re-run the inventory stage") from None
    if not isinstance(body, dict) or body.get("format") != BUNDLE_FORMAT:
        raise SecretKeyError(f"the decrypted data is not an {BUNDLE_FORMAT} bundle", fix="re-run the inventory stage")
    return body["secrets"]
