"""The SQL store: Sacred's SqlObserver tables (FORMATS.md section 5) on SQLite, PostgreSQL
and MariaDB, compared with what Sacred 0.8.7's own SqlObserver writes on the same engine.

Every test gets a namespace of its own, dropped afterwards: a SQLite file, a PostgreSQL
schema (selected through ``search_path`` in the URL) or a MariaDB database.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

sa = pytest.importorskip("sqlalchemy")
from sacred.observers import SqlObserver  # noqa: E402
from stores_under_test import (  # noqa: E402
    drop_sql_namespaces,
    make_sql_namespace,
    sql_server_problem,
)

from pytest_sacred.readers import open_reader  # noqa: E402
from pytest_sacred.readers.base import RunFilter  # noqa: E402


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def new_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Makes an empty database namespace on the engine of the parameter; returns its URL."""
    kind = request.param
    if kind != "sqlite":
        why = sql_server_problem(kind)
        if why:
            pytest.skip(why)
    made: list[str] = []

    def make() -> str:
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / (f't_{uuid.uuid4().hex[:12]}.db')}"
        name, url = make_sql_namespace(kind)
        made.append(name)
        return url

    make.kind = kind  # type: ignore[attr-defined]
    yield make
    if made:
        drop_sql_namespaces(kind, made)


def rows(url: str, table: str) -> list[dict]:
    engine = sa.create_engine(url)
    try:
        md = sa.MetaData()
        t = sa.Table(table, md, autoload_with=engine)
        order = [c for c in t.primary_key.columns] or list(t.columns)
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(t.select().order_by(*order))]
    finally:
        engine.dispose()


def tables(url: str) -> dict[str, set[str]]:
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        return {t: {c["name"] for c in inspector.get_columns(t)}
                for t in inspector.get_table_names()}
    finally:
        engine.dispose()


EXPERIMENT = textwrap.dedent("""
    import pytest
    from pytest_sacred import config

    @config
    def alpha():
        return 0.5

    @pytest.mark.experiment("sql_equiv")
    def test_main(alpha, sacred_run):
        print("hi from the run")
        sacred_run.open_resource(RESOURCE).close()
        sacred_run.add_artifact(RESOURCE, name="copy.txt")
        for step in range(3):
            sacred_run.log_scalar("loss", 1.0 / (step + 1))
        return alpha * 2

    @pytest.mark.experiment("sql_equiv")
    def test_fails():
        assert 1 == 2, "intended failure"
""")

SACRED_SCRIPT = textwrap.dedent("""
    import sys
    from sacred import Experiment
    from sacred.observers import SqlObserver

    url, resource, fail = sys.argv[1], sys.argv[2], sys.argv[3] == "fail"
    ex = Experiment("sql_equiv")
    ex.observers.append(SqlObserver(url))

    @ex.config
    def cfg():
        alpha = 0.5

    @ex.main
    def main(alpha, _run):
        print("hi from the run")
        _run.open_resource(resource).close()
        _run.add_artifact(resource, name="copy.txt")
        return alpha * 2

    @ex.command
    def fails():
        assert 1 == 2, "intended failure"

    ex.run(options={"--capture": "sys"})
    if fail:
        try:
            ex.run("fails", options={"--capture": "sys"})
        except AssertionError:
            pass
""")


@pytest.fixture
def project(pytester: pytest.Pytester) -> Iterator[dict]:
    resource = pytester.path / "input.txt"
    resource.write_text("resource data")
    pytester.makepyfile(test_sql=f"RESOURCE = {str(resource)!r}\n" + EXPERIMENT)
    # Sacred's experiment.base_dir is VARCHAR(64), which PostgreSQL and MariaDB enforce:
    # its script lives in a short directory (ours are 1024 wide: pytester's paths fit)
    short = Path(tempfile.mkdtemp(prefix="sq", dir="/tmp"))
    script = short / "sacred_sql.py"
    script.write_text(SACRED_SCRIPT)

    def sacred(url: str, fail: bool = True) -> None:
        done = subprocess.run([sys.executable, str(script), url, str(resource),
                               "fail" if fail else "ok"], cwd=pytester.path,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr

    yield {"resource": resource, "sacred": sacred, "sacred_dir": short}
    shutil.rmtree(short)


def test_tables_and_values_are_sacreds(pytester: pytest.Pytester, project: dict,
                                       new_url: Callable[[], str]) -> None:
    ours, theirs = new_url(), new_url()
    pytester.runpytest("--sacred-sql", ours).assert_outcomes(passed=1, failed=1)
    project["sacred"](theirs)

    our_tables, their_tables = tables(ours), tables(theirs)
    assert set(our_tables) - set(their_tables) == {"metric", "run_details", "value_part"}
    for table, columns in their_tables.items():
        assert our_tables[table] == columns, table

    our_runs, their_runs = rows(ours, "run"), rows(theirs, "run")
    assert [r["status"] for r in our_runs] == [r["status"] for r in their_runs] == [
        "COMPLETED", "FAILED"]
    assert [(r["id"], r["run_id"]) for r in our_runs] == [(1, "1"), (2, "2")]
    for mine, sacred in zip(our_runs, their_runs, strict=True):
        assert float(mine["result"] or 0) == float(sacred["result"] or 0)
        assert (mine["priority"], mine["comment"]) == (sacred["priority"], sacred["comment"])
        assert mine["info"] == sacred["info"] == "{}"
        assert mine["host_id"] == sacred["host_id"] == 1
        for key in ("start_time", "stop_time", "heartbeat"):
            assert isinstance(mine[key], datetime) and isinstance(sacred[key], datetime)
    assert json.loads(our_runs[0]["config"]).keys() == json.loads(their_runs[0]["config"]).keys()
    assert "hi from the run" in our_runs[0]["captured_out"]
    assert "hi from the run" in their_runs[0]["captured_out"]
    for trace in (our_runs[1]["fail_trace"], their_runs[1]["fail_trace"]):
        assert trace.startswith("Traceback") and "intended failure" in trace
        assert "\n\n" in trace  # Sacred joins lines that end in \n with \n

    strip = ("host_id",)
    assert [{k: v for k, v in r.items() if k not in strip} for r in rows(ours, "host")] == \
        [{k: v for k, v in r.items() if k not in strip} for r in rows(theirs, "host")]
    assert [r["name"] for r in rows(ours, "experiment")] == ["sql_equiv"]
    assert rows(ours, "experiment")[0]["base_dir"] == str(pytester.path)
    assert rows(theirs, "experiment")[0]["base_dir"] == str(project["sacred_dir"])
    for source in rows(ours, "source"):
        assert source["md5sum"] == hashlib.md5(source["content"].encode()).hexdigest()
    assert {r["filename"] for r in rows(ours, "source")} >= {"test_sql.py"}
    ours_deps = {r["name"]: r["version"] for r in rows(ours, "dependency")}
    theirs_deps = {r["name"]: r["version"] for r in rows(theirs, "dependency")}
    assert ours_deps.get("numpy") == theirs_deps.get("numpy")
    assert len(rows(ours, "experiments_dependencies")) == len(ours_deps)

    def without_ids(table: str, url: str) -> list[dict]:
        return [{k: bytes(v) if isinstance(v, (bytes, memoryview)) else v
                 for k, v in r.items() if not k.endswith("_id")} for r in rows(url, table)]

    assert without_ids("resource", ours) == without_ids("resource", theirs) == [
        {"filename": str(project["resource"]), "md5sum": hashlib.md5(b"resource data")
         .hexdigest(), "content": b"resource data"}]
    assert without_ids("artifact", ours) == without_ids("artifact", theirs) == [
        {"filename": "copy.txt", "content": b"resource data"}]
    assert rows(ours, "artifact")[0]["run_id"] == "1"
    assert rows(ours, "runs_resources") == [{"run_id": "1", "resource_id": 1}]
    assert [(m["name"], m["step"]) for m in rows(ours, "metric")] == [
        ("loss", 0), ("loss", 1), ("loss", 2)]
    assert [float(m["value"]) for m in rows(ours, "metric")] == pytest.approx([1.0, 0.5, 1 / 3])


def test_sacreds_query_reads_our_rows(pytester: pytest.Pytester, project: dict,
                                      new_url: Callable[[], str]) -> None:
    url = new_url()
    pytester.runpytest("--sacred-sql", url).assert_outcomes(passed=1, failed=1)
    observer = SqlObserver(url)
    try:
        run = observer.query(1)
    finally:
        observer.session.remove()
        observer.engine.dispose()
    assert run["_id"] == "1" and run["status"] == "COMPLETED" and run["result"] == 1.0
    assert run["config"]["alpha"] == 0.5
    assert run["experiment"]["name"] == "sql_equiv"
    assert run["artifacts"][0]["filename"] == "copy.txt"
    assert run["resources"] == [{"filename": str(project["resource"]),
                                 "md5sum": hashlib.md5(b"resource data").hexdigest()}]


def test_sacred_and_we_share_a_database(pytester: pytest.Pytester, project: dict,
                                        new_url: Callable[[], str]) -> None:
    """Sacred's observer writes after us and we after it: ids follow on, nothing clashes."""
    url = new_url()
    pytester.runpytest("--sacred-sql", url).assert_outcomes(passed=1, failed=1)
    project["sacred"](url, fail=False)
    pytester.runpytest("--sacred-sql", url).assert_outcomes(passed=1, failed=1)
    runs = list(open_reader(url).list_runs())
    assert [r.id for r in runs] == [1, 2, 3, 4, 5]
    assert [r.command for r in runs] == ["test_main", "test_fails", "main", "test_main",
                                         "test_fails"]
    sacreds = runs[2]
    assert sacreds.result == 1.0 and sacreds.status == "COMPLETED"
    assert sacreds.experiment["name"] == "sql_equiv"
    assert [name for name, _ in sacreds.experiment["sources"]] == ["sacred_sql.py"]
    assert any(d.startswith("sacred==") for d in sacreds.experiment["dependencies"])
    assert [r["run_id"] for r in rows(url, "run")] == ["1", "2", "3", "4", "5"]


def test_our_reader(pytester: pytest.Pytester, project: dict,
                    new_url: Callable[[], str]) -> None:
    url = new_url()
    pytester.makepyfile(test_more="""
        import pytest

        @pytest.mark.experiment("other")
        def test_dict_result(sacred_run):
            sacred_run.info["nested"] = {"a": [1, 2]}
            return {"acc": 0.9, "labels": ("a", "b")}
    """)
    pytester.runpytest("--sacred-sql", url).assert_outcomes(passed=2, failed=1)
    reader = open_reader(url)
    runs = {r.command: r for r in reader.list_runs()}
    assert set(runs) == {"test_main", "test_fails", "test_dict_result"}
    main = reader.get_run(runs["test_main"].id)
    assert main.result == 1.0 and main.config["alpha"] == 0.5
    assert main.meta["pytest"]["nodeid"] == "test_sql.py::test_main"
    assert main.host["hostname"] and "ENV" in main.host
    assert main.experiment["mainfile"] == "test_sql.py"
    assert "hi from the run" in main.captured_out
    assert main.artifacts == ["copy.txt"] and reader.artifact(main.id, "copy.txt") == \
        b"resource data"
    assert main.resources == [[str(project["resource"]),
                               hashlib.md5(b"resource data").hexdigest()]]
    loss = reader.metric(main.id, "loss")
    assert loss.steps == [0, 1, 2] and loss.values == pytest.approx([1.0, 0.5, 1 / 3], rel=1e-9)
    assert all(isinstance(t, datetime) for t in loss.timestamps)
    failed = reader.get_run(runs["test_fails"].id)
    assert failed.fail_trace[0].startswith("Traceback") and failed.fail_trace[-1].endswith("\n")
    other = reader.get_run(runs["test_dict_result"].id)
    assert other.result == {"acc": 0.9, "labels": {"py/tuple": ["a", "b"]}}
    assert other.info == {"nested": {"a": [1, 2]}}
    assert rows(url, "run")[other.id - 1]["result"] is None  # not a float: NULL, as Sacred's
    assert [r.id for r in reader.list_runs()] == sorted(r.id for r in runs.values())
    from pytest_sacred.readers import RunFilter
    assert [r.command for r in reader.list_runs(RunFilter(status="FAILED"))] == ["test_fails"]
    assert [r.command for r in reader.list_runs(RunFilter(experiment="other"))] == [
        "test_dict_result"]
    reader.close()


def test_every_store_gets_the_same_ids(pytester: pytest.Pytester, project: dict,
                                       new_url: Callable[[], str]) -> None:
    if new_url.kind != "sqlite":  # type: ignore[attr-defined]
        pytest.skip("shown on SQLite: the ids agreeing across stores does not depend on "
                    "the SQL engine")
    url = new_url()
    pytester.runpytest("--sacred-sql", url, "--sacred-tinydb", "tiny",
                       "--sacred-file-storage", "runs").assert_outcomes(passed=1, failed=1)
    assert sorted(int(p.name) for p in (pytester.path / "runs").iterdir()
                  if p.name.isdigit()) == [1, 2]
    for store in (url, pytester.path / "tiny"):
        assert [r.id for r in open_reader(store).list_runs()] == [1, 2]


SWEEP = textwrap.dedent("""
    import pytest

    @pytest.mark.experiment("sweep")
    @pytest.mark.parametrize("i", range(40))
    def test_sweep(i, sacred_run):
        sacred_run.log_scalar("i", i)
        return i
""")


def test_concurrent_sessions_keep_ids_unique(pytester: pytest.Pytester,
                                             new_url: Callable[[], str]) -> None:
    """Two sessions at once (``-n 4`` and ``-n 2``) into one empty database: the first
    writers also race to create the tables."""
    pytest.importorskip("xdist")
    if new_url.kind == "sqlite":  # type: ignore[attr-defined]
        pytest.skip("SQLite is covered by test_tinydb_store.test_parallel_sessions_lose_no_run")
    url = new_url()
    pytester.makepyfile(test_sweep=SWEEP)
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--sacred-sql", url,
            "test_sweep.py"]
    sessions = [subprocess.Popen(argv + ["-n", n], cwd=pytester.path, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True) for n in ("4", "2")]
    for session in sessions:
        out, _ = session.communicate(timeout=240)
        assert session.returncode == 0, out
    runs = list(open_reader(url).list_runs())
    assert [r.id for r in runs] == list(range(1, 81))
    assert sorted(r.result for r in runs) == sorted(list(range(40)) * 2)
    assert len(rows(url, "metric")) == 80


# -- bad input ---------------------------------------------------------------------------

QUICK = """
    import pytest

    @pytest.mark.experiment("quick")
    def test_quick():
        raise AssertionError("must not run")
"""


@pytest.mark.parametrize("url, message", [
    ("postgresql://postgres@127.0.0.1:1/test", "cannot connect (*); start the server or fix*"),
    ("nosuchdb://host/db", "SQLAlchemy knows no dialect 'nosuchdb'*"),
    ("mysql+mysqldb://root@127.0.0.1/test", "needs the database driver 'MySQLdb'*"
                                            "pip install mysqlclient"),
    ("runs.db", "is not an SQLAlchemy URL; expected*sqlite:///runs.db*"),
    ("postgresql://postgres:s3cret@127.0.0.1:1/test", "*postgres:***@127.0.0.1:1*"),
])
def test_unusable_urls_are_usage_errors(pytester: pytest.Pytester, url: str,
                                        message: str) -> None:
    pytester.makepyfile(test_quick=QUICK)
    result = pytester.runpytest("--sacred-sql", url)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--sacred-sql*{message}*"])
    assert "s3cret" not in result.stderr.str() + result.stdout.str()


def test_a_database_with_other_tables_is_refused(pytester: pytest.Pytester) -> None:
    import sqlite3

    db = pytester.path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE run (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO run VALUES (1, 'not a sacred run')")
    before = db.read_bytes()
    pytester.makepyfile(test_quick=QUICK)
    result = pytester.runpytest("--sacred-sql", f"sqlite:///{db}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*holds tables that are not Sacred's SqlObserver tables: "
                                 "table 'run' lacks column(s) captured_out, command, comment*"])
    with sqlite3.connect(db) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert names == ["run"]
    assert db.read_bytes() == before


def test_a_locked_sqlite_database_is_an_error_after_the_timeout(
        pytester: pytest.Pytester) -> None:
    import sqlite3

    db = pytester.path / "busy.db"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("CREATE TABLE x (a)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        pytester.makepyfile(test_quick=QUICK)
        result = pytester.runpytest_subprocess("--sacred-sql", f"sqlite:///{db}",
                                               "--sacred-lock-timeout", "0.5")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*the database is locked by another process (waited 0.5 s)*"])


def test_ini_key(pytester: pytest.Pytester, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ini.db'}"
    pytester.makeini(f"[pytest]\nsacred_sql = {url}\n")
    pytester.makepyfile(test_quick=QUICK.replace('raise AssertionError("must not run")',
                                                 "return 2.5"))
    pytester.runpytest().assert_outcomes(passed=1)
    assert open_reader(url).get_run(1).result == 2.5


def test_load_runs_and_the_command_read_the_store(pytester: pytest.Pytester, project: dict,
                                                  new_url: Callable[[], str]) -> None:
    pytest.importorskip("pandas")
    import pytest_sacred

    url = new_url()
    pytester.runpytest("--sacred-sql", url).assert_outcomes(passed=1, failed=1)
    project["sacred"](url, fail=False)  # a run Sacred wrote is listed too
    frame = pytest_sacred.load_runs(url)
    assert frame["id"].tolist() == [1, 2, 3]
    assert frame["status"].tolist() == ["COMPLETED", "FAILED", "COMPLETED"]
    assert frame["config.alpha"].tolist()[::2] == [0.5, 0.5]
    assert frame.loc[0, "metrics.loss.min"] == pytest.approx(1 / 3)
    assert frame.loc[0, "metrics.loss.last"] == pytest.approx(1 / 3)
    assert frame.loc[0, "metrics.loss.max"] == 1.0
    assert pytest_sacred.get_run(url, 1).artifacts["copy.txt"].read() == b"resource data"
    out = subprocess.run([sys.executable, "-m", "pytest_sacred", "ls", url],
                         capture_output=True, text=True, check=True).stdout
    lines = [line.split() for line in out.strip().splitlines()]
    assert [line[:3] for line in lines[1:]] == [["1", "sql_equiv", "COMPLETED"],
                                               ["2", "sql_equiv", "FAILED"],
                                               ["3", "sql_equiv", "COMPLETED"]]
    shown = subprocess.run([sys.executable, "-m", "pytest_sacred", "show", url, "1"],
                           capture_output=True, text=True, check=True).stdout
    assert "copy.txt" in shown and "alpha = 0.5" in shown


def test_queued_runs_are_stored(pytester: pytest.Pytester, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    pytester.makepyfile(test_quick=QUICK)
    pytester.runpytest("--sacred-sql", url, "--sacred-queue").assert_outcomes(skipped=1)
    run = open_reader(url).get_run(1)
    assert run.status == "QUEUED" and isinstance(run.queue_time, datetime)
    assert run.start_time is None and run.meta["pytest"]["nodeid"] == "test_quick.py::test_quick"


def test_end_abandoned_ends_only_a_running_run(new_url: Callable[[], str], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A Slurm task killed at its time limit: the submitting session ends its RUNNING run
    TIMEOUT with the reason in info; a run that ended itself is left as it is."""
    from pytest_sacred.stores.sql.writer import SqlObserver as Store

    monkeypatch.setattr("pytest_sacred.stores.sql.writer.DEFER_BEAT_SECONDS", 0)  # beats written
    url = new_url()
    store = Store(url)
    store.open()
    source = tmp_path / "test_x.py"
    source.write_text("def test_x():\n    pass\n")
    ex_info = {"name": "x", "base_dir": str(tmp_path), "sources": [["test_x.py", "0" * 32]],
               "dependencies": [], "repositories": [], "mainfile": "test_x.py"}
    host = {"hostname": "h", "cpu": "c", "os": ["Linux", "Linux-6"], "python_version": "3"}
    start = datetime(2026, 1, 1, 12, 0, 0)
    try:
        for run_id in (1, 2):
            store.pytest_sacred_started_event(run_id=run_id, ex_info=ex_info, command="test_x",
                                              host_info=host, start_time=start,
                                              config={"seed": 1}, meta_info={})
            store.pytest_sacred_heartbeat_event(run_id=run_id, info={"step": run_id},
                                                captured_out="", beat_time=start, result=None)
        store.pytest_sacred_interrupted_event(run_id=2, interrupt_time=start, status="TIMEOUT")
        for run_id in (1, 2):
            store.end_abandoned(run_id, "TIMEOUT", "Slurm task 7_1 ended TIMEOUT")
    finally:
        store.close()
    stored = {r["id"]: r for r in rows(url, "run")}
    assert stored[1]["status"] == "TIMEOUT" and stored[1]["stop_time"] is not None
    assert json.loads(stored[1]["info"]) == {"step": 1, "ended_by": "Slurm task 7_1 ended TIMEOUT"}
    assert stored[2]["status"] == "TIMEOUT" and json.loads(stored[2]["info"]) == {"step": 2}


# -- values the columns cannot hold as they are ------------------------------------------------

HOSTILE_METRICS = textwrap.dedent("""
    import numpy as np
    import pytest

    @pytest.mark.experiment("sql_values")
    def test_values(sacred_run):
        sacred_run.log_scalar("step", 1.5, step=2**63)
        sacred_run.log_scalar("step", 2.5, step=2**31)
        sacred_run.log_scalar("uint", np.uint64(2**64 - 1))
        sacred_run.log_scalar("huge", 0.5)
        sacred_run.log_scalar("huge", 10**400)
        sacred_run.log_scalar("odd", float("nan"))
        sacred_run.log_scalar("odd", float("inf"))
        sacred_run.log_scalar("odd", 2**53 + 1)
        sacred_run.log_scalar("plain", 0.25)
        sacred_run.info["big"] = 2**70
        return 10**400
""")


def test_values_beyond_the_columns_read_back_exactly(pytester: pytest.Pytester,
                                                     new_url: Callable[[], str]) -> None:
    """Steps beyond 64 (or the column's 32) bits, integers beyond floats or 2**53, NaN
    and inf: the run ends COMPLETED, nothing is reported lost, every point reads back as
    logged, and the summaries see them."""
    pytest.importorskip("numpy")
    import math

    import pytest_sacred

    url = new_url()
    pytester.makepyfile(test_hostile_metrics=HOSTILE_METRICS)
    result = pytester.runpytest("--sacred-sql", url)
    result.assert_outcomes(passed=1)
    assert result.ret == 0, result.outlines
    with open_reader(url) as reader:
        run = reader.get_run(1)
        assert run.status == "COMPLETED" and run.result == 10**400
        assert run.info == {"big": 2**70}
        assert reader.metric(1, "step").steps == [2**63, 2**31]
        assert reader.metric(1, "uint").values == [2**64 - 1]
        assert reader.metric(1, "huge").values == [0.5, 10**400]
        nan, inf, big = reader.metric(1, "odd").values
        assert math.isnan(nan) and inf == math.inf and big == 2**53 + 1
        assert reader.metric(1, "plain").values == [0.25]
    stored = {(m["name"], m["exact"]) for m in rows(url, "metric")}
    assert ("plain", None) in stored  # a value the columns hold needs nothing more
    frame = pytest_sacred.load_runs(url)
    assert frame.loc[0, "metrics.huge.max"] == 10**400
    assert frame.loc[0, "metrics.huge.min"] == 0.5
    assert frame.loc[0, "metrics.odd.last"] == 2**53 + 1


def test_a_skipped_run_is_read_by_sacreds_query(pytester: pytest.Pytester,
                                                new_url: Callable[[], str]) -> None:
    """Sacred's status enum has no SKIPPED: its query reads INTERRUPTED, ours SKIPPED."""
    url = new_url()
    pytester.makepyfile(test_skip=textwrap.dedent("""
        import pytest

        @pytest.mark.experiment("skipping")
        def test_skips(sacred_run):
            pytest.skip("not today")
    """))
    pytester.runpytest("--sacred-sql", url).assert_outcomes(skipped=1)
    with open_reader(url) as reader:
        assert reader.get_run(1).status == "SKIPPED"
        assert [r.id for r in reader.list_runs(RunFilter(status="SKIPPED"))] == [1]
        assert list(reader.list_runs(RunFilter(status="INTERRUPTED"))) == []
    observer = SqlObserver(url)
    try:
        run = observer.query(1)
    finally:
        observer.session.remove()
        observer.engine.dispose()
    assert run["status"] == "INTERRUPTED" and run["experiment"]["name"] == "skipping"


def test_long_artifact_names_stay_apart(pytester: pytest.Pytester,
                                        new_url: Callable[[], str]) -> None:
    """Two names alike in their first 256 characters are two artifacts (they were cut to
    one before)."""
    url = new_url()
    stem = "d/" * 150
    pytester.makepyfile(test_names=textwrap.dedent(f"""
        import pytest

        @pytest.mark.experiment("names")
        def test_names(sacred_run, tmp_path):
            for tail in ("one.txt", "two.txt"):
                path = tmp_path / tail
                path.write_text(tail)
                sacred_run.add_artifact(path, name={stem!r} + tail)
    """))
    result = pytester.runpytest("--sacred-sql", url)
    result.assert_outcomes(passed=1)
    assert result.ret == 0, result.outlines
    with open_reader(url) as reader:
        run = reader.get_run(1)
        assert sorted(run.artifacts) == [stem + "one.txt", stem + "two.txt"]
        assert reader.artifact(1, stem + "two.txt") == b"two.txt"


def test_a_database_from_before_the_exact_column_gets_it(pytester: pytest.Pytester,
                                                         new_url: Callable[[], str]) -> None:
    """Tables an older version created (``step`` INTEGER, no ``exact``, no details status)
    are extended when a writer opens them; a step beyond their 32 bits still reads back."""
    url = new_url()
    engine = sa.create_engine(url)
    from pytest_sacred.stores.sql.schema import build_metadata

    metadata = build_metadata()
    metric, details = metadata.tables["metric"], metadata.tables["run_details"]
    metric._columns.remove(metric.c.exact)  # as the older version defined them
    metric.c.step.type = sa.Integer()
    details._columns.remove(details.c.status)
    metadata.create_all(engine)
    engine.dispose()
    assert "exact" not in tables(url)["metric"]
    pytester.makepyfile(test_steps=textwrap.dedent("""
        import pytest

        @pytest.mark.experiment("old")
        def test_steps(sacred_run):
            sacred_run.log_scalar("m", 1.0, step=2**40)
            pytest.skip("after logging")
    """))
    pytester.runpytest("--sacred-sql", url).assert_outcomes(skipped=1)
    assert "exact" in tables(url)["metric"] and "status" in tables(url)["run_details"]
    with open_reader(url) as reader:
        assert reader.metric(1, "m").steps == [2**40]
        assert reader.get_run(1).status == "SKIPPED"


def test_nul_in_output_and_names_does_not_lose_the_run(pytester: pytest.Pytester,
                                                       new_url: Callable[[], str]) -> None:
    """PostgreSQL's text refuses NUL: there it is U+FFFD in text columns (output, metric
    names); JSON values (info, result) keep it on every engine."""
    url = new_url()
    pytester.makepyfile(test_nul=textwrap.dedent("""
        import pytest

        @pytest.mark.experiment("nul")
        def test_nul(sacred_run):
            print("before\\0after")
            sacred_run.info["k\\0"] = "v\\0"
            sacred_run.log_scalar("m\\0", 1.0)
            return "r\\0"
    """))
    result = pytester.runpytest("--sacred-sql", url)
    result.assert_outcomes(passed=1)
    assert result.ret == 0, result.outlines
    nul = "\ufffd" if new_url.kind == "postgresql" else "\0"  # type: ignore[attr-defined]
    with open_reader(url) as reader:
        run = reader.get_run(1)
        assert run.status == "COMPLETED" and run.result == "r\0"
        assert run.info == {"k\0": "v\0"}
        assert run.captured_out.startswith(f"before{nul}after")
        assert run.metric_names == [f"m{nul}"]


def test_text_that_is_not_unicode_and_overlong_metric_names(pytester: pytest.Pytester,
                                                            new_url: Callable[[], str]) -> None:
    """A lone surrogate in output or a metric name is U+FFFD (drivers cannot encode it);
    a metric name longer than the column (PostgreSQL, MariaDB) is refused with its points,
    naming it, and the run still ends."""
    url = new_url()
    pytester.makepyfile(test_text=textwrap.dedent("""
        import pytest

        @pytest.mark.experiment("text")
        def test_text(sacred_run):
            sacred_run.log_scalar("bad\\ud800", 1.0)
            sacred_run.log_scalar("n" * 300, 2.0)
            return "r\\ud800"
    """))
    result = pytester.runpytest("--sacred-sql", url)
    result.assert_outcomes(passed=1)
    with open_reader(url) as reader:
        run = reader.get_run(1)
        assert run.status == "COMPLETED" and run.result == "r\ud800"  # JSON keeps it
        if new_url.kind == "sqlite":  # type: ignore[attr-defined]
            assert result.ret == 0
            assert run.metric_names == ["bad\ufffd", "n" * 300]
        else:
            assert result.ret == 6
            result.stdout.fnmatch_lines(["*metric name 'nnnn*has 300 characters; the "
                                         "metric table of * holds 256: give a shorter name*"])
            assert run.metric_names == []


# -- the store out of reach for good: spilled, then replayed whole ----------------------

def test_store_gone_for_good_spills_and_replay_writes_every_run_whole(
        pytester: pytest.Pytester, new_url: Callable[[], str]) -> None:
    """Mid-session the server becomes unreachable (its connections cut, new ones refused)
    or, for SQLite, another process locks the file past --sacred-lock-timeout: the runs go
    on without waiting for it, their events are spilled (exit 6), the spill names the
    store without a password, and the replay writes every run whole."""
    from helpers import HOLD_SQLITE_LOCK, hold_lock, outage_session, replay_and_check_whole
    from tcp_proxy import TcpProxy

    url = new_url()
    holders: list[subprocess.Popen] = []
    proxy = None
    if new_url.kind == "sqlite":  # type: ignore[attr-defined]
        store, extra = url, ("--sacred-lock-timeout=0.2",)

        def cut() -> None:
            holders.append(hold_lock(HOLD_SQLITE_LOCK, url.removeprefix("sqlite:///")))
    else:
        port = 5432 if new_url.kind == "postgresql" else 3306  # type: ignore[attr-defined]
        proxy = TcpProxy("127.0.0.1", port)
        store, extra = url.replace("@127.0.0.1/", f"@127.0.0.1:{proxy.port}/"), ()
        cut = proxy.cut
    try:
        try:
            out, spill = outage_session(pytester.path, cut, "sql", f"--sacred-sql={store}",
                                        *extra)
        finally:
            for holder in holders:
                holder.kill()
                holder.wait()
        header = json.loads(spill.read_text().splitlines()[0])
        assert header["store"]["kind"] == "sql" and header["store"]["url"] == store
        if proxy is not None:
            proxy.restore()
        replay_and_check_whole(spill, store)
    finally:
        if proxy is not None:
            proxy.cut()


def test_sql_password_left_out_of_the_spill_header() -> None:
    from pytest_sacred.stores.sql.writer import SqlObserver

    spec = SqlObserver("postgresql://user:s3cret@db.example/runs").store_spec()
    assert spec["url"] == "postgresql://user:***@db.example/runs"
    assert "s3cret" not in json.dumps(spec)


@pytest.mark.system  # the lock is held by another process
def test_a_queued_run_claiming_its_provisional_id_does_not_hand_it_out_again(
        tmp_path: Path) -> None:
    """Runs named while the database was away (ids 2, 3) are inserted by their queued
    first events once it is back. Inserting run 2 used to set the next id to 3, so a run
    named then took id 3 and the queued run 3 was refused ("already exists": spilled,
    exit 6). SQLite's lock stands in for the outage; the id logic is every dialect's."""
    from datetime import datetime

    from helpers import HOLD_SQLITE_LOCK, hold_lock

    from pytest_sacred.spill import SpillWriter
    from pytest_sacred.stores.sql.writer import SqlObserver
    from pytest_sacred.stores.write_queue import StoreQueue

    path = tmp_path / "runs.db"
    observer = SqlObserver(f"sqlite:///{path}", lock_timeout=0.2)
    observer.open()
    failures: list[tuple] = []
    queue = StoreQueue(observer, 60, SpillWriter(tmp_path / "_spill", "sql",
                                                 observer.store_spec()),
                       lambda *args, **kwargs: failures.append(args), lambda message: None,
                       inline=True)  # each write done when its hook returns
    observer.queue = queue
    ex_info = {"name": "e", "base_dir": str(tmp_path), "sources": []}

    def allocate(n: int) -> int:
        return observer.pytest_sacred_allocate_id(ex_info=ex_info, config={"n": n},
                                                  meta_info={"command": "test_e"})

    def start(run_id: int, n: int) -> None:
        observer.pytest_sacred_started_event(
            run_id=run_id, ex_info=ex_info, command="test_e", host_info={"hostname": "h"},
            start_time=datetime(2026, 1, 1), config={"n": n}, meta_info={"command": "test_e"})

    ids = {0: allocate(0)}
    start(ids[0], 0)
    holder = hold_lock(HOLD_SQLITE_LOCK, path)
    try:
        ids[1], ids[2] = allocate(1), allocate(2)  # named without the database
    finally:
        holder.kill()
        holder.wait()
    start(ids[1], 1)  # the queue writes the first of them: the database answers again
    ids[3] = allocate(3)
    assert len(set(ids.values())) == 4, ids
    start(ids[2], 2)
    start(ids[3], 3)
    queue.close()
    assert failures == []
    with open_reader(f"sqlite:///{path}") as reader:
        assert sorted((r.id, r.config["n"]) for r in reader.list_runs()) == sorted(
            (run_id, n) for n, run_id in ids.items())


@pytest.mark.parametrize("new_url", ["mariadb"], indirect=True)  # max_allowed_packet
def test_a_file_over_max_allowed_packet_is_refused_and_later_runs_are_stored(
        pytester: pytest.Pytester, new_url: Callable[[], str]) -> None:
    """Sent, the server would drop the connection (2013), taken for an outage: the store
    given up and every later run spilled. It is refused by name before it is sent."""
    import sqlalchemy as sa

    url = new_url()
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        packet = int(conn.execute(sa.text("SELECT @@max_allowed_packet")).scalar())
    engine.dispose()
    pytester.makepyfile(test_big_file=textwrap.dedent(f"""
        import pytest

        @pytest.mark.experiment("big")
        @pytest.mark.parametrize("size", [{packet}, 10])
        def test_big(size, sacred_run, tmp_path):
            (tmp_path / "blob.bin").write_bytes(b"x" * size)
            return size
    """))
    result = pytester.runpytest("-p", "no:randomly", "--sacred-sql", url)
    result.assert_outcomes(passed=2)
    out = result.stdout.str()
    assert result.ret == 6, out  # the refused artifact
    assert f"artifact 'blob.bin' has {packet} bytes" in out and "max_allowed_packet" in out
    assert "does not answer" not in out, out
    with open_reader(url) as reader:
        runs = {run.result: run for run in reader.list_runs()}
        assert sorted(runs) == [10, packet]
        assert runs[packet].status == runs[10].status == "COMPLETED"
        assert runs[10].artifacts == ["blob.bin"]
        assert reader.artifact(runs[10].id, "blob.bin") == b"x" * 10


def test_a_start_written_whose_answer_was_lost_is_written_again_whole(tmp_path: Path) -> None:
    """The start of a run reaches the database, then the connection drops before its
    answer (MariaDB's 2013 "Lost connection during query"): the retry finds the run's
    details there already and writes them again, instead of taking the duplicate key for
    a refusal (the run was called NOT STORED)."""
    from pytest_sacred.stores.sql.writer import SqlObserver as Writer

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    writer = Writer(url)
    writer.open()
    real_begin = writer._begin
    lost = []

    class AnswerLost:
        """A connection whose first commit is applied and then reported as failed."""

        def __init__(self) -> None:
            self.conn = real_begin()

        def __enter__(self) -> AnswerLost:
            self.conn.__enter__()
            return self

        def __exit__(self, *exc: object) -> None:
            self.conn.__exit__(*exc)

        def __getattr__(self, name: str) -> object:
            return getattr(self.conn, name)

        def commit(self) -> None:
            self.conn.commit()
            if not lost:
                lost.append(True)
                raise sa.exc.OperationalError("COMMIT", {}, Exception("database is locked"))

    ex_info = {"name": "lost", "base_dir": str(tmp_path), "sources": [], "dependencies": [],
               "repositories": [], "mainfile": "test_lost.py"}
    config = {"seed": 1}
    meta = {"command": "main", "options": {}}
    run_id = writer.pytest_sacred_allocate_id(ex_info=ex_info, config=config, meta_info=meta)
    start = dict(run_id=run_id, ex_info=ex_info, command="main",
                 host_info={"hostname": "h"}, start_time=datetime(2026, 1, 1),
                 config=config, meta_info=meta)
    writer._begin = AnswerLost  # type: ignore[method-assign]
    with pytest.raises(sa.exc.OperationalError) as failed:
        writer.pytest_sacred_started_event(**start)
    assert writer.is_transient(failed.value)  # so the write queue tries it again
    writer._begin = real_begin  # type: ignore[method-assign]
    writer.pytest_sacred_started_event(**start)
    writer.pytest_sacred_completed_event(run_id=run_id, stop_time=datetime(2026, 1, 1, 0, 1),
                                         result=3)
    writer.close()
    with open_reader(url) as reader:
        stored = reader.get_run(run_id)
    assert stored.status == "COMPLETED" and stored.result == 3
    assert stored.meta["command"] == "main"
