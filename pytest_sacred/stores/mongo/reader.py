"""Reader of Sacred's MongoDB layout (ours and Sacred 0.8.7's own MongoObserver).

Filters become the query (``_id``, ``experiment.name``, ``status``); lists leave out
``captured_out``; metric summaries come from one query over the metrics collection. Values
we moved to GridFS (``captured_out_file``, ``info_file``, ``result_file``) and metric
continuation documents (``part`` 2, 3, …) are read back whole. Nothing is written: the
connection is made as the writer makes it (:mod:`.connection`), without creating its index.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
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
from ...redact import redact_url, scrub_password
from ..base import StoreError
from .connection import MongoConnection
from .values import (
    ENCODING_FIELD,
    exact_from_document,
    from_document,
    info_from_document,
)

#: what a list leaves out of each run document (read by get_run)
_LIST_PROJECTION = {"captured_out": 0}
#: longer id lists are asked for as a range: servers match a long $in slowly
_MAX_IN = 200


class MongoReader(Reader):
    """Runs in one runs collection (and its database's ``metrics`` and GridFS)."""

    def __init__(self, connection: MongoConnection) -> None:
        self._connection = connection
        self._url = connection.url
        self.location = f"{connection.server}/{connection.db_name}.{connection.collection}"
        with self._errors():
            connection.open(read_only=True)
            self._db = connection.database()
            names = self._db.list_collection_names()
        if connection.collection not in names:
            raise StoreUnreadable(
                f"{self.location} is not a store: database {connection.db_name!r} has no "
                f"collection {connection.collection!r} (it has: "
                f"{', '.join(sorted(names)) or 'none'}{self._databases()}); give HOST:PORT:DB "
                "or mongodb://HOST:PORT/DB of the database the runs were written to")
        self._runs = self._db[connection.collection]

    def _databases(self) -> str:
        try:
            names = self._connection.client.list_database_names()
        except Exception:  # listing needs a privilege the user may lack: leave it out
            return ""
        names = [n for n in names if n not in ("admin", "config", "local")]
        return f"; databases on the server: {', '.join(sorted(names)) or 'none'}"

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Driver and connection failures as :class:`StoreUnreadable`, password masked."""
        from pymongo.errors import PyMongoError

        try:
            yield
        except StoreError as exc:
            raise StoreUnreadable(_as_store_message(exc)) from None
        except PyMongoError as exc:
            raise StoreUnreadable(f"reading MongoDB at {redact_url(self._url)!r} failed: "
                                  f"{scrub_password(str(exc), self._url)[:300]}") from None

    def close(self) -> None:
        self._connection.close()

    # -- runs ------------------------------------------------------------------------------

    def _gridfs_text(self, file_id: Any) -> str:
        import gridfs

        try:
            return gridfs.GridFS(self._db).get(file_id).read().decode("utf-8", "replace")
        except gridfs.errors.NoFile:
            raise StoreUnreadable(f"{self.location}: GridFS file {file_id} named by a run "
                                  "is missing") from None

    def source_md5s(self, run: StoredRun) -> dict[str, str]:
        """``name -> md5`` of a run's stored sources (the documents keep only GridFS ids;
        the md5s are in ``fs.files``): what ``--sacred-rerun`` compares with the code."""
        ids = {str(file_id): name for name, file_id in run.experiment.get("sources") or []}
        with self._errors():
            sources = run.experiment.get("sources") or []
            files = self._db["fs.files"].find({"_id": {"$in": [f for _, f in sources]}},
                                              projection={"md5": 1})
            return {ids[str(f["_id"])]: f["md5"] for f in files if f.get("md5")}

    def _record(self, doc: dict[str, Any]) -> StoredRun:
        result = doc.get("result")
        if doc.get("result_file"):  # too large for the document: kept whole in GridFS
            result = json.loads(self._gridfs_text(doc["result_file"]))
        info = doc.get("info") or {}
        meta = doc.get("meta") or {}
        config, host = doc.get("config") or {}, doc.get("host") or {}
        metric_names = sorted({m["name"] for m in info.get("metrics") or []
                               if isinstance(m, dict) and "name" in m})
        if doc.get(ENCODING_FIELD):  # written by us: keys escaped, big integers tagged
            config, meta, host = from_document(config), from_document(meta), from_document(host)
            result, info = from_document(result), info_from_document(info)
        return StoredRun(
            id=doc["_id"], experiment=doc.get("experiment") or {}, status=doc["status"],
            config=config, command=doc.get("command"), result=result,
            start_time=doc.get("start_time"), stop_time=doc.get("stop_time"),
            heartbeat=doc.get("heartbeat"), queue_time=meta.get("queue_time"),
            host=host, meta=meta, info=info,
            captured_out=doc.get("captured_out"), fail_trace=doc.get("fail_trace"),
            artifacts=[a["name"] for a in doc.get("artifacts") or []],
            resources=list(doc.get("resources") or []),
            metric_names=metric_names, location=f"{self.location}/{doc['_id']}")

    @staticmethod
    def _query(where: RunFilter) -> dict[str, Any]:
        query: dict[str, Any] = {"status": {"$exists": True}}  # not a claimed-only id
        if where.ids is not None:
            query["_id"] = {"$in": sorted(where.ids)}
        if where.experiment is not None:
            query["experiment.name"] = where.experiment
        if where.status is not None:
            query["status"] = where.status
        if where.where is not None:
            clauses = [_clause(*term) for term in where.where.necessary]
            if any(clauses):
                query["$and"] = [c for c in clauses if c]
        return query

    def list_runs(self, where: RunFilter = ALL_RUNS) -> Iterator[StoredRun]:
        with self._errors():
            docs = list(self._runs.find(self._query(where), projection=_LIST_PROJECTION,
                                        sort=[("_id", 1)]))
            for doc in docs:
                if type(doc["_id"]) is not int:
                    warnings.warn(f"{self.location}: run id {doc['_id']!r} is not an integer "
                                  "(Sacred's -i?); skipped", stacklevel=2)
                    continue
                yield self._record(doc)

    def _doc(self, run_id: int, projection: dict[str, Any] | None = None) -> dict[str, Any]:
        doc = self._runs.find_one({"_id": run_id}, projection=projection)
        if doc is None or "status" not in doc:
            ids = self._runs.find({"_id": {"$type": "number"}}, projection={"_id": 1})
            known = sorted(d["_id"] for d in ids)
            have = "none" if not known else f"{known[0]}…{known[-1]}, {len(known)} runs"
            raise NoSuchRun(f"no run {run_id} in {self.location} (ids there: {have})")
        return doc  # type: ignore[no-any-return]  # pymongo has no types

    def get_run(self, run_id: int) -> StoredRun:
        with self._errors():
            doc = self._doc(run_id)
            run = self._record(doc)
            if doc.get("captured_out_file"):
                run.captured_out = self._gridfs_text(doc["captured_out_file"])
            if doc.get("info_file"):
                info = json.loads(self._gridfs_text(doc["info_file"]))
                run.info = info_from_document(info) if doc.get(ENCODING_FIELD) else info
            run.captured_out = run.captured_out or ""
            run.metric_names = sorted(set(self._db.metrics.distinct("name", {"run_id": run_id})))
            return run

    # -- metrics ---------------------------------------------------------------------------

    def metric(self, run_id: int, name: str) -> Metric:
        with self._errors():
            docs = list(self._db.metrics.find({"run_id": run_id, "name": name},
                                              projection={"_id": 0, "steps": 1, "values": 1,
                                                          "timestamps": 1, "part": 1,
                                                          "exact": 1}))
            if not docs:
                self._doc(run_id, {"_id": 1, "status": 1})  # NoSuchRun for a missing run
                names = sorted(set(self._db.metrics.distinct("name", {"run_id": run_id})))
                raise NoSuchRun(f"run {run_id} in {self.location} has no metric {name!r} "
                                f"(it has: {', '.join(names) or 'none'})")
        docs.sort(key=lambda d: d.get("part") or 1)  # continuation documents in order
        metric = Metric(name, [], [], [])
        for doc in docs:
            steps, values = _exact(doc, doc.get("steps") or [], doc.get("values") or [])
            metric.steps += steps or []
            metric.values += values
            metric.timestamps += doc.get("timestamps") or []
        return metric

    def metric_summaries(self, runs: list[StoredRun]) -> dict[int, dict[str, MetricSummary]]:
        """One query over the metrics collection for all ``runs``.

        The values are summarized here rather than by an aggregation on the server:
        MongoDB-compatible servers differ widely in how fast they evaluate expressions,
        and a plain query is the cheapest everywhere. Many ids are asked for as a range
        (and filtered here): a long ``$in`` is slow to match.
        """
        out: dict[int, dict[str, MetricSummary]] = {run.id: {} for run in runs}
        if not runs:
            return out
        ids = sorted(out)
        query = {"run_id": {"$in": ids}} if len(ids) <= _MAX_IN else \
            {"run_id": {"$gte": ids[0], "$lte": ids[-1]}}
        values: dict[tuple[int, str], list[tuple[int, list[Any]]]] = {}
        with self._errors():
            for doc in self._db.metrics.find(query, projection={"_id": 0, "run_id": 1,
                                                                "name": 1, "part": 1,
                                                                "values": 1, "exact": 1}):
                if doc.get("run_id") in out:
                    values.setdefault((doc["run_id"], doc["name"]), []).append(
                        (doc.get("part") or 1, _exact(doc, None, doc.get("values") or [])[1]))
        for (run_id, name), parts in values.items():
            if len(parts) > 1:  # continuation documents, in order
                parts.sort(key=lambda p: p[0])
                summary = summarize([v for _, part in parts for v in part])
            else:
                summary = summarize(parts[0][1])
            if summary is not None:
                out[run_id][name] = summary
        return out

    # -- artifacts -------------------------------------------------------------------------

    def artifact(self, run_id: int, name: str) -> bytes:
        import gridfs

        with self._errors():
            doc = self._doc(run_id, {"artifacts": 1, "status": 1})
            entries = {a["name"]: a["file_id"] for a in doc.get("artifacts") or []}
            if name not in entries:
                raise NoSuchRun(f"run {run_id} in {self.location} has no artifact {name!r} "
                                f"(it has: {', '.join(entries) or 'none'})")
            try:
                return gridfs.GridFS(self._db).get(entries[name]).read()
            except gridfs.errors.NoFile:
                raise NoSuchRun(f"artifact {name!r} of run {run_id} is listed in the run "
                                f"but its GridFS file {entries[name]} is missing") from None


def _exact(doc: dict[str, Any], steps: list[Any] | None, values: list[Any]
           ) -> tuple[list[Any] | None, list[Any]]:
    """A metric document's steps and values with the points kept in ``exact`` (those BSON
    holds only as floats) as they were logged."""
    exact = exact_from_document(doc)
    if not exact:
        return steps, values
    steps, values = (None if steps is None else list(steps)), list(values)
    for position, (step, value) in exact.items():
        if position < len(values):
            values[position] = value
            if steps is not None:
                steps[position] = step
    return steps, values


_OPERATORS = {"==": "$eq", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}


def _clause(column: str, op: str, value: Any) -> dict[str, Any] | None:
    """The query clause of ``column OP value`` for columns that are document fields as
    they are (``config.*``, ``id``, ``experiment``); None for others.

    It may match more documents than the comparison does, never fewer: a number is also
    compared as Python compares it with a bool (``True == 1``), which MongoDB would not.
    """
    if column == "id":
        path = "_id"
    elif column == "experiment":
        path = "experiment.name"
    elif column.startswith("config."):
        path = column
    else:  # status is shown status (DIED?), result may be in GridFS: checked on the rows
        return None
    clause = {path: {_OPERATORS[op]: value}}
    if isinstance(value, str):
        return clause
    return {"$or": [clause, {path: {"$type": "bool"}}]}


def _as_store_message(exc: StoreError) -> str:
    """The observer's message, naming the store rather than the pytest option."""
    return str(exc).replace("--sacred-mongo '", "MongoDB store '").replace(
        "in --sacred-mongo", "in the store name")


def open_store(store: str) -> MongoReader:
    """The reader of ``mongodb://…`` or ``HOST:PORT:DB[.COLLECTION]``; raises
    :class:`StoreUnreadable` for a bad name, an unreachable server or a refused login."""
    from ...extras import require

    require("pymongo")
    try:
        connection = MongoConnection(store)
    except StoreError as exc:
        raise StoreUnreadable(_as_store_message(exc)) from None
    return MongoReader(connection)
