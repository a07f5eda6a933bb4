"""Config entries, overrides, named configs and the variants they make (DESIGN §1)."""

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
    return {"name": "sgd", "lr": 0.1, "schedule": {"warmup": 5}}

@config
def x():
    return None

@named_config
def wide():
    """Broad kernel, stronger penalty."""
    return {"C": 10.0, "gamma": 0.1}

@named_config
def small():
    return {"C": 0.5}
'''

EXPERIMENT = '''
import pytest

@pytest.mark.experiment("svm")
def test_svm(C, gamma, optimizer, x):
    return C
'''


def configs(runs_dir) -> list[dict]:
    return [run["config"] for _, run in sorted(stored_runs(runs_dir).items())]


@pytest.fixture
def svm(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_svm=EXPERIMENT)
    return pytester


def test_defaults_and_derived_entries(svm, runs_dir):
    svm.runpytest().assert_outcomes(passed=1)
    (config,) = configs(runs_dir)
    assert config["C"] == 1.0
    assert config["gamma"] == pytest.approx(0.7)
    assert config["optimizer"] == {"name": "sgd", "lr": 0.1, "schedule": {"warmup": 5}}
    assert isinstance(config["seed"], int)


def test_derived_entries_follow_overrides(svm, runs_dir):
    svm.runpytest("--sacred-with", "C=2.0").assert_outcomes(passed=1)
    (config,) = configs(runs_dir)
    assert config["C"] == 2.0
    assert config["gamma"] == pytest.approx(0.35)


def test_override_of_a_derived_entry_wins(svm, runs_dir):
    svm.runpytest("--sacred-with", "gamma=3", "--sacred-with", "C=7").assert_outcomes(passed=1)
    (config,) = configs(runs_dir)
    assert (config["C"], config["gamma"]) == (7, 3)


def test_nested_update_keeps_sibling_entries(svm, runs_dir):
    svm.runpytest("--sacred-with", "optimizer.lr=0.01",
                  "--sacred-with", "optimizer.schedule.warmup=1").assert_outcomes(passed=1)
    (config,) = configs(runs_dir)
    assert config["optimizer"] == {"name": "sgd", "lr": 0.01, "schedule": {"warmup": 1}}


@pytest.mark.parametrize(
    "raw, expected",
    [("1e-3", 0.001), ("[64,64]", [64, 64]), ("'x'", "x"), ("adam", "adam"),
     ("True", True), ("{'a': 1}", {"a": 1}), (" 3 ", 3), ("(1, 2)", [1, 2])],
)
def test_command_line_values_are_python_literals_else_strings(svm, runs_dir, raw, expected):
    svm.runpytest(f"--sacred-with=x={raw}").assert_outcomes(passed=1)
    assert configs(runs_dir)[0]["x"] == expected


def test_named_config_then_with_precedence(svm, runs_dir):
    svm.runpytest("--sacred-named-config", "wide", "--sacred-with", "C=3").assert_outcomes(passed=1)
    (config,) = configs(runs_dir)
    assert (config["C"], config["gamma"]) == (3, 0.1)


def test_named_configs_apply_in_order(svm, runs_dir):
    svm.runpytest("--sacred-named-config", "wide", "--sacred-named-config", "small")
    (config,) = configs(runs_dir)
    assert (config["C"], config["gamma"]) == (0.5, 0.1)
    run = next(iter(stored_runs(runs_dir).values()))
    assert run["meta"]["named_configs"] == ["wide", "small"]


def test_named_config_files_json_and_yaml(svm, runs_dir):
    svm.path.joinpath("strong.json").write_text(json.dumps({"C": 42.0, "optimizer": {"lr": 1}}))
    svm.path.joinpath("weak.yaml").write_text("gamma: 0.5\n")
    result = svm.runpytest("--sacred-named-config", "strong.json",
                           "--sacred-named-config", "weak.yaml")
    result.assert_outcomes(passed=1)
    (config,) = configs(runs_dir)
    assert (config["C"], config["gamma"], config["optimizer"]["lr"]) == (42.0, 0.5, 1)
    assert config["optimizer"]["name"] == "sgd"


def test_parametrize_crossed_with_named_configs_gives_every_variant(pytester, runs_dir):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_sweep='''
        import pytest

        @pytest.mark.experiment("sweep")
        @pytest.mark.named_configs("wide", "small")
        @pytest.mark.parametrize("kernel", ["rbf", "poly", "linear"])
        def test_sweep(C, gamma, kernel, sacred_run):
            return f"{kernel}:{C}"
    ''')
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(
        ["*test_sweep?wide-rbf?*PASSED*", "*test_sweep?small-linear?*PASSED*"])
    runs = stored_runs(runs_dir)
    assert sorted(runs) == [1, 2, 3, 4, 5, 6]
    seen = {(r["config"]["kernel"], r["config"]["C"], round(r["config"]["gamma"], 9))
            for r in runs.values()}
    assert seen == {(k, c, g) for k in ("rbf", "poly", "linear")
                    for c, g in ((10.0, 0.1), (0.5, 1.4))}
    assert {r["result"] for r in runs.values()} == {
        f"{k}:{c}" for k in ("rbf", "poly", "linear") for c in (10.0, 0.5)}
    for run in runs.values():
        named = ["wide"] if run["config"]["C"] == 10.0 else ["small"]
        assert run["meta"]["named_configs"] == named


def test_named_config_in_the_test_module_and_a_parent_conftest(pytester, runs_dir):
    pytester.makeconftest(CONFTEST)
    sub = pytester.mkpydir("sub")
    sub.joinpath("test_local.py").write_text('''
import pytest
from pytest_sacred import named_config

@named_config
def tiny():
    return {"C": 0.01}

@pytest.mark.experiment
@pytest.mark.named_configs("tiny", "wide")
def test_local(C):
    pass
''')
    pytester.runpytest().assert_outcomes(passed=2)
    assert sorted(c["C"] for c in configs(runs_dir)) == [0.01, 10.0]


def test_experiment_marker_on_class_and_module(pytester, runs_dir):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_marks='''
        import pytest
        pytestmark = pytest.mark.experiment("module_level")

        def test_one(C):
            pass

        @pytest.mark.experiment("on_class")
        class TestGroup:
            def test_two(self, gamma):
                pass
    ''')
    pytester.runpytest().assert_outcomes(passed=2)
    names = sorted(r["experiment"]["name"] for r in stored_runs(runs_dir).values())
    assert names == ["module_level", "on_class"]


def test_default_name_is_the_function_name_without_test_prefix(pytester, runs_dir):
    pytester.makepyfile(test_x='''
        import pytest
        @pytest.mark.experiment
        def test_train_model():
            pass
    ''')
    pytester.runpytest().assert_outcomes(passed=1)
    (run,) = stored_runs(runs_dir).values()
    assert run["experiment"]["name"] == "train_model"
    assert run["command"] == "test_train_model"
    assert run["config"].keys() == {"seed"}


def test_parametrize_argnames_are_config_entries(pytester, runs_dir):
    pytester.makepyfile(test_p='''
        import pytest
        @pytest.mark.experiment
        @pytest.mark.parametrize("lr, layers", [(0.1, (64, 64)), (0.01, (32,))])
        def test_p(lr, layers):
            pass
    ''')
    pytester.runpytest().assert_outcomes(passed=2)
    got = sorted((c["lr"], c["layers"]) for c in configs(runs_dir))
    assert got == [(0.01, [32]), (0.1, [64, 64])]


def test_config_fixture_outside_experiments_returns_its_default(pytester, runs_dir):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_plain='''
        def test_plain(C, gamma):
            assert (C, gamma) == (1.0, 0.7)
    ''')
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=1)
    assert not runs_dir.exists()


def test_capture_injects_config_into_helpers(pytester, runs_dir):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_cap='''
        import pytest
        from pytest_sacred import capture

        @capture
        def train(C, gamma, steps=3, _seed=None, _run=None):
            return (C, gamma, steps, isinstance(_seed, int), _run is not None)

        def test_outside():
            with pytest.raises(TypeError):
                train()

        @pytest.mark.experiment
        def test_inside(C, gamma):
            assert train() == (C, gamma, 3, True, True)
            assert train(C=5.0, steps=1)[:3] == (5.0, gamma, 1)
    ''')
    pytester.runpytest("--sacred-with", "C=4").assert_outcomes(passed=2)


def test_non_json_config_values_go_through_jsonpickle(pytester, runs_dir):
    pytester.makepyfile(test_odd='''
        import pytest
        from pytest_sacred import config

        @config
        def shape():
            return {"dims": {1, 2}, "when": complex(1, 2)}

        @pytest.mark.experiment
        def test_odd(shape):
            assert shape["dims"] == {1, 2}
    ''')
    pytester.runpytest().assert_outcomes(passed=1)
    (config,) = configs(runs_dir)
    assert config["shape"]["dims"] == {"py/set": [1, 2]}
    assert config["shape"]["when"]["py/object"] == "builtins.complex"
