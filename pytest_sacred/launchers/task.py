"""What runs inside one task of a job array: ``pytest`` on some node ids, in-process.

It returns, per node id, the outcome and the summary row of its run, so that the
submitting session can report them as if it had run the tests. Kept importable without
the rest of the plugin: submitit pickles :func:`run_pytest` by reference.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass, field
from typing import Any

from ..payloads import MetaInfo

#: the file, in the task's folder, where each run's id is written when it starts: the
#: submitting session finds the runs of a task that was killed before it could report
RUNS_FILE = "{job_id}.runs.jsonl"


@dataclass
class Outcome:
    """One node id's result in a task, as the submitting session reports it."""

    nodeid: str
    outcome: str  # passed, failed, skipped
    longrepr: str = ""
    duration: float = 0.0
    rows: list[dict[str, Any]] = field(default_factory=list)
    sections: list[tuple[str, str]] = field(default_factory=list)


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

    def pytest_runtest_logreport(self, report: Any) -> None:
        out = self.outcomes.setdefault(report.nodeid, Outcome(report.nodeid, "passed"))
        row = getattr(report, "sacred_run", None)
        if row is not None:
            out.rows.append(row)
        out.duration += getattr(report, "duration", 0.0)
        if report.failed:
            out.outcome = "failed"
            out.longrepr += report.longreprtext
        elif report.skipped and out.outcome == "passed":
            out.outcome = "skipped"
            out.longrepr = report.longreprtext
        out.sections += [(f"{name} ({report.when})", text) for name, text in report.sections
                         if report.when == "call" or report.failed]

    def pytest_sessionfinish(self, session: Any) -> None:
        """Runs stopped by SIGTERM/Ctrl-C get no report; the session keeps their rows."""
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


def _interrupt_on_sigterm(collect: _Collect) -> None:
    """Slurm sends SIGTERM before SIGKILL (time limit, preemption, scancel): end the run
    INTERRUPTED as Ctrl-C would, instead of being killed with the run left RUNNING.
    (submitit itself only logs SIGTERM in its tasks.)"""

    def handler(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second one ends the task
        collect.interrupted_by = (f"SIGTERM (Slurm job {os.environ.get('SLURM_JOB_ID', '?')}: "
                                  "cancelled, time limit or preemption)")
        raise KeyboardInterrupt(collect.interrupted_by)

    signal.signal(signal.SIGTERM, handler)


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
    _interrupt_on_sigterm(collect)
    code = pytest.main(list(args), plugins=[collect])
    return TaskResult(int(code), list(collect.outcomes.values()))
