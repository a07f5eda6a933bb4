"""Which observers a session gets, from its options.

Each store module is imported only when its option is given, so a store's client library
is needed only by those who use it.
"""

from __future__ import annotations

from pathlib import Path

from ..options import Options
from .base import Observer


def build_observers(options: Options, rootpath: Path) -> list[Observer]:
    """The shipped observers selected for this session (none with ``--sacred-unobserved``).

    The file store is the default: it is used when given explicitly or when no other
    store is selected. ``--sacred-observer`` adds observers that feed other tools (a
    Sacred observer such as neptune-sacred's) without displacing the default store.
    """
    if options.unobserved:
        return []
    observers: list[Observer] = []
    if options.mongo:
        from .mongo.writer import MongoObserver

        observers.append(MongoObserver.from_option(options.mongo,
                                                   collection=options.mongo_collection))
    from . import remote

    observers += remote.object_stores(options)
    if options.tinydb is not None or options.sql is not None:
        from .database_stores import database_stores

        observers += database_stores(options)
    if options.file_storage is not None or not observers:
        from .file.writer import FileStorageObserver

        observers.append(FileStorageObserver(options.file_storage or rootpath / "runs"))
    observers += remote.notifiers(options)  # they store nothing: after the default store
    if options.observers:
        # after the default store is settled: these feed other tools and store no ids
        from .sacred_adapter import from_spec

        observers += [from_spec(spec) for spec in options.observers]
    return observers
