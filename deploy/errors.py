"""Errors of the promotion and stack-guard flows.

Why a small hierarchy of its own: the CLI maps each kind to an exit code and a
message (akshift.output): a *refusal* (verification failed or stale, a plan that
would replace a ManagedCluster, a snapshot whose digest is not the pinned one) is
a decision the project made on the user's behalf and must say what to do next;
an *environment* problem (no passphrase, unknown backend) is fixed outside the
stack. Every refusal carries all its reasons, not the first one found.
"""
from __future__ import annotations

from collections.abc import Iterable

from deploy.events import Step
from errors import AkshiftError, ErrorKind


class PromotionError(AkshiftError):
    """Base class: something akshift decided not to do, with every reason."""

    def __init__(self, reasons: Iterable[str] | str) -> None:
        self.reasons: tuple[str, ...] = (reasons,) if isinstance(reasons, str) else tuple(reasons)
        if not self.reasons:
            raise ValueError(f"{type(self).__name__} needs at least one reason")
        super().__init__("\n".join(self.reasons))

    def headline(self) -> str:
        return f"not done: {len(self.reasons)} reason(s)"

    def details(self) -> tuple[str, ...]:
        return tuple(f"refused: {r}" for r in self.reasons)



class PromotionRefused(PromotionError):
    """The source stack's state does not allow promoting it (unverified, failed, stale, incomplete)."""


class PlanRefused(PromotionError):
    """A preview planned a step the project's guards forbid (replacing or deleting a ManagedCluster)."""


class PlanNotConfined(PlanRefused):
    """A preview planned changes outside the one component the operation may change (a cutover step: the switch).

    Attributes:
        steps: The foreign steps, in plan order.
    """

    def __init__(self, reasons: Iterable[str] | str, *, steps: Iterable[Step] = ()) -> None:
        super().__init__(reasons)
        self.steps = tuple(steps)


class PinMismatch(PromotionError):
    """What the stack would deploy is not what its pinned configuration says was verified."""


class ArtifactError(PromotionError):
    """A migration artifact (snapshot, verify report) a stack points at is missing, incomplete or altered."""


class BackendSetupError(PromotionError):
    """The state backend or secrets provider is not usable as configured."""

    kind = ErrorKind.ENVIRONMENT

    def headline(self) -> str:
        return str(self)

    def details(self) -> tuple[str, ...]:
        return ()


class EngineError(AkshiftError):
    """The Pulumi engine failed (the program raised, a provider refused, the update broke its plan).

    The message keeps the engine's output from its first error line on (the program's RunError, with its
    key and fix, follows it), not the whole log.
    """

    @classmethod
    def of(cls, output: str, what: str) -> EngineError:
        """The error of one failed engine command, from its combined output."""
        lines = [ln.rstrip() for ln in output.splitlines() if ln.strip()]
        first = next((i for i, ln in enumerate(lines) if "error:" in ln), max(len(lines) - 15, 0))
        return cls(f"the Pulumi engine failed ({what}):\n" + "\n".join(lines[first:first + 20]))


class StackNotFound(EngineError):
    """The stack does not exist in the backend (or the project directory names no such stack)."""

    kind = ErrorKind.BAD_INPUT


class StackBusy(EngineError):
    """Another update of the stack is running (the backend holds its lock); trying again later may succeed."""

    kind = ErrorKind.ENVIRONMENT


class StackOutputError(AkshiftError):
    """A stack output the user pointed at (``--target-stack``) is absent or not what it must be."""

    kind = ErrorKind.BAD_INPUT
