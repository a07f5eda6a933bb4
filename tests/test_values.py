"""Values a run cannot store as they are: stored in a converted form with a warning naming
the entry, the run ends, every store stays readable, config entries are refused."""

from __future__ import annotations

import json
import math
import sys

import pytest
from helpers import read_run, stored_runs

pytest.importorskip("numpy")


DEEP = '''
def deep(levels, leaf=1):
    value = leaf
    for _ in range(levels):
        value = [value]
    return value
'''

UNSTORABLE = '''
import numpy as np
import pytest
''' + DEEP + '''

@pytest.mark.experiment
def test_lambda(sacred_run):
    return lambda x: x

@pytest.mark.experiment
def test_numpy_scalar(sacred_run):
    return np.float64(2.5)

@pytest.mark.experiment
def test_numpy_array(sacred_run):
    return np.arange(3)

@pytest.mark.experiment
def test_lambda_in_info(sacred_run):
    sacred_run.info["x"] = {"y": lambda: 1, "z": 1}
    sacred_run.info["ld"] = np.longdouble(1.5)

@pytest.mark.experiment
def test_deep_result(sacred_run):
    return deep(400)

@pytest.mark.experiment
def test_deep_info(sacred_run):
    sacred_run.info["d"] = deep(400)

@pytest.mark.experiment
def test_very_deep_numpy_result(sacred_run):
    return deep(3000, np.arange(2))

@pytest.mark.experiment
def test_artifact_metadata(sacred_run, tmp_path):
    path = tmp_path.parent / "a.txt"
    path.write_text("a")
    with open(path) as f:
        sacred_run.add_artifact(path, metadata={"f": f, "n": 1})
'''


def test_unstorable_values_end_their_runs_stored_as_their_repr(pytester, runs_dir) -> None:
    pytester.makepyfile(test_unstorable=UNSTORABLE)
    result = pytester.runpytest("-p", "no:randomly", "-W", "always")
    result.assert_outcomes(passed=8)
    assert result.ret == 0, result.stdout.str()  # nothing spilled, nothing lost: not 6
    assert not (runs_dir / "_spill").exists()
    out = result.stdout.str()
    for entry in ("result cannot be stored (neither JSON nor jsonpickle can store a "
                  "builtins.function)",
                  "info['x']['y'] cannot be stored",
                  "info['ld'] cannot be stored (neither JSON nor jsonpickle can store a "
                  "numpy.longdouble",
                  "result[0][0][0][0]...(58 levels)...[0][0] cannot be stored (nested deeper "
                  "than 64 levels)",
                  "info['d'][0][0][0]...(58 levels)...[0][0] cannot be stored",
                  "artifact 'a.txt' metadata['f'] cannot be stored"):
        assert entry in out, entry
    assert "UnstorableValueWarning" in out
    runs = _by_name(runs_dir)
    assert {run["status"] for run in runs.values()} == {"COMPLETED"}
    assert runs["lambda"]["result"].startswith("<function test_lambda.<locals>.<lambda>")
    assert runs["numpy_scalar"]["result"] == 2.5
    assert runs["numpy_array"]["result"] == {"py/object": "numpy.ndarray", "dtype": "int64",
                                             "values": [0, 1, 2]}
    info = json.loads((runs_dir / str(runs["lambda_in_info"]["_id"]) / "info.json").read_text())
    assert info["x"]["z"] == 1
    assert info["x"]["y"].startswith("<function test_lambda_in_info.<locals>.<lambda>")
    assert info["ld"] == "np.longdouble('1.5')"
    result64 = runs["deep_result"]["result"]
    for _ in range(63):
        [result64] = result64
    assert result64 == ["[" * 336 + "1" + "]" * 336]
    assert runs["very_deep_numpy_result"]["status"] == "COMPLETED"


def check_unstorable_read_back(store: str, ignore: frozenset[str] | set[str] = frozenset()
                               ) -> None:
    """The runs of ``UNSTORABLE``, read back through our reader of ``store``: each ended,
    each value that cannot be stored as its repr, the same on every store. Runs of the
    experiments named in ``ignore`` are left out."""
    from pytest_sacred.readers import open_reader

    reader = open_reader(store)
    runs = {run.experiment["name"]: reader.get_run(run.id) for run in reader.list_runs()
            if run.experiment["name"] not in ignore}
    assert len(runs) == 8 and {run.status for run in runs.values()} == {"COMPLETED"}, runs
    assert runs["lambda"].result.startswith("<function test_lambda.<locals>.<lambda>")
    assert runs["numpy_scalar"].result == 2.5
    info = runs["lambda_in_info"].info
    assert info["x"]["z"] == 1
    assert info["x"]["y"].startswith("<function test_lambda_in_info.<locals>.<lambda>")
    assert info["ld"] == "np.longdouble('1.5')"
    deepest = runs["deep_result"].result
    for _ in range(63):
        [deepest] = deepest
    assert deepest == ["[" * 336 + "1" + "]" * 336]
    assert runs["very_deep_numpy_result"].result is not None


def _by_name(runs_dir) -> dict[str, dict]:
    """The stored runs by experiment name, each with its id under ``_id``."""
    return {run["experiment"]["name"]: {**run, "_id": run_id}
            for run_id, run in stored_runs(runs_dir).items()}


def test_the_summary_row_of_a_result_whose_repr_fails(pytester, runs_dir) -> None:
    pytester.makepyfile(test_r='''
import pytest

class Odd:
    def __repr__(self):
        raise RuntimeError("no repr")

@pytest.mark.experiment
def test_odd(sacred_run):
    return Odd()
''')
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*COMPLETED*<Odd object; repr faile…*"])
    [run] = stored_runs(runs_dir).values()
    assert run["status"] == "COMPLETED"


@pytest.mark.parametrize("value, message", [
    ("deep(400)", "config entry 'layers' cannot be stored: layers['a'][0][0][0]...(58 "
                  "levels)...[0][0]: nested deeper than 64 levels; use a JSON value or one "
                  "jsonpickle can restore, nested at most 64 levels"),
    ("deep(5000)", "config entry 'layers' cannot be stored: layers['a'][0][0][0]...(58 "
                   "levels)...[0][0]: nested deeper than 64 levels"),
])
def test_a_deep_config_is_a_usage_error_naming_the_entry(pytester, runs_dir, value,
                                                         message) -> None:
    pytester.makepyfile(test_c=DEEP + f'''
import pytest
from pytest_sacred import config

@config
def layers():
    return {{"a": {value}}}

@config
def transform():
    return open

@pytest.mark.experiment
def test_deep(layers):
    pass
''')
    result = pytester.runpytest("-p", "no:randomly")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    assert message in result.stderr.str()
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert stored_runs(runs_dir) == {}


def test_nan_inf_and_big_ints_read_back_as_written(pytester, runs_dir) -> None:
    """The file store's readers (orjson when installed) read what json wrote."""
    pytest.importorskip("orjson")
    pytester.makepyfile(test_n='''
import pytest

@pytest.mark.experiment
def test_n(sacred_run):
    sacred_run.info.update(nan=float("nan"), inf=float("inf"), big=2**70, neg=-2**64 - 1,
                           odd="\\ud800")
    sacred_run.log_scalar("m", float("nan"))
    sacred_run.log_scalar("m", 2**65)
    return float("-inf")
''')
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=1)
    from pytest_sacred.readers.api import get_run, load_runs

    run = get_run(runs_dir, 1)
    assert run.status == "COMPLETED" and run.result == -math.inf
    assert math.isnan(run.info["nan"]) and run.info["inf"] == math.inf
    assert run.info["big"] == 2**70 and type(run.info["big"]) is int
    assert run.info["neg"] == -2**64 - 1 and run.info["odd"] == "\ud800"
    points = run.metric_points["m"]
    assert points.steps == [0, 1] and math.isnan(points.values[0])
    assert points.values[1] == 2**65 and type(points.values[1]) is int
    assert len(load_runs(runs_dir)) == 1
    listed = pytester.run(sys.executable, "-m", "pytest_sacred", "ls", str(runs_dir))
    assert listed.ret == 0, listed.stderr.str()
    listed.stdout.fnmatch_lines(["*1*n*COMPLETED*-inf*"])


def test_a_config_entry_that_cannot_be_stored_and_a_deep_one(pytester, runs_dir) -> None:
    """The first entry found is named; nothing is stored, nothing spilled."""
    pytester.makepyfile(test_c=DEEP + '''
import pytest
from pytest_sacred import config

@config
def layers():
    return deep(300)

@config
def fn():
    return lambda: 1

@pytest.mark.experiment
def test_both(layers, fn):
    pass
''')
    result = pytester.runpytest("-p", "no:randomly")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*config entry '*' cannot be stored*"])
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_numpy_results_end_their_runs_on_the_file_store(pytester, runs_dir) -> None:
    """``indented`` of a numpy value (a float subclass) in run.json: no ambiguous truth."""
    pytester.makepyfile(test_np='''
import numpy as np
import pytest

@pytest.mark.experiment
@pytest.mark.parametrize("kind", ["f64", "i64", "empty", "bool"])
def test_np(sacred_run, kind):
    return {"f64": np.float64(2.5), "i64": np.int64(3), "empty": np.zeros(0),
            "bool": np.bool_(True)}[kind]
''')
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=4)
    assert result.ret == 0
    results = sorted(json.dumps(read_run(runs_dir, i)["result"], sort_keys=True)
                     for i in range(1, 5))
    assert results == sorted([
        "2.5", '{"dtype": "int64", "py/object": "numpy.int64", "value": 3}',
        '{"dtype": "float64", "py/object": "numpy.ndarray", "shape": [0], "values": []}',
        '{"dtype": "bool", "py/object": "numpy.bool", "value": true}'])


SPILLED = '''
import os
import signal
import socket
import time

import numpy as np
import pymongo
import pytest


@pytest.mark.experiment("a_first")
def test_a_first(sacred_run):
    # the store goes away for good once it holds this run: the rest of it is spilled
    with pymongo.MongoClient(os.environ["MONGO_URL"]) as client:
        deadline = time.monotonic() + 30
        while not client.spilled.runs.find_one({"_id": sacred_run._id}):
            assert time.monotonic() < deadline, "the run never reached the store"
            time.sleep(0.05)
    os.kill(int(os.environ["KILL_PID"]), signal.SIGKILL)
    while True:  # gone once its port refuses (the kernel closes its sockets)
        try:
            socket.create_connection(("127.0.0.1", int(os.environ["MONGO_PORT"])), 1).close()
        except OSError:
            break
        time.sleep(0.01)
    sacred_run.log_scalar("loss", 0.5)
    sacred_run.info["f"] = lambda: 1
    return np.float64(2.5)


@pytest.mark.experiment("b_after")
@pytest.mark.parametrize("how", ["passes", "fails", "skips"])
def test_b_after(sacred_run, tmp_path, how):
    sacred_run.log_scalar("loss", 0.25, step=3)
    sacred_run.info["when"] = how
    (tmp_path / "model.txt").write_text("weights " + how)
    resource = tmp_path.parent / "data.csv"
    resource.write_text("x,y")
    sacred_run.add_resource(resource)
    print("out of", how)
    if how == "fails":
        raise ValueError("boom")
    if how == "skips":
        pytest.skip("not today")
    return lambda: 2
'''


#: a killed server is given up on after 1 s rather than pymongo's 5 s per write: the spill,
#: not the wait, is what the test is about
GONE_SOON = "serverSelectionTimeoutMS=1000"


def test_every_kind_of_spilled_event_replays(pytester, runs_dir, tmp_path, monkeypatch) -> None:
    """A MongoDB store killed mid-session: every later event goes to the spill file
    (values that cannot be stored as their repr), and ``pytest-sacred replay`` writes
    each kind of event into the store once it is back; a queued run's spill replays
    into a file store."""
    pytest.importorskip("pymongo")
    pytest.importorskip("secantus", reason="secantusdb is not installed (test extra)")
    from mongo_server import start_server

    data = tmp_path / "mongo-data"
    server = start_server(data, "--sync-on-commit")
    try:
        pytester.makepyfile(test_spilled=SPILLED)
        monkeypatch.setenv("KILL_PID", str(server.process.pid))
        monkeypatch.setenv("MONGO_URL", server.url)
        monkeypatch.setenv("MONGO_PORT", str(server.port))
        result = pytester.runpytest_subprocess(
            f"--sacred-mongo={server.url}spilled?{GONE_SOON}", "--sacred-store-retry=0.5",
            "--sacred-heartbeat=0.1", "-p", "no:randomly")
    finally:
        server.stop()
    out = result.stdout.str()
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    [spill] = (runs_dir / "_spill").glob("mongo-*.jsonl")
    assert f"python -m pytest_sacred replay {spill}" in out
    hooks = {json.loads(line)["hook"] for line in spill.read_text().splitlines()[1:]}
    assert hooks >= {f"pytest_sacred_{kind}" for kind in (
        "started_event", "heartbeat_event", "log_metrics", "completed_event", "failed_event",
        "interrupted_event", "artifact_event", "resource_event")}, hooks

    again = start_server(data, "--sync-on-commit")  # the same data, back on another port
    try:
        replayed = pytester.run(sys.executable, "-m", "pytest_sacred", "replay", str(spill),
                                "--store", f"{again.host}:{again.port}:spilled")
        assert replayed.ret == 0, replayed.stdout.str() + replayed.stderr.str()
        assert "ERROR" not in replayed.stdout.str()
        with again.client() as client:
            runs = {(d["experiment"]["name"], d["status"]): d for d in client.spilled.runs.find()}
            artifacts = {f["filename"]: client.spilled.fs.chunks.find_one(
                {"files_id": f["_id"]})["data"] for f in client.spilled.fs.files.find()}
    finally:  # its data goes with tmp_path: killed rather than its 2 s shutdown
        again.process.kill()
        again.process.wait()
        again.stop()
    assert sorted(runs) == [("a_first", "COMPLETED"), ("b_after", "COMPLETED"),
                            ("b_after", "FAILED"), ("b_after", "SKIPPED")]
    first = runs["a_first", "COMPLETED"]
    assert first["result"] == 2.5 and first["info"]["f"].startswith("<function")
    passed = runs["b_after", "COMPLETED"]
    assert passed["result"].startswith("<function test_b_after.<locals>.<lambda>")
    assert "out of passes" in passed["captured_out"]
    assert [a["name"] for a in passed["artifacts"]] == ["model.txt"]
    assert b"weights passes" in artifacts.values()
    assert passed["resources"][0][0].endswith("data.csv")
    assert "ValueError: boom" in "".join(runs["b_after", "FAILED"]["fail_trace"])

    # a queued run's first event, spilled: the store goes away after the first is queued
    # (spilled at its first failed write: the retries were the first session's)
    pytester.makeconftest("""
import os, signal, socket, time

import pymongo

def pytest_runtest_teardown(item):
    if os.environ.get("KILL_PID"):
        # the first queued run reaches the store (its write queue is a thread), then it dies
        with pymongo.MongoClient(os.environ["MONGO_URL"]) as client:
            deadline = time.monotonic() + 30
            while not client.spilled.runs.find_one() and time.monotonic() < deadline:
                time.sleep(0.02)
        os.kill(int(os.environ.pop("KILL_PID")), signal.SIGKILL)
        while True:  # gone once its port refuses
            try:
                socket.create_connection(("127.0.0.1", int(os.environ["MONGO_PORT"])), 1).close()
            except OSError:
                break
            time.sleep(0.01)
""")
    server = start_server(":memory:")
    try:
        monkeypatch.setenv("KILL_PID", str(server.process.pid))
        monkeypatch.setenv("MONGO_URL", server.url)
        monkeypatch.setenv("MONGO_PORT", str(server.port))
        queued = pytester.runpytest_subprocess(
            f"--sacred-mongo={server.url}spilled?{GONE_SOON}", "--sacred-queue",
            "--sacred-store-retry=0", "-p", "no:randomly", "-k", "passes or fails")
    finally:
        server.stop()
    [queued_spill] = set((runs_dir / "_spill").glob("mongo-*.jsonl")) - {spill}
    assert "pytest_sacred_queued_event" in queued_spill.read_text(), queued.stdout.str()
    target = tmp_path / "replayed"
    replayed = pytester.run(sys.executable, "-m", "pytest_sacred", "replay", str(queued_spill),
                            "--store", str(target))
    assert replayed.ret == 0, replayed.stdout.str() + replayed.stderr.str()
    [queued_run] = stored_runs(target).values()
    assert queued_run["status"] == "QUEUED"


# -- the normalisation itself ------------------------------------------------------------------


def test_normalize_names_each_replaced_part_and_keeps_the_rest() -> None:
    import enum

    import numpy as np

    from pytest_sacred.serialize import MAX_DEPTH, normalize

    class Level(enum.IntEnum):
        HIGH = 2

    def deep(levels):
        value = 1
        for _ in range(levels):
            value = [value]
        return value

    plain = {"a": [1, 2.5, None, "x"], "b": {"c": True}}
    assert normalize(plain, "info") == (plain, []) and normalize(plain, "info")[0] is plain
    value, replaced = normalize({"ok": (1, np.int64(2)), "f": lambda: 0, 3: {"g": open},
                                 "level": Level.HIGH, "x": np.float64(0.5),
                                 "ld": np.longdouble(1.5), "deep": deep(MAX_DEPTH)}, "info")
    assert [r.entry for r in replaced] == [
        "info['f']", "info['ld']", "info['deep'][0][0][0]...(58 levels)...[0][0]"]
    assert all("its repr is stored instead" in r.message() for r in replaced)
    assert value["ok"] == (1, np.int64(2)) and value[3] == {"g": open}
    assert value["f"].startswith("<function test_normalize_names")
    assert type(value["level"]) is int and type(value["x"]) is float
    assert value["ld"] == "np.longdouble('1.5')"
    assert normalize(deep(MAX_DEPTH - 1), "result") == (deep(MAX_DEPTH - 1), [])
    # a tuple counts two levels: {"py/tuple": [...]} in JSON
    assert normalize(_nested_tuples(MAX_DEPTH // 2), "result")[1] == []
    [too_deep] = normalize(_nested_tuples(MAX_DEPTH // 2 + 1), "result")[1]
    assert too_deep.reason == "nested deeper than 64 levels"


def _nested_tuples(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = (value,)
    return value


def test_check_storable_refuses_naming_the_part() -> None:
    from pytest_sacred.serialize import NotSerializableError, check_storable

    check_storable({"lr": 0.1, "layers": (1, 2)}, "optimizer")
    with pytest.raises(NotSerializableError, match=r"optimizer\['f'\]: neither JSON nor "
                                                   r"jsonpickle can store a builtins.function"):
        check_storable({"lr": 0.1, "f": lambda: 0}, "optimizer")


def test_jsonpickles_reserved_keys_in_an_encoded_value_are_its_repr_not_dropped() -> None:
    """jsonpickle leaves the keys it reserves for its tags (``py/tuple`` ...) out of a
    dict it encodes; such a dict in a value that is not plain JSON is stored as its repr,
    with a warning naming it. In plain JSON (never encoded) the keys are kept."""
    from pytest_sacred.serialize import flatten, normalize, to_json

    dropped = {"py/tuple": [1], "py/object": "x", "k": 3}
    assert flatten({"d": dropped, "t": (1,)})["d"] == {"k": 3}  # what jsonpickle does
    value, replaced = normalize({"d": dropped, "t": (1,), "ok": {"py/other": 1}}, "result")
    [replacement] = replaced
    assert replacement.entry == "result['d']"
    assert "'py/tuple', 'py/object'" in replacement.reason
    assert value == {"d": repr(dropped), "t": (1,), "ok": {"py/other": 1}}
    with pytest.warns(UserWarning, match=r"result\['d'\] cannot be stored"):
        assert to_json({"d": dropped, "t": (1,)}, "result") == {
            "d": repr(dropped), "t": {"py/tuple": [1]}}
    assert normalize({"d": dropped, "l": [1]}, "result") == ({"d": dropped, "l": [1]}, [])
    assert to_json({"d": dropped}) == {"d": dropped}


@pytest.mark.system  # the replay runs in a subprocess
def test_a_spill_holding_numpy_values_replays_in_a_process_without_numpy(tmp_path) -> None:
    """The replay process imports numpy for the tagged values it restores."""
    from datetime import datetime

    import numpy as np

    from pytest_sacred.spill import SpillWriter
    from pytest_sacred.stores.file.writer import FileStorageObserver

    store = tmp_path / "runs"
    observer = FileStorageObserver(store)
    observer.open()
    spill = SpillWriter(store / "_spill", "file", observer.store_spec())
    observer.close()
    t0 = datetime(2026, 1, 1, 12, 0, 0)
    spill.write("pytest_sacred_started_event", {
        "run_id": 1, "ex_info": {"name": "e", "base_dir": str(tmp_path), "sources": []},
        "command": "test_e", "host_info": {"hostname": "h"}, "start_time": t0,
        "config": {"seed": 1}, "meta_info": {"command": "test_e"}}, "test")
    spill.write("pytest_sacred_completed_event", {
        "run_id": 1, "stop_time": t0, "result": {"a": np.arange(3), "b": np.int64(4)}}, "test")
    spill.close()
    import subprocess

    done = subprocess.run([sys.executable, "-m", "pytest_sacred", "replay", str(spill.path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert read_run(store, 1)["result"] == {
        "a": {"py/object": "numpy.ndarray", "dtype": "int64", "values": [0, 1, 2]},
        "b": {"py/object": "numpy.int64", "dtype": "int64", "value": 4}}


def test_warnings_as_errors_fail_the_test_and_still_end_the_run(pytester, runs_dir) -> None:
    pytester.makepyfile(test_w='''
import pytest

@pytest.mark.experiment
def test_w(sacred_run):
    return lambda: 0
''')
    result = pytester.runpytest("-p", "no:randomly", "-W", "error::UserWarning")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*UnstorableValueWarning: result cannot be stored*"])
    [run] = stored_runs(runs_dir).values()
    assert run["status"] == "COMPLETED" and run["result"].startswith("<function")
