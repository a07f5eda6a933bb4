"""JSON-safe values: plain JSON passes untouched, everything else goes through jsonpickle.

Sacred runs every stored value through ``json.loads(jsonpickle.encode(value, keys=True))``;
we produce the same tagged dicts (``py/tuple``, ``py/object`` ...) but skip jsonpickle for
values that are already plain JSON, which is almost all of them.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: JSON's scalar types, for ``isinstance`` checks (subclasses such as numpy.float64 count)
PLAIN_SCALARS: tuple[type, ...] = (str, int, float, bool, type(None))
#: the same types for exact checks in C: ``type(v) in ...``, ``set(map(type, vs)) <= ...``
PLAIN_SCALAR_TYPES: frozenset[type] = frozenset(PLAIN_SCALARS)
_registered: set[str] = set()
#: how jsonpickle (with ``keys=True``) begins a dict key that is not a string, and escapes
#: a string key that begins so
JSON_KEY = "json://"


#: the deepest a stored value may nest, in levels of its JSON form (a dict or a list is
#: one level, a tuple two: ``{"py/tuple": [...]}``). MongoDB refuses documents nested more
#: than 100 levels, and a run document wraps each value in levels of its own; jsonpickle
#: and the readers recurse once or more per level, so much deeper values overflow the stack.
MAX_DEPTH = 64


class NotSerializableError(ValueError):
    """A value that neither JSON nor jsonpickle can store faithfully."""


class UnstorableValueWarning(UserWarning):
    """A run's value (or part of it) was stored as its ``repr``: neither JSON nor
    jsonpickle can store it faithfully, or it nests deeper than :data:`MAX_DEPTH` levels."""


@dataclass(frozen=True)
class Replacement:
    """One entry :func:`normalize` stored as its ``repr``, and why."""

    #: where in the run: ``result``, ``info['x']['y']``, ``artifact 'a.txt' metadata['k']``
    entry: str
    reason: str

    def message(self) -> str:
        return f"{self.entry} cannot be stored ({self.reason}); its repr is stored instead"


def is_plain(value: Any) -> bool:
    """True when ``value`` is made only of JSON types with string keys."""
    if isinstance(value, PLAIN_SCALARS):
        return True
    if type(value) is list:
        return all(is_plain(v) for v in value)
    if type(value) is dict:
        return all(type(k) is str and is_plain(v) for k, v in value.items())
    return False


def _register_handlers(needed: tuple[str, ...] = ()) -> None:
    """numpy/pandas handlers, registered once each package has been imported by someone
    (or is ``needed``: tagged values of it are to be restored)."""
    import importlib
    import sys

    import jsonpickle.handlers  # type: ignore[import-untyped]

    registry = id(jsonpickle.handlers.registry)  # a re-imported jsonpickle has a new one
    for package in ("numpy", "pandas"):
        if (package in sys.modules or package in needed) \
                and f"{registry}:{package}" not in _registered:
            _registered.add(f"{registry}:{package}")
            importlib.import_module(f"jsonpickle.ext.{package}").register_handlers()


class _Dropped(Exception):
    """jsonpickle met a value it would replace with ``None``."""


def _strict_pickler() -> Any:
    """A jsonpickle ``Pickler`` that raises where it would warn "cannot pickle ...:
    replaced with None". Raising from the pickler itself, rather than turning warnings
    into errors, keeps other threads' warnings (a store's write queue, the heartbeat)
    out of it: ``warnings.catch_warnings`` changes the filters of every thread."""
    from jsonpickle.pickler import Pickler  # type: ignore[import-untyped]

    if not hasattr(Pickler, "_pickle_warning"):  # another jsonpickle: warnings as errors
        return None

    class StrictPickler(Pickler):  # type: ignore[misc]
        def _pickle_warning(self, obj: Any) -> None:
            raise _Dropped(f"jsonpickle cannot pickle {safe_repr(obj):.80}")

    return StrictPickler(keys=True, warn=True)


def flatten(value: Any) -> Any:
    """Turn ``value`` into plain JSON data, tagging non-JSON values the way Sacred does.

    Raises :class:`NotSerializableError` when jsonpickle would silently drop part of it
    (open files, lambdas, ...).
    """
    if is_plain(value):
        return value
    import jsonpickle

    _register_handlers()
    pickler = _strict_pickler()
    try:
        if pickler is not None:
            text = jsonpickle.encode(value, keys=True, warn=True, context=pickler)
        else:  # pragma: no cover - a jsonpickle without the hook
            with warnings.catch_warnings():
                warnings.simplefilter("error", UserWarning)
                text = jsonpickle.encode(value, keys=True, warn=True)
    except Exception as exc:  # jsonpickle raises whatever the object raises
        raise NotSerializableError(
            f"{type(value).__name__} value {safe_repr(value):.80}: {exc}") from exc
    return json.loads(text)


def is_numpy(value: Any) -> bool:
    """A numpy scalar or array (also of numpy's submodules, e.g. masked arrays)."""
    return type(value).__module__.partition(".")[0] == "numpy" and hasattr(value, "tolist")


def from_numpy(value: Any) -> Any:
    """numpy scalars as Python numbers and arrays as (nested) lists; other values as is.

    Checked by the type's module, so numpy is never imported for it.
    """
    return value.tolist() if is_numpy(value) else value


def normalize_config_value(value: Any, _depth: int = 0) -> Any:
    """Config values are stored as plain data where a faithful plain form exists.

    Tuples become lists and numpy scalars/arrays Python numbers/lists, as Sacred does for
    config scopes, so ``config.json`` stays free of jsonpickle tags in the common case.
    Levels deeper than :data:`MAX_DEPTH` are left as they are, for :func:`check_storable`
    to refuse (recursing on would overflow the stack first).
    """
    if _depth > MAX_DEPTH:
        return value
    if isinstance(value, (list, tuple)):
        return [normalize_config_value(v, _depth + 1) for v in value]
    if type(value) is dict:
        return {k: normalize_config_value(v, _depth + 1) for k, v in value.items()}
    return from_numpy(value)


def _plain_within(value: Any, budget: int) -> bool:
    """:func:`is_plain`, and nested no deeper than ``budget`` levels (recursion bounded)."""
    if isinstance(value, PLAIN_SCALARS):
        return True
    if budget <= 0:
        return False
    if type(value) is list:
        return all(_plain_within(v, budget - 1) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _plain_within(v, budget - 1) for k, v in value.items())
    return False


def json_depth(value: Any) -> int:
    """Levels of dicts and lists in plain JSON data (iterative: any depth is measured)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if type(item) is dict:
            items: Any = item.values()
        elif type(item) is list:
            items = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((v, level + 1) for v in items if type(v) in (dict, list))
    return deepest


def safe_repr(value: Any) -> str:
    """``repr(value)``, or a description when its ``repr`` raises (deep values overflow)."""
    try:
        return repr(value)
    except Exception as exc:  # a user's __repr__ may raise anything
        return f"<{type(value).__qualname__} object; repr failed: {type(exc).__name__}>"


def entry_name(entry: str, path: tuple[Any, ...]) -> str:
    """``info['x'][0]``: where a part of a value sits; a long path is shortened in the
    middle (a value 64 levels deep is named by its first and last steps)."""
    steps = [f"[{text}]" if len(text := safe_repr(key)) <= 60 else "[...]" for key in path]
    if len(steps) > 8:
        steps = [*steps[:4], f"...({len(steps) - 6} levels)...", *steps[-2:]]
    return entry + "".join(steps)


def normalize(value: Any, entry: str, fresh: bool = False) -> tuple[Any, list[Replacement]]:
    """``value`` in a form every store can take and read back, and what was replaced.

    The one normalisation of a run's values (result, info, config, metadata) before any
    layout encodes them: plain JSON data and whatever jsonpickle stores faithfully (numpy,
    tuples, sets, datetimes, objects) is kept as it is (subclasses of JSON's scalars, such
    as ``numpy.float64``, as the plain scalar JSON writes); a part neither can store (a
    lambda, an open file, ``numpy.longdouble``), or one nested deeper than
    :data:`MAX_DEPTH` levels, becomes its ``repr``, and is named (``entry`` is the
    value's own name, e.g. ``"result"``) in the replacements returned. ``value`` itself
    is returned when nothing was replaced, unless ``fresh``: then its dicts, lists and
    tuples are always new ones (a snapshot of a value the user may still change, taken
    as it is checked); never raises.
    """
    plain = _plain_within(value, MAX_DEPTH)
    if not fresh and plain:
        return value, []
    replaced: list[Replacement] = []
    return _normalize(value, entry, (), MAX_DEPTH, replaced, not plain), replaced


def _plain_scalar(value: Any) -> Any:
    """A subclass of a JSON scalar (``numpy.float64``, an ``IntEnum``) as its base type:
    what ``json`` writes of it in plain data, so that it is stored the same beside
    values jsonpickle has to tag."""
    kind = type(value)
    if kind in PLAIN_SCALAR_TYPES:
        return value
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int):
        return int(value)
    return "".join([value])  # a str subclass; str() would call its own __str__


def _normalize(value: Any, entry: str, path: tuple[Any, ...], budget: int,
               replaced: list[Replacement], encoded: bool) -> Any:
    """One part of :func:`normalize`'s value; ``encoded``: the value is not plain JSON,
    so jsonpickle will encode all of it (and drop its reserved keys)."""
    if isinstance(value, PLAIN_SCALARS):
        return _plain_scalar(value)

    def as_repr(reason: str) -> str:
        replaced.append(Replacement(entry_name(entry, path), reason))
        return safe_repr(value)

    kind = type(value)
    if kind in (dict, list, tuple):
        levels = 2 if kind is tuple else 1  # a tuple is {"py/tuple": [...]} in JSON
        if budget < levels:
            return as_repr(f"nested deeper than {MAX_DEPTH} levels")
        if kind is dict:
            if encoded and (tags := _reserved_keys(value)):
                return as_repr(f"jsonpickle drops its key{'s' * (len(tags) > 1)} "
                               f"{', '.join(map(repr, tags))} (reserved for its own tags) "
                               "from a value it encodes")
            out = {}
            for key, item in value.items():
                if type(key) is not str:  # jsonpickle encodes it into the key's text
                    key = _normalize(key, f"{entry_name(entry, path)} key", (), MAX_DEPTH,
                                     replaced, True)
                out[key] = _normalize(item, entry, (*path, key), budget - 1, replaced,
                                      encoded)
            return out
        items = [_normalize(item, entry, (*path, i), budget - levels, replaced, encoded)
                 for i, item in enumerate(value)]
        return tuple(items) if kind is tuple else items
    if _numeric_array(value):  # jsonpickle's numpy handler stores these: no trial encoding
        if value.ndim + 2 > budget:  # {"py/object": ..., "values": [[...]]}
            return as_repr(f"nested deeper than {MAX_DEPTH} levels")
        return value
    try:
        flat = flatten(value)
    except NotSerializableError as exc:
        cause = exc.__cause__
        why = f" ({type(cause).__name__})" if cause is not None and not isinstance(
            cause, (UserWarning, _Dropped)) else ""
        return as_repr(f"neither JSON nor jsonpickle can store a "
                       f"{kind.__module__}.{kind.__qualname__}{why}")
    if json_depth(flat) > budget:
        return as_repr(f"nested deeper than {MAX_DEPTH} levels")
    return value


def _reserved_keys(value: dict[Any, Any]) -> list[str]:
    """The string keys of ``value`` that jsonpickle reserves for its tags (``py/tuple``,
    ``py/object`` ...): it leaves them out when it encodes the dict."""
    tagged = [k for k in value if type(k) is str and k.startswith("py/")]
    if not tagged:
        return []
    from jsonpickle import tags

    return [k for k in tagged if k in tags.RESERVED]


def _numeric_array(value: Any) -> bool:
    """A numpy array of bools, integers or floats of at most 64 bits (``longdouble`` and
    object arrays are not: jsonpickle cannot store every one of them)."""
    if type(value).__module__ != "numpy" or type(value).__name__ != "ndarray":
        return False
    dtype = value.dtype
    return dtype.kind in "biu" or (dtype.kind == "f" and dtype.itemsize <= 8)


def storable(value: Any, entry: str, warn: Callable[[Replacement], None] | None = None,
             fresh: bool = False) -> Any:
    """:func:`normalize`, each replacement said: by ``warn``, else as an
    :class:`UnstorableValueWarning`. Every store's writer calls this before its layout's
    encoding, so no store fails on a value (the run's own events are normalised where they
    are made, with one warning per run and entry, and pass through unchanged here)."""
    normal, replaced = normalize(value, entry, fresh)
    for replacement in replaced:
        if warn is not None:
            warn(replacement)
            continue
        try:
            warnings.warn(replacement.message(), UnstorableValueWarning, stacklevel=2)
        except UnstorableValueWarning:  # -W error: the write must still happen (the run's
            pass                         # events were warned about where they were made)
    return normal


def check_storable(value: Any, entry: str) -> None:
    """Raise :class:`NotSerializableError` naming the part of ``value`` (called ``entry``)
    that :func:`normalize` would store as its ``repr``: for values the user can change
    before the run starts (config entries), which are refused rather than converted."""
    _, replaced = normalize(value, entry)
    if replaced:
        first = replaced[0]
        raise NotSerializableError(f"{first.entry}: {first.reason}")


def to_json(value: Any, entry: str = "value") -> Any:
    """The JSON layout's value encoding (file, S3, GCS, SQL, TinyDB's fallback): the
    normalised value (:func:`storable`), flattened as Sacred does."""
    return flatten(storable(value, entry))


def dumps(value: Any, entry: str = "value") -> str:
    """Sacred's file format: flattened, keys sorted, two-space indent, no trailing newline."""
    return indent2(to_json(value, entry))


#: ``json.dumps`` with ``indent`` runs json's encoder in Python; without, in C. A dict of
#: scalars (a config, most members of a run's ``meta``) is encoded in C with the
#: separators that give the indented text of one level, and then framed by hand
_FLAT_MEMBERS = json.JSONEncoder(sort_keys=True, separators=(",\n  ", ": "))


def indent2(data: Any) -> str:
    """``json.dumps(data, sort_keys=True, indent=2)`` of plain JSON ``data``, byte for byte,
    in C for a dict of scalars with string keys (what a run stores over and over)."""
    if type(data) is dict and all(type(key) is str for key in data) \
            and set(map(type, data.values())) <= PLAIN_SCALAR_TYPES:
        return "{\n  " + _FLAT_MEMBERS.encode(data)[1:-1] + "\n}" if data else "{}"
    return json.dumps(data, sort_keys=True, indent=2)


def restore(value: Any) -> Any:
    """Undo :func:`flatten`: jsonpickle tags back to objects (a spill file's events)."""
    if is_plain(value) and not _has_tags(value):
        return value
    import jsonpickle

    text = json.dumps(value)
    # a spill file is replayed by a process that may not have imported numpy or pandas
    _register_handlers(tuple(p for p in ("numpy", "pandas") if f'"{p}.' in text))
    return jsonpickle.decode(text, keys=True)


def _has_tags(value: Any) -> bool:
    if type(value) is dict:
        return any(k.startswith(("py/", "json://")) or _has_tags(v) for k, v in value.items())
    if type(value) is list:
        return any(_has_tags(v) for v in value)
    return False
