"""Observer hooks go through pluggy: wrappers, tryfirst/trylast, firstresult, monitoring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import read_run, stored_runs

EXPERIMENT = """
import pytest

@pytest.mark.experiment("hooked")
def test_ok(sacred_run):
    sacred_run.log_scalar("loss", 0.5)
    return 3
"""

#: conftest prologue: every call is appended to CALLS, written to calls.json at the end
PROLOGUE = """
import json, pathlib
import pytest

CALLS = []

def pytest_sessionfinish(session):
    pathlib.Path(str(session.config.rootpath), "calls.json").write_text(json.dumps(CALLS))
"""


def calls(pytester: pytest.Pytester) -> list:
    return json.loads((pytester.path / "calls.json").read_text())


def test_new_style_wrapper_on_a_sacred_hook_is_entered(pytester: pytest.Pytester,
                                                       runs_dir: Path) -> None:
    pytester.makeconftest(PROLOGUE + """
@pytest.hookimpl(wrapper=True)
def pytest_sacred_started_event(run_id, config):
    CALLS.append(["before", run_id])
    result = yield
    CALLS.append(["after", run_id])
    return result

def pytest_sacred_completed_event(run_id, result):
    CALLS.append(["completed", run_id, result])
""")
    pytester.makepyfile(EXPERIMENT)
    pytester.runpytest().assert_outcomes(passed=1)
    assert calls(pytester) == [["before", 1], ["after", 1], ["completed", 1, 3]]
    assert read_run(runs_dir, 1)["status"] == "COMPLETED"


def test_old_style_hookwrapper_sees_the_outcome(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(PROLOGUE + """
@pytest.hookimpl(hookwrapper=True)
def pytest_sacred_heartbeat_event(run_id, result):
    CALLS.append(["enter", run_id])
    outcome = yield
    CALLS.append(["exit", run_id, outcome.exception is None, result])
""")
    pytester.makepyfile(EXPERIMENT)
    pytester.runpytest("--sacred-heartbeat", "0").assert_outcomes(passed=1)
    assert calls(pytester) == [["enter", 1], ["exit", 1, True, 3]]


def test_tryfirst_and_trylast_order_the_calls(pytester: pytest.Pytester) -> None:
    # the file store (priority 20) writes run.json on started_event: the tryfirst
    # implementation runs before it (no run.json yet), the trylast one after it
    pytester.makeconftest(PROLOGUE + """
def _stored(config):
    return (pathlib.Path(str(config.rootpath)) / "runs" / "1" / "run.json").exists()

class Late:
    priority = 1000  # priority orders within a class; trylast still comes last
    @pytest.hookimpl(trylast=True)
    def pytest_sacred_started_event(self, run_id):
        CALLS.append(["late", _stored(CONFIG[0])])

class Early:
    @pytest.hookimpl(tryfirst=True)
    def pytest_sacred_started_event(self, run_id):
        CALLS.append(["early", _stored(CONFIG[0])])

CONFIG = []

def pytest_configure(config):
    CONFIG.append(config)
    config.pluginmanager.register(Early(), "early")
    config.pluginmanager.register(Late(), "late")
""")
    pytester.makepyfile(EXPERIMENT)
    pytester.runpytest().assert_outcomes(passed=1)
    assert calls(pytester) == [["early", False], ["late", True]]


def test_firstresult_allocate_id_from_a_tryfirst_conftest(pytester: pytest.Pytester,
                                                          runs_dir: Path) -> None:
    pytester.makeconftest(PROLOGUE + """
@pytest.hookimpl(tryfirst=True)
def pytest_sacred_allocate_id(config):
    CALLS.append("asked")
    return 70
""")
    pytester.makepyfile(EXPERIMENT)
    pytester.runpytest().assert_outcomes(passed=1)
    assert calls(pytester) == ["asked"]
    assert sorted(stored_runs(runs_dir)) == [70]


def test_hookcall_monitoring_and_tracing_see_sacred_calls(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(PROLOGUE + """
def pytest_configure(config):
    def before(hook_name, hook_impls, kwargs):
        if hook_name.startswith("pytest_sacred_"):
            CALLS.append(hook_name)
    def after(outcome, hook_name, hook_impls, kwargs):
        pass
    config.pluginmanager.add_hookcall_monitoring(before, after)
""")
    pytester.makepyfile(EXPERIMENT)
    pytester.runpytest().assert_outcomes(passed=1)
    assert calls(pytester) == [
        "pytest_sacred_allocate_id", "pytest_sacred_started_event",
        "pytest_sacred_captured_out_filter", "pytest_sacred_log_metrics",
        "pytest_sacred_heartbeat_event",
        "pytest_sacred_completed_event"]
    traced = pytester.runpytest("--debug=trace.log")
    traced.assert_outcomes(passed=1)
    assert "pytest_sacred_started_event" in (pytester.path / "trace.log").read_text()


def test_a_raising_wrapper_is_reported_by_name_and_the_run_is_stored(
        pytester: pytest.Pytester, runs_dir: Path) -> None:
    pytester.makeconftest("""
import pytest

class Broken:
    name = "broken-wrapper"
    @pytest.hookimpl(wrapper=True)
    def pytest_sacred_heartbeat_event(self):
        yield
        raise RuntimeError("wrapper broke")

def pytest_configure(config):
    config.pluginmanager.register(Broken(), "broken")
""")
    pytester.makepyfile(EXPERIMENT)
    result = pytester.runpytest("--sacred-heartbeat", "0")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "*pytest-sacred observer errors*",
        "*broken-wrapper failed in pytest_sacred_heartbeat_event (run 1)*wrapper broke*"])
    assert read_run(runs_dir, 1)["status"] == "COMPLETED"


def test_an_implementation_asking_for_an_unknown_argument_is_refused(
        pytester: pytest.Pytester) -> None:
    # the old signature of allocate_id: pluggy refuses it when the conftest registers
    pytester.makeconftest("""
def pytest_sacred_allocate_id(run, config):
    return 5
""")
    pytester.makepyfile(EXPERIMENT)
    result = pytester.runpytest_subprocess()
    assert result.ret != 0
    output = result.stdout.str() + result.stderr.str()
    assert "conftest.py' for hook 'pytest_sacred_allocate_id'" in output
    assert "Argument(s) {'run'} are declared in the hookimpl but can not be found" in output


def test_failing_plain_implementation_does_not_stop_firstresult(
        pytester: pytest.Pytester, runs_dir: Path) -> None:
    pytester.makeconftest("""
import pytest

@pytest.hookimpl(tryfirst=True)
def pytest_sacred_allocate_id():
    raise RuntimeError("no ids today")
""")
    pytester.makepyfile(EXPERIMENT)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*failed in pytest_sacred_allocate_id*no ids today*"])
    assert sorted(stored_runs(runs_dir)) == [1]  # the file store named it
