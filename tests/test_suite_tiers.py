"""The suite's quick tier: ``system`` is set from the fixtures a test uses (tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def test_a_test_using_pytester_is_marked_system(pytester: pytest.Pytester,
                                                 request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("system") is not None


@pytest.fixture
def through_another_fixture(pytester: pytest.Pytester) -> pytest.Pytester:
    return pytester


def test_a_fixture_using_pytester_marks_its_tests_system(
        through_another_fixture: pytest.Pytester, request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("system") is not None


def test_a_plain_test_is_not_marked(tmp_path, request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("system") is None


# -- the suite on xdist workers by default (tests/conftest.py's pytest_cmdline_main) -------------

try:
    from .conftest import DISTRIBUTED_ENV, LONG_MODULES, REPO, suite_workers, why_serial
except ImportError:
    from conftest import DISTRIBUTED_ENV, LONG_MODULES, REPO, suite_workers, why_serial


def test_a_test_runs_where_nothing_more_is_distributed(request: pytest.FixtureRequest) -> None:
    """Wherever a test of the suite runs (one process, or an xdist worker), the session has
    a reason not to start workers: a worker starting workers is the fork bomb the guard
    prevents. The end-to-end test below runs this one in a worker."""
    config = request.config
    assert why_serial(config) is not None
    if hasattr(config, "workerinput"):
        assert config.option.dist == "no" and not config.pluginmanager.has_plugin("dsession")


def test_why_serial_names_each_reason(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist", reason="pytest-xdist is not installed (extra 'test')")

    def suite(*args: str) -> pytest.Config:
        """A session over the whole tests/ directory, as the README runs it, plus args."""
        return pytester.parseconfig("--rootdir", str(REPO), str(REPO / "tests"), *args)

    assert why_serial(suite(), {}) is None
    assert "worker" in why_serial(suite(), {"PYTEST_XDIST_WORKER": "gw0"})
    assert "inside a suite run" in why_serial(suite(), {DISTRIBUTED_ENV: "1"})
    assert "-n" in why_serial(suite("-n", "0"), {})
    assert "-n" in why_serial(suite("--dist", "load"), {})
    assert "-p no:xdist" in why_serial(suite("-p", "no:xdist"), {})
    assert "--collect-only" in why_serial(suite("--collect-only"), {})
    assert "--pdb" in why_serial(suite("--pdb"), {})
    part = pytester.parseconfig("--rootdir", str(REPO), str(REPO / "tests" / "test_core.py"))
    assert "whole tests/" in why_serial(part, {})
    elsewhere = pytester.parseconfig("--rootdir", str(pytester.path), str(REPO / "tests"))
    assert "rootdir" in why_serial(elsewhere, {})


def test_the_long_modules_are_collected_first(request: pytest.FixtureRequest) -> None:
    """Every module named in LONG_MODULES exists (a renamed one would silently lose its
    early start), and a session over tests/ collects their tests first, in that order."""
    assert [name for name in LONG_MODULES if not (REPO / "tests" / name).is_file()] == []
    assert len(set(LONG_MODULES)) == len(LONG_MODULES)
    modules = [item.path.name for item in request.session.items]
    ranks = [LONG_MODULES.index(name) if name in LONG_MODULES else len(LONG_MODULES)
             for name in modules]
    assert ranks == sorted(ranks), modules


@pytest.mark.system  # a pytest session with xdist workers, in subprocesses
def test_the_suite_runs_on_workers_that_start_none(tmp_path: Path) -> None:
    """The README's command (here one test of the suite) runs on :func:`suite_workers`
    workers, and the workers run their tests rather than starting workers of their own."""
    pytest.importorskip("xdist", reason="pytest-xdist is not installed (extra 'test')")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST_")
           and k not in (DISTRIBUTED_ENV, "PYTEST_ADDOPTS")}
    # the whole tests/ directory, as the README gives it, collecting this module only
    only_this_module = ["--ignore-glob=tests/test_[a-rt-z]*.py",
                        "--ignore-glob=tests/test_s[a-tv-z]*.py"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/", *only_this_module, "-p", "no:cacheprovider",
         "-k", "test_a_test_runs_where_nothing_more_is_distributed",
         "--basetemp", str(tmp_path / "basetemp")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    workers = suite_workers()
    assert f"created: {workers}/{workers} workers" in done.stdout, done.stdout
    assert f"{workers} xdist workers, --dist loadfile, long modules first (-n 0 runs" \
        in done.stdout, done.stdout
    assert "1 passed" in done.stdout, done.stdout
