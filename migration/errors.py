"""Errors of the migration engine: one small hierarchy, retryable kept apart from permanent.

Why shaped so (kopf's TemporaryError/PermanentError, velero's per-object results):
stages collect these per object and keep going; only the caller decides the exit
code. ``retryable`` tells the applier whether backing off can help (429, 5xx,
an unreachable server) or the object itself must change (422, 403, a conflict).
Every message names the object and says what to do (``fix``).

Two ways to be retryable, both read through :func:`is_retryable`:

* the class: :class:`TemporaryError` is a mixin, so ``TemporaryApplyError`` is
  both an :class:`ApplyError` (callers catching apply failures see it) and a
  :class:`TemporaryError` (the retry loop sees it), as kopf's
  ``TemporaryError`` is caught apart from ``PermanentError``;
* the instance: :class:`ApiError` decides from the HTTP status at run time.

:class:`ObjectRef` lives here, not in a module of its own, because errors are the
bottom layer every other module imports: errors must carry refs, and findings,
transforms, snapshots and reports all name objects the same way.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import orjson


@dataclasses.dataclass(frozen=True, order=True)
class ObjectRef:
    """Which object: group, kind, namespace and name (no version: it is the same object at any version).

    Ordered by (group, kind, namespace, name) so sorted reports are stable.
    ``str()`` gives ``Kind.group namespace/name`` (``Deployment.apps shop/web``,
    ``ClusterRole.rbac.authorization.k8s.io admin``, ``Service default/web``),
    the form kubectl users recognise, and unique across groups that reuse a
    kind name (knative's ``Service`` is not the core ``Service``).
    """

    group: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectRef:
        """The ref of a Kubernetes object dict.

        Args:
            obj: an object as the API returns it (``apiVersion``, ``kind``, ``metadata``).

        Returns:
            Its ref; missing fields become empty strings so a malformed object can
            still be named in an error.
        """
        api_version = obj.get("apiVersion") or ""
        meta = obj.get("metadata") or {}
        return cls(
            group=api_version.rpartition("/")[0],
            kind=obj.get("kind") or "",
            namespace=meta.get("namespace") or "",
            name=meta.get("name") or meta.get("generateName") or "",
        )

    def __str__(self) -> str:
        kind = f"{self.kind}.{self.group}" if self.group else self.kind
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{kind} {where}"

    def to_dict(self) -> dict[str, str]:
        """The ref as a JSON-ready dict (for patch logs and reports)."""
        return dataclasses.asdict(self)


class MigrationError(Exception):
    """Base of every error the migration engine raises on purpose.

    Attributes:
        message: what went wrong, without the ref.
        ref: the object concerned (an :class:`ObjectRef` or a free-form string
            such as ``apps/v1/deployments``), ``""`` when none.
        fix: what the user should do, ``""`` when the message already says it.
        retryable: whether trying again unchanged may succeed.
    """

    retryable = False

    def __init__(self, message: str, *, ref: ObjectRef | str = "", fix: str = ""):
        text = f"{ref}: {message}" if ref else message
        if fix:
            text = f"{text} — fix: {fix}"
        super().__init__(text)
        self.ref = ref
        self.message = message
        self.fix = fix


class TemporaryError(MigrationError):
    """Mixin: backing off and trying again may succeed (kopf ``TemporaryError``).

    Attributes:
        delay: seconds the caller should wait before retrying, None to use its own backoff.
    """

    retryable = True

    def __init__(self, message: str, *, ref: ObjectRef | str = "", fix: str = "", delay: float | None = None):
        super().__init__(message, ref=ref, fix=fix)
        self.delay = delay


def is_retryable(exc: BaseException) -> bool:
    """Whether an exception is worth retrying unchanged.

    Args:
        exc: any exception; non-migration exceptions are never retryable, because
            we do not know what they mean.

    Returns:
        True for :class:`TemporaryError` subclasses and errors whose ``retryable``
        attribute was set at run time (:class:`ApiError` on 429/5xx).
    """
    return isinstance(exc, MigrationError) and bool(exc.retryable)


class KubeconfigError(MigrationError):
    """The kubeconfig is missing, malformed or lacks the named context."""


class ApiError(MigrationError):
    """The API server answered with an error status (0: it could not be reached).

    Attributes:
        status: HTTP status, 0 when the server was unreachable.
        reason: the Status ``reason`` (``Conflict``, ``Invalid``, ``Forbidden``, ``NotFound``…).
    """

    def __init__(self, status: int, reason: str, message: str, *, ref: ObjectRef | str = "", retryable: bool = False):
        super().__init__(f"{status} {reason}: {message}" if status else message, ref=ref)
        self.status = status
        self.reason = reason
        self.detail = message
        self.retryable = retryable

    @classmethod
    def from_response(cls, status: int, content: bytes, *, ref: ObjectRef | str = "") -> ApiError:
        try:
            body = orjson.loads(content)
            reason, message = body.get("reason") or "", body.get("message") or ""
        except (orjson.JSONDecodeError, AttributeError):
            reason, message = "", content[:300].decode(errors="replace")
        return cls(status, reason or str(status), message, ref=ref, retryable=status in (429, 500, 502, 503, 504))


class InventoryError(MigrationError):
    """Listing or writing the source snapshot failed for one type or object."""


class TemporaryInventoryError(TemporaryError, InventoryError):
    """Listing failed for a reason that may pass (throttling, a restarting API server)."""


class TransformError(MigrationError):
    """A transform rule could not process an object (a rule bug or a malformed object).

    Rules that merely cannot *rewrite* something report a finding instead; this
    error means the object could not be transformed at all and was left out.
    """


class PlanError(MigrationError):
    """The migration plan is inconsistent (bad context values) or the dry-run rejected an object."""


class ApplyError(MigrationError):
    """Applying one object to the target failed and will fail again unchanged."""


class TemporaryApplyError(TemporaryError, ApplyError):
    """Applying one object failed for a reason that may pass (429, 5xx, a CRD not yet Established)."""


class VerifyMismatch(MigrationError):
    """A target object differs from what the source declared, or is not ready.

    Attributes:
        paths: JSON pointers of the fields that differ. Values are deliberately not
            carried: the object may be a Secret, and errors end up in logs.
    """

    def __init__(self, message: str, *, ref: ObjectRef | str = "", fix: str = "", paths: tuple[str, ...] = ()):
        super().__init__(message, ref=ref, fix=fix)
        self.paths = paths


class SecretKeyError(MigrationError):
    """No usable key to encrypt or decrypt Secret data."""
