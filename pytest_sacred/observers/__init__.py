"""The observers pytest-sacred ships, for registering from a ``conftest.py``.

Each is imported on first access, so naming one never loads another's client library.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "Observer": "base",
    "StoreError": "base",
    "FileStorageObserver": "file_storage",
    "MongoObserver": "mongo",
    "SqlObserver": "sql",
    "TinyDbObserver": "tinydb_store",
    "SacredObserver": "sacred_adapter",
    "from_sacred": "sacred_adapter",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
