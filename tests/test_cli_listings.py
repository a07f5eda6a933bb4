"""``pytest-sacred plot`` over the runs a filter matches, and the order in which ``show``
lists a run's entries (the same for every store)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

try:
    from .stored_runs import REPO
except ImportError:
    from stored_runs import REPO

pytest.importorskip("matplotlib")


def cli(*args: str, code: int = 0) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "pytest_sacred", *args], capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=300)
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def _x_ticks(plot) -> list[float]:
    [axes] = plot.figure.axes
    low, high = axes.get_xlim()
    return [t for t in axes.get_xticks() if low <= t <= high]


def test_without_ids_every_run_with_the_metric_is_drawn(file_stores):
    from pytest_sacred.cli import metric_figure

    plot = metric_figure(str(file_stores.ours), "loss")
    assert plot.drawn == [1, 2, 3] and plot.lacking == [4]  # run 4 logged no loss
    [axes] = plot.figure.axes
    assert [line.get_gid() for line in axes.get_lines()] == ["run-1", "run-2", "run-3"]
    assert [line.get_label() for line in axes.get_lines()] == ["#1 C=0.5", "#2 C=2", "#3 C=8"]
    ticks = _x_ticks(plot)
    assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_a_single_step_gets_integer_ticks_too(file_stores):
    """One point at step 0: matplotlib alone would tick -0.04 … 0.04."""
    from pytest_sacred.cli import metric_figure

    plot = metric_figure(str(file_stores.ours), "acc", experiment="svm")
    ticks = _x_ticks(plot)
    assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_filters_choose_the_runs(file_stores):
    from pytest_sacred.cli import metric_figure
    from pytest_sacred.readers import NoSuchRun

    assert metric_figure(str(file_stores.ours), "loss", where="config.C > 1").drawn == [2, 3]
    assert metric_figure(str(file_stores.ours), "loss", status="FAILED").drawn == [3]
    # ids and filters together: the given runs that match
    assert metric_figure(str(file_stores.ours), "loss", ids=[1, 3],
                         where="config.C > 1").drawn == [3]
    with pytest.raises(NoSuchRun, match="no run in .* matches"):
        metric_figure(str(file_stores.ours), "loss", where="config.C > 100")
    with pytest.raises(NoSuchRun, match=r"no run of 4 has metric 'loss' \(they have: no "
                                        r"metrics\)"):
        metric_figure(str(file_stores.ours), "loss", experiment="other")


def test_plot_command_without_ids(file_stores, tmp_path: Path):
    out = tmp_path / "loss.svg"
    proc = cli("plot", str(file_stores.ours), "--where", "config.C > 1", "--metric", "loss",
               "-o", str(out))
    svg = out.read_text()
    assert set(re.findall(r'id="(run-\d+)"', svg)) == {"run-2", "run-3"}
    assert proc.stderr.splitlines() == [f"wrote {out}"]
    proc = cli("plot", str(file_stores.ours), "--experiment", "svm", "--metric", "nope", "-o",
               str(out), code=4)
    assert "no run of 1, 2, 3 has metric 'nope' (they have: acc, loss)" in proc.stderr


def test_show_lists_entries_sorted_on_every_store(pytester, mongo_server, mongo_db_name):
    """The file store's JSON is sorted; MongoDB keeps the order the entries were stored in.
    ``show`` lists a run's config and info in key order from both."""
    pytester.makepyfile(test_order='''
        import pytest
        from pytest_sacred import config

        @config
        def zeta():
            return 1

        @config
        def alpha():
            return {"zz": 1, "aa": 2}

        @config
        def mid():
            return 3

        @pytest.mark.experiment
        def test_order(zeta, mid, alpha, sacred_run):
            sacred_run.info.update({"z_info": 1, "a_info": 2})
        ''')
    mongo = f"{mongo_server.host}:{mongo_server.port}:{mongo_db_name}"
    pytester.runpytest("--sacred-mongo", mongo, "--sacred-file-storage", "runs"
                       ).assert_outcomes(passed=1)
    with mongo_server.client() as client:  # the store keeps another order than the sorted
        stored = list(client[mongo_db_name].runs.find_one({"_id": 1})["config"])
    assert stored != sorted(stored), stored
    sections = []
    for store in (str(pytester.path / "runs"), mongo):
        out = cli("show", store, "1").stdout.splitlines()
        config = out[out.index("config") + 1:out.index("info")]
        info = out[out.index("info") + 1:]
        sections.append((config, info))
    expected_config = ["  alpha.aa = 2", "  alpha.zz = 1", "  mid = 3", "  seed = ", "  zeta = 1"]
    for config, info in sections:
        assert [line.split(" = ")[0] for line in config] == \
            [line.split(" = ")[0] for line in expected_config], config
        assert info == ["  a_info = 2", "  z_info = 1"]
    assert sections[0] == sections[1]
