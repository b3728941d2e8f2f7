"""Shared helpers for tests that start from a shipped stack file and change a few keys.

Why shared: the config tests and the component tests both need "the prod stack, but with
networking.mode = overlay and no pod subnet"; one helper keeps the key-path syntax the same.
"""
from __future__ import annotations

import copy
import re
from typing import Any

import stacks

from support import ROOT

DELETE = object()  # a value for mutate(): remove the key


def stack_config(name: str = "test") -> dict[str, Any]:
    return stacks.read_stack_file(ROOT / "stacks" / f"Pulumi.{name}.yaml")


def mutate(config: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Copy ``config`` with ``{"networking.mode": "overlay", "nodePools[1].count": DELETE}`` applied.

    A list index one past the end appends.
    """
    out = copy.deepcopy(config)
    for path, value in changes.items():
        head, *rest = re.findall(r"[^.\[\]]+", path)
        node: Any = out
        key: Any = f"akshift:{head}"
        for part in rest:
            node = node.setdefault(key, {}) if not isinstance(node, list) else node[key]
            key = int(part) if part.isdigit() else part
        if value is DELETE:
            del node[key]
        elif isinstance(node, list) and key == len(node):
            node.append(value)
        else:
            node[key] = value
    return out
