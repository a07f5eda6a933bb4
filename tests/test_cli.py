"""The ``pytest-sacred`` command, run as ``python -m pytest_sacred`` on both stores.

Every command is checked not to change the store (files' checksums and times, every Mongo
document) and to give the documented exit code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

try:
    from .stored_runs import REPO, file_checksums, mongo_checksums
except ImportError:
    from stored_runs import REPO, file_checksums, mongo_checksums


def cli(*args: str, code: int = 0, pre: str = "") -> subprocess.CompletedProcess:
    """``python -m pytest_sacred ARGS``; asserts the exit code. ``pre`` is Python run
    first (to hide an installed package)."""
    command = [sys.executable, "-m", "pytest_sacred", *args] if not pre else \
        [sys.executable, "-c", f"{pre}\nimport runpy, sys\nsys.argv = ['pytest-sacred', "
         f"*{list(args)!r}]\nrunpy.run_module('pytest_sacred', run_name='__main__')"]
    proc = subprocess.run(command, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    return proc


@pytest.fixture(params=["file", "mongo"])
def store(request, file_stores):
    """Each store, checked unchanged after the test."""
    if request.param == "file":
        before = file_checksums(file_stores.ours)
        yield str(file_stores.ours)
        assert file_checksums(file_stores.ours) == before
        return
    stores = request.getfixturevalue("mongo_stores")
    server = request.getfixturevalue("mongo_server")
    with server.client() as client:
        before = mongo_checksums(client, stores.db)
        yield stores.ours
        assert mongo_checksums(client, stores.db) == before


def _table(text: str) -> list[list[str]]:
    return [line.split() for line in text.strip().splitlines()]


def test_ls(store: str) -> None:
    lines = _table(cli("ls", store).stdout)
    assert lines[0][:5] == ["id", "experiment", "status", "started", "duration"]
    assert "C" in lines[0] and "loss.last" in lines[0] and "seed" not in lines[0]
    assert [(line[0], line[1], line[2]) for line in lines[1:]] == [
        ("1", "svm", "COMPLETED"), ("2", "svm", "COMPLETED"), ("3", "svm", "FAILED"),
        ("4", "other", "COMPLETED")]


@pytest.mark.parametrize("options, ids", [
    (["--experiment", "svm"], ["1", "2", "3"]),
    (["--status", "FAILED"], ["3"]),
    (["--where", "config.C > 1"], ["2", "3"]),
    (["--where", "config.C > 1 and metrics.loss.last < 0.1"], ["3"]),
    (["--where", "result == 'fine'"], ["4"]),
    (["--sort=-config.C"], ["3", "2", "1", "4"]),
    (["--last", "2"], ["3", "4"]),
    (["--experiment", "svm", "--last", "2", "--sort=-id"], ["3", "2"]),
])
def test_ls_filters_and_order(store: str, options: list[str], ids: list[str]) -> None:
    lines = _table(cli("ls", store, *options).stdout)
    assert [line[0] for line in lines[1:]] == ids


def test_ls_json_and_columns(store: str) -> None:
    rows = json.loads(cli("ls", store, "--json", "--status", "COMPLETED").stdout)
    assert [r["id"] for r in rows] == [1, 2, 4]
    assert rows[0]["config.optimizer.lr"] == 0.1
    assert rows[1]["metrics.loss.min"] == pytest.approx(0.1)
    assert rows[1]["metrics.loss.max"] == pytest.approx(0.5)
    assert rows[2]["result"] == "fine"
    lines = _table(cli("ls", store, "--columns", "id,config.optimizer.name,result").stdout)
    assert lines[0] == ["id", "optimizer.name", "result"]
    assert lines[1] == ["1", "sgd", "0.05"]


def test_ls_nothing_matches(store: str) -> None:
    proc = cli("ls", store, "--where", "config.C > 100")
    assert proc.stdout == "" and "no runs in" in proc.stderr


def test_show(store: str) -> None:
    out = cli("show", store, "3").stdout
    assert out.splitlines()[0].startswith("run 3 of ") and "svm, FAILED" in out
    for expected in ("  C = 8.0", "  optimizer.lr = 0.1", "metrics", "loss", "artifacts",
                     "  model.bin", "fail_trace", "AssertionError: C too large", "host",
                     "info", '  note = "C is 8.0"'):
        assert expected in out
    run = json.loads(cli("show", store, "2", "--json").stdout)
    assert run["id"] == 2 and run["config"]["C"] == 2.0 and run["result"] == 0.2
    assert "trained with C=2.0" in run["captured_out"]
    assert run["metrics"]["loss"]["count"] == 5 and run["shown_status"] == "COMPLETED"


def test_compare(store: str) -> None:
    out = cli("compare", store, "1", "2", "3").stdout
    lines = {line.split()[0]: line for line in out.strip().splitlines()[1:-1]}
    assert lines["config.C"].split() == ["config.C", "0.5", "2", "8"]
    assert "config.optimizer.lr" not in lines  # equal in all three
    assert "0.2  +0.15 (+300.0 %)" in lines["result"]
    assert "metrics.loss.last" in lines
    assert "config entries equal" in out


def test_export(store: str, tmp_path: Path) -> None:
    import pandas as pd

    cli("export", store, "-o", str(tmp_path / "runs.csv"))
    frame = pd.read_csv(tmp_path / "runs.csv")
    assert list(frame["id"]) == [1, 2, 3, 4]
    assert list(frame["config.C"].iloc[:3]) == [0.5, 2.0, 8.0]
    cli("export", store, "--experiment", "svm", "-o", str(tmp_path / "runs.json"))
    rows = json.loads((tmp_path / "runs.json").read_text())
    assert [r["id"] for r in rows] == [1, 2, 3] and rows[0]["metrics.acc.last"] == 0.05
    pytest.importorskip("pyarrow")
    cli("export", store, "--where", "config.C < 5", "-o", str(tmp_path / "runs.parquet"))
    frame = pd.read_parquet(tmp_path / "runs.parquet")
    assert list(frame["id"]) == [1, 2] and list(frame["status"]) == ["COMPLETED"] * 2


def test_export_without_pyarrow(file_stores, tmp_path: Path) -> None:
    proc = cli("export", str(file_stores.ours), "-o", str(tmp_path / "runs.parquet"),
               code=1, pre="import sys; sys.modules['pyarrow'] = None")
    assert "pip install 'pytest-sacred[parquet]'" in proc.stderr
    assert not (tmp_path / "runs.parquet").exists()


def test_plot(store: str, tmp_path: Path) -> None:
    out = tmp_path / "loss.png"
    proc = cli("plot", store, "1", "2", "4", "--metric", "loss", "-o", str(out))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "runs 4 have no metric 'loss': not drawn" in proc.stderr
    from matplotlib.image import imread

    image = imread(out)
    assert image.shape[:2] == (400, 700)
    proc = cli("plot", store, "4", "--metric", "loss", "-o", str(out), code=4)
    assert "no run of 4 has metric 'loss' (they have: no metrics)" in proc.stderr


def test_plot_without_matplotlib(file_stores, tmp_path: Path) -> None:
    proc = cli("plot", str(file_stores.ours), "1", "--metric", "loss", "-o",
               str(tmp_path / "x.png"), code=1, pre="import sys; sys.modules['matplotlib'] = None")
    assert "plot needs matplotlib, which is not installed: pip install " \
           "'pytest-sacred[analysis]'" in proc.stderr


# -- bad input ---------------------------------------------------------------------------------


def test_unknown_run_and_metric(store: str) -> None:
    assert "no run 99 in" in cli("show", store, "99", code=4).stderr
    assert "no run 99 in" in cli("compare", store, "1", "99", code=4).stderr
    assert "no run 42 in" in cli("plot", store, "42", "--metric", "loss", "-o", "x.png",
                                 code=4).stderr
    assert "has metric 'nope' (they have: acc, loss)" in cli(
        "plot", store, "1", "--metric", "nope", "-o", os.devnull + ".png", code=4).stderr


def test_bad_usage(store: str, tmp_path: Path) -> None:
    where = cli("ls", store, "--where", "config.C >> 1", code=2).stderr
    assert "--where 'config.C >> 1'" in where and "is not allowed" in where
    assert "does not parse" in cli("ls", store, "--where", "config.C >", code=2).stderr
    assert "no column config.X in these runs; did you mean 'config.C'" in cli(
        "ls", store, "--where", "config.X == 1", code=2).stderr
    assert "no column 'nope'" in cli("ls", store, "--sort", "nope", code=2).stderr
    assert "give a positive number" in cli("ls", store, "--last", "0", code=2).stderr
    assert "run ids are integers" in cli("show", store, "abc", code=2).stderr
    assert "compare needs two or more" in cli("compare", store, "1", code=2).stderr
    assert "must end in .csv, .json or .parquet" in cli(
        "export", store, "-o", str(tmp_path / "runs.xlsx"), code=2).stderr
    assert "does not exist" in cli("export", store, "-o", str(tmp_path / "no" / "r.csv"),
                                   code=2).stderr
    assert "invalid choice" in cli("frobnicate", store, code=2).stderr
    assert "required" in cli("plot", store, "1", code=2).stderr
    cli(code=2)


def test_not_a_store(tmp_path: Path, file_stores) -> None:
    (tmp_path / "notes.txt").write_text("x")
    err = cli("ls", str(tmp_path), code=3).stderr
    assert f"cannot read the store: {str(tmp_path)!r} is not a file store" in err
    assert "is not a store: give a run directory" in cli("ls", str(tmp_path / "nothing"),
                                                         code=3).stderr
    assert "is one run's directory" in cli("show", str(file_stores.ours / "1"), "1",
                                           code=3).stderr


@pytest.mark.system  # the command in a subprocess
def test_unreachable_server() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"mongodb://ann:Hidden-pw@127.0.0.1:{port}/db?serverSelectionTimeoutMS=300"
    err = cli("ls", url, code=3).stderr
    assert "cannot reach MongoDB at 'mongodb://ann:***@127.0.0.1" in err
    assert "Hidden-pw" not in err


def test_missing_database(mongo_server) -> None:
    err = cli("ls", f"{mongo_server.host}:{mongo_server.port}:no_such_db", code=3).stderr
    assert "database 'no_such_db' has no collection 'runs'" in err


def test_died_runs_shown_and_filtered(file_stores, tmp_path: Path) -> None:
    store = tmp_path / "copy"
    shutil.copytree(file_stores.ours, store)
    entry = json.loads((store / "2" / "run.json").read_text())
    entry.update(status="RUNNING", heartbeat="2020-01-01T00:00:00", stop_time=None)
    (store / "2" / "run.json").write_text(json.dumps(entry))
    lines = _table(cli("ls", str(store)).stdout)
    assert lines[2][:3] == ["2", "svm", "DIED?"]
    assert [line[0] for line in _table(cli("ls", str(store), "--status", "DIED?").stdout)[1:]] \
        == ["2"]
    assert cli("ls", str(store), "--status", "RUNNING").stdout == ""
    assert "svm, DIED?" in cli("show", str(store), "2").stdout


def test_sacreds_own_runs(file_stores, request) -> None:
    lines = _table(cli("ls", str(file_stores.sacred)).stdout)
    assert [line[:3] for line in lines[1:]] == [["1", "sacred_made", "COMPLETED"],
                                                ["2", "sacred_made", "COMPLETED"]]
    mongo = request.getfixturevalue("mongo_stores")
    rows = json.loads(cli("ls", mongo.sacred, "--json").stdout)
    assert [r["config.alpha"] for r in rows] == [0.25, 0.5]
    assert rows[1]["metrics.score.last"] == 1.5
