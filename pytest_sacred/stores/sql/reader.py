"""Reader of Sacred's SqlObserver tables (ours and Sacred 0.8.7's own), any SQLAlchemy URL.

A run is its ``run`` row (``run.id`` is its id) with its experiment and host rows; our
``run_details`` and ``metric`` tables, when a run has them, give back what Sacred's columns
cannot hold. Only SELECTs are sent.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from ...readers.base import (
    ALL_RUNS,
    Metric,
    MetricSummary,
    NoSuchRun,
    Reader,
    RunFilter,
    StoredRun,
    StoreUnreadable,
    summarize,
)
from .values import PARTS_MARK, point_from_columns

#: the row's name of each ``"table.column"`` a value may be stored in parts for
_PART_FIELDS = {"run.info": "info", "run.config": "config", "run.captured_out": "captured_out",
                "run.fail_trace": "fail_trace", "run.comment": "comment",
                "run_details.meta": "d_meta", "run_details.host": "d_host",
                "run_details.experiment": "d_experiment", "run_details.result": "d_result",
                "run_details.fail_trace": "d_fail_trace"}


def _number(value: Any) -> Any:
    """A number as a float where an aggregate (``MIN``/``MAX`` of a column) still gives a
    ``Decimal``; the columns themselves are read as floats (:func:`_floats_exactly`)."""
    return float(value) if isinstance(value, Decimal) else value


def _floats_exactly(inspector: Any, table: Any, column: dict[str, Any]) -> None:
    """Reflected ``DOUBLE``/``FLOAT`` columns read as Python floats, bit for bit.

    MySQL/MariaDB reflect them with ``asdecimal=True``: SQLAlchemy would then make each
    value a ``Decimal`` rounded to 10 digits (``0.0416666667``), not the double stored.
    """
    import sqlalchemy as sa

    kind = column["type"]
    if isinstance(kind, sa.Float) and getattr(kind, "asdecimal", False):
        column["type"] = sa.Double(asdecimal=False)


def _loads(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


class SqlReader(Reader):
    """Runs in one database."""

    def __init__(self, url: str) -> None:
        import sqlalchemy as sa
        from sqlalchemy.exc import SQLAlchemyError

        from ...redact import redact_url
        from ..base import DEFAULT_LOCK_TIMEOUT, StoreError
        from .connection import connect_error, create_engine

        self.url = url
        self.location = redact_url(url)
        try:
            self._engine = create_engine(url, DEFAULT_LOCK_TIMEOUT, what="SQL store")
        except StoreError as exc:
            raise StoreUnreadable(str(exc)) from None
        database = self._engine.url.database
        if self._engine.dialect.name == "sqlite" and database not in (None, "", ":memory:") \
                and not os.path.isfile(database):  # connecting would create it
            raise StoreUnreadable(f"{self.location}: no SQLite database at {database}")
        try:
            names = set(sa.inspect(self._engine).get_table_names())
        except SQLAlchemyError as exc:
            self._engine.dispose()
            raise StoreUnreadable(f"cannot read {self.location}: "
                                  f"{connect_error(exc, url)}") from None
        if not {"run", "experiment", "host"} <= names:
            self._engine.dispose()
            raise StoreUnreadable(f"{self.location} has no Sacred run tables (run, experiment, "
                                  "host): not an SQL store")
        self._md = sa.MetaData()
        sa.event.listen(self._md, "column_reflect", _floats_exactly)
        self._md.reflect(self._engine)
        self._t = self._md.tables

    def close(self) -> None:
        self._engine.dispose()

    # -- queries ----------------------------------------------------------------------------

    def _rows(self, where: RunFilter) -> list[Any]:
        import sqlalchemy as sa

        run, ex, host = self._t["run"], self._t["experiment"], self._t["host"]
        columns: list[Any] = [run, ex.c.name.label("ex_name"), ex.c.base_dir.label("ex_base_dir"),
                   host.c.hostname.label("h_hostname"), host.c.cpu.label("h_cpu"),
                   host.c.os.label("h_os"), host.c.os_info.label("h_os_info"),
                   host.c.python_version.label("h_python")]
        joined = run.outerjoin(ex, run.c.experiment_id == ex.c.experiment_id).outerjoin(
            host, run.c.host_id == host.c.host_id)
        details = self._t.get("run_details")
        if details is not None:
            columns += [details.c.meta.label("d_meta"), details.c.host.label("d_host"),
                        details.c.experiment.label("d_experiment"),
                        details.c.result.label("d_result"),
                        details.c.fail_trace.label("d_fail_trace")]
            joined = joined.outerjoin(details, details.c.run_id == run.c.run_id)
        status: Any = run.c.status
        if details is not None and "status" in details.c:  # SKIPPED: not in Sacred's enum
            # as text: PostgreSQL compares an enum only with its own members
            status = sa.func.coalesce(details.c.status, sa.cast(run.c.status, sa.String(64)))
            columns.append(details.c.status.label("d_status"))
        query = sa.select(*columns).select_from(joined).where(run.c.status.is_not(None))
        if where.ids is not None:
            query = query.where(run.c.id.in_(sorted(where.ids)))
        if where.status is not None:
            query = query.where(status == where.status)
        if where.experiment is not None:
            query = query.where(ex.c.name == where.experiment)
        with self._engine.connect() as conn:
            return list(conn.execute(query.order_by(run.c.id)))

    def _by_run(self, table: str, columns: list[str], run_keys: list[str] | None,
                extra: Any = None) -> dict[str, list[tuple[Any, ...]]]:
        """``run_id -> [row]`` of a table keyed by ``run_id`` text."""
        import sqlalchemy as sa

        t = self._t.get(table)
        out: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        if t is None:
            return out
        query = sa.select(t.c.run_id, *[t.c[c] for c in columns])
        if extra is not None:
            query = extra(query, t)
        if run_keys is not None:
            query = query.where(t.c.run_id.in_(run_keys))
        with self._engine.connect() as conn:
            for row in conn.execute(query):
                out[row[0]].append(tuple(row[1:]))
        return out

    def _resources(self, run_keys: list[str] | None) -> dict[str, list[list[Any]]]:
        import sqlalchemy as sa

        link, res = self._t.get("runs_resources"), self._t.get("resource")
        out: dict[str, list[list[Any]]] = defaultdict(list)
        if link is None or res is None:
            return out
        query = sa.select(link.c.run_id, res.c.filename, res.c.md5sum).select_from(
            link.join(res, link.c.resource_id == res.c.resource_id))
        if run_keys is not None:
            query = query.where(link.c.run_id.in_(run_keys))
        with self._engine.connect() as conn:
            for run_key, filename, md5 in conn.execute(query):
                out[run_key].append([filename, md5])
        return out

    def _experiment_tables(self, experiment_id: int) -> dict[str, Any]:
        """Sources, dependencies and repositories of a run Sacred wrote (no run_details)."""
        import sqlalchemy as sa

        t = self._t
        out: dict[str, list[Any]] = {"sources": [], "dependencies": [], "repositories": []}
        with self._engine.connect() as conn:
            for link, table, key, cols in (
                    ("experiments_sources", "source", "source_id", ("filename", "md5sum")),
                    ("experiments_dependencies", "dependency", "dependency_id",
                     ("name", "version")),
                    ("experiments_repositories", "repository", "repository_id",
                     ("url", "commit", "dirty"))):
                if link not in t or table not in t:
                    continue
                query = sa.select(*[t[table].c[c] for c in cols]).select_from(
                    t[link].join(t[table], t[link].c[key] == t[table].c[key])).where(
                    t[link].c.experiment_id == experiment_id)
                for row in conn.execute(query):
                    if table == "source":
                        out["sources"].append([row[0], row[1]])
                    elif table == "dependency":
                        out["dependencies"].append(f"{row[0]}=={row[1]}")
                    else:
                        out["repositories"].append({"url": row[0], "commit": row[1],
                                                    "dirty": bool(row[2])})
        return out

    def _parts(self, run_keys: list[str] | None) -> dict[str, dict[str, str]]:
        """``run_id -> {row name: whole text}`` of the values stored in parts (too large
        for one statement to the server; see :mod:`.values`)."""
        out: dict[str, dict[str, str]] = defaultdict(dict)
        if "value_part" not in self._t:
            return out
        rows = self._by_run("value_part", ["field", "part", "content"], run_keys)
        for run_key, parts in rows.items():
            texts: dict[str, list[tuple[int, str]]] = defaultdict(list)
            for name, number, content in parts:
                texts[name].append((number, content or ""))
            for name, numbered in texts.items():
                if name in _PART_FIELDS:
                    out[run_key][_PART_FIELDS[name]] = "".join(t for _, t in sorted(numbered))
        return out

    def _record(self, row: Any, artifacts: list[Any], resources: list[Any], metric_names: list[Any],
                whole: bool, experiments: dict[int, dict[str, Any]],
                parts: dict[str, str] | None = None) -> StoredRun:
        mapping: Any = row._mapping
        if parts:  # only where the column holds the short form: parts left over are not read
            mapping = {**mapping, **{name: text for name, text in parts.items()
                                     if PARTS_MARK in (mapping.get(name) or "")}}
        d_experiment = _loads(mapping.get("d_experiment"), None)
        if d_experiment is None:  # a run Sacred wrote: its experiment's rows
            d_experiment = {"name": row.ex_name, "base_dir": row.ex_base_dir, "mainfile": None}
            if row.experiment_id is not None:
                if row.experiment_id not in experiments:
                    experiments[row.experiment_id] = self._experiment_tables(row.experiment_id)
                d_experiment.update(experiments[row.experiment_id])
        host = _loads(mapping.get("d_host"), None) or {
            "hostname": row.h_hostname, "cpu": row.h_cpu, "os": [row.h_os, row.h_os_info],
            "python_version": row.h_python}
        meta = _loads(mapping.get("d_meta"), None) or {"comment": mapping["comment"],
                                                       "priority": _number(row.priority)}
        d_result = mapping.get("d_result")
        trace = _loads(mapping.get("d_fail_trace"), None)
        if trace is None and mapping["fail_trace"]:
            trace = mapping["fail_trace"].splitlines(keepends=True)
        return StoredRun(
            id=row.id, experiment=d_experiment, status=mapping.get("d_status") or row.status,
            config=_loads(mapping["config"], {}), command=row.command,
            result=_loads(d_result, None) if d_result is not None else _number(row.result),
            start_time=row.start_time, stop_time=row.stop_time, heartbeat=row.heartbeat,
            queue_time=row.queue_time, host=host, meta=meta, info=_loads(mapping["info"], {}),
            captured_out=mapping["captured_out"] if whole else None, fail_trace=trace,
            artifacts=[a[0] for a in artifacts], resources=resources,
            metric_names=sorted({m[0] for m in metric_names}),
            location=f"{self.location}#{row.id}")

    def _records(self, where: RunFilter, whole: bool) -> list[StoredRun]:
        rows = self._rows(where)
        keys = None if where == RunFilter() else [r.run_id for r in rows]
        if keys == []:
            return []
        artifacts = self._by_run("artifact", ["filename"], keys,
                                 lambda q, t: q.order_by(t.c.artifact_id))
        metrics = self._by_run("metric", ["name"], keys, lambda q, t: q.distinct())
        resources = self._resources(keys)
        parts = self._parts(keys)
        experiments: dict[int, dict[str, Any]] = {}
        return [self._record(r, artifacts.get(r.run_id, []), resources.get(r.run_id, []),
                             metrics.get(r.run_id, []), whole, experiments,
                             parts.get(r.run_id)) for r in rows]

    # -- the interface ----------------------------------------------------------------------

    def list_runs(self, where: RunFilter = ALL_RUNS) -> Iterator[StoredRun]:
        yield from self._records(where, whole=False)

    def get_run(self, run_id: int) -> StoredRun:
        found = self._records(RunFilter(ids=frozenset({run_id})), whole=True)
        if not found:
            raise NoSuchRun(f"no run {run_id} in {self.location}")
        return found[0]

    def _run_key(self, run_id: int) -> str:
        import sqlalchemy as sa

        run = self._t["run"]
        with self._engine.connect() as conn:
            key = conn.execute(sa.select(run.c.run_id).where(run.c.id == run_id)).scalar()
        if key is None:
            raise NoSuchRun(f"no run {run_id} in {self.location}")
        run_key: str = key  # run.run_id is a string column
        return run_key

    def metric(self, run_id: int, name: str) -> Metric:
        import sqlalchemy as sa

        t = self._t.get("metric")
        key = self._run_key(run_id)
        rows = []
        if t is not None:
            exact = t.c.exact if "exact" in t.c else sa.null()
            with self._engine.connect() as conn:
                rows = list(conn.execute(
                    sa.select(t.c.step, t.c.value, t.c.timestamp, exact)
                    .where(t.c.run_id == key, t.c.name == name).order_by(t.c.metric_id)))
        if not rows:
            raise NoSuchRun(f"run {run_id} in {self.location} has no metric {name!r}")
        points = [point_from_columns(r[0], _number(r[1]), r[3]) for r in rows]
        return Metric(name, [p[0] for p in points], [p[1] for p in points],
                      [r[2] for r in rows])

    def metric_summaries(self, runs: list[StoredRun]) -> dict[int, dict[str, MetricSummary]]:
        """Computed in the database: one grouped query, one for the last values."""
        import sqlalchemy as sa

        out: dict[int, dict[str, MetricSummary]] = {run.id: {} for run in runs}
        t = self._t.get("metric")
        if t is None or not runs:
            return out
        run = self._t["run"]
        with self._engine.connect() as conn:
            ids = {key: run_id for key, run_id in conn.execute(  # Sacred's first is "0"
                sa.select(run.c.run_id, run.c.id).where(run.c.id.in_([r.id for r in runs])))}
            exact = sa.func.count(t.c.exact) if "exact" in t.c else sa.literal(0)
            groups = list(conn.execute(
                sa.select(t.c.run_id, t.c.name, sa.func.min(t.c.value), sa.func.max(t.c.value),
                          sa.func.count(), sa.func.max(t.c.metric_id), exact)
                .where(t.c.run_id.in_(list(ids))).group_by(t.c.run_id, t.c.name)))
            last = {metric_id: value for metric_id, value in conn.execute(
                sa.select(t.c.metric_id, t.c.value).where(
                    t.c.metric_id.in_([g[5] for g in groups])))} if groups else {}
        for run_key, name, low, high, count, last_id, exact_points in groups:
            if exact_points:  # points the columns hold only nearly: summarized exactly here
                summary = summarize(self.metric(ids[run_key], name).values)
                if summary is not None:
                    out[ids[run_key]][name] = summary
            elif count:
                out[ids[run_key]][name] = MetricSummary(_number(last[last_id]), _number(low),
                                                        _number(high), count)
        return out

    def artifact(self, run_id: int, name: str) -> bytes:
        import sqlalchemy as sa

        t = self._t["artifact"]
        key = self._run_key(run_id)
        with self._engine.connect() as conn:
            content = conn.execute(sa.select(t.c.content).where(
                t.c.run_id == key, t.c.filename == name).order_by(t.c.artifact_id)).first()
        if content is None:
            raise NoSuchRun(f"run {run_id} in {self.location} has no artifact {name!r}")
        return bytes(content[0])


def open_store(store: str) -> Reader:
    return SqlReader(store)
