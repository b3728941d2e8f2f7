"""The migration's artifacts as a stack reads them: the snapshot it declares, the verification it exports.

Why it exists: the Pulumi program owns the migrated workloads (declared from a
transformed snapshot, see ``components.workloads``) and publishes whether they
were verified, so `akshift promote` can decide from stack outputs alone. Both
come from files the migration stages wrote (``<run>/transformed/``,
``<run>/verify.json``). This module turns them into what the program needs —
checked against the stack's pins, integrity-checked, Secrets decrypted in memory
only — and raises errors that name the stack key to fix.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
from pathlib import Path
from typing import Any

from deploy.errors import ArtifactError
from deploy.pins import check_snapshot_digest
from migration import verification as migration_verification
from migration.errors import MigrationError
from migration.secrets import SecretKey
from migration.snapshot import Snapshot

VERIFY_REPORT = migration_verification.VERIFY_FILE


def resolve_path(base_dir: str | os.PathLike[str], value: str) -> Path:
    """A path from a stack file: ``~`` expanded, relative paths taken from the project directory.

    Args:
        base_dir: The Pulumi project directory (where Pulumi.yaml is).
        value: The configured path.

    Returns:
        An absolute path.
    """
    p = Path(value).expanduser()
    return p if p.is_absolute() else (Path(base_dir) / p).resolve()


@dataclasses.dataclass(frozen=True)
class Workloads:
    """A transformed snapshot ready to declare.

    Attributes:
        snapshot: Its directory.
        digest: Its content digest (``index.json``).
        objects: Every object in path order, Secrets decrypted (memory only).
    """

    snapshot: Path
    digest: str
    objects: tuple[dict[str, Any], ...]


def load_workloads(snapshot_dir: Path, *, pinned_digest: str | None, secret_key: SecretKey | None) -> Workloads:
    """Open a transformed snapshot for a stack, refusing anything but the pinned, intact content.

    Args:
        snapshot_dir: ``workloads.snapshot``, resolved.
        pinned_digest: ``workloads.digest`` (None: no pin).
        secret_key: Decrypts the Secret bundle; may be None when the snapshot has no Secrets.

    Returns:
        The workloads.

    Raises:
        ArtifactError: Not a snapshot, not the transformed stage, or files changed since it was written.
        PinMismatch: The digest is not the pinned one.
        SecretKeyError: The snapshot has Secrets and ``secret_key`` cannot decrypt them.
    """
    where = f"workloads.snapshot: {snapshot_dir}"
    try:
        snap = Snapshot(snapshot_dir)
    except MigrationError as e:
        raise ArtifactError(f"{where}: {e}") from e
    if snap.stage != "transformed":
        raise ArtifactError(f"{where} is a {snap.stage!r} snapshot; declare the sanitized one "
                            "(<run>/transformed, written by `akshift transform`)")
    problems = snap.verify()
    if problems:
        shown = "; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")
        raise ArtifactError(f"{where} changed since it was written ({shown}); re-run `akshift transform`")
    digest = check_snapshot_digest(snap.digest, pinned_digest, snapshot=str(snapshot_dir))
    return Workloads(snapshot_dir, digest, tuple(snap.objects(secret_key=secret_key)))


def read_verification(report: Path) -> dict[str, Any] | None:
    """The verification record a stack exports (``verification`` output), from ``verify.json``.

    The file is read through the pipeline's one reader (:func:`migration.verification.read_verification`).

    Args:
        report: The migration's ``verify.json`` for this stack's cluster.

    Returns:
        ``{"ok", "verifiedAt" (ISO 8601, UTC), "snapshotDigest" (or None), "report", "counts"}`` and, when a
        rehearsal's claims started empty (``--empty-volumes``), ``"dataNotCopied"`` (their keys),
        or None when there is no report yet. ``verifiedAt`` is the report's ``verified_at`` when
        it records one, else the file's modification time.

    Raises:
        ArtifactError: The report exists but is not a verify report.
    """
    try:
        verification = migration_verification.read_verification(report)
    except migration_verification.VerificationError as e:
        raise ArtifactError(f"workloads.verifyReport: {e}") from e
    if verification is None:
        return None
    at = verification.verified_at
    if at is None:
        at = dt.datetime.fromtimestamp(report.stat().st_mtime, dt.UTC).isoformat(timespec="seconds")
    record: dict[str, Any] = {
        "ok": verification.ok,
        "verifiedAt": at,
        "snapshotDigest": verification.snapshot_digest,
        "report": str(report),
        "counts": dict(verification.counts),
    }
    # Only when there are some: a stack's recorded output stays as it was for every verification without.
    if verification.data_not_copied:
        record["dataNotCopied"] = list(verification.data_not_copied)
    return record
