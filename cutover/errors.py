"""Errors of the cutover: one small hierarchy, mapped to the CLI's exit codes in one place.

Why shaped so: the CLI must tell apart "you asked for something unsafe or
malformed, nothing changed" (exit 2), "the environment is not there" (exit 3)
and "the cutover ran and green failed a gate" (exit 1, not an exception at all:
a rolled-back state). Each error says what to do (``fix``), like the
migration engine's errors.
"""
from __future__ import annotations

from errors import AkshiftError, ErrorKind


class CutoverError(AkshiftError):
    """Base of every error the cutover raises on purpose (message, fix, kind: see :mod:`errors`)."""


class PlanError(CutoverError):
    """The requested cutover is malformed: steps, hold time, gate specs or names (bad input)."""

    kind = ErrorKind.BAD_INPUT


class PreflightError(CutoverError):
    """A precondition of a safe cutover does not hold; nothing was shifted.

    Attributes:
        checks: every preflight check with its outcome (the CLI prints them all,
            not only the first failure).
    """

    kind = ErrorKind.BAD_INPUT

    def __init__(self, message: str, *, fix: str = "", checks: tuple[dict[str, object], ...] = ()) -> None:
        super().__init__(message, fix=fix)
        self.checks = checks

    def details(self) -> tuple[str, ...]:
        return tuple(f"{'ok  ' if c['ok'] else 'FAIL'} {c['name']}: {c['detail']}" for c in self.checks)


class StateError(CutoverError):
    """The persisted cutover state is missing, unreadable, or does not match the request."""

    kind = ErrorKind.BAD_INPUT


class RouterError(CutoverError):
    """The traffic switch could not be read or changed (HAProxy socket, Pulumi stack).

    Attributes:
        retryable: whether trying again unchanged may succeed (a busy stack, a socket timeout).
    """

    kind = ErrorKind.ENVIRONMENT

    def __init__(self, message: str, *, fix: str = "", retryable: bool = False) -> None:
        super().__init__(message, fix=fix)
        self.retryable = retryable


class FreezeError(CutoverError):
    """Blue could not be frozen or unfrozen, or the freeze is not effective."""

    kind = ErrorKind.ENVIRONMENT


class RefusedError(CutoverError):
    """An operation is refused because it is not safe now (decommission before the soak time)."""
