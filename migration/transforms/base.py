"""The protocol every transform rule follows, and the JSON-patch plumbing they share.

Why shaped so (crane-lib ``transform/plugin.go``, velero restore item actions):
a rule is a module with two pure functions, ``applies_to(obj, ctx)`` and
``run(obj_copy, ctx)``. ``run`` gets its own deep copy and answers with a
:class:`TransformResult` — JSON-patch operations, or a whiteout with a reason,
plus findings for what it could not rewrite. Because rules describe changes
instead of making them, the runner can log every change per object, detect two
rules touching the same field, and keep the losing patch in the log instead of
silently applying both.

Patch operations are RFC 6902 dicts restricted to ``add``, ``remove`` and
``replace``. A rule that drops list items replaces the whole list (or removes
from the end backwards) so indices stay valid whichever rule applies first.
"""
from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from kube.objects import ObjectRef, ptr
from migration.errors import TransformError
from migration.findings import Finding

Op = dict[str, Any]


class Rule(Protocol):
    """What a rule module provides (modules satisfy this protocol structurally)."""

    def applies_to(self, obj: Mapping[str, Any], ctx: Any) -> bool:
        """Cheap test on the original object (must not modify it)."""

    def run(self, obj: dict[str, Any], ctx: Any) -> TransformResult:
        """Compute the patch or whiteout for a private copy of the object."""


@dataclasses.dataclass(frozen=True)
class TransformResult:
    """What one rule decided about one object.

    Attributes:
        ops: JSON-patch operations against the original object.
        whiteout: when set, the object is excluded and this is why.
        findings: problems the rule saw but could not rewrite.
        final: the rule decided the whole object (:meth:`replace_whole`); later rules do not run.
    """

    ops: tuple[Op, ...] = ()
    whiteout: str | None = None
    findings: tuple[Finding, ...] = ()
    final: bool = False

    @classmethod
    def patch(cls, ops: Iterable[Op] = (), findings: Iterable[Finding] = ()) -> TransformResult:
        """Change the object (possibly not at all) and report findings."""
        return cls(ops=tuple(ops), findings=tuple(findings))

    @classmethod
    def exclude(cls, reason: str, findings: Iterable[Finding] = ()) -> TransformResult:
        """Leave the object out of the migration, saying why (and, in findings, what a human must do)."""
        return cls(whiteout=reason, findings=tuple(findings))

    @classmethod
    def replace_whole(cls, original: Mapping[str, Any], new: Mapping[str, Any]) -> TransformResult:
        """Put ``new`` in place of ``original``, decided elsewhere whole (the volume plan's green PV).

        The operations replace, add or remove top-level fields, so the patch log still says what
        changed; the result is final: later rules do not run (their cleaning would only conflict).
        """
        ops: list[Op] = []
        for key in sorted(set(original) | set(new)):
            if key not in new:
                ops.append(remove(key))
            elif key not in original:
                ops.append(add(new[key], key))
            elif original[key] != new[key]:
                ops.append(replace(new[key], key))
        return cls(ops=tuple(ops), final=True)


def remove(*tokens: str | int) -> Op:
    """A ``remove`` operation at the path of ``tokens``."""
    return {"op": "remove", "path": ptr(*tokens)}


def replace(value: Any, *tokens: str | int) -> Op:
    """A ``replace`` operation setting the path of ``tokens`` to ``value`` (deep-copied)."""
    return {"op": "replace", "path": ptr(*tokens), "value": copy.deepcopy(value)}


def add(value: Any, *tokens: str | int) -> Op:
    """An ``add`` operation creating the path of ``tokens`` with ``value`` (deep-copied)."""
    return {"op": "add", "path": ptr(*tokens), "value": copy.deepcopy(value)}


def split_pointer(path: str) -> list[str]:
    """The unescaped tokens of a JSON pointer (``""`` is the whole document)."""
    if path == "":
        return []
    if not path.startswith("/"):
        raise ValueError(f"JSON pointer must start with '/': {path!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def overlaps(a: str, b: str) -> bool:
    """Whether two JSON pointers are equal or one contains the other."""
    ta, tb = split_pointer(a), split_pointer(b)
    n = min(len(ta), len(tb))
    return ta[:n] == tb[:n]


def _parent(doc: Any, tokens: Sequence[str], path: str) -> tuple[Any, str]:
    node = doc
    for t in tokens[:-1]:
        if isinstance(node, list):
            node = node[int(t)]
        elif isinstance(node, dict):
            node = node[t]
        else:
            raise KeyError(path)
    return node, tokens[-1]


def apply_ops(obj: Mapping[str, Any], ops: Iterable[Op], *, ref: ObjectRef | None = None) -> dict[str, Any]:
    """Apply JSON-patch operations to a copy of ``obj``.

    Args:
        obj: the object; not modified.
        ops: ``add``/``remove``/``replace`` operations, applied in order.
        ref: names the object in errors (defaults to the ref of ``obj``).

    Returns:
        The patched copy.

    Raises:
        TransformError: an operation does not fit the object (a rule bug): the
            path is missing, or the operation is not supported.
    """
    doc = copy.deepcopy(dict(obj))
    for op in ops:
        path = op["path"]
        try:
            tokens = split_pointer(path)
            if not tokens:
                raise ValueError("cannot patch the whole object")
            parent, key = _parent(doc, tokens, path)
            kind = op["op"]
            if isinstance(parent, list):
                index = len(parent) if key == "-" else int(key)
                if kind == "add":
                    parent.insert(index, copy.deepcopy(op["value"]))
                elif kind == "remove":
                    del parent[index]
                elif kind == "replace":
                    parent[index] = copy.deepcopy(op["value"])
                else:
                    raise ValueError(f"unsupported op {kind!r}")
            elif isinstance(parent, dict):
                if kind == "add":
                    parent[key] = copy.deepcopy(op["value"])
                elif kind == "remove":
                    del parent[key]
                elif kind == "replace":
                    if key not in parent:
                        raise KeyError(path)
                    parent[key] = copy.deepcopy(op["value"])
                else:
                    raise ValueError(f"unsupported op {kind!r}")
            else:
                raise KeyError(path)
        except (KeyError, IndexError, ValueError, TypeError) as e:
            raise TransformError(f"patch operation {op['op']} {path} does not fit the object ({e!r})",
                                 ref=ref or ObjectRef.of(obj),
                                 fix="this is a transform rule bug; report it with the object's YAML, "
                                     "or exclude the object") from e
    return doc
