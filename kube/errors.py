"""Errors of talking to an API server: a kubeconfig that cannot be used, an answer with an error status.

Why here: these are the errors of the ground floor that every package shares
(migration, cutover, doctor, sandbox); they derive from the one root
(:mod:`errors`) so the CLI maps them to exit codes without knowing them.
An :class:`ApiError`'s kind follows its status, in every command alike:
unreachable, throttled or a 5xx is the environment (3); anything else is a
failure of the request (1).
"""
from __future__ import annotations

import orjson

from errors import AkshiftError, ErrorKind

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class KubeError(AkshiftError):
    """Base of the Kubernetes layer's errors."""


class KubeconfigError(KubeError):
    """The kubeconfig is missing, malformed or lacks the named context, cluster or user."""

    kind = ErrorKind.BAD_INPUT


class CredentialError(KubeError):
    """A credential could not be obtained: an exec plugin that is missing, fails, hangs or prints
    no ExecCredential, or hands out a credential that has already expired.

    The environment (exit 3): the kubeconfig is well-formed, what it runs is not working here
    (not installed, not signed in, no network to the identity provider). Messages name the
    command, the context, the user and the file, never a token.
    """

    kind = ErrorKind.ENVIRONMENT


class ObjectNameError(KubeError):
    """An object's namespace, kind or name cannot be used where akshift must store it."""

    kind = ErrorKind.BAD_INPUT


class ListError(KubeError):
    """Listing one resource type failed (RBAC, a broken aggregated API); the other types proceed."""


class ApiError(KubeError):
    """The API server answered with an error status (0: it could not be reached).

    Attributes:
        status: HTTP status, 0 when the server was unreachable.
        reason: the Status ``reason`` (``Conflict``, ``Invalid``, ``Forbidden``, ``NotFound``…).
        detail: the server's message.
        retryable: whether the same request may succeed later (429, 5xx, unreachable).
    """

    def __init__(self, status: int, reason: str, message: str, *, ref: object = "", retryable: bool = False):
        super().__init__(f"{status} {reason}: {message}" if status else message, ref=ref,
                         kind=ErrorKind.ENVIRONMENT if status == 0 or status in RETRY_STATUSES else ErrorKind.FAILED)
        self.status = status
        self.reason = reason
        self.detail = message
        self.retryable = retryable

    @classmethod
    def from_response(cls, status: int, content: bytes, *, ref: object = "") -> ApiError:
        """The error of one HTTP answer, reading the Kubernetes Status body when there is one."""
        try:
            body = orjson.loads(content)
            reason, message = body.get("reason") or "", body.get("message") or ""
        except (orjson.JSONDecodeError, AttributeError):
            reason, message = "", content[:300].decode(errors="replace")
        return cls(status, reason or str(status), message, ref=ref, retryable=status in RETRY_STATUSES)
