"""Store outages and refusals: nothing lost, nothing reported falsely.

The MongoDB test server is killed (SIGKILL) in the middle of a sweep and restarted on the
same port and data, or killed for good; a server with a validator refuses some runs.
Sessions run as real subprocesses, stores are real servers and directories.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import read_run, sigterm_at_mark, stored_runs
from mongo_server import MongoServer, start_server

VARIANTS = 60
KILL_AFTER = 15
STORE_FAILED = 6
GONE_SOON = "serverSelectionTimeoutMS=1000"

SWEEP = f"""
import pathlib
import time

import pytest


@pytest.mark.experiment("sweep")
@pytest.mark.parametrize("i", range({VARIANTS}))
def test_sweep(i, sacred_run, tmp_path):
    # held here, started, while hold/<variants done> exists: until the test has acted
    hold = pathlib.Path("hold", str(len(list(pathlib.Path("done").iterdir()))))
    while hold.exists():
        time.sleep(0.01)
    for step in range(5):
        sacred_run.log_scalar("loss", 1.0 / (step + 1 + i), step=step)
        time.sleep(0.01)
    sacred_run.info["i"] = i
    (tmp_path / "model.txt").write_text(f"model {{i}}")
    print("variant", i)
    pathlib.Path("done", str(i)).touch()
    return i
"""


def _hold(pytester: pytest.Pytester, *done: int) -> None:
    """Hold the sweep once this many variants are done, until :func:`_release`: the next
    variant's run has started and logged nothing yet."""
    (pytester.path / "done").mkdir()
    (pytester.path / "hold").mkdir()
    for count in done:
        (pytester.path / "hold" / str(count)).touch()


def _release(pytester: pytest.Pytester, done: int) -> None:
    (pytester.path / "hold" / str(done)).unlink()


def _session(pytester: pytest.Pytester, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _completed(server: MongoServer, db_name: str) -> int:
    from pymongo.errors import PyMongoError

    try:
        with server.client(serverSelectionTimeoutMS=500) as client:
            return client[db_name].runs.count_documents({"status": "COMPLETED"})
    except PyMongoError:
        return 0


def _wait_for(server: MongoServer, db_name: str, count: int, session: subprocess.Popen,
              timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while _completed(server, db_name) < count:
        if session.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the session did not store {count} runs; its output:\n"
                                 f"{session.communicate()[0]}")
        time.sleep(0.05)


def _check_sweep_stored(server: MongoServer, db_name: str) -> None:
    """Every variant COMPLETED with its result, info, output, artifact and 5 points."""
    import gridfs

    with server.client() as client:
        db = client[db_name]
        runs = list(db.runs.find({}))
        assert len(runs) == VARIANTS
        assert sorted(r["config"]["i"] for r in runs) == list(range(VARIANTS))
        fs = gridfs.GridFS(db)
        for run in runs:
            i = run["config"]["i"]
            assert run["status"] == "COMPLETED", run["_id"]
            assert run["result"] == i and run["info"]["i"] == i
            assert f"variant {i}" in run["captured_out"]
            [artifact] = run["artifacts"]
            assert artifact["name"] == "model.txt"
            assert fs.get(artifact["file_id"]).read() == f"model {i}".encode()
            [ref] = run["info"]["metrics"]
            metric = db.metrics.find_one({"run_id": run["_id"], "name": "loss"})
            assert str(metric["_id"]) == ref["id"]
            assert metric["steps"] == list(range(5))
            assert metric["values"] == [1.0 / (s + 1 + i) for s in range(5)]
        # no run stored twice, no stray document
        assert len({r["_id"] for r in runs}) == VARIANTS
        assert db.metrics.count_documents({}) == VARIANTS


@pytest.fixture
def durable_server(tmp_path: Path):
    """A server keeping its data in a directory, every commit synced (survives SIGKILL)."""
    pytest.importorskip("pymongo")
    pytest.importorskip("secantus", reason="secantusdb is not installed (test extra)")
    data = tmp_path / "mongo-data"
    servers = [start_server(data, "--sync-on-commit")]

    def restart(port: int | None = None) -> MongoServer:
        servers.append(start_server(data, "--sync-on-commit", port=port))
        return servers[-1]

    yield servers[0], restart
    for server in servers:  # the data goes with tmp_path: no need for its 2 s shutdown
        server.process.kill()
        server.process.wait()
        server.stop()


#: variants that run while the server is down before it is back, in the mid-sweep case
RUN_WHILE_DOWN = 10


@pytest.mark.parametrize("back", ["mid-sweep", "after-sweep"])
def test_server_killed_and_restarted_mid_sweep_loses_nothing(
        pytester: pytest.Pytester, durable_server, back: str) -> None:
    """The server comes back while variants still run, or only once every variant has run
    (the session then waits for its queues). The outage is measured in variants run while
    the server is down, not in seconds: the test waits for those, never a fixed time. The
    sweep is held mid-run while the server is killed, and in the mid-sweep case while it
    is restarted, so that each happens with a run under way."""
    server, restart = durable_server
    pytester.makepyfile(test_sweep=SWEEP)
    done = pytester.path / "done"
    _hold(pytester, KILL_AFTER, KILL_AFTER + RUN_WHILE_DOWN)
    if back == "after-sweep":
        _release(pytester, KILL_AFTER + RUN_WHILE_DOWN)
    db_name = "outage"
    session = _session(pytester, f"--sacred-mongo={server.host}:{server.port}:{db_name}",
                       "--sacred-heartbeat=0.05", "--sacred-store-retry=120")
    _wait_for(server, db_name, KILL_AFTER, session)
    server.process.kill()  # no shutdown: as a crash or a pulled cable
    server.process.wait()
    killed = time.monotonic()
    at_kill = len(list(done.iterdir()))
    _release(pytester, KILL_AFTER)
    wanted = VARIANTS if back == "after-sweep" else at_kill + RUN_WHILE_DOWN
    assert wanted <= VARIANTS, f"{at_kill} variants had run when the server was killed"
    while len(list(done.iterdir())) < wanted:  # the sweep goes on while the store is away
        assert time.monotonic() - killed < 300 and session.poll() is None, \
            f"only {len(list(done.iterdir()))} variants ran while the server was down"
        time.sleep(0.05)
    if back == "mid-sweep":
        assert len(list(done.iterdir())) < VARIANTS, "the sweep ended before the restart"
    done_while_down = len(list((pytester.path / "done").iterdir()))
    restart(port=server.port)
    if back == "mid-sweep":
        _release(pytester, KILL_AFTER + RUN_WHILE_DOWN)
    print(f"server down for {time.monotonic() - killed:.1f} s; {done_while_down} variants "
          "done by then")
    out = session.communicate(timeout=300)[0]
    print(out)  # shown when the test fails
    assert session.returncode == 0, out
    assert f"{VARIANTS} passed" in out
    # an outage is said once when a write fails, and its end once; pymongo bridges one
    # shorter than its server selection (5 s) itself, and then nothing failed to be said
    said = out.count("does not answer")
    assert said <= 1 and (said == 0 or "answers again after" in out), out
    assert not list((pytester.path / "runs").glob("_spill/*"))
    _check_sweep_stored(server, db_name)


def test_server_killed_for_good_spills_and_replay_completes(
        pytester: pytest.Pytester, durable_server) -> None:
    server, restart = durable_server
    pytester.makepyfile(test_sweep=SWEEP)
    _hold(pytester, KILL_AFTER)  # the server dies with a run under way
    db_name = "gone"
    # given up on after 1 s per write rather than pymongo's 5 s: the spill and its replay,
    # not the wait, are what the test is about
    url = f"{server.url}{db_name}?{GONE_SOON}"
    session = _session(pytester, f"--sacred-mongo={url}",
                       "--sacred-heartbeat=0.05", "--sacred-store-retry=2")
    _wait_for(server, db_name, KILL_AFTER, session)
    server.process.kill()
    server.process.wait()
    _release(pytester, KILL_AFTER)
    out = session.communicate(timeout=300)[0]
    print(out)
    assert session.returncode == STORE_FAILED, out
    assert f"{VARIANTS} passed" in out
    [spill] = (pytester.path / "runs" / "_spill").glob("mongo-*.jsonl")
    assert f"python -m pytest_sacred replay {spill}" in out
    assert "NOT STORED" in out
    lines = spill.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["store"] == {"kind": "mongo", "url": url, "db": db_name,
                               "collection": "runs"}
    hooks = [json.loads(line)["hook"] for line in lines[1:]]

    again = restart()  # same data, another port: the replay is told where it is now
    # every run's end is either in the store or in the spill file, none in both
    spilled_ends = hooks.count("pytest_sacred_completed_event")
    assert spilled_ends + _completed(again, db_name) == VARIANTS
    assert spilled_ends >= VARIANTS - KILL_AFTER - 10
    replayed = subprocess.run(
        [sys.executable, "-m", "pytest_sacred", "replay", str(spill), "--store",
         f"{again.host}:{again.port}:{db_name}"],
        capture_output=True, text=True, timeout=300)
    print(replayed.stdout, replayed.stderr)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "replayed" in replayed.stdout and "ERROR" not in replayed.stdout
    _check_sweep_stored(again, db_name)


REFUSED = """
import pytest


@pytest.mark.experiment("picky")
@pytest.mark.parametrize("x", [1, 2, 3])
def test_picky(x, sacred_run):
    sacred_run.log_scalar("m", x)
    return x
"""


def _refuse_x2_when_running(server: MongoServer, db_name: str) -> None:
    """A validator: the server refuses run x=2 once it is RUNNING (its started event)."""
    with server.client() as client:
        client[db_name].create_collection("runs", validator={
            "$or": [{"config.x": {"$ne": 2}}, {"status": {"$exists": False}}]})


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_two_stores_one_refusing_a_run_exits_non_zero(
        pytester: pytest.Pytester, mongo_server: MongoServer, mongo_db_name: str,
        workers: list[str]) -> None:
    _refuse_x2_when_running(mongo_server, mongo_db_name)
    pytester.makepyfile(test_picky=REFUSED)
    result = pytester.runpytest_subprocess(
        f"--sacred-mongo={mongo_server.host}:{mongo_server.port}:{mongo_db_name}",
        "--sacred-file-storage=runs", *workers)
    result.assert_outcomes(passed=3)
    assert result.ret == STORE_FAILED
    out = result.stdout.str()
    # said when it happened, once
    assert out.count("mongo could not store started event of run") == 1
    # the refused run's row says it; the others are stored in both stores
    table = out[out.index("pytest-sacred runs"):]
    [refused] = [line for line in table.splitlines() if "NOT STORED" in line]
    assert "COMPLETED" in refused and "x2" not in refused and "runs/" in refused
    assert "/picky" not in refused.split("NOT STORED")[1]  # the file store's cell is plain
    [spill] = (pytester.path / "runs" / "_spill").glob("mongo-*.jsonl")
    assert str(spill.relative_to(pytester.path)) in out or str(spill) in out
    assert "(exit code 6 if the tests passed)" in out or "exit code 6" in out
    with mongo_server.client() as client:
        statuses = {d["config"]["x"]: d.get("status")
                    for d in client[mongo_db_name].runs.find({})}
    assert statuses[1] == statuses[3] == "COMPLETED"
    assert statuses.get(2) != "COMPLETED"
    files = stored_runs(pytester.path / "runs")
    assert sorted(r["config"]["x"] for r in files.values()) == [1, 2, 3]
    assert all(r["status"] == "COMPLETED" for r in files.values())


def test_refused_artifact_named_in_the_row(pytester: pytest.Pytester, runs_dir: Path) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.experiment
        def test_art(sacred_run, tmp_path):
            (tmp_path / "model.pkl").write_bytes(b"m")
            other = tmp_path.parent / "elsewhere.json"
            other.write_text("{}")
            # a name every store refuses, in an event that did not come through add_artifact
            # (which refuses it itself): a spill being replayed, another plugin
            sacred_run._record.emit("pytest_sacred_artifact_event", name="run.json",
                                    filename=str(other), metadata=None, content_type=None)
            return 1
        """)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert result.ret == STORE_FAILED
    result.stdout.fnmatch_lines([
        "pytest-sacred: file could not store artifact run.json of run 1 (*",
        "*COMPLETED*runs*1: stored without artifact run.json; kept in *_spill*file-*.jsonl*",
    ])
    assert read_run(runs_dir, 1)["artifacts"] == ["model.pkl"]


def test_sigterm_ends_the_run_interrupted_with_its_points(pytester: pytest.Pytester,
                                                           runs_dir: Path) -> None:
    started = pytester.path / "started"
    pytester.makepyfile(
        f"""
        import pathlib, time
        import pytest

        @pytest.mark.experiment
        def test_long(sacred_run):
            for step in range(3):
                sacred_run.log_scalar("loss", 1.0 / (step + 1))
            pathlib.Path({str(started)!r}).write_text("x")
            time.sleep(120)
        """)
    out = sigterm_at_mark(_session(pytester, "--sacred-heartbeat=0.1"), started, 60)
    assert "pytest-sacred runs" in out and "INTERRUPTED" in out
    run = read_run(runs_dir, 1)
    assert run["status"] == "INTERRUPTED" and run["stop_time"]
    metrics = json.loads((runs_dir / "1" / "metrics.json").read_text())
    assert metrics["loss"]["values"] == [1.0, 0.5, 1.0 / 3]
    assert json.loads((runs_dir / "1" / "info.json").read_text())["ended_by"] == "SIGTERM"


def test_sigterm_under_xdist_interrupts_each_worker(pytester: pytest.Pytester,
                                                     runs_dir: Path) -> None:
    marks = pytester.path / "marks"
    marks.mkdir()
    pytester.makepyfile(
        f"""
        import pathlib, time
        import pytest

        @pytest.mark.experiment
        @pytest.mark.parametrize("i", [0, 1])
        def test_long(i, sacred_run):
            sacred_run.log_scalar("loss", float(i))
            pathlib.Path({str(marks)!r}, str(i)).write_text("x")
            time.sleep(120)
        """)
    session = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2",
         "--sacred-heartbeat=0.1"], cwd=pytester.path, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while len(list(marks.iterdir())) < 2:
        assert session.poll() is None and time.monotonic() < deadline, session.communicate()
        time.sleep(0.05)
    os.killpg(session.pid, signal.SIGTERM)  # what `timeout` and Slurm do: the whole group
    out = session.communicate(timeout=60)[0]
    print(out)
    assert session.returncode == pytest.ExitCode.INTERRUPTED, out
    runs = stored_runs(runs_dir)
    assert sorted(r["config"]["i"] for r in runs.values()) == [0, 1], out
    for run_id, run in runs.items():
        assert run["status"] == "INTERRUPTED" and run["stop_time"], out
        metrics = json.loads((runs_dir / str(run_id) / "metrics.json").read_text())
        assert metrics["loss"]["values"] == [float(run["config"]["i"])]


def test_sacred_id_of_a_stored_run_is_a_usage_error_in_mongo(
        pytester: pytest.Pytester, mongo_server: MongoServer, mongo_db_name: str) -> None:
    with mongo_server.client() as client:
        client[mongo_db_name].runs.insert_one({"_id": 5, "status": "COMPLETED"})
    ran = pytester.path / "ran"
    pytester.makepyfile(
        f"""
        import pathlib
        import pytest

        @pytest.mark.experiment
        def test_one(sacred_run):
            pathlib.Path({str(ran)!r}).write_text("x")
        """)
    result = pytester.runpytest(
        f"--sacred-mongo={mongo_server.host}:{mongo_server.port}:{mongo_db_name}",
        "--sacred-id", "5")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-id 5: mongo store already holds run 5 (*/5)*"])
    assert not ran.exists()
    result = pytester.runpytest(
        f"--sacred-mongo={mongo_server.host}:{mongo_server.port}:{mongo_db_name}",
        "--sacred-id", "6")
    assert result.ret == 0 and ran.exists()


def test_store_retry_option_checked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest("--sacred-store-retry=soon")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-store-retry: 'soon' is not a number of seconds*"])


def test_store_retry_zero_is_kept_not_taken_for_the_default(pytester: pytest.Pytester) -> None:
    """0 means: spill at the first transient error, no retry (the ini key and the option)."""
    from pytest_sacred.options import DEFAULT_STORE_RETRY, Options

    assert DEFAULT_STORE_RETRY != 0
    assert Options.from_config(pytester.parseconfig("--sacred-store-retry=0")).store_retry == 0
    pytester.makeini("[pytest]\nsacred_store_retry = 0\n")
    assert Options.from_config(pytester.parseconfig()).store_retry == 0


def test_replay_continues_a_file_store_run_and_keeps_artifact_content(tmp_path: Path) -> None:
    """The tail of a run spilled (as the write queue spills it), the artifact's file gone
    since: the replay continues the stored run in place, in a process that did not start it."""
    from datetime import datetime, timedelta

    from pytest_sacred.spill import SpillWriter, replay
    from pytest_sacred.stores.file.writer import FileStorageObserver

    store = tmp_path / "runs"
    first = FileStorageObserver(store)
    first.open()
    t0 = datetime(2026, 1, 1, 12, 0, 0)
    run_id = first.pytest_sacred_allocate_id()
    first.pytest_sacred_started_event(
        run_id=run_id, ex_info={"name": "e", "base_dir": str(tmp_path), "sources": []},
        command="test_e", host_info={"hostname": "h"}, start_time=t0, config={"seed": 1},
        meta_info={"command": "test_e"})

    def metrics(steps):
        return {"loss": {"name": "loss", "steps": steps, "values": [s / 10 for s in steps],
                         "timestamps": [t0 + timedelta(seconds=s) for s in steps]}}

    first.pytest_sacred_log_metrics(run_id=run_id, metrics_by_name=metrics([0, 1]))
    first.pytest_sacred_heartbeat_event(run_id=run_id, info={"a": 1}, captured_out="one\n",
                                        beat_time=t0, result=None)
    model = tmp_path / "model.pkl"
    model.write_bytes(b"\x00weights\xff")
    spill = SpillWriter(store / "_spill", "file", first.store_spec())
    for hook, kwargs in [
            ("pytest_sacred_log_metrics", {"run_id": run_id, "metrics_by_name": metrics([2])}),
            ("pytest_sacred_heartbeat_event", {"run_id": run_id, "info": {"a": 2},
                                               "captured_out": "one\ntwo\n",
                                               "beat_time": t0 + timedelta(seconds=2),
                                               "result": 3}),
            ("pytest_sacred_artifact_event", {"run_id": run_id, "name": "model.pkl",
                                              "filename": str(model), "metadata": None,
                                              "content_type": None}),
            ("pytest_sacred_completed_event", {"run_id": run_id,
                                               "stop_time": t0 + timedelta(seconds=3),
                                               "result": 3})]:
        path = spill.write(hook, kwargs, "test")
    spill.close()
    model.unlink()

    summary = replay(path)
    assert summary.errors == [] and summary.events == 4 and summary.runs == [run_id]
    run = read_run(store, run_id)
    assert run["status"] == "COMPLETED" and run["result"] == 3
    assert run["stop_time"] == (t0 + timedelta(seconds=3)).isoformat()
    assert run["artifacts"] == ["model.pkl"]
    assert (store / str(run_id) / "model.pkl").read_bytes() == b"\x00weights\xff"
    loss = json.loads((store / str(run_id) / "metrics.json").read_text())["loss"]
    assert loss["steps"] == [0, 1, 2] and loss["values"] == [0.0, 0.1, 0.2]
    assert len(loss["timestamps"]) == 3
    assert (store / str(run_id) / "cout.txt").read_text() == "one\ntwo\n"
    assert json.loads((store / str(run_id) / "info.json").read_text()) == {"a": 2}


@pytest.mark.system  # the replay command in a subprocess
def test_replay_refuses_a_file_that_is_no_spill(tmp_path: Path) -> None:
    bogus = tmp_path / "x.jsonl"
    bogus.write_text('{"hello": 1}\n')
    done = subprocess.run([sys.executable, "-m", "pytest_sacred", "replay", str(bogus)],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert "is not a pytest-sacred spill file" in done.stderr


def test_replay_fills_the_placeholder_of_its_own_run_and_renames_only_for_another(
        mongo_server: MongoServer, mongo_db_name: str, tmp_path: Path) -> None:
    """The store went away after the session claimed ids (placeholders) and after one
    started event reached the server unanswered: their events are spilled. The replay
    stores each run once under its own id; only an id held by another run is renamed
    (it used to rename all three, so runs 1 and 2 were stored twice)."""
    from datetime import datetime, timedelta

    from pytest_sacred.spill import SpillWriter, replay
    from pytest_sacred.stores.mongo.writer import MongoObserver

    ex_info = {"name": "e", "base_dir": str(tmp_path), "sources": []}
    t0 = datetime(2026, 1, 1, 12, 0, 0)
    live = MongoObserver(mongo_server.url, db_name=mongo_db_name)
    live.open()
    spill = SpillWriter(tmp_path / "_spill", "mongo", live.store_spec())
    firsts = []
    for n in range(3):
        config, meta = {"seed": 100 + n, "n": n}, {"command": "test_e",
                                                    "pytest": {"nodeid": f"t.py::test_e[{n}]"}}
        run_id = live.pytest_sacred_allocate_id(ex_info=ex_info, config=config, meta_info=meta)
        firsts.append({"run_id": run_id, "ex_info": ex_info, "command": "test_e",
                       "host_info": {"hostname": "h"}, "start_time": t0 + timedelta(seconds=n),
                       "config": config, "meta_info": meta})
    assert [f["run_id"] for f in firsts] == [1, 2, 3]
    live.pytest_sacred_started_event(**firsts[1])  # written; its answer lost: spilled too
    with mongo_server.client() as client:  # another session's run took id 3 meanwhile
        client[mongo_db_name].runs.replace_one({"_id": 3}, {"status": "COMPLETED",
                                                            "meta": {"pytest": {"nodeid": "x"}}})
    live.close()
    for first in firsts:
        spill.write("pytest_sacred_started_event", first, "down")
        spill.write("pytest_sacred_completed_event", {
            "run_id": first["run_id"], "stop_time": first["start_time"] + timedelta(seconds=9),
            "result": first["config"]["n"]}, "down")
    spill.close()
    assert spill.path is not None

    summary = replay(spill.path)
    assert summary.errors == [] and summary.events == 6
    assert summary.renamed == {3: 4} and summary.runs == [1, 2, 4]
    with mongo_server.client() as client:
        docs = {d["_id"]: d for d in client[mongo_db_name].runs.find({})}
    assert sorted(docs) == [1, 2, 3, 4]
    assert docs[3] == {"_id": 3, "status": "COMPLETED", "meta": {"pytest": {"nodeid": "x"}}}
    for run_id, n in [(1, 0), (2, 1), (4, 2)]:
        assert docs[run_id]["status"] == "COMPLETED" and docs[run_id]["result"] == n
        assert docs[run_id]["config"] == {"seed": 100 + n, "n": n}
        assert docs[run_id]["start_time"] == t0 + timedelta(seconds=n)


def test_a_spill_file_on_a_full_disk_closes_without_ending_the_session(tmp_path: Path) -> None:
    """Text a failed write left unflushed does not make close() raise at session end
    (each such write raised and its event was reported lost)."""
    from pytest_sacred.spill import SpillWriter

    writer = SpillWriter(tmp_path, "mongo", None)
    writer._file = open("/dev/full", "a", encoding="utf-8")  # ENOSPC on every flush
    with pytest.raises(OSError):
        writer.write("pytest_sacred_heartbeat_event", {"run_id": 1}, "down")
    writer.close()
    assert writer._file is None


def test_mongo_id_claim_after_a_cut_names_the_run_without_waiting(
        mongo_server: MongoServer, mongo_db_name: str, tmp_path: Path) -> None:
    """Once pymongo's monitor saw the server go, the next run is named at once (the id
    after the session's last claim), not after serverSelectionTimeoutMS (5 s by default)
    on the experiment's thread; the queue has not noticed the outage yet."""
    from tcp_proxy import TcpProxy

    from pytest_sacred.spill import SpillWriter
    from pytest_sacred.stores.mongo.writer import MongoObserver
    from pytest_sacred.stores.write_queue import StoreQueue

    proxy = TcpProxy(mongo_server.host, mongo_server.port)
    observer = MongoObserver(f"mongodb://{proxy.address}/{mongo_db_name}"
                             "?directConnection=true", db_name=mongo_db_name)
    notices: list[str] = []
    try:
        observer.open()
        observer.queue = StoreQueue(observer, 60, SpillWriter(tmp_path, "mongo", {}),
                                    lambda *a, **k: None, notices.append)
        ex_info = {"name": "e", "base_dir": str(tmp_path), "sources": []}
        claim = {"ex_info": ex_info, "config": {"seed": 1}, "meta_info": {"command": "t"}}
        assert observer.pytest_sacred_allocate_id(**claim) == 1
        proxy.cut()
        client = observer.connection.client
        deadline = time.monotonic() + 30
        while client.topology_description.has_writable_server():  # the monitor's reset
            assert time.monotonic() < deadline, "pymongo never saw the cut"
            time.sleep(0.05)
        assert not observer.queue.down
        started = time.monotonic()
        assert observer.pytest_sacred_allocate_id(**claim) == 2  # provisional
        assert time.monotonic() - started < 1.0
        proxy.restore()
        deadline = time.monotonic() + 30
        while not client.topology_description.has_writable_server():
            assert time.monotonic() < deadline, "pymongo never saw the server again"
            client.admin.command("ping")  # a selection wakes the monitor
        assert observer.pytest_sacred_allocate_id(**claim) == 3  # claimed in the store
        with mongo_server.client() as direct:
            assert direct[mongo_db_name].runs.find_one({"_id": 3}) is not None
    finally:
        observer.close()
        proxy.close()
    assert notices == []
