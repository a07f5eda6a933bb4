"""Reading stored runs back: one reader per store behind :class:`~.base.Reader`.

``open_reader(store)`` names a store the way the options do: a directory (file store or
TinyDB), a ``mongodb://`` URL or ``HOST:PORT:DB``, an SQLAlchemy URL, ``s3://`` or
``gs://``. Each store's reader lives in its package (``pytest_sacred.stores.<kind>.reader``)
and is imported only when its store is read.
"""

from __future__ import annotations

import importlib
import os
import re

from .base import Metric, NoSuchRun, Reader, RunFilter, StoredRun, StoreUnreadable

__all__ = ["Metric", "NoSuchRun", "Reader", "RunFilter", "StoredRun", "StoreUnreadable",
           "open_reader"]

_SQL_SCHEMES = re.compile(r"^(sqlite|postgresql|postgres|mysql|mariadb|oracle|mssql)(\+\w+)?://")


def _kind(store: str) -> str:
    """Which store kind (package of :mod:`pytest_sacred.stores`) reads ``store``."""
    if store.startswith(("mongodb://", "mongodb+srv://")):
        return "mongo"
    if store.startswith("s3://"):
        return "s3"
    if store.startswith("gs://"):
        return "gcs"
    if _SQL_SCHEMES.match(store):
        return "sql"
    if os.path.isdir(store):
        if os.path.isfile(os.path.join(store, "metadata.json")):
            return "tinydb"
        return "file"
    if re.fullmatch(r"[^/:]+:\d+:[\w.-]+", store):
        return "mongo"
    raise StoreUnreadable(
        f"{store!r} is not a store: give a run directory (file store or TinyDB), a "
        "mongodb:// URL or HOST:PORT:DB, an SQLAlchemy URL (sqlite:///runs.db), s3:// or gs://")


def open_reader(store: str | os.PathLike[str]) -> Reader:
    """The reader for ``store``; raises :class:`StoreUnreadable` naming what is wrong, or
    :class:`~pytest_sacred.extras.MissingExtra` naming the extra its client needs."""
    from ..extras import optional_imports

    store = os.fspath(store)
    module = importlib.import_module(f"pytest_sacred.stores.{_kind(store)}.reader")
    with optional_imports():  # a missing client names its extra
        reader: Reader = module.open_store(store)
    return reader
