"""Omniboard lists our runs as it lists runs written by Sacred 0.8.7's own MongoObserver.

One run from each writer goes into the same database; Omniboard's HTTP API (the routes its
web page calls) must return them with the same columns, status, config, duration, metric
column and files. Skips when npm (to install Omniboard) or sacred is missing.

Omniboard is looked up as ``$OMNIBOARD_BIN``, ``omniboard`` on PATH, or a copy installed
with npm into ``~/.cache/pytest-sacred/omniboard`` (the first time: about a minute).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

pytest.importorskip("pymongo")
pytest.importorskip("sacred", reason="the comparison needs a run written by Sacred itself")

OMNIBOARD_PREFIX = Path.home() / ".cache" / "pytest-sacred" / "omniboard"
#: the columns Omniboard's run table asks for (web/src: _buildRunsQuery), plus a metric column
TABLE_COLUMNS = ("_id,heartbeat,experiment,command,host,stop_time,config,duration,result,"
                 "start_time,resources,format,status,omniboard,metrics,meta,loss_min")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def omniboard_bin() -> str:
    for candidate in (os.environ.get("OMNIBOARD_BIN"), shutil.which("omniboard"),
                      str(OMNIBOARD_PREFIX / "bin" / "omniboard")):
        if candidate and Path(candidate).exists():
            return candidate
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("omniboard is not installed and npm is missing to install it")
    done = subprocess.run([npm, "install", "-g", "--prefix", str(OMNIBOARD_PREFIX),
                           "--no-audit", "--no-fund", "omniboard"],
                          capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        pytest.skip(f"npm install omniboard failed: {done.stderr[-2000:]}")
    return str(OMNIBOARD_PREFIX / "bin" / "omniboard")


def _get(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def omniboard(omniboard_bin, mongo_server, mongo_db_name, tmp_path):
    """Base URL of Omniboard's API, serving ``mongo_db_name``."""
    port = _free_port()
    log = tmp_path / "omniboard.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [omniboard_bin, "-m", f"{mongo_server.host}:{mongo_server.port}:{mongo_db_name}"],
            env={**os.environ, "PORT": str(port)}, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/sacred/api/v1"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                _get(base + "/Version")
                break
            except (urllib.error.URLError, ConnectionError, json.JSONDecodeError):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"omniboard did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


SACRED_SIDE = textwrap.dedent("""
    import sys
    from sacred import SETTINGS, Experiment
    from sacred.observers import MongoObserver

    SETTINGS.CAPTURE_MODE = "sys"
    ex = Experiment("side_by_side", save_git_info=False)
    ex.observers.append(MongoObserver(url=sys.argv[1], db_name=sys.argv[2]))

    @ex.config
    def cfg():
        lr = 0.01

    @ex.main
    def main(_run, lr):
        for step, loss in enumerate([1.0, 0.5, 0.25]):
            _run.log_scalar("loss", loss, step)
        ex.add_artifact(sys.argv[3], "curve.csv")
        print("done")
        return 0.5

    print(ex.run().status)
""")


def _sacred_run(tmp_path: Path, url: str, db_name: str, artifact: Path) -> None:
    script = tmp_path / "sacred_side.py"
    script.write_text(SACRED_SIDE)
    done = subprocess.run([sys.executable, str(script), url, db_name, str(artifact)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert "COMPLETED" in done.stdout, done.stderr


def _our_run(mongo_server, db_name: str, tmp_path: Path, artifact: Path) -> int:
    from pytest_sacred.stores.mongo.writer import MongoObserver

    source = tmp_path / "ours" / "test_side.py"
    source.parent.mkdir()
    source.write_text("def test_side():\n    return 0.5\n")
    ex_info = {"name": "side_by_side", "base_dir": str(source.parent),
               "sources": [["test_side.py", hashlib.md5(source.read_bytes()).hexdigest()]],
               "dependencies": [], "repositories": [], "mainfile": "test_side.py"}
    meta = {"command": "test_side", "options": {}, "named_configs": [], "config_updates": {}}
    config = {"lr": 0.01, "seed": 7}
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    obs = MongoObserver(f"{mongo_server.host}:{mongo_server.port}:{db_name}")
    run_id = obs.pytest_sacred_allocate_id(ex_info=ex_info, config=config, meta_info=meta)
    obs.pytest_sacred_started_event(run_id=run_id, ex_info=ex_info, command="test_side",
                                    host_info={"hostname": "h", "os": ["Linux", "x"],
                                               "python_version": "3.11", "cpu": "c",
                                               "ENV": {}},
                                    start_time=now, config=config, meta_info=meta)
    info: dict = {}
    metrics = {"loss": {"name": "loss", "steps": [0, 1, 2], "values": [1.0, 0.5, 0.25],
                        "timestamps": [now] * 3}}
    obs.pytest_sacred_log_metrics(run_id=run_id, metrics_by_name=metrics, info=info)
    obs.pytest_sacred_heartbeat_event(run_id=run_id, info=info, captured_out="done\n",
                                      beat_time=now + timedelta(seconds=2), result=0.5)
    obs.pytest_sacred_artifact_event(run_id=run_id, name="curve.csv", filename=str(artifact),
                                     metadata=None, content_type=None)
    obs.pytest_sacred_completed_event(run_id=run_id, stop_time=now + timedelta(seconds=2),
                                      result=0.5)
    stale = obs.pytest_sacred_allocate_id(ex_info=ex_info, config=config, meta_info=meta)
    obs.pytest_sacred_started_event(run_id=stale, ex_info=ex_info, command="test_side",
                                    host_info={}, start_time=now - timedelta(hours=1),
                                    config=config, meta_info=meta)
    obs.close()
    return run_id


def _post(url: str, body: dict) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).close()


def test_omniboard_lists_our_runs_like_sacreds(omniboard, mongo_server, mongo_db_name,
                                               tmp_path):
    artifact = tmp_path / "curve.csv"
    artifact.write_text("step,loss\n0,1.0\n")
    _sacred_run(tmp_path, mongo_server.url, mongo_db_name, artifact)  # becomes run 1
    ours = _our_run(mongo_server, mongo_db_name, tmp_path, artifact)
    assert ours == 2  # our ids continue Sacred's

    _post(omniboard + "/Omniboard.Metric.Columns",
          {"name": "loss_min", "metric_name": "loss", "extrema": "min"})
    query = urllib.parse.urlencode({"select": TABLE_COLUMNS, "sort_by": "_id",
                                    "order_by": 1})
    theirs_row, ours_row, stale_row = _get(f"{omniboard}/Runs?{query}")
    assert (theirs_row["_id"], ours_row["_id"]) == (1, 2)
    assert set(ours_row) == set(theirs_row)
    for row in (theirs_row, ours_row):
        assert row["status"] == "COMPLETED" and row["result"] == 0.5
        assert row["format"] == "MongoObserver-0.7.0"
        assert row["experiment"]["name"] == "side_by_side"
        assert row["loss_min"] == 0.25  # joined through info.metrics[].id
        assert isinstance(row["duration"], (int, float)) and row["duration"] >= 0
        assert set(row["config"]) == {"lr", "seed"} and row["config"]["lr"] == 0.01
    assert ours_row["duration"] == 2000
    assert stale_row["status"] == "PROBABLY_DEAD"  # RUNNING, no heartbeat for an hour

    count = _get(f"{omniboard}/Runs/count")
    assert count == {"count": 3}

    for run_id in (1, 2):
        [metric] = _get(f"{omniboard}/Metrics?"
                        + urllib.parse.urlencode({"query": json.dumps({"run_id": str(run_id)})}))
        assert metric["name"] == "loss" and metric["steps"] == [0, 1, 2]
        assert metric["values"] == [1.0, 0.5, 0.25] and len(metric["timestamps"]) == 3

        [source] = _get(f"{omniboard}/files/source/{run_id}")
        assert source["length"] > 0 and source["filename"].endswith(".py")
        [stored] = _get(f"{omniboard}/files/artifacts/{run_id}")
        assert stored["filename"] == f"artifact://runs/{run_id}/curve.csv"
        with urllib.request.urlopen(f"{omniboard}/files/download/{stored['_id']}/curve.csv",
                                    timeout=10) as response:
            assert response.read() == b"step,loss\n0,1.0\n"

    detail = _get(f"{omniboard}/Runs/2?"
                  + urllib.parse.urlencode({"select": "captured_out,info,meta,host,experiment,"
                                                      "artifacts,config,fail_trace,status"}))
    [detail] = detail if isinstance(detail, list) else [detail]
    assert detail["captured_out"] == "done\n"
    assert detail["info"]["metrics"][0]["name"] == "loss"
