"""Which observers a session gets, from its command line and ini file.

Each store module is imported only when its option is given, so a store's client library
is needed only by those who use it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .observers.base import Observer


def _option(config: pytest.Config, name: str):
    """Command line first, then the ini key of the same name."""
    value = config.getoption(name)
    if value in (None, "", []):
        value = config.getini(name)
    return value or None


def build_observers(config: pytest.Config) -> list[Observer]:
    """The shipped observers selected for this session (none with ``--sacred-unobserved``).

    The file store is the default: it is used when given explicitly or when no other
    store is selected. ``--sacred-observer`` adds observers that feed other tools (a
    Sacred observer such as neptune-sacred's) without displacing the default store.
    """
    if config.getoption("sacred_unobserved"):
        return []
    observers: list[Observer] = []

    mongo = _option(config, "sacred_mongo")
    if mongo:
        from .observers.mongo import MongoObserver

        observers.append(
            MongoObserver.from_option(mongo, collection=_option(config, "sacred_mongo_collection"))
        )

    from .observers.database_stores import database_stores

    observers += database_stores(config)

    file_dir = config.getoption("sacred_file_storage")
    if file_dir is None:
        ini = config.getini("sacred_file_storage")
        if ini:
            file_dir = Path(config.inipath.parent if config.inipath else config.rootpath) / ini
    if file_dir is not None or not observers:
        from .observers.file_storage import FileStorageObserver

        observers.append(FileStorageObserver(file_dir or config.rootpath / "runs"))
    if config.getoption("sacred_observer"):
        # after the default store is settled: these feed other tools and store no ids
        from .observers.sacred_adapter import from_spec

        observers += [from_spec(spec) for spec in config.getoption("sacred_observer")]
    return observers
