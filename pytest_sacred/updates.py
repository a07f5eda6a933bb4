"""Config updates from the command line: ``KEY=VALUE`` pairs and named-config files."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

CONFIG_FILE_SUFFIXES = (".json", ".yaml", ".yml")


class ConfigError(Exception):
    """Bad config input; the message names the culprit and what would be right."""


class SacredConfigWarning(pytest.PytestWarning):
    """A config entry the plugin found but that is not part of any selected run's config
    (filter with ``-W ignore::pytest_sacred.SacredConfigWarning``)."""


class TextValue(str):
    """A ``--sacred-with`` value that is no Python literal, kept as the text typed.

    Marked so that when the entry it sets then fails, the message can say that ``C=abc``
    was read as a string; :func:`plain_text` turns it into a plain ``str`` before any run
    sees it.
    """


def parse_value(raw: str) -> Any:
    """A Python literal when it is one (``1e-3``, ``[64, 64]``, ``'x'``), else the string
    (a :class:`TextValue`)."""
    raw = raw.strip()
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return TextValue(raw)


def read_as_text(updates: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """``{dotted key: text}`` of the values :func:`parse_value` kept as strings."""
    found: dict[str, str] = {}
    for key, value in updates.items():
        if isinstance(value, dict):
            found.update(read_as_text(value, f"{prefix}{key}."))
        elif isinstance(value, TextValue):
            found[f"{prefix}{key}"] = str(value)
    return found


def plain_text(value: Any) -> Any:
    """``value`` with every :class:`TextValue` in it as a plain ``str``."""
    if isinstance(value, dict):
        return {k: plain_text(v) for k, v in value.items()}
    return str(value) if isinstance(value, TextValue) else value


def text_note(read: dict[str, str]) -> str:
    """Why a failure may come from values that were read as strings, and what to type."""
    shown = ", ".join(f"{key}={text!r}" for key, text in read.items())
    were = "was" if len(read) == 1 else "were"
    return (f"--sacred-with {shown} {were} read as a string, not as a Python literal: give a "
            "number or another literal (C=2.0, layers=[64,64], name='x'; quote the whole "
            "KEY=VALUE for the shell when it has spaces or brackets)")


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'C'?"`` for the candidates close to ``name``, else ``""``."""
    import difflib  # only when a name is wrong

    close = difflib.get_close_matches(name, sorted(set(candidates)), n=3)
    return f"; did you mean {' or '.join(map(repr, close))}?" if close else ""


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """``["C=2", "optimizer.lr=0.01"]`` -> ``{"C": 2, "optimizer": {"lr": 0.01}}``."""
    updates: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        path = key.strip().split(".")
        if not sep or not all(part.strip() for part in path):
            raise ConfigError(
                f"--sacred-with {item!r}: expected KEY=VALUE, e.g. C=2.0 or optimizer.lr=0.01"
            )
        set_path(updates, [p.strip() for p in path], parse_value(raw))
    return updates


def set_path(target: dict[str, Any], path: list[str], value: Any) -> None:
    """Set a dotted path; a dict meeting a dict merges, so path order does not matter."""
    for part in path[:-1]:
        child = target.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{'.'.join(path)}: {part!r} is given both a value and sub-entries")
        target = child
    existing = target.get(path[-1])
    if isinstance(existing, dict) and isinstance(value, dict):
        value = merge(existing, value)
    target[path[-1]] = value


def nested(updates: dict[str, Any]) -> dict[str, Any]:
    """Dotted keys of a named config (``{"optimizer.lr": 0.1}``) as nested dicts."""
    result: dict[str, Any] = {}
    for key, value in updates.items():
        set_path(result, str(key).split("."), nested(value) if isinstance(value, dict) else value)
    return result


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``update`` applied on ``base``: dicts merge entry by entry, other values replace."""
    result = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = value
    return result


def dotted_keys(updates: dict[str, Any], prefix: str = "") -> list[str]:
    """Every leaf of a nested update as a dotted path, for messages and markers."""
    keys = []
    for key, value in updates.items():
        path = f"{prefix}{key}"
        keys.extend(dotted_keys(value, path + ".") if isinstance(value, dict) and value else [path])
    return keys


def is_config_file(name: str) -> bool:
    return name.lower().endswith(CONFIG_FILE_SUFFIXES) or "/" in name or "\\" in name


def read_mapping_file(name: str, what: str, show_error: bool = True) -> dict[str, Any]:
    """A ``.json``/``.yaml`` file holding a mapping; :class:`ConfigError` naming ``what``
    (e.g. "named config file") when it is missing, does not parse or holds something else.

    With ``show_error=False`` a parse error gives only its position: the parser's message
    quotes the offending line, which may hold a secret.
    """
    path = Path(name)
    if not path.is_file():
        raise ConfigError(f"{what} {name!r} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            from .extras import MissingExtra, require

            try:
                yaml = require("yaml", "yaml", f"{what} {name!r} (YAML)")
            except MissingExtra as exc:
                raise ConfigError(str(exc)) from None
            data = yaml.safe_load(text)
    except ConfigError:
        raise
    except Exception as exc:
        detail = str(exc) if show_error else _position(exc)
        raise ConfigError(f"{what} {name!r} does not parse: {detail}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {name!r} holds a {type(data).__name__}; it must hold a "
                          "mapping")
    return data


def _position(exc: Exception) -> str:
    """Where a JSON or YAML parse error is, without the text around it."""
    line = getattr(exc, "lineno", None)
    mark = getattr(exc, "problem_mark", None)
    if line is None and mark is not None:
        line = mark.line + 1
    return f"{type(exc).__name__} at line {line}" if line else type(exc).__name__


def load_config_file(name: str) -> dict[str, Any]:
    """A ``.json``/``.yaml`` named-config file as a dict of updates."""
    return nested(read_mapping_file(name, "named config file"))
