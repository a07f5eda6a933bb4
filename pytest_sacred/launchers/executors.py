"""The submitit executor of each launcher, checked before anything is submitted."""

from __future__ import annotations

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
    """A submitit ``AutoExecutor`` for ``slurm`` or ``local`` with the task parameters."""
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
    extra: dict[str, Any] = {}
    if params.requeue is not None:
        # submitit refuses to requeue a task timed out more often than this; the task
        # counts its requeues itself (preemptions included) and never asks for more
        extra["slurm_max_num_timeout"] = params.requeue
    executor = submitit.AutoExecutor(folder=folder, cluster=launcher, **extra)
    values: dict[str, Any] = {"name": "pytest-sacred",
                              "timeout_min": params.timeout_min or DEFAULT_TIMEOUT_MIN}
    if params.cpus is not None:
        values["cpus_per_task"] = params.cpus
    if params.gpus is not None:
        values["gpus_per_node"] = params.gpus
    if launcher == "slurm":
        if params.partition is not None:
            values["slurm_partition"] = params.partition
        if params.mem is not None:
            values["slurm_mem"] = params.mem
        if params.array_parallelism is not None:
            values["slurm_array_parallelism"] = params.array_parallelism
        # the task tells this warning from a preemption by the time left (see task.py)
        values["slurm_signal_delay_s"] = SIGNAL_DELAY_S
    executor.update_parameters(**values)
    return executor
