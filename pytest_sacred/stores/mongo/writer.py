"""Sacred's MongoObserver layout (``runs``, ``metrics``, GridFS ``fs.*``), for the tools
that read it: Omniboard, Incense, Sacredboard.

Differences from Sacred 0.8.7, all invisible to those readers:

* ids are claimed with ``max(_id) + 1`` over numeric ids only and an insert that retries on
  a duplicate, so concurrent writers get unique, consecutive ids;
* sources and resources are deduplicated by an ``md5`` field we set on ``fs.files``
  ourselves (pymongo 4 stopped writing it), and resources are really uploaded;
* keys are escaped and numpy/pandas values made plain *before* the first write, with an
  escaping that keeps keys apart (Sacred's maps ``a.b`` and ``a,b`` to one key), integers
  beyond 64 bits are kept exactly, and a user's own ``info["metrics"]`` is kept beside the
  store's metric list (:mod:`.values`); such documents say so in ``value_encoding``;
* ``captured_out``, ``info`` or ``result`` too large for a 16 MB document, and a ``config``
  over ``CONFIG_DOCUMENT_BYTES``, are kept whole in GridFS and shortened in the document,
  which then names the GridFS file (``<field>_file``);
* a metric's points past ``POINTS_PER_DOCUMENT`` go to continuation documents (``part``
  2, 3, ...), of which ``info.metrics`` lists none: readers see the first document;
* later events ``$set``/``$push`` only the fields they change.

pymongo is imported only inside methods: selecting another store costs nothing.
"""

from __future__ import annotations

import json
import mimetypes
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ...hashing import md5_of
from ...names import artifact_name
from ...payloads import ExperimentInfo, HostInfo, MetaInfo, MetricSeries
from ...redact import redact_url
from ..base import (
    DEFER_BEAT_SECONDS,
    Observer,
    RunExists,
    StoreError,
    earlier_trace,
    provisional_id,
    queued,
    resumed,
)
from .connection import MongoConnection
from .gridfs import GridFiles
from .target import DEFAULT_DB, DEFAULT_HOST
from .values import (
    ENCODING,
    ENCODING_FIELD,
    bson_numbers,
    bson_size,
    exact_points,
    from_document,
    info_document,
    meta_document,
    mongo_safe,
    readable,
    safe_text,
    shorten,
    to_document,
)

FORMAT = "MongoObserver-0.7.0"
#: a run document is kept below this many bytes of BSON (MongoDB refuses 16 MiB)
SAFE_DOCUMENT_BYTES = 12 * 1024 * 1024
#: a config larger than this in BSON is kept whole in GridFS (``config_file``), its large
#: entries shortened in the document, so the run can be stored at all
CONFIG_DOCUMENT_BYTES = 4 * 1024 * 1024
_MAX_ID_ATTEMPTS = 10_000
#: points of one metric per ``metrics`` document: about 48 bytes of BSON each, so a full
#: document stays near 10 MB, well below MongoDB's 16 MB
POINTS_PER_DOCUMENT = 200_000


# -- the observer ------------------------------------------------------------------------------

_UNSENT = object()  # differs from every value, so the first heartbeat sets all fields


@dataclass
class _MetricDoc:
    """The ``metrics`` document a metric's next points go to."""

    object_id: Any = None  # None until the upsert that creates it
    count: int = 0
    part: int = 1


@dataclass
class _Run:
    """What the observer remembers of a run it writes, to send only what changed."""

    base_bytes: int = 4096  # the document without captured_out, info and result
    captured_out: Any = _UNSENT
    info: Any = _UNSENT
    result: Any = _UNSENT
    sizes: dict[str, int] = field(default_factory=dict)  # field -> BSON bytes in the doc
    files: dict[str, Any] = field(default_factory=dict)  # field -> GridFS id of its spill
    metrics: dict[str, _MetricDoc] = field(default_factory=dict)
    #: ``info.metrics`` entries of the run: the heartbeat's info is a copy taken when it
    #: was queued, so the observer keeps them itself
    metric_refs: list[dict[str, str]] = field(default_factory=list)
    #: a metrics write failed or the run was begun elsewhere: the store may hold points
    #: the next write brings again
    unconfirmed: bool = False
    #: ``$set`` of a heartbeat that came soon after the previous write: sent with the
    #: run's next update (its end, usually), at the latest ``DEFER_BEAT_SECONDS`` later
    pending: dict[str, Any] = field(default_factory=dict)
    last_write: float = field(default_factory=time.monotonic)
    #: artifact names the run's document lists: one stored again replaces its entry
    artifacts: set[str] = field(default_factory=set)


class MongoObserver(Observer):
    """Writes runs as Sacred's ``MongoObserver`` does (format ``MongoObserver-0.7.0``)."""

    priority = 30
    name = "mongo"
    #: a heartbeat this soon after the run's previous update waits for its next one
    defer_beat_seconds: float = DEFER_BEAT_SECONDS

    def __init__(self, url_or_db: str = DEFAULT_DB, db_name: str | None = None,
                 collection: str | None = None, client: Any = None,
                 priority: int | None = None, **client_kwargs: Any) -> None:
        """``url_or_db`` takes every ``--sacred-mongo`` form; ``db_name``, ``collection``
        (default ``"runs"``) and ``priority`` (default 30) override what it says.
        ``client``, a ``pymongo.MongoClient``, is used instead of connecting and is left
        open by :meth:`close`; ``client_kwargs`` go to ``MongoClient``."""
        self.connection = MongoConnection(url_or_db, db_name, collection, client,
                                          **client_kwargs)
        self.priority = priority if priority is not None else (self.connection.priority or 30)
        self._fs: Any = None
        self._runs: dict[int, _Run] = {}
        self._next_id: int | None = None  # after the last id this process inserted
        self._allocated: set[int] = set()
        self._stored_files: dict[tuple[str, str], Any] = {}  # (filename, md5) -> GridFS id
        #: run id -> (config dict, its document fields) of a config spilled at allocate_id
        self._spilled_configs: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
        self._artifact_ids: dict[tuple[int, str], Any] = {}  # artifacts being uploaded
        self._files: GridFiles | None = None  # artifact uploads
        self._files_lock = threading.Lock()

    @classmethod
    def from_client(cls, client: Any, db_name: str, collection: str = "runs") -> MongoObserver:
        """Use an existing ``MongoClient``; the caller keeps it and closes it."""
        address = ",".join(f"{host}:{port}" for host, port in
                           client.topology_description.server_descriptions()) or DEFAULT_HOST
        return cls(f"mongodb://{address}/", db_name=db_name, collection=collection,
                   client=client)

    @classmethod
    def from_option(cls, value: str, collection: str | None = None) -> MongoObserver:
        """The observer for ``--sacred-mongo VALUE`` (and ``--sacred-mongo-collection``)."""
        return cls(value, collection=collection)

    @property
    def url(self) -> str:
        """The server's URL (as given: it may hold a password)."""
        return self.connection.url

    @property
    def db_name(self) -> str:
        return self.connection.db_name

    @property
    def collection(self) -> str:
        return self.connection.collection

    @property
    def server(self) -> str:
        """The server's address without credentials, for messages."""
        return self.connection.server

    def location(self, run_id: int | None) -> str:
        return f"{self.server}/{self.db_name}.{self.collection}/{run_id}"

    def has_run(self, run_id: int) -> bool:
        count: int = self._database()[self.collection].count_documents({"_id": run_id}, limit=1)
        return count > 0

    def is_transient(self, exc: BaseException) -> bool:
        """The server is unreachable or went away (pymongo's AutoReconnect and its kin,
        NetworkTimeout, ServerSelectionTimeoutError); a refusal is not."""
        try:
            from pymongo.errors import ConnectionFailure
        except ImportError:
            return False
        return isinstance(exc, ConnectionFailure)

    def store_spec(self) -> dict[str, Any]:
        return {"kind": "mongo", "url": redact_url(self.url), "db": self.db_name,
                "collection": self.collection}

    def reader_store(self) -> str:
        return self.connection.reader_name()

    # -- session -------------------------------------------------------------------------------

    def open(self) -> None:
        """Connect and check the store (see :meth:`.MongoConnection.open`)."""
        self.connection.open()

    def close(self) -> None:
        self.connection.close()
        self._fs = None

    def _database(self) -> Any:
        return self.connection.database()

    def _gridfs(self) -> Any:
        if self._fs is None:
            import gridfs

            self._fs = gridfs.GridFS(self._database())
        return self._fs

    # -- ids -----------------------------------------------------------------------------------

    def _insert_with_next_id(self, doc: dict[str, Any]) -> int:
        """Insert ``doc`` under the next integer id; unique with concurrent writers.

        The id after this process's last one is tried first, which saves a query per run;
        on a clash, the highest numeric id is looked up (a string ``_id`` sorts above every
        number in BSON order, so only numbers count).
        """
        from pymongo.errors import DuplicateKeyError

        runs = self._database()[self.collection]
        run_id = self._next_id
        for _ in range(_MAX_ID_ATTEMPTS):
            if run_id is None:
                last = runs.find_one({"_id": {"$type": "number"}}, projection={"_id": 1},
                                     sort=[("_id", -1)])
                run_id = int(last["_id"]) + 1 if last else 1
            try:
                runs.insert_one({"_id": run_id, **doc})
            except DuplicateKeyError:
                run_id = None  # another writer took it: look again
                continue
            self._next_id = run_id + 1
            return run_id
        raise StoreError(f"no free run id in {self.location(None)} after "
                         f"{_MAX_ID_ATTEMPTS} attempts")

    def pytest_sacred_allocate_id(self, ex_info: ExperimentInfo, config: dict[str, Any],
                                  meta_info: MetaInfo) -> int | None:
        """Claim the id with a placeholder holding what is known already.

        While the server does not answer, the run is named without asking it: the id after
        this process's last one, which the queued started event then inserts (a clash with
        another writer there is a refusal: the run is spilled and replayed under a new id).
        """
        if self.queue is not None and (self.queue.down or self._server_lost()):
            return self._provisional_id()
        try:
            fields = self._config_fields(config)
            run_id = self._insert_with_next_id({"experiment": self._experiment(ex_info),
                                                **fields, "meta": meta_document(meta_info)})
        except Exception as exc:
            if self.queue is None or not self.is_transient(exc):
                raise
            return self._provisional_id()
        self._allocated.add(run_id)
        if "config_file" in fields:
            self._name_config_file(fields["config_file"], run_id)
            self._spilled_configs[run_id] = (config, fields)
        return run_id

    def _server_lost(self) -> bool:
        """Whether pymongo's monitor already saw the server go (its connection failed) and
        knows none to write to: the id claim would wait ``serverSelectionTimeoutMS`` for
        nothing, on the experiment's thread, before the queue notices the outage. Only
        after a first claim (a provisional id needs one), and never for a server the
        monitor still knows, however slowly it answers: under load ids are claimed as
        usual, so sessions sharing the store do not name runs without it."""
        client = self.connection.client
        if client is None or self._next_id is None:
            return False
        return not client.topology_description.has_writable_server()

    def _provisional_id(self) -> int:
        return provisional_id(self, f"MongoDB at {self.server}/{self.db_name}.{self.collection}")

    # -- a config too large for the document -----------------------------------------------

    def _config_fields(self, config: dict[str, Any], run_id: int | None = None
                       ) -> dict[str, Any]:
        """``{"config": ...}`` for the run document, plus ``config_file`` when the config
        is too large for it: then the whole config is in GridFS, and the document keeps its
        small entries and a note in place of each large one."""
        if run_id in self._spilled_configs:
            spilled, fields = self._spilled_configs.pop(run_id)
            if spilled is config:  # uploaded at allocate_id already
                return fields
            self._gridfs().delete(fields["config_file"])
        document = to_document(config)
        if bson_size(document) <= CONFIG_DOCUMENT_BYTES:
            return {"config": document}
        data = json.dumps(document).encode("utf-8")
        file_id = self._gridfs().put(data, filename=self._config_filename(run_id),
                                     contentType="application/json")
        note = f"…[config of {len(data)} bytes in GridFS file {file_id}]…"
        return {"config": shorten("config", document, "", note), "config_file": file_id}

    def _config_filename(self, run_id: int | None) -> str:
        return f"config://{self.collection}/{run_id if run_id is not None else 'unallocated'}"

    def _name_config_file(self, file_id: Any, run_id: int) -> None:
        """The config was uploaded before its run had an id: name the file after the run."""
        self._database()["fs.files"].update_one(
            {"_id": file_id}, {"$set": {"filename": self._config_filename(run_id)}})

    # -- queue: --sacred-run-queued workers claim QUEUED runs; see pytest_sacred/queue.py -

    def claim_queued(self, nodeids: list[str], worker: dict[str, Any]
                     ) -> dict[str, Any] | None:
        """Atomically turn the oldest QUEUED run of one of ``nodeids`` into RUNNING for this
        worker, and return its document; ``None`` when there is none. This process then
        owns the id: its started event replaces the document."""
        from pymongo import ReturnDocument

        doc: dict[str, Any] | None = self._database()[self.collection].find_one_and_update(
            {"status": "QUEUED", "meta.pytest.nodeid": {"$in": nodeids}},
            {"$set": {"status": "RUNNING", "host": mongo_safe(worker)}},
            sort=[("_id", 1)], return_document=ReturnDocument.AFTER)
        if doc is not None:
            self._allocated.add(doc["_id"])
            if doc.get(ENCODING_FIELD):
                doc["config"] = from_document(doc.get("config") or {})
                doc["meta"] = from_document(doc.get("meta") or {})
        return doc

    def requeue(self, run_id: int, statuses: tuple[str, ...]) -> bool:
        """Put run ``run_id`` back in the queue if its status is one of ``statuses``."""
        done = self._database()[self.collection].update_one(
            {"_id": run_id, "status": {"$in": list(statuses)}},
            {"$set": {"status": "QUEUED"},
             "$unset": {"start_time": "", "heartbeat": "", "stop_time": "", "fail_trace": ""}})
        return bool(done.modified_count)

    def running_before(self, beat: datetime) -> list[int]:
        """Ids of RUNNING runs whose last heartbeat (or start) is older than ``beat``."""
        runs = self._database()[self.collection]
        return [d["_id"] for d in runs.find(
            {"status": "RUNNING", "$or": [{"heartbeat": {"$lt": beat}},
                                          {"heartbeat": None, "start_time": {"$lt": beat}}]},
            projection={"_id": 1})]

    def end_abandoned(self, run_id: int, status: str, reason: str) -> None:
        """End a RUNNING run its own process could not end (killed), the reason in
        ``info.ended_by``; a run that ended is left as it is (it says what ended it)."""
        from ...clock import utcnow

        runs = self._database()[self.collection]
        trace = {"fail_trace": [reason + "\n"]} if status == "FAILED" else {}
        runs.update_one({"_id": run_id, "status": "RUNNING"},
                        {"$set": {"status": status, "stop_time": utcnow(),
                                  "info.ended_by": reason, **trace}})

    # -- files ---------------------------------------------------------------------------------

    def _put_once(self, filename: str, md5: str, verified: bool = False) -> Any:
        """GridFS id of this content of ``filename``, uploaded unless already stored.

        ``fs.files`` gets a top-level ``md5`` as pymongo 3 wrote it, so that Sacred's own
        observer and later runs find the copy.
        """
        key = (filename, md5)
        with self._files_lock:  # the main thread (ids) and the queue's both upload sources
            return self._put_locked(key, filename, md5, verified)

    def _put_locked(self, key: tuple[str, str], filename: str, md5: str,
                    verified: bool) -> Any:
        if key not in self._stored_files:
            found = self._database()["fs.files"].find_one({"filename": filename, "md5": md5},
                                                          projection={"_id": 1})
            if found is None:
                actual = md5 if verified else md5_of(filename)
                with open(filename, "rb") as f:
                    file_id = self._gridfs().put(f, filename=filename, md5=actual)
            else:
                file_id = found["_id"]
            self._stored_files[key] = file_id
        return self._stored_files[key]

    def _experiment(self, ex_info: ExperimentInfo) -> dict[str, Any]:
        base_dir = ex_info.get("base_dir") or ""
        sources = [[name, self._put_once(os.path.join(base_dir, name), md5)]
                   for name, md5 in ex_info.get("sources", [])]
        document: dict[str, Any] = mongo_safe({**ex_info, "sources": []}) | {"sources": sources}
        return document

    # -- run documents -------------------------------------------------------------------------

    def _write_new(self, run_id: int | None, doc: dict[str, Any]) -> int:
        """Store ``doc`` as run ``run_id``: fill our placeholder, or insert it."""
        from pymongo.errors import DuplicateKeyError

        runs = self._database()[self.collection]
        if run_id is None:
            return self._insert_with_next_id(doc)
        if run_id in self._allocated:
            if runs.replace_one({"_id": run_id}, doc).matched_count:
                self._allocated.discard(run_id)
                return run_id
        try:
            runs.insert_one({"_id": run_id, **doc})
        except DuplicateKeyError:
            existing = runs.find_one({"_id": run_id}, projection={
                "start_time": 1, "meta.pytest": 1, "config.seed": 1, "status": 1})
            if not _same_run(existing, doc):
                raise RunExists(f"run {run_id} already exists at {self.location(run_id)}; "
                                 "choose a free --sacred-id or another database or "
                                 "collection") from None
            # an earlier try of this write reached the server before the connection broke,
            # or the id's placeholder is this run's own (claimed before the store went away)
            runs.replace_one({"_id": run_id}, doc)
        self._allocated.discard(run_id)
        return run_id

    @queued
    def pytest_sacred_queued_event(self, run_id: int | None, ex_info: ExperimentInfo,
                                   command: str, host_info: HostInfo, queue_time: datetime,
                                   config: dict[str, Any], meta_info: MetaInfo) -> None:
        doc = {"experiment": self._experiment(ex_info), "command": command,
               "host": mongo_safe(host_info), **self._config_fields(config, run_id),
               "meta": meta_document({**meta_info, "queue_time": queue_time}),
               "status": "QUEUED", ENCODING_FIELD: ENCODING}
        self._renamed_config(doc, run_id, self._write_new(run_id, doc))

    @queued
    def pytest_sacred_started_event(self, run_id: int | None, ex_info: ExperimentInfo,
                                    command: str, host_info: HostInfo, start_time: datetime,
                                    config: dict[str, Any], meta_info: MetaInfo) -> None:
        doc = {"experiment": self._experiment(ex_info), "format": FORMAT, "command": command,
               "host": mongo_safe(host_info), "start_time": start_time,
               **self._config_fields(config, run_id), "meta": meta_document(meta_info),
               "status": "RUNNING", "resources": [], "artifacts": [], "captured_out": "",
               "info": {}, "heartbeat": None, ENCODING_FIELD: ENCODING}
        stored_id = self._write_new(run_id, doc)
        self._renamed_config(doc, run_id, stored_id)
        self._runs[stored_id] = _Run(base_bytes=bson_size(doc))

    def _renamed_config(self, doc: dict[str, Any], run_id: int | None, stored_id: int) -> None:
        if "config_file" in doc and run_id is None:  # the id came with the insert
            self._name_config_file(doc["config_file"], stored_id)

    def _run(self, run_id: int) -> _Run:
        """What we know of the run; one this process did not start (a queued one resumed
        elsewhere, or one continued from a spill file) begins with its stored metric list.

        That list is the run document's ``info.metrics`` plus the first document of every
        metric of the run it lacks: the process that stored a metric's points lists it
        with its next heartbeat, and a process that died (or lost the server) in between
        left a metric that only the ``metrics`` collection knows."""
        run = self._runs.get(run_id)
        if run is None:
            run = self._runs[run_id] = _Run(unconfirmed=True)
            database = self._database()
            doc = database[self.collection].find_one(
                {"_id": run_id}, projection={"info.metrics": 1, "artifacts.name": 1}) or {}
            run.metric_refs = list((doc.get("info") or {}).get("metrics") or [])
            listed = {ref.get("name") for ref in run.metric_refs}
            for first in database.metrics.find({"run_id": run_id, "part": {"$exists": False}},
                                               projection={"name": 1}, sort=[("_id", 1)]):
                if first.get("name") not in listed:
                    run.metric_refs.append({"id": str(first["_id"]), "name": first["name"]})
            run.artifacts = {a.get("name") for a in doc.get("artifacts") or []}
            for ref in run.metric_refs:
                run.metrics[ref["name"]] = _MetricDoc(_object_id(ref["id"]))
        return run

    def _update(self, run_id: int, update: dict[str, Any]) -> None:
        """One ``update_one`` of run ``run_id``, carrying its deferred heartbeat along
        (the update's own ``$set`` fields win)."""
        run = self._runs.get(run_id)
        if run is not None and run.pending:
            update = {**update, "$set": {**run.pending, **update.get("$set", {})}}
        self._database()[self.collection].update_one({"_id": run_id}, update)
        if run is not None:
            run.pending = {}
            run.last_write = time.monotonic()

    # -- large values go to GridFS -------------------------------------------------------------

    def _spill(self, run: _Run, run_id: int, key: str, value: Any) -> tuple[Any, Any]:
        """Keep ``value`` whole in GridFS; returns the file id and what the document keeps."""
        text = value if isinstance(value, str) else json.dumps(value)
        data = text.encode("utf-8")
        fs = self._gridfs()
        file_id = fs.put(data, filename=f"{key}://{self.collection}/{run_id}",
                         contentType="text/plain" if key == "captured_out"
                         else "application/json")
        if key in run.files:
            fs.delete(run.files[key])
        run.files[key] = file_id
        note = f"…[{len(data)} bytes in GridFS file {file_id}]…"
        return file_id, shorten(key, value, text, note)

    def _fit(self, run: _Run, run_id: int, values: dict[str, Any]) -> dict[str, Any]:
        """``$set`` changes for ``values`` that keep the document below the safe size.

        The largest values move to GridFS first; a field that fits again drops its copy.
        """
        sizes = {key: bson_size(value) for key, value in values.items()}
        files: dict[str, Any] = {}
        for key in sorted(values, key=sizes.__getitem__, reverse=True):
            if run.base_bytes + sum({**run.sizes, **sizes}.values()) <= SAFE_DOCUMENT_BYTES:
                break
            files[f"{key}_file"], values[key] = self._spill(run, run_id, key, values[key])
            sizes[key] = bson_size(values[key])
        for key in values:
            if f"{key}_file" not in files and key in run.files:
                self._gridfs().delete(run.files.pop(key))
                files[f"{key}_file"] = None
        run.sizes.update(sizes)
        return {**values, **files}

    # -- events --------------------------------------------------------------------------------

    @queued
    def pytest_sacred_heartbeat_event(self, run_id: int, info: dict[str, Any], captured_out: str,
                                      beat_time: datetime, result: Any) -> None:
        run = self._run(run_id)
        values = {"captured_out": safe_text(captured_out or ""),
                  "info": info_document(info, run.metric_refs),
                  "result": to_document(result)}
        changed = {key: value for key, value in values.items() if getattr(run, key) != value}
        for key, value in changed.items():
            setattr(run, key, value)
        run.pending.update({"heartbeat": beat_time, **self._fit(run, run_id, changed)})
        if time.monotonic() - run.last_write >= self.defer_beat_seconds:
            self._update(run_id, {})

    @queued
    def pytest_sacred_log_metrics(self, run_id: int, metrics_by_name: dict[str, MetricSeries],
                                  info: dict[str, Any]) -> None:
        """``$push`` the new points, all metrics in one round trip; new documents are listed
        in the document's ``info.metrics`` with the next heartbeat. The user's ``info`` is
        left as it is (Sacred's observer appends to it; a user's own ``info["metrics"]``
        is kept, under :data:`~.values.USER_METRICS_KEY`).

        A metric's document takes at most ``POINTS_PER_DOCUMENT`` points; later ones go to
        continuation documents (same ``run_id`` and ``name``, ``part`` 2, 3, ...), so a long
        metric never meets MongoDB's 16 MB limit and no point is lost.
        """
        from pymongo import UpdateOne

        run = self._run(run_id)
        requests, targets = [], []
        if not all(safe_text(name) is name for name in metrics_by_name):  # lone surrogates
            metrics_by_name = {safe_text(n): m for n, m in metrics_by_name.items()}
        # worked on copies, kept only once the server took the points: a write that is
        # tried again after a lost connection starts from the same state
        docs = {name: _MetricDoc(**vars(doc)) for name, doc in run.metrics.items()}
        if run.unconfirmed:
            metrics_by_name = self._not_stored(run, run_id, docs, metrics_by_name)
        for name, metric in metrics_by_name.items():
            logged_values = readable(metric["values"])
            steps, stamps = bson_numbers(metric["steps"]), metric["timestamps"]  # not copied
            values = bson_numbers(logged_values)
            exact = exact_points(metric["steps"], logged_values, steps, values)
            doc = docs.setdefault(name, _MetricDoc())
            start = 0
            while start < len(steps):
                if doc.count >= POINTS_PER_DOCUMENT:
                    doc.part, doc.count, doc.object_id = doc.part + 1, 0, None
                end = start + POINTS_PER_DOCUMENT - doc.count
                update: dict[str, Any] = {"$push": {
                    "steps": {"$each": steps[start:end]},
                    "values": {"$each": values[start:end]},
                    "timestamps": {"$each": stamps[start:end]}}}
                exact_here = {f"exact.{doc.count + i - start}": text
                              for i, text in exact.items() if start <= i < end}
                if exact_here:  # points BSON holds only as floats, exactly (as SQL does)
                    update["$set"] = exact_here
                requests.append(UpdateOne(_doc_query(run_id, name, doc), update, upsert=True))
                targets.append((name, doc, doc.part))
                doc.count += min(end, len(steps)) - start
                start = end
        if not requests:
            return
        try:
            result = self._database().metrics.bulk_write(requests, ordered=True)
        except Exception:
            run.unconfirmed = True  # the server may have taken some points before failing
            raise
        run.metrics, run.unconfirmed = docs, False
        for index, object_id in sorted(result.upserted_ids.items()):
            name, doc, part = targets[index]
            if part == doc.part:  # a batch may have filled this part and begun the next
                doc.object_id = object_id
            if part == 1:  # what Omniboard and Incense follow
                run.metric_refs.append({"id": str(object_id), "name": name})

    def _not_stored(self, run: _Run, run_id: int, docs: dict[str, _MetricDoc],
                    metrics_by_name: dict[str, MetricSeries]) -> dict[str, MetricSeries]:
        """The points not stored yet, when an earlier try of this write (or of the run's
        writes before a spill) may have reached the server: a stored tail equal (steps and
        timestamps, BSON's milliseconds) to the head of the new points is not pushed again."""
        result: dict[str, MetricSeries] = {}
        for name, metric in metrics_by_name.items():
            doc = docs.setdefault(name, _MetricDoc())
            n = len(metric["steps"])
            stored = self._database().metrics.find_one(
                _doc_query(run_id, name, doc),
                projection={"steps": {"$slice": -n}, "timestamps": {"$slice": -n}}) if n else None
            kept = 0
            if stored is not None:
                tail = list(zip(stored["steps"], map(_ms, stored["timestamps"]), strict=False))
                head = list(zip(metric["steps"], map(_ms, metric["timestamps"]), strict=False))
                kept = next((k for k in range(min(len(tail), n), 0, -1)
                             if tail[-k:] == head[:k]), 0)
                if doc.object_id is None:
                    doc.object_id = stored["_id"]
                    if doc.part == 1 and all(r["name"] != name for r in run.metric_refs):
                        run.metric_refs.append({"id": str(stored["_id"]), "name": name})
                doc.count += kept
            result[name] = {**metric, "steps": metric["steps"][kept:],
                            "values": metric["values"][kept:],
                            "timestamps": metric["timestamps"][kept:]}
        return result

    def _finish(self, run_id: int, status: str, stop_time: datetime, **fields: Any) -> None:
        run = self._runs.get(run_id) or _Run()
        if "result" in fields:
            fields = self._fit(run, run_id, {"result": to_document(fields["result"])})
        self._runs.setdefault(run_id, run)
        self._update(run_id, {"$set": {"status": status, "stop_time": stop_time, **fields}})
        self._runs.pop(run_id, None)

    @queued
    def pytest_sacred_completed_event(self, run_id: int, stop_time: datetime,
                                      result: Any) -> None:
        self._finish(run_id, "COMPLETED", stop_time, result=result)

    @queued
    def pytest_sacred_failed_event(self, run_id: int, fail_time: datetime,
                                   fail_trace: list[str]) -> None:
        self._finish(run_id, "FAILED", fail_time, fail_trace=mongo_safe(list(fail_trace)))

    @queued
    def pytest_sacred_interrupted_event(self, run_id: int, interrupt_time: datetime,
                                        status: str) -> None:
        self._finish(run_id, status, interrupt_time)

    @queued
    def pytest_sacred_artifact_event(self, run_id: int, name: str, filename: str,
                                     metadata: dict[str, Any] | None,
                                     content_type: str | None) -> None:
        from bson import ObjectId

        name = artifact_name(name)  # the same names as every store, refused for the same reasons

        content_type = content_type or mimetypes.guess_type(name)[0]
        # one id per artifact, chosen before the first try: a retry finds its own upload
        retry = (run_id, name) in self._artifact_ids
        file_id = self._artifact_ids.setdefault((run_id, name), ObjectId())
        if self._files is None:
            self._files = GridFiles(self._database())
        with open(filename, "rb") as f:
            self._files.put(f, file_id, f"artifact://{self.collection}/{run_id}/{name}",
                            retry=retry, metadata=to_document(metadata),
                            contentType=content_type)
        self._replace_artifact(run_id, name, file_id)
        del self._artifact_ids[(run_id, name)]

    @queued
    def pytest_sacred_resource_event(self, run_id: int, filename: str) -> None:
        md5 = md5_of(filename)
        self._put_once(filename, md5, verified=True)
        self._update(run_id, {"$addToSet": {"resources": [filename, md5]}})

    def _replace_artifact(self, run_id: int, name: str, file_id: Any) -> None:
        """List ``file_id`` as the run's artifact ``name``: an artifact stored under that
        name before (a checkpoint file sent again) is replaced, its GridFS file deleted,
        so that a name is listed once."""
        from pymongo import ReturnDocument

        run = self._runs.get(run_id)
        if run is None or name not in run.artifacts:  # a new name: one update
            self._update(run_id, {"$addToSet": {"artifacts": {"name": name,
                                                              "file_id": file_id}}})
            if run is not None:
                run.artifacts.add(name)
            return
        runs = self._database()[self.collection]
        before = runs.find_one_and_update(
            {"_id": run_id, "artifacts.name": name},
            {"$pull": {"artifacts": {"name": name, "file_id": {"$ne": file_id}}}},
            projection={"artifacts": 1}, return_document=ReturnDocument.BEFORE)
        self._update(run_id, {"$addToSet": {"artifacts": {"name": name, "file_id": file_id}}})
        for old in (before or {}).get("artifacts") or []:
            if old.get("name") == name and old.get("file_id") != file_id:
                self._database()["fs.chunks"].delete_many({"files_id": old["file_id"]})
                self._database()["fs.files"].delete_one({"_id": old["file_id"]})

    # -- resume (--sacred-resume) -----------------------------------------------------------

    def claim_resume(self, run_id: int, statuses: tuple[str, ...],
                     silent_since: datetime) -> str | None:
        """Take a stored run to resume it, in one ``find_one_and_update``: RUNNING again
        with a fresh heartbeat if its status is one of ``statuses``, or RUNNING without a
        sign of life since ``silent_since``. Returns the status it had; ``None`` when it
        was not resumable (another session took it first)."""
        from pymongo import ReturnDocument

        from ...clock import utcnow

        runs = self._database()[self.collection]
        stale = {"status": "RUNNING", "$or": [
            {"heartbeat": {"$lt": silent_since}},
            {"heartbeat": None, "start_time": {"$lt": silent_since}}]}
        before = runs.find_one_and_update(
            {"_id": run_id, "$or": [{"status": {"$in": list(statuses)}}, stale]},
            {"$set": {"status": "RUNNING", "heartbeat": utcnow()}},
            projection={"status": 1}, return_document=ReturnDocument.BEFORE)
        if before is None:
            if runs.find_one({"_id": run_id}, projection={"_id": 1}) is None:
                raise StoreError(f"{self.location(run_id)}: no such run")
            return None
        return str(before["status"])

    @queued
    def pytest_sacred_resumed_event(self, run_id: int, host_info: HostInfo,
                                    resume_time: datetime, from_status: str,
                                    meta_info: MetaInfo) -> None:
        """The claimed run goes on: RUNNING, one more ``meta.resumed`` entry (holding the
        earlier attempt's fail_trace, no longer a field of the document), the rest of its
        document kept (its metric documents are found again by :meth:`_run`)."""
        self._run(run_id)
        [entry] = resumed(None, resume_time, host_info, from_status, mongo_safe,
                          earlier_trace(meta_info))
        # added to the set: the event written again (a retry, a replay) carries the same
        # trace, so it makes the same entry and adds none
        self._update(run_id, {"$set": {"status": "RUNNING", "heartbeat": resume_time},
                              "$addToSet": {"meta.resumed": entry},
                              "$unset": {"fail_trace": ""}})


def _same_run(existing: dict[str, Any] | None, doc: dict[str, Any]) -> bool:
    """Whether the stored run ``existing`` is ``doc`` written before (same start, node
    and seed; BSON keeps milliseconds), or the placeholder ``allocate_id`` claimed for it
    (no status yet; same node and seed): its first event then failed, was spilled, and is
    replayed now."""
    if not existing:
        return False
    start, stored = doc.get("start_time"), existing.get("start_time")
    placeholder = "status" not in existing and stored is None
    if not placeholder and (start is None or stored is None
                            or abs((start - stored).total_seconds()) > 0.001):
        return False
    node = (doc.get("meta") or {}).get("pytest")
    return bool(node) and node == (existing.get("meta") or {}).get("pytest") and \
        (doc.get("config") or {}).get("seed") == (existing.get("config") or {}).get("seed")


def _doc_query(run_id: int, name: str, doc: _MetricDoc) -> dict[str, Any]:
    """The ``metrics`` document the next points of ``name`` go to."""
    if doc.object_id is not None:
        return {"_id": doc.object_id}
    if doc.part == 1:
        return {"run_id": run_id, "name": name}  # Sacred's upsert
    return {"run_id": run_id, "name": name, "part": doc.part}


def _ms(stamp: Any) -> Any:
    """A datetime as BSON keeps it (milliseconds)."""
    return stamp.replace(microsecond=stamp.microsecond // 1000 * 1000)


def _object_id(value: str) -> Any:
    from bson import ObjectId

    return ObjectId(value)
