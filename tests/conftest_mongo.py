"""Fixtures for tests that need a real MongoDB server (a pytest plugin module).

One ``secantusd-py`` per test session, a fresh database per test. Tests using these skip
when pymongo or secantusdb is not installed.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterator

import pytest

try:
    from .mongo_server import AuthServer, MongoServer, start_auth_server, start_server
except ImportError:  # loaded as a top-level module (tests/ on sys.path, no __init__.py)
    from mongo_server import AuthServer, MongoServer, start_auth_server, start_server

_db_numbers = itertools.count(1)


def _require_tools() -> None:
    pytest.importorskip("pymongo")
    pytest.importorskip("secantus", reason="secantusdb is not installed (test extra)")


@pytest.fixture(scope="session")
def mongo_server() -> Iterator[MongoServer]:
    """A MongoDB-compatible server on 127.0.0.1 for the whole session (``.host``,
    ``.port``, ``.url``, ``.client()``)."""
    _require_tools()
    server = start_server(":memory:")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def mongo_db_name(mongo_server: MongoServer) -> Iterator[str]:
    """A database name no other test uses (dropped afterwards)."""
    name = f"t{os.getpid()}_{next(_db_numbers)}_{secrets.token_hex(3)}"
    yield name
    with mongo_server.client() as client:
        client.drop_database(name)


@pytest.fixture(scope="session")
def mongo_auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    """A second server that requires a login (user ``alice`` in ``admin``), started only
    by the tests that ask for it."""
    _require_tools()
    auth = start_auth_server(tmp_path_factory.mktemp("secantus-auth"), "alice",
                             "S3cr3t-" + secrets.token_hex(4))
    try:
        yield auth
    finally:
        auth.server.stop()
