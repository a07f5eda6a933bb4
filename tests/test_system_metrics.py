"""``--sacred-system-metrics``: CPU, memory, disk and GPU use of a run as system.* metrics,
sampled at each heartbeat; nothing sampled (or imported) without the option."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("psutil", reason="psutil is not installed (extra 'system')")

from pytest_sacred.sysmetrics import SystemSampler, parse_gpus  # noqa: E402

BUSY = """
import os, subprocess, sys, time
import pytest

@pytest.mark.experiment
def test_busy(sacred_run):
    sacred_run.log_scalar("loss", 1.0)
    # a child holding 300 MB: the tree's memory, not only this process's
    child = subprocess.Popen([sys.executable, "-c",
                              "import sys, time\\nx = bytearray(300_000_000)\\n"
                              "sys.stdout.write('ready\\\\n'); sys.stdout.flush()\\n"
                              "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "ready\\n"
        with open("written.bin", "wb") as f:  # 16 MB through the disk
            f.write(os.urandom(16_000_000))
            f.flush()
            os.fsync(f.fileno())
        end = time.process_time() + 1.0  # a second of CPU
        while time.process_time() < end:
            pass
        time.sleep(0.5)
    finally:
        child.kill()
"""

SYSTEM = ("system.cpu_percent", "system.rss_bytes", "system.memory_used_bytes",
          "system.read_bytes", "system.write_bytes")


def _metrics(runs_dir: Path, run_id: int = 1) -> dict:
    return json.loads((runs_dir / str(run_id) / "metrics.json").read_text())


def test_system_metrics_are_ordinary_metrics_of_the_run(pytester, runs_dir):
    pytester.makepyfile(test_exp=BUSY)
    result = pytester.runpytest_subprocess("--sacred-system-metrics", "--sacred-heartbeat=0.2")
    result.assert_outcomes(passed=1)
    metrics = _metrics(runs_dir)
    assert sorted(metrics) == sorted(["loss", *SYSTEM]), sorted(metrics)
    for name in SYSTEM:
        series = metrics[name]
        # periodic samples (the run takes over a second at 0.2 s) and the final one
        assert len(series["values"]) >= 4, (name, series)
        assert series["steps"] == list(range(len(series["values"])))
        assert len(series["timestamps"]) == len(series["values"])
    assert max(metrics["system.rss_bytes"]["values"]) > 300_000_000  # the child's bytes
    assert max(metrics["system.cpu_percent"]["values"]) > 10
    assert min(metrics["system.memory_used_bytes"]["values"]) > 300_000_000
    assert metrics["system.read_bytes"]["values"][0] >= 0
    assert max(metrics["system.write_bytes"]["values"]) >= 16_000_000


def test_without_the_option_nothing_is_sampled(pytester, runs_dir):
    pytester.makepyfile(test_exp="""
        import sys
        import pytest

        @pytest.mark.experiment
        def test_plain(sacred_run):
            sacred_run.log_scalar("loss", 1.0)
            print("sampler loaded:", "pytest_sacred.sysmetrics" in sys.modules)
    """)
    result = pytester.runpytest_subprocess("--sacred-heartbeat=0.1")
    result.assert_outcomes(passed=1)
    assert sorted(_metrics(runs_dir)) == ["loss"]
    assert (runs_dir / "1" / "cout.txt").read_text() == "sampler loaded: False\n"


def test_without_psutil_the_option_names_the_extra(pytester, runs_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "psutil", None)  # import psutil raises ImportError
    pytester.makepyfile(test_exp=BUSY)
    result = pytester.runpytest("--sacred-system-metrics")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-system-metrics needs psutil, which is not "
                                 "installed: pip install 'pytest-sacred[[]system[]]'*"])
    assert not runs_dir.exists() or not list(runs_dir.glob("[0-9]*"))


def _fake_nvidia_smi(directory: Path, script: str) -> None:
    """An ``nvidia-smi`` on PATH that answers as the real one does (this machine has no
    GPU): the CSV of ``--query-gpu=index,utilization.gpu,memory.used``."""
    tool = directory / "nvidia-smi"
    tool.write_text("#!/bin/sh\n" + script)
    tool.chmod(0o755)


def test_gpu_metrics_come_from_nvidia_smi(pytester, runs_dir, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_nvidia_smi(bin_dir, 'case "$*" in *--query-gpu=index,utilization.gpu,memory.used*)\n'
                              '  printf "0, 37, 1024\\n1, [N/A], 2048\\n" ;;\n'
                              '  *) exit 9 ;;\nesac\n')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    pytester.makepyfile(test_exp="""
        import pytest

        @pytest.mark.experiment
        def test_gpu():
            pass
    """)
    result = pytester.runpytest_subprocess("--sacred-system-metrics")
    result.assert_outcomes(passed=1)
    metrics = _metrics(runs_dir)
    assert metrics["system.gpu0.utilization"]["values"] == [37.0]
    assert metrics["system.gpu0.memory_used_bytes"]["values"] == [1024 * 1024 * 1024]
    assert metrics["system.gpu1.memory_used_bytes"]["values"] == [2048 * 1024 * 1024]
    assert "system.gpu1.utilization" not in metrics  # [N/A]: not a number, left out


def test_an_nvidia_smi_that_fails_is_a_warning(pytester, runs_dir, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_nvidia_smi(bin_dir, 'echo "NVIDIA-SMI has failed because it couldn\'t communicate '
                              'with the NVIDIA driver" >&2\nexit 9\n')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    pytester.makepyfile(test_exp="""
        import pytest

        @pytest.mark.experiment
        def test_gpu():
            pass
    """)
    result = pytester.runpytest_subprocess("--sacred-system-metrics")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*SystemMetricsWarning: --sacred-system-metrics: */nvidia-smi "
                                 "does not answer (NVIDIA-SMI has failed*); GPU metrics are not "
                                 "recorded*"])
    metrics = _metrics(runs_dir)
    assert "system.cpu_percent" in metrics and not any("gpu" in name for name in metrics)


def test_parse_gpus_reads_each_gpu_line():
    assert parse_gpus("0, 99, 100\n\n3, 5, [Not Supported]\nNo devices were found\n") == {
        "system.gpu0.utilization": 99.0, "system.gpu0.memory_used_bytes": 100 * 1024 * 1024,
        "system.gpu3.utilization": 5.0}


#: the budget: 2 % of one core at the default heartbeat (10 s)
BUDGET_S = 0.02 * 10.0


def test_a_sample_costs_far_less_than_the_budget():
    """The CPU time of the sampling thread per sample (load on the machine does not
    count, unlike wall time); the benchmark reports the measured figures."""
    sampler = SystemSampler()
    sampler.start()
    start = time.thread_time()
    for _ in range(20):
        sampler.sample()
    per_sample = (time.thread_time() - start) / 20
    assert per_sample < BUDGET_S / 10, f"{per_sample * 1000:.1f} ms of CPU per sample"
