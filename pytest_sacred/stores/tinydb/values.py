"""Values as a TinyDB run document holds them, and back.

Sacred's ``TinyDbReader`` (tinydb-serialization) turns every string *value* that starts
with a registered tag, ``{TinyDate}:``, ``{TinyFile}:``, ``{TinyArray}:`` ..., into an
object; a string that only looks like one (``"{TinyDate}:soon"``) makes it fail on the
whole store, and ``'{TinyFile}:"x"'`` would come back as ``"x"``. So every string a user
gave that begins like a tag, ``{NAME}:``, is stored behind one more tag, ``{TinyText}:``,
which no reader of Sacred's knows: Sacred's reader shows the string with that prefix, ours
removes it. Keys are never decoded by either reader and are stored as they are.

Datetimes are ``{TinyDate}:YYYY-MM-DDTHH:MM:SS.ffffff``, the only form Sacred's reader
parses: the year always has four digits (``datetime(12, 1, 1)`` is ``0012-...``), and a
datetime with a time zone is stored as the same instant in UTC, without the zone (as
MongoDB stores it).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from ...serialize import JSON_KEY, flatten, is_plain, storable

DATE_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"
DATE_TAG = "{TinyDate}:"
FILE_TAG = "{TinyFile}:"
#: tags of numpy arrays and pandas frames and series (Sacred's serializers), read back as
#: the JSON they hold: lists, and ``{column: {index: value}}``/``{index: value}`` dicts
DATA_TAGS = ("{TinyArray}:", "{TinyDataFrame}:", "{TinySeries}:")
#: the tag of a user's string that would otherwise read as a tagged value
TEXT_TAG = "{TinyText}:"
#: what tinydb-serialization takes for a tag: ``{`` NAME ``}:`` at the start
_LOOKS_TAGGED = re.compile(r"\{[^{}]*\}:")


def tiny_date(value: datetime) -> str:
    """``{TinyDate}:`` and the datetime, in UTC when it has a zone."""
    if value.tzinfo is not None and value.utcoffset() is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return DATE_TAG + value.replace(tzinfo=None).isoformat(timespec="microseconds")


def tiny_file(md5: str) -> str:
    return FILE_TAG + json.dumps(md5)


def tiny_text(text: str) -> str:
    """A user's string as stored: behind ``{TinyText}:`` when it begins like a tag."""
    if text[:1] == "{" and _LOOKS_TAGGED.match(text):
        return TEXT_TAG + text
    return text


def tiny_value(value: Any) -> Any:
    """``value`` as the run document stores it: JSON data in which every string that
    begins like a tag is a tag we wrote (dates, files, arrays, escaped text).

    The value is normalised (:func:`~pytest_sacred.serialize.storable`) and then has the
    JSON layouts' form (:func:`~pytest_sacred.serialize.to_json`), except for Sacred's
    TinyDB types: datetimes are ``{TinyDate}``, numpy arrays ``{TinyArray}``, pandas
    frames and series ``{TinyDataFrame}``/``{TinySeries}``. Plain data is walked once;
    the parts JSON cannot hold are jsonpickle-tagged as Sacred's other stores tag them.
    """
    normal = storable(value, "value")
    seen: list[str] = []
    stored = _tiny(normal, False, seen)
    # jsonpickle escapes a key that begins with its key tag in every dict of a value it
    # encodes, and it encodes a value unless the whole value is plain JSON: such keys
    # (rare: checked only when the walk met one) are escaped the same way here
    if seen and not is_plain(normal):
        stored = _tiny(normal, True, seen)
    return stored


def _tiny(value: Any, tagged: bool, seen: list[str]) -> Any:
    """:func:`tiny_value` of a normalised value; ``tagged``: its keys as jsonpickle writes
    them; a key that begins with jsonpickle's key tag is added to ``seen``."""
    kind = type(value)
    if kind is str:
        return tiny_text(value)
    if kind in (int, float, bool) or value is None:
        return value
    if kind is dict and all(type(k) is str for k in value):
        out = {}
        for key, item in value.items():
            if key.startswith(JSON_KEY):
                seen.append(key)
                if tagged:
                    key = _tagged_key(key)
            out[key] = _tiny(item, tagged, seen)
        return out
    if kind is list:
        return [_tiny(v, tagged, seen) for v in value]
    if isinstance(value, datetime):
        return tiny_date(value)
    if isinstance(value, str):  # a str subclass: its text
        return tiny_text(str(value))
    name = f"{kind.__module__.partition('.')[0]}.{kind.__name__}"
    if name == "numpy.ndarray" and value.dtype.kind in "biuf":
        return "{TinyArray}:" + json.dumps(value.tolist())
    if name in ("pandas.DataFrame", "pandas.Series"):
        return "{Tiny" + kind.__name__ + "}:" + value.to_json()
    flat = flatten(value)  # jsonpickle's tags, as the JSON layouts store the value
    return flat if flat is value else _tiny(flat, False, [])  # its keys are jsonpickle's


def _tagged_key(key: str) -> str:
    """A string key that begins with jsonpickle's key tag (``json://``, the tag of a key
    that is not a string) as jsonpickle writes it: the tag and the key's JSON."""
    return JSON_KEY + json.dumps(key)


# -- reading ---------------------------------------------------------------------------------

def decode_string(text: str) -> Any:
    """One stored string as the value it stands for: a datetime, a hashfs id (the md5 a
    ``{TinyFile}`` names), a user's escaped text, the data of a numpy or pandas value;
    other strings as they are. A tag whose
    content does not parse (a damaged or foreign document) is left as the string, so one
    value never makes the store unreadable."""
    if text[:1] != "{":
        return text
    if text.startswith(TEXT_TAG):
        return text[len(TEXT_TAG):]
    if text.startswith(DATE_TAG):
        body = text[len(DATE_TAG):]
        try:
            return datetime.strptime(body, DATE_FORMAT)
        except ValueError:
            try:
                return datetime.fromisoformat(body)
            except ValueError:
                return text
    if text.startswith(FILE_TAG):
        try:
            md5 = json.loads(text[len(FILE_TAG):])
        except ValueError:
            return text
        return md5 if isinstance(md5, str) else text
    for tag in DATA_TAGS:  # numpy and pandas values as the JSON data they were written as
        if text.startswith(tag):
            try:
                return json.loads(text[len(tag):])
            except ValueError:
                return text
    return text


def decode(value: Any) -> Any:
    """A stored document (or part of one) with every tag we read decoded."""
    kind = type(value)
    if kind is str:
        return decode_string(value)
    if kind is dict:
        return {k: decode(v) for k, v in value.items()}
    if kind is list:
        return [decode(v) for v in value]
    return value
