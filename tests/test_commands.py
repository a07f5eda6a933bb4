"""Commands and run-level options of DESIGN §5."""

from __future__ import annotations

import json

import pytest
from helpers import stored_runs

CONFTEST = '''
from pytest_sacred import config, named_config

@config
def C():
    """Penalty of the SVM."""
    return 1.0

@config
def gamma(C):  # kernel width
    return 0.7 / C

@config
def optimizer():
    return {"lr": 0.1, "momentum": 0.9}

@named_config
def wide():
    """Broad kernel, stronger penalty."""
    return {"C": 10.0, "gamma": 0.1}
'''

EXPERIMENT = '''
import pytest

@pytest.mark.experiment("svm")
@pytest.mark.parametrize("kernel", ["rbf", "poly"])
def test_svm(C, gamma, optimizer, kernel):
    return 1
'''


@pytest.fixture
def svm(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_svm=EXPERIMENT)
    return pytester


def test_print_config_shows_values_docs_and_changes(svm, runs_dir):
    result = svm.runpytest("--sacred-print-config", "--sacred-with", "C=2.0",
                           "--sacred-with", "optimizer.lr=0.5", "--sacred-seed", "3")
    assert result.ret == 0
    result.stdout.fnmatch_lines([
        "test_svm.py::test_svm?rbf? (experiment svm)",
        "  C         = 2.0  # Penalty of the SVM.  (modified)",
        "  gamma     = 0.35  # kernel width",
        "  kernel    = 'rbf'  (parametrized)",
        "  optimizer = {'lr': 0.5, 'momentum': 0.9}  (modified: optimizer.lr)",
        "  seed      = 3  # the random seed for this experiment  (modified)",
        "test_svm.py::test_svm?poly? (experiment svm)",
    ])
    assert not runs_dir.exists()
    assert "passed" not in result.stdout.str()


def test_random_seed_is_not_marked_modified(svm):
    result = svm.runpytest("--sacred-print-config", "-k", "rbf")
    result.stdout.fnmatch_lines(["  seed      = * # the random seed for this experiment"])
    assert "(modified" not in result.stdout.str()


def test_print_config_under_xdist_reports_in_the_main_process(svm, runs_dir):
    pytest.importorskip("xdist")
    result = svm.runpytest_subprocess("-n", "2", "--sacred-print-config")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["test_svm.py::test_svm?rbf? (experiment svm)", "  C * = 1.0*"])
    assert not runs_dir.exists()


def test_save_config_round_trips_through_named_config(svm, runs_dir):
    result = svm.runpytest("-k", "rbf", "--sacred-named-config", "wide", "--sacred-seed", "9",
                           "--sacred-save-config", "saved.json")
    assert result.ret == 0
    saved = json.loads(svm.path.joinpath("saved.json").read_text())
    assert saved == {"C": 10.0, "gamma": 0.1, "optimizer": {"lr": 0.1, "momentum": 0.9}, "seed": 9}
    assert not runs_dir.exists()
    svm.runpytest("-k", "rbf", "--sacred-named-config", "saved.json").assert_outcomes(passed=1)
    (run,) = stored_runs(runs_dir).values()
    assert run["config"] == {**saved, "kernel": "rbf"}


def test_save_config_needs_exactly_one_run(svm):
    result = svm.runpytest("--sacred-save-config", "saved.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*2 experiment variants are selected; select exactly one*"])
    assert not svm.path.joinpath("saved.json").exists()


def test_print_named_configs(svm, runs_dir):
    result = svm.runpytest("--sacred-print-named-configs")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["named configs:", "  wide  (*conftest.py)  # Broad kernel, stronger penalty."])
    assert not runs_dir.exists()


def test_name_comment_priority_and_id(svm, runs_dir):
    svm.runpytest("-k", "poly", "--sacred-name", "renamed", "--sacred-comment", "first try",
                  "--sacred-priority", "2.5", "--sacred-id", "17").assert_outcomes(passed=1)
    runs = stored_runs(runs_dir)
    assert list(runs) == [17]
    run = runs[17]
    assert run["experiment"]["name"] == "renamed"
    assert run["meta"]["comment"] == "first try"
    assert run["meta"]["priority"] == 2.5
    assert run["meta"]["options"]["--sacred-comment"] == "first try"
    assert run["meta"]["command"] == "test_svm"


def test_queue_records_queued_runs_without_running_them(svm, runs_dir):
    svm.makepyfile(test_side='''
        import pytest
        @pytest.mark.experiment
        def test_side():
            raise AssertionError("must not run when queued")
    ''')
    result = svm.runpytest("--sacred-queue")
    result.assert_outcomes(skipped=3)
    runs = stored_runs(runs_dir)
    assert sorted(runs) == [1, 2, 3]
    assert {r["status"] for r in runs.values()} == {"QUEUED"}
    assert all("queue_time" in r["meta"] and "start_time" not in r for r in runs.values())
    result.stdout.fnmatch_lines(["*QUEUED*"])


def test_summary_table(svm, runs_dir):
    svm.makepyfile(test_bad='''
        import pytest
        @pytest.mark.experiment("broken")
        def test_bad():
            assert False
    ''')
    result = svm.runpytest()
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "*pytest-sacred runs*",
        "id  experiment  variant  status     result  duration  stored in",
        "1   broken               FAILED             *s     runs/1",
        "2   svm         rbf      COMPLETED  1       *s     runs/2",
        "3   svm         poly     COMPLETED  1       *s     runs/3",
    ])
