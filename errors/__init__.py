"""The one error root of akshift, and the one mapping from an error's kind to an exit code.

Why one root: every package (stacks, kube, migration, deploy, cutover, doctor)
raises errors on purpose that the CLI must turn into one clear line and the
right exit code. With one root the CLI boundary catches one type, and the exit
code follows from the error's *kind*, never from its message or its class
name (an ``ApiError`` 503 is "environment" in every command, not only in some).

The three kinds, and their exit codes (README, ``akshift --help``):

* bad input (2): the user can fix it in what they passed — a stack file, a
  kubeconfig, a flag, a file in a run directory. Nothing was changed.
* environment (3): something outside the input is missing or down — a binary,
  a reachable API server, Azure credentials.
* failed (1): the work ran and something in it failed (an object rejected, a
  gate that did not pass, a step that Azure refused).

Every error says what went wrong, names its subject (``ref``: an object, a key,
a file) and, when it helps, what to do (``fix``). Library exceptions are
chained with ``raise … from e``.
"""
from __future__ import annotations

import enum
from typing import ClassVar


class ErrorKind(str, enum.Enum):
    """What kind of failure an error is; decides the exit code (:data:`EXIT_CODES`)."""

    BAD_INPUT = "bad input"
    ENVIRONMENT = "environment"
    FAILED = "failed"


OK = 0
EXIT_CODES: dict[ErrorKind, int] = {ErrorKind.FAILED: 1, ErrorKind.BAD_INPUT: 2, ErrorKind.ENVIRONMENT: 3}


class AkshiftError(Exception):
    """Base of every error akshift raises on purpose.

    Args:
        message: what went wrong, without the subject.
        ref: what it concerns (an object ref, a key path, a file), ``""`` when none.
        fix: what the user should do, ``""`` when the message already says it.
        kind: overrides the class's :attr:`kind` for this instance (an API error's
            kind depends on its HTTP status).

    Attributes:
        kind: the class default; subclasses set it once.
    """

    kind: ClassVar[ErrorKind] = ErrorKind.FAILED

    def __init__(self, message: str, *, ref: object = "", fix: str = "", kind: ErrorKind | None = None) -> None:
        text = f"{ref}: {message}" if ref else message
        if fix:
            text = f"{text} — fix: {fix}"
        super().__init__(text)
        self.message = message
        self.ref = ref
        self.fix = fix
        if kind is not None:
            self.kind = kind  # type: ignore[misc]  # an instance may override the class default

    def headline(self) -> str:
        """The one line the CLI prints after ``error:``; :meth:`details` follow it."""
        return str(self)

    def details(self) -> tuple[str, ...]:
        """Lines that say more than the headline (each check of a preflight, each reason of a refusal)."""
        return ()

    @property
    def exit_code(self) -> int:
        """The exit code of this error's kind."""
        return EXIT_CODES[self.kind]


def exit_code(exc: BaseException) -> int:
    """The exit code for any exception: its kind's for an :class:`AkshiftError`, 1 (failed) otherwise.

    >>> exit_code(AkshiftError("no such file", kind=ErrorKind.BAD_INPUT))
    2
    >>> exit_code(RuntimeError("a bug"))
    1
    """
    return exc.exit_code if isinstance(exc, AkshiftError) else EXIT_CODES[ErrorKind.FAILED]


__all__ = ["EXIT_CODES", "OK", "AkshiftError", "ErrorKind", "exit_code"]
