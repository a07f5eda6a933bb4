"""Sacred's FileStorageObserver layout, written cheaply.

``DIR/<id>/{run.json, config.json, metrics.json, info.json, cout.txt, <artifacts>}`` plus
content-addressed copies in ``DIR/_sources`` and ``DIR/_resources``. Ids are claimed with
an atomic ``mkdir``, so several processes can share one directory.

Unlike Sacred, metrics are never re-read or re-encoded: each heartbeat encodes only the new
points and keeps them as JSON text, and ``metrics.json`` is written from those pieces. Past
``LIVE_METRICS_BYTES`` the pieces go to the journal (:mod:`pytest_sacred.journal`) instead
of memory, and the end of the run copies them from there into ``metrics.json``.

Unlike Sacred, a killed process never leaves a file half-written: ``run.json``,
``config.json``, ``metrics.json``, ``info.json`` and artifacts are replaced whole
(:mod:`..atomic_file`), and a write that fails (a full disk) raises a
:class:`~..base.StoreWriteError` naming the file, leaving what was written before intact.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ...clock import utcnow
from ...hashing import md5_of
from ...journal import JOURNAL, add_journal, journal_record
from ...names import WORKING_PREFIX, artifact_name
from ...payloads import ExperimentInfo, HostInfo, MetaInfo, MetricSeries
from ...serialize import dumps
from ..atomic_file import FileRange, ReplacedFile, Spare, copy_new, write_error, write_new
from ..base import (
    Observer,
    RunExists,
    StoreError,
    earlier_trace,
    queued,
    resumable,
    resumed,
)
from .layout import (
    SESSION_META,
    EncodedOnce,
    IdClaims,
    MetricText,
    encode_points,
    indented,
    initial_entry,
    metrics_json,
    run_json,
    stored_copy_name,
)

#: metrics.json is rewritten at every heartbeat up to this size; past it, heartbeats append
#: the new points' text to the journal and metrics.json is written once at the end, so a
#: beat costs what it delivers, not what the run logged before, and memory holds no text
LIVE_METRICS_BYTES = 4 * 1024 * 1024


@dataclass
class _RunFiles:
    directory: Path
    #: the fields of run.json that change during the run
    entry: dict[str, Any]
    #: the fields that do not (experiment, host, meta), encoded once
    fixed: dict[str, str]
    cout: str = ""
    metrics: dict[str, MetricText] = field(default_factory=dict)
    #: encoded size of the points held in memory; past LIVE_METRICS_BYTES the journal
    metrics_bytes: int = 0
    #: the journal, once the points outgrew memory (metrics.json then lacks its points)
    journal: ReplacedFile | None = None
    files: dict[str, ReplacedFile] = field(default_factory=dict)
    #: the directory's path and a separator: the files' paths by concatenation (a run
    #: opens half a dozen, and ``Path``'s ``/`` costs a parse each)
    prefix: str = ""

    def __post_init__(self) -> None:
        self.prefix = os.path.join(self.directory, "")

    def rewrite(self, name: str, *pieces: str | FileRange) -> ReplacedFile:
        file = self.files.get(name)
        if file is None:
            file = self.files[name] = ReplacedFile(self.prefix + name)
        if pieces:
            file.write(*pieces)
        return file

    def save(self) -> None:
        """Write run.json."""
        self.rewrite("run.json", run_json(self.fixed, self.entry))

    def close(self) -> None:
        for file in self.files.values():
            file.close()


def _resume(directory: Path) -> _RunFiles:
    """A stored run's files as :class:`_RunFiles`, to go on writing it (its later events
    replayed from a spill file)."""
    try:
        stored = json.loads((directory / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot continue run {directory.name}: {directory / 'run.json'} is "
                         f"missing or unreadable ({exc})") from None
    fixed = {key: indented(stored.pop(key)) for key in ("experiment", "host", "meta")
             if key in stored}
    run = _RunFiles(directory, stored, fixed)
    cout = directory / "cout.txt"
    run.cout = cout.read_text(encoding="utf-8") if cout.exists() else ""
    metrics = read_metrics(directory) if (directory / "metrics.json").exists() else {}
    for name, metric in metrics.items():
        text = run.metrics[name] = MetricText()
        run.metrics_bytes += text.add(metric["steps"],
                                      list(map(datetime.fromisoformat, metric["timestamps"])),
                                      metric["values"])
    if (directory / JOURNAL).exists():  # all its points are in memory now: one metrics.json
        run.rewrite("metrics.json", *metrics_json(run.metrics))
        os.unlink(directory / JOURNAL)
    return run


class FileStorageObserver(Observer):
    """Stores runs the way Sacred's ``FileStorageObserver`` does, readable by its tools."""

    priority = 20
    name = "file"
    writes_inline = True

    def __init__(self, basedir: str | os.PathLike[str], priority: int = 20) -> None:
        self.basedir = Path(basedir)
        self.priority = priority
        self._runs: dict[int, _RunFiles] = {}
        self._ids = IdClaims(f"run directory in {self.basedir}")
        self._stored: set[Path] = set()
        self._encode_once = EncodedOnce()
        #: the working file of the last ended run's ``run.json``, open, for the next run's
        #: first ``run.json``: a moved file instead of a new one (and none removed) per run
        self._spare: Spare | None = None

    # -- session -------------------------------------------------------------------------

    def open(self) -> None:
        if self.basedir.exists() and not self.basedir.is_dir():
            raise StoreError(
                f"file store {str(self.basedir)!r} is a file, not a directory; "
                "pass a directory to --sacred-file-storage"
            )
        try:
            self.basedir.mkdir(parents=True, exist_ok=True)
            probe = self.basedir / f".write-probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise StoreError(
                f"file store {str(self.basedir)!r} is not writable ({exc.strerror or exc}); "
                "pass a writable directory to --sacred-file-storage or use --sacred-unobserved"
            ) from exc

    def close(self) -> None:
        if self._spare is not None:
            spare, self._spare = self._spare, None
            spare.discard()

    def location(self, run_id: int | None) -> str:
        return str(self.basedir / str(run_id))

    def has_run(self, run_id: int) -> bool:
        return (self.basedir / str(run_id)).exists()

    def store_spec(self) -> dict[str, Any]:
        return {"kind": "file", "directory": str(self.basedir.absolute())}

    def reader_store(self) -> str:
        return str(self.basedir)

    # -- ids -----------------------------------------------------------------------------

    def _highest_id(self) -> int:
        with os.scandir(self.basedir) as entries:
            return max((int(e.name) for e in entries if e.name.isdigit()), default=0)

    def _mkdir(self, run_id: int) -> bool:
        try:
            os.mkdir(os.path.join(self.basedir, str(run_id)))
        except FileExistsError:
            return False  # another process got there first
        except OSError as exc:
            raise write_error(self.basedir / str(run_id), exc, "create") from None
        return True

    def pytest_sacred_allocate_id(self) -> int:
        return self._ids.claim(self._mkdir, self._highest_id)

    def _run_directory(self, run_id: int | None) -> Path:
        if run_id is None:
            raise StoreError("the run has no id")
        directory = self.basedir / str(run_id)
        if self._ids.take(run_id):
            return directory
        try:
            directory.mkdir(parents=True)
        except FileExistsError:
            raise RunExists(
                f"{directory} already holds run {run_id}; choose a free id (--sacred-id) "
                "or another --sacred-file-storage"
            ) from None
        except OSError as exc:
            raise write_error(directory, exc, "create") from None
        return directory

    # -- content-addressed copies ----------------------------------------------------------

    def _store_copy(self, source: str, md5: str, folder: str) -> Path:
        """Copy ``source`` to ``folder/<stem>_<md5><ext>`` once; returns that path."""
        target = self.basedir / folder / stored_copy_name(source, md5)
        if target not in self._stored:
            if not target.exists():
                _make_folder(target.parent)
                copy_new(source, target)
            self._stored.add(target)
        return target

    def _experiment_entry(self, ex_info: ExperimentInfo) -> dict[str, Any]:
        sources = [
            [name, str(self._store_copy(os.path.join(ex_info["base_dir"], name), md5,
                                        "_sources").relative_to(self.basedir))]
            for name, md5 in ex_info.get("sources", [])
        ]
        return {**ex_info, "sources": sources}

    # -- writing ------------------------------------------------------------------------------

    def _begin(self, run_id: int | None, ex_info: ExperimentInfo, command: str,
               host_info: HostInfo, config: dict[str, Any], meta_info: Mapping[str, Any],
               status: str, **times: datetime) -> _RunFiles:
        directory = self._run_directory(run_id)
        fixed = {
            "experiment": self._encode_once(ex_info, self._experiment_entry),
            "host": self._encode_once(host_info),
            "meta": self._encode_once.members(meta_info, SESSION_META),
        }
        entry = initial_entry(command, status, times)
        run = _RunFiles(directory, entry, fixed)
        write_new(run.prefix + "config.json", dumps(config))  # before run.json: readers
                                                              # take a run.json for a run
        if self._spare is not None:
            spare, self._spare = self._spare, None
            run.rewrite("run.json").adopt_spare(spare)
        try:
            run.save()
            run.rewrite("info.json", "{}")  # Incense's reader needs it, even empty
        except StoreError:
            run.close()  # the run gets no more events from this store: no open files
            raise
        return run

    @queued
    def pytest_sacred_queued_event(self, run_id: int | None, ex_info: ExperimentInfo,
                                   command: str, host_info: HostInfo, queue_time: datetime,
                                   config: dict[str, Any], meta_info: MetaInfo) -> None:
        meta = {**meta_info, "queue_time": queue_time.isoformat()}
        self._begin(run_id, ex_info, command, host_info, config, meta, "QUEUED").close()

    @queued
    def pytest_sacred_started_event(self, run_id: int, ex_info: ExperimentInfo,
                                    command: str, host_info: HostInfo, start_time: datetime,
                                    config: dict[str, Any], meta_info: MetaInfo) -> None:
        self._runs[run_id] = self._begin(run_id, ex_info, command, host_info, config,
                                         meta_info, "RUNNING", start_time=start_time)

    def _run(self, run_id: int) -> _RunFiles:
        """The open run; one this process did not start (its later events replayed from a
        spill file) is read back from its directory first."""
        run = self._runs.get(run_id)
        if run is None:
            run = self._runs[run_id] = _resume(self.basedir / str(run_id))
        return run

    @queued
    def pytest_sacred_heartbeat_event(self, run_id: int, info: dict[str, Any],
                                      captured_out: str, beat_time: datetime,
                                      result: Any) -> None:
        run = self._run(run_id)
        run.entry["heartbeat"] = beat_time.isoformat()
        run.entry["result"] = result
        self._save_cout(run, captured_out)
        run.save()
        if info:
            run.rewrite("info.json", dumps(info))

    def _save_cout(self, run: _RunFiles, captured_out: str) -> None:
        cout = run.files.get("cout.txt")
        if cout is None:  # first beat
            cout = ReplacedFile(run.prefix + "cout.txt")
            cout.create(captured_out)
            run.files["cout.txt"] = cout
        elif captured_out.startswith(run.cout):
            cout.append(captured_out[len(run.cout):])  # Sacred appends what is new
        else:  # earlier text changed (stderr arrived, a \r folded a line): replaced whole
            cout.write(captured_out)
        run.cout = captured_out

    @queued
    def pytest_sacred_log_metrics(self, run_id: int,
                                  metrics_by_name: dict[str, MetricSeries]) -> None:
        run = self._run(run_id)
        for name, metric in metrics_by_name.items():
            text = run.metrics.get(name)
            if text is None:
                text = run.metrics[name] = MetricText()
            for count, chunk in encode_points(metric["steps"], metric["timestamps"],
                                              metric["values"]):
                size = sum(map(len, chunk))
                if run.journal is None and run.metrics_bytes + size > LIVE_METRICS_BYTES:
                    self._save_metrics(run)  # all before the journal's first record
                    run.journal = run.files[JOURNAL] = ReplacedFile(run.directory / JOURNAL)
                    run.journal.create("")
                if run.journal is None:
                    text.chunks.append(chunk)
                    run.metrics_bytes += size
                else:
                    self._append_journal(run.journal, text, name, count, chunk)
                text.count += count
        if run.journal is None or "metrics.json" not in run.files:
            self._save_metrics(run)  # Sacred's layout has metrics.json from the first beat

    def _save_metrics(self, run: _RunFiles) -> None:
        journal = run.journal.fileno() if run.journal is not None else None
        run.rewrite("metrics.json", *metrics_json(run.metrics, journal))

    @staticmethod
    def _append_journal(journal: ReplacedFile, text: MetricText, name: str, count: int,
                        chunk: tuple[str, str, str]) -> None:
        """One chunk's text, written once; ``text`` keeps where it is."""
        record, offset = journal_record(name, text.count, count, chunk)
        at = journal.size + offset
        journal.append(record)
        steps, stamps, values = map(len, chunk)
        text.ranges.append((at, steps, stamps, values))

    def _finish(self, run_id: int, stop_time: datetime, status: str, **fields: Any) -> None:
        """The last writes of a run: each is tried even when an earlier one failed."""
        run = self._run(run_id)
        del self._runs[run_id]
        failures: list[StoreError] = []
        try:
            if run.journal is not None:  # written once, now that no more points come
                try:
                    self._save_metrics(run)
                    os.unlink(run.directory / JOURNAL)  # only once metrics.json holds it all
                except StoreError as exc:
                    failures.append(exc)
            run.entry.update(stop_time=stop_time.isoformat(), status=status, **fields)
            try:
                run.save()
            except StoreError as exc:
                failures.append(exc)
        finally:
            run_file = run.files.pop("run.json", None)
            if run_file is not None:
                spare = run_file.detach_spare()
                if spare is not None and not failures and self._spare is None:
                    self._spare = spare  # the next run's first run.json
                elif spare is not None:
                    spare.discard()
            run.close()
        if failures:
            raise failures[0]


    @queued
    def pytest_sacred_completed_event(self, run_id: int, stop_time: datetime,
                                      result: Any) -> None:
        self._finish(run_id, stop_time, "COMPLETED", result=result)

    @queued
    def pytest_sacred_failed_event(self, run_id: int, fail_time: datetime,
                                   fail_trace: list[str]) -> None:
        self._finish(run_id, fail_time, "FAILED", fail_trace=fail_trace)

    @queued
    def pytest_sacred_interrupted_event(self, run_id: int, interrupt_time: datetime,
                                        status: str) -> None:
        self._finish(run_id, interrupt_time, status)

    def end_abandoned(self, run_id: int, status: str, reason: str) -> None:
        """End a run its own process could not end (a killed Slurm task): a RUNNING
        ``run.json`` gets ``status`` and the reason goes to ``info.ended_by``; a run that
        ended is left as it is (it says itself what ended it)."""
        directory = self.basedir / str(run_id)
        run_file = directory / "run.json"
        entry = json.loads(run_file.read_text(encoding="utf-8"))
        if entry.get("status") != "RUNNING":
            return
        entry.update(status=status, stop_time=utcnow().isoformat())
        if status == "FAILED":
            entry["fail_trace"] = [reason + "\n"]
        write_new(run_file, dumps(entry))
        info_file = directory / "info.json"
        info = json.loads(info_file.read_text(encoding="utf-8")) if info_file.is_file() else {}
        write_new(info_file, dumps({**info, "ended_by": reason}))

    @queued
    def pytest_sacred_artifact_event(self, run_id: int, name: str, filename: str) -> None:
        name = artifact_name(name)  # inside the run directory, not one of its own files
        run = self._run(run_id)
        target = run.directory / name
        _make_folder(target.parent)
        copy_new(filename, target)
        if name not in run.entry["artifacts"]:
            run.entry["artifacts"].append(name)
        run.save()

    @queued
    def pytest_sacred_resource_event(self, run_id: int, filename: str) -> None:
        run = self._run(run_id)
        stored = self._store_copy(filename, md5_of(filename), "_resources")
        run.entry["resources"].append([filename, str(stored)])
        run.save()

    # -- resume (--sacred-resume) -----------------------------------------------------------

    def claim_resume(self, run_id: int, statuses: tuple[str, ...],
                     silent_since: datetime) -> str | None:
        """Take a stored run to resume it: its ``run.json`` RUNNING again with a fresh
        heartbeat, if its status is one of ``statuses`` or RUNNING with no sign of life
        since ``silent_since``. Returns the status it had, or ``None`` when it is not
        resumable (another session took it first). The read and the write happen under a
        lock file in the run's directory, so of two sessions one wins."""
        directory = self.basedir / str(run_id)
        run_file = directory / "run.json"
        if not run_file.is_file():
            raise StoreError(f"{directory} holds no run {run_id} (no run.json)")
        with _claim_lock(directory / CLAIM_LOCK):
            entry = json.loads(run_file.read_text(encoding="utf-8"))
            status = resumable(entry, statuses, silent_since, datetime.fromisoformat)
            if status is None:
                return None
            entry.update(status="RUNNING", heartbeat=utcnow().isoformat())
            write_new(run_file, dumps(entry))
        return status

    @queued
    def pytest_sacred_resumed_event(self, run_id: int, host_info: HostInfo,
                                    resume_time: datetime, from_status: str,
                                    meta_info: MetaInfo) -> None:
        """The claimed run goes on: RUNNING, one more ``meta.resumed`` entry (holding the
        earlier attempt's fail_trace, no longer a key of ``run.json``); its files are read
        back and kept (later beats append to them)."""
        run = self._runs.get(run_id) or _resume(self.basedir / str(run_id))
        self._runs[run_id] = run
        meta = json.loads(run.fixed.get("meta", "{}"))
        meta["resumed"] = resumed(meta.get("resumed"), resume_time.isoformat(), host_info,
                                  from_status, fail_trace=earlier_trace(meta_info))
        run.fixed["meta"] = indented(meta)
        run.entry.pop("fail_trace", None)  # Sacred's run.json has none unless the run failed
        run.entry.update(status="RUNNING", heartbeat=resume_time.isoformat())
        run.save()


#: the lock file of a run's claim by a resuming session (a working-file name: never an
#: artifact, never read by Sacred's tools)
CLAIM_LOCK = WORKING_PREFIX + "claim.lock"


@contextlib.contextmanager
def _claim_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` for one claim (released when the process dies)."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; the claim is then not atomic across processes
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _make_folder(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(path, exc, "create") from None


def read_metrics(run_directory: str | os.PathLike[str]) -> dict[str, Any]:
    """A run's metrics as ``metrics.json`` holds them, with the journal's points added."""
    directory = Path(run_directory)
    metrics = json.loads((directory / "metrics.json").read_text(encoding="utf-8"))
    try:
        text = (directory / JOURNAL).read_text(encoding="utf-8")
    except FileNotFoundError:
        return metrics  # type: ignore[no-any-return]
    return add_journal(metrics, text)
