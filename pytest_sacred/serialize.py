"""JSON-safe values: plain JSON passes untouched, everything else goes through jsonpickle.

Sacred runs every stored value through ``json.loads(jsonpickle.encode(value, keys=True))``;
we produce the same tagged dicts (``py/tuple``, ``py/object`` ...) but skip jsonpickle for
values that are already plain JSON, which is almost all of them.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

#: JSON's scalar types, for ``isinstance`` checks (subclasses such as numpy.float64 count)
PLAIN_SCALARS: tuple[type, ...] = (str, int, float, bool, type(None))
#: the same types for exact checks in C: ``type(v) in ...``, ``set(map(type, vs)) <= ...``
PLAIN_SCALAR_TYPES: frozenset[type] = frozenset(PLAIN_SCALARS)
_registered: set[str] = set()


class NotSerializableError(ValueError):
    """A value that neither JSON nor jsonpickle can store faithfully."""


def is_plain(value: Any) -> bool:
    """True when ``value`` is made only of JSON types with string keys."""
    if isinstance(value, PLAIN_SCALARS):
        return True
    if type(value) is list:
        return all(is_plain(v) for v in value)
    if type(value) is dict:
        return all(type(k) is str and is_plain(v) for k, v in value.items())
    return False


def _register_handlers() -> None:
    """numpy/pandas handlers, registered once each package has been imported by someone."""
    import importlib
    import sys

    for package in ("numpy", "pandas"):
        if package in sys.modules and package not in _registered:
            _registered.add(package)
            importlib.import_module(f"jsonpickle.ext.{package}").register_handlers()


def flatten(value: Any) -> Any:
    """Turn ``value`` into plain JSON data, tagging non-JSON values the way Sacred does.

    Raises :class:`NotSerializableError` when jsonpickle would silently drop part of it
    (open files, lambdas, ...).
    """
    if is_plain(value):
        return value
    import jsonpickle  # type: ignore[import-untyped]

    _register_handlers()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        try:
            text = jsonpickle.encode(value, keys=True, warn=True)
        except Exception as exc:  # jsonpickle raises whatever the object raises
            raise NotSerializableError(
                f"{type(value).__name__} value {value!r:.80}: {exc}") from exc
    return json.loads(text)


def is_numpy(value: Any) -> bool:
    """A numpy scalar or array (also of numpy's submodules, e.g. masked arrays)."""
    return type(value).__module__.partition(".")[0] == "numpy" and hasattr(value, "tolist")


def from_numpy(value: Any) -> Any:
    """numpy scalars as Python numbers and arrays as (nested) lists; other values as is.

    Checked by the type's module, so numpy is never imported for it.
    """
    return value.tolist() if is_numpy(value) else value


def normalize_config_value(value: Any) -> Any:
    """Config values are stored as plain data where a faithful plain form exists.

    Tuples become lists and numpy scalars/arrays Python numbers/lists, as Sacred does for
    config scopes, so ``config.json`` stays free of jsonpickle tags in the common case.
    """
    if isinstance(value, (list, tuple)):
        return [normalize_config_value(v) for v in value]
    if type(value) is dict:
        return {k: normalize_config_value(v) for k, v in value.items()}
    return from_numpy(value)


def dumps(value: Any) -> str:
    """Sacred's file format: flattened, keys sorted, two-space indent, no trailing newline."""
    return json.dumps(flatten(value), sort_keys=True, indent=2)


def restore(value: Any) -> Any:
    """Undo :func:`flatten`: jsonpickle tags back to objects (a spill file's events)."""
    if is_plain(value) and not _has_tags(value):
        return value
    import jsonpickle

    _register_handlers()
    return jsonpickle.decode(json.dumps(value), keys=True)


def _has_tags(value: Any) -> bool:
    if type(value) is dict:
        return any(k.startswith(("py/", "json://")) or _has_tags(v) for k, v in value.items())
    if type(value) is list:
        return any(_has_tags(v) for v in value)
    return False
