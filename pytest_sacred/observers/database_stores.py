"""The TinyDB and SQL stores a session asks for (``--sacred-tinydb``, ``--sacred-sql``).

The one place their options and ini keys are read; the store modules are imported only
when their option is given.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .base import DEFAULT_LOCK_TIMEOUT, Observer, StoreError


def _value(config: pytest.Config, name: str) -> str | None:
    value = config.getoption(name)
    return value if value not in (None, "") else (config.getini(name) or None)


def lock_timeout(config: pytest.Config) -> float:
    """``--sacred-lock-timeout`` (or ini ``sacred_lock_timeout``), default 30 s."""
    value = _value(config, "sacred_lock_timeout")
    if value is None:
        return DEFAULT_LOCK_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise StoreError(f"sacred_lock_timeout = {value!r} is not a number of seconds >= 0 "
                         "(e.g. 30)")
    return seconds


def database_stores(config: pytest.Config) -> list[Observer]:
    """The TinyDB and SQL observers selected on the command line or in the ini file."""
    observers: list[Observer] = []
    tinydb = config.getoption("sacred_tinydb")
    if tinydb is None and config.getini("sacred_tinydb"):
        base = config.inipath.parent if config.inipath else config.rootpath
        tinydb = str(Path(base) / config.getini("sacred_tinydb"))
    sql = _value(config, "sacred_sql")
    if tinydb is None and sql is None:
        return observers
    timeout = lock_timeout(config)
    if sql is not None:
        from .sql import SqlObserver

        observers.append(SqlObserver(sql, lock_timeout=timeout))
    if tinydb is not None:
        from .tinydb_store import TinyDbObserver

        observers.append(TinyDbObserver(tinydb, lock_timeout=timeout))
    return observers
