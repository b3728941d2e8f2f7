"""Calico selector expressions, parsed into disjunctive normal form of label-selector terms.

Why a parser of our own: Calico selects endpoints with a small expression
language (``app == 'web' && has(tier)``, ``env in {'a', 'b'}``, ``all()``,
``!has(k)``, ``||``, parentheses) while Cilium and Kubernetes take label
selectors (``matchLabels`` + ``matchExpressions``, implicitly ANDed). A
conjunction of Calico terms is exactly one label selector; a disjunction is a
list of them (peers of one rule are ORed, and a policy can carry several
specs). So every expression is brought into DNF — a tuple of conjunctions of
:class:`Term` — with negations pushed onto the terms, each of which has an
exact Kubernetes negation (``!=`` and ``not in`` match objects *without* the
key in both languages). String operators (``contains``, ``starts with``,
``ends with``) have no label-selector form and raise :class:`SelectorError`,
as does ``global()``, which callers handle where it has a meaning.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

MAX_DISJUNCTS = 16  # beyond this a translation is unreadable; report it instead


class SelectorError(ValueError):
    """A Calico selector that has no label-selector equivalent (or does not parse)."""


@dataclasses.dataclass(frozen=True, order=True)
class Term:
    """One label test: ``op`` is ``In``, ``NotIn``, ``Exists`` or ``DoesNotExist`` (Kubernetes' operators)."""

    key: str
    op: str
    values: tuple[str, ...] = ()

    def negated(self) -> Term:
        return Term(self.key, {"In": "NotIn", "NotIn": "In", "Exists": "DoesNotExist",
                               "DoesNotExist": "Exists"}[self.op], self.values)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a label set satisfies the term (Kubernetes semantics)."""
        if self.op == "Exists":
            return self.key in labels
        if self.op == "DoesNotExist":
            return self.key not in labels
        inside = self.key in labels and labels[self.key] in self.values
        return inside if self.op == "In" else not inside


Conjunction = tuple[Term, ...]  # () is all()
DNF = tuple[Conjunction, ...]  # () matches nothing
ALL: DNF = ((),)
GLOBAL = "global()"

_TOKEN = re.compile(r"""\s*(?:(?P<str>'[^']*'|"[^"]*")|(?P<op>==|!=|&&|\|\||!|\(|\)|\{|\}|,)"""
                    r"""|(?P<word>[A-Za-z0-9_./-]+))""")


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise SelectorError(f"cannot parse selector {text!r} at {text[pos:pos + 20]!r}")
        out.append(m.group(m.lastgroup or "word"))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self, k: int = 0) -> str | None:
        return self.toks[self.i + k] if self.i + k < len(self.toks) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise SelectorError(f"selector {self.text!r}: expected {expected or 'more'}, found {tok!r}")
        self.i += 1
        return tok

    def parse(self) -> object:
        if not self.toks:
            return ("all",)
        node = self.or_()
        if self.peek() is not None:
            raise SelectorError(f"selector {self.text!r}: unexpected {self.peek()!r}")
        return node

    def or_(self) -> object:
        node = self.and_()
        while self.peek() == "||":
            self.take()
            node = ("or", node, self.and_())
        return node

    def and_(self) -> object:
        node = self.unary()
        while self.peek() == "&&":
            self.take()
            node = ("and", node, self.unary())
        return node

    def unary(self) -> object:
        tok = self.peek()
        if tok == "!":
            self.take()
            return ("not", self.unary())
        if tok == "(":
            self.take()
            node = self.or_()
            self.take(")")
            return node
        if tok in ("all", "global", "has") and self.peek(1) == "(":
            self.take()
            self.take("(")
            if tok == "has":
                key = self.take()
                self.take(")")
                return ("term", Term(key, "Exists"))
            self.take(")")
            return ("all",) if tok == "all" else ("global",)
        key = self.take()
        op = self.take()
        if op in ("==", "!="):
            value = self._string()
            return ("term", Term(key, "In" if op == "==" else "NotIn", (value,)))
        if op == "in" or (op == "not" and self.peek() == "in"):
            if op == "not":
                self.take("in")
            return ("term", Term(key, "In" if op == "in" else "NotIn", self._set()))
        if op in ("contains", "starts", "ends"):
            raise SelectorError(f"selector {self.text!r}: '{op}' string matching has no label-selector equivalent")
        raise SelectorError(f"selector {self.text!r}: unknown operator {op!r}")

    def _string(self) -> str:
        tok = self.take()
        if len(tok) < 2 or tok[0] not in "'\"" or tok[-1] != tok[0]:
            raise SelectorError(f"selector {self.text!r}: expected a quoted value, found {tok!r}")
        return tok[1:-1]

    def _set(self) -> tuple[str, ...]:
        self.take("{")
        values: list[str] = []
        while self.peek() != "}":
            values.append(self._string())
            if self.peek() == ",":
                self.take()
        self.take("}")
        return tuple(sorted(set(values)))


def _dnf(node: object, negate: bool = False) -> DNF:
    kind = node[0]  # type: ignore[index]
    if kind == "all":
        return () if negate else ALL
    if kind == "global":
        raise SelectorError("global() selects non-namespaced resources, not workloads")
    if kind == "term":
        term: Term = node[1]  # type: ignore[index]
        return (((term.negated() if negate else term),),)
    if kind == "not":
        return _dnf(node[1], not negate)  # type: ignore[index]
    left, right = _dnf(node[1], negate), _dnf(node[2], negate)  # type: ignore[index]
    if (kind == "or") != negate:  # De Morgan: !(a && b) = !a || !b
        out = tuple(dict.fromkeys(left + right))
    else:
        out = tuple(dict.fromkeys(tuple(sorted(set(a + b))) for a in left for b in right))
    if len(out) > MAX_DISJUNCTS:
        raise SelectorError(f"more than {MAX_DISJUNCTS} alternatives in normal form")
    return out


def parse(selector: str | None) -> DNF:
    """A Calico selector in disjunctive normal form.

    Args:
        selector: the expression; None or empty means ``all()``.

    Returns:
        Alternatives, each a conjunction of terms (``((),)`` for ``all()``).

    Raises:
        SelectorError: string operators, ``global()``, a syntax error, or too many alternatives.

    >>> parse("app == 'web' && has(tier)")
    ((Term(key='app', op='In', values=('web',)), Term(key='tier', op='Exists', values=())),)
    >>> parse("!(a == 'x' || b in {'y', 'z'})")
    ((Term(key='a', op='NotIn', values=('x',)), Term(key='b', op='NotIn', values=('y', 'z'))),)
    """
    return _dnf(_Parser(selector or "").parse())


def is_global(selector: str | None) -> bool:
    """Whether a selector is exactly ``global()`` (Calico's "non-namespaced resources")."""
    return (selector or "").replace(" ", "") == GLOBAL


def matches(dnf: DNF, labels: Mapping[str, str]) -> bool:
    """Whether a label set satisfies a selector in normal form."""
    return any(all(t.matches(labels) for t in conj) for conj in dnf)


def label_selector(conj: Conjunction, rename: Mapping[str, str] | None = None,
                   prefix: str = "") -> dict[str, object]:
    """One conjunction as a Kubernetes/Cilium label selector (``{}`` selects everything).

    Args:
        conj: the terms.
        rename: label keys to replace (``projectcalico.org/name`` → the namespace label).
        prefix: prepended to keys that are not renamed (Cilium's namespace-label prefix).
    """
    rename = rename or {}
    match_labels: dict[str, str] = {}
    exprs: list[dict[str, object]] = []
    for t in conj:
        key = rename.get(t.key, prefix + t.key)
        if t.op == "In" and len(t.values) == 1 and key not in match_labels:
            match_labels[key] = t.values[0]
        else:
            expr: dict[str, object] = {"key": key, "operator": t.op}
            if t.op in ("In", "NotIn"):
                expr["values"] = list(t.values)
            exprs.append(expr)
    out: dict[str, object] = {}
    if match_labels:
        out["matchLabels"] = match_labels
    if exprs:
        out["matchExpressions"] = exprs
    return out
