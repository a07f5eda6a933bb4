"""Sacred's FileStorageObserver layout, written cheaply.

``DIR/<id>/{run.json, config.json, metrics.json, info.json, cout.txt, <artifacts>}`` plus
content-addressed copies in ``DIR/_sources`` and ``DIR/_resources``. Ids are claimed with
an atomic ``mkdir``, so several processes can share one directory.

Unlike Sacred, metrics are never re-read or re-encoded: each heartbeat encodes only the new
points and keeps them as JSON text, and ``metrics.json`` is written from those pieces.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..hashing import md5_of
from ..serialize import dumps
from .base import Observer, StoreError, queued

#: metrics.json is rewritten at every heartbeat up to this size; past it, heartbeats append
#: the new points to metrics.journal.jsonl and metrics.json is written once at the end,
#: so a beat costs what it delivers, not what the run logged before
LIVE_METRICS_BYTES = 4 * 1024 * 1024
JOURNAL = "metrics.journal.jsonl"
#: artifact names Sacred refuses because they would overwrite the run's own files
RESERVED_NAMES = frozenset({"run.json", "config.json", "cout.txt", "metrics.json"})
_MAX_CLAIM_ATTEMPTS = 1000


class _RewrittenFile:
    """A file rewritten whole many times: kept open, overwritten in place.

    Creating a file costs a few hundred microseconds on common filesystems, rewriting an
    open one about one; a run's ``run.json`` is written at every event.
    """

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self._size = 0

    def write(self, *pieces: str) -> None:
        """Replace the content; pieces are written one by one, never joined in memory."""
        size = 0
        for piece in pieces:
            data = piece.encode("utf-8")
            os.pwrite(self._fd, data, size)
            size += len(data)
        if size < self._size:
            os.ftruncate(self._fd, size)
        self._size = size

    def append(self, text: str) -> None:
        data = text.encode("utf-8")
        os.pwrite(self._fd, data, self._size)
        self._size += len(data)

    def close(self) -> None:
        os.close(self._fd)


_SCALARS = (str, int, float, bool, type(None))


def _indented(value: Any) -> str:
    """A value as it appears nested one level deep in Sacred's ``indent=2`` JSON."""
    if type(value) in _SCALARS or value == []:  # no line breaks: the C encoder will do
        return json.dumps(value)
    return dumps(value).replace("\n", "\n  ")


def _json_object(members: dict[str, str]) -> str:
    """Sacred's ``json.dump(..., sort_keys=True, indent=2)`` of a dict from encoded members."""
    if not members:
        return "{}"
    return "{\n" + ",\n".join(f"  {json.dumps(k)}: {members[k]}" for k in sorted(members)) + "\n}"


_ELEMENT = ",\n      "  # between list elements three levels deep in indent=2 JSON
_QUOTED_ELEMENT = f'"{_ELEMENT}"'
_CHUNK = 8192


@dataclass
class _MetricText:
    """The JSON text of one metric's points, one piece per heartbeat."""

    steps: list[str] = field(default_factory=list)
    timestamps: list[str] = field(default_factory=list)
    values: list[str] = field(default_factory=list)

    def add(self, steps: list, timestamps: list[datetime], values: list) -> int:
        """Encode one beat's points; returns the number of characters added.

        In slices of ``_CHUNK`` points: each slice's temporary strings are freed before the
        next is made, so a million points reuse a little memory instead of touching a lot.
        """
        added = 0
        for start in range(0, len(steps), _CHUNK):
            end = start + _CHUNK
            pieces = (_ELEMENT.join(map(str, steps[start:end])),
                      '"' + _QUOTED_ELEMENT.join(map(datetime.isoformat,
                                                     timestamps[start:end])) + '"',
                      json.dumps(values[start:end])[1:-1].replace(", ", _ELEMENT))
            for chunks, piece in zip((self.steps, self.timestamps, self.values), pieces):
                chunks.append(piece)
                added += len(piece)
        return added

    def pieces(self, name: str):
        """This metric in Sacred's ``indent=2`` layout, assembled from the stored pieces."""
        yield f"  {json.dumps(name)}: {{\n"
        for i, (key, chunks) in enumerate(
                (("steps", self.steps), ("timestamps", self.timestamps), ("values", self.values))):
            yield (",\n" if i else "") + f'    "{key}": ['
            if not chunks:
                yield "]"
                continue
            yield "\n      "
            for j, chunk in enumerate(chunks):  # no joined copy of a million points
                if j:
                    yield _ELEMENT
                yield chunk
            yield "\n    ]"
        yield "\n  }"


@dataclass
class _RunFiles:
    directory: Path
    #: the fields of run.json that change during the run
    entry: dict[str, Any]
    #: the fields that do not (experiment, host, meta), encoded once
    fixed: dict[str, str]
    cout: str = ""
    metrics: dict[str, _MetricText] = field(default_factory=dict)
    #: encoded size of all points so far; past LIVE_METRICS_BYTES beats only append
    metrics_bytes: int = 0
    #: metrics.json lacks points that are in the journal
    metrics_stale: bool = False
    files: dict[str, _RewrittenFile] = field(default_factory=dict)

    def rewrite(self, name: str, *pieces: str) -> _RewrittenFile:
        file = self.files.get(name)
        if file is None:
            file = self.files[name] = _RewrittenFile(self.directory / name)
        if pieces:
            file.write(*pieces)
        return file

    def save(self) -> None:
        """Write run.json."""
        encoded = {k: _indented(v) for k, v in self.entry.items()}
        self.rewrite("run.json", _json_object({**self.fixed, **encoded}))

    def close(self) -> None:
        for file in self.files.values():
            file.close()


def _resume(directory: Path) -> _RunFiles:
    """A stored run's files as :class:`_RunFiles`, to go on writing it."""
    try:
        stored = json.loads((directory / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot continue run {directory.name}: {directory / 'run.json'} is "
                         f"missing or unreadable ({exc})") from None
    fixed = {key: _indented(stored.pop(key)) for key in ("experiment", "host", "meta")
             if key in stored}
    run = _RunFiles(directory, stored, fixed)
    cout = directory / "cout.txt"
    run.cout = cout.read_text(encoding="utf-8") if cout.exists() else ""
    metrics_file = directory / "metrics.json"
    metrics = json.loads(metrics_file.read_text(encoding="utf-8")) \
        if metrics_file.exists() else {}
    journal = directory / JOURNAL
    if journal.exists():
        for line in journal.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            into = metrics.setdefault(entry["name"], {"steps": [], "timestamps": [],
                                                      "values": []})
            for key in ("steps", "timestamps", "values"):
                into[key] += entry[key]
    for name, metric in metrics.items():
        text = run.metrics[name] = _MetricText()
        run.metrics_bytes += text.add(metric["steps"],
                                      list(map(datetime.fromisoformat, metric["timestamps"])),
                                      metric["values"])
    run.metrics_stale = journal.exists()
    return run


class FileStorageObserver(Observer):
    """Stores runs the way Sacred's ``FileStorageObserver`` does, readable by its tools."""

    priority = 20
    name = "file"
    writes_inline = True

    def __init__(self, basedir: str | os.PathLike, priority: int = 20) -> None:
        self.basedir = Path(basedir)
        self.priority = priority
        self._runs: dict[int, _RunFiles] = {}
        self._claimed: set[int] = set()
        self._next_id: int | None = None
        self._stored: set[Path] = set()
        #: encoded experiment/host entries, by the identity of the dict they came from
        self._encoded: dict[int, tuple[Any, str]] = {}

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

    def location(self, run_id: int | None) -> str:
        return str(self.basedir / str(run_id))

    def has_run(self, run_id: int) -> bool:
        return (self.basedir / str(run_id)).exists()

    def store_spec(self) -> dict[str, Any]:
        return {"kind": "file", "directory": str(self.basedir.absolute())}

    # -- ids -----------------------------------------------------------------------------

    def _highest_id(self) -> int:
        with os.scandir(self.basedir) as entries:
            return max((int(e.name) for e in entries if e.name.isdigit()), default=0)

    def pytest_sacred_allocate_id(self) -> int:
        candidate = self._next_id or self._highest_id() + 1
        for attempt in range(_MAX_CLAIM_ATTEMPTS):
            try:
                (self.basedir / str(candidate)).mkdir()
            except FileExistsError:
                # another process got there first; after a few misses, look again
                candidate = self._highest_id() + 1 if attempt % 10 == 9 else candidate + 1
                continue
            self._claimed.add(candidate)
            self._next_id = candidate + 1
            return candidate
        raise StoreError(f"could not claim a run directory in {self.basedir} after "
                         f"{_MAX_CLAIM_ATTEMPTS} attempts")

    def _run_directory(self, run_id: int | None) -> Path:
        if run_id is None:
            raise StoreError("the run has no id")
        directory = self.basedir / str(run_id)
        if run_id in self._claimed:
            self._claimed.discard(run_id)
            return directory
        try:
            directory.mkdir(parents=True)
        except FileExistsError:
            raise StoreError(
                f"{directory} already holds run {run_id}; choose a free id (--sacred-id) "
                "or another --sacred-file-storage"
            ) from None
        return directory

    # -- content-addressed copies ----------------------------------------------------------

    def _store_copy(self, source: str, md5: str, folder: str) -> Path:
        """Copy ``source`` to ``folder/<stem>_<md5><ext>`` once; returns that path."""
        stem, ext = os.path.splitext(os.path.basename(source))
        target = self.basedir / folder / f"{stem}_{md5}{ext}"
        if target not in self._stored:
            if not target.exists():
                target.parent.mkdir(exist_ok=True)
                tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
                shutil.copyfile(source, tmp)
                os.replace(tmp, target)
            self._stored.add(target)
        return target

    def _experiment_entry(self, ex_info: dict) -> dict:
        sources = [
            [name, str(self._store_copy(os.path.join(ex_info["base_dir"], name), md5,
                                        "_sources").relative_to(self.basedir))]
            for name, md5 in ex_info.get("sources", [])
        ]
        return {**ex_info, "sources": sources}

    def _encode_once(self, value: dict, make=lambda v: v) -> str:
        """Experiment and host info are the same dicts run after run: encode them once."""
        cached = self._encoded.get(id(value))
        if cached is None or cached[0] is not value:
            cached = self._encoded[id(value)] = (value, _indented(make(value)))
        return cached[1]

    # -- writing ------------------------------------------------------------------------------

    def _begin(self, run_id, ex_info, command, host_info, config, meta_info, status, **times):
        directory = self._run_directory(run_id)
        fixed = {
            "experiment": self._encode_once(ex_info, self._experiment_entry),
            "host": self._encode_once(host_info),
            "meta": _indented(meta_info),
        }
        entry = {
            "command": command,
            **{key: value.isoformat() for key, value in times.items()},
            "status": status,
            "resources": [],
            "artifacts": [],
        }
        if status != "QUEUED":
            entry["heartbeat"] = None
        with open(directory / "config.json", "w", encoding="utf-8") as f:
            f.write(dumps(config))
        run = _RunFiles(directory, entry, fixed)
        run.save()
        return run

    @queued
    def pytest_sacred_queued_event(self, run_id, ex_info, command, host_info, queue_time,
                                   config, meta_info) -> None:
        meta = {**meta_info, "queue_time": queue_time.isoformat()}
        self._begin(run_id, ex_info, command, host_info, config, meta, "QUEUED").close()

    @queued
    def pytest_sacred_started_event(self, run_id, ex_info, command, host_info, start_time,
                                    config, meta_info) -> None:
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
    def pytest_sacred_heartbeat_event(self, run_id, info, captured_out, beat_time, result) -> None:
        run = self._run(run_id)
        run.entry["heartbeat"] = beat_time.isoformat()
        run.entry["result"] = result
        self._save_cout(run, captured_out)
        run.save()
        if info:
            run.rewrite("info.json", dumps(info))

    def _save_cout(self, run: _RunFiles, captured_out: str) -> None:
        cout = run.files.get("cout.txt")
        if cout is not None and captured_out.startswith(run.cout):
            cout.append(captured_out[len(run.cout):])  # Sacred appends what is new
        else:  # first beat, or earlier text changed (stderr arrived, a \r folded a line)
            run.rewrite("cout.txt", captured_out)
        run.cout = captured_out

    @queued
    def pytest_sacred_log_metrics(self, run_id, metrics_by_name) -> None:
        run = self._run(run_id)
        for name, metric in metrics_by_name.items():
            text = run.metrics.get(name)
            if text is None:
                text = run.metrics[name] = _MetricText()
            run.metrics_bytes += text.add(metric["steps"], metric["timestamps"], metric["values"])
        if "metrics.json" not in run.files or (
                metrics_by_name and run.metrics_bytes <= LIVE_METRICS_BYTES):
            self._save_metrics(run)  # Sacred's layout has metrics.json from the first beat
        elif metrics_by_name:
            self._append_journal(run, metrics_by_name)

    def _save_metrics(self, run: _RunFiles) -> None:
        if not run.metrics:
            run.rewrite("metrics.json", "{}")
            return

        def pieces():
            yield "{\n"
            for i, name in enumerate(sorted(run.metrics)):
                if i:
                    yield ",\n"
                yield from run.metrics[name].pieces(name)
            yield "\n}"

        run.rewrite("metrics.json", *pieces())
        run.metrics_stale = False

    def _append_journal(self, run: _RunFiles, metrics_by_name: dict) -> None:
        """New points only, one JSON line per metric: what a crash would otherwise lose."""
        journal = run.rewrite(JOURNAL)
        for name, metric in metrics_by_name.items():
            journal.append(json.dumps({
                "name": name, "steps": metric["steps"], "values": metric["values"],
                "timestamps": list(map(datetime.isoformat, metric["timestamps"]))}) + "\n")
        run.metrics_stale = True

    def _finish(self, run_id, stop_time: datetime, status: str, **fields) -> None:
        run = self._run(run_id)
        del self._runs[run_id]
        if run.metrics_stale:  # written once, now that no more points come
            self._save_metrics(run)
            (run.directory / JOURNAL).unlink()
        run.entry.update(stop_time=stop_time.isoformat(), status=status, **fields)
        run.save()
        run.close()

    @queued
    def pytest_sacred_completed_event(self, run_id, stop_time, result) -> None:
        self._finish(run_id, stop_time, "COMPLETED", result=result)

    @queued
    def pytest_sacred_failed_event(self, run_id, fail_time, fail_trace) -> None:
        self._finish(run_id, fail_time, "FAILED", fail_trace=fail_trace)

    @queued
    def pytest_sacred_interrupted_event(self, run_id, interrupt_time, status) -> None:
        self._finish(run_id, interrupt_time, status)

    @queued
    def pytest_sacred_artifact_event(self, run_id, name, filename) -> None:
        if name in RESERVED_NAMES:
            raise StoreError(f"artifact name {name!r} would overwrite the run's own file; "
                             "give it another name")
        run = self._run(run_id)
        target = run.directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(filename, target)
        run.entry["artifacts"].append(name)
        run.save()

    @queued
    def pytest_sacred_resource_event(self, run_id, filename) -> None:
        run = self._run(run_id)
        stored = self._store_copy(filename, md5_of(filename), "_resources")
        run.entry["resources"].append([filename, str(stored)])
        run.save()
