"""Sacred's own observers attached with --sacred-observer or from_sacred(): Sacred's
FileStorageObserver, fed by our events, writes the run it would have written itself."""

from __future__ import annotations

import json
import textwrap

import pytest
from helpers import read_run

pytest.importorskip("sacred")

EXPERIMENT = textwrap.dedent('''
    import pytest
    from pytest_sacred import config


    @config
    def lr():
        return 0.1


    @pytest.mark.experiment("train")
    def test_train(lr, sacred_run, tmp_path):
        for step in range(3):
            sacred_run.log_scalar("loss", lr / (step + 1))
        (tmp_path / "model.txt").write_text("weights")
        print("training")
        return 0.75


    @pytest.mark.experiment("broken")
    def test_broken(lr):
        raise ValueError("diverged")
''')

FACTORY = textwrap.dedent('''
    import os

    from sacred.observers import FileStorageObserver


    def make():
        return FileStorageObserver(os.path.join(os.path.dirname(__file__), "sacred_runs"))


    def junk():
        return 42


    def raises():
        raise RuntimeError("no token")
''')


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_exp=EXPERIMENT, my_observers=FACTORY)
    pytester.syspathinsert()
    return pytester


def test_a_sacred_observer_named_on_the_command_line_gets_every_run(project, runs_dir):
    result = project.runpytest("--sacred-observer", "my_observers:make")
    result.assert_outcomes(passed=1, failed=1)
    sacred_dir = project.path / "sacred_runs"
    ours = {read_run(runs_dir, i)["experiment"]["name"]: i for i in (1, 2)}
    # the run ids our file store allocated are the ones Sacred's observer used
    train = read_run(sacred_dir, ours["train"])
    assert train["status"] == "COMPLETED" and train["result"] == 0.75
    assert train["experiment"]["name"] == "train" and train["config"]["lr"] == 0.1
    assert train["artifacts"] == ["model.txt"]
    assert (sacred_dir / str(ours["train"]) / "model.txt").read_text() == "weights"
    metrics = json.loads((sacred_dir / str(ours["train"]) / "metrics.json").read_text())
    assert metrics["loss"]["steps"] == [0, 1, 2]
    assert metrics["loss"]["values"] == pytest.approx([0.1, 0.05, 0.1 / 3])
    assert "training" in (sacred_dir / str(ours["train"]) / "cout.txt").read_text()
    broken = read_run(sacred_dir, ours["broken"])
    assert broken["status"] == "FAILED"
    assert "ValueError: diverged" in "".join(broken["fail_trace"])


def test_from_sacred_wraps_an_observer_registered_in_a_conftest(pytester, runs_dir):
    pytester.makepyfile(test_exp=EXPERIMENT)
    pytester.makeconftest('''
        from sacred.observers import FileStorageObserver
        from pytest_sacred.observers import from_sacred


        def pytest_configure(config):
            config.pluginmanager.register(from_sacred(FileStorageObserver("sacred_runs")))
    ''')
    result = pytester.runpytest("-k", "train")
    result.assert_outcomes(passed=1, deselected=1)
    assert read_run(pytester.path / "sacred_runs", 1)["status"] == "COMPLETED"
    assert read_run(runs_dir, 1)["status"] == "COMPLETED"  # the default store stays on


@pytest.mark.parametrize("spec, message", [
    ("my_observers", "is not MODULE:FACTORY"),
    ("no_such_module:make", "cannot import 'no_such_module'"),
    ("my_observers:missing", "my_observers has no callable 'missing'"),
    ("my_observers:junk", "junk() returned 42, neither a Sacred observer"),
    ("my_observers:raises", "raises() raised RuntimeError: no token"),
])
def test_a_bad_observer_spec_is_a_usage_error_before_anything_runs(project, runs_dir, spec,
                                                                   message):
    result = project.runpytest("--sacred-observer", spec)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--sacred-observer {spec!r}*{message}*"])
    assert not runs_dir.exists()
