"""Config updates from the command line: ``KEY=VALUE`` pairs and named-config files."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

CONFIG_FILE_SUFFIXES = (".json", ".yaml", ".yml")


class ConfigError(Exception):
    """Bad config input; the message names the culprit and what would be right."""


def parse_value(raw: str) -> Any:
    """A Python literal when it is one (``1e-3``, ``[64, 64]``, ``'x'``), else the string."""
    raw = raw.strip()
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return raw


def parse_assignments(items: list[str]) -> dict:
    """``["C=2", "optimizer.lr=0.01"]`` -> ``{"C": 2, "optimizer": {"lr": 0.01}}``."""
    updates: dict = {}
    for item in items:
        key, sep, raw = item.partition("=")
        path = key.strip().split(".")
        if not sep or not all(part.strip() for part in path):
            raise ConfigError(
                f"--sacred-with {item!r}: expected KEY=VALUE, e.g. C=2.0 or optimizer.lr=0.01"
            )
        set_path(updates, [p.strip() for p in path], parse_value(raw))
    return updates


def set_path(target: dict, path: list[str], value: Any) -> None:
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


def nested(updates: dict) -> dict:
    """Dotted keys of a named config (``{"optimizer.lr": 0.1}``) as nested dicts."""
    result: dict = {}
    for key, value in updates.items():
        set_path(result, str(key).split("."), nested(value) if isinstance(value, dict) else value)
    return result


def merge(base: dict, update: dict) -> dict:
    """``update`` applied on ``base``: dicts merge entry by entry, other values replace."""
    result = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = value
    return result


def dotted_keys(updates: dict, prefix: str = "") -> list[str]:
    """Every leaf of a nested update as a dotted path, for messages and markers."""
    keys = []
    for key, value in updates.items():
        path = f"{prefix}{key}"
        keys.extend(dotted_keys(value, path + ".") if isinstance(value, dict) and value else [path])
    return keys


def is_config_file(name: str) -> bool:
    return name.lower().endswith(CONFIG_FILE_SUFFIXES) or "/" in name or "\\" in name


def read_mapping_file(name: str, what: str, show_error: bool = True) -> dict:
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
            try:
                import yaml
            except ImportError:
                raise ConfigError(f"{what} {name!r} is YAML; install PyYAML to read it"
                                  ) from None
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


def load_config_file(name: str) -> dict:
    """A ``.json``/``.yaml`` named-config file as a dict of updates."""
    return nested(read_mapping_file(name, "named config file"))
