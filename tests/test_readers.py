"""Readers of the file store and MongoDB, on runs written by pytest-sacred and by Sacred."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from pytest_sacred.readers import NoSuchRun, RunFilter, StoreUnreadable, open_reader
from pytest_sacred.readers.base import StoredRun
from pytest_sacred.readers.status import DIED, shown_status

try:
    from .stored_runs import EXPECTED, file_checksums
except ImportError:
    from stored_runs import EXPECTED, file_checksums


# -- the file store ------------------------------------------------------------------------


def test_file_list_runs(file_stores) -> None:
    before = file_checksums(file_stores.ours)
    with open_reader(file_stores.ours) as reader:
        runs = list(reader.list_runs())
        assert [r.id for r in runs] == sorted(EXPECTED)
        for run in runs:
            name, status, c = EXPECTED[run.id]
            assert (run.experiment["name"], run.status) == (name, status)
            assert run.config.get("C") == c
            assert run.captured_out is None  # not read for lists
            assert isinstance(run.start_time, datetime) and isinstance(run.stop_time, datetime)
            assert run.location == str(Path(file_stores.ours) / str(run.id))
        assert runs[0].config["optimizer"] == {"lr": 0.1, "name": "sgd"}
        assert runs[0].result == pytest.approx(0.05)
        assert runs[0].host["hostname"]
        assert runs[2].fail_trace and "C too large" in "".join(runs[2].fail_trace)
    assert file_checksums(file_stores.ours) == before


def test_file_filters_are_pushed_down(file_stores, tmp_path: Path) -> None:
    with open_reader(file_stores.ours) as reader:
        assert [r.id for r in reader.list_runs(RunFilter(experiment="svm"))] == [1, 2, 3]
        assert [r.id for r in reader.list_runs(RunFilter(status="FAILED"))] == [3]
        assert [r.id for r in reader.list_runs(RunFilter(ids=frozenset({2, 4, 99})))] == [2, 4]
        assert list(reader.list_runs(RunFilter(experiment="svm", status="RUNNING"))) == []


def test_file_ids_read_only_their_directories(file_stores, tmp_path: Path) -> None:
    """With ids given, other run directories are never opened: a damaged run.json of
    another run does not matter."""
    import shutil

    store = tmp_path / "copy"
    shutil.copytree(file_stores.ours, store)
    (store / "3" / "run.json").write_text("{not json")
    reader = open_reader(store)
    assert [r.id for r in reader.list_runs(RunFilter(ids=frozenset({1, 2})))] == [1, 2]
    with pytest.raises(StoreUnreadable, match=r"3.run\.json is not valid JSON"):
        list(reader.list_runs())


def test_file_get_run_metrics_artifacts(file_stores) -> None:
    before = file_checksums(file_stores.ours)
    with open_reader(file_stores.ours) as reader:
        run = reader.get_run(2)
        assert run.captured_out.count("trained with C=2.0") == 1
        assert run.info == {"note": "C is 2.0"}
        assert run.metric_names == ["acc", "loss"]
        assert "model.bin" in run.artifacts
        loss = reader.metric(2, "loss")
        assert loss.steps == [0, 1, 2, 3, 4]
        assert loss.values == pytest.approx([0.5 / (s + 1) for s in range(5)])
        assert all(isinstance(t, datetime) for t in loss.timestamps)
        assert reader.artifact(2, "model.bin") == bytes(range(2)) + b"end"
        assert Path(reader.artifact_path(2, "model.bin")).read_bytes() == b"\x00\x01end"
        summaries = reader.metric_summaries([run])[2]
        assert (summaries["loss"].last, summaries["loss"].min, summaries["loss"].max) == \
            pytest.approx((0.1, 0.1, 0.5))
        assert set(reader.metrics(2)) == {"acc", "loss"}
    assert file_checksums(file_stores.ours) == before


def test_file_missing_things_are_named(file_stores) -> None:
    reader = open_reader(file_stores.ours)
    with pytest.raises(NoSuchRun, match=r"no run 99 in .*ids there: 1…4, 4 runs"):
        reader.get_run(99)
    with pytest.raises(NoSuchRun, match=r"no metric 'nope' \(it has: acc, loss\)"):
        reader.metric(1, "nope")
    with pytest.raises(NoSuchRun, match=r"no artifact 'x.bin' \(it has: model.bin\)"):
        reader.artifact(1, "x.bin")
    with pytest.raises(NoSuchRun, match="no artifact '../1/run.json'"):
        reader.artifact(2, "../1/run.json")


def test_not_a_file_store(tmp_path: Path, file_stores) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(StoreUnreadable, match=r"is not a file store: it holds no run "
                                              r"directories \(<id>/run.json\)"):
        open_reader(tmp_path)
    with pytest.raises(StoreUnreadable, match=r"is one run's directory; give the store"):
        open_reader(Path(file_stores.ours) / "1")
    with pytest.raises(StoreUnreadable, match="is not a store: give a run directory"):
        open_reader(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert list(open_reader(empty).list_runs()) == []


def test_file_reads_sacreds_own_runs(file_stores) -> None:
    before = file_checksums(file_stores.sacred)
    with open_reader(file_stores.sacred) as reader:
        runs = list(reader.list_runs())
        assert [(r.id, r.experiment["name"], r.status) for r in runs] == \
            [(1, "sacred_made", "COMPLETED"), (2, "sacred_made", "COMPLETED")]
        assert [r.config["alpha"] for r in runs] == [0.25, 0.5]
        assert runs[1].config["nested"] == {"depth": 3}
        assert runs[1].result == 1.0
        run = reader.get_run(2)
        assert run.captured_out == (file_stores.sacred / "2" / "cout.txt").read_text()
        assert "hello from sacred" in run.captured_out
        assert run.metric_names == ["score"]
        assert reader.metric(2, "score").values == [0.0, 0.5, 1.0, 1.5]
        assert reader.artifact(2, "artifact.txt") == b"made by sacred"
    assert file_checksums(file_stores.sacred) == before


def test_file_reads_the_live_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A live run with large metrics keeps later points in metrics.journal: the
    reader shows metrics.json's points followed by the journal's, and once the run ends
    (metrics.json written whole) no point twice."""
    from pytest_sacred.stores.file import writer as file_storage
    from pytest_sacred.stores.file.writer import FileStorageObserver

    monkeypatch.setattr(file_storage, "LIVE_METRICS_BYTES", 0)
    observer = FileStorageObserver(tmp_path)
    observer.open()
    start = datetime(2026, 1, 1, 12, 0, 0)
    observer.pytest_sacred_started_event(
        run_id=1, ex_info={"name": "big", "sources": [], "base_dir": str(tmp_path)},
        command="test_big", host_info={"hostname": "h"}, start_time=start,
        config={"seed": 1}, meta_info={})

    def beat(first: int, n: int) -> None:
        steps = list(range(first, first + n))
        observer.pytest_sacred_log_metrics(run_id=1, metrics_by_name={"loss": {
            "steps": steps, "values": [float(s) for s in steps],
            "timestamps": [start + timedelta(seconds=s) for s in steps]}})

    beat(0, 3)  # the first beat writes metrics.json
    beat(3, 2)  # later beats go to the journal
    beat(5, 2)
    directory = tmp_path / "1"
    assert (directory / file_storage.JOURNAL).is_file()
    reader = open_reader(tmp_path)
    assert reader.metric(1, "loss").steps == list(range(7))
    assert reader.metric_summaries([reader.get_run(1)])[1]["loss"].last == 6.0
    # the moment between metrics.json written whole and the journal removed
    journal = (directory / file_storage.JOURNAL).read_bytes()
    observer.pytest_sacred_completed_event(run_id=1, stop_time=start, result=1)
    (directory / file_storage.JOURNAL).write_bytes(journal)
    assert reader.metric(1, "loss").steps == list(range(7))


# -- status ----------------------------------------------------------------------------------


def _running(heartbeat: datetime | None, start: datetime | None) -> StoredRun:
    return StoredRun(id=1, experiment={}, status="RUNNING", config={},
                     heartbeat=heartbeat, start_time=start)


def test_died_status() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0)
    assert shown_status(_running(now - timedelta(seconds=119), None), now) == "RUNNING"
    assert shown_status(_running(now - timedelta(seconds=121), None), now) == DIED
    assert shown_status(_running(None, now - timedelta(minutes=5)), now) == DIED
    assert shown_status(_running(None, now - timedelta(seconds=5)), now) == "RUNNING"
    assert shown_status(_running(None, None), now) == "RUNNING"
    completed = StoredRun(id=1, experiment={}, status="COMPLETED", config={},
                          heartbeat=now - timedelta(days=3))
    assert shown_status(completed, now) == "COMPLETED"


def test_file_store_died_run(tmp_path: Path, file_stores) -> None:
    import shutil

    store = tmp_path / "copy"
    shutil.copytree(file_stores.ours, store)
    entry = json.loads((store / "1" / "run.json").read_text())
    entry.update(status="RUNNING", heartbeat="2020-01-01T00:00:00")
    del entry["stop_time"]
    (store / "1" / "run.json").write_text(json.dumps(entry))
    run = next(open_reader(store).list_runs(RunFilter(ids=frozenset({1}))))
    assert shown_status(run) == DIED


# -- MongoDB -----------------------------------------------------------------------------------

try:
    from .stored_runs import mongo_checksums
except ImportError:
    from stored_runs import mongo_checksums


@pytest.fixture
def unchanged_mongo(mongo_server, mongo_stores):
    """Fails the test if reading changed any document of the stores' databases."""
    with mongo_server.client() as client:
        before = {db: mongo_checksums(client, db)
                  for db in (mongo_stores.db, mongo_stores.sacred_db)}
        yield
        assert {db: mongo_checksums(client, db) for db in before} == before


def test_mongo_list_runs(mongo_stores, unchanged_mongo) -> None:
    for store in (mongo_stores.ours, mongo_stores.url):
        with open_reader(store) as reader:
            runs = list(reader.list_runs())
            assert [r.id for r in runs] == sorted(EXPECTED)
            for run in runs:
                name, status, c = EXPECTED[run.id]
                assert (run.experiment["name"], run.status, run.config.get("C")) == \
                    (name, status, c)
                assert run.captured_out is None  # projected away
                assert isinstance(run.start_time, datetime)
            assert runs[0].result == pytest.approx(0.05)
            assert runs[0].config["optimizer"] == {"lr": 0.1, "name": "sgd"}
            assert runs[0].metric_names == ["acc", "loss"]
            assert "C too large" in "".join(runs[2].fail_trace)
            assert runs[1].location.endswith(f"/{mongo_stores.db}.runs/2")


def test_mongo_filters(mongo_stores, unchanged_mongo) -> None:
    with open_reader(mongo_stores.ours) as reader:
        assert [r.id for r in reader.list_runs(RunFilter(experiment="svm"))] == [1, 2, 3]
        assert [r.id for r in reader.list_runs(RunFilter(status="FAILED"))] == [3]
        assert [r.id for r in reader.list_runs(RunFilter(ids=frozenset({2, 4, 99})))] == [2, 4]
        assert list(reader.list_runs(RunFilter(experiment="nope"))) == []


def test_mongo_get_run_metrics_artifacts(mongo_stores, unchanged_mongo) -> None:
    with open_reader(mongo_stores.ours) as reader:
        run = reader.get_run(2)
        assert "trained with C=2.0" in run.captured_out
        assert run.info["note"] == "C is 2.0"
        assert run.metric_names == ["acc", "loss"]
        loss = reader.metric(2, "loss")
        assert loss.steps == [0, 1, 2, 3, 4]
        assert loss.values == pytest.approx([0.5 / (s + 1) for s in range(5)])
        assert reader.artifact(2, "model.bin") == b"\x00\x01end"
        assert reader.artifact_path(2, "model.bin") is None  # not a directory
        summary = reader.metric_summaries([run])[2]["loss"]
        assert (summary.last, summary.min, summary.max, summary.count) == \
            pytest.approx((0.1, 0.1, 0.5, 5))
        with pytest.raises(NoSuchRun, match=r"no run 99 in .*ids there: 1…4, 4 runs"):
            reader.get_run(99)
        with pytest.raises(NoSuchRun, match=r"no metric 'nope' \(it has: acc, loss\)"):
            reader.metric(1, "nope")
        with pytest.raises(NoSuchRun, match=r"no run 99"):
            reader.metric(99, "loss")
        with pytest.raises(NoSuchRun, match=r"no artifact 'x' \(it has: model.bin\)"):
            reader.artifact(1, "x")


def test_mongo_reads_sacreds_own_runs(mongo_stores, unchanged_mongo) -> None:
    with open_reader(mongo_stores.sacred) as reader:
        runs = list(reader.list_runs())
        assert [(r.id, r.experiment["name"], r.status) for r in runs] == \
            [(1, "sacred_made", "COMPLETED"), (2, "sacred_made", "COMPLETED")]
        assert [r.config["alpha"] for r in runs] == [0.25, 0.5]
        run = reader.get_run(2)
        assert "hello from sacred" in run.captured_out
        assert reader.metric(2, "score").values == [0.0, 0.5, 1.0, 1.5]
        assert reader.metric_summaries(runs)[2]["score"].max == 1.5
        assert reader.artifact(2, "artifact.txt") == b"made by sacred"


def test_mongo_continuations_and_spilled_values(mongo_server, mongo_db_name) -> None:
    """Our MongoObserver's continuation documents and GridFS spills, written for real with
    small limits, read back whole."""
    # the limits patched below are the globals of the observer's own module (an in-process
    # pytester session before this may have made sys.modules' copy a different one)
    from pytest_sacred.stores.mongo import writer as mongo_module

    store = f"{mongo_server.host}:{mongo_server.port}:{mongo_db_name}"
    observer = mongo_module.MongoObserver(store)
    observer.open()
    start = datetime(2026, 1, 1, 12, 0, 0)
    observer.pytest_sacred_started_event(
        run_id=None, ex_info={"name": "big", "sources": [], "base_dir": "/"}, command="t",
        host_info={"hostname": "h"}, start_time=start, config={"seed": 1}, meta_info={})
    old_points, old_safe = mongo_module.POINTS_PER_DOCUMENT, mongo_module.SAFE_DOCUMENT_BYTES
    mongo_module.POINTS_PER_DOCUMENT, mongo_module.SAFE_DOCUMENT_BYTES = 3, 20_000
    try:
        info: dict = {}
        steps = list(range(8))
        observer.pytest_sacred_log_metrics(run_id=1, info=info, metrics_by_name={"loss": {
            "steps": steps, "values": [10.0 - s for s in steps],
            "timestamps": [start + timedelta(seconds=s) for s in steps]}})
        out = "x" * 30_000 + "THE END"
        observer.pytest_sacred_heartbeat_event(run_id=1, info=info, captured_out=out,
                                               beat_time=start, result=[1] * 5000)
        observer.pytest_sacred_completed_event(run_id=1, stop_time=start, result=[1] * 5000)
    finally:
        mongo_module.POINTS_PER_DOCUMENT, mongo_module.SAFE_DOCUMENT_BYTES = old_points, old_safe
        observer.close()
    with mongo_server.client() as client:
        assert client[mongo_db_name].metrics.count_documents({"run_id": 1}) == 3
        assert client[mongo_db_name].runs.find_one({"_id": 1})["result_file"]
    with open_reader(store) as reader:
        assert reader.metric(1, "loss").steps == steps
        summary = reader.metric_summaries(list(reader.list_runs()))[1]["loss"]
        assert (summary.last, summary.min, summary.max, summary.count) == (3.0, 3.0, 10.0, 8)
        run = reader.get_run(1)
        assert run.captured_out == out
        assert run.result == [1] * 5000
        assert next(reader.list_runs()).result == [1] * 5000


def test_mongo_not_a_store(mongo_server, mongo_stores) -> None:
    address = f"{mongo_server.host}:{mongo_server.port}"
    with pytest.raises(StoreUnreadable, match=r"database 'nothing_here' has no collection "
                                              r"'runs' .*databases on the server: .*readers_"):
        open_reader(f"{address}:nothing_here")
    with pytest.raises(StoreUnreadable, match=r"no collection 'other'"):
        open_reader(f"{address}:{mongo_stores.db}.other")
    with pytest.raises(StoreUnreadable, match=r"MongoDB store 'mongodb://' names no host; "
                                              r"expected DB, HOST:PORT"):
        open_reader("mongodb://")


def test_mongo_unreachable_server_and_masked_password() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"mongodb://bob:VerySecret@127.0.0.1:{port}/db?serverSelectionTimeoutMS=300"
    with pytest.raises(StoreUnreadable) as caught:
        open_reader(url)
    assert "cannot reach MongoDB at 'mongodb://bob:***@127.0.0.1" in str(caught.value)
    assert "fix HOST:PORT in the store name" in str(caught.value)
    assert "VerySecret" not in str(caught.value)


def test_mongo_login_refused_is_masked(mongo_auth_server) -> None:
    url = mongo_auth_server.url("admin", password="wrong-Pass")
    with pytest.raises(StoreUnreadable, match="refused the login") as caught:
        open_reader(url)
    assert "wrong-Pass" not in str(caught.value)


# -- the Python API: load_runs and get_run ---------------------------------------------------


@pytest.fixture(params=["file", "mongo"])
def any_store(request, file_stores) -> str:
    if request.param == "file":
        before = file_checksums(file_stores.ours)
        yield str(file_stores.ours)
        assert file_checksums(file_stores.ours) == before
        return
    request.getfixturevalue("unchanged_mongo")
    yield request.getfixturevalue("mongo_stores").ours


def test_load_runs(any_store: str) -> None:
    import pandas as pd

    from pytest_sacred import load_runs

    frame = load_runs(any_store)
    assert list(frame.columns[:7]) == ["id", "experiment", "status", "start_time",
                                       "stop_time", "duration", "host"]
    assert list(frame["id"]) == [1, 2, 3, 4]
    assert list(frame["status"]) == ["COMPLETED", "COMPLETED", "FAILED", "COMPLETED"]
    assert frame["config.C"].tolist()[:3] == [0.5, 2.0, 8.0]
    assert frame["config.optimizer.lr"].tolist()[:3] == [0.1] * 3
    assert frame["metrics.loss.last"].tolist()[:3] == pytest.approx([0.4, 0.1, 0.025])
    assert frame["metrics.loss.max"].tolist()[:3] == pytest.approx([2.0, 0.5, 0.125])
    assert frame["metrics.acc.min"].tolist()[:3] == pytest.approx([0.05, 0.2, 0.8])
    assert pd.isna(frame["metrics.loss.last"].iloc[3])  # run 4 logged nothing
    assert frame["result"].tolist()[3] == "fine"
    assert pd.api.types.is_datetime64_any_dtype(frame["start_time"])
    assert (frame["duration"] >= 0).all()
    assert frame["host"].notna().all()


def test_load_runs_filters(any_store: str) -> None:
    from pytest_sacred import load_runs

    assert load_runs(any_store, experiment="svm")["id"].tolist() == [1, 2, 3]
    assert load_runs(any_store, status="FAILED")["id"].tolist() == [3]
    assert load_runs(any_store, where="config.C > 1 and result > 0.1")["id"].tolist() == [2]
    assert load_runs(any_store, where="metrics.loss.last < 0.03")["id"].tolist() == [3]
    assert load_runs(any_store, experiment="svm", where="config.C < 1")["id"].tolist() == [1]
    assert load_runs(any_store, experiment="nothing").empty


def test_load_runs_bad_where(any_store: str) -> None:
    from pytest_sacred import load_runs
    from pytest_sacred.where import WhereError

    with pytest.raises(WhereError, match="no column config.nope in these runs"):
        load_runs(any_store, where="config.nope > 1")
    with pytest.raises(WhereError, match="the part \"open"):
        load_runs(any_store, where="open('x') == 1")


def test_get_run(any_store: str) -> None:
    import pandas as pd

    from pytest_sacred import get_run

    run = get_run(any_store, 2)
    assert (run.id, run.experiment, run.status) == (2, "svm", "COMPLETED")
    assert run.config["C"] == 2.0 and run.result == pytest.approx(0.2)
    assert "trained with C=2.0" in run.captured_out
    assert run.info["note"] == "C is 2.0" and run.host["hostname"]
    loss = run.metrics["loss"]
    assert isinstance(loss, pd.Series) and loss.index.name == "step"
    assert loss.index.tolist() == [0, 1, 2, 3, 4]
    assert loss.loc[4] == pytest.approx(0.1)
    assert run.metric_points["loss"].timestamps[0] <= run.metric_points["loss"].timestamps[-1]
    artifact = run.artifacts["model.bin"]
    assert artifact.read() == b"\x00\x01end"
    path = artifact.path()
    assert path.read_bytes() == b"\x00\x01end"
    if os.path.isdir(any_store):
        assert path == Path(any_store, "2", "model.bin").resolve()  # the stored file
    else:  # a temporary copy, removed with the object
        del run, artifact
        import gc

        gc.collect()
        assert not path.exists()
    failed = get_run(any_store, 3)
    assert failed.status == "FAILED" and "C too large" in "".join(failed.fail_trace)
    with pytest.raises(NoSuchRun, match="no run 77"):
        get_run(any_store, 77)


def test_api_without_pandas(file_stores) -> None:
    import subprocess
    import sys

    try:
        from .stored_runs import REPO
    except ImportError:
        from stored_runs import REPO
    code = ("import sys; sys.modules['pandas'] = None\n"
            "import pytest_sacred\n"
            "try:\n"
            f"    pytest_sacred.load_runs({str(file_stores.ours)!r})\n"
            "except ImportError as exc:\n"
            "    print(exc)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert "load_runs needs pandas, which is not installed: pip install " \
           "'pytest-sacred[analysis]'" in proc.stdout, proc.stderr


@pytest.mark.system  # a fresh interpreter
def test_importing_the_plugin_imports_no_reader() -> None:
    import subprocess
    import sys

    code = ("import sys, pytest_sacred, pytest_sacred.plugin\n"
            "print(sorted(m for m in sys.modules if m.startswith(('pytest_sacred.readers', "
            "'pandas', 'matplotlib', 'pytest_sacred.where'))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    assert proc.stdout.strip() == "[]", proc.stderr


def test_api_takes_an_open_reader(any_store: str) -> None:
    """load_runs/get_run on a reader the caller opened leave it open for more reads."""
    from pytest_sacred import get_run, load_runs

    with open_reader(any_store) as reader:
        assert load_runs(reader, status="FAILED")["id"].tolist() == [3]
        run = get_run(reader, 1)
        assert run.artifacts["model.bin"].read() == b"end"
        assert [r.id for r in reader.list_runs(RunFilter(ids=frozenset({1})))] == [1]


def test_mongo_where_goes_into_the_query(mongo_server, mongo_db_name) -> None:
    """Simple ``and`` terms over config, id and experiment become query clauses; what
    MongoDB would compare differently from Python (a bool against a number) still
    matches, because the rows are checked again."""
    from pytest_sacred.readers.table import run_rows
    from pytest_sacred.stores.mongo.reader import MongoReader
    from pytest_sacred.stores.mongo.writer import MongoObserver
    from pytest_sacred.where import WhereError, compile_where

    query = MongoReader._query(RunFilter(where=compile_where(
        "config.C > 1 and experiment == 'svm' and result > 0.5 and status == 'DIED?'")))
    assert query["$and"] == [
        {"$or": [{"config.C": {"$gt": 1}}, {"config.C": {"$type": "bool"}}]},
        {"experiment.name": {"$eq": "svm"}}]

    store = f"{mongo_server.host}:{mongo_server.port}:{mongo_db_name}"
    observer = MongoObserver(store)
    observer.open()
    start = datetime(2026, 1, 1)
    for config in ({"flag": True, "C": 2}, {"flag": False, "C": 5}, {"flag": 2, "C": 0.5},
                   {"flag": 0, "C": 0.1, "extra": 1}):
        observer.pytest_sacred_started_event(
            run_id=None, ex_info={"name": "flags", "sources": [], "base_dir": "/"},
            command="t", host_info={}, start_time=start, config=config, meta_info={})
    observer.close()
    ids = lambda where: [row["id"] for row in run_rows(store, where=where)]  # noqa: E731
    assert ids("config.flag == 1") == [1]  # True == 1, as in Python
    assert ids("config.flag >= 1") == [1, 3]
    assert ids("config.C > 1 and config.C < 3") == [1]
    assert ids("id >= 2 and experiment == 'flags'") == [2, 3, 4]
    # config.extra is only in run 4, which the query leaves out: still a known column
    assert ids("config.C > 1 and not config.extra") == [1, 2]
    with pytest.raises(WhereError, match="no column config.nope"):
        ids("config.C > 1 and config.nope == 1")


def test_where_on_an_empty_store(tmp_path: Path) -> None:
    from pytest_sacred.readers.table import run_rows

    assert run_rows(tmp_path, where="config.C > 1") == []


def test_a_run_directory_claimed_but_not_yet_written_is_still_a_store(tmp_path: Path) -> None:
    # another process has just claimed id 1 (mkdir) and not yet written run.json: a reader
    # opened at that moment sees a store with no run in it yet, not "not a file store"
    (tmp_path / "1").mkdir()
    with open_reader(tmp_path) as reader:
        assert list(reader.list_runs()) == []
