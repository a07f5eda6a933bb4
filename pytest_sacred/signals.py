"""SIGTERM treated as Ctrl-C while experiments run and their stores are written, and what
stopped a run when a signal did.

Slurm, ``timeout``, ``docker stop`` and CI runners stop a job with SIGTERM, whose default
action ends the process at once: the running run would stay RUNNING in its store, without
its last points or a summary, and writes still queued for a store would be lost. Raising
:class:`RunStopped` (a ``KeyboardInterrupt``) in the main thread instead lets pytest and the
runner end the run, the write queues spill what they hold, and the summary print (exit
code 2). A second SIGTERM gets the previous handler's behaviour (by default: the process
ends), except in a Slurm job, where it is ignored (see :func:`sigterm_as_interrupt`).

Inside a Slurm job the signal alone does not say why: Slurm sends the same SIGTERM when the
job reaches its time limit, is cancelled or is preempted. The job's state reason, asked of
Slurm when the signal arrives, tells them apart: a time limit ends the run TIMEOUT (as
pytest-timeout's limit does), anything else INTERRUPTED, and ``info.ended_by`` says which.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: seconds to wait for ``squeue`` inside a signal handler: Slurm kills the job
#: ``KillWait`` seconds (30 by default) after the SIGTERM
SQUEUE_TIMEOUT = 5.0


class RunStopped(KeyboardInterrupt):
    """Raised in the main thread when a signal stops the session's experiments.

    A ``KeyboardInterrupt``, so that pytest stops the session as on Ctrl-C; the runner
    ends the running run with :attr:`status` (``"TIMEOUT"`` or ``"INTERRUPTED"``) and
    stores :attr:`ended_by` as ``info.ended_by``."""

    def __init__(self, status: str, ended_by: str) -> None:
        super().__init__(ended_by)
        self.status = status
        self.ended_by = ended_by


@dataclass(frozen=True)
class SlurmJob:
    """What Slurm says about the job this process runs in."""

    job_id: str  # as users see it: ``ARRAY_TASK`` for array tasks
    reason: str  # squeue's reason: ``TimeLimit`` once the time limit stopped the job
    time_limit: str  # squeue's form, e.g. ``1:00`` or ``1-00:00:00``
    end_time: datetime | None  # local time, as squeue prints it
    error: str = ""  # why squeue did not answer (then the fields above are empty)


def slurm_job() -> SlurmJob | None:
    """The Slurm job of this process (``None`` outside Slurm), asked of ``squeue``.

    Called from signal handlers: bounded by :data:`SQUEUE_TIMEOUT`, and an unanswered
    query is a :class:`SlurmJob` whose ``error`` says why rather than an exception."""
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        return None
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    shown = f"{array}_{task}" if array and task else job
    try:  # an array's first task has the array's id as SLURM_JOB_ID: ask for the task
        done = subprocess.run(["squeue", "-h", "-j", shown, "-o", "%r|%l|%e"],
                              capture_output=True, text=True, timeout=SQUEUE_TIMEOUT)
    except (OSError, subprocess.SubprocessError) as exc:
        return SlurmJob(shown, "", "", None, f"squeue failed: {exc}")
    fields = done.stdout.strip().split("|")
    if done.returncode != 0 or len(fields) != 3:
        return SlurmJob(shown, "", "", None, "squeue failed: "
                        + ((done.stderr or done.stdout).strip()[:200] or f"exit {done.returncode}"))
    reason, limit, end = fields
    try:
        end_time: datetime | None = datetime.fromisoformat(end)
    except ValueError:  # "Unknown", "N/A"
        end_time = None
    return SlurmJob(shown, reason, limit, end_time)


def why_stopped(signame: str) -> RunStopped:
    """The status and reason of runs stopped by ``signame`` (a stop signal: SIGTERM)."""
    job = slurm_job()
    if job is None:
        return RunStopped("INTERRUPTED", signame)
    if job.reason == "TimeLimit":
        return RunStopped("TIMEOUT", f"Slurm time limit ({job.time_limit}) of job {job.job_id}")
    if job.error:
        return RunStopped("INTERRUPTED", f"{signame} from Slurm, job {job.job_id} (why is "
                                         f"unknown: {job.error})")
    said = f"; Slurm's reason: {job.reason}" if job.reason not in ("", "None") else ""
    return RunStopped("INTERRUPTED", f"{signame} from Slurm: job {job.job_id} cancelled or "
                                     f"preempted{said}")


def sigterm_as_interrupt() -> Callable[[], None]:
    """Make SIGTERM raise :class:`RunStopped` (main thread only); returns the function
    that puts the previous handler back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGTERM)
    restored = previous if previous is not None else signal.SIG_DFL

    def interrupt(signum: int, frame: Any) -> None:
        # In a Slurm job the SIGTERM comes twice (from slurmstepd and forwarded by srun)
        # and SIGKILL follows KillWait seconds later: a repeat must not cut short the
        # run's end. Elsewhere a second SIGTERM is someone insisting: the previous handler.
        signal.signal(signal.SIGTERM, signal.SIG_IGN if os.environ.get("SLURM_JOB_ID")
                      else restored)
        raise why_stopped("SIGTERM")

    signal.signal(signal.SIGTERM, interrupt)

    def restore() -> None:
        if signal.getsignal(signal.SIGTERM) is interrupt:
            signal.signal(signal.SIGTERM, restored)

    return restore
