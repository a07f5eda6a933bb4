"""Shared test set-up: pytester drives the plugin in a real pytest session per test."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from helpers import INNER_ADDOPTS, import_store_drivers

import_store_drivers()

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
    "report_store", "served", "browser",  # test_report.py: pytest sessions, serve, chromium
})

#: the repository whose tests/ this conftest belongs to
REPO = Path(__file__).resolve().parent.parent

#: xdist workers per core that run the suite by default (``-n`` given wins): two, because
#: half of a worker's time is spent waiting (on Slurm, a time limit, a server's outage, a
#: subprocess session) rather than computing: with one worker per core the suite kept one
#: of two cores busy
WORKERS_PER_CORE = 2
#: and never more than this many (each worker starts its own servers)
MAX_SUITE_WORKERS = 4

#: the modules whose tests wait longest on real time, slowest first: scheduled before the
#: rest, so that their waits overlap everything else instead of ending the run alone (xdist
#: would otherwise order modules by their number of tests, and these have few)
LONG_MODULES = ("test_slurm.py", "test_store_contract.py", "test_resume.py", "test_sql_store.py",
                "test_outages.py", "test_omniboard.py", "test_report.py", "test_cli.py",
                "test_launcher_local.py", "test_queue.py")

#: set by a suite run that started xdist workers by default, for its workers and every process
#: under them: no session below one that distributes the suite distributes again
DISTRIBUTED_ENV = "PYTEST_SACRED_SUITE_DISTRIBUTED"

#: set on the config of a session :func:`pytest_cmdline_main` distributed
_DISTRIBUTED = pytest.StashKey[bool]()

#: where a test not marked ``system`` that starts a subprocess is noted (see _audit)
_running: list[pytest.Item] = []
_SPAWNED = pytest.StashKey[list[str]]()


class SystemMarkMissing(pytest.PytestWarning):
    """A test started a subprocess without being marked ``system``: ``-m "not system"``
    would run it in the quick loop. Use a fixture of SYSTEM_FIXTURES or mark it."""


def _cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def suite_workers() -> int:
    """How many xdist workers run the whole suite on this machine."""
    return min(WORKERS_PER_CORE * _cores(), MAX_SUITE_WORKERS)


def why_serial(config: pytest.Config, environ: Mapping[str, str] = os.environ) -> str | None:
    """Why this session runs in one process, or None when it is a run of this suite that
    xdist distributes over :func:`suite_workers` workers by default.

    Every condition guards against workers starting workers: an xdist worker runs
    ``pytest_cmdline_main`` too (with ``-n`` reset), and a pytest started inside a test
    inherits the environment of the worker or controller that runs the test."""
    if not config.pluginmanager.hasplugin("xdist"):
        return "pytest-xdist is not installed or -p no:xdist was given"
    if hasattr(config, "workerinput") or "PYTEST_XDIST_WORKER" in environ:
        return "this process is an xdist worker or was started inside one"
    if DISTRIBUTED_ENV in environ:
        return "started inside a suite run that distributes its tests"
    if config.rootpath != REPO:
        return f"the rootdir {config.rootpath} is not the repository {REPO}"
    chosen = {(config.invocation_params.dir / arg.split("::")[0]).resolve() for arg in config.args}
    if chosen != {REPO / "tests"}:
        return "not the whole tests/ directory was given (-n 2 distributes a part too)"
    option = config.option
    if option.numprocesses is not None or option.dist != "no" or option.tx:
        return "-n, --dist or --tx was given"
    if option.collectonly or config.getoption("usepdb", False):
        return "--collect-only or --pdb was given"
    if _cores() < 2:
        return "this machine has one core"
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """The suite runs on :func:`suite_workers` xdist workers unless :func:`why_serial` says
    otherwise; ``-n 0`` runs it in one process, where it passes too. An initial conftest's
    tryfirst hook runs before xdist's, which turns the option into workers; an ini
    ``addopts`` would also distribute the README's example run.

    ``--dist loadfile``: a module's tests run in one worker, one after the other, so its
    module fixtures are made once (test_report.py's stores and browser) and what one module
    shares is never used from two workers at once (the one Slurm node of test_slurm.py,
    the npm install of test_omniboard.py). ``loadgroup`` would group by ``xdist_group``
    marks, but pytest-xdist 3.8 adds the group to ``item._nodeid``, which pytest 9.2 no
    longer reads: the groups were spread over the workers."""
    if why_serial(config) is None:
        config.option.numprocesses = suite_workers()
        config.option.dist = "loadfile"
        config.option.loadscopereorder = False  # LONG_MODULES first, then collection order
        os.environ[DISTRIBUTED_ENV] = "1"
        config.stash[_DISTRIBUTED] = True


def pytest_report_header(config: pytest.Config) -> str | None:
    """Says that the workers are the suite's default, and how to run it in one process."""
    if config.stash.get(_DISTRIBUTED, False):
        return (f"tests/conftest.py: {config.option.numprocesses} xdist workers, --dist "
                "loadfile, long modules first (-n 0 runs the suite in one process)")
    return None


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
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        # started with ``&`` from a non-interactive shell (nohup, CI scripts), which ignores
        # SIGINT: the sessions the tests start would inherit that, and the tests sending
        # them Ctrl-C would find it ignored. The workers xdist starts later inherit this.
        signal.signal(signal.SIGINT, signal.default_int_handler)


_audit_installed: list[bool] = []


def _audit(event: str, args: tuple) -> None:
    """Notes each subprocess a test not marked ``system`` starts (an audit hook stays for
    the process's life, so it only looks at ``_running``)."""
    if event == "subprocess.Popen" and _running:
        _running[-1].stash.setdefault(_SPAWNED, []).append(str(args[0]))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks ``system`` the tests using a fixture of SYSTEM_FIXTURES, before ``-m`` selects
    (so a new test gets the mark from its fixtures without anyone thinking of it), and puts
    the tests of :data:`LONG_MODULES` first, in that order (a stable sort: the rest keep
    their order, and every worker collects the same order, as xdist requires)."""
    for item in items:
        if SYSTEM_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.system)
    first = {name: rank for rank, name in enumerate(LONG_MODULES)}
    items.sort(key=lambda item: first.get(item.path.name, len(first))
               if item.path.parent == REPO / "tests" else len(first))


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
    monkeypatch.setenv("PYTEST_ADDOPTS", INNER_ADDOPTS)
