"""What the plugin tells about config entries: where they are defined, what a run's
``config_updates`` holds, typos, values read as strings, seed entries, unused entries."""

from __future__ import annotations

import re

import pytest
from helpers import read_run, stored_runs

TWO_EXPERIMENTS = '''
import pytest
from pytest_sacred import config, named_config

@config
def C():
    return 1.0

@config
def gamma(C):
    return 0.7 / C

@config
def layers():
    return 2

@named_config
def wide():
    return {"C": 10.0}

@pytest.mark.experiment
def test_svm(C, gamma):
    return gamma

@pytest.mark.experiment
def test_net(layers):
    return layers
'''


@pytest.fixture
def two(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_two=TWO_EXPERIMENTS)
    return pytester


def runs_by_experiment(runs_dir) -> dict[str, dict]:
    return {run["experiment"]["name"]: run for run in stored_runs(runs_dir).values()}


def test_config_updates_hold_only_what_changed_the_run(two, runs_dir):
    two.runpytest("--sacred-with", "C=2.0", "--sacred-with", "layers=3").assert_outcomes(
        passed=2)
    runs = runs_by_experiment(runs_dir)
    assert runs["svm"]["meta"]["config_updates"] == {"C": 2.0}
    assert runs["net"]["meta"]["config_updates"] == {"layers": 3}
    assert runs["svm"]["config"]["gamma"] == pytest.approx(0.35)
    assert runs["net"]["config"]["layers"] == 3


def test_fixtures_listing_shows_the_users_file_and_line(pytester):
    pytester.makepyfile(test_entry_location='''
        from pytest_sacred import config

        @config
        def learning_rate():
            """Step size of the optimizer."""
            return 0.1

        @config(name="depth")
        def _depth(learning_rate):
            return 3

        @config(
            name="width",
        )
        def _width():  # units per layer
            return 5
        ''')
    result = pytester.runpytest("--fixtures", "test_entry_location.py")
    assert result.ret == 0
    # the def line of each entry (what a user looks for), on every supported pytest
    result.stdout.fnmatch_lines(
        ["learning_rate -- test_entry_location.py:4", "*Step size of the optimizer.*"])
    result.stdout.fnmatch_lines(["depth -- test_entry_location.py:9"])
    result.stdout.fnmatch_lines(["width -- test_entry_location.py:15"])
    assert "decorators.py" not in result.stdout.str()


def test_fixture_error_shows_the_users_function(pytester):
    pytester.makepyfile(test_err='''
        import pytest
        from pytest_sacred import config

        @config
        def C(missing):
            return 1

        def test_plain(C):  # an ordinary test: the fixture machinery reports the error
            pass
        ''')
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*def C(missing):", "*fixture 'missing' not found*"])
    # the user's function, never the plugin's wrapper: pytest 9 starts its source and
    # location at the def line, pytest 8 at the decorator's line (one above)
    out = result.stdout.str()
    assert "decorators.py" not in out
    [(line, decorator)] = re.findall(r"test_err\.py, line (\d+)\n(  @config\n)?  def C\(", out)
    assert int(line) == (4 if decorator else 5)
    assert f"test_err.py:{line}" in out


@pytest.mark.parametrize("args, hint", [
    (["--sacred-with", "gama=1"], ("*no selected experiment has a config entry 'gama'*"
                                   "did you mean 'gamma'?*")),
    (["--sacred-named-config", "wid"], "*unknown named config 'wid'*did you mean 'wide'?*"),
])
def test_typos_get_a_did_you_mean(two, runs_dir, args, hint):
    result = two.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([hint])
    assert not runs_dir.exists()


def test_typo_in_a_marker_named_config_and_a_nested_key(pytester):
    pytester.makepyfile(test_m='''
        import pytest
        from pytest_sacred import config, named_config

        @config
        def optimizer():
            return {"lr": 0.1, "momentum": 0.9}

        @named_config
        def fast():
            return {"optimizer": {"lr": 1.0}}

        @pytest.mark.experiment
        @pytest.mark.named_configs("fsat")
        def test_m(optimizer):
            pass
        ''')
    result = pytester.runpytest()
    result.stderr.fnmatch_lines(["*unknown named config 'fsat'*did you mean 'fast'?*"])
    pytester.makepyfile(test_m='''
        import pytest
        from pytest_sacred import config

        @config
        def optimizer():
            return {"lr": 0.1, "momentum": 0.9}

        @pytest.mark.experiment
        def test_m(optimizer):
            pass
        ''')
    result = pytester.runpytest("--sacred-with", "optimizer.momentun=0.5")
    result.stderr.fnmatch_lines(["*'optimizer' has no entry 'momentun'*did you mean 'momentum'?*"])


def test_no_hint_when_nothing_is_close(two):
    result = two.runpytest("--sacred-with", "zzz=1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "did you mean" not in result.stderr.str()


def test_a_value_read_as_a_string_is_named_when_a_derived_entry_fails(two, runs_dir):
    result = two.runpytest("-k", "svm", "--sacred-with", "C=abc")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([(
        "*config entry 'gamma' raised TypeError*--sacred-with C='abc' was read as a string, "
        "not as a Python literal: give a number*")])
    assert not runs_dir.exists()


def test_a_value_read_as_a_string_is_named_when_the_run_fails(pytester, runs_dir):
    pytester.makepyfile(test_s='''
        import pytest
        from pytest_sacred import config

        @config
        def C():
            return 1.0

        @pytest.mark.experiment
        def test_s(C):
            return 2 * C + 1
        ''')
    result = pytester.runpytest("--sacred-with", "C=1e-3x")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*TypeError*", "*C='1e-3x' was read as a string*"])
    run = read_run(runs_dir, 1)
    assert run["status"] == "FAILED"
    assert "C='1e-3x' was read as a string" in "".join(run["fail_trace"])
    assert run["config"]["C"] == "1e-3x" and run["meta"]["config_updates"] == {"C": "1e-3x"}


def test_a_quoted_string_gets_no_note(pytester):
    pytester.makepyfile(test_s='''
        import pytest
        from pytest_sacred import config

        @config
        def C():
            return 1.0

        @pytest.mark.experiment
        def test_s(C):
            return 2 * C + 1
        ''')
    result = pytester.runpytest("--sacred-with", "C='abc'")
    result.assert_outcomes(failed=1)
    assert "read as a string" not in result.stdout.str()


SEED_ENTRY = '''
import random
import pytest
from pytest_sacred import config

@config
def seed():
    return 42

@pytest.mark.experiment
def test_draw(sacred_run):
    return random.random()
'''


def test_a_seed_entry_nobody_asks_for_is_the_seed(pytester, runs_dir):
    pytester.makepyfile(test_seeded=SEED_ENTRY)
    pytester.runpytest().assert_outcomes(passed=1)
    pytester.runpytest().assert_outcomes(passed=1)
    first, second = (read_run(runs_dir, i) for i in (1, 2))
    assert first["config"]["seed"] == second["config"]["seed"] == 42
    assert first["result"] == second["result"] == random_after_seed(42)


def random_after_seed(seed: int) -> float:
    import random

    return random.Random(seed).random()


def test_a_seed_entry_in_a_conftest_and_the_options_above_it(pytester, runs_dir):
    pytester.makeconftest('''
        from pytest_sacred import config

        @config
        def base():
            return 40

        @config
        def seed(base):
            return base + 2
        ''')
    pytester.makepyfile(test_c='''
        import pytest

        @pytest.mark.experiment
        def test_c():
            pass
        ''')
    pytester.runpytest().assert_outcomes(passed=1)
    pytester.runpytest("--sacred-seed", "7").assert_outcomes(passed=1)
    pytester.runpytest("--sacred-with", "seed=9").assert_outcomes(passed=1)
    assert [read_run(runs_dir, i)["config"]["seed"] for i in (1, 2, 3)] == [42, 7, 9]
    result = pytester.runpytest("--sacred-print-config")
    result.stdout.fnmatch_lines(["*seed *= 42*"])


UNUSED = '''
import pytest
from pytest_sacred import config

@config
def C():
    return 1.0

@config
def dropout():
    return 0.5

@config
def width():
    return 8

@pytest.mark.experiment
def test_a(C):
    pass

@pytest.mark.experiment
@pytest.mark.usefixtures("width")
def test_b(C):
    pass

def test_ordinary():
    pass
'''


def test_an_entry_no_selected_experiment_uses_is_reported(pytester, runs_dir):
    pytester.makepyfile(test_unused=UNUSED)
    result = pytester.runpytest()
    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.fnmatch_lines([(
        "*test_unused.py:8: SacredConfigWarning: config entry 'dropout' is used by none of "
        "the selected experiments of test_unused*ask for it as an argument*"
        "@pytest.mark.usefixtures('dropout')*")])
    assert "'width'" not in result.stdout.str()  # test_b uses it through usefixtures
    assert {r["config"].get("width") for r in stored_runs(runs_dir).values()} == {None, 8}


def test_the_warning_class_can_be_filtered(pytester):
    pytester.makepyfile(test_unused=UNUSED)
    result = pytester.runpytest("-W", "ignore::pytest_sacred.SacredConfigWarning")
    result.assert_outcomes(passed=3)
    assert "SacredConfigWarning" not in result.stdout.str()
    result = pytester.runpytest("-W", "error::pytest_sacred.SacredConfigWarning")
    assert result.ret != 0


def test_no_warning_for_entries_of_conftests_and_modules_without_experiments(pytester):
    pytester.makeconftest('''
        from pytest_sacred import config

        @config
        def shared():
            return 1
        ''')
    pytester.makepyfile(test_x='''
        import pytest
        from pytest_sacred import config

        @config
        def local():
            return 2

        @pytest.mark.experiment
        def test_x(local):
            pass
        ''', test_plain='''
        from pytest_sacred import config

        @config
        def helper_entry():
            return 3

        def test_plain():
            pass
        ''')
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)
    assert "SacredConfigWarning" not in result.stdout.str()
