"""Bad input: a clear error naming the culprit, before any run starts, nothing stored harmed."""

from __future__ import annotations

import os

import pytest
from helpers import stored_runs

EXPERIMENT = '''
import pytest
from pytest_sacred import config, named_config

@config
def C():
    return 1.0

@config
def optimizer():
    return {"lr": 0.1, "momentum": 0.9}

@named_config
def wide():
    return {"C": 10.0}

@pytest.mark.experiment
@pytest.mark.parametrize("kernel", ["rbf", "poly"])
def test_svm(C, optimizer, kernel):
    pass
'''


@pytest.fixture
def project(pytester, runs_dir):
    """An experiment with two runs already stored."""
    pytester.makepyfile(test_svm=EXPERIMENT)
    pytester.runpytest().assert_outcomes(passed=2)
    before = snapshot(runs_dir)
    assert len(stored_runs(runs_dir)) == 2
    yield pytester
    assert snapshot(runs_dir) == before, "a failed invocation changed the store"


def snapshot(directory) -> dict[str, bytes]:
    return {
        os.path.relpath(os.path.join(root, name), directory):
            open(os.path.join(root, name), "rb").read()
        for root, _, files in os.walk(directory) for name in files
    }


@pytest.mark.parametrize(
    "args, message",
    [
        (["--sacred-with", "C"], "*--sacred-with 'C': expected KEY=VALUE, e.g. C=2.0*"),
        (["--sacred-with", "=3"], "*--sacred-with '=3': expected KEY=VALUE*"),
        (["--sacred-with", "D=3"],
         "*--sacred-with D: no selected experiment has a config entry 'D'*"),
        (["--sacred-with", "kernel=linear"],
         "*--sacred-with kernel: 'kernel' is swept by parametrize*"),
        (["--sacred-with", "optimizer.lrr=1"],
         "*config entry 'optimizer' has no entry 'lrr' (it has: lr, momentum)*"),
        (["--sacred-named-config", "narrow"], "*unknown named config 'narrow'*"),
        (["--sacred-named-config", "missing.json"],
         "*named config file 'missing.json' does not exist*"),
        (["--sacred-id", "abc"], "*--sacred-id: 'abc' is not a run id*"),
        (["--sacred-id", "7"],
         "*--sacred-id 7 names one run, but 2 experiment variants are selected*"),
        (["--sacred-seed", "x"], "*--sacred-seed: invalid int value: 'x'*"),
        (["--sacred-priority", "high"], "*--sacred-priority: invalid float value: 'high'*"),
    ],
)
def test_bad_command_line(project, args, message):
    result = project.runpytest(*args)
    assert result.ret in (pytest.ExitCode.USAGE_ERROR, 2)
    result.stderr.fnmatch_lines([message])


def test_named_config_file_that_does_not_parse(project):
    project.path.joinpath("broken.json").write_text('{"C": 1.0,')
    project.path.joinpath("list.yaml").write_text("- 1\n- 2\n")
    result = project.runpytest("--sacred-named-config", "broken.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*named config file 'broken.json' does not parse*"])
    result = project.runpytest("--sacred-named-config", "list.yaml")
    result.stderr.fnmatch_lines(["*'list.yaml' holds a list; it must hold a mapping*"])


def test_named_config_that_sets_an_unknown_key(project):
    project.path.joinpath("typo.json").write_text('{"CC": 2}')
    result = project.runpytest("--sacred-named-config", "typo.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*named config 'typo.json' sets 'CC', which no selected experiment uses*"])


def test_unknown_named_config_in_marker(pytester, runs_dir):
    pytester.makepyfile(test_m='''
        import pytest
        from pytest_sacred import named_config

        @named_config
        def known():
            return {}

        @pytest.mark.experiment
        @pytest.mark.named_configs("known", "unknown")
        def test_m():
            pass
    ''')
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*unknown named config 'unknown' (named configs visible here: known)*"])
    assert not runs_dir.exists()


def test_unwritable_store(project, tmp_path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the store should be")
    # with '=': written apart, the existing path outside the project would move the rootdir
    # (refused on its own, tests/test_store_location.py)
    result = project.runpytest(f"--sacred-file-storage={blocked}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*file store '*blocked' is a file, not a directory*"])
    if os.geteuid() != 0:  # root writes anywhere
        readonly = tmp_path / "readonly"
        readonly.mkdir(mode=0o500)
        result = project.runpytest("--sacred-file-storage", str(readonly / "runs"))
        result.stderr.fnmatch_lines(["*is not writable*"])


def test_config_value_that_cannot_be_stored(pytester, runs_dir):
    pytester.makepyfile(test_v='''
        import pytest
        from pytest_sacred import config

        @config
        def transform():
            return lambda x: x

        @pytest.mark.experiment
        def test_v(transform):
            pass
    ''')
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*config entry 'transform' cannot be stored*"
                                 "use a JSON value or one jsonpickle can restore*"])
    assert not runs_dir.exists()


def test_config_entry_that_raises(pytester):
    pytester.makepyfile(test_r='''
        import pytest
        from pytest_sacred import config

        @config
        def n():
            return 0

        @config
        def ratio(n):
            return 1 / n

        @pytest.mark.experiment
        def test_r(ratio):
            pass
    ''')
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*config entry 'ratio' raised ZeroDivisionError: "
                                 "division by zero (its inputs: {'n': 0})*"])


def test_missing_artifact_and_resource_paths(pytester, runs_dir):
    pytester.makepyfile(test_a='''
        import pytest

        @pytest.mark.experiment
        def test_artifact(sacred_run, tmp_path):
            (tmp_path / "kept.txt").write_text("still stored")
            sacred_run.add_artifact(tmp_path / "nope.bin")

        @pytest.mark.experiment
        def test_resource(sacred_run):
            sacred_run.open_resource("data/missing.csv")
    ''')
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "*FileNotFoundError: artifact '*nope.bin' is no such file*"
        "pass the path of an existing file*",
        "*FileNotFoundError: resource 'data/missing.csv' is no such file*",
    ])
    runs = stored_runs(runs_dir)
    assert [r["status"] for _, r in sorted(runs.items())] == ["FAILED", "FAILED"]
    assert runs[1]["artifacts"] == ["kept.txt"]
    assert (runs_dir / "1" / "kept.txt").read_text() == "still stored"


def test_experiment_fixtures_in_an_ordinary_test(pytester):
    pytester.makepyfile(test_o='''
        def test_o(sacred_run):
            pass
    ''')
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*asks for 'sacred_run', which only experiments have: "
                                 "mark the test with @pytest.mark.experiment*"])
