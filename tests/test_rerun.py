"""--sacred-rerun ID: a stored run's experiment again, with its stored config and seed."""

from __future__ import annotations

import json

import pytest
from helpers import read_run, stored_runs

EXPERIMENT = """
import random
import numpy
import pytest
from pytest_sacred import config

@config
def width():
    return 4

@pytest.mark.experiment
@pytest.mark.parametrize("depth", [1, 2])
def test_net(depth, width):
    return [depth, width, random.random(), float(numpy.random.rand()), random.randint(0, 10**9)]
"""


def test_rerun_reproduces_a_seeded_run(pytester, runs_dir):
    pytester.makepyfile(test_exp=EXPERIMENT)
    pytester.runpytest("--sacred-with=width=7").assert_outcomes(passed=2)
    first = read_run(runs_dir, 2)
    result = pytester.runpytest("--sacred-rerun=2")
    result.assert_outcomes(passed=1)
    again = read_run(runs_dir, 3)
    assert again["result"] == first["result"]
    assert again["result"][:2] == [2, 7]  # the stored config, not the experiment's defaults
    assert again["config"] == first["config"]
    assert again["meta"]["rerun_of"] == 2
    assert again["meta"]["pytest"]["nodeid"] == first["meta"]["pytest"]["nodeid"]
    assert "code differs" not in result.stdout.str()
    assert sorted(stored_runs(runs_dir)) == [1, 2, 3]


def test_rerun_from_mongo(pytester, mongo_server, mongo_db_name):
    pytester.makepyfile(test_exp=EXPERIMENT)
    store = f"{mongo_server.host}:{mongo_server.port}:{mongo_db_name}"
    pytester.runpytest(f"--sacred-mongo={store}", "-k", "1").assert_outcomes(passed=1)
    pytester.runpytest(f"--sacred-mongo={store}", "--sacred-rerun=1").assert_outcomes(passed=1)
    with mongo_server.client() as client:
        runs = {d["_id"]: d for d in client[mongo_db_name].runs.find()}
    assert runs[2]["result"] == runs[1]["result"]
    assert runs[2]["config"]["seed"] == runs[1]["config"]["seed"]
    assert runs[2]["meta"]["rerun_of"] == 1


def test_edited_source_is_warned_about(pytester, runs_dir, mongo_server, mongo_db_name):
    pytester.makepyfile(test_exp=EXPERIMENT)
    store = f"{mongo_server.host}:{mongo_server.port}:{mongo_db_name}"
    pytester.runpytest(f"--sacred-mongo={store}", "--sacred-file-storage=runs",
                       "-k", "2").assert_outcomes(passed=1)
    pytester.makepyfile(test_exp=EXPERIMENT.replace("10**9", "10**6"))
    for source in (f"--sacred-mongo={store}", "--sacred-file-storage=runs"):
        result = pytester.runpytest(source, "--sacred-rerun=1", "-W", "default")
        result.assert_outcomes(passed=1, warnings=1)
        result.stdout.fnmatch_lines(["*--sacred-rerun 1: the code differs from the stored "
                                     "run's, so the result may differ:*",
                                     "*source test_exp.py: md5 * -> *"])


def test_rerun_of_a_missing_run_is_refused(pytester, runs_dir):
    pytester.makepyfile(test_exp=EXPERIMENT)
    pytester.runpytest().assert_outcomes(passed=2)
    result = pytester.runpytest("--sacred-rerun=9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--sacred-rerun 9: the store '{runs_dir}' has no run 9*"])
    assert sorted(stored_runs(runs_dir)) == [1, 2]


def test_rerun_of_a_run_not_collected_here_is_refused(pytester, runs_dir):
    pytester.makepyfile(test_exp=EXPERIMENT)
    pytester.runpytest().assert_outcomes(passed=2)
    run_json = runs_dir / "1" / "run.json"
    data = json.loads(run_json.read_text())
    data["meta"]["pytest"]["nodeid"] = "gone.py::test_net[1]"
    run_json.write_text(json.dumps(data))
    result = pytester.runpytest("--sacred-rerun=1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-rerun 1: its experiment gone.py::test_net[[]1[]] is "
                                 "not collected here*"])
    assert sorted(stored_runs(runs_dir)) == [1, 2]
