"""pytest hooks and options. Each hook hands over to the module doing the work."""

from __future__ import annotations

import argparse
from collections.abc import Generator
from typing import Any

import pytest

from .keys import NAMED_PARAM, RUN_KEY, SPEC_KEY, STATE
_HOOKS = "sacred-experiment-hooks"


def launchers_wanted(config: pytest.Config) -> bool:
    """Issue 13: a launcher, queue worker or re-run (cheap; the package loads only then)."""
    option = config.option
    return bool(option.sacred_launcher or option.sacred_run_queued or option.sacred_queue
                or option.sacred_rerun is not None or option.sacred_worker_idle is not None
                or option.sacred_requeue_dead
                or any(v is not None and v is not False for k, v in vars(option).items()
                       if k.startswith("sacred_slurm_")))
_COMMANDS = ("sacred_print_config", "sacred_save_config", "sacred_print_named_configs",
             "sacred_print_dependencies")


def _run_id(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a run id; ids are integers from 1")
    return int(value)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sacred", "experiment tracking (pytest-sacred)")
    add = group.addoption
    add("--sacred-with", action="append", metavar="KEY=VALUE",
        help="set a config entry (repeatable; nested: optimizer.lr=0.01; values are Python "
             "literals, else strings)")
    add("--sacred-named-config", action="append", metavar="NAME",
        help="apply a named config, or a .json/.yaml file of entries, to every experiment "
             "(repeatable, applied in order)")
    add("--sacred-seed", type=int, metavar="N", help="root seed of every run")
    add("--sacred-name", metavar="NAME", help="experiment name recorded for the runs")
    add("--sacred-comment", metavar="TEXT", help="comment stored in meta.comment")
    add("--sacred-id", type=_run_id, metavar="ID", help="id of the (single) run")
    add("--sacred-priority", type=float, metavar="N", help="stored in meta.priority")
    add("--sacred-queue", action="store_true",
        help="record the selected runs as QUEUED instead of running them")
    add("--sacred-enforce-clean", action="store_true",
        help="refuse to run when the experiments' git repository has uncommitted changes")
    add("--sacred-heartbeat", type=float, metavar="SECONDS",
        help="seconds between heartbeats (default 10; 0 or less: only the final beat)")
    add("--sacred-print-config", action="store_true",
        help="print each selected run's config with docs and changes; run nothing")
    add("--sacred-save-config", metavar="FILE",
        help="save the selected run's config to a .json/.yaml file; run nothing")
    add("--sacred-print-named-configs", action="store_true",
        help="list the named configs visible to the selected experiments; run nothing")
    add("--sacred-print-dependencies", action="store_true",
        help="print the selected experiments' packages, sources and repositories; run nothing")
    add("--sacred-capture-env", metavar="NAME,...",
        help="environment variables to record in host.ENV")
    add("--sacred-file-storage", metavar="DIR",
        help="store runs in DIR in Sacred's FileStorage layout (default: runs/ at the rootdir)")
    add("--sacred-unobserved", action="store_true", help="store nothing")
    add("--sacred-mongo", metavar="DB|HOST:PORT:DB|URL",
        help="store runs in MongoDB (Sacred's layout: Omniboard and Incense read it)")
    add("--sacred-mongo-collection", metavar="NAME", help="runs collection (default: runs)")
    add("--sacred-observer", action="append", metavar="MODULE:FACTORY",
        help="also send events to the observer FACTORY() returns: a Sacred observer "
             "(e.g. neptune-sacred's) or a pytest-sacred one; repeatable")
    # -- cluster sweeps, queue, re-runs (issue 13; read in pytest_sacred/launchers/options.py)
    add("--sacred-launcher", choices=("slurm", "local"),
        help="run the selected variants as one submitit job array instead of in this "
             "session: 'slurm' (needs sinfo/sbatch) or 'local' (submitit's local executor)")
    add("--sacred-slurm-partition", metavar="NAME", help="Slurm partition of the array")
    add("--sacred-slurm-time", metavar="MIN|[D-]HH:MM[:SS]", help="time limit of each task")
    add("--sacred-slurm-cpus", metavar="N", help="CPUs per task")
    add("--sacred-slurm-gpus", metavar="N", help="GPUs per task")
    add("--sacred-slurm-mem", metavar="SIZE", help="memory per task, e.g. 4G or 500M")
    add("--sacred-slurm-array-parallelism", metavar="N",
        help="at most N array tasks run at once")
    add("--sacred-slurm-chunk", metavar="N", help="variants per array task (default 1)")
    add("--sacred-slurm-workers", metavar="N",
        help="with --sacred-run-queued: how many worker tasks to start (default 2)")
    add("--sacred-slurm-config", metavar="FILE.yaml",
        help="Slurm parameters from a YAML file (keys: partition, time, cpus, gpus, mem, "
             "array_parallelism, chunk, workers, folder); options given override it")
    add("--sacred-slurm-folder", metavar="DIR",
        help="submitit's folder for pickles and task logs, on a path every node sees "
             "(default: slurm-logs/ at the rootdir)")
    add("--sacred-slurm-cancel-on-interrupt", action="store_true",
        help="Ctrl-C cancels the array without asking")
    add("--sacred-run-queued", action="store_true",
        help="be a worker: claim QUEUED runs of the collected experiments one at a time and "
             "run each with its stored config and seed (MongoDB or SQL store)")
    add("--sacred-worker-idle", type=float, metavar="SECONDS",
        help="a worker waits this long for more queued runs before it stops (default 0)")
    add("--sacred-requeue-dead", action="store_true",
        help="with --sacred-run-queued: first put runs shown DIED? back in the queue")
    add("--sacred-rerun", type=_run_id, metavar="ID",
        help="run stored run ID again with its stored config and seed, as a new run "
             "(meta.rerun_of); warns when sources, dependencies or the commit changed")
    add("--sacred-rerun-from", metavar="STORE",
        help="the store to read --sacred-rerun's run from (default: the session's store)")
    # -- TinyDB and SQL stores (issue 11; read in observers/database_stores.py) --
    add("--sacred-tinydb", metavar="DIR",
        help="store runs in DIR as Sacred's TinyDbObserver does (metadata.json + hashfs/; "
             "Sacred's TinyDbReader reads it)")
    add("--sacred-sql", metavar="URL",
        help="store runs in Sacred's SqlObserver tables at an SQLAlchemy URL "
             "(sqlite:///runs.db, postgresql://user@host/db, mysql+pymysql://...)")
    add("--sacred-lock-timeout", metavar="SECONDS",
        help="how long the TinyDB and SQLite stores wait for a lock another process holds "
             "(default 30)")
    parser.addini("sacred_tinydb", "TinyDB store directory, relative to the ini file")
    parser.addini("sacred_sql", "SQL store: an SQLAlchemy URL")
    parser.addini("sacred_lock_timeout", "seconds to wait for a TinyDB/SQLite lock (default 30)")
    parser.addini("sacred_file_storage", "directory of the file store, relative to the ini file")
    parser.addini("sacred_mongo", "MongoDB store: DB, HOST:PORT:DB or a mongodb:// URL")
    parser.addini("sacred_mongo_collection", "MongoDB runs collection")
    parser.addini("sacred_heartbeat", "seconds between heartbeats (default 10)")


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if any(getattr(config.option, c) for c in _COMMANDS) and getattr(config.option, "dist", "no") != "no":
        # the commands report on the collection in this process, as --collect-only does
        config.option.dist, config.option.numprocesses = "no", 0
    config.addinivalue_line(
        "markers", "experiment(name=None): the test is a pytest-sacred experiment; each "
        "variant is a recorded run")
    config.addinivalue_line(
        "markers", "named_configs(*names): one variant of the experiment per named config")
    from . import fixtures
    from .session import SacredSession

    config.pluginmanager.register(fixtures, "sacred-fixtures")
    config.stash[STATE] = SacredSession.from_config(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None:
        for observer in state.observers:
            config.pluginmanager.unregister(observer)


def pytest_ignore_collect(collection_path, config: pytest.Config) -> bool | None:
    """Never collect inside a file store: ``_sources/`` holds copies of test modules."""
    state = config.stash.get(STATE, None)
    if state is not None and collection_path in state.store_directories:
        return True
    return None


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
    state = config.stash[STATE]
    commands = any(getattr(config.option, c) for c in _COMMANDS)
    try:
        launch = not commands and launchers_wanted(config)  # issue 13 call site
        if launch:
            from . import launchers

            launchers.prepare(config, items, state, before=True)
        state.prepare(items, open_stores=not commands)
        if launch:
            launchers.prepare(config, items, state, before=False)
    except pytest.UsageError as exc:
        if not hasattr(config, "workerinput"):
            raise
        # An xdist worker: raising would be an INTERNALERROR in the controller. Run nothing
        # and ask the controller to stop with the message instead.
        items.clear()
        session.shouldstop = f"pytest-sacred usage error: {exc}"
        return
    if state.experiments and not commands and not config.pluginmanager.has_plugin(_HOOKS):
        config.pluginmanager.register(ExperimentHooks(), _HOOKS)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    """The print/save commands report on the selected experiments instead of running them."""
    option = session.config.option
    if not any(getattr(option, c) for c in _COMMANDS):
        if launchers_wanted(session.config):  # issue 13 call site: launcher or queue worker
            from . import launchers

            return launchers.run(session) or None
        return None
    from . import commands

    state = session.config.stash[STATE]
    tw = session.config.get_terminal_writer()
    write = tw.line
    if option.sacred_print_config:
        commands.print_config(state.experiments, write)
    if option.sacred_print_named_configs:
        commands.print_named_configs(state.experiments, write)
    if option.sacred_print_dependencies:
        infos = {id(i.module): state.runner.experiment_info(i, i.stash[SPEC_KEY].experiment)
                 for i in state.experiments}
        commands.print_dependencies(list(infos.values()), write)
    if option.sacred_save_config:
        write(commands.save_config(state.experiments, option.sacred_save_config))
    return True


class ExperimentHooks:
    """The per-test hooks, registered only once experiments are selected: a suite without
    any pays nothing per test. Ordinary tests in a mixed suite pass through at the cost of
    one stash lookup per hook."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Before any fixture: the run exists and the global generators are seeded."""
        spec = item.stash.get(SPEC_KEY, None)
        if spec is not None:
            from .decorators import set_capture_values
            from .seeding import seed_globals

            state = item.config.stash[STATE]
            run = item.stash[RUN_KEY] = state.runner.create(item, spec)
            if item.config.option.sacred_queue:
                state.runner.queue(run)
                pytest.skip(f"queued as run {run._id}")
            seed_globals(spec.seed)
            set_capture_values(run)

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        """Call an experiment ourselves: its return value is the run's result, not a warning."""
        run = pyfuncitem.stash.get(RUN_KEY, None)
        if run is None:
            return None
        funcargs = pyfuncitem.funcargs
        result = pyfuncitem.obj(**{a: funcargs[a] for a in pyfuncitem._fixtureinfo.argnames})
        if result is not None:
            run.result = result
        return True

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        # tryfirst makes this the outermost wrapper: pytest's capture has stored the call's
        # output in the item's report sections by the time the body's outcome reaches us.
        run = item.stash.get(RUN_KEY, None)
        if run is None:
            return (yield)
        state = item.config.stash[STATE]
        runner = state.runner
        run._sections = list(item._report_sections)
        runner.start(run)
        try:
            result = yield
        except BaseException as exc:
            runner.finish(run, item, exc, item._report_sections)
            if isinstance(exc, KeyboardInterrupt):  # no report will carry this run's row
                state.interrupted_rows.append(state.summary_row(item, run))
            raise
        runner.finish(run, item, None, item._report_sections)
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Generator:
        report = yield
        run = item.stash.get(RUN_KEY, None)
        if run is None:
            return report
        state = item.config.stash[STATE]
        if call.when == "setup" and report.failed and run.status is None:
            # a fixture failed before the body: the run failed too
            state.runner.start(run)
            state.runner.finish(run, item, call.excinfo.value if call.excinfo else None,
                                item._report_sections,
                                trace=report.longreprtext.splitlines(keepends=True))
        if call.when == "call" or (call.when == "setup" and (report.failed or run.status == "QUEUED")):
            report.sacred_run = state.summary_row(item, run)  # xdist sends it to the controller
        return report

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, None, None]:
        try:
            return (yield)
        finally:
            if item.stash.get(RUN_KEY, None) is not None:
                from .decorators import set_capture_values

                set_capture_values(None)
                del item.stash[RUN_KEY]


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE, None)
    if state is not None:
        state.close()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None:
        return
    from .summary import write_table

    # reports from xdist workers carry their rows too
    rows = [r.sacred_run for reports in terminalreporter.stats.values() for r in reports
            if getattr(r, "sacred_run", None)] + state.interrupted_rows
    if rows:
        rows.sort(key=lambda r: (r["id"] is None, r["id"] or 0))
        terminalreporter.section("pytest-sacred runs")
        write_table(rows, terminalreporter.write_line)
    errors = [e for r in rows for e in r["errors"]] or [e.describe() for e in state.events.errors]
    if errors:
        terminalreporter.section("pytest-sacred observer errors", red=True)
        for line in dict.fromkeys(errors):
            terminalreporter.write_line(line, red=True)
