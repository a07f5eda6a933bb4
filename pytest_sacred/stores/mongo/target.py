"""The ``--sacred-mongo`` value: ``[HOST:PORT:]DB[.COLLECTION][!PRIORITY]`` or a URL."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from ...redact import redact_url
from ...urls import split_url
from ..base import StoreError

DEFAULT_DB = "sacred"

DEFAULT_HOST = "localhost:27017"

#: collections Sacred refuses for runs (GridFS and its own helpers), plus ours for metrics
RESERVED_COLLECTIONS = frozenset({"fs.files", "fs.chunks", "_properties", "system.indexes",
                                  "search_space", "search_spaces", "metrics"})

_BAD_DB_CHARS = set('/\\. "$*<>:|?\0')

@dataclass(frozen=True)
class MongoTarget:
    """Where to connect and what to write: parsed from ``--sacred-mongo``."""

    url: str
    db_name: str
    collection: str | None = None
    priority: int | None = None

FORMS = ("DB, HOST:PORT, HOST:PORT:DB (each optionally followed by .COLLECTION), "
          "or a mongodb:// / mongodb+srv:// URL such as mongodb://user:password@host:27017/db")

def check_db_name(db_name: str, value: str) -> str:
    if not db_name or _BAD_DB_CHARS & set(db_name) or len(db_name.encode()) >= 64:
        raise StoreError(f"--sacred-mongo {redact_url(value)!r}: {db_name!r} is not a valid "
                         "MongoDB database name (1 to 63 bytes, none of / \\ . space \" $ * < > "
                         f": | ?); expected {FORMS}")
    return db_name

def check_collection(collection: str, value: str) -> str:
    if not collection or collection in RESERVED_COLLECTIONS or "$" in collection \
            or collection.startswith("system."):
        raise StoreError(f"--sacred-mongo {redact_url(value)!r}: {collection!r} cannot hold "
                         "runs (empty, reserved, or used for GridFS/metrics); choose another "
                         "collection name, e.g. 'runs'")
    return collection

def _parse_url(value: str) -> MongoTarget:
    parts = split_url(value)
    if parts.scheme not in ("mongodb", "mongodb+srv"):
        raise StoreError(f"--sacred-mongo {redact_url(value)!r}: unknown scheme "
                         f"{parts.scheme!r}; expected {FORMS}")
    if not parts.hosts:
        raise StoreError(f"--sacred-mongo {redact_url(value)!r} names no host; expected {FORMS}")
    db_name, _, collection = unquote(parts.path or "").partition(".")
    # pymongo checks the rest (options, escaping) in open(): importing it here would cost
    # every session that merely has sacred_mongo in its ini file
    return MongoTarget(value, check_db_name(db_name or DEFAULT_DB, value),
                       check_collection(collection, value) if collection else None)

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
    port_ok = len(parts) == 1 or (parts[1].isdigit() and int(parts[1]) < 65536)
    if "@" in text or len(parts) > 3 or not port_ok or not all(parts):
        raise StoreError(f"--sacred-mongo {redact_url(value)!r} is not understood; "
                         f"expected {FORMS}")
    if len(parts) == 2:
        return MongoTarget(f"mongodb://{parts[0]}:{parts[1]}/", DEFAULT_DB, None, priority)
    host = f"{parts[0]}:{parts[1]}" if len(parts) == 3 else DEFAULT_HOST
    db_name, _, collection = parts[-1].partition(".")
    return MongoTarget(f"mongodb://{host}/", check_db_name(db_name, value),
                       check_collection(collection, value) if collection else None, priority)

def server_of(url: str) -> str:
    """``scheme://[user:***@]hosts`` of a URL: no password, path or options."""
    return redact_url(split_url(url).server())
