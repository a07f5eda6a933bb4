"""Values as the run document stores them: escaped keys, readable numpy/pandas, no
value BSON refuses, and the short form of what moved to GridFS."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..redact import redact_strings
from ..serialize import PLAIN_SCALAR_TYPES, flatten, is_numpy, storable

#: characters kept from each end of a text moved to GridFS
PREVIEW_CHARS = 32 * 1024

def escape_key(key: Any) -> str:
    """A key MongoDB stores everywhere: ``str(key)``, leading ``$`` → ``@``, ``.`` → ``,``."""
    text = str(key)
    if text.startswith("$"):
        text = "@" + text[1:]
    return text.replace(".", ",")

_INT64 = range(-(2**63), 2**63)

def mongo_safe(value: Any) -> Any:
    """``value`` as BSON stores it: keys through :func:`escape_key`, integers beyond 64 bits
    and text with lone surrogates turned into strings BSON accepts (as Sacred's fallback)."""
    if isinstance(value, dict):
        return {escape_key(k): mongo_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mongo_safe(v) for v in value]
    if isinstance(value, str):
        return safe_text(value)
    if type(value) is int and value not in _INT64:
        return str(value)
    return value



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
    beat's other points. For steps and values; plain numbers (what ``log_scalar`` lets
    through) are assumed."""
    kinds = set(map(type, values))
    if int not in kinds:
        return values
    if kinds == {int} and min(values) in _INT64 and max(values) in _INT64:  # in C
        return values
    return [v if type(v) is not int or v in _INT64 else _as_float(v) for v in values]


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
    """Text BSON can encode (lone surrogates from odd output become ``?``)."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")

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
