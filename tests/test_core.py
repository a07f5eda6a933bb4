"""The core's shape as users meet it: the Run facade, async experiments, options, exit codes."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from pathlib import Path

import pytest
from helpers import read_run, stored_runs

import pytest_sacred


def test_run_is_exported_and_shows_only_the_users_attributes(pytester: pytest.Pytester,
                                                             runs_dir: Path) -> None:
    pytester.makepyfile("""
        import pytest
        from pytest_sacred import Run

        @pytest.mark.experiment
        def test_facade(sacred_run):
            assert isinstance(sacred_run, Run)
            public = {n for n in dir(sacred_run) if not n.startswith("__")}
            assert public == {"_id", "_record", "_series", "config", "info", "log_scalar",
                              "add_artifact",
                              "open_resource", "add_resource", "result", "experiment_info",
                              "host_info", "meta_info", "start_time", "stop_time", "status",
                              "resumed"}, public
            assert sacred_run.resumed == 0  # a first start
            for name in ("_id", "status", "start_time", "stop_time", "experiment_info",
                         "resumed"):
                with pytest.raises(AttributeError):
                    setattr(sacred_run, name, None)
            with pytest.raises(TypeError):
                sacred_run.config["seed"] = 1
            assert sacred_run.status == "RUNNING" and sacred_run._id == 1
            sacred_run.result = "set"
    """)
    pytester.runpytest().assert_outcomes(passed=1)
    assert read_run(runs_dir, 1)["result"] == "set"
    assert pytest_sacred.Run.__module__ == "pytest_sacred.run"


def test_version_is_the_installed_one() -> None:
    from importlib.metadata import version

    assert pytest_sacred.__version__ == version("pytest-sacred")


ASYNC = """
import asyncio
import pathlib
import pytest

@pytest.mark.experiment
{marks}
async def test_async(tmp_path{args}):
    await asyncio.sleep(0)
    (tmp_path / "ran.txt").write_text("the body ran")
    return 11
"""


def test_async_experiment_without_a_plugin_is_a_usage_error(pytester: pytest.Pytester,
                                                             runs_dir: Path) -> None:
    pytester.makepyfile(ASYNC.format(marks="", args=""))
    result = pytester.runpytest("-p", "no:anyio", "-p", "no:asyncio")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: test_async_experiment_without_a_plugin_is_a_usage_error.py::test_async is an "
         "async def experiment, but no plugin will await it*"])
    assert stored_runs(runs_dir) == {}


def test_async_experiment_under_anyio_is_awaited(pytester: pytest.Pytester,
                                                 runs_dir: Path) -> None:
    pytest.importorskip("anyio")
    pytester.makepyfile(ASYNC.format(marks="@pytest.mark.anyio", args=", anyio_backend") + """
@pytest.fixture
def anyio_backend():
    return "asyncio"
""")
    pytester.runpytest("-p", "no:asyncio").assert_outcomes(passed=1)
    run = read_run(runs_dir, 1)
    assert (run["status"], run["result"], run["artifacts"]) == ("COMPLETED", 11, ["ran.txt"])


def test_async_experiment_under_pytest_asyncio_is_awaited(pytester: pytest.Pytester,
                                                          runs_dir: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # pytest-asyncio is not a test dependency (loaded into every session, it warns about
    # its unset loop scope); .ci/run installs it aside and names it in this variable
    site = os.environ.get("PYTEST_SACRED_ASYNCIO_SITE")
    if site:
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join([site, os.environ.get("PYTHONPATH", "")]))
    elif importlib.util.find_spec("pytest_asyncio") is None:
        pytest.skip("pytest-asyncio is not installed and PYTEST_SACRED_ASYNCIO_SITE is not set")
    pytester.makeini("""
        [pytest]
        asyncio_default_fixture_loop_scope = function
    """)
    pytester.makepyfile(ASYNC.format(marks="@pytest.mark.asyncio", args=""))
    result = pytester.runpytest_subprocess("-p", "no:anyio", "-W", "error::pytest.PytestWarning")
    result.assert_outcomes(passed=1)
    run = read_run(runs_dir, 1)
    assert (run["status"], run["result"], run["artifacts"]) == ("COMPLETED", 11, ["ran.txt"])


def test_returned_value_is_the_result_without_a_warning(pytester: pytest.Pytester,
                                                        runs_dir: Path) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.experiment
        def test_returns():
            return {"acc": 0.5}

        def test_ordinary_test_still_warns():
            return 1
    """)
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(["*test_ordinary_test_still_warns returned*"])
    assert read_run(runs_dir, 1)["result"] == {"acc": 0.5}


def test_usage_error_exits_4_with_and_without_xdist_and_comes_last(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest
        from pytest_sacred import config

        @config
        def C():
            return 1.0

        @pytest.mark.experiment
        def test_x(C):
            return C
    """)
    for extra in ([], ["-n", "2"]):
        result = pytester.runpytest_subprocess("--sacred-with", "D=3", *extra)
        assert result.ret == pytest.ExitCode.USAGE_ERROR, extra
        lines = [line for line in (result.stdout.lines + result.stderr.lines) if line.strip()]
        assert lines[-1].startswith("ERROR: ") and "--sacred-with D" in lines[-1], lines[-3:]


def test_options_are_parsed_once_into_a_frozen_object(pytester: pytest.Pytester) -> None:
    pytester.makeini("""
        [pytest]
        sacred_heartbeat = 2.5
        sacred_mongo_collection = from_ini
    """)
    pytester.makepyfile("""
        from pytest_sacred.keys import STATE

        def test_options(pytestconfig):
            options = pytestconfig.stash[STATE].options
            assert options.heartbeat == 0.5          # the command line wins
            assert options.mongo_collection == "from_ini"
            assert options.capture_env == ("HOME", "USER")
    """)
    from pytest_sacred.options import Options

    options = Options(heartbeat=1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.heartbeat = 2.0  # type: ignore[misc]
    result = pytester.runpytest("--sacred-heartbeat", "0.5", "--sacred-capture-env", "HOME, USER")
    result.assert_outcomes(passed=1)


def test_bad_ini_heartbeat_names_the_key(pytester: pytest.Pytester) -> None:
    pytester.makeini("""
        [pytest]
        sacred_heartbeat = often
    """)
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*sacred_heartbeat = 'often' is not a number of seconds*"])
