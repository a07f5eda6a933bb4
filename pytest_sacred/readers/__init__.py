"""Reading stored runs back: one reader per store behind :class:`~.base.Reader`.

``open_reader(store)`` names a store the way the options do: a directory (file store or
TinyDB), a ``mongodb://`` URL or ``HOST:PORT:DB``, an SQLAlchemy URL, ``s3://`` or
``gs://``; the registry of store kinds (:mod:`pytest_sacred.stores.registry`) says which
kind a name is. Each store's reader lives in its package (``pytest_sacred.stores.<kind>``)
and is imported only when its store is read.
"""

from __future__ import annotations

import os

from .base import Metric, NoSuchRun, Reader, RunFilter, StoredRun, StoreUnreadable

__all__ = ["Metric", "NoSuchRun", "Reader", "RunFilter", "StoredRun", "StoreUnreadable",
           "open_reader"]

def open_reader(store: str | os.PathLike[str]) -> Reader:
    """The reader for ``store``; raises :class:`StoreUnreadable` naming what is wrong, or
    :class:`~pytest_sacred.extras.MissingExtra` naming the extra its client needs."""
    from ..extras import optional_imports
    from ..stores.registry import kind_of

    store = os.fspath(store)
    kind = kind_of(store)
    with optional_imports():  # a missing client names its extra
        reader: Reader = kind.open_reader(store)
    return reader
