"""pytest hooks and option registration. Each hook hands over to the module doing the work.

The other pytest hooks of pytest-sacred are on objects registered from here, each for the
processes that need it:

- ``sacred-session`` (:class:`.session.SacredSession`, every process): the seeds of a
  group as a parameter, store notices with the test reports, a worker's usage error.
- ``sacred-xdist`` (:class:`.session.XdistController`, the xdist controller): the
  workers' seeds, and each worker's final word on its runs.
- ``sacred-run-hooks`` (:class:`.runner.RunHooks`) and ``sacred-run-hooks-flush``
  (:class:`.runner.TerminalFlush`), registered after collection in a process that runs
  experiments (plain pytest, an xdist worker, a queue worker, a Slurm task): the per-test
  hooks that make each variant a run.
- the stores and notifiers (``sacred-<name>``, :mod:`.stores`): ``pytest_sacred_*``
  hooks; the Slack/Telegram notifiers also put their message on the test's report.
- a Slurm task's own session gets its report collector through ``pytest.main(plugins=)``
  (:mod:`.launchers.task`).
"""

from __future__ import annotations

from typing import Any

import pytest

from .keys import NAMED_PARAM, STATE

_HOOKS = "sacred-run-hooks"
#: prefix of the stop message an xdist worker sends for a usage error
USAGE_STOP = "pytest-sacred usage error: "


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
    if getattr(config.option, "dist", "no") != "no" and not hasattr(config, "workerinput"):
        from .session import XdistController

        config.pluginmanager.register(XdistController(state), "sacred-xdist")
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
        if not hasattr(config, "workerinput"):
            raise
        # An xdist worker: raising would be an INTERNALERROR in the controller. Run nothing
        # and ask the controller to stop with the message instead.
        items.clear()
        session.shouldstop = USAGE_STOP + str(exc)
        return
    if state.experiments and not state.options.command and not config.pluginmanager.has_plugin(
            _HOOKS):
        from .runner import RunHooks, TerminalFlush

        config.pluginmanager.register(RunHooks(state), _HOOKS)
        config.pluginmanager.register(TerminalFlush(), _HOOKS + "-flush")


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    """The print/save commands report on the selected experiments instead of running them;
    a launcher or a queue worker runs the variants its own way; otherwise pytest's loop runs
    them. From here on SIGTERM stops the experiments as Ctrl-C does."""
    from .extras import missing_as_usage_error

    state = session.config.stash[STATE]
    with missing_as_usage_error():
        if not state.options.command:
            state.catch_sigterm(session.config.pluginmanager.has_plugin(_HOOKS))
            if state.options.launches:  # a launcher or a queue worker runs the variants
                from . import launchers

                return launchers.run(session) or None
            return None
        from . import commands

        commands.run(state, session.config.get_terminal_writer().line)
    return True


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE, None)
    if state is None:
        return
    state.close()
    if hasattr(session.config, "workeroutput"):  # xdist: the controller decides the code
        session.config.workeroutput["sacred"] = state.final_rows()
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
