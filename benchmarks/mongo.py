"""A MongoDB-wire test server (SecantusDB's ``secantusd-py``) for the Mongo rows.

The test suite's ``tests/mongo_server.py`` starts and stops it; this module only loads
that helper (the benchmarks do not run from the tests folder) and adds what the rows need.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness import load_tests_module


@dataclass
class Server:
    host: str
    port: int
    stop: Callable[[], None]

    @property
    def url(self) -> str:
        return f"mongodb://{self.host}:{self.port}/"

    def option(self, db: str) -> str:
        """The ``--sacred-mongo`` value for database ``db``."""
        return f"{self.host}:{self.port}:{db}"


def missing() -> str | None:
    """Why the Mongo rows cannot run, or None."""
    if importlib.util.find_spec("pymongo") is None:
        return "pymongo is not installed (pip install -e '.[mongo]')"
    try:
        _test_helper()._executable()
    except RuntimeError as exc:  # names the package to install
        return str(exc)
    return None


def _test_helper() -> Any:
    return load_tests_module("mongo_server.py")


def start() -> Server:
    server = _test_helper().start_server(":memory:")
    return Server(server.host, server.port, server.stop)


def count_runs(server: Server, db: str, collection: str = "runs") -> int:
    import pymongo

    with pymongo.MongoClient(server.host, server.port, serverSelectionTimeoutMS=5000) as client:
        return client[db][collection].count_documents({})
