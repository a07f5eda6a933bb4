"""The launcher without a cluster: sweeps through submitit's local executor, and launcher
input refused before anything is submitted. Apart from test_slurm.py (a real cluster) so
that xdist runs these beside the cluster's minute-long tests."""

from __future__ import annotations

import os
import sys

import pytest

pytest.importorskip("submitit", reason="submitit is not installed (extra 'slurm')")

from helpers import LAUNCHER_SWEEP as SWEEP  # noqa: E402
from helpers import nothing_submitted, read_run, run_info, stored_runs  # noqa: E402


def test_a_failing_launched_run_shows_its_exception_as_pytest_would(pytester, runs_dir):
    pytester.makepyfile(test_exp="""
        import pytest

        @pytest.mark.experiment
        @pytest.mark.parametrize("x", [1, 2])
        def test_s(x, sacred_run):
            if x == 2:
                raise ValueError(f"boom on x={x}")
            return x
    """)
    result = pytester.runpytest("--sacred-launcher=local", "-rf")
    result.assert_outcomes(passed=1, failed=1)
    # the task's report itself: the short summary names the exception, not the first
    # line of the traceback (the test's arguments, "sacred_run = <Run 2 's' FAILED>")
    result.stdout.fnmatch_lines(["FAILED test_exp.py::test_s[[]2[]] - ValueError: boom on x=2",
                                 "*1 failed, 1 passed*"])
    result.stdout.fnmatch_lines(["*def test_s(x, sacred_run):*", ">*raise ValueError*",
                                 "E*ValueError: boom on x=2"])
    result.stdout.no_fnmatch_line("FAILED*sacred_run = *")
    assert sorted(r["status"] for r in stored_runs(runs_dir).values()) == ["COMPLETED", "FAILED"]
    # the rows of the summary table travel on the reports, with the task's log
    result.stdout.fnmatch_lines(["*FAILED*runs/*slurm-logs/*_log.out"])


def test_the_local_executors_time_limit_ends_the_run_timeout(pytester, runs_dir):
    """submitit's local executor, given the limit in seconds (0:12, not rounded up to a
    minute as for Slurm), warns (SIGUSR2) half of it before the limit and stops the task
    with SIGINT at it: TIMEOUT, as under Slurm, not INTERRUPTED."""
    pytester.makepyfile(test_exp="""
        import time
        import pytest

        @pytest.mark.experiment
        def test_long():
            time.sleep(300)
    """)
    result = pytester.runpytest("--sacred-launcher=local", "--sacred-slurm-time=0:12")
    result.assert_outcomes(failed=1)
    run = read_run(runs_dir, 1)
    assert run["status"] == "TIMEOUT", run
    assert run_info(runs_dir, 1)["ended_by"] == "time limit (12 s) of submitit's local executor"
    assert "the task's time limit (12 s) is near" in (runs_dir / "1" / "cout.txt").read_text()
    result.stdout.fnmatch_lines(["FAILED test_exp.py::test_long - run 1 TIMEOUT: time limit*"])


def test_local_executor_runs_the_same_path(pytester, runs_dir):
    pytester.makepyfile(test_exp=SWEEP.format(n=3))
    result = pytester.runpytest("--sacred-launcher=local", "--sacred-slurm-time=5")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*submitted 3 task(s)*", "*3 done*"])
    runs = stored_runs(runs_dir)
    assert sorted(runs) == [1, 2, 3]
    assert sorted(r["result"] for r in runs.values()) == [0, 10, 20]


# -- time limits: seconds for the local executor, whole minutes for Slurm -------------------


@pytest.mark.parametrize("given, seconds, slurm_minutes", [
    ("1", 60, 1), ("0:12", 12, 1), ("1:30", 90, 2), ("2:00:01", 7201, 121),
    ("1-0", 86400, 1440), ("1-00:00:01", 86401, 1441), (None, None, None),
])
def test_time_limits_keep_their_seconds_and_slurm_gets_minutes_rounded_up(
        given, seconds, slurm_minutes):
    from pytest_sacred.launchers.options import SlurmParameters, timeout_seconds

    params = SlurmParameters(timeout_s=timeout_seconds(given))
    assert params.timeout_s == seconds
    assert params.timeout_min == slurm_minutes


@pytest.mark.parametrize("seconds, limit_s, delay_s", [
    (1, 1, 0), (12, 12, 6), (123, 123, 30), (None, 3600, 30),
])
def test_the_local_executor_gets_the_exact_seconds_and_a_warning_inside_them(
        tmp_path, seconds, limit_s, delay_s):
    """submitit keeps ``int(60 * timeout_min)`` seconds: 123 / 60 alone would give 122.
    The warning comes at half a short limit (none for 1 s: submitit sends none at 0)."""
    from pytest_sacred.launchers.executors import build
    from pytest_sacred.launchers.options import SlurmParameters

    executor = build("local", SlurmParameters(timeout_s=seconds), tmp_path)
    assert int(60 * executor.parameters["timeout_min"]) == limit_s
    assert executor.parameters["signal_delay_s"] == delay_s


@pytest.fixture
def local_task_env(monkeypatch):
    """A local task's environment, as submitit's local executor sets it; the signal
    handlers the test installs are restored after it."""
    import signal

    monkeypatch.setenv("SUBMITIT_EXECUTOR", "local")
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.delenv("SUBMITIT_PREEMPT_SIGNAL", raising=False)

    def limits(limit_s: int, delay_s: int) -> None:
        monkeypatch.setenv("SUBMITIT_LOCAL_TIMEOUT_S", str(limit_s))
        monkeypatch.setenv("SUBMITIT_LOCAL_SIGNAL_DELAY_S", str(delay_s))

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGUSR2)}
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a task's, whatever runs this
    yield limits
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


@pytest.mark.parametrize("delay", [0, 1])
def test_a_local_limit_without_a_warning_still_ends_the_run_timeout(local_task_env, delay):
    """No SIGUSR2 comes with a delay of 0 (a 1 s limit), nor in time with one of the limit
    itself: the SIGINT at the limit, unannounced, is the limit's all the same."""
    import signal

    from pytest_sacred.launchers.task import _on_preemption_signal
    from pytest_sacred.signals import RunStopped

    local_task_env(1, delay)
    _on_preemption_signal()
    with pytest.raises(RunStopped) as stopped:
        signal.raise_signal(signal.SIGINT)
    assert stopped.value.status == "TIMEOUT"
    assert stopped.value.ended_by == "time limit (1 s) of submitit's local executor"


def test_a_local_sigint_before_the_warning_is_an_interrupt(local_task_env, capsys):
    """With a warning to come, a SIGINT before it is Ctrl-C or a cancelled job; after it,
    the limit's."""
    import signal

    from pytest_sacred.launchers.task import _on_preemption_signal
    from pytest_sacred.signals import RunStopped

    local_task_env(12, 6)
    _on_preemption_signal()
    with pytest.raises(KeyboardInterrupt) as interrupted:
        signal.raise_signal(signal.SIGINT)
    assert not isinstance(interrupted.value, RunStopped)
    signal.raise_signal(signal.SIGUSR2)
    assert "the task's time limit (12 s) is near" in capsys.readouterr().err
    with pytest.raises(RunStopped) as stopped:
        signal.raise_signal(signal.SIGINT)
    assert stopped.value.status == "TIMEOUT"


# -- bad input: a clear error, nothing submitted -------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["--sacred-slurm-time=soon"], "*--sacred-slurm-time 'soon': expected minutes or "
                                   "[[]D-[]]HH:MM[[]:SS[]]*"),
    (["--sacred-slurm-cpus=0"], "*--sacred-slurm-cpus '0': expected an integer >= 1*"),
    (["--sacred-slurm-mem=lots"], "*--sacred-slurm-mem 'lots': expected a size such as 4G*"),
    (["--sacred-slurm-partition=debug"], "*need --sacred-launcher=slurm; the local executor "
                                         "cannot honour them*"),
])
def test_invalid_parameters_are_refused(pytester, runs_dir, args, message):
    pytester.makepyfile(test_exp=SWEEP.format(n=2))
    result = pytester.runpytest("--sacred-launcher=local", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    nothing_submitted(pytester.path, runs_dir)


def test_slurm_options_without_a_launcher_are_refused(pytester):
    pytester.makepyfile(test_exp=SWEEP.format(n=2))
    result = pytester.runpytest("--sacred-slurm-cpus=2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-slurm-cpus given without --sacred-launcher=slurm*"])


def test_unknown_keys_in_the_config_file_are_named(pytester, runs_dir):
    pytester.makepyfile(test_exp=SWEEP.format(n=2))
    pytester.makefile(".yaml", slurm="cpus: 2\nqueue: long\nnodes: 3\n")
    result = pytester.runpytest("--sacred-launcher=local", "--sacred-slurm-config=slurm.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*slurm.yaml': unknown key(s) nodes, queue; known keys: "
                                 "partition, time, cpus*"])
    nothing_submitted(pytester.path, runs_dir)


def test_config_file_values_reach_the_tasks(pytester, runs_dir):
    pytester.makepyfile(test_exp=SWEEP.format(n=4))
    pytester.makefile(".yaml", slurm="chunk: 2\ntime: '0:30:00'\n")
    result = pytester.runpytest("--sacred-launcher=local", "--sacred-slurm-config=slurm.yaml")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*submitted 2 task(s)*"])


def test_a_launcher_without_submitit_is_refused(pytester, runs_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit raises ImportError
    pytester.makepyfile(test_exp=SWEEP.format(n=2))
    result = pytester.runpytest("--sacred-launcher=local")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-launcher needs submitit, which is not installed: "
                                 "pip install 'pytest-sacred[[]slurm[]]'*"])
    nothing_submitted(pytester.path, runs_dir)


def test_unreachable_slurm_is_refused(pytester, runs_dir, monkeypatch, tmp_path):
    bin_dir = tmp_path / "bin"  # a Slurm client whose controller does not answer
    bin_dir.mkdir()
    for name in ("sinfo", "sbatch"):
        tool = bin_dir / name
        tool.write_text("#!/bin/sh\necho 'slurm_load_partitions: Unable to contact slurm "
                        "controller (connect failure)' >&2\nexit 1\n")
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    pytester.makepyfile(test_exp=SWEEP.format(n=2))
    result = pytester.runpytest("--sacred-launcher=slurm")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-launcher=slurm: sinfo failed (slurm_load_partitions:"
                                 " Unable to contact slurm controller*is slurmctld running*"])
    nothing_submitted(pytester.path, runs_dir)
