"""A fast YAML writer for JSON-shaped data (dicts, lists, str, int, float, bool, None).

Why not ``yaml.dump``: PyYAML's representer is pure Python even with the C
emitter, and it was 70% of the inventory's time (measured: 9 s of 12 s for
13,000 objects). Kubernetes objects are plain JSON data, so a writer that
knows only those types is enough, and ~10× faster. It keeps the snapshot
format git-friendly: sorted keys, block style, kubectl's indentless
sequences, multi-line strings as literal blocks, nothing folded. Reading stays
with libyaml's C loader; a property test checks ``load(dump(x)) == x`` for
arbitrary JSON-shaped data.
"""
from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping
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


def _string(v: str) -> str:
    """A one-line string scalar: short ones through the cache of :func:`_key`, long ones plain or quoted."""
    return _key(v) if len(v) < 64 else (v if _PLAIN.match(v) else _quoted(v))


def scalar(v: Any) -> str:
    """One scalar in flow form.

    >>> [scalar(x) for x in ("web", "yes", "012", "", None, True, 3, 1e20, "a b")]
    ['web', '"yes"', '"012"', '""', 'null', 'true', '3', '1.0e+20', '"a b"']
    """
    if type(v) is str:  # the common case first
        return _string(v)
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
        return _string(v)
    raise TypeError(f"cannot write {type(v).__name__} as YAML")


def _literal(line: str, v: str, inner: str, out: list[str]) -> None:
    """A multi-line string as a literal block after ``line`` (``key:`` or ``-``), its lines at ``inner``."""
    chomp = "-" if not v.endswith("\n") else ("+" if v.endswith("\n\n") else "")
    body = v[:-1] if v.endswith("\n") else v
    out.append(f"{line} |{chomp}\n")
    out.extend((inner + part + "\n") if part else "\n" for part in body.split("\n"))


# The two writers below are the hot loop of the inventory (one call per object, a few hundred lines
# each): the common types are tested with ``type(v) is``, a string is written in place, and a nested
# block starts on its parent's line through ``lead`` (what the first key or item is prefixed with,
# e.g. ``"- "``) instead of being written and rewritten. tests/support/yaml_v1.py, the simpler writer
# this replaced, is the oracle: the output must be byte-identical (test_yamlout.py).

def _mapping(m: Mapping[str, Any], pad: str, out: list[str], lead: str | None = None) -> None:
    """Write a non-empty mapping's keys at ``pad``; the first one after ``lead`` when given."""
    child = pad + "  "
    for k in sorted(m):
        v = m[k]
        line = (pad if lead is None else lead) + (_key(k) if type(k) is str else _key(str(k))) + ":"
        lead = None
        t = type(v)
        if t is str:
            if "\n" in v and _literal_ok(v):
                _literal(line, v, child, out)
            else:
                out.append(f"{line} {_string(v)}\n")
        elif t is dict or t is list or isinstance(v, (dict, list)):
            if not v:
                out.append(line + (" {}\n" if isinstance(v, dict) else " []\n"))
            elif isinstance(v, dict):
                out.append(line + "\n")
                _mapping(v, child, out)
            else:
                out.append(line + "\n")
                _sequence(v, pad, out)  # kubectl's indentless sequences
        else:
            out.append(f"{line} {scalar(v)}\n")


def _sequence(items: list[Any], pad: str, out: list[str], lead: str | None = None) -> None:
    """Write a non-empty sequence's items at ``pad``; the first one after ``lead`` when given."""
    child = pad + "  "
    for v in items:
        dash = (pad if lead is None else lead) + "-"
        lead = None
        t = type(v)
        if t is str:
            if "\n" in v and _literal_ok(v):
                _literal(dash, v, child, out)
            else:
                out.append(f"{dash} {_string(v)}\n")
        elif t is dict or t is list or isinstance(v, (dict, list)):
            if not v:
                out.append(dash + (" {}\n" if isinstance(v, dict) else " []\n"))
            elif isinstance(v, dict):
                _mapping(v, child, out, dash + " ")
            else:
                _sequence(v, child, out, dash + " ")
        else:
            out.append(f"{dash} {scalar(v)}\n")


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
        _mapping(obj, "", out)
    elif isinstance(obj, list) and obj:
        _sequence(obj, "", out)
    else:
        out.append(scalar(obj) if not isinstance(obj, (Mapping, list)) else ("{}" if isinstance(obj, dict) else "[]"))
        out.append("\n")
    return "".join(out)
