"""Values as the run document stores them: escaped keys, readable numpy/pandas, no
value BSON refuses, and the short form of what moved to GridFS."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ...redact import redact_strings
from ...serialize import PLAIN_SCALAR_TYPES, flatten, is_numpy, storable

#: characters kept from each end of a text moved to GridFS
PREVIEW_CHARS = 32 * 1024

#: the run document field that says its keys and values are encoded as this module does
#: (documents Sacred or an older pytest-sacred wrote lack it and are read as they are)
ENCODING_FIELD = "value_encoding"
ENCODING = "pytest-sacred/1"
#: the key of ``{"\\int": "<digits>"}``, an integer BSON cannot hold (beyond 64 bits)
BIG_INT_KEY = "\\int"
#: where a run document keeps a user's own ``info["metrics"]``: ``info.metrics`` is the
#: list of metric documents Omniboard and Incense follow
USER_METRICS_KEY = "\\metrics"

_ESCAPES = {"\\": "\\\\", "\0": "\\0", ",": "\\,", ".": ","}
_UNESCAPES = {"\\": "\\", "0": "\0", ",": ",", "@": "@"}


def escape_key(key: Any) -> str:
    """A key MongoDB stores everywhere, one for each key (the escaping is injective).

    Sacred's forms are kept: ``.`` becomes ``,`` and a leading ``$`` becomes ``@``. So
    that no two keys meet, a ``,`` or a leading ``@`` of the key itself is written ``\\,``
    and ``\\@``, a backslash ``\\\\``, and NUL (which BSON keys cannot hold) ``\\0``. A
    backslash followed by anything else never comes from a key: such keys are the store's
    own (:data:`BIG_INT_KEY`, :data:`USER_METRICS_KEY`). A lone surrogate, which UTF-8
    cannot hold, is written ``\\uXXXX``.
    """
    text = key if type(key) is str else str(key)
    if text[:1] == "$":
        head, text = "@", text[1:]
    elif text[:1] == "@":
        head, text = "\\@", text[1:]
    else:
        head = ""
    if any(c in text for c in "\\\0,."):
        text = "".join(_ESCAPES.get(c, c) for c in text)
    if safe_text(text) is not text:
        text = "".join(f"\\u{ord(c):04x}" if "\ud800" <= c <= "\udfff" else c for c in text)
    return head + text


def unescape_key(text: str) -> str:
    """The key :func:`escape_key` was given."""
    if not any(c in text for c in "\\,@"):
        return text
    out, i = [], 0
    if text[:1] == "@":
        out.append("$")
        i = 1
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in _UNESCAPES:
            out.append(_UNESCAPES[text[i + 1]])
            i += 2
            continue
        if c == "\\" and text[i + 1:i + 2] == "u" and len(text) >= i + 6:
            try:
                out.append(chr(int(text[i + 2:i + 6], 16)))
                i += 6
                continue
            except ValueError:
                pass
        out.append("." if c == "," else c)
        i += 1
    return "".join(out)


_INT64 = range(-(2**63), 2**63)


def mongo_safe(value: Any) -> Any:
    """``value`` as BSON stores it: keys through :func:`escape_key`, an integer beyond 64
    bits as ``{"\\int": "<digits>"}`` (read back as the integer), text with lone
    surrogates (which UTF-8 cannot hold) with U+FFFD for them."""
    if isinstance(value, dict):
        return {escape_key(k): mongo_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mongo_safe(v) for v in value]
    if isinstance(value, str):
        return safe_text(value)
    if type(value) is int and value not in _INT64:
        return {BIG_INT_KEY: str(value)}
    return value


def from_document(value: Any) -> Any:
    """Undo :func:`mongo_safe`: keys unescaped, big integers back (documents we wrote)."""
    if type(value) is dict:
        if len(value) == 1 and BIG_INT_KEY in value and type(value[BIG_INT_KEY]) is str:
            try:
                return int(value[BIG_INT_KEY])
            except ValueError:
                pass
        return {unescape_key(k): from_document(v) for k, v in value.items()}
    if type(value) is list:
        return [from_document(v) for v in value]
    return value


def info_document(info: Mapping[str, Any], metric_refs: list[dict[str, str]]) -> Any:
    """The run document's ``info``: the user's info, its own ``metrics`` entry (if any)
    under :data:`USER_METRICS_KEY`, and ``metrics``, the run's metric documents."""
    document = to_document(dict(info))
    if isinstance(document, dict):
        if "metrics" in document:
            document[USER_METRICS_KEY] = document.pop("metrics")
        if metric_refs:  # a copy: the run's list grows, the document sent must not
            document["metrics"] = [dict(ref) for ref in metric_refs]
    return document


def info_from_document(info: Any) -> Any:
    """The user's info of a document we wrote (without the store's ``metrics`` list)."""
    if type(info) is not dict:
        return from_document(info)
    user = {k: v for k, v in info.items() if k != "metrics"}
    if USER_METRICS_KEY in user:
        user["metrics"] = user.pop(USER_METRICS_KEY)
    return from_document(user)


def readable(value: Any) -> Any:
    """numpy and pandas values as numbers, lists and dicts a person can read in the store.

    Other values are left for :func:`~pytest_sacred.serialize.flatten`.
    """
    if is_numpy(value):
        return readable(value.tolist())
    if type(value).__module__.partition(".")[0] == "pandas":
        if hasattr(value, "columns"):  # DataFrame: {column: values}
            return {str(c): readable(value[c]) for c in value.columns}
        if hasattr(value, "index") and hasattr(value, "items"):  # Series
            if type(value.index).__name__ == "RangeIndex" and value.index.start == 0 \
                    and value.index.step == 1:
                return readable(value.tolist())
            return {str(k): readable(v) for k, v in value.items()}
        if hasattr(value, "tolist"):  # Index
            return readable(value.tolist())
        if hasattr(value, "to_pydatetime"):  # Timestamp
            return value.to_pydatetime()
    if type(value) is dict:
        return {k: readable(v) for k, v in value.items()}
    if type(value) in (list, tuple):
        if set(map(type, value)) <= PLAIN_SCALAR_TYPES:  # e.g. a beat's metric values, checked in C
            return list(value) if type(value) is list else value
        items = [readable(v) for v in value]
        return items if type(value) is list else tuple(items)
    return value

def bson_numbers(values: list[Any]) -> list[Any]:
    """A beat's metric values as BSON stores them: an integer beyond 64 bits becomes a
    float (BSON has no larger integer; ``10**30`` → ``1e+30``), one too large even for a
    float becomes ±inf. Every other value is kept as it is, so one value never costs the
    beat's other points; :func:`exact_points` keeps such points as logged. For steps and
    values; plain numbers (what ``log_scalar`` lets through) are assumed."""
    kinds = set(map(type, values))
    if int not in kinds:
        return values
    if kinds == {int} and min(values) in _INT64 and max(values) in _INT64:  # in C
        return values
    return [v if type(v) is not int or v in _INT64 else _as_float(v) for v in values]


def exact_points(steps: list[Any], values: list[Any], stored_steps: list[Any],
                 stored_values: list[Any]) -> dict[int, str]:
    """``{position: "[step, value]"}`` (JSON) of the points :func:`bson_numbers` changed,
    kept in the metric document's ``exact`` field so that readers give them back as
    logged; ``{}`` when it changed none (the lists are then the same objects)."""
    if stored_steps is steps and stored_values is values:
        return {}
    return {i: json.dumps([step, value]) for i, (step, value, s, v) in
            enumerate(zip(steps, values, stored_steps, stored_values, strict=False))
            if s is not step or v is not value}


def exact_from_document(doc: Mapping[str, Any]) -> dict[int, tuple[Any, Any]]:
    """``{position: (step, value)}`` of a metric document's ``exact`` field."""
    out = {}
    for position, text in (doc.get("exact") or {}).items():
        try:
            step, value = json.loads(text)
            out[int(position)] = (step, value)
        except (ValueError, TypeError):
            continue  # damaged by hand: the arrays are what there is
    return out


def _as_float(value: int) -> float:
    try:
        return float(value)
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")


def to_document(value: Any) -> Any:
    """What the run document stores for config, info and result."""
    return mongo_safe(flatten(readable(storable(value, "value"))))

def meta_document(meta_info: Mapping[str, Any]) -> dict[str, Any]:
    """Sacred stores ``meta`` as is (not flattened): we only escape keys and hide URLs'
    passwords."""
    document: dict[str, Any] = mongo_safe(redact_strings(meta_info))
    return document

def safe_text(text: str) -> str:
    """Text UTF-8 can encode, as BSON and SQL drivers need it: a lone surrogate (text
    that is not valid Unicode) becomes U+FFFD. Other text is returned as it is (the same
    object)."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)

def bson_size(value: Any) -> int:
    import bson

    return len(bson.encode({"v": value}))

def shorten(key: str, value: Any, text: str, note: str) -> Any:
    """What stays in the document of a value moved to GridFS: readable, and small."""
    if key == "captured_out":
        return f"{text[:PREVIEW_CHARS]}\n{note}\n{text[-PREVIEW_CHARS:]}"
    if key in ("info", "config") and isinstance(value, dict):
        # small entries stay, info.metrics always: Omniboard finds metrics through it
        short, budget = {}, 4 * PREVIEW_CHARS
        for name, entry in value.items():
            size = bson_size(entry)
            if name == "metrics" or size <= budget:
                short[name] = entry
                budget -= size if name != "metrics" else 0
            else:
                short[name] = note
        return short
    return note
