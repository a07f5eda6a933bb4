"""The run an experiment records: result, metrics, artifacts, output, statuses (DESIGN §2)."""

from __future__ import annotations

import json
import sys

import pytest
from helpers import stored_runs


def only_run(runs_dir) -> dict:
    (run,) = stored_runs(runs_dir).values()
    return run


def test_result_is_the_return_value_without_a_warning(pytester, runs_dir):
    pytester.makepyfile(test_r='''
        import pytest

        @pytest.mark.experiment
        def test_r():
            return {"accuracy": 0.9}

        @pytest.mark.experiment
        def test_explicit(sacred_run):
            sacred_run.result = 7
    ''')
    result = pytester.runpytest("-W", "error::pytest.PytestReturnNotNoneWarning")
    result.assert_outcomes(passed=2)
    assert "PytestReturnNotNoneWarning" not in result.stdout.str()
    results = {r["experiment"]["name"]: r["result"] for r in stored_runs(runs_dir).values()}
    assert results == {"r": {"accuracy": 0.9}, "explicit": 7}


def test_ordinary_tests_produce_no_run(pytester, runs_dir):
    pytester.makepyfile(test_plain='''
        import pytest

        def test_a():
            return None

        @pytest.mark.parametrize("x", [1, 2])
        def test_b(x, tmp_path):
            (tmp_path / "f").write_text("x")

        @pytest.mark.experiment
        def test_c():
            pass
    ''')
    result = pytester.runpytest()
    result.assert_outcomes(passed=4)
    runs = stored_runs(runs_dir)
    assert [r["command"] for r in runs.values()] == ["test_c"]
    result.stdout.fnmatch_lines(["*pytest-sacred runs*", "1 *c *COMPLETED*"])


def test_no_store_and_no_table_without_experiments(pytester, runs_dir):
    pytester.makepyfile(test_plain="def test_a():\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert not runs_dir.exists()
    assert "pytest-sacred" not in result.stdout.str()


def test_metrics_info_and_artifacts(pytester, runs_dir):
    pytester.makepyfile(test_m='''
        import pytest
        import numpy as np

        @pytest.mark.experiment
        def test_m(sacred_run, tmp_path):
            for i in range(5):
                sacred_run.log_scalar("loss", 1.0 / (i + 1))
            sacred_run.log_scalar("acc", np.float32(0.5), step=10)
            sacred_run.log_scalar("acc", 0.75)
            sacred_run.info["best"] = {"epoch": 3, "tags": ("a", "b")}
            (tmp_path / "model.bin").write_bytes(b"weights")
            (tmp_path / "plots").mkdir()
            (tmp_path / "plots" / "loss.csv").write_text("1,2")
            other = tmp_path.parent / "elsewhere.txt"
            other.write_text("explicit")
            sacred_run.add_artifact(other, name="notes.txt", metadata={"k": 1})
    ''')
    pytester.runpytest().assert_outcomes(passed=1)
    run = only_run(runs_dir)
    metrics = json.loads((runs_dir / "1" / "metrics.json").read_text())
    assert metrics["loss"]["steps"] == [0, 1, 2, 3, 4]
    assert metrics["loss"]["values"] == [1.0, 0.5, 1 / 3, 0.25, 0.2]
    assert len(metrics["loss"]["timestamps"]) == 5
    assert metrics["acc"]["steps"] == [10, 11]
    assert metrics["acc"]["values"] == [0.5, 0.75]
    info = json.loads((runs_dir / "1" / "info.json").read_text())
    assert info == {"best": {"epoch": 3, "tags": {"py/tuple": ["a", "b"]}}}
    assert run["artifacts"] == ["notes.txt", "model.bin", "plots/loss.csv"]
    assert (runs_dir / "1" / "plots" / "loss.csv").read_text() == "1,2"
    assert (runs_dir / "1" / "notes.txt").read_text() == "explicit"


def test_captured_output_with_progress_bars_folded(pytester, runs_dir):
    pytester.makepyfile(test_o='''
        import sys
        import pytest

        @pytest.fixture
        def data():
            print("loading data")
            return 1

        @pytest.mark.experiment
        def test_o(data):
            for pct in range(0, 101, 10):
                sys.stdout.write(f"\\rprogress {pct:3d}%")
            print()
            print("done")
            print("warning!", file=sys.stderr)
    ''')
    pytester.runpytest().assert_outcomes(passed=1)
    cout = (runs_dir / "1" / "cout.txt").read_text()
    assert cout == "loading data\nprogress 100%\ndone\nwarning!\n"


def test_failed_run_keeps_trace_metrics_and_output(pytester, runs_dir):
    pytester.makepyfile(test_f='''
        import pytest

        def helper(x):
            assert x < 3, "diverged"

        @pytest.mark.experiment
        def test_f(sacred_run):
            for i in range(5):
                sacred_run.log_scalar("loss", float(i))
                print("step", i)
                helper(i)
    ''')
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    run = only_run(runs_dir)
    assert run["status"] == "FAILED"
    trace = "".join(run["fail_trace"])
    assert trace.startswith("Traceback (most recent call last):")
    assert "in test_f" in trace and "in helper" in trace
    assert "AssertionError: diverged" in trace
    assert "_pytest" not in trace and "pluggy" not in trace
    metrics = json.loads((runs_dir / "1" / "metrics.json").read_text())
    assert metrics["loss"]["values"] == [0.0, 1.0, 2.0, 3.0]
    assert (runs_dir / "1" / "cout.txt").read_text() == "step 0\nstep 1\nstep 2\nstep 3\n"
    assert "stop_time" in run


def test_fixture_error_before_the_body_is_a_failed_run(pytester, runs_dir):
    pytester.makepyfile(test_e='''
        import pytest

        @pytest.fixture
        def broken():
            raise RuntimeError("no GPU")

        @pytest.mark.experiment
        def test_e(broken):
            pass
    ''')
    pytester.runpytest().assert_outcomes(errors=1)
    run = only_run(runs_dir)
    assert run["status"] == "FAILED"
    assert "RuntimeError: no GPU" in "".join(run["fail_trace"])


def test_skip_in_the_body(pytester, runs_dir):
    pytester.makepyfile(test_s='''
        import pytest

        @pytest.mark.experiment
        def test_s():
            pytest.skip("no data today")

        @pytest.mark.experiment
        @pytest.mark.skip(reason="not now")
        def test_never():
            pass
    ''')
    pytester.runpytest().assert_outcomes(skipped=2)
    run = only_run(runs_dir)
    assert run["status"] == "SKIPPED" and run["command"] == "test_s"


def test_timeout_is_recorded_as_timeout(pytester, runs_dir, monkeypatch):
    pytest.importorskip("pytest_timeout")
    # as on most machines: the terminal writer pytest-timeout reports through is buffered
    monkeypatch.delenv("PYTHONUNBUFFERED", raising=False)
    pytester.makepyfile(test_t='''
        import time
        import pytest

        @pytest.mark.experiment
        @pytest.mark.timeout(3, method="signal")
        def test_t(sacred_run):
            sacred_run.log_scalar("x", 1)
            print("before the hang")
            time.sleep(30)
    ''')
    result = pytester.runpytest_subprocess("-p", "timeout")
    result.assert_outcomes(failed=1)
    run = only_run(runs_dir)
    assert run["status"] == "TIMEOUT"
    cout = (runs_dir / "1" / "cout.txt").read_text()
    assert cout.startswith("before the hang\n") and "Timeout" in cout  # pytest-timeout's report
    assert json.loads((runs_dir / "1" / "metrics.json").read_text())["x"]["values"] == [1]
    info = json.loads((runs_dir / "1" / "info.json").read_text())
    assert info["ended_by"] == "Timeout (>3.0s) from pytest-timeout."


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_ctrl_c_is_recorded_as_interrupted(pytester, runs_dir):
    pytester.makepyfile(test_i='''
        import os, signal, pytest

        @pytest.mark.experiment
        def test_i(sacred_run):
            sacred_run.log_scalar("x", 1)
            print("working")
            os.kill(os.getpid(), signal.SIGINT)
    ''')
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["1 *i *INTERRUPTED*runs/1"])
    run = only_run(runs_dir)
    assert run["status"] == "INTERRUPTED"
    assert (runs_dir / "1" / "cout.txt").read_text() == "working\n"
    assert "stop_time" in run


def test_resources_are_stored_once_per_content(pytester, runs_dir):
    pytester.path.joinpath("data.csv").write_text("a,b\n1,2\n")
    pytester.makepyfile(test_res='''
        import pytest

        @pytest.mark.experiment
        @pytest.mark.parametrize("i", [1, 2])
        def test_res(sacred_run, i):
            with sacred_run.open_resource("data.csv") as f:
                assert f.readline() == "a,b\\n"
    ''')
    pytester.runpytest().assert_outcomes(passed=2)
    runs = stored_runs(runs_dir)
    stored = {tuple(r["resources"][0]) for r in runs.values()}
    assert len(stored) == 1
    original, copy = stored.pop()
    assert original == str(pytester.path / "data.csv")
    assert open(copy).read() == "a,b\n1,2\n"
    assert len(list((runs_dir / "_resources").iterdir())) == 1


def test_store_directory_is_never_collected(pytester, runs_dir):
    pytester.makepyfile(test_again='''
        import pytest

        @pytest.mark.experiment
        def test_again():
            pass
    ''')
    pytester.runpytest().assert_outcomes(passed=1)
    assert any((runs_dir / "_sources").glob("test_again_*.py"))
    pytester.runpytest().assert_outcomes(passed=1)  # the copy in _sources is not a test
    pytester.runpytest("--sacred-unobserved").assert_outcomes(passed=1)
    assert sorted(stored_runs(runs_dir)) == [1, 2]


def test_large_metrics_are_journaled_during_the_run_and_stored_whole_at_the_end(
        pytester, runs_dir, monkeypatch):
    import pytest_sacred.stores.file.writer as file_storage

    monkeypatch.setattr(file_storage, "LIVE_METRICS_BYTES", 2000)
    pytester.makeconftest('''
        BEATS = []

        def pytest_sacred_heartbeat_event(run_id):
            BEATS.append(run_id)
    ''')
    pytester.makepyfile(test_big='''
        import json, time
        from pathlib import Path
        import pytest
        from pytest_sacred.journal import JOURNAL, add_journal

        def two_more_beats(request):
            # the second of them began after the points logged so far: they are stored
            [beats] = [p.BEATS for p in request.config.pluginmanager.get_plugins()
                       if hasattr(p, "BEATS")]
            target, deadline = len(beats) + 2, time.monotonic() + 120
            while len(beats) < target:
                assert time.monotonic() < deadline, "no heartbeat in 120 s"
                time.sleep(0.01)

        @pytest.mark.experiment
        def test_big(sacred_run, request):
            run_dir = Path("runs") / str(sacred_run._id)
            for i in range(400):
                sacred_run.log_scalar("loss", float(i))
                if i % 100 == 99:
                    two_more_beats(request)  # a few heartbeats
            text = (run_dir / JOURNAL).read_text()
            # a record per beat (and chunk), each header saying where its points start
            headers = [json.loads(line) for line in text.splitlines()
                       if line.startswith('{"name"')]
            assert headers and all(header["name"] == "loss" for header in headers)
            starts = [header["start"] for header in headers]
            assert starts == sorted(starts) and len(starts) >= 2
            on_disk = json.loads((run_dir / "metrics.json").read_text())
            assert len(on_disk["loss"]["steps"]) < 400  # no longer rewritten at each beat
            assert add_journal(on_disk, text)["loss"]["steps"] == list(range(400))
    ''')
    pytester.runpytest("--sacred-heartbeat", "0.1").assert_outcomes(passed=1)
    metrics = json.loads((runs_dir / "1" / "metrics.json").read_text())
    assert metrics["loss"]["steps"] == list(range(400))
    assert metrics["loss"]["values"] == [float(i) for i in range(400)]
    assert not (runs_dir / "1" / "metrics.journal").exists()
