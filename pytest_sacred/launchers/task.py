"""What runs inside one task of a job array: ``pytest`` on some node ids, in-process.

It returns, per node id, pytest's own reports (serialized as pytest-xdist sends them, so
the submitting session shows each failure as pytest would have, its summary line
included) and the summary rows of its runs. Kept importable without the rest of the
plugin: submitit pickles :func:`run_pytest` by reference.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..payloads import MetaInfo
from ..signals import RunStopped, slurm_job

#: the file, in the task's folder, where each run's id is written when it starts: the
#: submitting session finds the runs of a task that was killed before it could report
RUNS_FILE = "{job_id}.runs.jsonl"

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


class _Collect:
    """Gathers the reports of the task's session and writes started runs' ids."""

    priority = -1000  # after every store: the run's id is known

    def __init__(self, runs_file: str | None) -> None:
        self.outcomes: dict[str, Outcome] = {}
        self._current = ""
        self.interrupted_by = "interrupted"
        self._runs_file = runs_file
        self._config: Any = None

    def pytest_configure(self, config: Any) -> None:
        self._config = config

    def pytest_runtest_logreport(self, report: Any) -> None:
        out = self.outcomes.setdefault(report.nodeid, Outcome(report.nodeid, "passed"))
        out.reports.append(self._config.hook.pytest_report_to_serializable(
            config=self._config, report=report))
        if report.failed:
            out.outcome = "failed"
        elif report.skipped and out.outcome == "passed":
            out.outcome = "skipped"

    def pytest_keyboard_interrupt(self, excinfo: Any) -> None:
        """Why the session stopped (Slurm's time limit, scancel, preemption, Ctrl-C)."""
        value = excinfo.value
        self.interrupted_by = value.ended_by if isinstance(value, RunStopped) else (
            str(value) or type(value).__name__)

    def pytest_sessionfinish(self, session: Any) -> None:
        """Runs stopped by a signal get no report; the session keeps their rows."""
        from pytest_sacred.keys import STATE

        state = session.config.stash.get(STATE, None)
        for row in state.interrupted_rows if state is not None else []:
            out = self.outcomes.setdefault(self._current, Outcome(self._current, "failed"))
            out.outcome = "failed"
            out.longrepr += f"run {row['id']} {row['status']}: {self.interrupted_by}\n"
            out.rows.append(row)

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self._current = nodeid

    def pytest_sacred_started_event(self, run_id: int | None, meta_info: MetaInfo) -> None:
        if self._runs_file and run_id is not None:
            with open(self._runs_file, "a", encoding="utf-8") as f:
                f.write(json.dumps({"id": run_id, "nodeid": meta_info["pytest"]["nodeid"]}) + "\n")


def _preemption_signal() -> signal.Signals:
    """The signal submitit's tasks get before their time limit and on preemption
    (``SUBMITIT_PREEMPT_SIGNAL``, as submitit reads it; USR2 by default)."""
    name = os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2")
    return getattr(signal, name if name.startswith("SIG") else f"SIG{name}", signal.SIGUSR2)


def _on_preemption_signal() -> None:
    """Replace submitit's handler of its preemption signal, which raises an ordinary
    exception in whatever the task is running (the run would end FAILED with submitit's
    ``UncompletedJobError``, and a task with a time limit shorter than the signal's delay
    would be stopped as it starts).

    Near the job's time limit the signal is only a warning: the run goes on until Slurm's
    SIGTERM at the limit, which ends it TIMEOUT (see :mod:`pytest_sacred.signals`), or,
    under submitit's local executor, until its SIGINT at the limit.
    Otherwise the job is being preempted (or was sent the signal with ``scancel
    --signal``): the run ends INTERRUPTED at once, saying so in ``info.ended_by``."""
    signum = _preemption_signal()
    name = signum.name

    def handler(number: int, frame: Any) -> None:
        job = slurm_job()
        if job is None:  # submitit's local executor: sent only before its time limit, at
            # which it stops the task with SIGINT (and SIGKILL a second later)
            limit = f"{os.environ.get('SUBMITIT_LOCAL_TIMEOUT_S', '?')} s"
            print(f"pytest-sacred: {name}: the task's time limit ({limit}) is near; the run "
                  "goes on until it is stopped, then ends TIMEOUT", file=sys.stderr, flush=True)

            def timed_out(number: int, frame: Any) -> None:
                signal.signal(signal.SIGINT, signal.default_int_handler)
                raise RunStopped("TIMEOUT", f"time limit ({limit}) of submitit's local executor")

            signal.signal(signal.SIGINT, timed_out)
            return
        left = (job.end_time - datetime.now()).total_seconds() if job.end_time else None
        if job.reason == "TimeLimit" or (left is not None
                                         and left <= SIGNAL_DELAY_S + _SIGNAL_SLACK_S):
            when = f" in {max(left, 0):.0f} s" if left is not None else ""
            print(f"pytest-sacred: {name} from Slurm: job {job.job_id} reaches its time limit "
                  f"({job.time_limit}){when}; the run goes on until Slurm stops it, then "
                  "ends TIMEOUT", file=sys.stderr, flush=True)
            return
        why = f"{left:.0f} s before its time limit" if left is not None else (
            job.error or "its time limit is unknown")
        raise RunStopped("INTERRUPTED", f"{name} from Slurm: job {job.job_id} preempted ({why})")

    signal.signal(signum, handler)


def run_pytest(args: list[str], cwd: str, folder: str | None = None) -> TaskResult:
    """Run ``pytest args`` in ``cwd``; the entry point of every array task."""
    import pytest

    os.chdir(cwd)
    runs_file = None
    if folder:
        job_id = os.environ.get("SLURM_ARRAY_JOB_ID")
        job_id = (f"{job_id}_{os.environ['SLURM_ARRAY_TASK_ID']}" if job_id
                  else os.environ.get("SLURM_JOB_ID") or str(os.getpid()))
        runs_file = os.path.join(folder, RUNS_FILE.format(job_id=job_id))
    collect = _Collect(runs_file)
    # Slurm's SIGTERM (time limit, scancel, preemption), which submitit only logs, ends
    # the running run: the plugin makes it an interrupt while experiments run
    _on_preemption_signal()
    code = pytest.main(list(args), plugins=[collect])
    return TaskResult(int(code), list(collect.outcomes.values()))
