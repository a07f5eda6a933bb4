"""``--sacred-resume``: a run stopped by SIGTERM continues under its own id, in every store."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import sigterm_at_mark
from stores_under_test import StoreUnderTest

# the stores' client libraries, imported before any pytester test: pytester drops the
# modules a test imported from sys.modules, and a second import of a C extension breaks
for _client in ("sqlalchemy", "sqlalchemy.orm", "psycopg", "pymysql", "pymongo", "tinydb",
                "hashfs", "boto3", "moto.server", "google.cloud.storage"):
    try:
        importlib.import_module(_client)
    except ImportError:
        pass

#: a training loop with the checkpoint protocol: ``checkpoint/state.txt`` holds the next
#: step; the session stops (waits for SIGTERM) at the steps of STOPS, one per session
EXPERIMENT = '''
import os, pathlib, time
import pytest

MARKS = pathlib.Path({marks!r})
STOPS = {stops!r}

@pytest.mark.experiment
def test_train(sacred_run, seed, tmp_path):
    state = tmp_path / "checkpoint" / "state.txt"
    start = int(state.read_text()) if state.exists() else 0
    print(f"start at {{start}}, resumed {{sacred_run.resumed}}, seed {{seed}}")
    sacred_run.info["starts"] = sacred_run.info.get("starts", []) + [start]
    if sacred_run.resumed:
        sacred_run.log_scalar("loss", 99.0, 0)  # a step stored already: dropped, said once
        sacred_run.log_scalar("loss", 98.0, 1)
    for step in range(start, 6):
        sacred_run.log_scalar("loss", float(step), step)
        sacred_run.log_scalar("auto", float(step))
        state.parent.mkdir(exist_ok=True)
        state.with_suffix(".tmp").write_text(str(step + 1))
        os.replace(state.with_suffix(".tmp"), state)  # written whole: rename
        if sacred_run.resumed < len(STOPS) and step == STOPS[sacred_run.resumed]:
            (MARKS / f"stop{{sacred_run.resumed}}").write_text(str(seed))
            time.sleep(120)
    return sacred_run.resumed
'''


@dataclass
class Store:
    """How the inner sessions write a store, and how a reader names it."""

    options: list[str]
    name: str
    #: its kind in the registry of store kinds
    kind: str
    env: dict[str, str] | None = None


def _file_store(tmp_path: Path) -> Store:
    runs = str(tmp_path / "runs")
    return Store(["--sacred-file-storage", runs], runs, "file")


def _stores() -> dict[str, Callable[[pytest.FixtureRequest, Path], Store]]:
    """Each store kind: how a test gets one (its server's fixture asked for when needed)."""
    def file(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
        return _file_store(tmp_path)

    def mongo(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
        server = request.getfixturevalue("mongo_server")
        name = f"{server.host}:{server.port}:{request.getfixturevalue('mongo_db_name')}"
        return Store([f"--sacred-mongo={name}"], name, "mongo")

    def sql(engine: str) -> Callable[[pytest.FixtureRequest, Path], Store]:
        def make(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
            url = _sql_database(request, tmp_path, engine)
            return Store([f"--sacred-sql={url}"], url, "sql")
        return make

    def tinydb(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
        pytest.importorskip("hashfs")
        return Store(["--sacred-tinydb", str(tmp_path / "tdb")], str(tmp_path / "tdb"),
                     "tinydb")

    def s3(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
        server = request.getfixturevalue("moto")
        env = request.getfixturevalue("monkeypatch")
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_ENDPOINT_URL": server.url, "AWS_DEFAULT_REGION": "us-east-1",
                            "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
                            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-creds"),
                            "AWS_EC2_METADATA_DISABLED": "true"}.items():
            env.setenv(name, value)  # the inner sessions inherit them
        url = f"s3://resume-{uuid.uuid4().hex[:10]}/runs"
        return Store(["--sacred-s3", url], url, "s3")

    def gcs(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
        server = request.getfixturevalue("gcs")
        env = request.getfixturevalue("monkeypatch")
        env.setenv("STORAGE_EMULATOR_HOST", server.url)
        env.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
        url = f"gs://resume-{uuid.uuid4().hex[:10]}/runs"
        return Store(["--sacred-gcs", url], url, "gcs")

    return {"file": file, "mongo": mongo, "tinydb": tinydb, "sqlite": sql("sqlite"),
            "postgresql": sql("postgresql"), "mariadb": sql("mariadb"), "s3": s3, "gcs": gcs}


# moto and fake-gcs-server: the session's (stores_under_test.py)


#: the machine's SQL servers (a fresh schema or database per test under them)
SQL_SERVERS = {"postgresql": "postgresql://postgres@127.0.0.1/test",
               "mariadb": "mysql+pymysql://root@127.0.0.1/test"}


def _sql_database(request: pytest.FixtureRequest, tmp_path: Path, engine: str) -> str:
    """An empty database namespace on ``engine``, dropped after the test; its URL."""
    sa = pytest.importorskip("sqlalchemy")
    name = f"t_{uuid.uuid4().hex[:12]}"
    if engine == "sqlite":
        return f"sqlite:///{tmp_path / (name + '.db')}"
    kind = "SCHEMA" if engine == "postgresql" else "DATABASE"
    try:
        admin = sa.create_engine(SQL_SERVERS[engine], connect_args={"connect_timeout": 3})
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE {kind} {name}"))
            conn.commit()
    except Exception as exc:  # the driver is missing or the server is down
        pytest.skip(f"{engine} not usable here: {exc}"[:200])

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP {kind} IF EXISTS {name}"
                                 + (" CASCADE" if engine == "postgresql" else "")))
            conn.commit()
        admin.dispose()

    request.addfinalizer(drop)
    if engine == "postgresql":
        return f"{SQL_SERVERS[engine]}?options=-csearch_path%3D{name}"
    return SQL_SERVERS[engine].rsplit("/", 1)[0] + "/" + name


STORES = _stores()


@pytest.fixture(params=list(STORES))
def store(request: pytest.FixtureRequest, pytester: pytest.Pytester) -> Iterator[Store]:
    yield STORES[request.param](request, pytester.path)


def _session(pytester: pytest.Pytester, store: Store, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rw",
         "--sacred-heartbeat=0.1", *store.options, *args],
        cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=store.env)


def _read(store: Store, run_id: int) -> tuple[Any, dict[str, Any], dict[str, bytes]]:
    from pytest_sacred.readers import open_reader

    with open_reader(store.name) as reader:
        run = reader.get_run(run_id)
        metrics = reader.metrics(run_id)
        checkpoint = {name: reader.artifact(run_id, name) for name in run.artifacts
                      if name.startswith("checkpoint/")}
    assert len(set(run.artifacts)) == len(run.artifacts), run.artifacts  # replaced, once
    return run, metrics, checkpoint


def _experiment(pytester: pytest.Pytester, stops: list[int]) -> Path:
    marks = pytester.path / "marks"
    marks.mkdir()
    pytester.makepyfile(test_longrun=EXPERIMENT.format(marks=str(marks), stops=stops))
    return marks


@pytest.mark.parametrize("stops", [[2], [1, 3]], ids=["killed-once", "killed-twice"])
def test_a_killed_run_resumes_under_its_id_to_completion(
        pytester: pytest.Pytester, store: Store, stops: list[int]) -> None:
    marks = _experiment(pytester, stops)
    out = sigterm_at_mark(_session(pytester, store), marks / "stop0", 90)
    seed = int((marks / "stop0").read_text())
    run, _, checkpoint = _read(store, 1)
    assert run.status == "INTERRUPTED", out
    assert checkpoint == {"checkpoint/state.txt": str(stops[0] + 1).encode()}
    for n in range(1, len(stops)):
        out = sigterm_at_mark(_session(pytester, store, "--sacred-resume", "1"),
                              marks / f"stop{n}", 90)
        assert int((marks / f"stop{n}").read_text()) == seed  # the stored seed
    session = _session(pytester, store, "--sacred-resume", "1")
    out = session.communicate(timeout=120)[0]
    assert session.returncode == 0, out
    run, metrics, checkpoint = _read(store, 1)
    assert run.status == "COMPLETED" and run.result == len(stops), out
    assert metrics["loss"].steps == list(range(6))
    assert metrics["loss"].values == [float(s) for s in range(6)]  # each point once
    assert metrics["auto"].steps == list(range(6))
    assert checkpoint == {"checkpoint/state.txt": b"6"}
    resumed = run.meta["resumed"]
    assert [entry["from_status"] for entry in resumed] == ["INTERRUPTED"] * len(stops)
    assert all(entry["host"] and entry["time"] for entry in resumed)
    starts = [0] + [s + 1 for s in stops]
    assert run.info["starts"] == starts and "ended_by" not in run.info
    for count, start in enumerate(starts):
        assert f"start at {start}, resumed {count}, seed {seed}" in run.captured_out
    assert out.count("metric 'loss': points logged at steps the resumed run") == 1, out
    from pytest_sacred.readers import open_reader

    with open_reader(store.name) as reader:
        assert [r.id for r in reader.list_runs()] == [1]  # no second run


#: an experiment whose first ``fails`` attempts fail, each with a message of its own
FAILING = '''
import pytest

@pytest.mark.experiment
def test_flaky(sacred_run):
    if sacred_run.resumed < {fails}:
        raise RuntimeError(f"attempt {{sacred_run.resumed}} fails")
    return sacred_run.resumed
'''


def test_a_failed_run_resumed_to_completion_keeps_each_trace_in_meta_resumed(
        pytester: pytest.Pytester, store_under_test: StoreUnderTest) -> None:
    """Failed, resumed and failed again, resumed and completed: the run is COMPLETED with
    no top-level fail_trace, through our reader and through Sacred's; each failed attempt's
    trace is in the ``meta.resumed`` entry of the resumption after it."""
    from pytest_sacred.readers import open_reader

    store = store_under_test
    pytester.makepyfile(test_flaky=FAILING.format(fails=2))

    def attempt(*args: str, ret: int) -> Any:
        result = pytester.runpytest_subprocess(*store.options, *args)
        assert result.ret == ret, result.stdout.str()
        with open_reader(store.name) as reader:
            return reader.get_run(1)

    run = attempt(ret=pytest.ExitCode.TESTS_FAILED)
    assert run.status == "FAILED" and "attempt 0 fails" in "".join(run.fail_trace)
    run = attempt("--sacred-resume", "1", ret=pytest.ExitCode.TESTS_FAILED)
    assert run.status == "FAILED"
    trace = "".join(run.fail_trace)  # the new failure's, written by its failed event
    assert "attempt 1 fails" in trace and "attempt 0 fails" not in trace
    [entry] = run.meta["resumed"]
    assert entry["from_status"] == "FAILED" and "attempt 0 fails" in "".join(entry["fail_trace"])
    assert "attempt 1 fails" in str(store.sacred(1)["fail_trace"])
    run = attempt("--sacred-resume", "1", ret=pytest.ExitCode.OK)
    assert run.status == "COMPLETED" and run.result == 2
    assert run.fail_trace is None
    resumed = run.meta["resumed"]
    assert [e["from_status"] for e in resumed] == ["FAILED", "FAILED"]
    for number, entry in enumerate(resumed):
        assert entry["fail_trace"][0].startswith("Traceback")
        assert f"RuntimeError: attempt {number} fails" in "".join(entry["fail_trace"])
    theirs = store.sacred(1)  # as Sacred's reader of the layout shows it
    assert theirs["status"] == "COMPLETED" and theirs["fail_trace"] is None


#: a failed attempt's trace, as a writer gets it
TRACE = ["Traceback (most recent call last):\n", "RuntimeError: attempt 0 fails\n"]


def test_a_resumption_entry_is_added_once_with_or_without_its_trace() -> None:
    """The resumed event written again (a retry, a replay from a spill file) finds its
    entry by time, host and status, whether the trace comes with it again or is gone
    from the run's top level already; the entry keeps the trace it was written with."""
    from datetime import datetime, timezone

    from pytest_sacred.serialize import to_json
    from pytest_sacred.stores.base import earlier_trace, resumed

    host = {"hostname": "h"}
    earlier = {"time": "t0", "host": "h", "from_status": "INTERRUPTED"}
    first = resumed([earlier], "t1", host, "FAILED", fail_trace=TRACE)
    assert first == [earlier, {"time": "t1", "host": "h", "from_status": "FAILED",
                               "fail_trace": TRACE}]
    assert resumed(first, "t1", host, "FAILED", fail_trace=TRACE) == first
    assert resumed(first, "t1", host, "FAILED") == first
    later = resumed(first, "t2", host, "TIMEOUT")  # another resumption: another entry
    assert later == [*first, {"time": "t2", "host": "h", "from_status": "TIMEOUT"}]
    # entries as a store encodes them (SQL's JSON) compare the same way
    when = datetime(2026, 12, 6, 13, 0, 0, 123456, tzinfo=timezone.utc)
    encoded = resumed(None, when, host, "FAILED", to_json, TRACE)
    assert encoded[0]["fail_trace"] == TRACE and encoded[0]["time"] != when
    assert resumed(encoded, when, host, "FAILED", to_json) == encoded
    # what the event carries: the trace in the last entry of meta_info["resumed"]
    assert earlier_trace({"command": "c", "resumed": first}) == TRACE
    assert earlier_trace({"command": "c", "resumed": later}) is None
    assert earlier_trace({"command": "c"}) is None


def test_the_resumed_event_written_twice_moves_the_trace_once(store: Store) -> None:
    """A FAILED run's resumed event written twice, the second time by another writer (a
    replay from a spill file in another process, which reads the run from the store),
    then completed: one ``meta.resumed`` entry holding the trace, none at the top level."""
    from datetime import datetime, timedelta, timezone

    from pytest_sacred.readers import open_reader
    from pytest_sacred.resume import CLAIMABLE
    from pytest_sacred.stores.base import resumed

    now = datetime.now(timezone.utc).replace(tzinfo=None)
    host = {"hostname": "h"}
    writers = [_writer(store)]
    try:
        _interrupted_run(writers[0], 6, ended=False)
        writers[0].pytest_sacred_failed_event(run_id=6, fail_time=now, fail_trace=TRACE)
        assert writers[0].claim_resume(6, CLAIMABLE, now - timedelta(minutes=2)) == "FAILED"
        writers.append(_writer(store))
        event = {"run_id": 6, "host_info": host, "resume_time": now, "from_status": "FAILED",
                 "meta_info": {"command": "test_e", "options": {},
                               "resumed": resumed(None, now, host, "FAILED", fail_trace=TRACE)}}
        for writer in writers:
            writer.pytest_sacred_resumed_event(**event)
        writers[1].pytest_sacred_completed_event(run_id=6, stop_time=now, result=1)
    finally:
        for writer in writers:
            writer.close()
    with open_reader(store.name) as reader:
        run = reader.get_run(6)
    assert run.status == "COMPLETED" and run.fail_trace is None
    [entry] = run.meta["resumed"]
    assert entry["from_status"] == "FAILED" and entry["host"] == "h"
    assert entry["fail_trace"] == TRACE


def test_a_completed_run_is_refused_naming_rerun(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_done="""
        import pytest

        @pytest.mark.experiment
        def test_done(sacred_run):
            return 1
        """)
    assert pytester.runpytest_subprocess().ret == 0
    result = pytester.runpytest_subprocess("--sacred-resume", "1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-resume 1: run 1 in * is COMPLETED*"
                                 "--sacred-rerun 1*"])
    result = pytester.runpytest_subprocess("--sacred-resume", "7")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-resume 7: the store * has no run 7*"])


def _interrupted_run(observer: Any, run_id: int, ended: bool = True,
                     started_ago: float = 0.0) -> None:
    """Write a run through the observer's hooks (no queue): ended INTERRUPTED, or left
    RUNNING without a heartbeat since it started ``started_ago`` seconds ago."""
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(seconds=started_ago)
    observer.pytest_sacred_started_event(
        run_id=run_id, ex_info={"name": "e", "base_dir": "/", "sources": [],
                                "dependencies": [], "repositories": [], "mainfile": "x.py"},
        command="test_e", host_info={"hostname": "h"}, start_time=now,
        config={"seed": 1}, meta_info={"command": "test_e", "options": {}})
    if not ended:
        return
    observer.pytest_sacred_interrupted_event(run_id=run_id, interrupt_time=now,
                                             status="INTERRUPTED")


def _claim_twice(observers: list[Any], run_id: int) -> list[str | None]:
    """Both observers claim the run at once; what each got."""
    from datetime import datetime, timedelta, timezone

    from pytest_sacred.resume import CLAIMABLE

    since = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(minutes=2)
    got: list[str | None] = []
    start = threading.Barrier(len(observers))

    def claim(observer: Any) -> None:
        start.wait()
        got.append(observer.claim_resume(run_id, CLAIMABLE, since))

    threads = [threading.Thread(target=claim, args=(o,)) for o in observers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return got


def _writer(store: Store) -> Any:
    from pytest_sacred.stores.registry import kind

    observer = kind(store.kind).open_writer(store.name)
    observer.open()
    return observer


def test_two_claims_of_one_run_one_wins(store: Store) -> None:
    first = _writer(store)
    _interrupted_run(first, 3)
    others = [first, _writer(store)]
    try:
        got = _claim_twice(others, 3)
    finally:
        for observer in others:
            observer.close()
    assert sorted(got, key=str) == ["INTERRUPTED", None]


def test_a_running_run_is_claimed_only_once_its_heartbeat_is_old(store: Store) -> None:
    observer = _writer(store)
    try:
        _interrupted_run(observer, 4, ended=False)  # alive: refused
        _interrupted_run(observer, 5, ended=False, started_ago=600)  # DIED?: taken once
        assert _claim_twice([observer], 4) == [None]
        assert sorted(map(str, _claim_twice([observer, observer], 5))) == ["None", "RUNNING"]
    finally:
        observer.close()


def test_the_resume_command_prints_the_pytest_command(pytester: pytest.Pytester) -> None:
    marks = _experiment(pytester, [1])
    store = _file_store(pytester.path)
    sigterm_at_mark(_session(pytester, store), marks / "stop0", 90)
    result = pytester.run(sys.executable, "-m", "pytest_sacred", "resume", store.name, "1")
    assert result.ret == 0, result.stdout.str()
    assert result.stdout.lines[-1] == (
        f"pytest test_longrun.py --sacred-file-storage {store.name} --sacred-resume 1")


def test_checkpoint_lists_changed_files_once(tmp_path: Path) -> None:
    from pytest_sacred.resume import Checkpoint

    checkpoint = Checkpoint(tmp_path / "checkpoint", tmp_path / "snapshots")
    assert checkpoint.changed() == []
    (tmp_path / "checkpoint" / "sub").mkdir(parents=True)
    (tmp_path / "checkpoint" / "sub" / "a.pt").write_bytes(b"1")
    [(name, snapshot)] = checkpoint.changed()
    assert name == "checkpoint/sub/a.pt" and Path(snapshot).read_bytes() == b"1"
    assert checkpoint.changed() == []
    assert checkpoint.unchanged_paths() == {str(tmp_path / "checkpoint" / "sub" / "a.pt")}
    # written whole (a new file renamed over it): the snapshot keeps what the beat saw
    (tmp_path / "checkpoint" / "sub" / "a.tmp").write_bytes(b"22")
    (tmp_path / "checkpoint" / "sub" / "a.tmp").replace(tmp_path / "checkpoint" / "sub" / "a.pt")
    [(name, second)] = checkpoint.changed()
    assert name == "checkpoint/sub/a.pt" and Path(second).read_bytes() == b"22"
    assert Path(snapshot).read_bytes() == b"1"


def test_a_file_gone_before_its_snapshot_is_no_part_of_the_checkpoint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The temporary file of a write-then-rename, listed by a beat and renamed before it is
    linked: not sent (its artifact would name a file that is gone), nothing reported."""
    from pytest_sacred import resume

    checkpoint = resume.Checkpoint(tmp_path / "checkpoint", tmp_path / "snapshots")
    (tmp_path / "checkpoint").mkdir()
    (tmp_path / "checkpoint" / "state.tmp").write_bytes(b"1")
    link = resume.os.link

    def rename_first(src: str, dst: str) -> None:
        if src.endswith("state.tmp"):
            os.replace(src, src[:-len("tmp")] + "json")
        link(src, dst)

    monkeypatch.setattr(resume.os, "link", rename_first)
    assert checkpoint.changed() == []
    monkeypatch.undo()
    assert [name for name, _ in checkpoint.changed()] == ["checkpoint/state.json"]


def test_a_sacred_observer_is_told_it_cannot_follow_a_resumed_run() -> None:
    from pytest_sacred.resume import ResumeWarning
    from pytest_sacred.stores.sacred_adapter import from_sacred

    class Recorder:  # the three methods that make a Sacred observer
        def __init__(self) -> None:
            self.calls: list[str] = []

        def started_event(self, **kwargs: Any) -> None:
            self.calls.append("started")

        def completed_event(self, **kwargs: Any) -> None:
            self.calls.append("completed")

        def failed_event(self, **kwargs: Any) -> None:
            self.calls.append("failed")

    recorder = Recorder()
    adapter = from_sacred(recorder)
    with pytest.warns(ResumeWarning, match="cannot express a resumed run: run 7"):
        adapter.pytest_sacred_resumed_event(run_id=7, from_status="TIMEOUT")
    adapter.pytest_sacred_completed_event(run_id=7, stop_time=None, result=1)
    adapter.pytest_sacred_completed_event(run_id=8, stop_time=None, result=1)
    assert recorder.calls == ["completed"]  # run 8's, not the resumed run's


def test_resume_options_that_exclude_each_other(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_mixed="""
        import pytest

        @pytest.mark.experiment
        def test_one(sacred_run):
            return 1
        """)
    result = pytester.runpytest_subprocess("--sacred-resume", "1", "--sacred-id", "3",
                                           "--sacred-queue")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sacred-resume continues stored runs in this session under "
                                 "their own ids; it cannot be combined with --sacred-queue, "
                                 "--sacred-id*"])
