"""pytest-xdist: variants run in parallel workers, every run gets its own id."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import stored_runs

pytest.importorskip("xdist")



def summary_rows(output: str) -> list[list[str]]:
    """The rows of the "pytest-sacred runs" table, split into cells."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if "pytest-sacred runs" in line)
    rows = []
    for line in lines[start + 1:]:
        if line.startswith("==="):
            break
        if re.match(r"^\d+\s", line):
            rows.append(line.split())
    return rows


def test_parallel_workers_get_distinct_ids(pytester: pytest.Pytester, runs_dir: Path) -> None:
    pytester.makepyfile(
        test_sweep="""
        import os
        import time
        import pytest
        from pytest_sacred import config

        @config
        def scale():
            return 3

        @pytest.mark.experiment("sweep")
        @pytest.mark.parametrize("x", range(40))
        def test_sweep(x, scale, sacred_run, tmp_path):
            sacred_run.log_scalar("x", x)
            (tmp_path / "worker.txt").write_text(os.environ["PYTEST_XDIST_WORKER"])
            time.sleep(0.01)
            return x * scale
        """
    )
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider", "test_sweep.py")
    result.assert_outcomes(passed=40)
    runs = stored_runs(runs_dir)
    assert sorted(runs) == list(range(1, 41))
    assert sorted(run["config"]["x"] for run in runs.values()) == list(range(40))
    workers = set()
    for run_id, run in runs.items():
        assert run["status"] == "COMPLETED", run_id
        assert run["config"]["scale"] == 3
        assert run["result"] == run["config"]["x"] * 3
        assert run["meta"]["pytest"]["nodeid"] == f"test_sweep.py::test_sweep[{run['config']['x']}]"
        workers.add((runs_dir / str(run_id) / "worker.txt").read_text())
    assert workers == {"gw0", "gw1"}

    rows = summary_rows(result.stdout.str())
    assert len(rows) == 40
    assert sorted(int(r[0]) for r in rows) == list(range(1, 41))
    assert all(r[1] == "sweep" and "COMPLETED" in r for r in rows)
    # each row shows the variant its id was stored with
    for r in rows:
        assert int(r[2]) == runs[int(r[0])]["config"]["x"]
