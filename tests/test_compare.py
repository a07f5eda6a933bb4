"""Regression checks (DESIGN §6): rules, baseline lookup, the summary column, the
``sacred_baseline`` fixture, and the baseline store written by ``--sacred-save-baseline``.

Sessions are real pytest sessions (pytester) writing to a real file store or to the Mongo
test server; each earlier session's runs are the later sessions' baselines.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

import pytest
from helpers import read_run, stored_runs

from pytest_sacred.compare import Change, RuleError, choose, config_key, parse_rule
from pytest_sacred.readers.base import StoredRun

#: result and loss come from the environment, so one file serves every session
EXPERIMENT = """
import os
import pytest
from pytest_sacred import config

@config
def C():
    return 1.0

@pytest.mark.experiment("exp")
def test_exp(C, sacred_run, tmp_path):
    for step, loss in enumerate(os.environ.get("LOSS", "1.0,0.5").split(",")):
        sacred_run.log_scalar("loss", float(loss), step)
    (tmp_path / "model.bin").write_bytes(b"weights")
    value = os.environ.get("RESULT", "0.9")
    return None if value == "none" else float(value)
"""


@pytest.fixture
def exp(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_exp=EXPERIMENT)
    return pytester


def session(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *args: str,
            result: str = "0.9", loss: str = "1.0,0.5") -> pytest.RunResult:
    monkeypatch.setenv("RESULT", result)
    monkeypatch.setenv("LOSS", loss)
    return pytester.runpytest("-p", "no:cacheprovider", *args)


def table(result: pytest.RunResult) -> list[str]:
    """The lines of the session's run table, header first."""
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if "pytest-sacred runs" in line) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("=")), len(lines))
    return [line for line in lines[start:end] if line.strip()]


def cell(result: pytest.RunResult, run_id: int) -> str:
    """The comparison cell of a run's row (between the result and the duration)."""
    header, *rows = table(result)
    start = header.index("vs ")
    end = header.index("duration")
    row = next(r for r in rows if r.split()[0] == str(run_id))
    return row[start:end].strip()


# -- rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text, metric, direction, tolerance, relative", [
    ("result:-5%", None, -1, 5.0, True),
    ("result:-0.01", None, -1, 0.01, False),
    ("result:0", None, 0, 0.0, False),
    ("result:+1e-3", None, 1, 0.001, False),
    ("metric:loss:+2%", "loss", 1, 2.0, True),
    ("metric:train.loss:.5", "train.loss", 0, 0.5, False),
    ("metric:a:b:-3%", "a:b", -1, 3.0, True),  # the tolerance follows the last colon
])
def test_rule_forms(text, metric, direction, tolerance, relative) -> None:
    rule = parse_rule(text)
    assert (rule.metric, rule.direction, rule.tolerance, rule.relative) == (
        metric, direction, tolerance, relative)


@pytest.mark.parametrize("text", ["result", "result:", "result:five", "result:5%%",
                                  "result:--5", "metric::5%", "metric:loss", "loss:-5%",
                                  "result:-5 %"])
def test_bad_rules_name_the_grammar(text) -> None:
    with pytest.raises(RuleError) as info:
        parse_rule(text)
    assert repr(text) in str(info.value) and "result:TOL or metric:NAME:TOL" in str(info.value)


@pytest.mark.parametrize("text, old, new, broken", [
    ("result:-5%", 1.0, 0.96, False),
    ("result:-5%", 1.0, 0.94, True),
    ("result:-5%", 1.0, 2.0, False),     # a rise is never bad for a drop rule
    ("result:-5%", -2.0, -2.2, True),    # relative to |old|: -10 %
    ("result:-0.01", 0.9, 0.895, False),
    ("result:-0.01", 0.9, 0.88, True),
    ("metric:loss:+2%", 0.5, 0.509, False),
    ("metric:loss:+2%", 0.5, 0.52, True),
    ("metric:loss:+2%", 0.5, 0.1, False),
    ("result:5%", 1.0, 1.06, True),      # no sign: either way
    ("result:5%", 1.0, 0.94, True),
    ("result:5%", 1.0, 1.04, False),
    ("result:0", 0.9, 0.9, False),
    ("result:0", 0.9, 0.9000001, True),
    ("result:0", "a", "a", False),       # exact reproduction needs no numbers
    ("result:0", {"acc": 1}, {"acc": 2}, True),
    ("result:-5%", 0.0, -0.1, True),     # from zero, any drop is an infinite one
    ("result:-5%", 0.0, 0.0, False),
    ("result:-5%", 1.0, math.nan, True),
])
def test_rule_verdicts(text, old, new, broken) -> None:
    assert parse_rule(text).violated(Change(None, old, new)) is broken


def test_rules_that_cannot_judge_say_so() -> None:
    assert parse_rule("result:-5%").violated(Change(None, "a", "b")) is None
    assert parse_rule("result:-5%").violated(Change(None, math.nan, 1.0)) is None


@pytest.mark.parametrize("old, new, text", [
    (0.9, 0.888, "-0.012 (-1.3 %)"),
    (2, 3, "+1 (+50.0 %)"),
    (0.5, 0.5, "±0"),
    (0, 0.25, "+0.25"),                  # no percentage of zero
    ("x", "x", "same"),
    ("x", "y", "changed"),
])
def test_change_text(old, new, text) -> None:
    assert Change(None, old, new).text() == text


def _stored(run_id: int, result, start: int) -> StoredRun:
    return StoredRun(run_id, {"name": "exp"}, "COMPLETED", {}, result=result,
                     start_time=datetime(2026, 1, 1, 0, 0, start))


def test_choose_last_and_best() -> None:
    runs = [_stored(1, 0.5, 1), _stored(3, 0.7, 3), _stored(2, 0.9, 2), _stored(4, "n/a", 4)]
    assert choose(runs, "last").id == 4
    assert choose(runs, "best").id == 2
    assert choose(runs, "best", higher_is_better=False).id == 1
    assert choose([_stored(1, None, 1)], "best") is None
    assert choose([], "last") is None


def test_config_key_sets_the_seed_aside() -> None:
    assert config_key({"C": 1.0, "seed": 1, "opt": {"b": 1, "a": 2}}) == \
        config_key({"opt": {"a": 2, "b": 1}, "seed": 2, "C": 1.0})
    assert config_key({"C": 1.0, "seed": 1}) != config_key({"C": 2.0, "seed": 1})


# -- sessions: lookup -----------------------------------------------------------------------


def test_last_compares_with_the_latest_same_config_run(exp, monkeypatch, runs_dir) -> None:
    session(exp, monkeypatch, result="0.5").assert_outcomes(passed=1)
    session(exp, monkeypatch, result="0.8").assert_outcomes(passed=1)
    session(exp, monkeypatch, "--sacred-with", "C=2.0", result="0.1").assert_outcomes(passed=1)
    result = session(exp, monkeypatch, "--sacred-compare=last", result="0.88")
    result.assert_outcomes(passed=1)
    header = table(result)[0]
    assert "vs #2" in header  # run 3 has another config; run 4 never compares with itself
    assert cell(result, 4) == "+0.08 (+10.0 %), loss ±0"
    assert stored_runs(runs_dir)[4]["status"] == "COMPLETED"


def test_seed_is_set_aside_and_config_must_match(exp, monkeypatch) -> None:
    session(exp, monkeypatch, "--sacred-seed", "1").assert_outcomes(passed=1)
    result = session(exp, monkeypatch, "--sacred-seed", "2", "--sacred-compare=last")
    assert cell(result, 2) == "±0, loss ±0"
    result = session(exp, monkeypatch, "--sacred-with", "C=3", "--sacred-compare=last")
    assert cell(result, 3) == "no baseline"
    result.stdout.fnmatch_lines(["*BaselineWarning: run 3 has no baseline (no earlier COMPLETED "
                                 "run of 'exp' with this config in *runs)*"])


def test_best_and_its_direction(exp, monkeypatch) -> None:
    for value in ("0.5", "0.9", "0.7"):
        session(exp, monkeypatch, result=value).assert_outcomes(passed=1)
    result = session(exp, monkeypatch, "--sacred-compare=best", result="0.9")
    assert "vs #2" in table(result)[0]
    # a rule saying a rise is bad makes lower results better
    result = session(exp, monkeypatch, "--sacred-compare=best", "--sacred-compare-fail",
                     "result:+50%", result="0.6")
    assert "vs #1" in table(result)[0]
    result.assert_outcomes(passed=1)  # +20 % of 0.5


def test_compare_with_a_run_id(exp, monkeypatch) -> None:
    session(exp, monkeypatch, result="0.5").assert_outcomes(passed=1)
    session(exp, monkeypatch, result="0.8").assert_outcomes(passed=1)
    result = session(exp, monkeypatch, "--sacred-compare=1", "--sacred-with", "C=2",
                     result="0.6")
    assert "vs #1" in table(result)[0]
    assert cell(result, 3) == "+0.1 (+20.0 %), loss ±0"
    result.stdout.fnmatch_lines(["test_exp.py::test_exp",
                                 "*BaselineWarning: run 3 is compared with run 1, whose config "
                                 "differs in C"])


def test_compare_id_that_is_no_baseline_is_a_usage_error(exp, monkeypatch) -> None:
    session(exp, monkeypatch, result="0.5").assert_outcomes(passed=1)
    result = session(exp, monkeypatch, "--sacred-compare=7")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-compare=7: *runs holds no run with that id*"])
    session(exp, monkeypatch, result="boom").assert_outcomes(failed=1)  # run 2 FAILED
    result = session(exp, monkeypatch, "--sacred-compare=2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*run 2 in *runs is FAILED; a baseline must be a COMPLETED run*"])
    result = session(exp, monkeypatch, "--sacred-compare=first")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-compare=first: give last, best or a run id*"])


def test_failed_runs_are_no_baselines(exp, monkeypatch) -> None:
    session(exp, monkeypatch, result="0.5").assert_outcomes(passed=1)
    session(exp, monkeypatch, result="boom").assert_outcomes(failed=1)
    result = session(exp, monkeypatch, "--sacred-compare=last", result="0.5")
    assert "vs #1" in table(result)[0]


# -- sessions: rules -----------------------------------------------------------------------


@pytest.mark.parametrize("rule, baseline, now, fails", [
    (["result:-5%"], dict(result="0.9"), dict(result="0.8"), True),
    (["result:-5%"], dict(result="0.9"), dict(result="0.88"), False),
    (["result:-0.01"], dict(result="0.9"), dict(result="0.88"), True),
    (["result:-0.01"], dict(result="0.9"), dict(result="0.895"), False),
    (["metric:loss:+2%"], dict(loss="1,0.5"), dict(loss="1,0.52"), True),
    (["metric:loss:+2%"], dict(loss="1,0.5"), dict(loss="1,0.4"), False),
    (["result:0"], dict(result="0.9"), dict(result="0.9"), False),
    (["result:0"], dict(result="0.9"), dict(result="0.91"), True),
    (["result:5%"], dict(result="0.9"), dict(result="0.99"), True),
    (["result:5%", "metric:loss:-50%"], dict(), dict(loss="1,0.2"), True),
])
def test_rule_in_a_session(exp, monkeypatch, runs_dir, rule, baseline, now, fails) -> None:
    session(exp, monkeypatch, **baseline).assert_outcomes(passed=1)
    args = [f"--sacred-compare-fail={r}" for r in rule]
    result = session(exp, monkeypatch, *args, **now)
    result.assert_outcomes(failed=int(fails), passed=int(not fails))
    assert stored_runs(runs_dir)[2]["status"] == "COMPLETED"  # the check fails the test only
    if fails:
        assert "FAILS" in cell(result, 2)
    else:
        assert "FAILS" not in cell(result, 2)


def test_failure_message_names_both_runs_values_and_rule(exp, monkeypatch) -> None:
    session(exp, monkeypatch, result="0.9").assert_outcomes(passed=1)
    result = session(exp, monkeypatch, "--sacred-compare-fail", "result:-5%",
                     "--sacred-compare-fail", "metric:loss:+2%", result="0.72", loss="1,0.6")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "regression check failed: run 2 vs baseline run 1 (*runs)",
        "  result:-5%: result 0.72 (run 2) vs 0.9 (run 1): -0.18 (-20.0 %); a drop of the "
        "result of more than 5 % fails",
        "  metric:loss:+2%: loss 0.6 (run 2) vs 0.5 (run 1): +0.1 (+20.0 %); a rise of the "
        "final 'loss' of more than 2 % fails",
        "  the run is stored as COMPLETED; the check fails the test",
    ])
    assert cell(result, 2) == ("-0.18 (-20.0 %), loss +0.1 (+20.0 %) "
                               "FAILS result:-5% metric:loss:+2%")


def test_missing_baseline_warns_naming_the_rule(exp, monkeypatch) -> None:
    result = session(exp, monkeypatch, "--sacred-compare-fail=result:-5%")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*BaselineWarning: run 1 has no baseline (no earlier COMPLETED "
                                 "run of 'exp' with this config in *): not checked: result:-5%"])
    assert cell(result, 1) == "no baseline"
    # -W makes an unchecked rule a failure
    result = session(exp, monkeypatch, "--sacred-compare-fail=result:-5%", "--sacred-with=C=9",
                     "-W", "error::pytest_sacred.compare.BaselineWarning")
    result.assert_outcomes(failed=1)


def test_missing_metric_or_result_warns(exp, monkeypatch) -> None:
    session(exp, monkeypatch, result="none").assert_outcomes(passed=1)
    result = session(exp, monkeypatch, "--sacred-compare-fail=metric:accuracy:-1%",
                     "--sacred-compare-fail=result:-1%")
    result.assert_outcomes(passed=1, warnings=2)
    result.stdout.fnmatch_lines([
        "*BaselineWarning: metric:accuracy:-1% not checked: run 2 and run 1 have no metric "
        "'accuracy'",
    ])
    result.stdout.fnmatch_lines(["*BaselineWarning: result:-1% not checked: run 1 has no result"])


def test_bad_rule_is_a_usage_error_at_start(exp, monkeypatch, runs_dir) -> None:
    result = session(exp, monkeypatch, "--sacred-compare-fail=result:-5%",
                     "--sacred-compare-fail=accuracy<5")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert ("--sacred-compare-fail 'accuracy<5': expected result:TOL or metric:NAME:TOL, TOL "
            "being [+|-]NUMBER[%]; the sign is the bad direction") in result.stderr.str()
    assert not runs_dir.exists()


def test_bad_rule_under_xdist(exp, monkeypatch) -> None:
    result = session(exp, monkeypatch, "-n", "2", "--sacred-compare-fail=result:-5pc")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*'-5pc' is not a tolerance*"])


def test_compare_under_xdist(exp, monkeypatch) -> None:
    exp.makepyfile(test_more=EXPERIMENT.replace('"exp"', '"more"'))
    session(exp, monkeypatch, result="0.9").assert_outcomes(passed=2)
    result = session(exp, monkeypatch, "-n", "2", "--sacred-compare-fail=result:-5%",
                     result="0.5")
    result.assert_outcomes(failed=2)
    header, *rows = table(result)
    assert "vs baseline" in header and len(rows) == 2
    assert {cell(result, 3), cell(result, 4)} == {
        "#1: -0.4 (-44.4 %), loss ±0 FAILS result:-5%",
        "#2: -0.4 (-44.4 %), loss ±0 FAILS result:-5%"}


def test_unreadable_compare_store_is_a_usage_error(exp, monkeypatch, tmp_path) -> None:
    result = session(exp, monkeypatch, "--sacred-compare-store", str(tmp_path / "nowhere"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-compare-store *nowhere: *is not a store*"])


def test_baseline_artifacts_needs_save_baseline(exp, monkeypatch) -> None:
    result = session(exp, monkeypatch, "--sacred-baseline-artifacts")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-baseline-artifacts applies to --sacred-save-baseline*"])


def test_no_store_to_read(exp, monkeypatch) -> None:
    result = session(exp, monkeypatch, "--sacred-unobserved", "--sacred-compare=last")
    result.assert_outcomes(passed=1, warnings=2)
    result.stdout.fnmatch_lines(["*BaselineWarning: --sacred-compare: no store of this session "
                                 "can be read*"])


# -- the fixture -------------------------------------------------------------------------------

FIXTURE_TEST = """
import pytest

@pytest.mark.experiment("exp")
def test_uses_baseline(sacred_baseline, sacred_run, tmp_path):
    sacred_run.log_scalar("loss", 0.25)
    (tmp_path / "model.bin").write_bytes(b"w")
    if sacred_baseline is None:
        return 1.0
    assert sacred_baseline.status == "COMPLETED"
    assert sacred_baseline.experiment == "exp"
    assert sacred_baseline.metrics["loss"].tolist() == [0.25]
    print("BASELINE", sacred_baseline.id, sacred_baseline.result,
          sacred_baseline.artifacts["model.bin"].read())
    return sacred_baseline.result + 1
"""


def test_fixture_gives_the_baseline_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_fix=FIXTURE_TEST)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    result = pytester.runpytest("-p", "no:cacheprovider", "-s")  # no option: the last run
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*BASELINE 1 1.0 b'w'"])
    assert "vs " not in table(result)[0]  # the fixture alone adds no column
    result = pytester.runpytest("-p", "no:cacheprovider", "-s", "--sacred-compare=best")
    result.stdout.fnmatch_lines(["*BASELINE 2 2.0 b'w'"])


def test_fixture_outside_experiments(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain(sacred_baseline):\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*asks for 'sacred_baseline', which only experiments have*"])


# -- the baseline store ------------------------------------------------------------------------


def test_save_baseline_round_trip(exp, monkeypatch, runs_dir) -> None:
    base = exp.path / "baseline"
    session(exp, monkeypatch, "--sacred-save-baseline", str(base), result="0.9",
            loss="1,0.5").assert_outcomes(passed=1)
    saved = stored_runs(base)
    assert list(saved) == [1]
    run = saved[1]
    assert run["status"] == "COMPLETED" and run["result"] == 0.9
    assert run["config"] == read_run(runs_dir, 1)["config"]
    assert run["meta"]["baseline_of"] == {"id": 1, "stored_in": ["runs/1"]}
    assert run["artifacts"] == [] and not (base / "1" / "model.bin").exists()
    assert (base / "1" / "cout.txt").read_text() == ""
    assert not (base / "_sources").exists()
    metrics = json.loads((base / "1" / "metrics.json").read_text())
    assert metrics["loss"]["values"] == [1.0, 0.5] and metrics["loss"]["steps"] == [0, 1]
    # compared against it: its id is the baseline store's
    session(exp, monkeypatch, result="0.1").assert_outcomes(passed=1)  # a worse run in runs/
    result = session(exp, monkeypatch, "--sacred-compare-store", str(base),
                     "--sacred-compare-fail=result:-5%", result="0.8")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["regression check failed: run 3 vs baseline run 1 (*baseline)"])


def test_save_baseline_replaces_and_keeps_artifacts_on_request(exp, monkeypatch) -> None:
    base = exp.path / "baseline"
    session(exp, monkeypatch, "--sacred-save-baseline", str(base), result="0.7")
    session(exp, monkeypatch, "--sacred-save-baseline", str(base), "--sacred-with", "C=2",
            result="0.6")
    session(exp, monkeypatch, "--sacred-save-baseline", str(base), "--sacred-baseline-artifacts",
            result="0.9")
    saved = stored_runs(base)
    assert {i: (r["config"]["C"], r["result"]) for i, r in saved.items()} == {2: (2, 0.6),
                                                                               3: (1.0, 0.9)}
    assert saved[3]["artifacts"] == ["model.bin"]
    assert (base / "3" / "model.bin").read_bytes() == b"weights"
    # a run that fails its check does not replace the baseline
    result = session(exp, monkeypatch, "--sacred-save-baseline", str(base),
                     "--sacred-compare-store", str(base), "--sacred-compare-fail=result:-5%",
                     result="0.5")
    result.assert_outcomes(failed=1)
    assert set(stored_runs(base)) == {2, 3}


def test_committed_baseline_workflow(exp, monkeypatch) -> None:
    """A baseline directory committed with the code; CI compares each change with it."""
    exp.run("git", "init", "-q")
    session(exp, monkeypatch, "--sacred-save-baseline", "baseline", "--sacred-unobserved",
            result="0.9").assert_outcomes(passed=1)
    exp.run("git", "add", "test_exp.py", "baseline")
    assert exp.run("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm",
                   "baseline").ret == 0
    ci = ["--sacred-compare-store", "baseline", "--sacred-compare-fail=result:-2%",
          "--sacred-compare-fail=metric:loss:+5%"]
    session(exp, monkeypatch, *ci, result="0.895").assert_outcomes(passed=1)
    result = session(exp, monkeypatch, *ci, result="0.85", loss="1,0.6")
    result.assert_outcomes(failed=1)
    assert "vs #1" in table(result)[0]
    status = exp.run("git", "status", "--porcelain", "baseline")
    assert status.stdout.str() == ""  # comparing never changes the committed baseline


# -- MongoDB ---------------------------------------------------------------------------------


def test_compare_in_mongo(exp, monkeypatch, mongo_server, mongo_db_name) -> None:
    pytest.importorskip("pytest_sacred.stores.mongo.reader",
                        reason="the Mongo reader is not merged")
    store = f"{mongo_server.host}:{mongo_server.port}:{mongo_db_name}"
    session(exp, monkeypatch, "--sacred-mongo", store, result="0.9").assert_outcomes(passed=1)
    session(exp, monkeypatch, "--sacred-mongo", store, "--sacred-with", "C=3",
            result="0.2").assert_outcomes(passed=1)
    result = session(exp, monkeypatch, "--sacred-mongo", store, "--sacred-compare-fail",
                     "result:-5%", result="0.8")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [f"regression check failed: run 3 vs baseline run 1 (*{mongo_db_name}*)"])
    # a baseline directory compared with from a Mongo session, and Mongo as the compare store
    base = exp.path / "baseline"
    session(exp, monkeypatch, "--sacred-mongo", store, "--sacred-save-baseline", str(base),
            result="0.95").assert_outcomes(passed=1)
    result = session(exp, monkeypatch, "--sacred-mongo", store, "--sacred-compare-store",
                     str(base), "--sacred-compare=last", result="0.95")
    assert "vs #1" in table(result)[0]
    result = session(exp, monkeypatch, "--sacred-unobserved", "--sacred-compare-store",
                     f"mongodb://{mongo_server.host}:{mongo_server.port}/{mongo_db_name}",
                     "--sacred-compare=best", result="0.95")
    assert "vs #5" in table(result)[0]  # 0.95 twice (runs 4 and 5): the later one


def test_compare_store_checked_in_the_xdist_controller(exp, monkeypatch, tmp_path) -> None:
    result = session(exp, monkeypatch, "-n", "2", "--sacred-compare-store", str(tmp_path / "no"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-compare-store *no: *is not a store*"])


def test_compare_id_missing_under_xdist(exp, monkeypatch) -> None:
    session(exp, monkeypatch).assert_outcomes(passed=1)
    result = session(exp, monkeypatch, "-n", "2", "--sacred-compare=9")
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*--sacred-compare=9: *runs holds no run with that id*"])


def test_stored_name_is_what_is_matched(exp, monkeypatch) -> None:
    session(exp, monkeypatch, "--sacred-name", "renamed", result="0.5").assert_outcomes(passed=1)
    result = session(exp, monkeypatch, "--sacred-compare=last")
    assert cell(result, 2) == "no baseline"  # run 1 is stored as 'renamed', not 'exp'
    result = session(exp, monkeypatch, "--sacred-name", "renamed", "--sacred-compare=last",
                     result="0.6")
    assert "vs #1" in table(result)[0]


def test_save_baseline_under_xdist(exp, monkeypatch) -> None:
    exp.makepyfile(test_more=EXPERIMENT.replace('"exp"', '"more"'))
    base = exp.path / "baseline"
    for value in ("0.5", "0.9"):  # the second session replaces the first one's copies
        session(exp, monkeypatch, "-n", "2", "--sacred-save-baseline", str(base),
                result=value).assert_outcomes(passed=2)
    saved = stored_runs(base)
    assert sorted((r["experiment"]["name"], r["result"]) for r in saved.values()) == [
        ("exp", 0.9), ("more", 0.9)]
    result = session(exp, monkeypatch, "-n", "2", "--sacred-compare-store", str(base),
                     "--sacred-compare-fail=result:0", result="0.9")
    result.assert_outcomes(passed=2)


# -- verdicts stored with the runs ------------------------------------------------------------


def test_choose_skips_runs_that_failed_their_check() -> None:
    failed = _stored(3, 0.95, 3)
    failed.info["regression"] = {"passed": False, "failed": ["result:-5%"]}
    passed = _stored(2, 0.9, 2)
    passed.info["regression"] = {"passed": True, "failed": []}
    runs = [_stored(1, 0.5, 1), passed, failed]
    assert choose(runs, "last").id == 2
    assert choose(runs, "best").id == 2
    assert choose([failed], "last") is None


def _info(store: Path, run_id: int) -> dict:
    return json.loads((store / str(run_id) / "info.json").read_text())


def test_worse_code_fails_every_time(exp, monkeypatch, runs_dir) -> None:
    """The runs that failed their check are stored COMPLETED with the verdict, and never
    become the baseline: the same worse code run again fails again, against run 1."""
    rule = "--sacred-compare-fail=result:-5%"
    session(exp, monkeypatch, rule, result="0.9").assert_outcomes(passed=1)
    for run_id in (2, 3):
        result = session(exp, monkeypatch, rule, result="0.8")
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines([f"*regression check failed: run {run_id} vs baseline "
                                     "run 1 *"])
    stored = stored_runs(runs_dir)
    assert _info(runs_dir, 1)["regression"] == {
        "rules": ["result:-5%"], "mode": "last", "baseline": None, "changes": [],
        "failed": [], "passed": True, "test_outcome": "passed"}
    verdict = _info(runs_dir, 3)["regression"]
    assert stored[3]["status"] == "COMPLETED"
    assert verdict["passed"] is False and verdict["test_outcome"] == "failed"
    assert verdict["failed"] == ["result:-5%"] and verdict["rules"] == ["result:-5%"]
    assert verdict["baseline"] == {"id": 1, "store": str(runs_dir)}
    result_change = next(c for c in verdict["changes"] if c["name"] == "result")
    assert result_change["old"] == 0.9 and result_change["new"] == 0.8
    assert result_change["percent"] == pytest.approx(-100 / 9)
    assert any(c["name"] == "metric:loss" for c in verdict["changes"])


def test_accepting_a_new_baseline_by_its_id(exp, monkeypatch, runs_dir) -> None:
    rule = "--sacred-compare-fail=result:-5%"
    session(exp, monkeypatch, rule, result="0.9").assert_outcomes(passed=1)
    session(exp, monkeypatch, rule, result="0.8").assert_outcomes(failed=1)
    # naming the failed run accepts it: the new run passes against it ...
    result = session(exp, monkeypatch, rule, "--sacred-compare=2", result="0.8")
    result.assert_outcomes(passed=1)
    assert _info(runs_dir, 3)["regression"]["baseline"]["id"] == 2
    # ... and, having passed, is the next session's `last`
    result = session(exp, monkeypatch, rule, result="0.79")
    result.assert_outcomes(passed=1)
    assert "vs #3" in table(result)[0]


def test_best_passes_over_failed_runs_and_says_when_none_is_left(exp, monkeypatch) -> None:
    rule = "--sacred-compare-fail=result:-5%"
    session(exp, monkeypatch, rule, result="0.9").assert_outcomes(passed=1)
    # run 2 has the best result but failed its check (its metric rule): not a baseline
    session(exp, monkeypatch, rule, "--sacred-compare-fail=metric:loss:+2%", result="0.95",
            loss="1,0.9").assert_outcomes(failed=1)
    result = session(exp, monkeypatch, "--sacred-compare=best", result="0.9")
    assert "vs #1" in table(result)[0]
    # a config whose only run failed (against run 1, named): no baseline, and why
    session(exp, monkeypatch, rule, "--sacred-compare=1", "--sacred-with", "C=2.0",
            result="0.5").assert_outcomes(failed=1)
    result = session(exp, monkeypatch, rule, "--sacred-with", "C=2.0", result="0.5")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*run 5 has no baseline (no earlier COMPLETED run of 'exp' "
                                 "with this config in * that passed its regression check "
                                 "(failed it: 4; accept one with --sacred-compare=ID))*"])


def test_saving_a_baseline_accepts_it(exp, monkeypatch) -> None:
    """A committed baseline directory is replaced only by a run saved on purpose."""
    base = exp.path / "baseline"
    session(exp, monkeypatch, "--sacred-save-baseline", str(base),
            result="0.9").assert_outcomes(passed=1)
    compare = ["--sacred-compare-store", str(base), "--sacred-compare-fail=result:-5%"]
    # worse code does not pass, and its failing run is not saved as the new baseline
    session(exp, monkeypatch, *compare, "--sacred-save-baseline", str(base),
            result="0.8").assert_outcomes(failed=1)
    assert [r["result"] for r in stored_runs(base).values()] == [0.9]
    # saved without the check: accepted, and the worse code passes from then on
    session(exp, monkeypatch, "--sacred-save-baseline", str(base),
            result="0.8").assert_outcomes(passed=1)
    session(exp, monkeypatch, *compare, result="0.8").assert_outcomes(passed=1)


def test_ls_and_show_give_the_verdict(exp, monkeypatch, runs_dir, capsys) -> None:
    from pytest_sacred.cli import main

    rule = "--sacred-compare-fail=result:-5%"
    session(exp, monkeypatch, result="0.9").assert_outcomes(passed=1)
    session(exp, monkeypatch, rule, result="0.8").assert_outcomes(failed=1)
    session(exp, monkeypatch, rule, result="0.89").assert_outcomes(passed=1)
    capsys.readouterr()
    assert main(["ls", str(runs_dir)]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    assert "check" in header.split()
    by_id = {line.split()[0]: line for line in lines}
    assert "FAIL vs #1: result:-5%" in by_id["2"]
    assert "pass vs #1" in by_id["3"]
    assert "pass" not in by_id["1"] and "FAIL" not in by_id["1"]  # stored without a check
    assert main(["show", str(runs_dir), "2"]) == 0
    out = capsys.readouterr().out
    assert "check     FAIL vs #1: result:-5%  (rules: result:-5%; test failed)" in out
    assert "result: 0.9 -> 0.8  -0.1 (-11.1 %)" in out


def test_verdict_in_mongo(exp, monkeypatch, mongo_server, mongo_db_name) -> None:
    from pytest_sacred.readers import open_reader

    store = f"{mongo_server.host}:{mongo_server.port}:{mongo_db_name}"
    rule = "--sacred-compare-fail=result:-5%"
    session(exp, monkeypatch, "--sacred-mongo", store, result="0.9").assert_outcomes(passed=1)
    for _ in range(2):
        session(exp, monkeypatch, "--sacred-mongo", store, rule,
                result="0.8").assert_outcomes(failed=1)
    url = f"mongodb://{mongo_server.host}:{mongo_server.port}/{mongo_db_name}"
    with open_reader(url) as reader:
        run = reader.get_run(3)
    assert run.status == "COMPLETED"
    verdict = run.info["regression"]
    assert verdict["passed"] is False and verdict["baseline"]["id"] == 1
    assert verdict["failed"] == ["result:-5%"] and verdict["test_outcome"] == "failed"
