"""pytest hooks and option registration. Each hook hands over to the module doing the work.

Every pytest hook of pytest-sacred is here or on an object registered from here:

- one role object per process, registered in :func:`pytest_configure` under its name, as
  pytest-xdist registers its ``dsession`` (:mod:`.roles`): ``sacred-controller`` (a plain
  session or an xdist controller: the workers' seeds and final rows, a worker's usage
  error), ``sacred-xdist-worker`` (its rows sent to the controller, its usage error a
  stop), ``sacred-launcher`` (its ``pytest_runtestloop`` submits and follows a job array),
  ``sacred-queue-worker`` (its ``pytest_runtestloop`` claims and runs queued runs),
  ``sacred-commands`` (its ``pytest_runtestloop`` runs the print/save commands). The
  ``pytest_runtestloop`` of the others makes SIGTERM stop the experiments as Ctrl-C does.
- ``sacred-array-task`` (:class:`.roles.ArrayTask`): inside a task of a job array, the
  task's reports for the submitting session; passed to ``pytest.main(plugins=)`` by
  :mod:`.launchers.task`.
- ``sacred-session`` (:class:`.session.SacredSession`, every process): the seeds of a
  group as a parameter, store notices with the test reports.
- ``sacred-run-hooks`` (:class:`.runner.RunHooks`) and ``sacred-run-hooks-flush``
  (:class:`.runner.TerminalFlush`), registered after collection in a process that runs
  experiments (plain pytest, an xdist worker, a queue worker, a task): the per-test
  hooks that make each variant a run.
- the stores and notifiers (``sacred-<name>``, :mod:`.stores`, :mod:`.notify`):
  ``pytest_sacred_*`` hooks; the Slack/Telegram notifiers (:class:`.notify.base.Notifier`)
  also put their message on the test's report and in the terminal summary.
- ``sacred-fixtures`` (:mod:`.fixtures`): the fixtures.
"""

from __future__ import annotations

from typing import Any

import pytest

from .keys import NAMED_PARAM, STATE
from .roles import RUN_HOOKS, XDIST_WORKER
from .roles import register as register_role


def pytest_addoption(parser: pytest.Parser) -> None:
    from . import options

    options.register(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "experiment(name=None, logger=None, seeds=None): the test is a "
        "pytest-sacred experiment; each variant is a recorded run")
    config.addinivalue_line(
        "markers", "named_configs(*names): one variant of the experiment per named config")
    from . import fixtures
    from .extras import missing_as_usage_error
    from .session import SacredSession

    with missing_as_usage_error():  # a store's client library not installed
        state = SacredSession.from_config(config)
    if state.options.command and getattr(config.option, "dist", "no") != "no":
        # the commands report on the collection in this process, as --collect-only does
        config.option.dist, config.option.numprocesses = "no", 0
    config.pluginmanager.register(fixtures, "sacred-fixtures")
    config.pluginmanager.register(state, "sacred-session")
    register_role(config, state)  # the process's role object (roles.py)
    config.stash[STATE] = state


def pytest_plugin_registered(plugin: object, manager: pytest.PytestPluginManager) -> None:
    """A plugin registered after the session began (an observer in a conftest, a test...):
    its observer hooks get their isolation and Sacred's order now, once, not per event."""
    state = manager.get_plugin("sacred-session")
    if state is not None:
        state.events.isolate()


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None:
        return
    for observer in state.observers:
        config.pluginmanager.unregister(observer)
    if state.usage_error:
        # after pytest's summary line, so that the session cannot look like a success
        tw = config.get_terminal_writer()
        tw.line(f"ERROR: {state.usage_error}", red=True, bold=True)


def pytest_ignore_collect(collection_path: Any, config: pytest.Config) -> bool | None:
    """Never collect inside a store: ``_sources/`` holds copies of test modules, a run
    directory any artifact. The session's own stores are known; any other file store (of
    another rootdir, a copied baseline, one Sacred wrote) is recognised by its layout."""
    from .store_dirs import inside_file_store

    state = config.stash.get(STATE, None)
    if state is not None and collection_path in state.store_directories:
        return True
    return True if inside_file_store(collection_path) else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    from .resolve import closest_marker

    marker = closest_marker(metafunc.definition, "named_configs")
    if marker is not None:
        names = [str(n) for n in marker.args]
        # The parameter is ours, not the test's: add it to the closure so pytest accepts it.
        metafunc.fixturenames.append(NAMED_PARAM)
        metafunc.parametrize(NAMED_PARAM, names, ids=names)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """After selection (-k, -m): resolve the experiments' configs, check the command line."""
    from .extras import missing_as_usage_error

    state = config.stash[STATE]
    try:
        # stores open, launchers and baselines load here: their client libraries with them
        with missing_as_usage_error():
            launch = state.options.launches and not state.options.command
            if launch:
                from . import launchers

                launchers.prepare(config, items, state, before=True)
            state.prepare(items)
            if launch:
                launchers.prepare(config, items, state, before=False)
    except pytest.UsageError as exc:
        worker = config.pluginmanager.get_plugin(XDIST_WORKER)
        if worker is None:
            raise
        worker.stop(session, items, exc)  # raising would be an INTERNALERROR in the controller
        return
    if state.experiments and not state.options.command and not config.pluginmanager.has_plugin(
            RUN_HOOKS):
        from .runner import RunHooks, TerminalFlush

        config.pluginmanager.register(RunHooks(state), RUN_HOOKS)
        config.pluginmanager.register(TerminalFlush(), RUN_HOOKS + "-flush")


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE, None)
    if state is None:
        return
    state.close()  # then an xdist worker sends its rows (roles.XdistWorker)
    if state.usage_error:
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
    else:
        session.exitstatus = state.exit_status(session.exitstatus)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None:
        return
    from .summary import write_summary

    write_summary(terminalreporter, state)
