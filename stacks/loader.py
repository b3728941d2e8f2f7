"""Turn a stack's raw configuration into a :class:`StackConfig`, or every problem with it.

Why it is shaped so: the same pure function serves ``pulumi up`` (``__main__``
passes the config map the Pulumi engine hands the program) and ``akshift config
validate`` (which reads ``stacks/Pulumi.<stack>.yaml`` without Pulumi). Both
give it a mapping of namespaced keys (``akshift:network`` → value); the only
differences are that the engine JSON-encodes objects and decrypts secrets,
which :func:`decode_engine_config` and ``secret_keys`` account for.

Sections are validated one at a time and the cross-field rules run for every
section that parsed, so one pass reports all problems (see
:mod:`stacks.rules`). Nothing is registered with Pulumi unless this returns.
"""
from __future__ import annotations

import difflib
import json
import typing
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from stacks.errors import ConfigError, Problem
from stacks.model import SECTION_KEYS, UNION_TAGS, Secret, StackConfig
from stacks.rules import run_rules

NAMESPACE = "akshift"

#: Fields whose value must be a Pulumi secret.
SECRET_FIELDS: tuple[str, ...] = ("service_principal_client_secret",)

_ALIAS_TO_FIELD = {alias: name for name, alias in SECTION_KEYS.items()}


def decode_engine_config(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Undo the Pulumi engine's encoding of structured config values.

    The engine passes every value as a string, objects and lists JSON-encoded.
    Scalars stay strings; pydantic's lax mode reads "3" and "true" correctly.

    Args:
        raw: The engine's config map, e.g. ``{"akshift:network": "{\\"vnetName\\": …}"}``.

    Returns:
        A new map with objects and lists decoded.
    """
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, str) and value[:1] in ("{", "["):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        out[key] = value
    return out


def load(
    config: Mapping[str, Any],
    *,
    secret_keys: Collection[str] | None = None,
    namespace: str = NAMESPACE,
) -> StackConfig:
    """Parse and check a stack configuration.

    Args:
        config: Namespaced keys to values (``akshift:cluster`` → mapping); keys of
            other namespaces (``azure-native:location``) are ignored.
        secret_keys: Keys the Pulumi engine holds as secrets (deployment); None
            when reading a stack file, where secrets appear as ``{secure: …}``.
        namespace: The project's config namespace.

    Returns:
        The frozen configuration.

    Raises:
        ConfigError: With every problem found, each naming its key path.
    """
    prefix = f"{namespace}:"
    own = {k[len(prefix):]: v for k, v in config.items() if k.startswith(prefix)}
    problems: list[Problem] = []
    sections: dict[str, Any] = {}

    for key in own:
        if key not in _ALIAS_TO_FIELD:
            close = difflib.get_close_matches(key, list(_ALIAS_TO_FIELD), n=1)
            hint = f"did you mean {prefix}{close[0]}?" if close else f"known keys: {', '.join(sorted(_ALIAS_TO_FIELD))}"
            problems.append(Problem((key,), f"unknown key {prefix}{key}; remove it ({hint})"))

    for name, field in StackConfig.model_fields.items():
        alias = SECTION_KEYS[name]
        if alias not in own:
            if field.is_required():
                problems.append(Problem((alias,), f"missing; add {prefix}{alias} to the stack file"))
            else:
                sections[name] = field.get_default(call_default_factory=True)
            continue
        value = own[alias]
        if name in SECRET_FIELDS and secret_keys is not None and isinstance(value, str):
            value = Secret(value, encrypted=f"{prefix}{alias}" in secret_keys)
        try:
            sections[name] = TypeAdapter(field.rebuild_annotation()).validate_python(value)
        except ValidationError as e:
            problems.extend(_translate(e, alias, value, field.annotation))

    problems.extend(run_rules(sections))
    if problems:
        raise ConfigError(problems)
    return StackConfig.model_validate({SECTION_KEYS[n]: v for n, v in sections.items()})


def problems_of(config: Mapping[str, Any], **kwargs: Any) -> list[Problem]:
    """Like :func:`load` but return the problems (empty when valid) instead of raising."""
    try:
        load(config, **kwargs)
    except ConfigError as e:
        return list(e.problems)
    return []


class DuplicateKeyError(yaml.YAMLError):
    """A mapping of the stack file names one key twice (YAML would silently keep the last)."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, refusing a key given twice in one mapping (``config validate`` must not pass it)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            k = self.construct_object(key_node, deep=deep)
            if not isinstance(k, (str, int, float, bool)):
                continue
            if k in seen:
                raise DuplicateKeyError(f"key `{k}` is given twice (line {key_node.start_mark.line + 1}); "
                                        "remove one: YAML would silently keep the last")
            seen.add(k)
        return super().construct_mapping(node, deep=deep)


def read_stack_file(path: str | Path) -> dict[str, Any]:
    """Read the ``config:`` mapping of a Pulumi stack file.

    Args:
        path: A ``Pulumi.<stack>.yaml`` file.

    Returns:
        Its ``config`` mapping (namespaced keys).

    Raises:
        ConfigError: When the file is missing, unreadable, not YAML, or has no ``config`` mapping.
    """
    p = Path(path)
    key = str(p)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError.single(key, "no such file; pass a stack file such as stacks/Pulumi.test.yaml") from None
    except OSError as e:
        raise ConfigError.single(key, f"cannot read the file ({e.strerror}); check the path and permissions") from e
    except UnicodeDecodeError as e:
        raise ConfigError.single(key, f"not UTF-8 text (byte {e.start}); a stack file is YAML") from e
    try:
        doc = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader that refuses duplicate keys)
    except DuplicateKeyError as e:
        raise ConfigError.single(key, str(e)) from e
    except RecursionError as e:
        raise ConfigError.single(key, "nested too deeply to be a stack file") from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = getattr(e, "problem", None) or str(e)
        raise ConfigError.single(key, f"not valid YAML{where}: {what}; fix the syntax") from e
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ConfigError.single(key, "a stack file is a YAML mapping with a `config:` key; this one is not a mapping")
    config = doc.get("config", {})
    if not isinstance(config, dict) or not config:
        raise ConfigError.single(key, "has no `config:` mapping; add the akshift:* keys under `config:`")
    return {str(k): v for k, v in config.items()}


def load_stack_file(path: str | Path) -> StackConfig:
    """Read and validate a stack file without Pulumi (``akshift config validate``).

    Args:
        path: A ``Pulumi.<stack>.yaml`` file.

    Returns:
        The configuration.

    Raises:
        ConfigError: File-level problems, or every configuration problem.
    """
    return load(read_stack_file(path))


# --------------------------------------------------------------------------- pydantic errors → Problems


def _translate(error: ValidationError, alias: str, value: Any, annotation: Any) -> list[Problem]:
    out = []
    for err in error.errors(include_url=False):
        path = _key_path(alias, value, err["loc"])
        if err["type"] == "union_tag_invalid":
            path += ".mode"
        out.append(Problem((path,), _message(err, annotation, err["loc"], value)))
    return out


def _key_path(alias: str, value: Any, loc: tuple[Any, ...]) -> str:
    """Render a pydantic loc as a key path, dropping union tags (keys absent from the input)."""
    parts = [alias]
    cur: Any = value
    for item in loc:
        if isinstance(item, int):
            parts[-1] += f"[{item}]"
            cur = cur[item] if isinstance(cur, (list, tuple)) and item < len(cur) else None
        elif isinstance(cur, dict) and item in cur:
            parts.append(str(item))
            cur = cur[item]
        elif isinstance(cur, dict):
            # A key the input does not have: a missing key (keep it) or a union tag (drop it).
            if item in UNION_TAGS:
                continue
            parts.append(str(item))
            cur = None
        else:
            continue
    return ".".join(parts)


def _message(err: Mapping[str, Any], annotation: Any, loc: tuple[Any, ...], value: Any) -> str:
    kind, msg, got = err["type"], err["msg"], err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "missing":
        return "missing; this key is required"
    if kind == "extra_forbidden":
        known = _known_keys(annotation, loc[:-1], value)
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean {close[0]}?" if close else (f"known keys: {', '.join(known)}" if known else "")
        return f"unknown key; remove it{' (' + hint + ')' if hint else ''}"
    if kind == "union_tag_invalid":
        return f"{ctx.get('tag')!r} is not supported; use one of {ctx.get('expected_tags')}"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if kind in ("literal_error", "enum"):
        return f"{got!r} is not allowed; use {msg.removeprefix('Input should be ')}"
    if kind == "too_short" and isinstance(got, (list, tuple)):
        return f"needs at least {ctx.get('min_length', 1)} item(s); add one"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        words = {"greater_than_equal": "at least", "less_than_equal": "at most", "greater_than": "above", "less_than": "below"}
        limit = next(iter(ctx.values()), "?")
        return f"must be {words[kind]} {limit}; got {got!r}"
    if kind == "string_type" and isinstance(got, (int, float)):
        return f"{got!r} must be a string; quote it in YAML (\"{got}\")"
    return f"{msg}; got {got!r}"


def _known_keys(annotation: Any, loc: tuple[Any, ...], value: Any) -> list[str]:
    """Best-effort: the aliases accepted at ``loc`` inside ``annotation`` (for did-you-mean hints)."""
    model = _model_at(annotation, loc, value)
    if model is None:
        return []
    return sorted((f.alias or n) for n, f in model.model_fields.items())


def _model_at(annotation: Any, loc: tuple[Any, ...], value: Any) -> type[BaseModel] | None:
    candidates = _models_in(annotation)
    for item in loc:
        if isinstance(item, int):
            continue
        if len(candidates) > 1:
            chosen = [m for m in candidates if _tag_of(m) == item]
            if chosen:
                candidates = chosen
                continue
        nxt: list[type[BaseModel]] = []
        for m in candidates:
            for n, f in m.model_fields.items():
                if (f.alias or n) == item:
                    nxt.extend(_models_in(f.annotation))
        if not nxt:
            # A tag of a one-member union also lands here; stay on the current model.
            if len(candidates) == 1 and item == _tag_of(candidates[0]):
                continue
            return None
        candidates = nxt
    return candidates[0] if len(candidates) == 1 else None


def _tag_of(model: type[BaseModel]) -> str | None:
    f = model.model_fields.get("mode")
    if f is None or typing.get_origin(f.annotation) is not typing.Literal:
        return None
    return typing.get_args(f.annotation)[0]


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        out.extend(_models_in(arg))
    return out
