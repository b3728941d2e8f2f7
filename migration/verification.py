"""``verify.json``: the migration's verdict on the target, written in one place and read through one type.

Why it owns a format: ``verify.json`` is a contract beyond the pipeline —
``akshift promote`` pins what was verified and when (``deploy.artifacts``), and
``akshift cutover`` refuses to move traffic to a cluster it does not vouch for
(``cutover.preflight``). So one function writes it (:func:`write_verification`,
used by ``akshift verify`` and ``akshift migrate`` through
:mod:`migration.pipeline`), and one reader turns it back into a
:class:`Verification` (:func:`read_verification`) that the others use instead
of indexing a dict. The keys are those earlier releases wrote, so files from
them still read.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from errors import ErrorKind
from migration import tempfiles
from migration.errors import MigrationError
from migration.findings import VOLUME_DATA_NOT_COPIED, Finding, Severity
from migration.report import Results

VERIFY_FILE = "verify.json"


class VerificationError(MigrationError):
    """A ``verify.json`` exists but is not a verify report (not JSON, no boolean ``ok``)."""

    kind = ErrorKind.BAD_INPUT


@dataclasses.dataclass(frozen=True, kw_only=True)
class Verification:
    """What ``akshift verify`` concluded about the target.

    Attributes:
        ok: every source object accounted for and equal on the target, every workload ready.
        verified_at: when (ISO 8601, UTC); None in reports that did not record it.
        snapshot_digest: the digest of the ``transformed/`` snapshot verified; None when not recorded.
        counts: per-object status → count (``ok``, ``excluded``, ``failed`` …).
        unaccounted: snapshot paths of source objects neither on the target nor excluded (an object the
            inventory could not store under any path is named by its ref, ``Kind.group namespace/name``).
        not_ready: workloads that did not become ready.
        problems: the per-object results that are problems (``ObjectResult.to_dict()``).
        blocking_findings: blocker findings still open (volume findings a verified move resolved excluded).
        data_not_copied: keys of the claims that started empty on the target because the run was a rehearsal
            (``--empty-volumes``, finding ``volume-data-not-copied``): the objects may all be there and ready,
            but the source's data is not, so such a verification never vouches for a cluster to serve.
        objects: every per-object result (``ObjectResult.to_dict()``).
    """

    ok: bool
    verified_at: str | None = None
    snapshot_digest: str | None = None
    counts: Mapping[str, int] = dataclasses.field(default_factory=dict)
    unaccounted: tuple[str, ...] = ()
    not_ready: tuple[str, ...] = ()
    problems: tuple[Mapping[str, Any], ...] = ()
    blocking_findings: int = 0
    data_not_copied: tuple[str, ...] = ()
    objects: tuple[Mapping[str, Any], ...] = ()

    @property
    def vouches(self) -> bool:
        """Whether a cutover may trust it: ok, nothing unaccounted or not ready, no blocking finding, no claim
        that started empty (a rehearsal's objects can all be right while its data is missing)."""
        return self.ok and not self.unaccounted and not self.not_ready and not self.blocking_findings \
            and not self.data_not_copied

    def summary(self) -> dict[str, Any]:
        """Everything but the per-object list (what ``akshift verify -o json`` prints)."""
        return {"ok": self.ok, "verified_at": self.verified_at, "snapshot_digest": self.snapshot_digest,
                "counts": dict(self.counts), "unaccounted": list(self.unaccounted), "not_ready": list(self.not_ready),
                "problems": [dict(p) for p in self.problems], "blocking_findings": self.blocking_findings,
                "data_not_copied": list(self.data_not_copied)}

    def to_dict(self) -> dict[str, Any]:
        """The ``verify.json`` document."""
        return {**self.summary(), "objects": [dict(o) for o in self.objects]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Verification:
        """Read a ``verify.json`` document; missing keys take their defaults (older or hand-written files).

        Raises:
            VerificationError: there is no boolean ``ok``.
        """
        if not isinstance(d, Mapping) or not isinstance(d.get("ok"), bool):
            raise VerificationError("has no boolean 'ok'", fix="re-run `akshift verify`")
        at = d.get("verified_at")
        digest = d.get("snapshot_digest")
        return cls(ok=d["ok"], verified_at=at if isinstance(at, str) else None,
                   snapshot_digest=digest if isinstance(digest, str) else None,
                   counts=dict(d.get("counts") or {}), unaccounted=tuple(d.get("unaccounted") or ()),
                   not_ready=tuple(d.get("not_ready") or ()), problems=tuple(d.get("problems") or ()),
                   blocking_findings=int(d.get("blocking_findings") or 0),
                   data_not_copied=tuple(d.get("data_not_copied") or ()), objects=tuple(d.get("objects") or ()))


def build_verification(*, results: Results, unaccounted: Iterable[str], not_ready: Iterable[str], ok: bool,
                       snapshot_digest: str, findings: Iterable[Finding],
                       at: dt.datetime | None = None) -> Verification:
    """The verification of one verify run.

    Args:
        results: per-object results of the verify stage.
        unaccounted, not_ready: what the verify stage could not account for / found not ready.
        ok: the verify stage's verdict.
        snapshot_digest: digest of the ``transformed/`` snapshot verified (what ``akshift promote`` pins).
        findings: the findings still open (blockers are counted; claims that started empty are listed).
        at: when; now (UTC) by default. The verification must be newer than the last change of
            the stack it vouches for.

    Returns:
        The record to write.
    """
    when = (at or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    findings = list(findings)
    return Verification(ok=ok, verified_at=when, snapshot_digest=snapshot_digest,
                        counts={s.value: n for s, n in results.counts().items()}, unaccounted=tuple(unaccounted),
                        not_ready=tuple(not_ready), problems=tuple(r.to_dict() for r in results.problems()),
                        blocking_findings=sum(1 for f in findings if f.severity is Severity.BLOCKER),
                        data_not_copied=tuple(sorted({f.ref.key for f in findings
                                                      if f.code == VOLUME_DATA_NOT_COPIED})),
                        objects=tuple(results.to_dict()["objects"]))


def write_verification(out: Path, verification: Verification) -> Path:
    """Write ``<out>/verify.json``; the only writer of the format.

    Returns:
        The file's path.
    """
    path = out / VERIFY_FILE
    tempfiles.write_atomic(path, orjson.dumps(verification.to_dict(), option=orjson.OPT_INDENT_2))
    return path


def read_verification(path: Path) -> Verification | None:
    """Read a ``verify.json``.

    Args:
        path: the file.

    Returns:
        The verification, or None when the file does not exist.

    Raises:
        VerificationError: the file is not JSON, or has no boolean ``ok``.
    """
    try:
        data = orjson.loads(Path(path).read_bytes())
    except FileNotFoundError:
        return None
    except orjson.JSONDecodeError as e:
        raise VerificationError(f"is not JSON ({e})", ref=path, fix="re-run `akshift verify`") from e
    try:
        return Verification.from_dict(data)
    except VerificationError as e:
        raise VerificationError(e.message, ref=path, fix=e.fix) from None


__all__ = ["VERIFY_FILE", "Verification", "VerificationError", "build_verification", "read_verification",
           "write_verification"]
