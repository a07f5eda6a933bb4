"""Shared test set-up: pytester drives the plugin in a real pytest session per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

try:  # in-process pytester runs drop modules imported inside them; numpy cannot be re-imported
    import numpy  # noqa: F401
except ImportError:
    pass

pytest_plugins = ["pytester", "conftest_mongo", "stored_runs"]

#: seconds a test of this suite may take before pytest-timeout stops it
SUITE_TIMEOUT = 300


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """The suite's default timeout, set here rather than in pyproject.toml: an ini key there
    would make every session without pytest-timeout (the README's example run, with only
    the examples extra) warn "Unknown config option: timeout". --timeout, PYTEST_TIMEOUT
    and an ini ``timeout`` still win."""
    if (config.pluginmanager.hasplugin("timeout") and config.getoption("timeout") is None
            and not os.environ.get("PYTEST_TIMEOUT") and not config.getini("timeout")):
        config.option.timeout = SUITE_TIMEOUT


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
