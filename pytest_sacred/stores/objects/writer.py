"""Sacred's FileStorage layout in an object store bucket (S3, GCS), under a prefix.

``<prefix>/<id>/{run.json, config.json, metrics.json, info.json, cout.txt, <artifacts>}``
and ``<prefix>/_sources/``, ``<prefix>/_resources/``, the text made by
:mod:`..file.layout` as for the file store. What differs from a directory:

* an id is claimed by creating ``<prefix>/<id>/config.json`` *only if it does not exist*
  (S3 ``If-None-Match: *``, GCS ``ifGenerationMatch=0``): of several writers racing for
  an id exactly one gets it, the others try the next one;
* objects cannot be appended to or rewritten in place, so each event uploads only the
  objects that changed: ``run.json`` (its heartbeat time changes at every beat), and
  ``cout.txt``, ``info.json`` and ``metrics.json`` only when their content did. Sacred's
  S3 observer overwrote ``cout.txt`` with the last beat's delta; here it is always whole;
* an artifact's or resource's entry in ``run.json`` is uploaded with the next heartbeat
  (a run's last artifacts come just before its final beat): the artifact itself at once;
* a heartbeat within ``RUN_JSON_INTERVAL`` of the last upload of ``run.json`` does not
  upload it again (the run's final beat, right before its final event, is one): a
  crash then loses less than that much of the heartbeat time.

A bucket only needs to give :class:`~.bucket.Bucket`'s few operations; the client library
of each service is imported by its module (:mod:`..s3.bucket`, :mod:`..gcs.bucket`) only
when that store is used.
"""

from __future__ import annotations

import json
import mimetypes
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ...hashing import md5_of
from ...names import artifact_name
from ...payloads import ExperimentInfo, HostInfo, MetaInfo, MetricSeries
from ...serialize import dumps
from ..base import (
    Observer,
    RunExists,
    RunHistory,
    StoreError,
    earlier_trace,
    queued,
    resumable,
    resumed,
)
from ..file.layout import (
    SESSION_META,
    EncodedOnce,
    FinalEvents,
    IdClaims,
    MetricText,
    add_metrics,
    initial_entry,
    metrics_text,
    run_json,
    stored_copy_name,
)
from ..file.writer import LIVE_METRICS_BYTES
from .bucket import Bucket, BucketURL

#: seconds: a heartbeat sooner than this after the last upload of run.json skips it
RUN_JSON_INTERVAL = 1.0
_JSON = "application/json"
_TEXT = "text/plain; charset=utf-8"
#: the objects of a run that are not artifacts
_OWN_FILES = frozenset({"run.json", "config.json", "metrics.json", "info.json", "cout.txt"})


@dataclass
class _RunObjects:
    """What the observer keeps of a run it writes, to upload only what changed."""

    key: str  # "<prefix>/<id>"
    #: the fields of run.json that change during the run
    entry: dict[str, Any]
    #: the fields that do not (experiment, host, meta), encoded once
    fixed: dict[str, str]
    cout: str | None = None  # as uploaded
    info: str | None = None  # info.json as uploaded
    metrics: dict[str, MetricText] = field(default_factory=dict)
    metrics_bytes: int = 0
    metrics_uploaded: bool = False
    metrics_stale: bool = False
    saved_at: float = 0.0  # time.monotonic() of the last upload of run.json
    #: the ``metrics_by_name`` added last (a retry of its upload must not add it twice)
    added: Any = None


class ObjectStoreObserver(FinalEvents, Observer):
    """Stores runs in a bucket in Sacred's FileStorage layout (see the module docstring)."""

    priority = 20

    def __init__(self, bucket: Bucket, url: BucketURL, option: str, name: str,
                 priority: int = 20) -> None:
        self.bucket = bucket
        self.url = url
        self.option = option
        self.name = name
        self.priority = priority
        self._runs: dict[int, _RunObjects] = {}
        self._ids = IdClaims(str(url))
        self._stored: set[str] = set()
        self._encode_once = EncodedOnce()
        #: the events of each unfinished run: the run's objects are written from memory,
        #: so a replay rebuilds them from these (see :meth:`unwritten`)
        self._history = RunHistory()
        #: an id claim failed for a while: the next runs are named without asking the
        #: store until one of its writes succeeds again (no run waits for it twice)
        self._claims_down = False

    def is_transient(self, exc: BaseException) -> bool:
        return self.bucket.is_transient(exc)

    def store_spec(self) -> dict[str, Any]:
        return {"kind": self.name, "url": str(self.url), **self.bucket.spec()}

    def unwritten(self, run_id: int | None) -> list[tuple[str, dict[str, Any]]]:
        self._runs.pop(run_id, None)  # type: ignore[arg-type]
        return self._history.take(run_id)

    # -- session -------------------------------------------------------------------------

    def open(self) -> None:
        self.bucket.open()

    def location(self, run_id: int | None) -> str:
        return f"{self.url}/{run_id}"

    def _put(self, run: _RunObjects, name: str, text: str, content_type: str = _JSON) -> None:
        self.bucket.put(f"{run.key}/{name}", text.encode("utf-8"), content_type)

    # -- ids -----------------------------------------------------------------------------

    def _highest_id(self) -> int:
        names = self.bucket.list_dirs(self.url.key(""))  # "prefix/", or "" at the root
        return max((int(n) for n in names if n.isdigit()), default=0)

    def _claim(self, run_id: int, config: dict[str, Any]) -> bool:
        """Create ``<id>/config.json`` if no run has it: the atomic claim of the id."""
        return self.bucket.put(self.url.key(str(run_id), "config.json"),
                               dumps(config).encode("utf-8"), _JSON, create_only=True)

    def pytest_sacred_allocate_id(self, config: dict[str, Any]) -> int:
        """Claim the next id; while the store does not answer, name the run without
        asking it (the id after this session's last claim, claimed by its queued first
        event, or renamed at replay): the experiment never waits for the store here."""
        if self.queue is not None and (self.queue.down or self._claims_down):
            return self._provisional_id()
        try:
            return self._ids.claim(lambda i: self._claim(i, config), self._highest_id)
        except Exception as exc:
            if self.queue is None or not self.is_transient(exc):
                raise
            self._claims_down = True
            return self._provisional_id()

    def _provisional_id(self) -> int:
        run_id = self._ids.provisional()
        if run_id is None:
            raise StoreError(f"{self.url} does not answer and this session has stored no "
                             "run there yet, so no id can be chosen")
        return run_id

    # -- content-addressed copies ----------------------------------------------------------

    def _store_copy(self, source: str, md5: str, folder: str) -> str:
        """Upload ``source`` to ``<prefix>/folder/<stem>_<md5><ext>`` once; returns the
        path relative to the prefix."""
        relative = f"{folder}/{stored_copy_name(source, md5)}"
        if relative not in self._stored:
            with open(source, "rb") as f:
                self.bucket.put(self.url.key(relative), f.read(), _content_type(source),
                                create_only=True)  # already there: same content, same name
            self._stored.add(relative)
        return relative

    def _experiment_entry(self, ex_info: ExperimentInfo) -> dict[str, Any]:
        base = ex_info["base_dir"]
        sources = [[name, self._store_copy(f"{base}/{name}", md5, "_sources")]
                   for name, md5 in ex_info.get("sources", [])]
        return {**ex_info, "sources": sources}

    # -- writing ------------------------------------------------------------------------------

    def _begin(self, run_id: int | None, ex_info: ExperimentInfo, command: str,
               host_info: HostInfo, config: dict[str, Any], meta_info: Mapping[str, Any],
               status: str, **times: datetime) -> _RunObjects:
        if run_id is None:
            raise StoreError("the run has no id")
        entry = initial_entry(command, status, times)
        # an id claimed here has its config.json already; one handed in is claimed now
        if not self._ids.take(run_id) and not self._claim(run_id, config) and \
                not self._same_run(run_id, config, entry):
            raise RunExists(f"{self.location(run_id)} already holds run {run_id}; choose a "
                            f"free id (--sacred-id) or another {self.option}")
        fixed = {
            "experiment": self._encode_once(ex_info, self._experiment_entry),
            "host": self._encode_once(host_info),
            "meta": self._encode_once.members(meta_info, SESSION_META),
        }
        run = _RunObjects(self.url.key(str(run_id)), entry, fixed)
        self._save(run)
        self._claims_down = False
        return run

    def _same_run(self, run_id: int, config: dict[str, Any], entry: dict[str, Any]) -> bool:
        """Whether the id is held by this very run: claimed for it before the store went
        away (its config, no run.json yet) or its first event written before (the same
        start). The artifacts and resources already stored then stay in its run.json."""
        key = self.url.key(str(run_id))
        if self.bucket.get(f"{key}/config.json") != dumps(config).encode("utf-8"):
            return False
        stored = self.bucket.get(f"{key}/run.json")
        if stored is None:
            return True
        before = json.loads(stored)
        if before.get("start_time") != entry.get("start_time"):
            return False
        # an artifact is uploaded at once, its entry in run.json with the next beat: the
        # objects beside the run's own files are its artifacts
        uploaded = sorted(k[len(key) + 1:] for k in self.bucket.list_keys(f"{key}/"))
        entry["artifacts"] = list(dict.fromkeys(
            [*(before.get("artifacts") or []), *(n for n in uploaded if n not in _OWN_FILES)]))
        entry["resources"] = list(before.get("resources") or [])
        return True

    def _save(self, run: _RunObjects) -> None:
        self._put(run, "run.json", run_json(run.fixed, run.entry))
        run.saved_at = time.monotonic()

    @queued
    def pytest_sacred_queued_event(self, run_id: int | None, ex_info: ExperimentInfo,
                                   command: str, host_info: HostInfo, queue_time: datetime,
                                   config: dict[str, Any], meta_info: MetaInfo) -> None:
        meta = {**meta_info, "queue_time": queue_time.isoformat()}
        self._begin(run_id, ex_info, command, host_info, config, meta, "QUEUED")

    @queued
    def pytest_sacred_started_event(self, run_id: int, ex_info: ExperimentInfo,
                                    command: str, host_info: HostInfo, start_time: datetime,
                                    config: dict[str, Any], meta_info: MetaInfo) -> None:
        self._runs[run_id] = self._begin(run_id, ex_info, command, host_info, config,
                                         meta_info, "RUNNING", start_time=start_time)
        self._history.add("pytest_sacred_started_event", run_id, ex_info=ex_info,
                          command=command, host_info=host_info, start_time=start_time,
                          config=config, meta_info=meta_info)

    @queued
    def pytest_sacred_heartbeat_event(self, run_id: int, info: dict[str, Any],
                                      captured_out: str, beat_time: datetime,
                                      result: Any) -> None:
        run = self._runs[run_id]
        run.entry["heartbeat"] = beat_time.isoformat()
        run.entry["result"] = result
        if captured_out != run.cout:
            self._put(run, "cout.txt", captured_out, _TEXT)
            run.cout = captured_out
        if info:
            text = dumps(info)
            if text != run.info:
                self._put(run, "info.json", text)
                run.info = text
        if time.monotonic() - run.saved_at >= RUN_JSON_INTERVAL:
            self._save(run)
        self._history.add("pytest_sacred_heartbeat_event", run_id, info=info,
                          captured_out=captured_out, beat_time=beat_time, result=result)

    @queued
    def pytest_sacred_log_metrics(self, run_id: int,
                                  metrics_by_name: dict[str, MetricSeries]) -> None:
        run = self._runs[run_id]
        if run.added is not metrics_by_name:  # not on a retry of this event
            run.metrics_bytes += add_metrics(run.metrics, metrics_by_name)
            run.added = metrics_by_name
            run.metrics_stale = run.metrics_stale or bool(metrics_by_name)
        if not run.metrics_uploaded or (run.metrics_stale and
                                        run.metrics_bytes <= LIVE_METRICS_BYTES):
            self._save_metrics(run)  # Sacred's layout has metrics.json from the first beat
        self._history.add("pytest_sacred_log_metrics", run_id, metrics_by_name=metrics_by_name)

    def _save_metrics(self, run: _RunObjects) -> None:
        self._put(run, "metrics.json", metrics_text(run.metrics))
        run.metrics_uploaded, run.metrics_stale = True, False

    def _finish(self, run_id: int, stop_time: datetime, status: str, **fields: Any) -> None:
        run = self._runs[run_id]  # kept until written: a retry writes it again
        if run.metrics_stale:
            self._save_metrics(run)
        if run.info is None:  # as the file store: Incense's reader needs it, even empty
            self._put(run, "info.json", "{}")
            run.info = "{}"
        run.entry.update(stop_time=stop_time.isoformat(), status=status, **fields)
        self._save(run)
        del self._runs[run_id]
        self._history.forget(run_id)

    @queued
    def pytest_sacred_artifact_event(self, run_id: int, name: str, filename: str,
                                     content_type: str | None) -> None:
        name = artifact_name(name)  # inside the run's prefix, not one of its own files
        run = self._runs[run_id]
        self.bucket.put_file(f"{run.key}/{name}", filename,
                             content_type or _content_type(filename))
        self._list_artifact(run, name)  # run.json goes up with the next beat

    @queued
    def pytest_sacred_resource_event(self, run_id: int, filename: str) -> None:
        run = self._runs[run_id]
        stored = self._store_copy(filename, md5_of(filename), "_resources")
        run.entry["resources"].append([filename, f"{self.url}/{stored}"])

    @staticmethod
    def _list_artifact(run: _RunObjects, name: str) -> None:
        """An artifact is listed once by name (a checkpoint file sent again replaced its
        object)."""
        if name not in run.entry["artifacts"]:
            run.entry["artifacts"].append(name)

    def reader_store(self) -> str:
        """How :func:`~pytest_sacred.readers.open_reader` names this store (a resumed run
        is read back from it); the reader takes its endpoint from the environment."""
        return str(self.url)

    # -- resume (--sacred-resume) -----------------------------------------------------------

    def claim_resume(self, run_id: int, statuses: tuple[str, ...],
                     silent_since: datetime) -> str | None:
        """Take a stored run to resume it: ``run.json`` rewritten RUNNING with a fresh
        heartbeat, on the condition that it is still the version read (S3 ``If-Match``,
        GCS ``ifGenerationMatch``), if its status is one of ``statuses`` or RUNNING without
        a sign of life since ``silent_since``. Returns the status it had, ``None`` when it
        is not resumable (another session took it first)."""
        import json

        from ...clock import utcnow

        key = self.url.key(str(run_id), "run.json")
        found = self.bucket.get_versioned(key)
        if found is None:
            raise StoreError(f"{self.location(run_id)}: no such run (no run.json)")
        data, version = found
        entry = json.loads(data)
        status = resumable(entry, statuses, silent_since, datetime.fromisoformat)
        if status is None:
            return None
        entry.update(status="RUNNING", heartbeat=utcnow().isoformat())
        if not self.bucket.put_if_unchanged(key, dumps(entry).encode("utf-8"), _JSON, version):
            return None
        return status

    @queued
    def pytest_sacred_resumed_event(self, run_id: int, host_info: HostInfo,
                                    resume_time: datetime, from_status: str,
                                    meta_info: MetaInfo) -> None:
        """The claimed run goes on from its stored objects (run.json, cout.txt, info.json,
        metrics.json read back): RUNNING, one more ``meta.resumed`` entry (holding the
        earlier attempt's fail_trace, no longer a key of ``run.json``), the rest kept."""
        import json

        from ..file.layout import indented

        key = str(run_id)
        data = self.bucket.get(self.url.key(key, "run.json"))
        if data is None:
            raise StoreError(f"{self.location(run_id)}: no such run to resume")
        entry = json.loads(data)
        meta = entry.pop("meta", None) or {}
        meta["resumed"] = resumed(meta.get("resumed"), resume_time.isoformat(), host_info,
                                  from_status, fail_trace=earlier_trace(meta_info))
        entry.pop("fail_trace", None)  # Sacred's run.json has none unless the run failed
        fixed = {name: indented(entry.pop(name)) for name in ("experiment", "host")
                 if name in entry}
        fixed["meta"] = indented(meta)
        run = _RunObjects(self.url.key(key), entry, fixed)
        cout, info = (self.bucket.get(self.url.key(key, name)) for name in ("cout.txt",
                                                                            "info.json"))
        run.cout = cout.decode("utf-8") if cout is not None else None
        run.info = info.decode("utf-8") if info is not None else None
        stored = self.bucket.get(self.url.key(key, "metrics.json"))
        for name, metric in (json.loads(stored) if stored else {}).items():
            text = run.metrics[name] = MetricText()
            run.metrics_bytes += text.add(
                metric["steps"], list(map(datetime.fromisoformat, metric["timestamps"])),
                metric["values"])
        run.metrics_uploaded = stored is not None
        entry.update(status="RUNNING", heartbeat=resume_time.isoformat())
        self._runs[run_id] = run
        self._history.add("pytest_sacred_resumed_event", run_id, host_info=host_info,
                          resume_time=resume_time, from_status=from_status,
                          meta_info=meta_info)
        self._save(run)


def _content_type(filename: str) -> str:
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"
