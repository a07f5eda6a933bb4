"""Sacred's TinyDbObserver layout: ``DIR/metadata.json`` (TinyDB) and ``DIR/hashfs/``.

What Sacred's ``TinyDbReader`` reads back unchanged: a ``runs`` table of run documents
with ``{TinyDate}``-tagged times and ``{TinyFile}`` references into a content-addressed
hashfs store (md5, depth 3, width 2) holding sources, resources and artifacts.

Differences from Sacred 0.8.7, invisible to its reader:

* run ids are integers, unique across processes (TinyDB document id = ``_id``);
* a run's events are kept in memory and its document written at start, at each periodic
  heartbeat and at the end (a final beat right before the end is written with it), in
  place (:mod:`.metadata_file`): the cost of a run does not grow with the database, and a
  file lock makes concurrent writers safe;
* config, info and result are stored as JSON data (datetimes as ``{TinyDate}``, numpy
  arrays as ``{TinyArray}``, pandas as ``{TinyDataFrame}``/``{TinySeries}``, anything
  else jsonpickle-tagged as Sacred's other observers do) instead of failing on them;
  a user's string that begins like such a tag is escaped (:mod:`.values`), so no
  value makes the store unreadable;
* metrics, which Sacred's TinyDB observer drops, are kept: at the end of a run, one JSON
  file in hashfs (``{name: {steps, timestamps, values}}``, the file store's
  ``metrics.json`` layout) named by the document's ``metrics`` field;
* a queued run is stored with status ``QUEUED`` (Sacred raises ``NotImplementedError``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ...hashing import md5_of
from ...names import artifact_name
from ...payloads import ExperimentInfo, HostInfo, MetaInfo, MetricSeries
from ...timestamps import isoformats
from ..base import (
    DEFAULT_LOCK_TIMEOUT,
    DEFER_BEAT_SECONDS,
    Observer,
    RunExists,
    RunHistory,
    StoreError,
    earlier_trace,
    provisional_id,
    queued,
    resumable,
    resumed,
)
from .values import tiny_date, tiny_file, tiny_text, tiny_value

FORMAT = "TinyDbObserver-0.8.7"
#: what a store directory may hold besides nothing
OWN_ENTRIES = frozenset({"metadata.json", "metadata.json.lock", "metadata.json.index", "hashfs"})


def require_packages() -> None:
    """Raise :class:`~pytest_sacred.extras.MissingExtra` naming the extra when a package the
    store needs is missing (the store writes TinyDB's layout itself: tinydb is not needed)."""
    from ...extras import require

    for module in ("filelock", "hashfs"):
        require(module)


@dataclass
class _Run:
    entry: dict[str, Any]
    #: experiment and host, encoded once per session
    fixed: dict[str, str]
    metrics: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    last_write: float = 0.0

    def text(self) -> str:
        parts = [f'"{k}": {self.fixed[k]}' if k in self.fixed else
                 f"{json.dumps(k)}: {json.dumps(v)}" for k, v in self.entry.items()]
        return "{" + ", ".join(parts) + "}"


class TinyDbObserver(Observer):
    """Writes runs as Sacred's ``TinyDbObserver`` does, readable by its ``TinyDbReader``."""

    priority = 0
    name = "tinydb"
    #: a local file: written on the experiment's thread while its lock can be had
    writes_inline = True

    def __init__(self, basedir: str | os.PathLike[str], priority: int = 0,
                 lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self.basedir = Path(basedir).absolute()
        self.priority = priority
        self.lock_timeout = lock_timeout
        self._file: Any = None
        self._fs: Any = None
        self._runs: dict[int, _Run] = {}
        self._reserved: set[int] = set()
        self._stored: set[str] = set()  # md5s known to be in hashfs
        self._encoded: dict[int, tuple[Any, str]] = {}
        self._next_id: int | None = None  # after the last id this process reserved
        #: ids named while the file stayed locked, claimed by their run's first write
        self._provisional: set[int] = set()
        #: the events of each unfinished run: its document is written whole from memory,
        #: so a replay rebuilds it from these (see :meth:`unwritten`)
        self._history = RunHistory()

    # -- session ----------------------------------------------------------------------------

    def open(self) -> None:
        """Check the directory is (or can become) a TinyDB store; raises :class:`StoreError`."""
        require_packages()
        from hashfs import HashFS

        from .metadata_file import MetadataError, MetadataFile

        where = str(self.basedir)
        if self.basedir.exists() and not self.basedir.is_dir():
            raise StoreError(f"TinyDB store {where!r} is a file, not a directory; pass a "
                             "directory to --sacred-tinydb")
        if self.basedir.is_dir():
            others = sorted(e for e in os.listdir(self.basedir) if e not in OWN_ENTRIES)
            if others and not (self.basedir / "metadata.json").exists():
                raise StoreError(
                    f"--sacred-tinydb {where!r} holds something else ({', '.join(others[:5])}"
                    f"{', ...' if len(others) > 5 else ''}) and no metadata.json; give an empty "
                    "or new directory, or one a TinyDB store wrote")
        try:
            self.basedir.mkdir(parents=True, exist_ok=True)
            metadata = MetadataFile(self.basedir / "metadata.json", self.lock_timeout)
            metadata.check()
        except MetadataError as exc:
            raise StoreError(f"--sacred-tinydb {where!r}: {exc}; give a directory a TinyDB "
                             "store wrote, or a new one" + (
                                 ", or raise --sacred-lock-timeout" if "locked" in str(exc)
                                 else "")) from None
        except OSError as exc:
            raise StoreError(f"TinyDB store {where!r} is not writable ({exc.strerror or exc}); "
                             "pass a writable directory to --sacred-tinydb") from None
        self._file = metadata
        self._fs = HashFS(str(self.basedir / "hashfs"), depth=3, width=2, algorithm="md5")

    def location(self, run_id: int | None) -> str:
        return f"{self.basedir / 'metadata.json'}#{run_id}"

    def reader_store(self) -> str:
        return str(self.basedir)

    def is_transient(self, exc: BaseException) -> bool:
        """``metadata.json``'s lock held by another process past ``--sacred-lock-timeout``;
        anything else (a file that is not TinyDB's, a full disk) is not."""
        from .metadata_file import MetadataLocked

        return isinstance(exc, MetadataLocked)

    def store_spec(self) -> dict[str, Any]:
        return {"kind": "tinydb", "directory": str(self.basedir),
                "lock_timeout": self.lock_timeout}

    def unwritten(self, run_id: int | None) -> list[tuple[str, dict[str, Any]]]:
        self._runs.pop(run_id, None)  # type: ignore[arg-type]
        events = self._history.take(run_id)
        for hook, kwargs in events:  # a file gone since: its copy in hashfs
            if hook in ("pytest_sacred_artifact_event", "pytest_sacred_resource_event") \
                    and not os.path.isfile(kwargs["filename"]):
                kwargs["filename"] = self._fs.idpath(kwargs.pop("md5"))
            kwargs.pop("md5", None)
        return events

    def _metadata(self) -> Any:
        if self._file is None:
            self.open()
        return self._file

    def _write(self, run_id: int, run: _Run, final: bool = False) -> None:
        from .metadata_file import MetadataError, MetadataLocked

        try:
            self._metadata().write(run_id, run.text(), final)
        except MetadataLocked:
            raise  # tried again by the write queue
        except MetadataError as exc:
            raise StoreError(f"TinyDB store {self.basedir}: {exc}") from None
        run.last_write = time.monotonic()

    # -- ids --------------------------------------------------------------------------------

    def pytest_sacred_allocate_id(self) -> int:
        """Reserve the next id; while another process holds the file's lock past the
        timeout, name the run without it (the id after this process's last one, claimed
        by the run's first write, or the run renamed at replay). So do the runs after it
        until those first writes are done: the file knows nothing of such an id, and would
        hand it out again to a run named once the lock is free, its queued owner then
        refused as "taken meanwhile"."""
        if self.queue is not None and (self.queue.down or self._provisional):
            return self._provisional_id()
        try:
            run_id: int = self._metadata().reserve_id()
        except Exception as exc:
            if self.queue is None or not self.is_transient(exc):
                raise
            return self._provisional_id()
        self._reserved.add(run_id)
        self._next_id = run_id + 1
        return run_id

    def _provisional_id(self) -> int:
        run_id = provisional_id(self, f"{self.basedir / 'metadata.json'} (locked)")
        self._provisional.add(run_id)
        return run_id

    def _check_free(self, run_id: int, entry: dict[str, Any]) -> None:
        """An id this store did not hand out may already name a run here: this one's,
        written before (a replay, an answer lost), or another's."""
        if run_id in self._reserved:
            return
        metadata = self._metadata()
        if run_id in self._provisional:
            if not metadata.claim_id(run_id):
                self._provisional.discard(run_id)  # refused: the next runs need not wait
                raise RunExists(f"run id {run_id}, chosen while {metadata.path} was locked, "
                                "was taken meanwhile")
            self._provisional.discard(run_id)
            self._reserved.add(run_id)
        elif metadata.contains(run_id) and not self._same_run(run_id, entry):
            raise RunExists(f"run {run_id} already exists in {self.basedir / 'metadata.json'}; "
                            "choose a free --sacred-id or another --sacred-tinydb directory")

    def _same_run(self, run_id: int, entry: dict[str, Any]) -> bool:
        """Whether the stored run ``run_id`` is this run written before (same start and
        config)."""
        from .metadata_file import TABLE, parse_database

        metadata = self._metadata()
        stored = parse_database(metadata.read_bytes(), metadata.path).get(TABLE, {}).get(
            str(run_id)) or {}
        return all(stored.get(key) == entry.get(key) for key in ("start_time", "config"))

    # -- content store ----------------------------------------------------------------------

    def _put(self, filename: str, md5: str | None = None) -> str:
        """Store ``filename`` in hashfs once per content; returns its md5."""
        md5 = md5 or md5_of(filename)
        if md5 not in self._stored:
            if not os.path.isfile(self._fs.idpath(md5)):
                stored = self._fs.put(filename).id
                if stored != md5:  # the file changed since its md5 was taken
                    md5 = stored
            self._stored.add(md5)
        return md5

    def _experiment(self, ex_info: ExperimentInfo) -> str:
        cached = self._encoded.get(id(ex_info))
        if cached is None or cached[0] is not ex_info:
            base_dir = ex_info.get("base_dir") or ""
            sources = []
            for name, md5 in ex_info.get("sources", []):
                md5 = self._put(os.path.join(base_dir, name), md5)
                sources.append([tiny_text(name), md5, tiny_file(md5)])
            text = json.dumps(tiny_value({**ex_info, "sources": []}) | {"sources": sources})
            cached = self._encoded[id(ex_info)] = (ex_info, text)
        return cached[1]

    def _host(self, host_info: HostInfo) -> str:
        cached = self._encoded.get(id(host_info))
        if cached is None or cached[0] is not host_info:
            cached = self._encoded[id(host_info)] = (host_info, json.dumps(tiny_value(host_info)))
        return cached[1]

    # -- events -----------------------------------------------------------------------------

    def _begin(self, run_id: int, ex_info: ExperimentInfo, command: str, host_info: HostInfo,
               config: dict[str, Any], meta_info: Mapping[str, Any], status: str,
               **times: datetime) -> _Run:
        entry: dict[str, Any] = {"experiment": None, "format": FORMAT,
                                 "command": tiny_text(command),
                                 "host": None}
        entry.update({k: tiny_date(v) for k, v in times.items()})
        entry.update(config=tiny_value(config), meta=tiny_value(meta_info), status=status,
                     resources=[], artifacts=[], captured_out="", info={}, heartbeat=None,
                     _id=run_id)
        self._check_free(run_id, entry)
        return _Run(entry, {"experiment": self._experiment(ex_info), "host": self._host(host_info)})

    @queued
    def pytest_sacred_queued_event(self, run_id: int, ex_info: ExperimentInfo, command: str,
                                   host_info: HostInfo, queue_time: datetime,
                                   config: dict[str, Any], meta_info: MetaInfo) -> None:
        run = self._begin(run_id, ex_info, command, host_info, config,
                          {**meta_info, "queue_time": queue_time}, "QUEUED")
        self._write(run_id, run, final=True)
        self._reserved.discard(run_id)

    @queued
    def pytest_sacred_started_event(self, run_id: int, ex_info: ExperimentInfo, command: str,
                                    host_info: HostInfo, start_time: datetime,
                                    config: dict[str, Any], meta_info: MetaInfo) -> None:
        run = self._begin(run_id, ex_info, command, host_info, config, meta_info, "RUNNING",
                          start_time=start_time)
        self._write(run_id, run)
        self._reserved.discard(run_id)
        self._runs[run_id] = run
        self._history.add("pytest_sacred_started_event", run_id, ex_info=ex_info,
                          command=command, host_info=host_info, start_time=start_time,
                          config=config, meta_info=meta_info)

    @queued
    def pytest_sacred_heartbeat_event(self, run_id: int, info: dict[str, Any], captured_out: str,
                                      beat_time: datetime, result: Any) -> None:
        run = self._runs[run_id]
        run.entry.update(info=tiny_value(info), captured_out=tiny_text(captured_out or ""),
                         heartbeat=tiny_date(beat_time), result=tiny_value(result))
        if time.monotonic() - run.last_write >= DEFER_BEAT_SECONDS:
            self._write(run_id, run)
        self._history.add("pytest_sacred_heartbeat_event", run_id, info=info,
                          captured_out=captured_out, beat_time=beat_time, result=result)

    @queued
    def pytest_sacred_log_metrics(self, run_id: int,
                                  metrics_by_name: dict[str, MetricSeries]) -> None:
        metrics = self._runs[run_id].metrics
        for name, metric in metrics_by_name.items():
            kept = metrics.setdefault(name, {"steps": [], "timestamps": [], "values": []})
            kept["steps"] += metric["steps"]
            kept["timestamps"] += isoformats(metric["timestamps"])
            kept["values"] += metric["values"]
        self._history.add("pytest_sacred_log_metrics", run_id, metrics_by_name=metrics_by_name)

    def _finish(self, run_id: int, status: str, stop_time: datetime, **fields: Any) -> None:
        run = self._runs[run_id]  # kept until written: a retry writes it again
        run.entry.update(stop_time=tiny_date(stop_time), status=status, **fields)
        if run.metrics:
            path = self.basedir / f".metrics-{os.getpid()}-{run_id}.json"
            path.write_text(json.dumps(run.metrics, sort_keys=True), encoding="ascii")
            try:
                md5 = self._fs.put(str(path)).id
            finally:
                path.unlink()
            run.entry["metrics"] = {"names": [tiny_text(n) for n in sorted(run.metrics)],
                                    "file": tiny_file(md5)}
        self._write(run_id, run, final=True)
        del self._runs[run_id]
        self._history.forget(run_id)

    @queued
    def pytest_sacred_completed_event(self, run_id: int, stop_time: datetime,
                                      result: Any) -> None:
        self._finish(run_id, "COMPLETED", stop_time, result=tiny_value(result))

    @queued
    def pytest_sacred_failed_event(self, run_id: int, fail_time: datetime,
                                   fail_trace: list[str]) -> None:
        self._finish(run_id, "FAILED", fail_time, fail_trace=tiny_value(list(fail_trace)))

    @queued
    def pytest_sacred_interrupted_event(self, run_id: int, interrupt_time: datetime,
                                        status: str) -> None:
        self._finish(run_id, tiny_text(status), interrupt_time)

    @queued
    def pytest_sacred_artifact_event(self, run_id: int, name: str, filename: str) -> None:
        """Kept in the document with the next write (heartbeat or end)."""
        name = artifact_name(name)  # the same names as every store, refused for the same reasons
        md5 = self._put(filename)
        self._replace_artifact(self._runs[run_id], [tiny_text(name), tiny_text(filename), md5,
                                                    tiny_file(md5)])
        self._history.add("pytest_sacred_artifact_event", run_id, name=name, filename=filename,
                          md5=md5)

    @queued
    def pytest_sacred_resource_event(self, run_id: int, filename: str) -> None:
        md5 = self._put(filename)
        resources = self._runs[run_id].entry["resources"]
        if not any(r[0] == tiny_text(filename) and r[1] == md5 for r in resources):
            resources.append([tiny_text(filename), md5, tiny_file(md5)])
        self._history.add("pytest_sacred_resource_event", run_id, filename=filename, md5=md5)

    @staticmethod
    def _replace_artifact(run: _Run, stored: list[Any]) -> None:
        """List an artifact once by name: a checkpoint file sent again replaces its entry."""
        artifacts = run.entry["artifacts"]
        artifacts[:] = [a for a in artifacts if a[0] != stored[0]] + [stored]

    # -- resume (--sacred-resume) -----------------------------------------------------------

    def claim_resume(self, run_id: int, statuses: tuple[str, ...],
                     silent_since: datetime) -> str | None:
        """Take a stored run to resume it: its document RUNNING again with a fresh
        heartbeat if its status is one of ``statuses`` or RUNNING without a sign of life
        since ``silent_since``; read and written under one hold of the file lock, so of two
        sessions one wins. Returns the status it had, ``None`` when it is not resumable."""
        from ...clock import utcnow
        from .values import DATE_TAG

        def change(doc: dict[str, Any] | None) -> tuple[str | None, str | None]:
            if doc is None:
                raise StoreError(f"{self.location(run_id)}: no such run")
            status = resumable(doc, statuses, silent_since,
                               lambda text: datetime.fromisoformat(text.removeprefix(DATE_TAG)))
            if status is None:
                return None, None
            return json.dumps({**doc, "status": "RUNNING",
                               "heartbeat": tiny_date(utcnow())}), status

        result: str | None = self._metadata().compare_and_set(run_id, change)
        return result

    @queued
    def pytest_sacred_resumed_event(self, run_id: int, host_info: HostInfo,
                                    resume_time: datetime, from_status: str,
                                    meta_info: MetaInfo) -> None:
        """The claimed run goes on from its stored document: RUNNING, one more
        ``meta.resumed`` entry (holding the earlier attempt's fail_trace, no longer a key
        of the document); its metrics file read back, so that the run's final write holds
        the stored points and the new ones."""
        from .values import FILE_TAG

        doc = self._metadata().document(run_id)
        if doc is None:
            raise StoreError(f"{self.location(run_id)}: no such run to resume")
        fixed = {key: json.dumps(doc[key]) for key in ("experiment", "host") if key in doc}
        doc.update(dict.fromkeys(fixed))  # written from ``fixed``, in their place
        run = _Run(doc, fixed)
        stored = doc.pop("metrics", None) or {}
        if stored.get("file"):
            md5 = json.loads(str(stored["file"]).removeprefix(FILE_TAG))
            with open(self._fs.idpath(md5), encoding="ascii") as f:
                run.metrics = json.load(f)
        meta = doc["meta"] = dict(doc.get("meta") or {})
        meta["resumed"] = resumed(meta.get("resumed"), resume_time, host_info, from_status,
                                  tiny_value, earlier_trace(meta_info))
        doc.pop("fail_trace", None)  # Sacred's document has none unless the run failed
        doc.update(status="RUNNING", heartbeat=tiny_date(resume_time))
        self._runs[run_id] = run
        self._history.add("pytest_sacred_resumed_event", run_id, host_info=host_info,
                          resume_time=resume_time, from_status=from_status,
                          meta_info=meta_info)
        self._write(run_id, run)
