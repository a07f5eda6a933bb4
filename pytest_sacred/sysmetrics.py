"""System metrics of a run (``--sacred-system-metrics``), sampled at each heartbeat.

They are recorded as ordinary metrics of the run, so every store, reader, plot and
Omniboard takes them as it takes the run's own:

* ``system.cpu_percent``: CPU use of the process tree running the test (this process and
  its children, recursively: data loader workers, subprocesses), in percent of one core;
* ``system.rss_bytes``: resident memory of that tree;
* ``system.memory_used_bytes``: memory used on the machine;
* ``system.read_bytes`` and ``system.write_bytes``: the machine's disk traffic since the
  run started;
* ``system.gpu<i>.utilization`` (percent) and ``system.gpu<i>.memory_used_bytes`` for each
  GPU that ``nvidia-smi`` lists, when it is on ``PATH`` and answers.

The periodic samples are taken on the heartbeat thread, the last one with the final beat;
a session without the option imports nothing of this. CPU percentages are over the time
since the previous sample (the first one over the time since the run started), as
``psutil`` measures them.
"""

from __future__ import annotations

import shutil
import subprocess
import warnings
from typing import Any

import pytest

from .extras import MissingExtra, require

#: what ``nvidia-smi`` is asked, one line per GPU (memory in MiB)
GPU_QUERY = ("--query-gpu=index,utilization.gpu,memory.used", "--format=csv,noheader,nounits")
#: seconds ``nvidia-smi`` may take before a sample goes on without GPU values
GPU_TIMEOUT = 5.0


class SystemMetricsWarning(pytest.PytestWarning):
    """A system metric this machine cannot give: it is left out of every run."""


def check_available() -> None:
    """``psutil`` is installed, else a usage error naming the extra (at session start)."""
    try:
        require("psutil", "system", "--sacred-system-metrics")
    except MissingExtra as exc:
        raise pytest.UsageError(str(exc)) from None


def parse_gpus(text: str) -> dict[str, float]:
    """The metrics of ``nvidia-smi``'s CSV answer (``index, utilization %, memory MiB``);
    a field a GPU does not report (``[N/A]``) is left out."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 3 or not fields[0].isdigit():
            continue
        index, utilization, memory = fields
        for name, field, scale in (("utilization", utilization, 1),
                                   ("memory_used_bytes", memory, 1024 * 1024)):
            try:
                values[f"system.gpu{index}.{name}"] = float(field) * scale
            except ValueError:  # "[N/A]", "[Not Supported]"
                pass
    return values


class SystemSampler:
    """Samples the metrics above for one run at a time (runs of a process follow each
    other). Built once per session; what the machine cannot give is said once, as a
    :class:`SystemMetricsWarning`, when it is built."""

    def __init__(self) -> None:
        self._psutil: Any = require("psutil", "system", "--sacred-system-metrics")
        self._root = self._psutil.Process()
        #: the tree's processes by pid, kept so that CPU use is measured between samples
        self._tree: dict[int, Any] = {}
        self._disk_start: tuple[int, int] | None = None
        #: failures of a sample's optional part (``nvidia-smi``), for the caller to report
        self.errors: list[BaseException] = []
        self._has_disk = self._disk() is not None
        if not self._has_disk:
            warnings.warn(SystemMetricsWarning(
                "--sacred-system-metrics: this machine reports no disk counters "
                "(psutil.disk_io_counters() is empty); system.read_bytes and "
                "system.write_bytes are not recorded"), stacklevel=2)
        self._nvidia_smi = shutil.which("nvidia-smi")
        if self._nvidia_smi is not None:
            try:
                self._gpus()
            except (OSError, subprocess.SubprocessError, ValueError) as exc:
                warnings.warn(SystemMetricsWarning(
                    f"--sacred-system-metrics: {self._nvidia_smi} does not answer ({exc}); "
                    "GPU metrics are not recorded"), stacklevel=2)
                self._nvidia_smi = None

    def _disk(self) -> tuple[int, int] | None:
        counters = self._psutil.disk_io_counters()
        return None if counters is None else (counters.read_bytes, counters.write_bytes)

    def _gpus(self) -> dict[str, float]:
        assert self._nvidia_smi is not None
        done = subprocess.run([self._nvidia_smi, *GPU_QUERY], capture_output=True, text=True,
                              timeout=GPU_TIMEOUT)
        if done.returncode != 0:
            raise ValueError((done.stderr or done.stdout).strip()[:300]
                             or f"exit code {done.returncode}")
        return parse_gpus(done.stdout)

    def _processes(self) -> list[Any]:
        """This process and its descendants, the ones seen before reused (their CPU
        counters are the baseline of the next percentage)."""
        psutil = self._psutil
        try:
            found = [self._root, *self._root.children(recursive=True)]
        except psutil.Error:
            found = [self._root]
        tree = {}
        for proc in found:
            known = self._tree.get(proc.pid)
            tree[proc.pid] = known if known is not None and known == proc else proc
        self._tree = tree
        return list(tree.values())

    def start(self) -> None:
        """At a run's start: the CPU baseline of the tree and the disk counters."""
        self._tree = {}
        for proc in self._processes():
            try:
                proc.cpu_percent(None)
            except self._psutil.Error:
                pass
        self._disk_start = self._disk() if self._has_disk else None

    def sample(self) -> dict[str, float]:
        """One value of each metric, by name."""
        psutil = self._psutil
        cpu = 0.0
        rss = 0
        for proc in self._processes():
            try:
                with proc.oneshot():
                    cpu += proc.cpu_percent(None)
                    rss += proc.memory_info().rss
            except psutil.Error:  # ended (or not ours to read) since it was listed
                continue
        values: dict[str, float] = {"system.cpu_percent": cpu, "system.rss_bytes": rss,
                                    "system.memory_used_bytes": psutil.virtual_memory().used}
        disk = self._disk() if self._disk_start is not None else None
        if disk is not None and self._disk_start is not None:
            values["system.read_bytes"] = disk[0] - self._disk_start[0]
            values["system.write_bytes"] = disk[1] - self._disk_start[1]
        if self._nvidia_smi is not None:
            try:
                values.update(self._gpus())
            except (OSError, subprocess.SubprocessError, ValueError) as exc:
                self.errors.append(exc)  # reported with the run; the other values stay
        return values
