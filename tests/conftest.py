"""Shared test set-up: pytester drives the plugin in a real pytest session per test."""

from __future__ import annotations

from pathlib import Path

import pytest

try:  # in-process pytester runs drop modules imported inside them; numpy cannot be re-imported
    import numpy  # noqa: F401
except ImportError:
    pass

pytest_plugins = ["pytester", "conftest_mongo", "stored_runs"]


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
