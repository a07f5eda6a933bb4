"""Spill files: the events a store could not take, kept to be written into it later.

``runs/_spill/<store>-<time>-<pid>.jsonl`` (beside the default file store). The first
line says which store the events were for (its ``store_spec``, no password); every further
line is one event: ``{"hook", "kwargs", "reason", "files"}``, the arguments through the
project's serializer (datetimes and other non-JSON values survive as jsonpickle tags) and
the content of the files an artifact or resource event names, base64-encoded, since the
original files may be gone by the time the spill is replayed.

:func:`replay` writes a spill file into its store (or another one) through the store's
own observer, in the order of the file: a run whose first event is in the spill keeps its
id unless the store holds that id for another run (its own placeholder, or the same run
written before, is filled instead), and gets a new one then.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .serialize import restore, to_json

FORMAT = "pytest-sacred-spill/1"
_FILE_ARGS = {"pytest_sacred_artifact_event": "filename",
              "pytest_sacred_resource_event": "filename"}
_FIRST = ("pytest_sacred_started_event", "pytest_sacred_queued_event")


class SpillWriter:
    """Appends one observer's unwritten events to its spill file, created on first use."""

    def __init__(self, directory: Path, store: str, spec: dict[str, Any] | None) -> None:
        self.directory = directory
        self.store = store
        self.spec = spec
        self.path: Path | None = None
        self._file: Any = None
        self._lock = threading.Lock()

    def write(self, hook: str, kwargs: dict[str, Any], reason: str) -> str:
        """Append one event (flushed at once: a later crash keeps it); returns the path."""
        line = json.dumps(encode_event(hook, kwargs, reason))
        with self._lock:
            if self._file is None:
                self.directory.mkdir(parents=True, exist_ok=True)
                stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
                self.path = self.directory / f"{self.store}-{stamp}-{os.getpid()}.jsonl"
                self._file = open(self.path, "a", encoding="utf-8")
                self._file.write(json.dumps({"format": FORMAT, "store": self.spec,
                                             "observer": self.store}) + "\n")
            self._file.write(line + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())
        return str(self.path)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                try:
                    self._file.close()
                except OSError:  # the unflushed text is of writes that raised, each of them
                    pass         # reported as a lost event: closing must not end the session
                self._file = None


def encode_event(hook: str, kwargs: dict[str, Any], reason: str) -> dict[str, Any]:
    files = {}
    name = _FILE_ARGS.get(hook)
    if name and kwargs.get(name):
        with open(kwargs[name], "rb") as f:
            files[name] = base64.b64encode(f.read()).decode("ascii")
    return {"hook": hook, "kwargs": to_json(kwargs, "event"), "reason": reason, "files": files}


def read_spill(path: str | os.PathLike[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The header and the events of a spill file; raises ``ValueError`` naming the line."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    if not lines:
        raise ValueError(f"{path} is empty: not a pytest-sacred spill file")
    try:
        header = json.loads(lines[0])
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: line 1 is not JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{path} is not a pytest-sacred spill file (its first line should "
                         f"name the format {FORMAT!r})")
    events = []
    for number, line in enumerate(lines[1:], start=2):
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError as exc:  # a process killed mid-line: the rest is whole
            if number == len(lines):
                break
            raise ValueError(f"{path}: line {number} is not JSON ({exc})") from None
    return header, events


def open_store(spec: dict[str, Any] | None, store: str | None = None) -> Any:
    """The observer that writes into ``store`` (any store name the registry of store
    kinds knows), or else into the store the spill file names, opened."""
    from .stores import registry

    if store is not None:
        observer: Any = registry.kind_of(store, writing=True).open_writer(store)
    else:
        observer = registry.reopen(spec)
    observer.open()
    return observer


@dataclass
class ReplaySummary:
    """What :func:`replay` did."""

    store: str
    events: int = 0
    runs: list[int] = field(default_factory=list)
    #: runs stored under another id than the one they had (it was taken)
    renamed: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def describe(self) -> str:
        lines = [f"replayed {self.events} events of {len(self.runs)} runs into {self.store}"]
        lines += [f"run {old} is stored as run {new} (id {old} was taken)"
                  for old, new in self.renamed.items()]
        lines += [f"ERROR: {e}" for e in self.errors]
        return "\n".join(lines)


def replay(path: str | os.PathLike[str], store: str | None = None) -> ReplaySummary:
    """Write the events of spill file ``path`` into ``store`` (default: the one it names).

    Events are delivered in order to the store's observer. A failing event is reported in
    the summary and the replay goes on; a run whose first event failed gets no more.
    """
    header, events = read_spill(path)
    observer = open_store(header.get("store"), store)
    summary = ReplaySummary(store if store is not None else observer.location(None).rsplit(
        "/", 1)[0])
    ids: dict[Any, Any] = {}
    failed: set[Any] = set()
    try:
        with tempfile.TemporaryDirectory(prefix="pytest-sacred-replay-") as tmp:
            for number, event in enumerate(events, start=1):
                _replay_one(observer, event, number, Path(tmp), ids, failed, summary)
    finally:
        observer.close()
    return summary


def _replay_one(observer: Any, event: dict[str, Any], number: int, tmp: Path,
                ids: dict[Any, Any], failed: set[Any], summary: ReplaySummary) -> None:
    hook = event["hook"]
    kwargs = restore(event["kwargs"])
    old = kwargs.get("run_id")
    if old in failed:
        return
    for name, data in (event.get("files") or {}).items():
        original = Path(kwargs[name])
        target = tmp / str(number) / original.name
        target.parent.mkdir(parents=True)
        target.write_bytes(base64.b64decode(data))
        kwargs[name] = str(target)
    try:
        if hook in _FIRST and old not in ids:
            _replay_first(observer, hook, kwargs, ids, summary)
        else:
            if old not in ids:
                ids[old] = old
                summary.runs.append(old)
            kwargs["run_id"] = ids[old]
            _call(getattr(observer, hook), kwargs)
        summary.events += 1
    except Exception as exc:
        summary.errors.append(f"event {number} ({hook}, run {old}): {type(exc).__name__}: {exc}")
        if hook in _FIRST:
            failed.add(old)


def _replay_first(observer: Any, hook: str, kwargs: dict[str, Any], ids: dict[Any, Any],
                  summary: ReplaySummary) -> None:
    """Write a run's first event under its own id; a new id only when the store holds
    that id for another run.

    The store may hold the id for this very run: the placeholder its session claimed
    before the store went away, or this event written before its answer was lost (or by
    an earlier replay). The observer's write recognises these as the same run and fills
    it; only a :class:`RunExists` refusal means another run has the id. Asking
    ``has_run`` first instead renamed such runs, which then were stored twice.
    """
    from .stores.base import RunExists

    old = kwargs.get("run_id")
    method = getattr(observer, hook)
    new: Any = old
    try:
        if old is None:
            raise RunExists("the run has no id")
        _call(method, kwargs)
    except RunExists:
        new = kwargs["run_id"] = _call(observer.pytest_sacred_allocate_id, kwargs)
        _call(method, kwargs)
        if old is not None:
            summary.renamed[old] = new
    ids[old] = new
    summary.runs.append(new)


def _call(method: Any, kwargs: dict[str, Any]) -> Any:
    """Call a hook method with the arguments it takes, as pluggy would."""
    code = getattr(method, "__wrapped__", method).__code__
    names = code.co_varnames[:code.co_argcount]
    return method(**{k: v for k, v in kwargs.items() if k in names})


#: exit codes of ``pytest-sacred replay`` (those of the ``pytest-sacred`` command where
#: they mean the same)
OK, USAGE, UNREADABLE, NOT_ALL_WRITTEN = 0, 2, 3, 5


def arguments(parser: Any) -> None:
    """The ``replay`` subcommand's arguments (an ``argparse`` parser)."""
    parser.add_argument("spill", help="a runs/_spill/*.jsonl file")
    parser.add_argument("--store", help="write into this store instead of the one the file "
                                        "names (e.g. where it moved, or its URL with the "
                                        "password the file leaves out): a directory, a "
                                        "mongodb:// URL or HOST:PORT:DB, an SQLAlchemy URL, "
                                        "s3:// or gs://")


def run(args: Any) -> int:
    """``pytest-sacred replay SPILL [--store STORE]``: 0 when every event was written, 5
    when some were not (each is named), 2 for a file that is no spill file, 3 for a store
    that cannot be opened."""
    from .stores.base import StoreError

    try:
        summary = replay(args.spill, args.store)
    except StoreError as exc:
        print(f"pytest-sacred replay: cannot open the store: {exc}", file=sys.stderr)
        return UNREADABLE
    except (OSError, ValueError) as exc:
        print(f"pytest-sacred replay: error: {exc}", file=sys.stderr)
        return USAGE
    print(summary.describe())
    return NOT_ALL_WRITTEN if summary.errors else OK
