"""Queued runs that really run: --sacred-queue, then workers (--sacred-run-queued) that
claim them from a real MongoDB server, several at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from helpers import stored_runs

EXPERIMENT = """
import os, time
import pytest

from helpers import stored_runs
from pytest_sacred import config

@config
def scale():
    return 10

def wait_for_workers(n):
    # hold the first runs until n workers run at once, so that the queue is shared
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pids = {{line.split()[2] for line in open("executions.log")}}
        if len(pids) >= n:
            return
        time.sleep(0.1)

@pytest.mark.experiment
@pytest.mark.parametrize("x", range({n}))
def test_sweep(x, scale, sacred_run):
    with open("executions.log", "a") as f:  # one line per execution, from every worker
        f.write(f"{{sacred_run._id}} {{x}} {{os.getpid()}}\\n")
    wait_for_workers({workers})
    return x * scale
"""


def _worker(pytester: pytest.Pytester, store: str, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_exp.py",
         "--sacred-run-queued", f"--sacred-mongo={store}", *extra],
        cwd=pytester.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture
def store(mongo_server, mongo_db_name) -> str:
    return f"{mongo_server.host}:{mongo_server.port}:{mongo_db_name}"


def test_queue_records_runs_and_runs_nothing(pytester, store, mongo_server, mongo_db_name):
    pytester.makepyfile(test_exp=EXPERIMENT.format(n=3, workers=1))
    result = pytester.runpytest("--sacred-queue", f"--sacred-mongo={store}", "--sacred-seed=7")
    result.assert_outcomes(skipped=3)
    assert not (pytester.path / "executions.log").exists()
    with mongo_server.client() as client:
        docs = list(client[mongo_db_name].runs.find(sort=[("_id", 1)]))
    assert [d["status"] for d in docs] == ["QUEUED"] * 3
    assert [d["config"]["x"] for d in docs] == [0, 1, 2]
    assert {d["config"]["seed"] for d in docs} == {7}
    assert docs[0]["meta"]["pytest"]["nodeid"] == "test_exp.py::test_sweep[0]"
    assert docs[0]["experiment"]["name"] == "sweep"


def test_three_workers_drain_thirty_queued_runs_each_once(pytester, store, mongo_server,
                                                          mongo_db_name):
    pytester.makepyfile(test_exp=EXPERIMENT.format(n=30, workers=3))
    pytester.runpytest("--sacred-queue", f"--sacred-mongo={store}").assert_outcomes(skipped=30)
    workers = [_worker(pytester, store) for _ in range(3)]
    outputs = [w.communicate(timeout=240)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0], outputs
    lines = (pytester.path / "executions.log").read_text().split()
    executions = [tuple(map(int, lines[i:i + 3])) for i in range(0, len(lines), 3)]
    assert sorted(run_id for run_id, _, _ in executions) == list(range(1, 31))  # each once
    with mongo_server.client() as client:
        docs = {d["_id"]: d for d in client[mongo_db_name].runs.find()}
    assert len(docs) == 30
    assert {d["status"] for d in docs.values()} == {"COMPLETED"}
    for run_id, x, _ in executions:  # the stored config ran under the stored id
        assert docs[run_id]["config"]["x"] == x
        assert docs[run_id]["result"] == x * 10
        assert docs[run_id]["meta"]["pytest"]["nodeid"] == f"test_exp.py::test_sweep[{x}]"
    assert len({pid for _, _, pid in executions}) == 3  # all three workers ran some


def test_worker_runs_with_the_stored_config_and_seed(pytester, store, mongo_server,
                                                     mongo_db_name):
    pytester.makepyfile(test_exp="""
        import random
        import pytest
        from pytest_sacred import config

        @config
        def scale():
            return 10

        @pytest.mark.experiment
        def test_one(scale, seed):
            return [scale, seed, random.random()]
    """)
    pytester.runpytest("--sacred-queue", f"--sacred-mongo={store}", "--sacred-seed=11",
                       "--sacred-with=scale=3").assert_outcomes(skipped=1)
    worker = _worker(pytester, store)
    out = worker.communicate(timeout=120)[0]
    assert worker.returncode == 0, out
    import random

    with mongo_server.client() as client:
        doc = client[mongo_db_name].runs.find_one({"_id": 1})
    assert doc["status"] == "COMPLETED"
    assert doc["result"] == [3, 11, random.Random(11).random()]
    assert "queue_time" in doc["meta"]


def test_worker_waits_for_runs_queued_later(pytester, store, mongo_server, mongo_db_name):
    """A worker started before any run is queued runs the runs queued later. Its idle
    limit is long (its clock starts when it starts, so a short one could end it before a
    slow queueing session); once both runs are COMPLETED, SIGTERM stops it as Ctrl-C does:
    exit 2, the finished runs left as they are."""
    pytester.makepyfile(test_exp=EXPERIMENT.format(n=2, workers=1))
    worker = _worker(pytester, store, "--sacred-worker-idle=300")
    try:
        pytester.runpytest("--sacred-queue", f"--sacred-mongo={store}").assert_outcomes(
            skipped=2)
        deadline = time.monotonic() + 120
        with mongo_server.client() as client:
            runs = client[mongo_db_name].runs
            while runs.count_documents({"status": "COMPLETED"}) < 2:
                assert worker.poll() is None, worker.communicate()[0]
                assert time.monotonic() < deadline, "the worker never ran the queued runs"
                time.sleep(0.05)
        worker.send_signal(signal.SIGTERM)  # idle, or past the end of its last run
        out = worker.communicate(timeout=60)[0]
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == pytest.ExitCode.INTERRUPTED, out
    assert "2 passed" in out, out
    with mongo_server.client() as client:
        statuses = [d["status"] for d in client[mongo_db_name].runs.find()]
    assert statuses == ["COMPLETED", "COMPLETED"]


def test_requeue_dead_runs_them_again(pytester, store, mongo_server, mongo_db_name):
    from datetime import datetime, timedelta

    pytester.makepyfile(test_exp=EXPERIMENT.format(n=2, workers=1))
    pytester.runpytest("--sacred-queue", f"--sacred-mongo={store}").assert_outcomes(skipped=2)
    with mongo_server.client() as client:  # as a worker killed mid-run leaves it
        stale = datetime.utcnow() - timedelta(hours=1)
        client[mongo_db_name].runs.update_one(
            {"_id": 1}, {"$set": {"status": "RUNNING", "heartbeat": stale, "start_time": stale}})
    worker = _worker(pytester, store)
    worker.communicate(timeout=120)
    with mongo_server.client() as client:
        assert client[mongo_db_name].runs.find_one({"_id": 1})["status"] == "RUNNING"
    worker = _worker(pytester, store, "--sacred-requeue-dead")
    out = worker.communicate(timeout=120)[0]
    assert "requeued dead run(s) 1" in out
    with mongo_server.client() as client:
        assert [d["status"] for d in client[mongo_db_name].runs.find(sort=[("_id", 1)])] == \
            ["COMPLETED", "COMPLETED"]


def test_run_queued_needs_a_store_with_a_queue(pytester):
    pytester.makepyfile(test_exp=EXPERIMENT.format(n=2, workers=1))
    result = pytester.runpytest("--sacred-run-queued")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-run-queued needs a store with a queue (MongoDB*SQL*"
                                 "this session's stores (file) have none*"])
    assert not (pytester.path / "executions.log").exists()


@pytest.fixture
def postgres_url():
    """A fresh database on the machine's PostgreSQL (127.0.0.1:5432), dropped afterwards."""
    sa = pytest.importorskip("sqlalchemy")
    pytest.importorskip("psycopg", reason="psycopg (PostgreSQL driver) is not installed")
    import secrets

    admin = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                             isolation_level="AUTOCOMMIT")
    name = f"queue_{secrets.token_hex(4)}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except sa.exc.OperationalError as exc:
        pytest.skip(f"PostgreSQL on 127.0.0.1:5432 does not answer: {exc.orig}")
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
    admin.dispose()


def test_three_workers_drain_thirty_queued_runs_from_postgresql(pytester, postgres_url):
    import sqlalchemy as sa

    pytester.makepyfile(test_exp=EXPERIMENT.format(n=30, workers=3))
    store = f"--sacred-sql={postgres_url}"
    pytester.runpytest("--sacred-queue", store).assert_outcomes(skipped=30)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    workers = [subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_exp.py",
         "--sacred-run-queued", store], cwd=pytester.path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(3)]
    outputs = [w.communicate(timeout=240)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0], outputs
    lines = (pytester.path / "executions.log").read_text().split()
    executions = [tuple(map(int, lines[i:i + 3])) for i in range(0, len(lines), 3)]
    assert sorted(run_id for run_id, _, _ in executions) == list(range(1, 31))
    assert len({pid for _, _, pid in executions}) == 3  # all three workers ran some
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT id, status, result FROM run ORDER BY id").all()
    engine.dispose()
    assert [r[0] for r in rows] == list(range(1, 31))
    assert {r[1] for r in rows} == {"COMPLETED"}
    results = {run_id: x * 10 for run_id, x, _ in executions}
    assert {r[0]: r[2] for r in rows} == results


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-m", "pytest_sacred", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_a_killed_worker_leaves_its_run_for_requeue(pytester, store, mongo_server,
                                                     mongo_db_name):
    import signal
    import time
    from datetime import datetime, timedelta

    pytester.makepyfile(test_exp="""
        import os, time
        import pytest

        @pytest.mark.experiment
        def test_slow():
            if not os.path.exists("second-time"):
                open("second-time", "w").close()
                time.sleep(300)  # the first worker is killed here
            return "done"
    """)
    pytester.runpytest("--sacred-queue", f"--sacred-mongo={store}").assert_outcomes(skipped=1)
    worker = _worker(pytester, store)
    with mongo_server.client() as client:
        runs = client[mongo_db_name].runs
        deadline = time.monotonic() + 60
        while not (pytester.path / "second-time").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        assert runs.find_one({"_id": 1})["status"] == "RUNNING"
        refused = _cli("requeue", store, "1")  # its heartbeat is recent: it may still run
        assert refused.returncode == 2
        assert "run 1 is RUNNING: only runs shown DIED?, FAILED, INTERRUPTED, TIMEOUT" in \
            refused.stderr
        stale = datetime.utcnow() - timedelta(minutes=10)  # as it looks minutes later
        runs.update_one({"_id": 1}, {"$set": {"heartbeat": stale, "start_time": stale}})
        done = _cli("requeue", store, "1")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "run 1 (DIED?) queued again"
        assert runs.find_one({"_id": 1})["status"] == "QUEUED"
        worker = _worker(pytester, store)
        assert worker.wait(timeout=120) == 0
        doc = runs.find_one({"_id": 1})
    assert doc["status"] == "COMPLETED" and doc["result"] == "done"
    assert _cli("requeue", store, "1").returncode == 2  # COMPLETED: not again
    missing = _cli("requeue", store, "5")
    assert missing.returncode == 4 and "5" in missing.stderr


def test_requeue_refuses_a_store_without_a_queue(pytester, runs_dir):
    pytester.makepyfile(test_exp=EXPERIMENT.format(n=1, workers=1))
    pytester.runpytest("--sacred-queue").assert_outcomes(skipped=1)
    result = _cli("requeue", str(runs_dir), "1")
    assert result.returncode == 2, result.stderr
    assert "only runs shown" in result.stderr  # QUEUED already


def test_queueing_where_no_worker_can_claim_is_warned_about(pytester, runs_dir):
    pytester.makepyfile(test_exp=EXPERIMENT.format(n=2, workers=1))
    result = pytester.runpytest("--sacred-queue")
    result.assert_outcomes(skipped=2, warnings=1)
    result.stdout.fnmatch_lines(["*--sacred-queue: the runs are recorded QUEUED, but no "
                                 "--sacred-run-queued worker can claim them*(file)*"])
    assert {r["status"] for r in stored_runs(runs_dir).values()} == {"QUEUED"}


def test_queueing_with_no_store_is_refused(pytester):
    pytester.makepyfile(test_exp=EXPERIMENT.format(n=2, workers=1))
    result = pytester.runpytest("--sacred-queue", "--sacred-unobserved")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-queue records runs in a store, but "
                                 "--sacred-unobserved stores nothing*"])
