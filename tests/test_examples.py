"""The shipped examples, run as the README and the issue tell a user to run them.

Each session runs in a subprocess (scikit-learn and numpy do not survive pytester's
in-process module clean-up), from a copy of ``examples/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import stored_runs

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

pytest.importorskip("sklearn", reason="the iris example needs the examples extra")


@pytest.fixture
def examples(pytester: pytest.Pytester) -> pytest.Pytester:
    shutil.copytree(EXAMPLES, pytester.path / "examples",
                    ignore=shutil.ignore_patterns("__pycache__", "runs"))
    # the repository's own pyproject.toml: the rootdir (runs/ there) and its pytest settings
    shutil.copy(ROOT / "pyproject.toml", pytester.path / "pyproject.toml")
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("examples/", "-p", "no:cacheprovider", *args)


def iris_runs(runs_dir: Path) -> list[dict]:
    return [r for r in stored_runs(runs_dir).values()
            if r["experiment"]["name"] == "iris_rbf_svm"]


def test_iris_runs_land_in_runs(examples, runs_dir):
    result = run(examples, "-k", "iris")
    result.assert_outcomes(passed=2)
    runs = iris_runs(runs_dir)
    assert sorted(r["config"]["kernel"] for r in runs) == ["poly", "rbf"]
    for r in runs:
        assert r["status"] == "COMPLETED" and 0 < r["result"] <= 1
        assert r["config"]["C"] == 1.0 and r["config"]["gamma"] == pytest.approx(0.7)
        assert r["artifacts"] == ["model.pkl"]
    result.stdout.fnmatch_lines(["*pytest-sacred runs*", "*iris_rbf_svm*COMPLETED*"])


def test_readme_first_command_prints_no_config_warning(examples):
    """As a user with only the examples extra runs it: no pytest-timeout installed, so an
    ini key only that plugin knows would print "Unknown config option"."""
    result = run(examples, "-k", "iris", "-p", "no:timeout")
    result.assert_outcomes(passed=2)
    output = result.stdout.str() + result.stderr.str()
    assert "PytestConfigWarning" not in output and "Unknown config option" not in output


def test_iris_with_an_override_and_a_named_config(examples, runs_dir):
    run(examples, "-k", "iris and rbf", "--sacred-with", "C=2.0").assert_outcomes(passed=1)
    run(examples, "-k", "iris and rbf", "--sacred-named-config", "wide").assert_outcomes(
        passed=1)
    first, second = (r["config"] for r in sorted(iris_runs(runs_dir),
                                                  key=lambda r: r["start_time"]))
    assert (first["C"], first["gamma"]) == (2.0, pytest.approx(0.35))  # derived from C
    assert (second["C"], second["gamma"]) == (10.0, 0.1)


def test_print_config_of_the_examples_runs_nothing(examples, runs_dir):
    result = run(examples, "-k", "iris and rbf", "--sacred-print-config", "--sacred-with",
                 "C=3.0")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*test_iris?rbf?*", "*C *= 3.0*Penalty of the SVM*modified*",
                                "*gamma *= 0.2333*derived from C*"])
    assert not runs_dir.exists() or not stored_runs(runs_dir)


def test_all_examples_in_two_workers(examples, runs_dir):
    pytest.importorskip("xdist")
    result = run(examples, "-n", "2")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes["passed"] >= 4
    runs = stored_runs(runs_dir)
    assert len(runs) == outcomes["passed"]  # one run per variant, each under its own id
    assert {r["experiment"]["name"] for r in runs.values()} >= {"iris_rbf_svm",
                                                                "toy_training"}


def test_iris_with_the_mongo_store(examples, mongo_server, mongo_db_name):
    result = run(examples, "-k", "iris",
                 f"--sacred-mongo={mongo_server.host}:{mongo_server.port}:{mongo_db_name}")
    result.assert_outcomes(passed=2)
    with mongo_server.client() as client:
        db = client[mongo_db_name]
        runs = list(db.runs.find().sort("_id"))
        assert [r["_id"] for r in runs] == [1, 2]
        assert {r["status"] for r in runs} == {"COMPLETED"}
        assert {r["experiment"]["name"] for r in runs} == {"iris_rbf_svm"}
        for r in runs:
            [metric] = r["info"]["metrics"]
            doc = db.metrics.find_one({"run_id": r["_id"], "name": "test.accuracy"})
            assert metric == {"id": str(doc["_id"]), "name": "test.accuracy"}
            assert doc["values"] == [r["result"]]
            assert [a["name"] for a in r["artifacts"]] == ["model.pkl"]


def test_the_long_training_example_stopped_and_resumed(examples, tmp_path):
    """The README's resume workflow: SIGTERM once its checkpoint is stored, then
    ``--sacred-resume 1``: one run, COMPLETED, every step of its curve once."""
    import signal
    import subprocess
    import sys
    import time

    store = tmp_path / "long-runs"
    argv = [sys.executable, "-m", "pytest", "examples/resume/", "-p", "no:cacheprovider",
            f"--sacred-file-storage={store}", "--sacred-heartbeat=0.2"]
    first = subprocess.Popen(argv, cwd=examples.path, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    checkpoint = store / "1" / "checkpoint" / "state.json"
    deadline = time.monotonic() + 60
    while not checkpoint.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGTERM)
    out = first.communicate(timeout=60)[0]
    assert stored_runs(store)[1]["status"] == "INTERRUPTED", out
    stopped_at = len(stored_runs_metrics(store, 1))
    assert 0 < stopped_at < 300, out

    second = subprocess.run([*argv, "--sacred-resume", "1"], cwd=examples.path,
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stdout + second.stderr
    runs = stored_runs(store)
    assert list(runs) == [1]
    assert runs[1]["status"] == "COMPLETED" and runs[1]["result"] == 1
    assert stored_runs_metrics(store, 1) == list(range(300))
    assert [r["from_status"] for r in runs[1]["meta"]["resumed"]] == ["INTERRUPTED"]


def stored_runs_metrics(store: Path, run_id: int) -> list[int]:
    """The steps of run ``run_id``'s loss curve in a file store."""
    import json

    return json.loads((store / str(run_id) / "metrics.json").read_text())["loss"]["steps"]
