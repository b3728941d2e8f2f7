"""The first snapshot YAML writer (migration/yamlout.py until 2026-12-02), kept as the oracle of the faster one.

Snapshots written before and after must be byte-identical (their digests are compared across runs and
reviewed with ``git diff``), so tests/unit/migration/test_yamlout.py checks that ``migration.yamlout.dump``
writes exactly what this one wrote, for arbitrary JSON-shaped values and for real objects. Not used by
the product. A copy on purpose, helpers included: an oracle that imported the product's scalar quoting
would follow any change to it instead of catching it.
"""
from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

# Plain (unquoted) only when unmistakably a string under YAML 1.1, which PyYAML implements:
# starts with a letter, no indicator characters, and not one of the 1.1 booleans or null.
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_./-]*\Z")
_RESERVED = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})
# Characters YAML does not allow raw in a stream, or reads as line breaks (NEL, LS, PS).
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


def _escape(m: re.Match[str]) -> str:
    return f"\\u{ord(m.group()):04x}"


_encode = json.encoder.encode_basestring  # the C implementation of json.dumps(str, ensure_ascii=False)


def _quoted(s: str) -> str:
    # JSON's double-quoted strings are YAML double-quoted scalars; escape what JSON leaves raw but YAML rejects.
    q = _encode(s)
    return _UNSAFE.sub(_escape, q) if _UNSAFE.search(q) else q


@functools.lru_cache(maxsize=8192)
def _key(k: str) -> str:
    # Keys repeat across objects (apiVersion, metadata, name …): render each once.
    return k if _PLAIN.match(k) and k.lower() not in _RESERVED else _quoted(k)


def _literal_ok(s: str) -> bool:
    return ("\n" in s and "\r" not in s and not s.startswith((" ", "\t", "\n")) and _UNSAFE.search(s) is None
            and not s.endswith((" \n", "\t\n")))


def scalar(v: Any) -> str:
    """One scalar in flow form.

    >>> [scalar(x) for x in ("web", "yes", "012", "", None, True, 3, 1e20, "a b")]
    ['web', '"yes"', '"012"', '""', 'null', 'true', '3', '1.0e+20', '"a b"']
    """
    if type(v) is str:  # the common case first
        return _key(v) if len(v) < 64 else (v if _PLAIN.match(v) else _quoted(v))
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return ".nan"
        if math.isinf(v):
            return ".inf" if v > 0 else "-.inf"
        r = repr(v)
        if "e" in r and "." not in r.split("e")[0]:  # YAML 1.1 floats need a dot: 1e+20 would read as a string
            mantissa, exp = r.split("e")
            r = f"{mantissa}.0e{exp}"
        return r
    if isinstance(v, str):
        return _key(v) if len(v) < 64 else (v if _PLAIN.match(v) else _quoted(v))
    raise TypeError(f"cannot write {type(v).__name__} as YAML")


def _value(v: Any, indent: int, out: list[str], prefix: str) -> None:
    """Write ``v`` after ``prefix`` (``"key:"`` or ``"-"`` at its indentation)."""
    pad = " " * indent
    if isinstance(v, (dict, list)) and v:
        write: Callable[[Any, int, list[str]], None] = _mapping if isinstance(v, dict) else _sequence
        child = indent + 2 if isinstance(v, dict) else indent  # lists are indentless
        if prefix.endswith("-"):  # "- " then the first line of the child on the same line
            start = len(out)
            write(v, indent + 2, out)
            out[start] = prefix + " " + out[start][indent + 2:]
        else:
            out.append(prefix + "\n")
            write(v, child, out)
    elif isinstance(v, dict):
        out.append(prefix + " {}\n")
    elif isinstance(v, list):
        out.append(prefix + " []\n")
    elif type(v) is str and "\n" in v and _literal_ok(v):
        chomp = "-" if not v.endswith("\n") else ("+" if v.endswith("\n\n") else "")
        body = v[:-1] if v.endswith("\n") else v
        if chomp == "+":
            body = v[:-1]
        inner = pad + "  "
        out.append(f"{prefix} |{chomp}\n")
        out.extend((inner + line + "\n") if line else "\n" for line in body.split("\n"))
    else:
        out.append(f"{prefix} {scalar(v)}\n")


def _mapping(m: Mapping[str, Any], indent: int, out: list[str]) -> None:
    pad = " " * indent
    for k in sorted(m):
        _value(m[k], indent, out, f"{pad}{_key(str(k))}:")


def _sequence(items: list[Any], indent: int, out: list[str]) -> None:
    pad = " " * indent
    for item in items:
        _value(item, indent, out, f"{pad}-")


def dump(obj: Any) -> str:
    """A JSON-shaped value as a YAML document (sorted keys, block style).

    >>> print(dump({"kind": "ConfigMap", "data": {"a.sh": "echo hi\\n"}, "list": [{"x": 1, "z": [2]}]}), end="")
    data:
      a.sh: |
        echo hi
    kind: ConfigMap
    list:
    - x: 1
      z:
      - 2
    """
    out: list[str] = []
    if isinstance(obj, dict) and obj:
        _mapping(obj, 0, out)
    elif isinstance(obj, list) and obj:
        _sequence(obj, 0, out)
    else:
        out.append(scalar(obj) if not isinstance(obj, (Mapping, list)) else ("{}" if isinstance(obj, dict) else "[]"))
        out.append("\n")
    return "".join(out)
