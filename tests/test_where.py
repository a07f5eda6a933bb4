"""The --where expression: what it accepts, what it refuses, and that it runs no code."""

from __future__ import annotations

import pytest

from pytest_sacred.where import WhereError, compile_where

ROW = {"id": 3, "experiment": "svm", "status": "COMPLETED", "config.C": 2.0,
       "config.optimizer.name": "sgd", "result": 0.93, "metrics.train/loss.last": 0.05,
       "config.flag": True, "stop_time": None, "metrics.acc.last": float("nan")}


@pytest.mark.parametrize("text, expected", [
    ("config.C > 1", True),
    ("config.C > 1 and result > 0.9", True),
    ("config.C > 1 and result > 0.95", False),
    ("config.C < 1 or experiment == 'svm'", True),
    ("not experiment == 'svm'", False),
    ("1 < config.C <= 2", True),
    ("1 < config.C < 2", False),
    ("status in ['COMPLETED', 'DIED?']", True),
    ("status not in ('COMPLETED',)", False),
    ("config.optimizer.name == \"sgd\"", True),
    ("`metrics.train/loss.last` < 0.1", True),
    ("config.flag", True),
    ("config.flag == True and id != 4", True),
    ("config.C > -1.5", True),
    ("stop_time == None", True),
    ("stop_time > 3", False),  # no value is never larger
    ("config.missing > 0", False),
    ("config.missing == None", True),
    ("`metrics.acc.last` < 1 or `metrics.acc.last` >= 1", False),  # NaN
    ("experiment > 3", False),  # str vs int: no match rather than an error
])
def test_accepted(text: str, expected: bool) -> None:
    assert compile_where(text)(ROW) is expected


def test_names() -> None:
    where = compile_where("config.C > 1 and `metrics.train/loss.last` < result")
    assert where.names == {"config.C", "metrics.train/loss.last", "result"}
    where.check_columns(set(ROW))
    with pytest.raises(WhereError, match=r"no column config.X in these runs; did you mean "
                                         r"'config.C' or 'config.flag'\?; the columns are: "
                                         r".*config.C"):
        compile_where("config.X > 1").check_columns(set(ROW))


@pytest.mark.parametrize("text, part", [
    ("__import__('os').system('echo hi')", "the expression \"__import__('os').system('echo hi')\""),
    ("config.C + 1 > 2", "the part 'config.C + 1'"),
    ("config.C > 1 | 2", "the part '1 | 2'"),
    ("config.C is None", "the operator Is in 'config.C is None'"),
    ("[x for x in result]", "the expression"),
    ("result > b'x'", "the constant \"b'x'\""),
    ("status in [experiment]", "a list of anything but constants"),
    ("lambda: 1", "the expression 'lambda: 1'"),
    ("config.C[0] > 1", "the part 'config.C[0]'"),
])
def test_refused_parts_are_named(text: str, part: str) -> None:
    with pytest.raises(WhereError) as caught:
        compile_where(text)
    message = str(caught.value)
    assert part in message
    assert "allowed: comparisons" in message


def test_syntax_error() -> None:
    with pytest.raises(WhereError, match=r"--where 'config.C >' does not parse \(.*\); "
                                         r"allowed: comparisons"):
        compile_where("config.C >")


def test_nothing_is_executed(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WhereError):
        compile_where("open('created.txt', 'w')")(ROW)
    assert not (tmp_path / "created.txt").exists()


def test_necessary_terms() -> None:
    """The top-level ``and`` comparisons a store may use to read less."""
    where = compile_where("config.C > 1 and 8 >= config.C and (result > 0.1 or id == 3) "
                          "and 1 < config.D <= 2 and config.x != 3 and config.b == True "
                          "and config.n > -2 and experiment == 'svm'")
    assert where.necessary == (("config.C", ">", 1), ("config.C", "<=", 8),
                               ("config.D", ">", 1), ("config.D", "<=", 2),
                               ("config.n", ">", -2), ("experiment", "==", "svm"))
    assert compile_where("config.C > 1 or config.D > 1").necessary == ()
    assert compile_where("not config.C > 1").necessary == ()


def test_a_misspelt_column_gets_a_suggestion_and_the_metric_columns() -> None:
    columns = set(ROW) | {"metrics.train/loss.min", "metrics.train/loss.max"}
    with pytest.raises(WhereError) as caught:
        compile_where("config.CC > 1").check_columns(columns)
    message = str(caught.value)
    assert "no column config.CC in these runs; did you mean 'config.C' or" in message
    # each metric's three columns as one entry; a metric with only some of them as they are
    assert "metrics.train/loss.last/.min/.max" in message
    assert "metrics.acc.last" in message and "metrics.train/loss.min," not in message


def test_the_store_names_its_metric_columns_when_a_config_column_is_misspelt(pytester):
    """The misspelt name is no metric column, so the store's runs are filtered before their
    metrics are read: the columns listed must still include the metrics'."""
    from pytest_sacred.readers.table import run_rows

    pytester.makepyfile(test_exp='''
        import pytest
        from pytest_sacred import config

        @config
        def C():
            return 1.0

        @pytest.mark.experiment
        def test_exp(C, sacred_run):
            sacred_run.log_scalar("loss", 0.5)
        ''')
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
    with pytest.raises(WhereError) as caught:
        run_rows(pytester.path / "runs", where="config.CC > 1")
    message = str(caught.value)
    assert "did you mean 'config.C'" in message
    assert "metrics.loss.last/.min/.max" in message
