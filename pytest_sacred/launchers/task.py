"""What runs inside one task of a job array: ``pytest`` on some node ids, in-process.

It returns, per node id, pytest's own reports (serialized as pytest-xdist sends them, so
the submitting session shows each failure as pytest would have, its summary line
included) and the summary rows of its runs, gathered by the task's role object
(:class:`pytest_sacred.roles.ArrayTask`, registered as ``sacred-array-task``). Kept
importable without the rest of the plugin: submitit pickles :func:`run_pytest` by
reference.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..signals import RunStopped, slurm_job

#: the file, in the task's folder, where each run's id is written when it starts: the
#: submitting session finds the runs of a task that was killed before it could report
RUNS_FILE = "{job_id}.runs.jsonl"

#: the option that makes tasks checkpointable (:class:`Requeueing`)
REQUEUE_OPTION = "--sacred-slurm-requeue"

#: seconds before its time limit that Slurm signals a task (submitit's ``signal_delay_s``)
SIGNAL_DELAY_S = 90
#: Slurm checks time limits about every 30 s, and may send that signal up to 60 s early
_SIGNAL_SLACK_S = 60


@dataclass
class Outcome:
    """One node id's result in a task, as the submitting session reports it: pytest's
    reports of it, then, when its run was stopped before pytest could report the call,
    a failure saying why (``longrepr``) with the rows of the stopped runs."""

    nodeid: str
    outcome: str  # passed, failed, skipped
    longrepr: str = ""
    reports: list[dict[str, Any]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TaskResult:
    exit_code: int
    outcomes: list[Outcome]


class TaskReports:
    """What the task's session reported, per node id, and the ids of the runs it started
    (written to the runs file at once). Fed by the task's role,
    :class:`pytest_sacred.roles.ArrayTask`."""

    def __init__(self, runs_file: str | None) -> None:
        self.outcomes: dict[str, Outcome] = {}
        #: the node id pytest is running
        self.current = ""
        self.interrupted_by = "interrupted"
        self._runs_file = runs_file
        #: the task's pytest config, once configured
        self.config: Any = None
        #: the runs a signal stopped, by node id (a requeued task resumes them)
        self.stopped: dict[str, int] = {}

    def add(self, report: Any) -> None:
        """One of pytest's reports, serialized as pytest-xdist sends it."""
        out = self.outcomes.setdefault(report.nodeid, Outcome(report.nodeid, "passed"))
        out.reports.append(self.config.hook.pytest_report_to_serializable(
            config=self.config, report=report))
        if report.failed:
            out.outcome = "failed"
        elif report.skipped and out.outcome == "passed":
            out.outcome = "skipped"

    def interrupted(self, value: BaseException) -> None:
        """Why the session stopped (Slurm's time limit, scancel, preemption, Ctrl-C)."""
        self.interrupted_by = value.ended_by if isinstance(value, RunStopped) else (
            str(value) or type(value).__name__)

    def stopped_runs(self, rows: list[dict[str, Any]]) -> None:
        """Runs stopped by a signal get no report; the session kept their ``rows``."""
        for row in rows:
            out = self.outcomes.setdefault(self.current, Outcome(self.current, "failed"))
            out.outcome = "failed"
            out.longrepr += f"run {row['id']} {row['status']}: {self.interrupted_by}\n"
            out.rows.append(row)
            if row.get("id") is not None:
                self.stopped[self.current] = row["id"]

    def started(self, run_id: int | None, nodeid: str) -> None:
        if self._runs_file and run_id is not None:
            with open(self._runs_file, "a", encoding="utf-8") as f:
                f.write(json.dumps({"id": run_id, "nodeid": nodeid}) + "\n")


def _preemption_signal() -> signal.Signals:
    """The signal submitit's tasks get before their time limit and on preemption
    (``SUBMITIT_PREEMPT_SIGNAL``, as submitit reads it; USR2 by default)."""
    name = os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2")
    return getattr(signal, name if name.startswith("SIG") else f"SIG{name}", signal.SIGUSR2)


def _on_preemption_signal(requeue: Requeueing | None = None) -> Any:
    """Replace submitit's handler of its preemption signal, which raises an ordinary
    exception in whatever the task is running (the run would end FAILED with submitit's
    ``UncompletedJobError``, and a task with a time limit shorter than the signal's delay
    would be stopped as it starts); returns submitit's handler.

    Near the job's time limit the signal is only a warning: the run goes on until Slurm's
    SIGTERM at the limit, which ends it TIMEOUT (see :mod:`pytest_sacred.signals`), or,
    under submitit's local executor, until its SIGINT at the limit (which ends it TIMEOUT
    too, even when the limit is too short for a warning).
    Otherwise the job is being preempted (or was sent the signal with ``scancel
    --signal``): the run ends INTERRUPTED at once, saying so in ``info.ended_by``.
    A checkpointable task (``requeue``) stops its run at once in both cases, to be
    requeued (see :class:`Requeueing`)."""
    signum = _preemption_signal()
    name = signum.name

    def handler(number: int, frame: Any) -> None:
        job = slurm_job()
        if job is None:  # submitit's local executor: sent only before its time limit, at
            # which it stops the task with SIGINT (and SIGKILL a second later)
            print(f"pytest-sacred: {name}: the task's time limit ({_local_limit()}) is near; "
                  "the run goes on until it is stopped, then ends TIMEOUT", file=sys.stderr,
                  flush=True)
            _local_sigint_is_the_limit()
            return
        left = (job.end_time - datetime.now()).total_seconds() if job.end_time else None
        at_limit = job.reason == "TimeLimit" or (left is not None
                                                 and left <= SIGNAL_DELAY_S + _SIGNAL_SLACK_S)
        if at_limit:
            what = f"{name} from Slurm: job {job.job_id} reaches its time limit ({job.time_limit})"
            if requeue is not None:
                requeue.stop(what)
            when = f" in {max(left, 0):.0f} s" if left is not None else ""
            print(f"pytest-sacred: {what}{when}; the run goes on until Slurm stops it, then "
                  "ends TIMEOUT", file=sys.stderr, flush=True)
            return
        why = f"{left:.0f} s before its time limit" if left is not None else (
            job.error or "its time limit is unknown")
        what = f"{name} from Slurm: job {job.job_id} preempted ({why})"
        if requeue is not None:
            requeue.stop(what)
        raise RunStopped("INTERRUPTED", what)

    previous = signal.getsignal(signum)
    signal.signal(signum, handler)
    if _local_limit_unannounced():
        _local_sigint_is_the_limit()
    return previous


def _local_limit() -> str:
    """The local executor's time limit, as its task's messages say it (``12 s``)."""
    return f"{os.environ.get('SUBMITIT_LOCAL_TIMEOUT_S', '?')} s"


def _local_sigint_is_the_limit() -> None:
    """From now on, the local executor's SIGINT ends the run TIMEOUT (once: a second one
    is Ctrl-C's again). Its SIGINT also comes from Ctrl-C or a cancelled job, so this
    waits for the warning before the limit, unless no warning comes."""

    def timed_out(number: int, frame: Any) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        raise RunStopped("TIMEOUT", f"time limit ({_local_limit()}) of submitit's local executor")

    signal.signal(signal.SIGINT, timed_out)


def _local_limit_unannounced() -> bool:
    """Whether this is a task of submitit's local executor that gets no warning before
    its time limit: submitit sends none with a delay of 0 (a 1 s limit, see
    :func:`pytest_sacred.launchers.executors.local_signal_delay_s`) or above the limit,
    and sends it as the task starts, before this handler exists, with a delay of the
    limit itself."""
    if os.environ.get("SUBMITIT_EXECUTOR") != "local" or os.environ.get("SLURM_JOB_ID"):
        return False
    try:
        limit = int(os.environ["SUBMITIT_LOCAL_TIMEOUT_S"])
        delay = int(os.environ["SUBMITIT_LOCAL_SIGNAL_DELAY_S"])
    except (KeyError, ValueError):
        return False
    return not 0 < delay < limit


def _run(args: list[str], cwd: str, folder: str | None,
         resume: dict[str, int]) -> tuple[int, TaskReports]:
    """``pytest args`` in ``cwd``, resuming the ``resume`` runs; its exit code and what it
    reported."""
    import pytest

    from ..roles import ArrayTask

    os.chdir(cwd)
    runs_file = None
    if folder:
        job_id = os.environ.get("SLURM_ARRAY_JOB_ID")
        job_id = (f"{job_id}_{os.environ['SLURM_ARRAY_TASK_ID']}" if job_id
                  else os.environ.get("SLURM_JOB_ID") or str(os.getpid()))
        runs_file = os.path.join(folder, RUNS_FILE.format(job_id=job_id))
    reports = TaskReports(runs_file)
    code = pytest.main(list(args), plugins=[ArrayTask(reports, resume)])
    return int(code), reports


def run_pytest(args: list[str], cwd: str, folder: str | None = None) -> TaskResult:
    """Run ``pytest args`` in ``cwd``; the entry point of every array task."""
    # Slurm's SIGTERM (time limit, scancel, preemption), which submitit only logs, ends
    # the running run: the plugin makes it an interrupt while experiments run
    _on_preemption_signal()
    code, reports = _run(args, cwd, folder, {})
    return TaskResult(code, list(reports.outcomes.values()))


def resume_runs(session: Any, runs: dict[str, int]) -> None:
    """In a requeued task's session, once it is collected and checked: continue the runs
    its earlier time slot stopped, each under its own id (claimed as ``--sacred-resume``
    claims them)."""
    import pytest

    from pytest_sacred import resume
    from pytest_sacred.keys import STATE

    state = session.config.stash[STATE]
    items = {item.nodeid: item for item in state.experiments}
    store, observer = resume.store_for(state.observers, REQUEUE_OPTION)
    for nodeid, run_id in runs.items():
        item = items.get(nodeid)
        if item is None:
            raise pytest.UsageError(
                f"{REQUEUE_OPTION}: the requeued task did not collect {nodeid} "
                f"again, so run {run_id} cannot be resumed; resume it by hand with "
                f"--sacred-resume {run_id}")
        resume.resume(item, run_id, observer, store)


def _finished(out: Outcome) -> bool:
    """Whether pytest reported the node id to its end (its teardown)."""
    return any(report.get("when") == "teardown" for report in out.reports)


class Requeueing:
    """:func:`run_pytest` as submitit's checkpointable callable (``--sacred-slurm-requeue
    N``), for tasks that get more than one time slot.

    Signalled for its time limit or a preemption (submitit's USR2), the task stops its
    running run at once: it ends INTERRUPTED, its points, heartbeat and ``tmp_path /
    "checkpoint"`` stored, ``info.ended_by`` saying it is requeued. Then the signal goes
    on to submitit's handler, which calls :meth:`checkpoint` (this object, pickled with
    what the slot did) and requeues the task with ``scontrol requeue``. The requeued task
    resumes the stopped run under its id (:func:`pytest_sacred.resume.resume`: one more
    ``meta.resumed`` entry), runs the node ids not run yet, and skips the finished ones
    (their outcomes kept for the submitting session). After ``limit`` requeues the signal
    ends the run TIMEOUT at once, its checkpoint stored, so it can be resumed by hand.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        #: requeues so far
        self.requeued = 0
        #: the runs to resume in the next slot, by node id
        self.resume: dict[str, int] = {}
        #: outcomes of the node ids earlier slots ran to their end
        self.finished: list[Outcome] = []
        self._next_args: list[str] | None = None
        self._stopping = False

    def stop(self, what: str) -> None:
        """Called by the signal handler: stop the session's run to be requeued, or, out
        of requeues, end it TIMEOUT. A repeated signal while stopping is ignored."""
        if self._stopping:
            return
        self._stopping = True
        if self.requeued < self.limit:
            said = (f"{what}; requeued ({self.requeued + 1} of {self.limit}): the run is "
                    "resumed under its id")
            print(f"pytest-sacred: {said}", file=sys.stderr, flush=True)
            raise RunStopped("INTERRUPTED", said)
        said = (f"{what}; not requeued again: the task was requeued {self.limit} time(s), "
                f"as many as {REQUEUE_OPTION} {self.limit} allows")
        print(f"pytest-sacred: {said}", file=sys.stderr, flush=True)
        raise RunStopped("TIMEOUT", said)

    def __call__(self, args: list[str], cwd: str, folder: str | None = None) -> TaskResult:
        self._next_args, self._stopping = None, False
        submitit_handler = _on_preemption_signal(self)
        code, reports = _run(args, cwd, folder, dict(self.resume))
        signum = _preemption_signal()
        signal.signal(signum, signal.SIG_IGN)  # the slot's work is over: no requeue now
        done = [out for nodeid, out in reports.outcomes.items()
                if _finished(out) and nodeid not in reports.stopped]
        outcomes = [*self.finished, *reports.outcomes.values()]
        if any(out.outcome == "failed" for out in self.finished) and code == 0:
            code = 1  # pytest.ExitCode.TESTS_FAILED, as if in one session
        requeue = self._stopping and self.requeued < self.limit
        if not requeue or not callable(submitit_handler):
            return TaskResult(code, outcomes)
        finished = {out.nodeid for out in done}
        nodeids = args[:next((i for i, a in enumerate(args) if a.startswith("-")), len(args))]
        if nodeids and all(nodeid in finished for nodeid in nodeids):
            return TaskResult(code, outcomes)  # stopped after its last run: nothing to resume
        self.finished += done
        self.resume = {**{n: r for n, r in self.resume.items() if n not in finished},
                       **reports.stopped}
        self._next_args = [a for a in args if a not in finished]
        self.requeued += 1
        # submitit's handler calls checkpoint(), requeues the task and exits the process
        submitit_handler(signum, None)
        return TaskResult(code, outcomes)  # not reached under submitit

    def checkpoint(self, args: list[str], cwd: str, folder: str | None = None) -> Any:
        """submitit's checkpoint protocol: what the requeued task calls, this object with
        its state (the node ids left, the runs to resume)."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, self._next_args or args, cwd, folder)
