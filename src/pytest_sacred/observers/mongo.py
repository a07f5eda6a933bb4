"""Sacred's MongoObserver layout (``runs``, ``metrics``, GridFS ``fs.*``), as Omniboard,
Incense and Sacredboard read it.

Differences from Sacred 0.8.7, all invisible to those readers:

* ids are claimed with ``max(_id) + 1`` over numeric ids only and an insert that retries on
  a duplicate, so concurrent writers get unique, consecutive ids;
* sources and resources are deduplicated by an ``md5`` field we set on ``fs.files``
  ourselves (pymongo 4 stopped writing it), and resources are really uploaded;
* keys are escaped and numpy/pandas values made plain *before* the first write;
* ``captured_out``, ``info`` or ``result`` too large for a 16 MB document are kept whole in
  GridFS and shortened in the document, which then names the GridFS file;
* later events ``$set``/``$push`` only the fields they change.

pymongo is imported only inside methods: selecting another store costs nothing.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from ..serialize import flatten
from .base import Observer, StoreError

DEFAULT_DB = "sacred"
DEFAULT_HOST = "localhost:27017"
FORMAT = "MongoObserver-0.7.0"
#: collections Sacred refuses for runs (GridFS and its own helpers), plus ours for metrics
RESERVED_COLLECTIONS = frozenset({"fs.files", "fs.chunks", "_properties", "system.indexes",
                                  "search_space", "search_spaces", "metrics"})
#: a run document is kept below this many bytes of BSON (MongoDB refuses 16 MiB)
SAFE_DOCUMENT_BYTES = 12 * 1024 * 1024
#: characters kept from each end of a text moved to GridFS
PREVIEW_CHARS = 32 * 1024
_SERVER_SELECTION_MS = 5000
_MAX_ID_ATTEMPTS = 10_000
_BAD_DB_CHARS = set('/\\. "$*<>:|?\0')
_SECRET_OPTIONS = re.compile(r"((?:[^&?=]*password|AWS_SESSION_TOKEN)[=:])([^&,]*)", re.I)


def redact_url(url: str) -> str:
    """``url`` with its password (and password-like options) replaced by ``***``.

    Works on anything that may hold credentials before an ``@``: full URLs and
    half-written option values alike, so every message can show what the user typed.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    hosts, qmark, query = rest.partition("?")
    at = hosts.rfind("@")
    if at >= 0:
        user, colon, _password = hosts[:at].partition(":")
        hosts = user + (":***" if colon else "") + hosts[at:]
    query = _SECRET_OPTIONS.sub(r"\1***", query)
    return (scheme + sep if sep else "") + hosts + qmark + query


# -- the --sacred-mongo value ----------------------------------------------------------------

@dataclass(frozen=True)
class MongoTarget:
    """Where to connect and what to write: parsed from ``--sacred-mongo``."""

    url: str
    db_name: str
    collection: str | None = None
    priority: int | None = None


_FORMS = ("DB, HOST:PORT, HOST:PORT:DB (each optionally followed by .COLLECTION), "
          "or a mongodb:// / mongodb+srv:// URL such as mongodb://user:password@host:27017/db")


def _check_db_name(db_name: str, value: str) -> str:
    if not db_name or _BAD_DB_CHARS & set(db_name) or len(db_name.encode()) >= 64:
        raise StoreError(f"--sacred-mongo {redact_url(value)!r}: {db_name!r} is not a valid "
                         "MongoDB database name (1 to 63 bytes, none of / \\ . space \" $ * < > "
                         f": | ?); expected {_FORMS}")
    return db_name


def _check_collection(collection: str, value: str) -> str:
    if not collection or collection in RESERVED_COLLECTIONS or "$" in collection \
            or collection.startswith("system."):
        raise StoreError(f"--sacred-mongo {redact_url(value)!r}: {collection!r} cannot hold "
                         "runs (empty, reserved, or used for GridFS/metrics); choose another "
                         "collection name, e.g. 'runs'")
    return collection


def _parse_url(value: str) -> MongoTarget:
    scheme, _, rest = value.partition("://")
    if scheme not in ("mongodb", "mongodb+srv"):
        raise StoreError(f"--sacred-mongo {redact_url(value)!r}: unknown scheme {scheme!r}; "
                         f"expected {_FORMS}")
    hosts_path = rest.partition("?")[0]
    hosts_path = hosts_path[hosts_path.rfind("@") + 1:]
    hosts, _, path = hosts_path.partition("/")
    if not hosts:
        raise StoreError(f"--sacred-mongo {redact_url(value)!r} names no host; expected {_FORMS}")
    db_name, _, collection = unquote(path).partition(".")
    if scheme == "mongodb":  # validates without network; mongodb+srv needs DNS: see open()
        from pymongo.errors import ConfigurationError, InvalidURI
        from pymongo.uri_parser import parse_uri

        try:
            parse_uri(value)
        except (InvalidURI, ConfigurationError, ValueError, TypeError) as exc:
            raise StoreError(f"--sacred-mongo {redact_url(value)!r} is not a valid MongoDB URL "
                             f"({_scrub(str(exc), value)}); expected {_FORMS}") from None
    return MongoTarget(value, _check_db_name(db_name or DEFAULT_DB, value),
                       _check_collection(collection, value) if collection else None)


def parse_target(value: str) -> MongoTarget:
    """Parse ``[HOST:PORT:]DB[.COLLECTION][!PRIORITY]``, ``HOST:PORT`` or a URL.

    Raises :class:`StoreError` with the accepted forms when ``value`` is none of these.
    """
    text = value.strip()
    priority = None
    head, bang, tail = text.rpartition("!")
    if bang and re.fullmatch(r"-?\d+", tail):
        text, priority = head, int(tail)
    if "://" in text:
        target = _parse_url(text)
        return MongoTarget(target.url, target.db_name, target.collection, priority)
    parts = text.split(":")
    if "@" in text or len(parts) > 3 or (len(parts) > 1 and not parts[1].isdigit()) \
            or not all(parts):
        raise StoreError(f"--sacred-mongo {redact_url(value)!r} is not understood; "
                         f"expected {_FORMS}")
    if len(parts) == 2:
        return MongoTarget(f"mongodb://{parts[0]}:{parts[1]}/", DEFAULT_DB, None, priority)
    host = f"{parts[0]}:{parts[1]}" if len(parts) == 3 else DEFAULT_HOST
    db_name, _, collection = parts[-1].partition(".")
    return MongoTarget(f"mongodb://{host}/", _check_db_name(db_name, value),
                       _check_collection(collection, value) if collection else None, priority)


def _scrub(text: str, url: str) -> str:
    """Remove the password of ``url`` from an error text, whatever the driver put in it."""
    at = url.partition("?")[0].rfind("@")
    if at < 0:
        return text
    password = url.partition("://")[2].partition("?")[0]
    password = password[:password.rfind("@")].partition(":")[2]
    for secret in {password, unquote(password)} - {""}:
        text = text.replace(secret, "***")
    return text


# -- values ------------------------------------------------------------------------------------

def escape_key(key: Any) -> str:
    """A key MongoDB stores everywhere: ``str(key)``, leading ``$`` → ``@``, ``.`` → ``,``."""
    key = str(key)
    if key.startswith("$"):
        key = "@" + key[1:]
    return key.replace(".", ",")


_INT64 = range(-(2**63), 2**63)


def mongo_safe(value: Any) -> Any:
    """``value`` as BSON stores it: keys through :func:`escape_key`, integers beyond 64 bits
    and text with lone surrogates turned into strings BSON accepts (as Sacred's fallback)."""
    if isinstance(value, dict):
        return {escape_key(k): mongo_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mongo_safe(v) for v in value]
    if isinstance(value, str):
        return _safe_text(value)
    if type(value) is int and value not in _INT64:
        return str(value)
    return value


def readable(value: Any) -> Any:
    """numpy and pandas values as numbers, lists and dicts a person can read in the store.

    Other values are left for :func:`~pytest_sacred.serialize.flatten`.
    """
    module = type(value).__module__.partition(".")[0]
    if module == "numpy" and hasattr(value, "tolist"):
        return readable(value.tolist())
    if module == "pandas":
        if hasattr(value, "to_dict") and hasattr(value, "columns"):  # DataFrame
            return {str(c): readable(value[c]) for c in value.columns}
        if hasattr(value, "index") and hasattr(value, "tolist"):  # Series
            if type(value.index).__name__ == "RangeIndex" and value.index.start == 0 \
                    and value.index.step == 1:
                return readable(value.tolist())
            return {str(k): readable(v) for k, v in value.items()}
        if hasattr(value, "to_pydatetime"):  # Timestamp
            return value.to_pydatetime()
    if type(value) is dict:
        return {k: readable(v) for k, v in value.items()}
    if type(value) in (list, tuple):
        items = [readable(v) for v in value]
        return items if type(value) is list else tuple(items)
    return value


def to_document(value: Any) -> Any:
    """What the run document stores for config, info and result."""
    return mongo_safe(flatten(readable(value)))


def _safe_text(text: str) -> str:
    """Text BSON can encode (lone surrogates from odd output become U+FFFD)."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def _md5_of(path: str) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _bson_size(value: Any) -> int:
    import bson

    return len(bson.encode({"v": value}))


