"""Errors of the migration pipeline, each with the kind that decides its exit code.

Why shaped so (velero's per-object results): stages collect these per object
and keep going; only the CLI boundary turns an error that stops a stage into
an exit code, through the one mapping of :mod:`errors`. Every message names
the object or file and says what to do (``fix``). The Kubernetes layer's own
errors (an API answer, a kubeconfig) live in :mod:`kube.errors`.
"""
from __future__ import annotations

from errors import AkshiftError, ErrorKind


class MigrationError(AkshiftError):
    """Base of every error the migration pipeline raises on purpose."""


class InventoryError(MigrationError):
    """Reading or writing a snapshot failed for one type, one object or the whole directory."""


class SnapshotInputError(InventoryError):
    """A run directory the user pointed at is not usable as it is (missing, exists without --overwrite)."""

    kind = ErrorKind.BAD_INPUT


class TransformError(MigrationError):
    """A transform rule could not process an object (a rule bug or a malformed object).

    Rules that merely cannot *rewrite* something report a finding instead; this
    error means the object could not be transformed at all and was left out.
    """


class PlanError(MigrationError):
    """The migration plan is inconsistent: bad context values, a volume plan or state file that cannot be used."""

    kind = ErrorKind.BAD_INPUT


class ApplyError(MigrationError):
    """Applying one object to the target failed."""


class SecretKeyError(MigrationError):
    """No usable key to encrypt or decrypt Secret data."""

    kind = ErrorKind.BAD_INPUT
