"""Errors raised while reading a stack's configuration.

Why it is shaped so: a stack file is usually wrong in several places at once,
and a person fixing it wants every problem in one pass, each naming the key to
change and what to do. So the unit of reporting is a :class:`Problem` (key
paths + message) and the one exception, :class:`ConfigError`, carries all of
them. ``ClusterReplacementError`` is a ``ConfigError`` too: it is raised
for a configuration that is valid on its own but would replace (or that AKS
would refuse for) the cluster running in Azure.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from errors import AkshiftError, ErrorKind


@dataclasses.dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a stack configuration.

    Attributes:
        keys: Key paths involved, the one to change first (``networking.podCidr``,
            ``nodePools[1].maxCount``). Never empty; ``"<file>"`` for file-level problems.
        message: What is wrong and what to do about it.
    """

    keys: tuple[str, ...]
    message: str

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a Problem names at least one key")

    @property
    def key(self) -> str:
        """The primary key path: the one the message asks to change."""
        return self.keys[0]

    def line(self) -> str:
        """Render as ``<key.path>: <message>``, the CLI's one-line form."""
        return f"{self.key}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form used by ``akshift config validate --output json``."""
        return {"key": self.key, "keys": list(self.keys), "message": self.message}


class ConfigError(AkshiftError):
    """A stack configuration that must not be deployed; carries every problem found."""

    kind = ErrorKind.BAD_INPUT

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        if not self.problems:
            raise ValueError("ConfigError needs at least one problem")
        super().__init__("\n".join(p.line() for p in self.problems))

    @classmethod
    def single(cls, keys: tuple[str, ...] | str, message: str) -> ConfigError:
        """Build an error holding one problem.

        Args:
            keys: One key path or a tuple of them, primary first.
            message: What is wrong and what to do.

        Returns:
            The error, ready to raise.
        """
        keys = (keys,) if isinstance(keys, str) else keys
        return cls([Problem(keys, message)])


class ClusterReplacementError(ConfigError):
    """A force-new field of the stack differs from what the live cluster runs (:mod:`stacks.guards`).

    pulumi-azure-native plans a *replacement* of the ManagedCluster for such a
    change, i.e. delete the live cluster and create an empty one; AKS refuses
    the per-pool ones.
    """
