"""Shared test set-up: pytester drives the plugin in a real pytest session per test."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

try:  # in-process pytester runs drop modules imported inside them; numpy cannot be re-imported
    import numpy  # noqa: F401
except ImportError:
    pass

pytest_plugins = ["pytester", "conftest_mongo", "stored_runs", "stores_under_test"]

#: seconds a test of this suite may take before pytest-timeout stops it
SUITE_TIMEOUT = 300

#: fixtures that start a server, a pytest session or other processes: a test using any of
#: them (directly or through another fixture) is marked ``system``
SYSTEM_FIXTURES = frozenset({
    "pytester",  # an inner pytest session, in this process or a subprocess
    "mongo_server", "mongo_auth_server", "durable_server",  # secantusdb subprocesses
    "file_stores", "mongo_stores",  # stores written by pytest and Sacred subprocesses
    "moto", "gcs", "omniboard_bin",  # S3, GCS and Omniboard servers
    "store_under_test",  # a store of every kind (stores_under_test.py)
    "new_url", "postgres_url",  # the machine's PostgreSQL and MariaDB
})

#: where a test not marked ``system`` that starts a subprocess is noted (see _audit)
_running: list[pytest.Item] = []
_SPAWNED = pytest.StashKey[list[str]]()


class SystemMarkMissing(pytest.PytestWarning):
    """A test started a subprocess without being marked ``system``: ``-m "not system"``
    would run it in the quick loop. Use a fixture of SYSTEM_FIXTURES or mark it."""


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """The suite's default timeout, set here rather than in pyproject.toml: an ini key there
    would make every session without pytest-timeout (the README's example run, with only
    the examples extra) warn "Unknown config option: timeout". --timeout, PYTEST_TIMEOUT
    and an ini ``timeout`` still win."""
    if (config.pluginmanager.hasplugin("timeout") and config.getoption("timeout") is None
            and not os.environ.get("PYTEST_TIMEOUT") and not config.getini("timeout")):
        config.option.timeout = SUITE_TIMEOUT
    config.addinivalue_line(
        "markers", "system: the test starts a server, Slurm job, pytest session or other "
        "subprocess; set by tests/conftest.py from the fixtures a test uses. "
        "-m 'not system' is the quick loop")
    if not _audit_installed:
        sys.addaudithook(_audit)
        _audit_installed.append(True)


_audit_installed: list[bool] = []


def _audit(event: str, args: tuple) -> None:
    """Notes each subprocess a test not marked ``system`` starts (an audit hook stays for
    the process's life, so it only looks at ``_running``)."""
    if event == "subprocess.Popen" and _running:
        _running[-1].stash.setdefault(_SPAWNED, []).append(str(args[0]))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks ``system`` the tests using a fixture of SYSTEM_FIXTURES, before ``-m`` selects
    (so a new test gets the mark from its fixtures without anyone thinking of it)."""
    for item in items:
        if SYSTEM_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.system)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> object:
    watched = item.get_closest_marker("system") is None
    if watched:
        _running.append(item)
    try:
        return (yield)
    finally:
        if watched:
            _running.remove(item)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    spawned = item.stash.get(_SPAWNED, [])
    if spawned:
        item.warn(SystemMarkMissing(
            f"{item.nodeid} started {len(spawned)} subprocess(es) ({spawned[0]}, ...) but is "
            "not marked system: mark it (pytestmark = pytest.mark.system) or use a fixture "
            "of SYSTEM_FIXTURES in tests/conftest.py"))


@pytest.fixture
def runs_dir(pytester: pytest.Pytester) -> Path:
    """Where the default file store of the pytester session writes."""
    return pytester.path / "runs"


@pytest.fixture(autouse=True)
def _quiet_inner_sessions(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner pytest sessions skip unrelated plugins installed on the machine (hypothesis'
    terminal summary alone costs a second per session). Set after pytester, which clears
    PYTEST_ADDOPTS when it starts."""
    if "pytester" not in request.fixturenames:
        return
    request.getfixturevalue("pytester")
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest -p no:benchmark -p no:randomly")
