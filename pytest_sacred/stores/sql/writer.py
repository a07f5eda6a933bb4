"""Sacred's SqlObserver tables in any database SQLAlchemy reaches (``--sacred-sql URL``).

Rows as Sacred 0.8.7 writes them (FORMATS.md section 5), with these differences:

* ids are the integers every store uses: ``run.id`` is the id and ``run.run_id`` its
  text (Sacred's first run gets ``"0"`` and later ones skip ``1``); concurrent writers
  claim them with an insert that retries on a duplicate;
* metrics are kept (table ``metric``), and what Sacred's columns drop (meta, the whole
  host and experiment info, a non-numeric result) goes to ``run_details``
  (:mod:`.schema`);
* a run costs three transactions (its id, its start, its end) plus one per periodic
  heartbeat: a heartbeat less than ``DEFER_BEAT_SECONDS`` after the previous write (the
  final one, in a short run) is written with the end, not on its own;
* SQLite databases are switched to WAL journaling (readers never block the writer, a
  commit costs no fsync of the main file); a lock held by another process is waited for
  ``--sacred-lock-timeout`` seconds.

SQLAlchemy and the database driver are imported only when this store is used.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ...hashing import md5_of
from ...names import artifact_name
from ...payloads import ExperimentInfo, HostInfo, MetaInfo, MetricSeries
from ...redact import redact_url
from ...serialize import to_json
from ..base import (
    DEFAULT_LOCK_TIMEOUT,
    DEFER_BEAT_SECONDS,
    Observer,
    RunExists,
    StoreError,
    earlier_trace,
    provisional_id,
    queued,
    resumed,
)
from .connection import connect_error, create_engine
from .values import (
    PARTS_MARK,
    column_float,
    column_text,
    metric_point,
    short_form,
    split_text,
    status_columns,
)

_MAX_ID_ATTEMPTS = 1000
#: tries of a transaction the server chose as a deadlock's victim (MariaDB/MySQL 1213:
#: "try restarting transaction"), e.g. two sessions replacing artifacts at once
_DEADLOCK_ATTEMPTS = 5
_CREATE_ATTEMPTS = 5
#: MySQL/MariaDB error numbers of a server that cannot be reached or went away: the rest
#: of its OperationalErrors are refusals (a bad value, a denied access, a deadlock)
_MYSQL_TRANSIENT = frozenset({1040, 1053, 1927, 2002, 2003, 2005, 2006, 2013, 2055, 4031})
#: the share of MySQL/MariaDB's ``max_allowed_packet`` one text value may take in a
#: statement (a row's update carries several): a larger one is stored in parts
_PACKET_SHARE = 8


def _json(value: Any) -> str:
    return json.dumps(to_json(value))


def _fits(steps: Sequence[Any], values: Sequence[Any], step_range: range) -> bool:
    """Whether every point is stored as it is: integer steps the column holds, finite
    floats (what :func:`~.values.metric_point` would leave unchanged)."""
    if not steps:
        return True
    if set(map(type, steps)) != {int} or min(steps) not in step_range or \
            max(steps) not in step_range or set(map(type, values)) != {float}:
        return False
    try:
        return math.isfinite(math.fsum(values))
    except OverflowError:  # finite values whose sum passes floats
        return False
    except ValueError:  # fsum refuses inf and -inf together: not finite either
        return False


def _result_column(value: Any, dialect: str) -> float | None:
    """Sacred's ``result`` column is a float: the float of a numeric result where the
    engine has one; the exact result lives in ``run_details``."""
    if not isinstance(value, (int, float)) and callable(getattr(value, "item", None)):
        try:  # a numpy scalar
            value = value.item()
        except (TypeError, ValueError):
            return None
    return column_float(value, dialect)


@dataclass
class _Run:
    """What a run has that is not written yet."""

    row: dict[str, Any] = field(default_factory=dict)  # run columns
    details: dict[str, Any] = field(default_factory=dict)  # run_details columns
    metric_rows: list[dict[str, Any]] = field(default_factory=list)
    last_write: float = 0.0
    #: the events whose rows above are not written yet (what a spill file then needs)
    held: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    #: an earlier write of the run may have reached the database though it failed (its
    #: answer lost with the connection), or the run is continued from a spill file: rows
    #: inserted are checked against those stored
    doubtful: bool = False
    #: the ``"table.column"`` fields of the run stored in parts (``value_part``)
    parted: set[str] = field(default_factory=set)

    def take(self) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
        taken = self.row, self.details, self.metric_rows
        self.row, self.details, self.metric_rows = {}, {}, []
        return taken

    def give_back(self, row: dict[str, Any], details: dict[str, Any],
                  metric_rows: list[dict[str, Any]]) -> None:
        """A write that failed for a while: its rows wait for the next try."""
        self.row, self.details = {**row, **self.row}, {**details, **self.details}
        self.metric_rows = metric_rows + self.metric_rows


class SqlObserver(Observer):
    """Writes runs into Sacred's SQL tables, readable by code written for Sacred's."""

    priority = 40
    name = "sql"

    def __init__(self, url: str, priority: int = 40,
                 lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self.url = url
        self.priority = priority
        self.lock_timeout = lock_timeout
        self._engine: Any = None
        self._tables: Any = None
        self._limits: dict[tuple[str, str], int] = {}
        self._step_range = range(0)  # of the metric table's step column, known once open
        #: bytes of UTF-8 one text value may have in a statement (MySQL/MariaDB: a share
        #: of the server's max_allowed_packet, read at open); None: no limit
        self._value_bytes: int | None = None
        #: MySQL/MariaDB's max_allowed_packet, read at open; None on other engines
        self._packet_bytes: int | None = None
        self._runs: dict[int, _Run] = {}
        self._next_id: int | None = None
        self._allocated: set[int] = set()
        #: queued runs this worker claimed: their started event replaces their details
        self._claimed: set[int] = set()
        #: runs whose first write was tried and failed: it may have reached the database
        #: with its answer lost, so the next try replaces what it finds
        self._opening: set[int] = set()
        self._experiments: dict[int, tuple[Any, int]] = {}
        self._hosts: dict[int, tuple[Any, int]] = {}
        #: SQLite is a local file: its writes are made on the experiment's thread while
        #: they succeed, queued only when the database stays locked
        self.writes_inline = url.startswith("sqlite")

    def location(self, run_id: int | None) -> str:
        return f"{redact_url(self.url)}#{run_id}"

    def is_transient(self, exc: BaseException) -> bool:
        """The server cannot be reached or the connection was lost (SQLAlchemy invalidated
        it, or the driver's error is a disconnect), or SQLite stayed locked past
        ``--sacred-lock-timeout``; a refusal (integrity, a bad value) is not."""
        try:
            from sqlalchemy.exc import DBAPIError, OperationalError
        except ImportError:
            return False
        if not isinstance(exc, DBAPIError):
            return False
        if exc.connection_invalidated:
            return True
        if not isinstance(exc, OperationalError):
            return False
        backend = self.url.partition(":")[0].partition("+")[0]
        if backend == "sqlite":
            text = str(exc.orig).lower()
            return "locked" in text or "busy" in text
        if backend in ("mysql", "mariadb"):
            args: tuple[Any, ...] = tuple(getattr(exc.orig, "args", ()))
            return bool(args) and args[0] in _MYSQL_TRANSIENT
        # PostgreSQL and the rest: an OperationalError is the server or its database
        # out of reach (refused, closed, shut down, not accepting connections)
        return True

    def store_spec(self) -> dict[str, Any]:
        return {"kind": "sql", "url": redact_url(self.url), "lock_timeout": self.lock_timeout}

    def unwritten(self, run_id: int | None) -> list[tuple[str, dict[str, Any]]]:
        run = self._runs.pop(run_id, None) if run_id is not None else None
        return run.held if run is not None else []

    # -- session ----------------------------------------------------------------------------

    def open(self) -> None:
        """Connect, check the tables are Sacred's (or absent), create the missing ones."""
        if self._engine is not None:
            return
        import sqlalchemy as sa
        from sqlalchemy.exc import OperationalError, SQLAlchemyError

        from .schema import build_metadata, incompatible, string_limits
        from .values import integer_range

        engine = create_engine(self.url, self.lock_timeout)
        shown = redact_url(self.url)
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:  # each new connection: WAL makes NORMAL safe, and it saves an fsync a commit
            sa.event.listen(engine, "connect",
                            lambda dbapi, _: dbapi.execute("PRAGMA synchronous=NORMAL"))
        try:
            with engine.connect() as conn:
                problems = incompatible(sa.inspect(conn))
                conn.rollback()
                if problems:
                    raise StoreError(
                        f"--sacred-sql {shown!r} holds tables that are not Sacred's SqlObserver "
                        f"tables: {'; '.join(problems)}. Give a database (or schema) of its "
                        "own, or one Sacred's SqlObserver or pytest-sacred wrote")
                if sqlite:
                    self._prepare_sqlite(conn)
                metadata = build_metadata()
                self._create_tables(conn, metadata)
                self._add_columns(conn, metadata)
                inspector = sa.inspect(conn)
                # SQLite keeps whole strings whatever VARCHAR(n) says: nothing to fit there
                self._limits = {} if sqlite else string_limits(inspector)
                step = next(c for c in inspector.get_columns("metric") if c["name"] == "step")
                self._step_range = integer_range(step["type"], engine.dialect.name)
                if engine.dialect.name in ("mysql", "mariadb"):
                    packet = conn.execute(sa.text("SELECT @@max_allowed_packet")).scalar()
                    conn.rollback()
                    self._packet_bytes = int(packet)
                    self._value_bytes = self._packet_bytes // _PACKET_SHARE
        except StoreError:
            engine.dispose()
            raise
        except OperationalError as exc:
            engine.dispose()
            locked = "locked" in str(exc.orig)
            raise StoreError(
                f"--sacred-sql {shown!r}: " + (
                    f"the database is locked by another process (waited {self.lock_timeout:g} s)"
                    "; raise --sacred-lock-timeout or end the other writer" if locked else
                    f"cannot connect ({connect_error(exc, self.url)}); start the server or fix "
                    "the URL")) from None
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StoreError(f"--sacred-sql {shown!r} failed: "
                             f"{connect_error(exc, self.url)}") from None
        self._engine = engine
        self._tables = metadata.tables

    @staticmethod
    def _create_tables(conn: Any, metadata: Any) -> None:
        """The missing tables; another session creating them at the same moment is fine."""
        from sqlalchemy.exc import SQLAlchemyError

        for attempt in range(_CREATE_ATTEMPTS):
            try:
                metadata.create_all(conn, checkfirst=True)
                conn.commit()
                return
            except SQLAlchemyError:  # "already exists": the other session was first
                conn.rollback()
                if attempt == _CREATE_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))

    @staticmethod
    def _add_columns(conn: Any, metadata: Any) -> None:
        """The columns our tables gained since an older version created them; another
        session adding one at the same moment is fine."""
        import sqlalchemy as sa
        from sqlalchemy.exc import SQLAlchemyError

        from .schema import ADDED_COLUMNS

        for table, name in ADDED_COLUMNS:
            if name in {c["name"] for c in sa.inspect(conn).get_columns(table)}:
                continue
            column = metadata.tables[table].c[name]
            kind = column.type.compile(dialect=conn.dialect)
            try:
                conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {name} {kind}"))
                conn.commit()
            except SQLAlchemyError:
                conn.rollback()
                if name not in {c["name"] for c in sa.inspect(conn).get_columns(table)}:
                    raise

    @staticmethod
    def _prepare_sqlite(conn: Any) -> None:
        """WAL journaling, and proof the database can be locked for writing in time."""
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        conn.commit()
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # waits lock_timeout for another writer
        conn.exec_driver_sql("ROLLBACK")

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _db(self) -> Any:
        if self._engine is None:
            self.open()
        return self._engine

    def _begin(self) -> Any:
        return self._db().connect()

    def _fit(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        """Strings cut to the column's size (tables Sacred created have narrow ones), and
        without NUL on PostgreSQL (:func:`~.values.column_text`)."""
        dialect = self._db().dialect.name
        for key, value in row.items():
            if isinstance(value, str):
                value = row[key] = column_text(value, dialect)
                limit = self._limits.get((table, key))
                if limit and len(value) > limit:
                    row[key] = value[:limit]
        return row

    def _in_parts(self, conn: Any, run_id: int, run: _Run, table: str, row: dict[str, Any],
                  later: dict[str, str] | None = None) -> dict[str, Any]:
        """``row`` with each text too large for one statement to the server replaced by its
        short form (:func:`~.values.short_form`), the whole text stored in parts in
        ``value_part`` in the caller's transaction (or put in ``later``, by field, for a
        row not inserted yet). A value of the run stored in parts before and small now
        has its parts removed.

        A value over MySQL/MariaDB's ``max_allowed_packet`` would be refused by the
        server with a lost connection (error 2013), which looks like an outage: the store
        would be given up and every later run spilled, for one value."""
        if self._value_bytes is None:
            return row
        for column, value in list(row.items()):
            if not isinstance(value, str):
                continue
            name = f"{table}.{column}"
            size = len(value) if len(value) * 4 <= self._value_bytes else \
                len(value.encode("utf-8"))
            if size <= self._value_bytes:
                if name in run.parted:
                    self._drop_parts(conn, run_id, name)
                    run.parted.discard(name)
                continue
            note = (f"…[{size} bytes, over what one statement to this server may carry "
                    f"(1/{_PACKET_SHARE} of its max_allowed_packet): {PARTS_MARK}]…")
            row[column] = short_form(name, value, note)
            run.parted.add(name)
            if later is not None:
                later[name] = value
            else:
                self._store_parts(conn, run_id, name, value)
        return row

    def _store_parts(self, conn: Any, run_id: int, name: str, value: str) -> None:
        """``value`` of the field ``name`` in parts, replacing those stored before."""
        assert self._value_bytes is not None
        self._drop_parts(conn, run_id, name)
        part = self._tables["value_part"]
        for number, text in enumerate(split_text(value, self._value_bytes)):
            conn.execute(part.insert().values(run_id=str(run_id), field=name, part=number,
                                              content=text))

    def _drop_parts(self, conn: Any, run_id: int, name: str) -> None:
        part = self._tables["value_part"]
        conn.execute(part.delete().where(part.c.run_id == str(run_id), part.c.field == name))

    # -- experiment, host, files ------------------------------------------------------------

    def _get_or_create(self, conn: Any, table: str, key: str, values: dict[str, Any]) -> int:
        import sqlalchemy as sa

        t = self._tables[table]
        values = self._fit(table, dict(values))
        query = sa.select(t.c[key]).where(*[
            t.c[k].is_(None) if v is None else t.c[k] == v for k, v in values.items()
            if k != "content"]).limit(1)
        found: int | None = conn.execute(query).scalar()
        if found is not None:
            return found
        inserted: int = conn.execute(t.insert().values(**values)).inserted_primary_key[0]
        return inserted

    def _experiment_id(self, conn: Any, ex_info: ExperimentInfo) -> int:
        cached = self._experiments.get(id(ex_info))
        if cached is not None and cached[0] is ex_info:
            return cached[1]
        t = self._tables
        md5 = hashlib.md5(json.dumps(ex_info, default=str).encode()).hexdigest()
        found = conn.execute(t["experiment"].select().where(
            t["experiment"].c.name == ex_info["name"][:self._limit("experiment", "name")],
            t["experiment"].c.md5sum == md5)).first()
        experiment_id: int
        if found is not None:
            experiment_id = found.experiment_id
        else:
            experiment_id = conn.execute(t["experiment"].insert().values(**self._fit(
                "experiment", {"name": ex_info["name"], "md5sum": md5,
                               "base_dir": ex_info.get("base_dir")}))).inserted_primary_key[0]
            links = []
            base_dir = ex_info.get("base_dir") or ""
            for name, source_md5 in ex_info.get("sources", []):
                with open(os.path.join(base_dir, name), encoding="utf-8",
                          errors="replace") as f:
                    content = f.read()
                links.append(("experiments_sources", "source_id", self._get_or_create(
                    conn, "source", "source_id",
                    {"filename": name, "md5sum": source_md5, "content": content})))
            for dep in ex_info.get("dependencies", []):
                name, _, version = dep.partition("==")
                links.append(("experiments_dependencies", "dependency_id", self._get_or_create(
                    conn, "dependency", "dependency_id", {"name": name, "version": version})))
            for repo in {(r["url"], r["commit"], bool(r["dirty"]))
                         for r in ex_info.get("repositories", [])}:
                links.append(("experiments_repositories", "repository_id", self._get_or_create(
                    conn, "repository", "repository_id",
                    {"url": repo[0], "commit": repo[1], "dirty": repo[2]})))
            for table, key, value in links:
                conn.execute(t[table].insert().values(experiment_id=experiment_id,
                                                      **{key: value}))
        self._experiments[id(ex_info)] = (ex_info, experiment_id)
        return experiment_id

    def _limit(self, table: str, column: str) -> int | None:
        return self._limits.get((table, column))

    def _host_id(self, conn: Any, host_info: HostInfo) -> int:
        cached = self._hosts.get(id(host_info))
        if cached is not None and cached[0] is host_info:
            return cached[1]
        os_name, os_info = (list(host_info.get("os") or []) + [None, None])[:2]
        host_id = self._get_or_create(conn, "host", "host_id", {
            "hostname": host_info.get("hostname"), "cpu": host_info.get("cpu"),
            "os": os_name, "os_info": os_info,
            "python_version": host_info.get("python_version")})
        self._hosts[id(host_info)] = (host_info, host_id)
        return host_id

    # -- ids --------------------------------------------------------------------------------

    def _insert_run(self, run_id: int | None, row: dict[str, Any]) -> int:
        """Insert the run row under ``run_id``, or the next free id; unique across writers."""
        import sqlalchemy as sa
        from sqlalchemy.exc import IntegrityError, OperationalError

        run = self._tables["run"]
        given = run_id is not None
        candidate = run_id if given else self._next_id
        for _ in range(_MAX_ID_ATTEMPTS):
            if candidate is None:
                with self._begin() as conn:
                    candidate = (conn.execute(sa.select(sa.func.max(run.c.id))).scalar() or 0) + 1
            try:
                with self._begin() as conn:
                    parts: dict[str, str] = {}  # written once the row they belong to is
                    fitted = self._in_parts(conn, candidate, _Run(), "run", dict(row), parts)
                    conn.execute(run.insert().values(id=candidate, run_id=str(candidate),
                                                     **fitted))
                    for name, value in parts.items():
                        self._store_parts(conn, candidate, name, value)
                    if conn.dialect.name == "postgresql":  # Sacred's inserts use the sequence
                        conn.execute(sa.text(
                            "SELECT setval(pg_get_serial_sequence('run', 'id'), "
                            "(SELECT max(id) FROM run))"))
                    conn.commit()
            except IntegrityError:
                if given:
                    assert run_id is not None
                    if self._same_run(run_id, row):
                        return run_id
                    raise RunExists(f"run {run_id} already exists in {redact_url(self.url)}; "
                                    "choose a free --sacred-id or another database") from None
                candidate = None  # another writer took it: look again
                continue
            except OperationalError as exc:
                if "deadlock" not in str(exc.orig).lower():
                    raise
                candidate = None if not given else candidate
                continue
            # a queued run claiming its provisional id (named while the database was away)
            # must not move the next id back among the provisional ids handed out after it
            self._next_id = max(self._next_id or 0, candidate + 1)
            return candidate
        raise StoreError(f"no free run id in {redact_url(self.url)} after "
                         f"{_MAX_ID_ATTEMPTS} attempts")

    def _same_run(self, run_id: int, row: dict[str, Any]) -> bool:
        """Whether the stored row of ``run_id`` is this run's: the placeholder its id was
        claimed with (no status yet), or its first event written before (a try whose
        answer was lost, an earlier replay); the config, with its seed, tells them apart."""
        import sqlalchemy as sa

        run = self._tables["run"]
        with self._begin() as conn:
            stored = conn.execute(sa.select(run.c.status, run.c.config).where(
                run.c.id == run_id)).first()
        return stored is not None and stored.config == row.get("config") and (
            stored.status is None or stored.status in ("RUNNING", "QUEUED"))

    def _first_row(self, ex_info: ExperimentInfo, config: dict[str, Any], meta_info: MetaInfo
                   ) -> dict[str, Any]:
        cached = self._experiments.get(id(ex_info))
        if cached is not None and cached[0] is ex_info:
            experiment_id = cached[1]
        else:
            with self._begin() as conn:
                experiment_id = self._experiment_id(conn, ex_info)
                conn.commit()
        return self._fit("run", {
            "config": _json(config), "command": meta_info.get("command"),
            "priority": meta_info.get("priority", 0), "comment": meta_info.get("comment", ""),
            "experiment_id": experiment_id})

    def pytest_sacred_allocate_id(self, ex_info: ExperimentInfo, config: dict[str, Any],
                                  meta_info: MetaInfo) -> int:
        """Claim the id with a row holding what is known already.

        While the database does not answer, the run is named without asking it: the id
        after this process's last one, which the queued started event then inserts (a
        clash with another writer there is a refusal: the run is spilled and replayed
        under a new id). The experiment never waits for an unreachable database here.
        """
        if self.queue is not None and self.queue.down:
            return self._provisional_id()
        try:
            run_id = self._insert_run(None, self._first_row(ex_info, config, meta_info))
        except Exception as exc:
            if self.queue is None or not self.is_transient(exc):
                raise
            return self._provisional_id()
        self._allocated.add(run_id)
        return run_id

    def _provisional_id(self) -> int:
        return provisional_id(self, redact_url(self.url))

    # -- events -----------------------------------------------------------------------------

    def _open_run(self, run_id: int, ex_info: ExperimentInfo, command: str, host_info: HostInfo,
                  config: dict[str, Any], meta_info: MetaInfo, **columns: Any) -> None:
        t = self._tables
        if run_id not in self._allocated:
            self._insert_run(run_id, self._first_row(ex_info, config, meta_info))
            self._allocated.add(run_id)  # ours now: a retry of what follows fills it
        retry = run_id in self._opening
        self._opening.add(run_id)
        with self._begin() as conn:
            host_id = self._host_id(conn, host_info)
            conn.execute(t["run"].update().where(t["run"].c.id == run_id).values(**self._fit(
                "run", {"command": command, "host_id": host_id, "captured_out": "",
                        "info": "{}", **columns})))
            # a queued run this worker claimed gets new details, and so does a run whose
            # earlier try may have been committed before its answer was lost
            if run_id in self._claimed or retry:
                conn.execute(t["run_details"].delete().where(
                    t["run_details"].c.run_id == str(run_id)))
            conn.execute(t["run_details"].insert().values(
                run_id=str(run_id), meta=_json(meta_info), host=_json(host_info),
                experiment=_json({**ex_info, "sources": [list(s) for s in
                                                         ex_info.get("sources", [])]})))
            conn.commit()
        self._claimed.discard(run_id)
        self._allocated.discard(run_id)
        self._opening.discard(run_id)
        self._runs[run_id] = _Run(last_write=time.monotonic())

    def _run(self, run_id: int) -> _Run:
        """What is pending of the run; a run this process did not start (continued from a
        spill file) begins with nothing pending."""
        run = self._runs.get(run_id)
        if run is None:
            run = self._runs[run_id] = _Run(doubtful=True)
        return run

    def _not_stored(self, conn: Any, run_id: int, metric_rows: list[dict[str, Any]]
                    ) -> list[dict[str, Any]]:
        """The points of ``metric_rows`` the run does not hold yet, by name and step
        (each stored point covers one of the same name and step)."""
        import sqlalchemy as sa

        metric = self._tables["metric"]
        stored = Counter(conn.execute(sa.select(metric.c.name, metric.c.step).where(
            metric.c.run_id == str(run_id))).all())
        rows = []
        for row in metric_rows:
            key = (row["name"], row["step"])
            if stored[key] > 0:
                stored[key] -= 1
            else:
                rows.append(row)
        return rows

    # -- queue: --sacred-run-queued workers claim QUEUED runs; see pytest_sacred/queue.py -

    def claim_queued(self, nodeids: list[str], worker: dict[str, Any]
                     ) -> dict[str, Any] | None:
        """Claim the oldest QUEUED run of one of ``nodeids`` with a conditional UPDATE
        (QUEUED -> RUNNING: one worker wins); returns its id, config and meta."""
        import sqlalchemy as sa

        self._db()  # opens the store
        run, details = self._tables["run"], self._tables["run_details"]
        wanted = set(nodeids)
        with self._begin() as conn:
            rows = conn.execute(sa.select(run.c.id, run.c.config, details.c.meta)
                                .join(details, details.c.run_id == run.c.run_id)
                                .where(run.c.status == "QUEUED").order_by(run.c.id)).all()
        for run_id, config, meta in rows:
            meta = json.loads(meta or "{}")
            if (meta.get("pytest") or {}).get("nodeid") not in wanted:
                continue
            with self._begin() as conn:
                claimed = conn.execute(run.update().where(run.c.id == run_id,
                                                          run.c.status == "QUEUED")
                                       .values(status="RUNNING")).rowcount
                conn.commit()
            if claimed == 1:
                self._allocated.add(run_id)
                self._claimed.add(run_id)
                return {"_id": run_id, "config": json.loads(config or "{}"), "meta": meta}
        return None

    def requeue(self, run_id: int, statuses: tuple[str, ...]) -> bool:
        """Put run ``run_id`` back in the queue if its status is one of ``statuses``."""
        self._db()
        run = self._tables["run"]
        with self._begin() as conn:
            done: int = conn.execute(run.update().where(
                run.c.id == run_id, run.c.status.in_(statuses)).values(
                status="QUEUED", start_time=None, heartbeat=None, stop_time=None)).rowcount
            conn.commit()
        return done == 1

    def running_before(self, beat: datetime) -> list[int]:
        """Ids of RUNNING runs whose last heartbeat (or start) is older than ``beat``."""
        import sqlalchemy as sa

        self._db()
        run = self._tables["run"]
        last = sa.func.coalesce(run.c.heartbeat, run.c.start_time)
        with self._begin() as conn:
            return [r[0] for r in conn.execute(sa.select(run.c.id).where(
                run.c.status == "RUNNING", last < beat))]

    def end_abandoned(self, run_id: int, status: str, reason: str) -> None:
        """End a RUNNING run its own process could not end (a killed task), the reason in
        ``info.ended_by``; a run that ended is left as it is (it says what ended it)."""
        import sqlalchemy as sa

        from ...clock import utcnow

        self._db()
        run = self._tables["run"]
        running = (run.c.id == run_id, run.c.status == "RUNNING")
        with self._begin() as conn:
            row = conn.execute(sa.select(run.c.info).where(*running)).first()
            if row is None:
                return
            info = {**json.loads(row[0] or "{}"), "ended_by": reason}
            conn.execute(run.update().where(*running).values(
                status=status, stop_time=utcnow(), info=json.dumps(info),
                **({"fail_trace": reason} if status == "FAILED" else {})))
            conn.commit()

    @queued
    def pytest_sacred_queued_event(self, run_id: int, ex_info: ExperimentInfo, command: str,
                                   host_info: HostInfo, queue_time: datetime,
                                   config: dict[str, Any], meta_info: MetaInfo) -> None:
        self._open_run(run_id, ex_info, command, host_info, config, meta_info,
                       status="QUEUED", queue_time=queue_time)
        self._runs.pop(run_id, None)

    @queued
    def pytest_sacred_started_event(self, run_id: int, ex_info: ExperimentInfo, command: str,
                                    host_info: HostInfo, start_time: datetime,
                                    config: dict[str, Any], meta_info: MetaInfo) -> None:
        self._open_run(run_id, ex_info, command, host_info, config, meta_info,
                       status="RUNNING", start_time=start_time)

    def _flush(self, run_id: int, run: _Run) -> None:
        """Write what the run has pending in one transaction."""
        t = self._tables
        row, details, metric_rows = run.take()
        try:
            with self._begin() as conn:
                rows = self._not_stored(conn, run_id, metric_rows) if run.doubtful and \
                    metric_rows else metric_rows
                if rows:
                    conn.execute(t["metric"].insert(), rows)
                if row:
                    conn.execute(t["run"].update().where(t["run"].c.id == run_id).values(
                        **self._in_parts(conn, run_id, run, "run", self._fit("run", dict(row)))))
                if details:
                    conn.execute(t["run_details"].update().where(
                        t["run_details"].c.run_id == str(run_id)).values(
                        **self._in_parts(conn, run_id, run, "run_details",
                                         self._fit("run_details", dict(details)))))
                conn.commit()
        except Exception as exc:
            if self.is_transient(exc):  # retried: the rows go with the next try
                run.give_back(row, details, metric_rows)
                run.doubtful = True
            else:  # refused: what it held is reported with this event, not tried again
                run.held.clear()
            raise
        run.held.clear()
        run.last_write = time.monotonic()

    @queued
    def pytest_sacred_heartbeat_event(self, run_id: int, info: dict[str, Any], captured_out: str,
                                      beat_time: datetime, result: Any) -> None:
        run = self._run(run_id)
        run.row.update(info=_json(info), captured_out=captured_out or "", heartbeat=beat_time,
                       result=_result_column(result, self._db().dialect.name))
        run.details["result"] = _json(result)
        if time.monotonic() - run.last_write >= DEFER_BEAT_SECONDS:
            self._flush(run_id, run)
        else:
            run.held.append(("pytest_sacred_heartbeat_event", {
                "run_id": run_id, "info": info, "captured_out": captured_out,
                "beat_time": beat_time, "result": result}))

    @queued
    def pytest_sacred_log_metrics(self, run_id: int,
                                  metrics_by_name: dict[str, MetricSeries]) -> None:
        """Kept until the run's next write: one multi-row insert per write."""
        run = self._run(run_id)
        dialect, steps = self._db().dialect.name, self._step_range
        key = str(run_id)
        limit = self._limit("metric", "name")
        too_long = [name for name in metrics_by_name if limit and len(name) > limit]
        if too_long:  # refused before any point is kept: the run's other writes go on
            raise StoreError(
                f"metric name {too_long[0][:80]!r}… has {len(too_long[0])} characters; the "
                f"metric table of {redact_url(self.url)} holds {limit}: give a shorter name")
        for logged, metric in metrics_by_name.items():
            name = column_text(logged, dialect)
            values: Sequence[Any] = metric["values"]
            points = zip(metric["steps"], values, metric["timestamps"], strict=False)
            if _fits(metric["steps"], values, steps):  # the usual case, checked in C
                run.metric_rows += [{"run_id": key, "name": name, "step": s, "value": v,
                                     "timestamp": ts, "exact": None} for s, v, ts in points]
                continue
            for s, v, ts in points:
                step, value, exact = metric_point(s, v, steps, dialect)
                run.metric_rows.append({"run_id": key, "name": name, "step": step,
                                        "value": value, "timestamp": ts, "exact": exact})
        run.held.append(("pytest_sacred_log_metrics",
                         {"run_id": run_id, "metrics_by_name": metrics_by_name}))

    def _finish(self, run_id: int, status: str, stop_time: datetime,
                details: dict[str, Any] | None = None, **columns: Any) -> None:
        run = self._run(run_id)
        sacreds, ours = status_columns(status)  # SKIPPED: outside Sacred's status enum
        run.row.update(stop_time=stop_time, status=sacreds, **columns)
        run.details.update(details or {}, status=ours)
        self._flush(run_id, run)  # a transient failure keeps the run for the next try
        self._runs.pop(run_id, None)

    @queued
    def pytest_sacred_completed_event(self, run_id: int, stop_time: datetime,
                                      result: Any) -> None:
        self._finish(run_id, "COMPLETED", stop_time, {"result": _json(result)},
                     result=_result_column(result, self._db().dialect.name))

    @queued
    def pytest_sacred_failed_event(self, run_id: int, fail_time: datetime,
                                   fail_trace: list[str]) -> None:
        self._finish(run_id, "FAILED", fail_time, {"fail_trace": json.dumps(list(fail_trace))},
                     fail_trace="\n".join(fail_trace))

    @queued
    def pytest_sacred_interrupted_event(self, run_id: int, interrupt_time: datetime,
                                        status: str) -> None:
        self._finish(run_id, status, interrupt_time)

    @queued
    def pytest_sacred_artifact_event(self, run_id: int, name: str, filename: str) -> None:
        name = artifact_name(name)  # the same names as every store, refused for the same reasons
        limit = self._limit("artifact", "filename")
        if limit is not None and len(name) > limit:  # cut, two names could become one
            raise StoreError(
                f"artifact name {name[:80]!r}… has {len(name)} characters; the artifact table "
                f"of {redact_url(self.url)} (created by Sacred or an older pytest-sacred) "
                f"holds {limit}: give a shorter name, or a new database")
        with open(filename, "rb") as f:
            content = f.read()
        self._check_packet(content, f"artifact {name!r}")
        run = self._runs.get(run_id)

        def write(conn: Any) -> None:
            # a name is listed once: a checkpoint file sent again, or a try whose answer
            # was lost, is replaced
            self._drop_artifact(conn, run_id, name)
            conn.execute(self._tables["artifact"].insert().values(**self._fit(
                "artifact", {"filename": name, "content": content, "run_id": str(run_id)})))

        try:
            self._transaction(write)
        except Exception as exc:
            if run is not None and self.is_transient(exc):
                run.doubtful = True
            raise

    @queued
    def pytest_sacred_resource_event(self, run_id: int, filename: str) -> None:
        md5 = md5_of(filename)
        with open(filename, "rb") as f:
            content = f.read()
        self._check_packet(content, f"resource {filename!r}")

        def write(conn: Any) -> None:
            resource_id = self._get_or_create(conn, "resource", "resource_id",
                                              {"filename": filename, "md5sum": md5,
                                               "content": content})
            conn.execute(self._tables["runs_resources"].insert().values(
                run_id=str(run_id), resource_id=resource_id))

        self._transaction(write)

    def _transaction(self, write: Callable[[Any], None]) -> None:
        """``write(conn)`` in one transaction, committed; tried again (a few times) when
        the server ends it as a deadlock's victim, as MariaDB/MySQL ask: two sessions
        writing the same table at once is no refusal of the run's event."""
        from sqlalchemy.exc import OperationalError

        for attempt in range(_DEADLOCK_ATTEMPTS):
            try:
                with self._begin() as conn:
                    write(conn)
                    conn.commit()
                return
            except OperationalError as exc:
                if "deadlock" not in str(exc.orig).lower() or \
                        attempt == _DEADLOCK_ATTEMPTS - 1:
                    raise
                time.sleep(0.02 * (attempt + 1))

    def _check_packet(self, content: bytes, what: str) -> None:
        """Refuse a file's bytes too large for one statement to the server (MySQL/MariaDB's
        max_allowed_packet): sent, the server would drop the connection (error 2013), which
        looks like an outage and would give the whole store up."""
        if self._packet_bytes is not None and len(content) >= self._packet_bytes - 1024:
            raise StoreError(
                f"{what} has {len(content)} bytes; {redact_url(self.url)} takes at most "
                f"max_allowed_packet = {self._packet_bytes} bytes in one statement: raise "
                "the server's max_allowed_packet, or keep the file in another store")

    def _drop_artifact(self, conn: Any, run_id: int, name: str) -> None:
        """Delete the run's artifact ``name`` (in the caller's transaction, before the new
        content is inserted): a checkpoint file sent again replaces its earlier copy."""
        artifact = self._tables["artifact"]
        conn.execute(artifact.delete().where(artifact.c.run_id == str(run_id),
                                             artifact.c.filename == name))

    # -- resume (--sacred-resume) -----------------------------------------------------------

    def claim_resume(self, run_id: int, statuses: tuple[str, ...],
                     silent_since: datetime) -> str | None:
        """Take a stored run to resume it: a conditional ``UPDATE … WHERE status = <the
        status read>`` (for RUNNING, also: silent since ``silent_since``) whose row count
        says whether this session won. Returns the status it had, ``None`` when it is not
        resumable (another session took it first, or it ended SKIPPED)."""
        import sqlalchemy as sa

        from ...clock import utcnow

        self._db()
        run, details = self._tables["run"], self._tables["run_details"]
        own_status = sa.exists().where(details.c.run_id == str(run_id),
                                       details.c.status.is_not(None))  # SKIPPED
        last = sa.func.coalesce(run.c.heartbeat, run.c.start_time)
        with self._begin() as conn:
            row = conn.execute(sa.select(run.c.status).where(run.c.id == run_id)).first()
            if row is None:
                raise StoreError(f"{self.location(run_id)}: no such run")
            status = row[0]
            if status == "RUNNING":
                condition = [last < silent_since]
            elif status in statuses:
                condition = [~own_status]
            else:
                return None
            claimed: int = conn.execute(run.update().where(
                run.c.id == run_id, run.c.status == status, *condition).values(
                status="RUNNING", heartbeat=utcnow())).rowcount
            conn.commit()
        return str(status) if claimed == 1 else None

    @queued
    def pytest_sacred_resumed_event(self, run_id: int, host_info: HostInfo,
                                    resume_time: datetime, from_status: str,
                                    meta_info: MetaInfo) -> None:
        """The claimed run goes on: RUNNING, one more ``meta.resumed`` entry in its
        details (holding the earlier attempt's fail_trace, whose columns are NULL again, as
        Sacred leaves them on a run that did not fail), its rows kept (later points are
        added to its metric rows)."""
        import sqlalchemy as sa

        self._db()
        run, details = self._tables["run"], self._tables["run_details"]
        with self._begin() as conn:
            row = conn.execute(sa.select(details.c.meta).where(
                details.c.run_id == str(run_id))).first()
            meta = json.loads((row[0] if row else None) or "{}")
            meta["resumed"] = resumed(meta.get("resumed"), resume_time, host_info, from_status,
                                      to_json, earlier_trace(meta_info))
            conn.execute(run.update().where(run.c.id == run_id).values(
                status="RUNNING", heartbeat=resume_time, fail_trace=None))
            conn.execute(details.update().where(details.c.run_id == str(run_id)).values(
                **self._fit("run_details", {"meta": json.dumps(meta), "status": None,
                                            "fail_trace": None})))
            conn.commit()
        self._runs[run_id] = _Run(last_write=time.monotonic())

    def reader_store(self) -> str:
        """The URL :func:`~pytest_sacred.readers.open_reader` reads this store by (a resumed
        or re-run run is read back from it)."""
        return self.url
