"""The TinyDB and SQL stores a session asks for (``--sacred-tinydb``, ``--sacred-sql``).

The store modules are imported only when their option is given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Observer

if TYPE_CHECKING:
    from ..options import Options


def database_stores(options: Options) -> list[Observer]:
    """The TinyDB and SQL observers selected on the command line or in the ini file."""
    observers: list[Observer] = []
    if options.sql is not None:
        from .sql.writer import SqlObserver

        observers.append(SqlObserver(options.sql, lock_timeout=options.lock_timeout))
    if options.tinydb is not None:
        from .tinydb.writer import TinyDbObserver

        observers.append(TinyDbObserver(str(options.tinydb), lock_timeout=options.lock_timeout))
    return observers
