"""Errors of ``akshift doctor`` and ``akshift strategy``: bad input kept apart from a missing environment.

Why shaped so: the CLI maps each class to one exit code (:mod:`akshift.output`)
without inspecting messages: :class:`ArmError`, :class:`UnsupportedTarget` and
:class:`ExecutionRefused` are bad input (2), :class:`AzureUnavailable` means the machine lacks the Azure
SDK or credentials (3), and :class:`StepFailed` is an executed step
that failed (1). A malformed ARM description is usually wrong in several places, so
:class:`ArmError` carries every problem, each naming the file and the key, like
:class:`stacks.ConfigError` does for stack files.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from errors import AkshiftError, ErrorKind


class DoctorError(AkshiftError):
    """Base of every error the doctor raises on purpose (message, fix, kind: see :mod:`errors`)."""


@dataclasses.dataclass(frozen=True)
class ArmProblem:
    """One thing wrong with an ARM description.

    Attributes:
        key: The key path inside the document (``networkProfile.networkPlugin``,
            ``agentPoolProfiles[1].osType``), ``"<document>"`` for the whole file.
        message: What is wrong and what to do.
    """

    key: str
    message: str


class ArmError(DoctorError):
    """An ARM description (``az aks show`` JSON) that cannot be read; names the file and every key."""

    kind = ErrorKind.BAD_INPUT

    def __init__(self, source: str, problems: Iterable[ArmProblem]):
        self.source = source
        self.problems = tuple(problems)
        if not self.problems:
            raise ValueError("ArmError needs at least one problem")
        super().__init__("; ".join(f"{source}: {p.key}: {p.message}" for p in self.problems))


class AzureUnavailable(DoctorError):
    """The Azure SDK is not installed or no credentials were found: nothing was read or changed in Azure."""

    kind = ErrorKind.ENVIRONMENT


class StepFailed(DoctorError):
    """A step of ``--execute`` failed (Azure refused an update, Pulumi's refresh or preview failed); names the step."""


class UnsupportedTarget(DoctorError):
    """The target stack does not declare a cluster to compare with (``cluster.mode: existing``); names the key."""

    kind = ErrorKind.BAD_INPUT


class ExecutionRefused(DoctorError):
    """``akshift strategy --execute`` was asked for something it will not do (a blue-green plan, manual steps left)."""

    kind = ErrorKind.BAD_INPUT


class TargetNamesRunningCluster(UnsupportedTarget):
    """A blue-green route whose target stack names the running cluster: creating it would replace that cluster.

    Attributes:
        reasons: The blockers that make the route blue-green (:class:`doctor.strategy.Reason`), listed as details.
    """

    def __init__(self, message: str, *, ref: str = "", fix: str = "", reasons: Iterable[object] = ()) -> None:
        super().__init__(message, ref=ref, fix=fix)
        self.reasons = tuple(reasons)

    def details(self) -> tuple[str, ...]:
        return tuple(f"blue-green because: {getattr(r, 'message', r)} [{', '.join(getattr(r, 'keys', ()))}]"
                     for r in self.reasons)
