"""The observers pytest-sacred ships, for registering from a ``conftest.py``.

The documented import path (``from pytest_sacred.observers import MongoObserver``): the
classes live in their store's package under :mod:`pytest_sacred.stores` (notifiers under
:mod:`pytest_sacred.notify`). Each is imported on first access, so naming one never loads
another's client library.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "Observer": "pytest_sacred.stores.base",
    "StoreError": "pytest_sacred.stores.base",
    "FileStorageObserver": "pytest_sacred.stores.file.writer",
    "MongoObserver": "pytest_sacred.stores.mongo.writer",
    "SqlObserver": "pytest_sacred.stores.sql.writer",
    "TinyDbObserver": "pytest_sacred.stores.tinydb.writer",
    "S3Observer": "pytest_sacred.stores.s3.writer",
    "GCSObserver": "pytest_sacred.stores.gcs.writer",
    "SlackNotifier": "pytest_sacred.notify.slack",
    "TelegramNotifier": "pytest_sacred.notify.telegram",
    "SacredObserver": "pytest_sacred.stores.sacred_adapter",
    "from_sacred": "pytest_sacred.stores.sacred_adapter",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
