"""Submit the selected variants as one job array and follow it to the end (both executors).

The submitting session replaces its test loop with :func:`launch`: it builds each task's
``pytest`` command line from its own, submits them with ``map_array``, prints progress,
and turns each task's outcomes into test reports (so the terminal, the summary table and
the exit code work as for a local session).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import pytest

from ..keys import SPEC_KEY
from ..session import short_path as _short
from .options import LaunchOptions
from .task import RUNS_FILE, Outcome, Requeueing, TaskResult, run_pytest

_OutcomeName = Literal["passed", "failed", "skipped"]

#: options that configure the launch itself and are not passed on to the tasks
_LAUNCH_DESTS = ("sacred_launcher", "sacred_run_queued", "sacred_worker_idle",
                 "sacred_requeue_dead")
#: pytest options passed on with their value, so that tasks collect as this session did
_FORWARDED = ("-p", "-o", "-c", "--confcutdir", "--import-mode", "--override-ini")

#: Slurm job states whose task's runs were stopped from outside, and how the run ends
_KILLED = {"CANCELLED": "INTERRUPTED", "TIMEOUT": "TIMEOUT", "PREEMPTED": "INTERRUPTED",
           "DEADLINE": "TIMEOUT", "OUT_OF_MEMORY": "FAILED", "NODE_FAIL": "FAILED",
           "BOOT_FAIL": "FAILED", "FAILED": "FAILED", "INTERRUPTED": "INTERRUPTED"}


def forwarded_args(config: pytest.Config, worker: bool = False) -> list[str]:
    """This session's ``--sacred-*`` options (minus the launcher's) and collection options,
    as a task's command line takes them."""
    args = []
    for dest, value in sorted(vars(config.option).items()):
        if not dest.startswith("sacred_") or dest.startswith("sacred_slurm_"):
            continue
        if dest in _LAUNCH_DESTS or value is None or value is False or value == []:
            continue
        name = "--" + dest.replace("_", "-")
        if value is True:
            args.append(name)
        else:
            args += [f"{name}={v}" for v in (value if isinstance(value, list) else [value])]
    if worker:
        args.append("--sacred-run-queued")
        if config.option.sacred_worker_idle is not None:
            args.append(f"--sacred-worker-idle={config.option.sacred_worker_idle}")
    given = list(config.invocation_params.args)
    for i, arg in enumerate(given):
        if arg in _FORWARDED and i + 1 < len(given):
            args += [arg, given[i + 1]]
        elif arg.startswith(tuple(f"{f}=" for f in _FORWARDED if f.startswith("--"))):
            args.append(arg)
    return ["-p", "no:cacheprovider", f"--rootdir={config.rootpath}", *args]


def chunks(nodeids: list[str], size: int) -> list[list[str]]:
    return [nodeids[i:i + size] for i in range(0, len(nodeids), size)]


@dataclass
class Task:
    nodeids: list[str]
    job: Any  # submitit.Job
    folder: Path
    finished: bool = False

    @property
    def log(self) -> str:
        return _short(str(self.job.paths.stdout).replace("%t", "0"))

    def started_runs(self) -> dict[str, list[int]]:
        """Run ids the task wrote when its runs started, by node id."""
        path = self.folder / RUNS_FILE.format(job_id=self.job.job_id)
        found: dict[str, list[int]] = {}
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    entry = json.loads(line)
                    found.setdefault(entry["nodeid"], []).append(entry["id"])
        return found


def _final_state(job: Any, wait: float = 20.0) -> str:
    """The job's state once Slurm's accounting has it (a stopped task's state reaches
    sacct some seconds after the task returned)."""
    deadline = time.monotonic() + wait
    state = str(job.state)
    get_info = getattr(job, "get_info", None)
    while get_info is not None and state.split()[0] in _UNSETTLED and time.monotonic() < deadline:
        time.sleep(1.0)
        state = str(get_info(mode="force").get("State") or state)
    return state


_UNSETTLED = ("RUNNING", "COMPLETING", "PENDING", "UNKNOWN", "REQUEUED", "CONFIGURING")


def _category(task: Task) -> str:
    if task.finished:
        return "finished"
    state = str(task.job.state).upper()
    if state.startswith(("RUNNING", "COMPLETING")):
        return "running"
    return "pending"


class Follower:
    """Turns finished tasks into test reports of the submitting session."""

    def __init__(self, session: pytest.Session, items: dict[str, pytest.Item]) -> None:
        self.session = session
        self.items = items
        self.failed_tasks = 0
        self.done_tasks = 0

    def _report(self, nodeid: str, outcome: str, longrepr: str, rows: list[dict[str, Any]],
                log: str) -> None:
        """One report of ``nodeid`` made here: a task that did not run it, or was stopped."""
        item = self.items.get(nodeid)
        location = item.location if item is not None else (nodeid, None, nodeid)
        hook = self.session.config.hook
        hook.pytest_runtest_logstart(nodeid=nodeid, location=location)
        self._log_made(nodeid, location, outcome, longrepr, rows, log)
        hook.pytest_runtest_logfinish(nodeid=nodeid, location=location)

    def _log_made(self, nodeid: str, location: Any, outcome: str, longrepr: str,
                  rows: list[dict[str, Any]], log: str) -> None:
        each: list[dict[str, Any] | None] = [*rows] if rows else [None]
        for row in each:
            report = pytest.TestReport(
                nodeid, location, {}, cast("_OutcomeName", outcome), longrepr or None, "call",
                [], 0.0)
            if row is not None:  # an extra attribute, as pytest's reports allow
                vars(report)["sacred_run"] = {**row, "log": log}
            self.session.config.hook.pytest_runtest_logreport(report=report)

    def _replay(self, out: Outcome, log: str, stopped: str | None) -> None:
        """A node id's reports from the task, logged here as pytest-xdist's controller
        does; ``stopped`` (why Slurm stopped the task) is added to its failures."""
        config = self.session.config
        hook = config.hook
        item = self.items.get(out.nodeid)
        location = item.location if item is not None else (out.nodeid, None, out.nodeid)
        hook.pytest_runtest_logstart(nodeid=out.nodeid, location=location)
        for data in out.reports:
            report = hook.pytest_report_from_serializable(config=config, data=data)
            row = getattr(report, "sacred_run", None)
            if row:
                report.sacred_run = {**row, "log": log}
            if report.failed and stopped:
                report.sections.append(("pytest-sacred", stopped))
            hook.pytest_runtest_logreport(report=report)
        if out.longrepr or out.rows:  # stopped before pytest reported the call
            text = f"{out.longrepr.rstrip()}\n{stopped}" if stopped else out.longrepr
            self._log_made(out.nodeid, location, "failed", text, out.rows, log)
        hook.pytest_runtest_logfinish(nodeid=out.nodeid, location=location)

    def finish(self, task: Task, stores: list[Any]) -> None:
        task.finished = True
        try:
            result: TaskResult = task.job.result()
        except Exception as exc:  # the task did not return: killed, crashed, timed out
            self.failed_tasks += 1
            self._killed(task, f"{type(exc).__name__}: {str(exc).strip()[:500]}", stores)
            return
        stopped = None
        if result.exit_code == pytest.ExitCode.INTERRUPTED:  # a signal: scancel, time limit
            stopped = f"{self._end_runs(task, stores)[1]}; see {task.log}"
        if result.exit_code in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            self.done_tasks += 1
        else:
            self.failed_tasks += 1
        seen = {o.nodeid: o for o in result.outcomes}
        for nodeid in task.nodeids:
            out = seen.pop(nodeid) if nodeid in seen else Outcome(
                nodeid, "failed", f"the task (exit code {result.exit_code}) did not run "
                f"{nodeid}; see {task.log}")
            self._replay(out, task.log, stopped)
        for out in seen.values():  # workers run node ids they picked themselves
            self._replay(out, task.log, stopped)
        if result.exit_code not in (0, 1, 5) and not result.outcomes:
            self._report(task.nodeids[0] if task.nodeids else "worker", "failed",
                         f"pytest in task {task.job.job_id} ended with exit code "
                         f"{result.exit_code}; see {task.log}", [], task.log)

    def _end_runs(self, task: Task, stores: list[Any]) -> tuple[str, str, dict[str, list[int]]]:
        """Runs of a task that Slurm stopped end INTERRUPTED, TIMEOUT or FAILED with the reason,
        in every store that can do it (a run its task ended already keeps its status)."""
        final = _final_state(task.job)
        ended = _KILLED.get(final.split()[0].upper(), "FAILED")
        reason = f"Slurm task {task.job.job_id} ended {final}"
        runs = task.started_runs()
        for run_id in (i for ids in runs.values() for i in ids):
            for store in stores:
                end = getattr(store, "end_abandoned", None)
                if end is not None:
                    end(run_id, ended, reason)
        return ended, reason, runs

    def _killed(self, task: Task, error: str, stores: list[Any]) -> None:
        ended, reason, runs = self._end_runs(task, stores)
        for nodeid in task.nodeids or list(runs):
            ids = runs.get(nodeid, [])
            item = self.items.get(nodeid)
            spec = item.stash.get(SPEC_KEY, None) if item is not None else None
            rows: list[dict[str, Any]] = [
                {"id": run_id, "experiment": spec.experiment if spec else nodeid,
                     "variant": nodeid.partition("[")[2][:-1], "status": ended,
                     "result": "", "duration": None, "errors": [],
                     "stored in": [_short(store.location(run_id)) for store in stores]}
                    for run_id in ids]
            self._report(nodeid, "failed", f"{reason} ({error}); see {task.log}", rows,
                         task.log)


def _ask_cancel(options: LaunchOptions) -> bool:
    if options.cancel_on_interrupt:
        return True
    if not sys.stdin.isatty():
        return False
    try:
        answer = input("\npytest-sacred: cancel the submitted tasks? [y/N] ")
    except (EOFError, KeyboardInterrupt):
        return False
    return answer.strip().lower() in ("y", "yes")


def launch(session: pytest.Session, executor: Any, options: LaunchOptions,
           stores: list[Any], poll: float = 1.0) -> None:
    """Submit one task per chunk of the selected variants (or ``workers`` worker tasks),
    follow them to the end and report; the session's exit code says whether any failed."""
    from ..keys import STATE

    config = session.config
    state = config.stash[STATE]
    items = {item.nodeid: item for item in state.experiments}
    workers = options.run_queued
    folder = Path(executor.folder).parent if "%j" in str(executor.folder) else Path(executor.folder)
    if workers:
        base = [str(a) for a in config.invocation_params.args if not str(a).startswith("-")
                and os.path.exists(str(a).split("::")[0])]
        groups: list[list[str]] = [[] for _ in range(options.slurm.workers)]
        argv = [[*base, *forwarded_args(config, worker=True)] for _ in groups]
    else:
        groups = chunks(list(items), options.slurm.chunk)
        argv = [[*group, *forwarded_args(config)] for group in groups]
    cwd = str(config.invocation_params.dir)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    write = reporter.write_line if reporter is not None else print
    try:
        function = run_pytest if options.slurm.requeue is None else Requeueing(
            options.slurm.requeue)
        jobs = executor.map_array(function, argv, [cwd] * len(argv), [str(folder)] * len(argv))
    except Exception as exc:  # sbatch refused the array (e.g. resources the cluster lacks)
        raise pytest.UsageError(f"--sacred-launcher={options.launcher}: submitting the "
                                f"array failed: {str(exc).strip()[:1000]}") from None
    tasks = [Task(group, job, folder) for group, job in zip(groups, jobs, strict=True)]
    array = jobs[0].job_id.split("_")[0] if jobs else "-"
    write(f"pytest-sacred: submitted {len(tasks)} task(s) as job {array} "
          f"({'workers' if workers else f'{len(items)} variant(s)'}); "
          f"logs in {_short(str(folder))}")
    follower = Follower(session, items)
    last = None
    try:
        while True:
            for task in tasks:
                if not task.finished and task.job.done():
                    follower.finish(task, stores)
            counts = {c: 0 for c in ("pending", "running")}
            for task in tasks:
                if not task.finished:
                    counts[_category(task)] += 1
            line = (f"pytest-sacred: job {array}: {follower.done_tasks} done, "
                    f"{counts['running']} running, {counts['pending']} pending, "
                    f"{follower.failed_tasks} failed")
            if line != last:
                write(line)
                last = line
            if all(task.finished for task in tasks):
                break
            time.sleep(poll)
    except KeyboardInterrupt:
        if _ask_cancel(options):
            for task in tasks:
                if not task.finished:
                    task.job.cancel(check=False)
            write(f"pytest-sacred: cancelled job {array}")
        else:
            write(f"pytest-sacred: job {array} keeps running; scancel {array} stops it")
        raise
