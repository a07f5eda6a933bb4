"""The launcher, queue and re-run options of one session, read and checked once."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

#: keys of a --sacred-slurm-config YAML file (the options without ``--sacred-slurm-``)
SLURM_KEYS = ("partition", "time", "cpus", "gpus", "mem", "array_parallelism", "chunk",
              "workers", "folder", "requeue")


@dataclass(frozen=True)
class SlurmParameters:
    """Resources of each task; ``None`` leaves Slurm's (or the partition's) default."""

    partition: str | None = None
    #: ``--sacred-slurm-time`` in seconds, as given: the local executor honours them
    #: exactly, Slurm in whole minutes (:attr:`timeout_min`)
    timeout_s: int | None = None
    cpus: int | None = None
    gpus: int | None = None
    mem: str | None = None
    array_parallelism: int | None = None
    chunk: int = 1
    workers: int = 2
    folder: Path | None = None
    #: ``--sacred-slurm-requeue``: how many times a signalled task is requeued to resume
    #: its run (``None``: tasks are not checkpointable)
    requeue: int | None = None

    @property
    def timeout_min(self) -> int | None:
        """The time limit as Slurm takes it: whole minutes, rounded up (so a task is never
        stopped before the time asked for)."""
        return None if self.timeout_s is None else -(-self.timeout_s // 60)


@dataclass(frozen=True)
class LaunchOptions:
    launcher: str | None
    slurm: SlurmParameters = field(default_factory=SlurmParameters)
    cancel_on_interrupt: bool = False
    run_queued: bool = False
    worker_idle: float = 0.0
    requeue_dead: bool = False
    rerun: int | None = None
    rerun_from: str | None = None
    #: ``--sacred-resume``: the stored runs to continue, in the order given
    resume: tuple[int, ...] = ()


def _bad(name: str, value: Any, expected: str) -> pytest.UsageError:
    return pytest.UsageError(
        f"--sacred-slurm-{name.replace('_', '-')} {value!r}: expected {expected}")


def _count(name: str, value: Any, minimum: int) -> int | None:
    if value is None:
        return None
    text = str(value).strip()
    if not text.isdigit() or int(text) < minimum:
        raise _bad(name, value, f"an integer >= {minimum}")
    return int(text)


def timeout_seconds(value: Any) -> int | None:
    """Slurm's time forms (MIN, MIN:SEC, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS) in seconds.

    Kept in seconds because submitit's local executor honours them (a short limit keeps
    tests and trials short); Slurm gets whole minutes (:attr:`SlurmParameters.timeout_min`)."""
    if value is None:
        return None
    text = str(value).strip()
    days, _, rest = text.rpartition("-") if "-" in text else ("0", "", text)
    parts = rest.split(":")
    if not days.isdigit() or not all(p.isdigit() for p in parts) or not 1 <= len(parts) <= 3:
        raise _bad("time", value, "minutes or [D-]HH:MM[:SS] (e.g. 30, 1:30:00, 2-00:00)")
    numbers = [int(p) for p in parts]
    if "-" in text:  # D-HH, D-HH:MM, D-HH:MM:SS
        numbers += [0] * (3 - len(numbers))
        seconds = int(days) * 86400 + numbers[0] * 3600 + numbers[1] * 60 + numbers[2]
    elif len(numbers) == 1:
        seconds = numbers[0] * 60
    elif len(numbers) == 2:  # MM:SS
        seconds = numbers[0] * 60 + numbers[1]
    else:
        seconds = numbers[0] * 3600 + numbers[1] * 60 + numbers[2]
    if seconds <= 0:
        raise _bad("time", value, "a time limit above zero")
    return seconds


def memory(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip().upper()
    if not re.fullmatch(r"\d+[KMGT]?", text) or int(re.sub(r"\D", "", text)) == 0:
        raise _bad("mem", value, "a size such as 4G, 500M or 2048 (megabytes)")
    return text


def load_slurm_file(path: str) -> dict[str, Any]:
    """The parameters of a YAML file; unknown keys are an error naming them."""
    from ..extras import require

    yaml = require("yaml", "slurm", "--sacred-slurm-config")
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as exc:
        raise pytest.UsageError(f"--sacred-slurm-config {path!r}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise pytest.UsageError(
            f"--sacred-slurm-config {path!r} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise pytest.UsageError(f"--sacred-slurm-config {path!r} must be a mapping of "
                                f"parameters ({', '.join(SLURM_KEYS)})")
    unknown = sorted(str(k) for k in data if str(k).replace("-", "_") not in SLURM_KEYS)
    if unknown:
        raise pytest.UsageError(f"--sacred-slurm-config {path!r}: unknown key(s) "
                                f"{', '.join(unknown)}; known keys: {', '.join(SLURM_KEYS)}")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def slurm_parameters(config: pytest.Config) -> SlurmParameters:
    option = config.option
    values = load_slurm_file(option.sacred_slurm_config) if option.sacred_slurm_config else {}
    for key in SLURM_KEYS:
        given = getattr(option, f"sacred_slurm_{key}")
        if given is not None:
            values[key] = given
    partition = values.get("partition")
    if partition is not None and not re.fullmatch(r"[\w.-]+", str(partition)):
        raise _bad("partition", partition, "a partition name (see sinfo)")
    folder = values.get("folder")
    return SlurmParameters(
        partition=None if partition is None else str(partition),
        timeout_s=timeout_seconds(values.get("time")),
        cpus=_count("cpus", values.get("cpus"), 1),
        gpus=_count("gpus", values.get("gpus"), 0),
        mem=memory(values.get("mem")),
        array_parallelism=_count("array_parallelism", values.get("array_parallelism"), 1),
        chunk=_count("chunk", values.get("chunk"), 1) or 1,
        workers=_count("workers", values.get("workers"), 1) or 2,
        folder=None if folder is None else Path(folder).absolute(),
        requeue=_count("requeue", values.get("requeue"), 0),
    )


def read(config: pytest.Config) -> LaunchOptions:
    """All of this area's options; raises ``pytest.UsageError`` naming a bad one."""
    option = config.option
    launcher = option.sacred_launcher
    slurm_given = [f"--sacred-slurm-{key.replace('_', '-')}" for key in SLURM_KEYS
                   if getattr(option, f"sacred_slurm_{key}") is not None]
    if option.sacred_slurm_config:
        slurm_given.append("--sacred-slurm-config")
    if launcher is None and slurm_given:
        raise pytest.UsageError(f"{', '.join(slurm_given)} given without --sacred-launcher=slurm")
    if getattr(option, "dist", "no") != "no" and (launcher or option.sacred_run_queued):
        raise pytest.UsageError("--sacred-launcher/--sacred-run-queued run the variants "
                                "elsewhere or one at a time; drop -n/--dist")
    if option.sacred_queue and (launcher or option.sacred_run_queued or option.sacred_rerun):
        raise pytest.UsageError("--sacred-queue only records runs; it cannot be combined with "
                                "--sacred-launcher, --sacred-run-queued or --sacred-rerun")
    if option.sacred_resume:
        _check_resume(option, launcher)
    if option.sacred_run_queued and (option.sacred_slurm_requeue is not None or (
            launcher and slurm_parameters(config).requeue is not None)):
        raise pytest.UsageError("--sacred-slurm-requeue resumes the runs of array tasks; "
                                "queue workers take runs from the queue instead (requeue "
                                "dead ones with --sacred-requeue-dead): drop one of them")
    if option.sacred_rerun is not None and option.sacred_run_queued:
        raise pytest.UsageError("--sacred-rerun and --sacred-run-queued exclude each other")
    if option.sacred_worker_idle is not None and not option.sacred_run_queued:
        raise pytest.UsageError("--sacred-worker-idle is for workers: add --sacred-run-queued")
    if option.sacred_requeue_dead and not option.sacred_run_queued:
        raise pytest.UsageError("--sacred-requeue-dead is for workers: add --sacred-run-queued")
    if option.sacred_rerun_from and option.sacred_rerun is None:
        raise pytest.UsageError("--sacred-rerun-from names where to find --sacred-rerun's run; "
                                "give --sacred-rerun ID")
    if option.sacred_worker_idle is not None and option.sacred_worker_idle < 0:
        raise pytest.UsageError(f"--sacred-worker-idle {option.sacred_worker_idle}: expected "
                                "seconds >= 0")
    return LaunchOptions(
        launcher=launcher,
        slurm=slurm_parameters(config) if launcher else SlurmParameters(),
        cancel_on_interrupt=bool(option.sacred_slurm_cancel_on_interrupt),
        run_queued=bool(option.sacred_run_queued),
        worker_idle=option.sacred_worker_idle or 0.0,
        requeue_dead=bool(option.sacred_requeue_dead),
        rerun=option.sacred_rerun,
        rerun_from=option.sacred_rerun_from,
        resume=tuple(dict.fromkeys(option.sacred_resume or ())),
    )


def _check_resume(option: Any, launcher: str | None) -> None:
    """``--sacred-resume`` continues runs in this process, under their stored ids: what
    would run them elsewhere, under other ids or more than once is refused."""
    others = [name for name, given in (
        ("--sacred-rerun", option.sacred_rerun is not None),
        ("--sacred-queue", option.sacred_queue), ("--sacred-run-queued", option.sacred_run_queued),
        ("--sacred-launcher", launcher), ("--sacred-id", option.sacred_id is not None),
        ("-n/--dist", getattr(option, "dist", "no") != "no")) if given]
    if others:
        raise pytest.UsageError(f"--sacred-resume continues stored runs in this session under "
                                f"their own ids; it cannot be combined with {', '.join(others)}")
