"""MongoObserver against a real MongoDB-wire server (secantusd-py, see conftest_mongo.py).

The hooks are called directly with payloads shaped like the plugin's, and the stored
documents are read back with pymongo and compared with Sacred 0.8.7's layout.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from pathlib import Path

import pytest

pymongo = pytest.importorskip("pymongo")
gridfs = pytest.importorskip("gridfs")
import bson  # noqa: E402
from bson import ObjectId  # noqa: E402

import pytest_sacred  # noqa: E402
from pytest_sacred.stores.base import StoreError  # noqa: E402
from pytest_sacred.stores.mongo.target import parse_target  # noqa: E402
from pytest_sacred.stores.mongo.writer import FORMAT, MongoObserver, redact_url  # noqa: E402

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456)
SOURCE = "import pytest\n\ndef test_train():\n    return 0.5\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ms(t: datetime) -> datetime:
    """What a BSON date keeps of a datetime."""
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


# -- payloads ------------------------------------------------------------------------------

@pytest.fixture
def ex_info(tmp_path: Path) -> dict:
    base = tmp_path / "project"
    (base / "experiments").mkdir(parents=True)
    (base / "experiments" / "test_train.py").write_text(SOURCE)
    return {
        "name": "train",
        "base_dir": str(base),
        "sources": [["experiments/test_train.py", hashlib.md5(SOURCE.encode()).hexdigest()]],
        "dependencies": ["numpy==2.4.6", "pytest==9.0.3"],
        "repositories": [{"url": "git@example.org:lab/project.git", "commit": "a" * 40,
                          "dirty": False}],
        "mainfile": "experiments/test_train.py",
    }


HOST_INFO = {"hostname": "lab-01", "os": ["Linux", "Linux-6.1-x86_64"],
             "python_version": "3.11.7", "cpu": "Some CPU @ 3.0GHz", "ENV": {}}
CONFIG = {"lr": 0.01, "layers": [64, 64], "optimizer": {"name": "adam", "beta": 0.9},
          "seed": 1234}


def meta(**extra) -> dict:
    return {"command": "test_train", "options": {"--sacred-with": ["lr=0.01"]},
            "named_configs": [], "config_updates": {"lr": 0.01}, **extra}


@pytest.fixture
def observer(mongo_server, mongo_db_name):
    obs = MongoObserver.from_option(f"{mongo_server.host}:{mongo_server.port}:{mongo_db_name}")
    obs.open()
    yield obs
    obs.close()


@pytest.fixture(autouse=True)
def beats_at_once(monkeypatch):
    """Every beat written at once: these tests read each one (the round-trip test below
    puts the deferral back)."""
    monkeypatch.setattr(MongoObserver, "defer_beat_seconds", 0)


@pytest.fixture
def db(mongo_server, mongo_db_name):
    with mongo_server.client() as client:
        yield client[mongo_db_name]


def start(obs: MongoObserver, ex_info: dict, config=CONFIG, allocate=True, **meta_extra) -> int:
    """allocate_id then started_event, as the plugin does."""
    run_id = obs.pytest_sacred_allocate_id(ex_info=ex_info, config=config,
                                           meta_info=meta(**meta_extra)) if allocate else None
    obs.pytest_sacred_started_event(run_id=run_id, ex_info=ex_info, command="test_train",
                                    host_info=HOST_INFO, start_time=T0, config=config,
                                    meta_info=meta(**meta_extra))
    return run_id


def beat(obs, run_id, info=None, out="", result=None, metrics=None, at=T0):
    info = {} if info is None else info
    obs.pytest_sacred_log_metrics(run_id=run_id, metrics_by_name=metrics or {}, info=info)
    obs.pytest_sacred_heartbeat_event(run_id=run_id, info=info, captured_out=out,
                                      beat_time=at, result=result)
    return info


# -- the runs document -----------------------------------------------------------------------

def test_runs_document_matches_sacred_layout(observer, db, ex_info, tmp_path):
    run_id = start(observer, ex_info, comment="first try")
    assert run_id == 1
    doc = db.runs.find_one({"_id": 1})
    assert list(doc) == ["_id", "experiment", "format", "command", "host", "start_time",
                         "config", "meta", "status", "resources", "artifacts", "captured_out",
                         "info", "heartbeat", "value_encoding"]  # the last one is ours
    assert doc["format"] == FORMAT == "MongoObserver-0.7.0"
    assert doc["status"] == "RUNNING" and doc["heartbeat"] is None
    assert doc["command"] == "test_train"
    assert doc["host"] == HOST_INFO
    assert doc["start_time"] == ms(T0)
    assert doc["config"] == CONFIG
    assert doc["meta"] == meta(comment="first try")
    assert (doc["resources"], doc["artifacts"], doc["captured_out"], doc["info"]) == \
        ([], [], "", {})
    experiment = doc["experiment"]
    assert list(experiment) == ["name", "base_dir", "sources", "dependencies", "repositories",
                                "mainfile"]
    assert {k: v for k, v in experiment.items() if k != "sources"} == \
        {k: v for k, v in ex_info.items() if k != "sources"}
    [[name, file_id]] = experiment["sources"]
    assert name == "experiments/test_train.py" and isinstance(file_id, ObjectId)
    stored = db["fs.files"].find_one({"_id": file_id})
    assert stored["filename"] == os.path.join(ex_info["base_dir"], name)
    assert stored["md5"] == ex_info["sources"][0][1]
    assert gridfs.GridFS(db).get(file_id).read().decode() == SOURCE

    info = beat(observer, 1, info={"note": "ok"}, out="epoch 1\n", result=0.25,
                at=T0 + timedelta(seconds=10))
    observer.pytest_sacred_completed_event(run_id=1, stop_time=T0 + timedelta(seconds=11),
                                           result=0.5)
    doc = db.runs.find_one({"_id": 1})
    assert doc["status"] == "COMPLETED"
    assert doc["heartbeat"] == ms(T0 + timedelta(seconds=10))
    assert doc["stop_time"] == ms(T0 + timedelta(seconds=11))
    assert doc["captured_out"] == "epoch 1\n" and doc["info"] == info == {"note": "ok"}
    assert doc["result"] == 0.5
    assert "fail_trace" not in doc and "captured_out_file" not in doc


def test_failed_and_interrupted_runs(observer, db, ex_info):
    failed, interrupted = start(observer, ex_info), start(observer, ex_info)
    trace = ["Traceback (most recent call last):\n", "AssertionError: loss too high\n"]
    observer.pytest_sacred_failed_event(run_id=failed, fail_time=T0, fail_trace=trace)
    observer.pytest_sacred_interrupted_event(run_id=interrupted, interrupt_time=T0,
                                             status="TIMEOUT")
    doc = db.runs.find_one({"_id": failed})
    assert (doc["status"], doc["fail_trace"], doc["stop_time"]) == ("FAILED", trace, ms(T0))
    doc = db.runs.find_one({"_id": interrupted})
    assert (doc["status"], doc["stop_time"]) == ("TIMEOUT", ms(T0))
    assert "fail_trace" not in doc


def test_queued_document(observer, db, ex_info):
    run_id = observer.pytest_sacred_allocate_id(ex_info=ex_info, config=CONFIG,
                                                meta_info=meta())
    observer.pytest_sacred_queued_event(run_id=run_id, ex_info=ex_info, command="test_train",
                                        host_info=HOST_INFO, queue_time=T0, config=CONFIG,
                                        meta_info=meta(queue_time=T0))
    doc = db.runs.find_one({"_id": run_id})
    assert list(doc) == ["_id", "experiment", "command", "host", "config", "meta", "status",
                         "value_encoding"]
    assert doc["status"] == "QUEUED" and "format" not in doc
    assert doc["meta"]["queue_time"] == ms(T0)
    assert isinstance(doc["experiment"]["sources"][0][1], ObjectId)


# -- ids -------------------------------------------------------------------------------------

def test_ids_are_consecutive_integers(observer, db, ex_info):
    db.runs.insert_one({"_id": "by-hand"})  # a string id sorts above numbers: ignored
    ids = [start(observer, ex_info) for _ in range(3)]
    assert ids == [1, 2, 3]
    assert all(type(d["_id"]) is int for d in db.runs.find({"_id": {"$type": "number"}}))


def test_id_from_another_observer(observer, db, ex_info):
    observer.pytest_sacred_started_event(run_id=42, ex_info=ex_info, command="test_train",
                                         host_info=HOST_INFO, start_time=T0, config=CONFIG,
                                         meta_info=meta())
    assert db.runs.find_one({"_id": 42})["status"] == "RUNNING"
    assert start(observer, ex_info) == 43
    with pytest.raises(StoreError, match="run 42 already exists"):
        observer.pytest_sacred_started_event(run_id=42, ex_info=ex_info, command="test_train",
                                             host_info=HOST_INFO, start_time=T0,
                                             config=CONFIG, meta_info=meta())


ALLOCATE_SCRIPT = textwrap.dedent("""
    import sys
    from pytest_sacred.stores.mongo.writer import MongoObserver
    obs = MongoObserver.from_option(sys.argv[1])
    obs.open()
    ids = [obs.pytest_sacred_allocate_id(ex_info={"name": "x", "base_dir": "", "sources": []},
                                         config={"seed": i}, meta_info={})
           for i in range(int(sys.argv[2]))]
    obs.close()
    print(" ".join(map(str, ids)))
""")


def test_ids_unique_and_consecutive_across_processes(mongo_server, mongo_db_name, db):
    src = str(Path(pytest_sacred.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    option = f"{mongo_server.host}:{mongo_server.port}:{mongo_db_name}"
    procs = [subprocess.Popen([sys.executable, "-c", ALLOCATE_SCRIPT, option, "25"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(4)]
    per_process = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        per_process.append([int(x) for x in out.split()])
    everything = sorted(i for ids in per_process for i in ids)
    assert everything == list(range(1, 101))
    assert all(ids == sorted(ids) for ids in per_process)
    assert sorted(d["_id"] for d in db.runs.find({}, {"_id": 1})) == list(range(1, 101))


# -- metrics ---------------------------------------------------------------------------------

def points(name, steps, values, t0=T0):
    return {"name": name, "steps": steps, "values": values,
            "timestamps": [t0 + timedelta(seconds=s) for s in steps]}


def test_metrics_are_pushed_and_listed_in_info(observer, db, ex_info):
    run_id = start(observer, ex_info)
    info: dict = {"user": 1}
    beat(observer, run_id, info=info, metrics={"loss": points("loss", [0, 1], [1.0, 0.5]),
                                               "acc": points("acc", [0], [0.1])})
    beat(observer, run_id, info=info, metrics={"loss": points("loss", [2, 3], [0.25, 0.125]),
                                               "lr": points("lr", [2], [0.01])})
    assert info == {"user": 1}  # the user's dict is left alone (Sacred's observer appends)
    stored = db.runs.find_one({"_id": run_id})["info"]
    assert [m["name"] for m in stored["metrics"]] == ["loss", "acc", "lr"]
    docs = {d["name"]: d for d in db.metrics.find({"run_id": run_id})}
    assert set(docs) == {"loss", "acc", "lr"}
    loss = docs["loss"]
    assert set(loss) == {"_id", "run_id", "name", "steps", "values", "timestamps"}
    assert loss["steps"] == [0, 1, 2, 3] and loss["values"] == [1.0, 0.5, 0.25, 0.125]
    assert loss["timestamps"] == [ms(T0 + timedelta(seconds=s)) for s in range(4)]
    for entry in stored["metrics"]:  # Omniboard joins on these ids ($toObjectId)
        assert db.metrics.find_one({"_id": ObjectId(entry["id"])})["name"] == entry["name"]
    assert stored == {"user": 1, "metrics": stored["metrics"]}
    assert all(type(e["id"]) is str for e in stored["metrics"])


def test_metrics_write_repeated_after_a_lost_reply_stores_no_point_twice(
        observer, db, ex_info, mongo_server, mongo_db_name):
    """A write the server took whose reply was lost is tried again (the queue's retry), or
    replayed from a spill file by another process: the points it holds are not pushed
    twice, the points after them are, and info.metrics names the document once."""
    run_id = start(observer, ex_info)
    first = points("loss", [0, 1, 2], [1.0, 0.5, 0.25])
    beat(observer, run_id, metrics={"loss": first})
    observer._runs[run_id].unconfirmed = True  # as after a write that raised AutoReconnect
    beat(observer, run_id, metrics={"loss": first})
    again = MongoObserver.from_option(f"{mongo_server.host}:{mongo_server.port}:{mongo_db_name}")
    again.open()  # a replay: this observer did not start the run
    try:
        beat(again, run_id, metrics={
            "loss": points("loss", [2, 3], [0.25, 0.125]), "acc": points("acc", [3], [0.9])})
    finally:
        again.close()
    loss = db.metrics.find_one({"run_id": run_id, "name": "loss"})
    assert loss["steps"] == [0, 1, 2, 3] and loss["values"] == [1.0, 0.5, 0.25, 0.125]
    assert len(loss["timestamps"]) == 4
    stored = db.runs.find_one({"_id": run_id})["info"]["metrics"]
    assert [m["name"] for m in stored] == ["loss", "acc"]
    assert stored[0]["id"] == str(loss["_id"])


def test_a_metric_stored_but_not_yet_listed_is_listed_by_the_next_process(
        observer, db, ex_info, mongo_server, mongo_db_name):
    """The points went in, then the session died (or lost the server) before the heartbeat
    that lists the metric in info.metrics: the process that replays the rest of the run
    (with no metrics write left to make) lists it from the metrics collection."""
    run_id = start(observer, ex_info)
    observer.pytest_sacred_log_metrics(run_id=run_id, info={}, metrics_by_name={
        "loss": points("loss", [0, 1], [1.0, 0.5]), "acc": points("acc", [0], [0.1])})
    assert db.runs.find_one({"_id": run_id})["info"] == {}  # listed with the next beat
    again = MongoObserver.from_option(f"{mongo_server.host}:{mongo_server.port}:{mongo_db_name}")
    again.open()  # the replay: the run's last beat and its end are left to write
    try:
        again.pytest_sacred_heartbeat_event(run_id=run_id, info={}, captured_out="",
                                            beat_time=T0, result=0.5)
        again.pytest_sacred_completed_event(run_id=run_id, stop_time=T0, result=0.5)
    finally:
        again.close()
    listed = db.runs.find_one({"_id": run_id})["info"]["metrics"]
    assert [m["name"] for m in listed] == ["loss", "acc"]
    for entry in listed:
        assert db.metrics.find_one({"_id": ObjectId(entry["id"])})["name"] == entry["name"]


def test_long_metric_continues_in_further_documents(observer, db, ex_info, monkeypatch):
    """A metric past a document's share goes on in parts: no 16 MB error, no point lost."""
    from pytest_sacred.stores.mongo import writer as mongo

    monkeypatch.setattr(mongo, "POINTS_PER_DOCUMENT", 5)
    run_id = start(observer, ex_info)
    info: dict = {}
    beat(observer, run_id, info=info, metrics={"loss": points("loss", list(range(7)),
                                                              [float(i) for i in range(7)])})
    beat(observer, run_id, info=info, metrics={"loss": points("loss", list(range(7, 12)),
                                                              [float(i) for i in range(7, 12)]),
                                               "acc": points("acc", [0], [0.5])})
    parts = list(db.metrics.find({"run_id": run_id, "name": "loss"}).sort("part", 1))
    assert [d.get("part") for d in parts] == [None, 2, 3]
    assert [len(d["steps"]) for d in parts] == [5, 5, 2]
    assert [s for d in parts for s in d["steps"]] == list(range(12))
    assert [v for d in parts for v in d["values"]] == [float(i) for i in range(12)]
    assert all(len(d["timestamps"]) == len(d["steps"]) for d in parts)
    # the front-ends follow info.metrics: one entry per metric, its first document
    stored = db.runs.find_one({"_id": run_id})["info"]
    assert [(m["name"], m["id"]) for m in stored["metrics"]] == [
        ("loss", str(parts[0]["_id"])), ("acc", str(db.metrics.find_one({"name": "acc"})["_id"]))]


def test_million_point_metric_is_stored(observer, db, ex_info):
    """Sacred fails here (its one document passes 16 MB); we store every point."""
    from pytest_sacred.stores.mongo.writer import POINTS_PER_DOCUMENT

    n = POINTS_PER_DOCUMENT * 5
    stamps = [T0] * n
    run_id = start(observer, ex_info)
    observer.pytest_sacred_log_metrics(
        run_id=run_id, info={}, metrics_by_name={
            "loss": {"name": "loss", "steps": list(range(n)), "values": [0.5] * n,
                     "timestamps": stamps}})
    sizes = [len(bson.encode(d)) for d in db.metrics.find({"run_id": run_id})]
    assert len(sizes) == 5 and max(sizes) < 16 * 1024 * 1024
    steps = db.metrics.aggregate([{"$match": {"run_id": run_id}}, {"$unwind": "$steps"},
                                  {"$group": {"_id": None, "n": {"$sum": 1}}}])
    assert next(steps)["n"] == n


# -- GridFS: sources, artifacts, resources ---------------------------------------------------

def test_sources_are_uploaded_once_per_content(observer, db, ex_info, mongo_server,
                                               mongo_db_name):
    start(observer, ex_info)
    start(observer, ex_info)
    other = MongoObserver.from_option(f"{mongo_server.host}:{mongo_server.port}:"
                                      f"{mongo_db_name}")  # no in-memory cache: finds it
    start(other, ex_info)
    path = os.path.join(ex_info["base_dir"], ex_info["sources"][0][0])
    assert db["fs.files"].count_documents({"filename": path}) == 1
    ids = {d["experiment"]["sources"][0][1] for d in db.runs.find()}
    assert len(ids) == 1

    Path(path).write_text(SOURCE + "# changed\n")
    changed = {**ex_info, "sources": [[ex_info["sources"][0][0],
                                       hashlib.md5((SOURCE + "# changed\n").encode())
                                       .hexdigest()]]}
    start(other, changed)
    assert db["fs.files"].count_documents({"filename": path}) == 2
    other.close()


def test_artifacts_are_stored_and_readable(observer, db, ex_info, tmp_path):
    run_id = start(observer, ex_info)
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "curve.csv").write_text("step,loss\n0,1.0\n")
    (tmp_path / "model.bin").write_bytes(bytes(range(256)) * 10)
    observer.pytest_sacred_artifact_event(run_id=run_id, name="plots/curve.csv",
                                          filename=str(tmp_path / "plots" / "curve.csv"),
                                          metadata={"kind": "curve", "a.b": 1},
                                          content_type=None)
    observer.pytest_sacred_artifact_event(run_id=run_id, name="model.bin",
                                          filename=str(tmp_path / "model.bin"), metadata=None,
                                          content_type="application/x-model")
    artifacts = db.runs.find_one({"_id": run_id})["artifacts"]
    assert [a["name"] for a in artifacts] == ["plots/curve.csv", "model.bin"]
    assert all(set(a) == {"name", "file_id"} for a in artifacts)
    fs = gridfs.GridFS(db)
    curve, model = (fs.get(a["file_id"]) for a in artifacts)
    assert curve.filename == f"artifact://runs/{run_id}/plots/curve.csv"
    files = {f["_id"]: f for f in db["fs.files"].find()}
    assert files[curve._id]["contentType"] == "text/csv"
    assert curve.metadata == {"kind": "curve", "a,b": 1}
    assert curve.read() == b"step,loss\n0,1.0\n"
    assert files[model._id]["contentType"] == "application/x-model"
    assert model.read() == bytes(range(256)) * 10


def test_resources_are_uploaded_once(observer, db, ex_info, tmp_path):
    data = tmp_path / "iris.csv"
    data.write_bytes(b"5.1,3.5,1.4,0.2,setosa\n" * 100)
    md5 = hashlib.md5(data.read_bytes()).hexdigest()
    first, second = start(observer, ex_info), start(observer, ex_info)
    for run_id in (first, second):
        observer.pytest_sacred_resource_event(run_id=run_id, filename=str(data))
        assert db.runs.find_one({"_id": run_id})["resources"] == [[str(data), md5]]
    [stored] = db["fs.files"].find({"filename": str(data)})
    assert stored["md5"] == md5
    assert gridfs.GridFS(db).get(stored["_id"]).read() == data.read_bytes()


# -- values ----------------------------------------------------------------------------------

def test_keys_are_escaped_up_front(observer, db, ex_info):
    config = {"lr.decay": 0.5, "$where": 1, "nested": {"a.b": {"$c": 2}}, "seed": 1}
    run_id = start(observer, ex_info, config=config)
    beat(observer, run_id, info={"val.acc": 0.9, 3: "three", "$x": [{"y.z": 1}]},
         result={"top.1": 0.5})
    doc = db.runs.find_one({"_id": run_id})
    assert doc["config"] == {"lr,decay": 0.5, "@where": 1, "nested": {"a,b": {"@c": 2}},
                             "seed": 1}
    assert doc["info"] == {"val,acc": 0.9, "json://3": "three", "@x": [{"y,z": 1}]}
    assert doc["result"] == {"top,1": 0.5}


def test_numpy_and_pandas_values_are_readable(observer, db, ex_info):
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    run_id = start(observer, ex_info)
    info = {"weights": np.arange(3), "matrix": np.eye(2, dtype=np.float32),
            "best": np.float64(0.75), "n": np.int64(7),
            "curve": pd.Series([0.1, 0.2]), "table": pd.DataFrame({"a": [1, 2]}),
            "labelled": pd.Series([1, 2], index=["x", "y"]), "pair": (1, 2)}
    beat(observer, run_id, info=info, result=np.float32(0.5),
         metrics={"loss": points("loss", [0, 1], [np.float64(0.5), np.float32(0.25)])})
    doc = db.runs.find_one({"_id": run_id})
    stored = dict(doc["info"])
    stored.pop("metrics")
    assert stored == {"weights": [0, 1, 2], "matrix": [[1.0, 0.0], [0.0, 1.0]],
                      "best": 0.75, "n": 7, "curve": [0.1, 0.2], "table": {"a": [1, 2]},
                      "labelled": {"x": 1, "y": 2}, "pair": {"py/tuple": [1, 2]}}
    assert doc["result"] == 0.5
    assert db.metrics.find_one({"run_id": run_id})["values"] == [0.5, 0.25]


def test_huge_output_and_info_go_to_gridfs(observer, db, ex_info):
    run_id = start(observer, ex_info)
    line = "epoch {:08d} loss 0.123456789 accuracy 0.987654321 ................\n"
    out = "".join(line.format(i) for i in range(300_000))  # ~20 MB
    assert len(out) > 20_000_000
    info = beat(observer, run_id, info={"small": 1}, out=out,
                metrics={"loss": points("loss", [0], [1.0])})
    doc = db.runs.find_one({"_id": run_id})
    fs = gridfs.GridFS(db)
    assert doc["captured_out"].startswith(out[:1000]) and doc["captured_out"].endswith(out[-1000:])
    assert f"…[{len(out)} bytes in GridFS file {doc['captured_out_file']}]…" in doc["captured_out"]
    stored = fs.get(doc["captured_out_file"])
    assert stored.filename == f"captured_out://runs/{run_id}"
    assert stored.read().decode() == out

    more = out + "final line\n"
    info["big"] = ["x" * 1000] * 13_000  # ~13 MB of info
    beat(observer, run_id, info=info, out=more, result=1.0)
    observer.pytest_sacred_completed_event(run_id=run_id, stop_time=T0, result=1.0)
    doc = db.runs.find_one({"_id": run_id})
    assert doc["status"] == "COMPLETED" and doc["captured_out"].endswith("final line\n")
    assert fs.get(doc["captured_out_file"]).read().decode() == more
    assert not fs.exists(stored._id)  # the older copy is gone
    assert doc["info"]["small"] == 1 and [m["name"] for m in doc["info"]["metrics"]] == ["loss"]
    assert doc["info"]["big"].startswith("…[") and "info_file" in doc
    assert json.loads(fs.get(doc["info_file"]).read())["big"] == info["big"]
    assert len(bson.encode(doc)) < 16 * 1024 * 1024


def test_heartbeat_sends_only_what_changed(mongo_server, mongo_db_name, ex_info):
    from pymongo import monitoring

    class Updates(monitoring.CommandListener):
        commands: list = []

        def started(self, event):
            if event.command_name == "update":
                self.commands.append(event.command["updates"][0]["u"])

        def succeeded(self, event): ...

        def failed(self, event): ...

    listener = Updates()
    with mongo_server.client(event_listeners=[listener]) as client:
        obs = MongoObserver.from_client(client, mongo_db_name)
        run_id = start(obs, ex_info)
        beat(obs, run_id, out="a" * 100_000, info={"x": 1})
        beat(obs, run_id, out="a" * 100_000, info={"x": 1}, at=T0 + timedelta(seconds=10))
        obs.close()
        assert client.admin.command("ping")["ok"]  # from_client: not closed by the observer
    assert set(listener.commands[-2]["$set"]) == {"heartbeat", "captured_out", "info",
                                                  "result"}
    assert set(listener.commands[-1]["$set"]) == {"heartbeat"}


# -- options, errors, passwords ----------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("exp", ("mongodb://localhost:27017/", "exp", None, None)),
    ("127.0.0.1:27018:exp", ("mongodb://127.0.0.1:27018/", "exp", None, None)),
    ("127.0.0.1:27018", ("mongodb://127.0.0.1:27018/", "sacred", None, None)),
    ("exp.my_runs!40", ("mongodb://localhost:27017/", "exp", "my_runs", 40)),
    ("mongodb://u:p@127.0.0.1/exp?authSource=admin",
     ("mongodb://u:p@127.0.0.1/exp?authSource=admin", "exp", None, None)),
    ("mongodb://127.0.0.1:1,127.0.0.1:2/", ("mongodb://127.0.0.1:1,127.0.0.1:2/", "sacred",
                                            None, None)),
    ("mongodb+srv://u:p@cluster0.example.net/exp",
     ("mongodb+srv://u:p@cluster0.example.net/exp", "exp", None, None)),
])
def test_option_forms(value, expected):
    target = parse_target(value)
    assert (target.url, target.db_name, target.collection, target.priority) == expected


@pytest.mark.parametrize("value, message", [
    ("", "is not understood"),
    ("host:notaport:db", "is not understood"),
    ("a:1:b:c", "is not understood"),
    ("user:hunter2@host:1:db", "is not understood"),
    ("bad$name", "not a valid MongoDB database name"),
    ("db.fs.files", "cannot hold runs"),
    ("http://127.0.0.1/db", "unknown scheme"),
    ("mongodb://", "names no host"),
    ("mongodb://127.0.0.1:99999/db", "not a valid MongoDB URL"),
    ("mongodb://127.0.0.1/db?frobnicate=1", "not a valid MongoDB URL"),
    ("mongodb://alice:hunter2@127.0.0.1:1/db?frobnicate=1", "not a valid MongoDB URL"),
])
def test_malformed_values_give_readable_errors(value, message):
    """Forms are checked when the observer is built, what pymongo checks at open()."""
    with pytest.raises(StoreError, match=message) as caught:
        MongoObserver.from_option(value, collection=None).open()
    assert "hunter2" not in str(caught.value)
    assert "expected DB, HOST:PORT" in str(caught.value) or "choose another" in str(caught.value)


def test_unreachable_server_fails_quickly_at_open(monkeypatch):
    from pytest_sacred.stores.mongo import connection

    monkeypatch.setattr(connection, "_SERVER_SELECTION_MS", 800)  # the default is 5 s
    port = free_port()  # nothing listens there
    obs = MongoObserver.from_option(f"mongodb://alice:hunter2@127.0.0.1:{port}/exp")
    with pytest.raises(StoreError, match="cannot reach MongoDB at") as caught:
        obs.open()
    # pymongo gave up after the short server selection timeout in force (the message reads
    # it from the client's options), not after its 30 s default
    assert "within 0.8 s" in str(caught.value)
    assert f"mongodb://alice:***@127.0.0.1:{port}/exp" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    obs.close()


def test_timeout_from_the_url_is_kept():
    port = free_port()
    obs = MongoObserver(f"mongodb://127.0.0.1:{port}/exp?serverSelectionTimeoutMS=300")
    with pytest.raises(StoreError) as caught:
        obs.open()
    assert "within 0.3 s" in str(caught.value)
    obs.close()


def test_location_and_name(observer, mongo_server, mongo_db_name):
    assert observer.name == "mongo" and observer.priority == 30
    assert observer.location(7) == \
        f"mongodb://{mongo_server.host}:{mongo_server.port}/{mongo_db_name}.runs/7"


def test_login(mongo_auth_server, ex_info, tmp_path):
    """A real login; the password shows up nowhere: messages, location, documents."""
    auth = mongo_auth_server
    secret = auth.password
    obs = MongoObserver.from_option(auth.url("exp"), collection="my_runs")
    obs.open()
    assert obs.location(1) == f"mongodb://alice:***@{auth.host}:{auth.port}/exp.my_runs/1"
    options = {"--sacred-mongo": auth.url("exp")}  # as if the plugin forgot to redact it
    run_id = obs.pytest_sacred_allocate_id(ex_info=ex_info, config=CONFIG, meta_info=meta())
    obs.pytest_sacred_started_event(run_id=run_id, ex_info=ex_info, command="test_train",
                                    host_info=HOST_INFO, start_time=T0, config=CONFIG,
                                    meta_info=meta(options=options))
    beat(obs, run_id, out="hello\n", metrics={"loss": points("loss", [0], [1.0])})
    obs.pytest_sacred_completed_event(run_id=run_id, stop_time=T0, result=1)
    obs.close()
    with auth.server.client(username=auth.user, password=secret) as client:
        db = client.exp
        doc = db.my_runs.find_one({"_id": run_id})
        assert doc["status"] == "COMPLETED"
        assert doc["meta"]["options"]["--sacred-mongo"] == redact_url(auth.url("exp"))
        everything = [*db.my_runs.find(), *db.metrics.find(), *db["fs.files"].find()]
        assert secret not in repr(everything)


def test_bad_login(mongo_auth_server):
    auth = mongo_auth_server
    wrong = MongoObserver.from_option(auth.url("exp", password="not-" + auth.password))
    with pytest.raises(StoreError, match="refused the login") as caught:
        wrong.open()
    assert auth.password not in str(caught.value) and "not-" not in str(caught.value)
    no_source = MongoObserver(f"mongodb://alice:{auth.password}@{auth.host}:{auth.port}/exp")
    with pytest.raises(StoreError, match="authSource=admin") as caught:
        no_source.open()
    assert auth.password not in str(caught.value)
    anonymous = MongoObserver(f"{auth.host}:{auth.port}:exp")
    with pytest.raises(StoreError, match="requires authentication"):
        anonymous.open()
    for obs in (wrong, no_source, anonymous):
        obs.close()


@pytest.mark.system  # a fresh interpreter
def test_building_the_observer_does_not_import_pymongo():
    code = ("import sys, pytest_sacred.stores.mongo.writer as m; m.MongoObserver.from_option("
            "'mongodb://h:1/db'); print(any(name.split('.')[0] in "
            "('pymongo', 'bson', 'gridfs') for name in sys.modules))")
    src = str(Path(pytest_sacred.__file__).parents[1])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": src}, check=True)
    assert done.stdout.strip() == "False"


def test_redact_url():
    assert redact_url("mongodb://alice:hunter2@h:1/db") == "mongodb://alice:***@h:1/db"
    assert redact_url("mongodb://alice:p%40ss@h1:1,h2:2/db?authSource=admin") == \
        "mongodb://alice:***@h1:1,h2:2/db?authSource=admin"
    assert redact_url("mongodb+srv://alice:a@b@cluster.example.net/") == \
        "mongodb+srv://alice:***@cluster.example.net/"
    assert redact_url("mongodb://h/db?tls=true&tlsCertificateKeyFilePassword=hunter2") == \
        "mongodb://h/db?tls=true&tlsCertificateKeyFilePassword=***"
    assert redact_url("mongodb://alice@h/db") == "mongodb://alice@h/db"
    assert redact_url("mongodb://h:1/db") == "mongodb://h:1/db"
    assert redact_url("alice:hunter2@h:1:db") == "alice:***@h:1:db"


# -- a reader: Incense ------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Incense's own, with pymongo 4.x
def test_incense_reads_our_runs(observer, mongo_server, mongo_db_name, ex_info, tmp_path):
    incense = pytest.importorskip("incense")
    pd = pytest.importorskip("pandas")
    run_id = start(observer, ex_info)
    info: dict = {"note": "tuned", "pair": (1, 2)}
    beat(observer, run_id, info=info, out="epoch 0\n",
         metrics={"loss": points("loss", [0, 1], [1.0, 0.5])})
    beat(observer, run_id, info=info, out="epoch 0\nepoch 1\n",
         metrics={"loss": points("loss", [2], [0.25])})
    (tmp_path / "curve.csv").write_text("step,loss\n0,1.0\n1,0.5\n")
    observer.pytest_sacred_artifact_event(run_id=run_id, name="curve.csv",
                                          filename=str(tmp_path / "curve.csv"), metadata=None,
                                          content_type=None)
    observer.pytest_sacred_completed_event(run_id=run_id, stop_time=T0, result=0.25)

    loader = incense.ExperimentLoader(mongo_uri=mongo_server.url, db_name=mongo_db_name)
    exp = loader.find_by_id(run_id)
    assert exp.config["lr"] == 0.01 and exp.config["optimizer"]["name"] == "adam"
    assert exp.experiment.name == "train" and exp.status == "COMPLETED" and exp.result == 0.25
    assert exp.info["note"] == "tuned" and exp.info["pair"] == (1, 2)  # jsonpickle restored
    assert [m["name"] for m in exp.info["metrics"]] == ["loss"]
    loss = exp.metrics["loss"]
    assert isinstance(loss, pd.Series) and loss.name == "loss"
    assert list(loss.index) == [0, 1, 2] and list(loss) == [1.0, 0.5, 0.25]
    artifact = exp.artifacts["curve.csv"]
    assert type(artifact).__name__ == "CSVArtifact"
    assert list(artifact.render()["loss"]) == [1.0, 0.5]  # a pandas DataFrame
    raw = artifact.as_type(incense.artifact.Artifact)  # rewinds the GridFS file
    assert raw.content == b"step,loss\n0,1.0\n1,0.5\n"
    table = loader.find_by_name("train").project(on=["config.lr", {"metrics.loss": min}])
    assert list(table.columns) == ["lr", "loss_min"]
    assert table.loc[run_id].tolist() == [0.01, 0.25]


# -- through the plugin ---------------------------------------------------------------------

def test_plugin_stores_runs_in_mongo(pytester, mongo_server, mongo_db_name, db):
    pytester.makepyfile(test_exp="""
        import pytest
        from pytest_sacred import config

        @config
        def lr():
            return 0.1

        @pytest.mark.experiment("e2e")
        @pytest.mark.parametrize("width", [1, 2])
        def test_train(lr, width, sacred_run, tmp_path):
            for step in range(3):
                sacred_run.log_scalar("loss", lr / (step + 1), step=step)
            (tmp_path / "out.txt").write_text("hello")
            print("training", width)
            return lr * width
    """)
    result = pytester.runpytest_subprocess(
        f"--sacred-mongo={mongo_server.host}:{mongo_server.port}:{mongo_db_name}")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([f"*mongodb://{mongo_server.host}:{mongo_server.port}/"
                                 f"{mongo_db_name}.runs/2*"])
    runs = list(db.runs.find(sort=[("_id", 1)]))
    assert [(r["_id"], r["status"], r["result"], r["config"]["width"]) for r in runs] == \
        [(1, "COMPLETED", 0.1, 1), (2, "COMPLETED", 0.2, 2)]
    for run in runs:
        assert run["format"] == FORMAT and run["captured_out"].startswith("training")
        [metric] = run["info"]["metrics"]
        assert db.metrics.find_one({"_id": ObjectId(metric["id"])})["values"][0] == 0.1
        [artifact] = run["artifacts"]
        assert gridfs.GridFS(db).get(artifact["file_id"]).read() == b"hello"
    assert db["fs.files"].count_documents({"filename": {"$regex": r"test_exp\.py$"}}) == 1


def test_plugin_stops_before_running_when_mongo_is_unreachable(pytester):
    pytester.makepyfile(test_exp="""
        import pytest

        @pytest.mark.experiment
        def test_never():
            raise AssertionError("ran")
    """)
    result = pytester.runpytest_subprocess(
        f"--sacred-mongo=mongodb://alice:hunter2@127.0.0.1:{free_port()}/db"
        "?serverSelectionTimeoutMS=300")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*cannot reach MongoDB at 'mongodb://alice:***@127.0.0.1:*"])
    assert "hunter2" not in result.stdout.str() + result.stderr.str()


# -- round trips -----------------------------------------------------------------------------

def _command_counter():
    """A pymongo listener keeping the names of the commands a client sends, in order."""
    from pymongo import monitoring

    class Counter(monitoring.CommandListener):
        def __init__(self):
            self.names: list[str] = []

        def started(self, event):
            self.names.append(event.command_name)

        def succeeded(self, event):
            pass

        def failed(self, event):
            pass

    return Counter()


def test_a_short_run_with_three_metrics_takes_few_commands(mongo_server, mongo_db_name,
                                                           ex_info):
    """allocate, started, one beat with 3 metrics, artifact, completed: the metrics go in one
    bulk write and the beat rides along with the run's next update, so batching that
    regresses shows up as more commands."""
    from pymongo import MongoClient

    counter = _command_counter()
    client = MongoClient(mongo_server.host, mongo_server.port, event_listeners=[counter])
    obs = MongoObserver.from_client(client, mongo_db_name)
    obs.defer_beat_seconds = 60.0  # the default's behaviour, on a slow machine too
    obs.open()
    start(obs, ex_info)  # sources uploaded once for the session
    counter.names.clear()
    run_id = start(obs, ex_info)
    info = beat(obs, run_id, info={}, metrics={
        name: points(name, [0, 1, 2], [0.1, 0.2, 0.3]) for name in ("loss", "acc", "lr")})
    obs.pytest_sacred_completed_event(run_id=run_id, stop_time=T0, result=1)
    # insert (allocate), update (started fills the placeholder), update (metrics bulk),
    # update (completed, with the beat)
    assert counter.names == ["insert", "update", "update", "update"], counter.names
    doc = client[mongo_db_name].runs.find_one({"_id": run_id})
    assert doc["status"] == "COMPLETED" and doc["heartbeat"] is not None
    assert [m["name"] for m in doc["info"]["metrics"]] == ["loss", "acc", "lr"] and info == {}
    assert client[mongo_db_name].metrics.count_documents({"run_id": run_id}) == 3
    client.close()


def test_an_artifact_is_two_inserts_and_reads_back_through_gridfs(mongo_server, mongo_db_name,
                                                                  ex_info, tmp_path):
    """Chunks then the fs.files document, GridFS's layout without its per-upload index
    lookups; a retried upload replaces a partial one and keeps a complete one."""
    import gridfs
    from pymongo import MongoClient

    counter = _command_counter()
    client = MongoClient(mongo_server.host, mongo_server.port, event_listeners=[counter])
    obs = MongoObserver.from_client(client, mongo_db_name)
    obs.open()
    run_id = start(obs, ex_info)
    data = bytes(range(256)) * 2100  # three chunks
    (tmp_path / "model.bin").write_bytes(data)
    obs.pytest_sacred_artifact_event(run_id=run_id, name="warm.bin",
                                     filename=str(tmp_path / "model.bin"), metadata=None,
                                     content_type=None)  # indexes ensured once
    counter.names.clear()
    obs.pytest_sacred_artifact_event(run_id=run_id, name="model.bin",
                                     filename=str(tmp_path / "model.bin"),
                                     metadata={"epoch": 3}, content_type=None)
    assert counter.names == ["insert", "insert", "update"], counter.names
    db = client[mongo_db_name]
    doc = db.runs.find_one({"_id": run_id})
    [ref] = [a for a in doc["artifacts"] if a["name"] == "model.bin"]
    stored = gridfs.GridFS(db).get(ref["file_id"])
    assert stored.read() == data and stored.metadata == {"epoch": 3}
    assert stored.filename == f"artifact://runs/{run_id}/model.bin"
    assert db["fs.files"].find_one({"_id": ref["file_id"]})["contentType"] == \
        "application/octet-stream"
    # a retry after a partial upload (chunks written, fs.files not): replaced, stored once
    from bson import ObjectId

    from pytest_sacred.stores.mongo.gridfs import GridFiles

    partial = ObjectId()
    db["fs.chunks"].insert_one({"files_id": partial, "n": 0, "data": b"half"})
    files = GridFiles(db)
    with open(tmp_path / "model.bin", "rb") as f:
        files.put(f, partial, "retried", retry=True)
    with open(tmp_path / "model.bin", "rb") as f:
        files.put(f, partial, "retried", retry=True)  # complete: kept as it is
    assert gridfs.GridFS(db).get(partial).read() == data
    assert db["fs.chunks"].count_documents({"files_id": partial}) == 3
    assert db["fs.files"].count_documents({"_id": partial}) == 1
    client.close()


# -- runs a killed task could not end ----------------------------------------------------------

def test_end_abandoned_ends_only_a_running_run(observer, db, ex_info):
    """A Slurm task killed at its time limit: the submitting session ends its RUNNING run
    TIMEOUT with the reason; a run that ended itself (with its own reason) is left alone."""
    running, ended = start(observer, ex_info), start(observer, ex_info)
    observer.pytest_sacred_heartbeat_event(run_id=ended, info={"ended_by": "its own reason"},
                                           captured_out="", beat_time=T0, result=None)
    observer.pytest_sacred_interrupted_event(run_id=ended, interrupt_time=T0, status="TIMEOUT")
    for run_id in (running, ended):
        observer.end_abandoned(run_id, "TIMEOUT", "Slurm task 7_1 ended TIMEOUT")
    doc = db.runs.find_one({"_id": running})
    assert doc["status"] == "TIMEOUT" and doc["stop_time"] is not None
    assert doc["info"]["ended_by"] == "Slurm task 7_1 ended TIMEOUT"
    assert "fail_trace" not in doc or doc["fail_trace"] is None
    doc = db.runs.find_one({"_id": ended})
    assert doc["status"] == "TIMEOUT" and doc["info"] == {"ended_by": "its own reason"}


def test_metric_points_beyond_64_bits_read_back_as_logged(observer, db, ex_info, monkeypatch):
    """BSON has no integer beyond 64 bits: the arrays get the float (what Omniboard plots)
    and the document's ``exact`` the point as logged, also in continuation documents."""
    from pytest_sacred.stores.mongo import writer as mongo
    from pytest_sacred.stores.mongo.reader import MongoReader

    monkeypatch.setattr(mongo, "POINTS_PER_DOCUMENT", 3)
    run_id = start(observer, ex_info)
    steps = [0, 1, 2**64, 3, 4, 5]
    values = [0.5, 10**400, 1, 2**63, -(2**63), 2.5]
    stamps = [T0] * len(steps)
    beat(observer, run_id, metrics={"m": {"name": "m", "steps": steps[:2], "values": values[:2],
                                          "timestamps": stamps[:2]}})
    beat(observer, run_id, metrics={"m": {"name": "m", "steps": steps[2:], "values": values[2:],
                                          "timestamps": stamps[2:]}})
    parts = list(db.metrics.find({"run_id": run_id, "name": "m"}).sort("part", 1))
    assert [d["values"] for d in parts] == [[0.5, float("inf"), 1], [2.0**63, -(2**63), 2.5]]
    assert parts[0]["steps"][2] == 2.0**64
    assert parts[0]["exact"] == {"1": json.dumps([1, 10**400]), "2": json.dumps([2**64, 1])}
    assert parts[1]["exact"] == {"0": json.dumps([3, 2**63])}
    observer.pytest_sacred_completed_event(run_id=run_id, stop_time=T0, result=None)
    reader = MongoReader(observer.connection)
    metric = reader.metric(run_id, "m")
    assert metric.steps == steps and metric.values == values
    summary = reader.metric_summaries([reader.get_run(run_id)])[run_id]["m"]
    assert (summary.last, summary.min, summary.max) == (2.5, -(2**63), 10**400)
