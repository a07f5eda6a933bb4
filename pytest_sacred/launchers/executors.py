"""The submitit executor of each launcher, checked before anything is submitted."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .options import SlurmParameters
from .task import SIGNAL_DELAY_S

#: the time limit when none is given (submitit's own default, 5 minutes, is too short
#: for most experiments)
DEFAULT_TIMEOUT_MIN = 60
#: seconds before its time limit that submitit's local executor warns a task (its own
#: default), for limits of a minute or more
LOCAL_SIGNAL_DELAY_S = 30


def local_signal_delay_s(limit_s: int) -> int:
    """How long before a local task's time limit of ``limit_s`` seconds the local executor
    warns it (SIGUSR2): 30 s, or half the limit for limits under a minute.

    submitit's own 30 s would not do for short limits: with a limit of 30 s it sends the
    signal as the task starts, before the task has a handler for it (its default action
    ends the process), and under 30 s never. Half the limit warns the task a second or
    more after it started, and leaves time for the warning to reach the run's output. A
    1 s limit gets 0, which submitit takes as no warning: the task then counts any SIGINT
    as the limit's (see :func:`pytest_sacred.launchers.task._on_preemption_signal`)."""
    return min(LOCAL_SIGNAL_DELAY_S, limit_s // 2)


def local_timeout_min(limit_s: int) -> float:
    """The local executor's ``timeout_min`` for exactly ``limit_s`` seconds: it keeps
    ``int(60 * timeout_min)`` seconds, which ``limit_s / 60`` misses by one for some
    limits (floating point, e.g. 123 s -> 122): the next float up is taken then."""
    minutes = limit_s / 60
    while int(60 * minutes) < limit_s:
        minutes = math.nextafter(minutes, math.inf)
    return minutes


def require_submitit() -> Any:
    from ..extras import require

    return require("submitit", "slurm", "--sacred-launcher")


def check_slurm(params: SlurmParameters) -> None:
    """``sinfo`` answers and knows the partition; else a usage error saying what to do."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        raise pytest.UsageError("--sacred-launcher=slurm: no Slurm here (sinfo/sbatch are not "
                                "on PATH); run on a Slurm login node, or use "
                                "--sacred-launcher=local")
    try:
        done = subprocess.run(["sinfo", "-h", "-o", "%R"], capture_output=True, text=True,
                              timeout=30)
    except subprocess.TimeoutExpired:
        raise pytest.UsageError("--sacred-launcher=slurm: sinfo did not answer within 30 s; "
                                "is slurmctld running?") from None
    if done.returncode != 0:
        raise pytest.UsageError(f"--sacred-launcher=slurm: sinfo failed "
                                f"({(done.stderr or done.stdout).strip()[:300]}); is slurmctld "
                                "running and reachable?")
    partitions = sorted(set(done.stdout.split()))
    if params.partition is not None and params.partition not in partitions:
        raise pytest.UsageError(f"--sacred-slurm-partition {params.partition!r}: no such "
                                f"partition (sinfo lists: {', '.join(partitions) or 'none'})")


def build(launcher: str, params: SlurmParameters, rootdir: Path) -> Any:
    """A submitit executor for ``slurm`` (an ``AutoExecutor``) or ``local`` (a
    ``LocalExecutor``) with the task parameters.

    The time limit reaches Slurm in whole minutes, rounded up (Slurm's own granularity),
    and the local executor in seconds, as given, with a warning delay that fits a short
    limit (:func:`local_signal_delay_s`). The local executor is built directly: the
    ``AutoExecutor`` takes ``timeout_min`` as a whole number and no ``signal_delay_s``."""
    submitit = require_submitit()
    if launcher == "slurm":
        check_slurm(params)
    elif params.partition or params.mem or params.array_parallelism:
        raise pytest.UsageError("--sacred-slurm-partition/-mem/-array-parallelism need "
                                "--sacred-launcher=slurm; the local executor cannot honour them")
    if launcher != "slurm" and params.requeue is not None:
        raise pytest.UsageError("--sacred-slurm-requeue needs --sacred-launcher=slurm: only "
                                "Slurm requeues a signalled task")
    folder = (params.folder or rootdir / "slurm-logs") / "%j"
    if launcher != "slurm":
        limit_s = params.timeout_s or DEFAULT_TIMEOUT_MIN * 60
        local = submitit.LocalExecutor(folder=folder)
        # of the task resources, the local executor honours only GPUs (CUDA_VISIBLE_DEVICES)
        local.update_parameters(timeout_min=local_timeout_min(limit_s),
                                signal_delay_s=local_signal_delay_s(limit_s),
                                **({} if params.gpus is None else {"gpus_per_node": params.gpus}))
        return local
    extra: dict[str, Any] = {}
    if params.requeue is not None:
        # submitit refuses to requeue a task timed out more often than this; the task
        # counts its requeues itself (preemptions included) and never asks for more
        extra["slurm_max_num_timeout"] = params.requeue
    executor = submitit.AutoExecutor(folder=folder, cluster=launcher, **extra)
    values: dict[str, Any] = {"name": "pytest-sacred",
                              "timeout_min": params.timeout_min or DEFAULT_TIMEOUT_MIN,
                              # the task tells this warning from a preemption by the time
                              # left (see task.py)
                              "slurm_signal_delay_s": SIGNAL_DELAY_S}
    if params.cpus is not None:
        values["cpus_per_task"] = params.cpus
    if params.gpus is not None:
        values["gpus_per_node"] = params.gpus
    if params.partition is not None:
        values["slurm_partition"] = params.partition
    if params.mem is not None:
        values["slurm_mem"] = params.mem
    if params.array_parallelism is not None:
        values["slurm_array_parallelism"] = params.array_parallelism
    executor.update_parameters(**values)
    return executor
