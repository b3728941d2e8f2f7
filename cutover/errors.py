"""Errors of the cutover: one small hierarchy, mapped to the CLI's exit codes in one place.

Why shaped so: the CLI must tell apart "you asked for something unsafe or
malformed, nothing changed" (exit 2), "the environment is not there" (exit 3)
and "the cutover ran and green failed a gate" (exit 1, not an exception at all:
a rolled-back state). Each error says what to do (``fix``), like the
migration engine's errors.
"""
from __future__ import annotations


class CutoverError(Exception):
    """Base of every error the cutover raises on purpose.

    Attributes:
        message: what went wrong.
        fix: what the user should do, ``""`` when the message already says it.
    """

    def __init__(self, message: str, *, fix: str = "") -> None:
        super().__init__(f"{message} — fix: {fix}" if fix else message)
        self.message = message
        self.fix = fix


class PlanError(CutoverError):
    """The requested cutover is malformed: steps, hold time, gate specs or names (bad input)."""


class PreflightError(CutoverError):
    """A precondition of a safe cutover does not hold; nothing was shifted.

    Attributes:
        checks: every preflight check with its outcome (the CLI prints them all,
            not only the first failure).
    """

    def __init__(self, message: str, *, fix: str = "", checks: tuple[dict[str, object], ...] = ()) -> None:
        super().__init__(message, fix=fix)
        self.checks = checks


class StateError(CutoverError):
    """The persisted cutover state is missing, unreadable, or does not match the request."""


class RouterError(CutoverError):
    """The traffic switch could not be read or changed (HAProxy socket, Pulumi stack).

    Attributes:
        retryable: whether trying again unchanged may succeed (a busy stack, a socket timeout).
    """

    def __init__(self, message: str, *, fix: str = "", retryable: bool = False) -> None:
        super().__init__(message, fix=fix)
        self.retryable = retryable


class FreezeError(CutoverError):
    """Blue could not be frozen or unfrozen, or the freeze is not effective."""


class RefusedError(CutoverError):
    """An operation is refused because it is not safe now (decommission before the soak time)."""
