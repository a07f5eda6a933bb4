"""Each kind of process registers exactly its role object (pytest_sacred/roles.py), under
its documented name, as pytest-xdist registers its ``dsession``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: every process of the inner sessions appends the role objects it holds to roles.jsonl
CONFTEST = """
import json, pathlib
from pytest_sacred.roles import ARRAY_TASK, PROCESS_ROLES

def pytest_sessionstart(session):
    pm = session.config.pluginmanager
    held = {name: type(pm.get_plugin(name)).__name__
            for name in (*PROCESS_ROLES, ARRAY_TASK) if pm.get_plugin(name) is not None}
    kind = "xdist worker" if hasattr(session.config, "workerinput") else "main"
    with open(pathlib.Path(str(session.config.rootpath), "roles.jsonl"), "a") as f:
        f.write(json.dumps({"process": kind, "roles": held}) + "\\n")
"""

MODULE = """
def test_ordinary():
    pass
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_role_probe=MODULE)
    return pytester


def held(pytester: pytest.Pytester) -> list[dict[str, object]]:
    lines = (pytester.path / "roles.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize(("args", "role"), [
    ((), {"sacred-controller": "Controller"}),
    (("--sacred-launcher=local",), {"sacred-launcher": "Launcher"}),
    (("--sacred-run-queued",), {"sacred-queue-worker": "QueueWorker"}),
    (("--sacred-print-config",), {"sacred-commands": "Commands"}),
    # the commands win over the launch options: nothing is launched
    (("--sacred-print-config", "--sacred-launcher=local"), {"sacred-commands": "Commands"}),
], ids=["plain", "launcher", "queue-worker", "commands", "commands-over-launcher"])
def test_a_process_holds_exactly_its_role(project: pytest.Pytester, args: tuple[str, ...],
                                          role: dict[str, str]) -> None:
    # no experiment is selected: each role leaves the ordinary test to pytest's loop
    result = project.runpytest_inprocess(*args)
    assert result.ret == 0, result.stdout.str()
    assert held(project) == [{"process": "main", "roles": role}]


def test_xdist_controller_and_worker_hold_their_roles(project: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    result = project.runpytest_subprocess("-n", "1", "-p", "xdist")
    result.assert_outcomes(passed=1)
    assert sorted(held(project), key=lambda e: str(e["process"])) == [
        {"process": "main", "roles": {"sacred-controller": "Controller"}},
        {"process": "xdist worker", "roles": {"sacred-xdist-worker": "XdistWorker"}},
    ]


def test_an_xdist_workers_usage_error_stops_the_session(project: pytest.Pytester) -> None:
    """The worker's role stops with the message; the controller's says it at the end."""
    pytest.importorskip("xdist")
    project.makepyfile(test_role_experiment="""
import pytest

@pytest.mark.experiment("probe")
def test_probe(sacred_run):
    pass
""")
    result = project.runpytest_subprocess("-n", "1", "-p", "xdist", "--sacred-with", "nope=1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["ERROR: pytest-sacred usage error: --sacred-with nope: no "
                                 "selected experiment has a config entry 'nope'*"])


def test_a_job_array_task_holds_the_array_task_role(project: pytest.Pytester) -> None:
    """A task's session (launchers/task.py) is a plain one that also gathers its reports
    for the submitting session through ``sacred-array-task``."""
    code = ("from pytest_sacred.launchers.task import run_pytest\n"
            "result = run_pytest(['-p', 'no:cacheprovider'], '.')\n"
            "print(result.exit_code, [(o.nodeid, o.outcome) for o in result.outcomes])\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=project.path, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "0 [('test_role_probe.py::test_ordinary', 'passed')]"
    assert held(project) == [{"process": "main", "roles": {
        "sacred-controller": "Controller", "sacred-array-task": "ArrayTask"}}]
