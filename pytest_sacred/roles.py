"""One object per kind of pytest-sacred process, holding the pytest hooks only that kind
needs, registered under its own name as pytest-xdist registers its ``dsession``.

Every process registers exactly one of these from ``plugin.pytest_configure``:

- ``sacred-controller`` (:class:`Controller`): a plain session, or an xdist controller
  (it hands its workers the seeds and takes their final rows); pytest's loop runs.
- ``sacred-xdist-worker`` (:class:`XdistWorker`): an xdist worker; it sends its rows to
  the controller, and stops with a usage error instead of raising it.
- ``sacred-launcher`` (:class:`Launcher`, ``--sacred-launcher``): submits the selected
  variants as a job array and follows it instead of running them.
- ``sacred-queue-worker`` (:class:`QueueWorker`, ``--sacred-run-queued``): claims and runs
  queued runs instead of pytest's loop.
- ``sacred-commands`` (:class:`Commands`, the print/save commands): reports on the
  selected experiments instead of running them.

A task of a job array (Slurm or local) also registers ``sacred-array-task``
(:class:`ArrayTask`, passed to ``pytest.main`` by :mod:`.launchers.task`): it gathers the
task's reports for the submitting session. Its session is a controller or a queue worker.

The hook methods only hand over to the modules doing the work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .launchers.task import TaskReports
    from .payloads import MetaInfo
    from .session import SacredSession

CONTROLLER = "sacred-controller"
XDIST_WORKER = "sacred-xdist-worker"
LAUNCHER = "sacred-launcher"
QUEUE_WORKER = "sacred-queue-worker"
COMMANDS = "sacred-commands"
ARRAY_TASK = "sacred-array-task"
#: the names of the roles :func:`register` chooses from, one per process
PROCESS_ROLES = (CONTROLLER, XDIST_WORKER, LAUNCHER, QUEUE_WORKER, COMMANDS)
#: the per-test hooks of a process that runs experiments (:class:`.runner.RunHooks`)
RUN_HOOKS = "sacred-run-hooks"
#: prefix of the stop message an xdist worker sends for a usage error
USAGE_STOP = "pytest-sacred usage error: "


def register(config: pytest.Config, state: SacredSession) -> None:
    """Register the role of this process, once its options are known (``pytest_configure``)."""
    launch = state.options.launch
    if hasattr(config, "workerinput"):
        role: _Role = XdistWorker(state)
    elif state.options.command:  # wins over the launch options (nothing runs)
        role = Commands(state)
    elif launch is not None and launch.launcher:
        role = Launcher(state)
    elif launch is not None and launch.run_queued:
        role = QueueWorker(state)
    else:
        role = Controller(state)
    config.pluginmanager.register(role, role.name)


class _Role:
    """What every process kind does: from its test loop on, SIGTERM stops the experiments
    as Ctrl-C does (:meth:`.session.SacredSession.catch_sigterm`)."""

    name = ""

    def __init__(self, state: SacredSession) -> None:
        self.state = state

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool | None:
        """pytest's loop (or xdist's) runs the variants."""
        self.state.catch_sigterm(session.config.pluginmanager.has_plugin(RUN_HOOKS))
        return None


class Controller(_Role):
    """A plain session, or an xdist controller: it runs no experiment under xdist; it
    hands its workers the session's seeds and takes each worker's final word on its runs
    for the summary."""

    name = CONTROLLER

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """The workers derive the seeds of groups from this session's root."""
        options = self.state.options
        node.workerinput["sacred_seeds"] = {"root": options.seed_root,
                                            "group": options.group_session}

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """A worker's final word on its runs (after its queues were done)."""
        result = getattr(node, "workeroutput", {}).get("sacred")
        if result:
            self.state.worker_results.append(result)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """A worker's usage error (:meth:`XdistWorker.stop`) reaches the controller as an
        interruption; it is repeated at the very end of the session."""
        message = str(excinfo.value)
        if USAGE_STOP in message:
            self.state.usage_error = message[message.index(USAGE_STOP):]


class XdistWorker(_Role):
    """An xdist worker: runs its share of the variants; the controller prints the summary
    and decides the exit code."""

    name = XDIST_WORKER

    def stop(self, session: pytest.Session, items: list[pytest.Item],
             error: pytest.UsageError) -> None:
        """A usage error found in the worker: raising it would be an INTERNALERROR in the
        controller. Run nothing and ask the controller to stop with the message instead."""
        items.clear()
        session.shouldstop = USAGE_STOP + str(error)

    @pytest.hookimpl(trylast=True)  # after plugin.pytest_sessionfinish closed the stores
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """The rows of this worker's runs, for the controller's summary and exit code."""
        session.config.workeroutput["sacred"] = self.state.final_rows()  # type: ignore[attr-defined]


class Launcher(_Role):
    """``--sacred-launcher``: the selected variants run as a Slurm or local job array."""

    name = LAUNCHER

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool | None:
        """Submit the tasks and follow them (:mod:`.launchers.array`); with no experiment
        selected, pytest's loop runs."""
        from . import launchers
        from .extras import missing_as_usage_error

        super().pytest_runtestloop(session)
        with missing_as_usage_error():
            return launchers.launch(session) or None


class QueueWorker(_Role):
    """``--sacred-run-queued``: claims queued runs from the store and runs them."""

    name = QUEUE_WORKER

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool | None:
        """Claim, run, repeat until the queue stays empty
        (:func:`.launchers.queued_runs.work`); with no experiment selected, pytest's loop
        runs."""
        from . import launchers
        from .extras import missing_as_usage_error

        super().pytest_runtestloop(session)
        with missing_as_usage_error():
            return launchers.work(session) or None


class Commands(_Role):
    """The print/save commands: they report on the selected experiments, as
    ``--collect-only`` does, and run nothing."""

    name = COMMANDS

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool | None:
        from . import commands
        from .extras import missing_as_usage_error

        with missing_as_usage_error():
            commands.run(self.state, session.config.get_terminal_writer().line)
        return True


class ArrayTask:
    """Inside a task of a job array: gathers the session's reports and the ids of the runs
    it starts (:class:`.launchers.task.TaskReports`), and in a requeued task resumes the
    runs its earlier time slot stopped (:func:`.launchers.task.resume_runs`)."""

    priority = -1000  # after every store: the run's id is known

    def __init__(self, reports: TaskReports, resume: dict[str, int]) -> None:
        self.reports = reports
        self.resume = resume
        # pytest.main(plugins=) registers a plugin under its __name__ (pluggy's
        # get_canonical_name): this role's documented name
        self.__name__ = ARRAY_TASK

    def pytest_configure(self, config: pytest.Config) -> None:
        self.reports.config = config

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.resume:
            from .launchers.task import resume_runs

            resume_runs(session, self.resume)

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.reports.current = nodeid

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.reports.add(report)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        self.reports.interrupted(excinfo.value)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        from .keys import STATE

        state = session.config.stash.get(STATE, None)
        self.reports.stopped_runs(state.interrupted_rows if state is not None else [])

    def pytest_sacred_started_event(self, run_id: int | None, meta_info: MetaInfo) -> None:
        self.reports.started(run_id, meta_info["pytest"]["nodeid"])
