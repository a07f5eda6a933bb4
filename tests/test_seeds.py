"""Seeds as a sweep (``--sacred-seeds``, the marker's ``seeds=``), the summary of groups,
and regression checks over groups (``result:-5%@95``).

Real pytest sessions (pytester) writing to a real file store (and once to the Mongo test
server); each session's groups are the next sessions' baselines.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest
from helpers import stored_runs

scipy_stats = pytest.importorskip("scipy.stats")

#: the result moves with the seed by up to ±2 % around BASE; FAIL names a seed index whose
#: body raises
EXPERIMENT = """
import os
import pytest
from pytest_sacred import config

@config
def C():
    return 1.0

@pytest.mark.experiment("exp"{marker})
def test_exp(C, seed, sacred_run, request):
    if request.node.name.endswith("seed" + os.environ.get("FAIL", "-") + "]"):
        raise ValueError("boom")
    base = float(os.environ.get("BASE", "0.9"))
    sacred_run.log_scalar("loss", 1 - base)
    return base * (1 + (seed % 5 - 2) * 0.01)
"""


@pytest.fixture
def exp(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_exp=EXPERIMENT.format(marker=""))
    return pytester


def session(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *args: str,
            base: str = "0.9", fail: str = "-", root: str | None = "1") -> pytest.RunResult:
    """A session; every group gets the same seeds (root seed 1) unless ``root=None``, so
    that two groups differ by ``base`` alone."""
    monkeypatch.setenv("BASE", base)
    monkeypatch.setenv("FAIL", fail)
    seed = ["--sacred-seed", root] if root is not None and "--sacred-seed" not in args else []
    return pytester.runpytest("-p", "no:cacheprovider", *seed, *args)


def info(store: Path, run_id: int) -> dict:
    path = store / str(run_id) / "info.json"
    return json.loads(path.read_text()) if path.exists() else {}


def section(result: pytest.RunResult, title: str) -> list[str]:
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if title in line) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("=")), len(lines))
    return [line for line in lines[start:end] if line.strip()]


# -- the sweep ------------------------------------------------------------------------------


def test_seeds_sweep_each_variant_with_derived_seeds(pytester, monkeypatch, runs_dir) -> None:
    pytester.makepyfile(test_exp=EXPERIMENT.format(marker="").replace(
        "def test_exp(C,", "@pytest.mark.parametrize('kernel', ['rbf', 'lin'])\n"
                           "def test_exp(kernel, C,"))
    result = session(pytester, monkeypatch, "--sacred-seeds", "3", "--sacred-seed", "7", "-v")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*test_exp[[]rbf-seed0[]] PASSED*",
                                 "*test_exp[[]rbf-seed2[]] PASSED*",
                                 "*test_exp[[]lin-seed1[]] PASSED*"])
    runs = stored_runs(runs_dir)
    seeds = {}
    for run in runs.values():
        meta = run["meta"]["seeds"]
        assert meta["root"] == 7 and meta["count"] == 3
        assert run["config"]["seed"] != 7
        seeds[(run["config"]["kernel"], meta["index"])] = run["config"]["seed"]
    # one seed per index, the same for every variant; the group names this session
    assert len(seeds) == 6 and len(set(seeds.values())) == 3
    assert seeds[("rbf", 1)] == seeds[("lin", 1)]
    assert len({run["meta"]["seeds"]["group"] for run in runs.values()}) == 1
    # the same root seed gives the same seeds in the next session, and another root others
    session(pytester, monkeypatch, "--sacred-seeds", "3", "--sacred-seed", "7",
            "-k", "rbf").assert_outcomes(passed=3)
    session(pytester, monkeypatch, "--sacred-seeds", "3", "-k", "rbf",
            root=None).assert_outcomes(passed=3)
    runs = stored_runs(runs_dir)
    again = {runs[i]["meta"]["seeds"]["index"]: runs[i]["config"]["seed"] for i in (7, 8, 9)}
    other = {runs[i]["meta"]["seeds"]["index"]: runs[i]["config"]["seed"] for i in (10, 11, 12)}
    assert again == {i: seeds[("rbf", i)] for i in range(3)}
    assert set(other.values()).isdisjoint(again.values())
    assert runs[10]["meta"]["seeds"]["group"] != runs[7]["meta"]["seeds"]["group"]


def test_marker_seeds_and_the_option_wins(pytester, monkeypatch, runs_dir) -> None:
    pytester.makepyfile(test_exp=EXPERIMENT.format(marker=", seeds=2"))
    session(pytester, monkeypatch).assert_outcomes(passed=2)
    session(pytester, monkeypatch, "--sacred-seeds", "4").assert_outcomes(passed=4)
    runs = stored_runs(runs_dir)
    assert [runs[i]["meta"]["seeds"]["count"] for i in sorted(runs)] == [2] * 2 + [4] * 4


@pytest.mark.parametrize("marker, message", [
    (", seeds=0", "*test_exp.py::test_exp: @pytest.mark.experiment(seeds=0): seeds is the "
                  "number of runs of each variant, an integer from 1 (e.g. seeds=10)*"),
    (", seeds='3'", "*seeds='3'*an integer from 1*"),
])
def test_bad_marker_seeds_is_a_usage_error(pytester, monkeypatch, marker, message) -> None:
    pytester.makepyfile(test_exp=EXPERIMENT.format(marker=marker))
    result = session(pytester, monkeypatch)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_bad_seeds_option_and_a_fixed_seed(exp, monkeypatch) -> None:
    result = session(exp, monkeypatch, "--sacred-seeds", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-seeds*'0' is not a number of seeds*"])
    result = session(exp, monkeypatch, "--sacred-seeds", "2", "--sacred-with", "seed=3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*the seed is set (--sacred-with or a named config) while "
                                 "the variant runs with several seeds; give the root of its "
                                 "seeds with --sacred-seed instead*"])


def test_summary_has_one_row_per_group(exp, monkeypatch) -> None:
    result = session(exp, monkeypatch, "--sacred-seeds", "4", "--sacred-seed", "1")
    result.assert_outcomes(passed=4)
    rows = section(result, "pytest-sacred runs")[1:]
    values = [float(line.split()[4]) for line in rows]
    header, line = section(result, "pytest-sacred groups of seeds")
    assert header.split()[:4] == ["group", "runs", "result", "loss"]
    mean, std = statistics.mean(values), statistics.stdev(values)
    half = scipy_stats.t.ppf(0.975, 3) * std / math.sqrt(4)
    expected = f"{mean:.4g} ± {std:.2g} ({mean - half:.4g}…{mean + half:.4g})"
    assert line.startswith(f"test_exp.py::test_exp  4/4   {expected}")
    assert "0.1 ± 0 (0.1…0.1)" in line  # the loss is the same for every seed


def test_groups_summarised_under_xdist_with_one_root(exp, monkeypatch, runs_dir) -> None:
    result = session(exp, monkeypatch, "-n", "2", "--sacred-seeds", "4", root=None)
    result.assert_outcomes(passed=4)
    assert section(result, "pytest-sacred groups of seeds")[1].startswith(
        "test_exp.py::test_exp  4/4")
    runs = stored_runs(runs_dir).values()
    assert len({(r["meta"]["seeds"]["root"], r["meta"]["seeds"]["group"]) for r in runs}) == 1
    assert len({r["config"]["seed"] for r in runs}) == 4


# -- checks over groups ---------------------------------------------------------------------


RULE = "--sacred-compare-fail=result:-5%@95"


def test_worse_group_fails_every_time_and_the_verdict_is_in_every_run(
        exp, monkeypatch, runs_dir) -> None:
    session(exp, monkeypatch, "--sacred-seeds", "4").assert_outcomes(passed=4)
    for first in (5, 9):
        result = session(exp, monkeypatch, "--sacred-seeds", "4", RULE, base="0.8")
        result.assert_outcomes(passed=3, failed=1)
        result.stdout.fnmatch_lines([
            f"*regression check of group test_exp.py::test_exp failed: runs {first}-{first + 3} "
            "vs baseline runs 1-4 (*runs)",
            "*result:-5%@95: Welch's t-test: change of the mean -11.* % (95 % interval -∞ … "
            "-*), n = 4 baseline runs vs 4 runs; a drop of the result of more than 5 % with "
            "95 % confidence fails"])
        assert "FAILED test_exp.py::test_exp[seed3]" in result.stdout.str()
    runs = stored_runs(runs_dir)
    assert {r["status"] for r in runs.values()} == {"COMPLETED"}
    verdicts = [info(runs_dir, i)["regression"] for i in range(5, 9)]
    assert all(v == verdicts[0] for v in verdicts)
    verdict = verdicts[0]
    assert verdict["passed"] is False and verdict["test_outcome"] == "failed"
    assert verdict["baseline"]["ids"] == [1, 2, 3, 4]
    assert verdict["group"] == {"label": "test_exp.py::test_exp", "size": 4,
                                "runs": [5, 6, 7, 8]}
    test = verdict["tests"]["result:-5%@95"]
    assert (test["test"], test["n"], test["n_baseline"], test["low"]) == ("welch", 4, 4, None)
    assert test["high"] < -5 < test["high"] + 10 and test["worse"] is True
    # each run's stop time is its own, though its final event waited for the group
    stops = [runs[i]["stop_time"] for i in range(5, 9)]
    assert stops == sorted(stops) and len(set(stops)) == 4


def test_same_code_passes_and_becomes_the_next_baseline(exp, monkeypatch, runs_dir) -> None:
    session(exp, monkeypatch, "--sacred-seeds", "3").assert_outcomes(passed=3)
    result = session(exp, monkeypatch, "--sacred-seeds", "3", RULE, base="0.89")
    result.assert_outcomes(passed=3)
    line = section(result, "pytest-sacred groups of seeds")[1]
    assert "#1-3: result -0.01003 (-1.1 %) [-∞ … -0.115 %]" in line and "FAILS" not in line
    assert info(runs_dir, 4)["regression"]["passed"] is True
    result = session(exp, monkeypatch, "--sacred-seeds", "3", RULE, base="0.89")
    assert "#4-6:" in section(result, "pytest-sacred groups of seeds")[1]


def test_group_rule_without_confidence_compares_the_means(exp, monkeypatch, runs_dir) -> None:
    session(exp, monkeypatch, "--sacred-seeds", "3").assert_outcomes(passed=3)
    session(exp, monkeypatch, "--sacred-seeds", "3", "--sacred-compare-fail=result:-5%",
            base="0.87").assert_outcomes(passed=3)  # -3.3 %
    result = session(exp, monkeypatch, "--sacred-seeds", "3",
                     "--sacred-compare-fail=result:-5%", base="0.8")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*result:-5%: mean result 0.8* vs 0.87*: -0.07* (-8.0 %); a "
                                 "drop of the result of more than 5 % fails"])
    assert info(runs_dir, 7)["regression"]["tests"] == {}


def test_bootstrap_on_request(exp, monkeypatch, runs_dir) -> None:
    session(exp, monkeypatch, "--sacred-seeds", "5").assert_outcomes(passed=5)
    result = session(exp, monkeypatch, "--sacred-seeds", "5", RULE,
                     "--sacred-compare-test=bootstrap", base="0.8")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(["*result:-5%@95: bootstrap (BCa): change of the mean -11.*"])
    assert info(runs_dir, 6)["regression"]["test"] == "bootstrap"


def test_compare_with_the_group_of_a_named_run(exp, monkeypatch) -> None:
    session(exp, monkeypatch, "--sacred-seeds", "3").assert_outcomes(passed=3)
    session(exp, monkeypatch, "--sacred-seeds", "3", base="0.5").assert_outcomes(passed=3)
    result = session(exp, monkeypatch, "--sacred-seeds", "3", RULE, "--sacred-compare=2",
                     base="0.89")
    result.assert_outcomes(passed=3)
    assert "#1-3:" in section(result, "pytest-sacred groups of seeds")[1]


@pytest.mark.parametrize("args, message", [
    (["--sacred-seeds", "1"], "*group test_exp.py::test_exp: result:-5%@95 needs two or more "
                              "runs a side, and 1 of the group is selected*"),
    ([], "*test_exp.py::test_exp is a single run, but result:-5%@95 judges groups of seeds*"),
    (["--sacred-seeds", "3", "-n", "2"], "*checks each group of seeds as a whole, in one "
                                         "process*without -n*"),
])
def test_what_a_confidence_cannot_judge_is_a_usage_error(exp, monkeypatch, runs_dir, args,
                                                         message) -> None:
    session(exp, monkeypatch, "--sacred-seeds", "2").assert_outcomes(passed=2)
    result = session(exp, monkeypatch, RULE, *args)
    assert result.ret != pytest.ExitCode.OK
    (result.stderr if "-n" not in args else result.stdout).fnmatch_lines([message])
    assert len(stored_runs(runs_dir)) == 2  # nothing ran


def test_a_baseline_of_one_run_is_a_usage_error(exp, monkeypatch) -> None:
    session(exp, monkeypatch).assert_outcomes(passed=1)
    result = session(exp, monkeypatch, "--sacred-seeds", "3", RULE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*group test_exp.py::test_exp: its baseline is 1 run (id 1 "
                                 "in *runs) and result:-5%@95 needs two or more runs a side*"])


def test_a_failed_run_leaves_the_group_short(exp, monkeypatch, runs_dir) -> None:
    session(exp, monkeypatch, "--sacred-seeds", "2").assert_outcomes(passed=2)
    result = session(exp, monkeypatch, "--sacred-seeds", "2", RULE, fail="1")
    result.assert_outcomes(failed=1, passed=1)  # seed1's own failure; seed0 held, then ended
    runs = stored_runs(runs_dir)
    assert (runs[3]["status"], runs[4]["status"]) == ("COMPLETED", "FAILED")
    verdict = info(runs_dir, 3)["regression"]
    assert verdict["passed"] is False
    assert verdict["errors"] == ["result:-5%@95 needs two or more runs a side; the group has "
                                 "1 and its baseline 2 with a numeric result"]
    # the group that fell short is no baseline
    result = session(exp, monkeypatch, "--sacred-seeds", "2", RULE)
    assert "#1, 2:" in section(result, "pytest-sacred groups of seeds")[1]


def test_a_session_stopped_inside_a_group_ends_its_held_runs(exp, monkeypatch,
                                                             runs_dir) -> None:
    session(exp, monkeypatch, "--sacred-seeds", "3").assert_outcomes(passed=3)
    result = session(exp, monkeypatch, "--sacred-seeds", "3", RULE, "-x", fail="1")
    result.assert_outcomes(passed=1, failed=1)
    runs = stored_runs(runs_dir)
    assert runs[4]["status"] == "COMPLETED"  # held for the group, ended at the session's end
    assert info(runs_dir, 4)["regression"]["errors"] == [
        "not judged: the session ended after 2 of the group's 3 runs"]
    assert "FAIL (3 runs)" in _ls(runs_dir)
    result.stdout.fnmatch_lines(["*group test_exp.py::test_exp was not checked: the session "
                                 "ended after 2 of its 3 runs; run 4 is stored COMPLETED "
                                 "with a failed verdict (no one's baseline)*"])


def _ls(store: Path) -> str:
    import contextlib
    import io

    from pytest_sacred.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["ls", str(store)]) == 0
    return out.getvalue()


def test_ls_and_show_give_the_group_verdict(exp, monkeypatch, runs_dir, capsys) -> None:
    from pytest_sacred.cli import main

    session(exp, monkeypatch, "--sacred-seeds", "2").assert_outcomes(passed=2)
    session(exp, monkeypatch, "--sacred-seeds", "2", RULE, base="0.8").assert_outcomes(
        passed=1, failed=1)
    assert _ls(runs_dir).count("FAIL (2 runs) vs #1, 2: result:-5%@95") == 2
    capsys.readouterr()
    assert main(["show", str(runs_dir), "3"]) == 0
    out = capsys.readouterr().out
    assert "result:-5%@95: Welch's t-test: change of the mean -11." in out
    assert "n = 2 baseline runs vs 2 runs" in out and "(means of the groups)" in out


def test_group_verdict_in_mongo(exp, monkeypatch, mongo_server, mongo_db_name) -> None:
    from pytest_sacred.readers import open_reader

    store = ["--sacred-mongo", f"{mongo_server.host}:{mongo_server.port}:{mongo_db_name}"]
    session(exp, monkeypatch, *store, "--sacred-seeds", "3").assert_outcomes(passed=3)
    session(exp, monkeypatch, *store, "--sacred-seeds", "3", RULE,
            base="0.8").assert_outcomes(passed=2, failed=1)
    with open_reader(f"mongodb://{mongo_server.host}:{mongo_server.port}/"
                     f"{mongo_db_name}") as reader:
        runs = {run.id: run for run in reader.list_runs()}
    for run_id in (4, 5, 6):
        assert runs[run_id].status == "COMPLETED"
        verdict = runs[run_id].info["regression"]
        assert verdict["passed"] is False and verdict["baseline"]["ids"] == [1, 2, 3]
        assert verdict["tests"]["result:-5%@95"]["n"] == 3


def test_cli_compare_shows_groups_and_their_verdicts(exp, monkeypatch, runs_dir,
                                                     capsys) -> None:
    from pytest_sacred.cli import main

    session(exp, monkeypatch, "--sacred-seeds", "3").assert_outcomes(passed=3)
    session(exp, monkeypatch, "--sacred-seeds", "3", RULE, base="0.8").assert_outcomes(
        passed=2, failed=1)
    capsys.readouterr()
    assert main(["compare", str(runs_dir), "2", "5"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "group of #2 (3 runs)" in out[0] and "group of #5 (3 runs)" in out[0]
    assert out[1].split()[1:] == ["1,", "2,", "3", "4,", "5,", "6"]
    assert "(-11.1 %)" in out[2] and out[2].startswith("result")
    assert "group of #5:" in out
    assert any("result:-5%@95: Welch's t-test: change of the mean -11.11 %" in line
               and "n = 3 baseline runs vs 3 runs" in line for line in out)
    # two runs of one group: compared run by run, as before
    assert main(["compare", str(runs_dir), "1", "2"]) == 0
    assert "group of" not in capsys.readouterr().out
    assert main(["compare", str(runs_dir), "--groups", "1", "2"]) == 0
    assert "group of #1 (3 runs)" in capsys.readouterr().out


def test_held_runs_keep_beating_until_their_group_is_judged(exp, monkeypatch,
                                                           runs_dir) -> None:
    from datetime import datetime

    exp.makepyfile(test_exp=EXPERIMENT.format(marker="").replace(
        "    base = float", "    if request.node.name.endswith('seed1]'):\n"
                          "        import time; time.sleep(1.5)\n    base = float"))
    session(exp, monkeypatch, "--sacred-seeds", "2").assert_outcomes(passed=2)
    session(exp, monkeypatch, "--sacred-seeds", "2", RULE, "--sacred-heartbeat",
            "0.2").assert_outcomes(passed=2)
    run = stored_runs(runs_dir)[3]  # seed0: held while seed1 slept
    stop, beat = (datetime.fromisoformat(run[k]) for k in ("stop_time", "heartbeat"))
    assert run["status"] == "COMPLETED" and (beat - stop).total_seconds() > 1.0


def test_a_saved_baseline_keeps_the_group(exp, monkeypatch) -> None:
    base = exp.path / "baseline"
    for value in ("0.5", "0.9"):  # the second session's group replaces the first one's
        session(exp, monkeypatch, "--sacred-seeds", "3", "--sacred-save-baseline", str(base),
                base=value).assert_outcomes(passed=3)
    saved = stored_runs(base)
    assert sorted(r["result"] for r in saved.values()) == pytest.approx([0.9, 0.9, 0.909])
    assert len({r["meta"]["seeds"]["group"] for r in saved.values()}) == 1
    result = session(exp, monkeypatch, "--sacred-seeds", "3", RULE, "--sacred-compare-store",
                     str(base), base="0.8")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*vs baseline runs 1-3 (*baseline)"])


def test_seed_comes_last_in_the_id_after_named_configs(pytester, monkeypatch) -> None:
    pytester.makepyfile(test_exp=EXPERIMENT.format(marker="").replace(
        "@pytest.mark.experiment", "@pytest.mark.named_configs('wide')\n@pytest.mark.experiment"
    ) + "\nfrom pytest_sacred import named_config\n\n@named_config\ndef wide():\n"
        "    return {'C': 10.0}\n")
    result = session(pytester, monkeypatch, "--sacred-seeds", "2", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_exp[[]wide-seed0[]] PASSED*",
                                 "*test_exp[[]wide-seed1[]] PASSED*"])


def test_without_scipy_a_confidence_names_the_extra(exp, monkeypatch) -> None:
    """scipy hidden from the session (a conftest makes its import fail): a rule with a
    confidence is a usage error naming the extra; groups are summarised without intervals."""
    exp.makeconftest("import sys\nsys.modules['scipy'] = None\n")
    monkeypatch.setenv("BASE", "0.9")
    result = exp.runpytest_subprocess("-p", "no:cacheprovider", "--sacred-seeds", "2", RULE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-compare-fail result:-5%@95: a group's interval or a "
                                 "rule with a confidence needs scipy, which is not installed: "
                                 "pip install 'pytest-sacred[[]stats[]]'*"])
    result = exp.runpytest_subprocess("-p", "no:cacheprovider", "--sacred-seeds", "2",
                                      "--sacred-seed", "1")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["test_exp.py::test_exp  2/2   0.9045 ± 0.0064  *",
                                 "the 95 % intervals of the groups are left out: *pip install "
                                 "'pytest-sacred[[]stats[]]'"])


def test_a_run_whose_fixture_fails_leaves_its_group(exp, monkeypatch, runs_dir) -> None:
    exp.makeconftest("""
import os
import pytest

@pytest.fixture(autouse=True)
def broken(request):
    if request.node.name.endswith("seed1]") and os.environ["BASE"] == "0.8":
        raise RuntimeError("no GPU")
""")
    session(exp, monkeypatch, "--sacred-seeds", "3").assert_outcomes(passed=3)
    result = session(exp, monkeypatch, "--sacred-seeds", "3", RULE, base="0.8")
    result.assert_outcomes(passed=1, failed=1, errors=1)
    result.stdout.fnmatch_lines(["*regression check of group test_exp.py::test_exp failed: "
                                 "runs 4, 6 vs baseline runs 1-3*"])
    runs = stored_runs(runs_dir)
    assert [runs[i]["status"] for i in (4, 5, 6)] == ["COMPLETED", "FAILED", "COMPLETED"]
    verdict = info(runs_dir, 4)["regression"]
    assert verdict["group"] == {"label": "test_exp.py::test_exp", "size": 3, "runs": [4, 6]}
    assert verdict["tests"]["result:-5%@95"]["n"] == 2 and verdict["passed"] is False


# -- units ------------------------------------------------------------------------------------


def test_derived_seeds_are_spread_and_reproducible() -> None:
    from pytest_sacred.seeding import derive_seed

    seeds = [derive_seed(7, i) for i in range(1000)]
    assert seeds == [derive_seed(7, i) for i in range(1000)]
    assert len(set(seeds)) == 1000 and all(1 <= s < 2**31 for s in seeds)
    assert set(seeds).isdisjoint(derive_seed(8, i) for i in range(1000))


@pytest.mark.parametrize("ids, text", [([1, 2, 3, 4], "1-4"), ([5, 6], "5, 6"), ([3], "3"),
                                       ([9, 1, 3, 4, 5, 10, 11], "1, 3-5, 9-11"),
                                       ([None, 2], "2, -"), ([], "")])
def test_ids_text(ids, text) -> None:
    from pytest_sacred.readers.table import ids_text

    assert ids_text(ids) == text


def test_group_label_drops_the_seed_only() -> None:
    from pytest_sacred.regression import group_label

    assert group_label("t.py::test[rbf-seed2]") == "t.py::test[rbf]"
    assert group_label("t.py::test[seed10]") == "t.py::test"
    assert group_label("t.py::test[seedling-seed0]") == "t.py::test[seedling]"
