"""The TinyDB store: Sacred's TinyDbObserver layout (FORMATS.md section 4), proven with
Sacred 0.8.7's own TinyDbReader, and our reader on what Sacred wrote."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("tinydb")
pytest.importorskip("hashfs")
pytest.importorskip("filelock")

from pytest_sacred.readers import open_reader  # noqa: E402
from pytest_sacred.stores.tinydb.metadata_file import SLACK, MetadataFile  # noqa: E402

EXPERIMENT = textwrap.dedent("""
    import pytest
    from pytest_sacred import config

    @config
    def lr():
        return 0.1

    @config
    def layers():
        return [64, 32]

    @pytest.mark.experiment("tiny")
    def test_full(lr, layers, sacred_run, tmp_path):
        for step in range(3):
            sacred_run.log_scalar("train.loss", 1.0 / (step + 1))
        sacred_run.info["best"] = {"epoch": 2, "shape": (2, 3)}
        print("hello from the run")
        (tmp_path / "model.txt").write_text("weights")
        outside = tmp_path.parent / "explicit.txt"
        outside.write_text("explicit")
        sacred_run.add_artifact(outside, name="renamed.txt")
        with sacred_run.open_resource(RESOURCE) as f:
            assert f.read() == "resource data"
        return 0.75

    @pytest.mark.experiment("tiny")
    def test_fails():
        print("output before the failure")
        assert 1 == 2, "intended failure"
""")
TINY_DATE = re.compile(r"^\{TinyDate\}:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def store(pytester: pytest.Pytester) -> dict:
    """One session of EXPERIMENT into ``db/``; what it used."""
    resource = pytester.path / "data" / "resource.txt"
    resource.parent.mkdir()
    resource.write_text("resource data")
    pytester.makepyfile(test_tiny=f"RESOURCE = {str(resource)!r}\n" + EXPERIMENT)
    result = pytester.runpytest("--sacred-tinydb", "db")
    result.assert_outcomes(passed=1, failed=1)
    assert not (pytester.path / "runs").exists()  # the TinyDB store replaces the default
    return {"db": pytester.path / "db", "resource": resource, "output": result.outlines}


def test_layout_is_sacreds(store: dict) -> None:
    db = store["db"]
    tables = json.loads((db / "metadata.json").read_text())
    assert list(tables) == ["runs"]
    assert list(tables["runs"]) == ["1", "2"]
    doc = tables["runs"]["1"]
    assert list(doc)[:14] == ["experiment", "format", "command", "host", "start_time", "config",
                              "meta", "status", "resources", "artifacts", "captured_out",
                              "info", "heartbeat", "_id"]
    assert doc["format"] == "TinyDbObserver-0.8.7"
    assert doc["_id"] == 1
    for key in ("start_time", "heartbeat", "stop_time"):
        assert TINY_DATE.match(doc[key]), doc[key]
    name, source_md5, ref = doc["experiment"]["sources"][0]
    assert ref == "{TinyFile}:" + json.dumps(source_md5)
    path = db / "hashfs" / source_md5[:2] / source_md5[2:4] / source_md5[4:6] / source_md5[6:]
    assert md5(path.read_bytes()) == source_md5  # md5, depth 3, width 2, no extension
    assert doc["config"] == {"lr": 0.1, "layers": [64, 32], "seed": doc["config"]["seed"]}
    assert doc["info"]["best"] == {"epoch": 2, "shape": {"py/tuple": [2, 3]}}


def test_sacreds_reader_reads_our_store(store: dict) -> None:
    from sacred.observers import TinyDbReader

    reader = TinyDbReader(str(store["db"]))
    full, failed = reader.runs.all()
    assert (full["_id"], full["status"], full["result"]) == (1, "COMPLETED", 0.75)
    assert full["start_time"] <= full["stop_time"] <= full["heartbeat"]
    assert "hello from the run" in full["captured_out"]
    assert failed["status"] == "FAILED"
    assert "intended failure" in "".join(failed["fail_trace"])
    assert "output before the failure" in failed["captured_out"]

    files = reader.fetch_files(indices=[0])[0]
    assert (files["exp_name"], files["exp_id"]) == ("tiny", 1)
    contents = {kind: {name: handle.read() for name, handle in files[kind].items()}
                for kind in ("sources", "artifacts", "resources")}
    assert contents["artifacts"] == {"model.txt": b"weights", "renamed.txt": b"explicit"}
    assert contents["resources"] == {str(store["resource"]): b"resource data"}
    assert b"intended failure" in contents["sources"]["test_tiny.py"]

    report = reader.fetch_report(exp_name="tiny")[0]
    for expected in ("Experiment: tiny", "ID: 1", "lr: 0.1", "0.75", "test_tiny.py",
                     "model.txt", "renamed.txt", "resource.txt"):
        assert expected in report


def test_our_reader_reads_our_store(store: dict) -> None:
    reader = open_reader(store["db"])
    runs = list(reader.list_runs())
    assert [(r.id, r.status) for r in runs] == [(1, "COMPLETED"), (2, "FAILED")]
    full = reader.get_run(1)
    assert full.result == 0.75 and full.config["layers"] == [64, 32]
    assert full.experiment["name"] == "tiny"
    assert full.meta["pytest"]["nodeid"] == "test_tiny.py::test_full"
    assert full.artifacts == ["renamed.txt", "model.txt"]
    assert reader.artifact(1, "model.txt") == b"weights"
    assert full.resources == [[str(store["resource"]), md5(b"resource data")]]
    assert full.metric_names == ["train.loss"]
    loss = reader.metric(1, "train.loss")
    assert loss.steps == [0, 1, 2] and loss.values == [1.0, 0.5, 1.0 / 3]
    assert full.start_time <= loss.timestamps[0] <= full.stop_time
    assert reader.get_run(2).fail_trace and reader.get_run(2).metric_names == []


SACRED_SCRIPT = textwrap.dedent("""
    import sys
    from sacred import Experiment
    from sacred.observers import TinyDbObserver

    ex = Experiment("sacred_tiny")
    ex.observers.append(TinyDbObserver(sys.argv[1]))

    @ex.config
    def cfg():
        alpha = 0.5

    @ex.main
    def main(alpha, _run):
        print("sacred says hi")
        _run.open_resource(sys.argv[2]).close()
        _run.add_artifact(sys.argv[2], name="copy.txt")
        return alpha * 2

    for alpha in (0.5, 1.5):
        ex.run(config_updates={"alpha": alpha}, options={"--capture": "sys"})
""")


def sacred_writes(pytester: pytest.Pytester, db: Path) -> Path:
    """Two runs by Sacred's own TinyDbObserver into ``db``."""
    resource = pytester.path / "input.txt"
    resource.write_text("from sacred")
    script = pytester.path / "sacred_tiny.py"
    script.write_text(SACRED_SCRIPT)
    subprocess.run([sys.executable, str(script), str(db), str(resource)], check=True,
                   cwd=pytester.path, capture_output=True)
    return resource


def test_our_reader_reads_what_sacred_wrote(pytester: pytest.Pytester) -> None:
    db = pytester.path / "sacred_db"
    resource = sacred_writes(pytester, db)
    reader = open_reader(db)
    runs = list(reader.list_runs())
    assert [(r.id, r.status, r.result) for r in runs] == [(1, "COMPLETED", 1.0),
                                                         (2, "COMPLETED", 3.0)]
    run = reader.get_run(2)
    assert run.config["alpha"] == 1.5 and run.experiment["name"] == "sacred_tiny"
    assert "sacred says hi" in run.captured_out
    assert run.start_time <= run.stop_time
    assert run.artifacts == ["copy.txt"] and reader.artifact(2, "copy.txt") == b"from sacred"
    assert run.resources == [[str(resource), md5(b"from sacred")]]


def test_we_add_to_a_store_sacred_wrote(pytester: pytest.Pytester) -> None:
    from sacred.observers import TinyDbReader

    db = pytester.path / "db"
    sacred_writes(pytester, db)
    pytester.makepyfile(test_more="""
        import pytest

        @pytest.mark.experiment("ours")
        @pytest.mark.parametrize("i", range(3))
        def test_more(i):
            return i
    """)
    pytester.runpytest("--sacred-tinydb", "db").assert_outcomes(passed=3)
    docs = TinyDbReader(str(db)).runs.all()
    assert [d.doc_id for d in docs] == [1, 2, 3, 4, 5]
    assert [d["_id"] for d in docs][2:] == [3, 4, 5]  # ours follow Sacred's documents
    assert docs[0]["config"]["alpha"] == 0.5 and len(docs[0]["_id"]) == 32  # Sacred's, kept
    assert [r.result for r in open_reader(db).list_runs()] == [1.0, 3.0, 0, 1, 2]


def test_queued_runs_are_stored(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_q="""
        import pytest

        @pytest.mark.experiment("q")
        def test_q():
            raise AssertionError("a queued run does not execute")
    """)
    pytester.runpytest("--sacred-tinydb", "db", "--sacred-queue").assert_outcomes(skipped=1)
    run = open_reader(pytester.path / "db").get_run(1)
    assert run.status == "QUEUED" and run.queue_time is not None


# -- concurrency -------------------------------------------------------------------------

SWEEP = textwrap.dedent("""
    import pytest

    @pytest.mark.experiment("sweep")
    @pytest.mark.parametrize("i", range(40))
    def test_sweep(i, sacred_run):
        print("x" * (37 * i))  # documents of many sizes: some outgrow their place
        sacred_run.log_scalar("i", i)
        return i
""")


def test_parallel_sessions_lose_no_run(pytester: pytest.Pytester) -> None:
    """Two sessions at once, one with -n 4 and one with -n 2, into one TinyDB store and one
    SQLite database: 80 runs, ids 1..80, each document whole."""
    pytest.importorskip("xdist")
    pytest.importorskip("sqlalchemy")
    pytester.makepyfile(test_sweep=SWEEP)
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--sacred-tinydb", "db",
            "--sacred-sql", "sqlite:///runs.db", "test_sweep.py"]
    sessions = [subprocess.Popen(argv + ["-n", n], cwd=pytester.path, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True) for n in ("4", "2")]
    for session in sessions:
        out, _ = session.communicate(timeout=240)
        assert session.returncode == 0, out
    from sacred.observers import TinyDbReader

    docs = TinyDbReader(str(pytester.path / "db")).runs.all()
    assert sorted(d["_id"] for d in docs) == list(range(1, 81))
    for store in (pytester.path / "db", "sqlite:///" + str(pytester.path / "runs.db")):
        runs = list(open_reader(store).list_runs())
        assert [r.id for r in runs] == list(range(1, 81)), store
        assert all(r.status == "COMPLETED" for r in runs)
        assert sorted(r.result for r in runs) == sorted(list(range(40)) * 2)
    by_id = {d["_id"]: d for d in docs}
    assert all(by_id[i]["captured_out"].startswith("x" * (37 * by_id[i]["result"]))
               for i in by_id)


def test_interleaved_writers_keep_a_valid_file(tmp_path: Path) -> None:
    """Every write path of the in-place writer (append, rewrite of the last document,
    overwrite in place, blank-and-append, the first document moving, compaction) against
    a model, with two writers sharing the file as two processes would."""
    path = tmp_path / "metadata.json"
    writers = [MetadataFile(path, 5), MetadataFile(path, 5)]
    model: dict[str, dict] = {}
    live: dict[int, MetadataFile] = {}
    rnd = random.Random(7)
    for step in range(600):
        if live and rnd.random() < 0.7:
            doc_id = rnd.choice(sorted(live))
            final = rnd.random() < 0.2
            writer = live.pop(doc_id) if final else live[doc_id]
        else:
            writer = rnd.choice(writers)
            doc_id, final = writer.reserve_id(), False
            live[doc_id] = writer
        doc = {"_id": doc_id, "step": step, "text": "y" * rnd.choice([0, 10, SLACK, 3 * SLACK])}
        writer.write(doc_id, json.dumps(doc), final=final)
        model[str(doc_id)] = doc
        assert json.loads(path.read_bytes()) == {"runs": model}
    assert len(model) > 100
    index = json.loads((tmp_path / "metadata.json.index").read_text())
    assert index["waste"] < max(1 << 20, path.stat().st_size // 2)


def test_a_file_changed_by_another_program_is_reread(tmp_path: Path) -> None:
    path = tmp_path / "metadata.json"
    ours = MetadataFile(path, 5)
    ours.write(ours.reserve_id(), json.dumps({"status": "RUNNING", "n": 1}))
    # TinyDB itself rewrites the file (other separators, another table, a new document)
    tables = json.loads(path.read_text())
    tables["runs"]["7"] = {"status": "COMPLETED"}
    tables["_default"] = {"1": {"x": 1}}
    path.write_text(json.dumps(tables, indent=4))
    ours.write(1, json.dumps({"status": "COMPLETED", "n": 2}), final=True)
    assert ours.reserve_id() == 8
    assert json.loads(path.read_text()) == {"_default": {"1": {"x": 1}}, "runs": {
        "1": {"status": "COMPLETED", "n": 2}, "7": {"status": "COMPLETED"}}}


# -- bad input ---------------------------------------------------------------------------

QUICK = """
    import pytest

    @pytest.mark.experiment("quick")
    def test_quick():
        raise AssertionError("must not run")
"""


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every stored file (the empty lock file that checking may leave is not data)."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*"))
            if p.is_file() and p.name != "metadata.json.lock"}


@pytest.mark.parametrize("content, message", [
    ("[1, 2, 3]", "not a TinyDB database"),
    ('{"runs": {"a": 1}}', "not a TinyDB document"),
    ("{not json", "is not JSON"),
])
def test_a_directory_holding_something_else_is_refused(pytester: pytest.Pytester,
                                                       content: str, message: str) -> None:
    db = pytester.path / "db"
    db.mkdir()
    (db / "metadata.json").write_text(content)
    before = snapshot(db)
    pytester.makepyfile(test_quick=QUICK)
    result = pytester.runpytest("--sacred-tinydb", "db")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--sacred-tinydb*{message}*"])
    assert snapshot(db) == before


def test_a_file_store_is_not_taken_for_a_tinydb_store(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_quick=QUICK.replace('raise AssertionError("must not run")',
                                                 "pass"))
    pytester.runpytest().assert_outcomes(passed=1)  # the default file store, runs/
    before = snapshot(pytester.path / "runs")
    result = pytester.runpytest("--sacred-tinydb", "runs")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-tinydb*holds something else (1, _sources*"
                                 "no metadata.json*"])
    assert snapshot(pytester.path / "runs") == before


def test_a_locked_store_is_an_error_after_the_timeout(pytester: pytest.Pytester) -> None:
    import filelock

    pytester.makepyfile(test_quick=QUICK)
    (pytester.path / "db").mkdir()
    with filelock.FileLock(str(pytester.path / "db" / "metadata.json.lock")):
        result = pytester.runpytest_subprocess("--sacred-tinydb", "db",
                                               "--sacred-lock-timeout", "0.5")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*metadata.json is locked by another process*0.5 s*"
                                 "--sacred-lock-timeout*"])
    assert not (pytester.path / "db" / "metadata.json").exists()


def test_a_file_is_not_a_store(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_quick=QUICK)
    (pytester.path / "db").write_text("x")
    result = pytester.runpytest("--sacred-tinydb", "db")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*is a file, not a directory*"])


def test_bad_lock_timeout(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_quick=QUICK)
    result = pytester.runpytest("--sacred-tinydb", "db", "--sacred-lock-timeout", "soon")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*sacred_lock_timeout = 'soon' is not a number of seconds*"])


def test_ini_key(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsacred_tinydb = stores/tiny\n")
    pytester.makepyfile(test_quick=QUICK.replace('raise AssertionError("must not run")',
                                                 "return 3"))
    pytester.runpytest().assert_outcomes(passed=1)
    assert open_reader(pytester.path / "stores" / "tiny").get_run(1).result == 3
    assert os.path.isfile(pytester.path / "stores" / "tiny" / "metadata.json")


def test_load_runs_and_the_command_read_the_store(store: dict) -> None:
    pytest.importorskip("pandas")
    import pytest_sacred

    before = snapshot(store["db"])
    frame = pytest_sacred.load_runs(store["db"])
    assert frame["id"].tolist() == [1, 2]
    assert frame["status"].tolist() == ["COMPLETED", "FAILED"]
    assert frame.loc[0, "config.lr"] == 0.1 and frame.loc[0, "result"] == 0.75
    assert frame.loc[0, "metrics.train.loss.last"] == pytest.approx(1 / 3)
    assert frame.loc[0, "metrics.train.loss.max"] == 1.0
    run = pytest_sacred.get_run(store["db"], 1)
    assert run.artifacts["model.txt"].read() == b"weights"
    assert run.metrics["train.loss"].tolist() == [1.0, 0.5, 1 / 3]
    out = subprocess.run([sys.executable, "-m", "pytest_sacred", "ls", str(store["db"])],
                         capture_output=True, text=True, check=True).stdout
    lines = [line.split() for line in out.strip().splitlines()]
    assert lines[0][:3] == ["id", "experiment", "status"]
    assert [line[:3] for line in lines[1:]] == [["1", "tiny", "COMPLETED"],
                                               ["2", "tiny", "FAILED"]]
    assert snapshot(store["db"]) == before


# -- the store out of reach for good: spilled, then replayed whole ----------------------

@pytest.mark.parametrize("retry", ["1", "0"])
def test_lock_held_for_good_spills_and_replay_writes_every_run_whole(
        pytester: pytest.Pytester, retry: str) -> None:
    """Another process takes metadata.json's lock mid-session and keeps it past
    --sacred-lock-timeout: the runs go on, their events are spilled (exit 6; with
    --sacred-store-retry=0 at the first failure, no retry), and the replay, the lock free
    again, writes every run whole."""
    from helpers import HOLD_FILE_LOCK, hold_lock, outage_session, replay_and_check_whole

    store = pytester.path / "tiny"
    holders: list[subprocess.Popen] = []

    def cut() -> None:
        holders.append(hold_lock(HOLD_FILE_LOCK, store / "metadata.json.lock"))

    try:
        out, spill = outage_session(pytester.path, cut, "tinydb", f"--sacred-tinydb={store}",
                                    "--sacred-lock-timeout=0.2", f"--sacred-store-retry={retry}")
    finally:
        for holder in holders:
            holder.kill()
            holder.wait()
    assert "is locked by another process" in out
    assert ("are retried for up to" in out) == (retry != "0"), out
    assert f"still does not answer after {retry} s" in out
    header = json.loads(spill.read_text().splitlines()[0])
    assert header["store"] == {"kind": "tinydb", "directory": str(store), "lock_timeout": 0.2}
    replay_and_check_whole(spill, store)


@pytest.mark.system  # the lock is held by another process
def test_a_run_named_once_the_lock_is_free_takes_no_id_a_queued_run_holds(
        tmp_path: Path) -> None:
    """A run named while the lock was held has an id the file does not know yet (its
    queued first write claims it). The lock free again and the store answering before
    that write is done, the next run must not be handed the same id from the file: it
    was, and the queued run was then refused as "taken meanwhile" (spilled, exit 6)."""
    from datetime import datetime

    from helpers import HOLD_FILE_LOCK, hold_lock

    from pytest_sacred.spill import SpillWriter
    from pytest_sacred.stores.tinydb.writer import TinyDbObserver
    from pytest_sacred.stores.write_queue import StoreQueue

    store = tmp_path / "tiny"
    observer = TinyDbObserver(store, lock_timeout=0.2)
    observer.open()
    failures: list[tuple] = []
    queue = StoreQueue(observer, 60, SpillWriter(tmp_path / "_spill", "tinydb",
                                                 observer.store_spec()),
                       lambda *args, **kwargs: failures.append(args), lambda message: None,
                       inline=True)
    observer.queue = queue

    def start(run_id: int) -> None:
        observer.pytest_sacred_started_event(
            run_id=run_id, ex_info={"name": "e", "base_dir": str(tmp_path), "sources": []},
            command="test_e", host_info={"hostname": "h"}, start_time=datetime(2026, 1, 1),
            config={"run": run_id}, meta_info={"command": "test_e"})

    first = observer.pytest_sacred_allocate_id()
    start(first)
    holder = hold_lock(HOLD_FILE_LOCK, store / "metadata.json.lock")
    try:
        during = observer.pytest_sacred_allocate_id()  # named without the file
    finally:
        holder.kill()
        holder.wait()
    assert not queue.down  # no write has met the lock: the store looks healthy
    after = observer.pytest_sacred_allocate_id()
    assert len({first, during, after}) == 3
    start(during)  # the queued first write of the run named during the lock
    start(after)
    queue.close()
    assert failures == []
    with open_reader(store) as reader:
        assert sorted((r.id, r.config["run"]) for r in reader.list_runs()) == [
            (first, first), (during, during), (after, after)]
