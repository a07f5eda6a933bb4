"""The text of Sacred's FileStorage files, for every store that writes that layout.

The file store and the object stores (S3, GCS) write the same ``run.json``,
``config.json``, ``metrics.json`` and ``info.json``; this module makes their text, byte for
byte what Sacred's ``json.dump(flatten(obj), sort_keys=True, indent=2)`` gives, without
re-encoding what does not change (the experiment and host entries, old metric points).
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from json.encoder import encode_basestring_ascii as encode_text
from typing import Any, cast

from ...payloads import MetricSeries
from ...serialize import PLAIN_SCALAR_TYPES, dumps, is_plain
from ...timestamps import Timestamps
from ..atomic_file import FileRange
from ..base import StoreError, queued

#: the text of the values a ``run.json`` entry most often holds, without json's encoder
#: (which for anything but a string builds a new C encoder on each call)
_CONSTANT_TEXT: dict[bool | None, str] = {None: "null", True: "true", False: "false"}


def indented(value: Any) -> str:
    """A value as it appears nested one level deep in Sacred's ``indent=2`` JSON."""
    kind = type(value)
    if kind is str:
        return encode_text(value)
    if value is None or kind is bool:
        return _CONSTANT_TEXT[value]
    if kind is int:
        return int.__repr__(value)
    if kind is list and not value:  # a run's resources and artifacts, mostly
        return "[]"
    if kind in PLAIN_SCALAR_TYPES:  # one line
        return json.dumps(value)
    return dumps(value).replace("\n", "\n  ")


@functools.lru_cache(maxsize=1024)
def _key(name: str) -> str:
    """A member's name as JSON: the same dozen names in every ``run.json`` write."""
    return json.dumps(name)


def json_object(members: dict[str, str]) -> str:
    """Sacred's ``json.dump(..., sort_keys=True, indent=2)`` of a dict from encoded members."""
    if not members:
        return "{}"
    return "{\n" + ",\n".join(f"  {_key(k)}: {members[k]}" for k in sorted(members)) + "\n}"


#: ids tried before a store gives up claiming one
MAX_CLAIM_ATTEMPTS = 1000
#: the members of a run's ``meta`` that are the same object in every run of a session
SESSION_META = frozenset({"options"})


class FinalEvents:
    """The three final events of a run, as one ``_finish(run_id, time, status, **fields)``
    (the fields are those ``run.json`` gets)."""

    def _finish(self, run_id: Any, stop_time: datetime, status: str, **fields: Any) -> None:
        raise NotImplementedError

    @queued
    def pytest_sacred_completed_event(self, run_id: int | None, stop_time: datetime,
                                      result: Any) -> None:
        self._finish(run_id, stop_time, "COMPLETED", result=result)

    @queued
    def pytest_sacred_failed_event(self, run_id: int | None, fail_time: datetime,
                                   fail_trace: list[str]) -> None:
        self._finish(run_id, fail_time, "FAILED", fail_trace=fail_trace)

    @queued
    def pytest_sacred_interrupted_event(self, run_id: int | None, interrupt_time: datetime,
                                        status: str) -> None:
        self._finish(run_id, interrupt_time, status)


class IdClaims:
    """The ids a store claimed for runs of this session (``mkdir``, a create-only put).

    Each claim is atomic in the store, so writers in several processes never share an id;
    this keeps where to start next and which claimed ids are still to be started.
    """

    def __init__(self, where: str) -> None:
        self.where = where
        self._next: int | None = None
        self._pending: set[int] = set()

    def claim(self, claim: Callable[[int], bool], highest: Callable[[], int]) -> int:
        """The first id from the last one + 1 (or ``highest() + 1``) that ``claim`` takes.
        Each miss means another writer took it: try the next, and after ten misses in a
        row look for the highest id again. :class:`StoreError` after
        ``MAX_CLAIM_ATTEMPTS`` misses."""
        candidate = self._next or highest() + 1
        for attempt in range(MAX_CLAIM_ATTEMPTS):
            if claim(candidate):
                self._pending.add(candidate)
                self._next = candidate + 1
                return candidate
            candidate = highest() + 1 if attempt % 10 == 9 else candidate + 1
        raise StoreError(f"could not claim a run id in {self.where} after "
                         f"{MAX_CLAIM_ATTEMPTS} attempts")

    def provisional(self) -> int | None:
        """The id after this session's last claim, without claiming it (the store does not
        answer); ``None`` before the first claim."""
        if self._next is None:
            return None
        run_id, self._next = self._next, self._next + 1
        return run_id

    def take(self, run_id: int) -> bool:
        """True once for an id this session claimed (its run is now starting)."""
        if run_id in self._pending:
            self._pending.discard(run_id)
            return True
        return False


class EncodedOnce:
    """Experiment and host info are the same dicts run after run: each is encoded once
    (keyed by identity, and kept alive so the identity cannot be reused)."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[Any, str]] = {}

    def __call__(self, value: Mapping[str, Any],
                 make: Callable[[Any], Any] = lambda v: v) -> str:
        cached = self._cache.get(id(value))
        if cached is None or cached[0] is not value:
            cached = self._cache[id(value)] = (value, indented(make(value)))
        return cached[1]

    def members(self, value: Mapping[str, Any], reused: frozenset[str]) -> str:
        """``indented(value)`` for a dict whose ``reused`` members are the same objects run
        after run (the session's options in ``meta``, 50-odd entries): those are encoded
        once. Byte for byte the same text; a value that is not plain JSON (jsonpickle
        encodes it as a whole) is encoded whole."""
        texts: dict[str, str] = {}
        for key, member in value.items():
            if key in reused:
                cached = self._cache.get(id(member))
                if cached is None or cached[0] is not member:
                    cached = self._cache[id(member)] = (
                        member, indented(member) if is_plain(member) else "")
                text = cached[1]
            else:
                text = indented(member) if is_plain(member) else ""
            if not text or type(key) is not str:
                return indented(value)
            texts[key] = text
        return json_object(texts).replace("\n", "\n  ")


def stored_copy_name(source: str, md5: str) -> str:
    """``<stem>_<md5><ext>``: the name of a source or resource copy in ``_sources/``."""
    stem, ext = os.path.splitext(os.path.basename(source))
    return f"{stem}_{md5}{ext}"


_MD5_TAIL = re.compile(r"_([0-9a-f]{32})\Z")
_MD5 = re.compile(r"[0-9a-f]{32}\Z")


def resource_pair(entry: Any) -> Any:
    """``[filename, md5]`` of a ``run.json`` resource entry, as every reader gives it.

    Sacred's FileStorageObserver (and ours, in a directory or a bucket) stores
    ``[filename, where its copy is]``; the copy's name is :func:`stored_copy_name`, so the
    md5 is read off it, with no need to fetch the copy. An entry that already holds an
    md5 is kept; one whose copy name carries none (not written by Sacred's layout) gets
    ``None`` for it. What is not a pair is returned as it is.
    """
    if not isinstance(entry, (list, tuple)) or len(entry) != 2 or \
            not isinstance(entry[1], str):
        return entry
    filename, copy = entry
    if _MD5.match(copy):
        return [filename, copy]
    name = copy.replace("\\", "/").rpartition("/")[2]
    ext = os.path.splitext(os.path.basename(str(filename)))[1]
    if ext and name.endswith(ext):
        name = name[:-len(ext)]
    found = _MD5_TAIL.search(name)
    return [filename, found.group(1) if found else None]


def initial_entry(command: str, status: str, times: dict[str, datetime]) -> dict[str, Any]:
    """The changing fields of a new run's ``run.json`` (queued runs have no heartbeat)."""
    entry: dict[str, Any] = {
        "command": command,
        **{key: value.isoformat() for key, value in times.items()},
        "status": status,
        "resources": [],
        "artifacts": [],
    }
    if status != "QUEUED":
        entry["heartbeat"] = None
    return entry


def run_json(fixed: dict[str, str], entry: dict[str, Any]) -> str:
    """``run.json`` from the encoded fixed fields and the current changing ones."""
    return json_object({**fixed, **{k: indented(v) for k, v in entry.items()}})


_ELEMENT = ",\n      "  # between list elements three levels deep in indent=2 JSON
_QUOTED_ELEMENT = f'"{_ELEMENT}"'
#: points encoded at a time: the temporary strings of one slice are freed before the next
_CHUNK = 16384
#: a chunk of one metric: the text of its steps, timestamps and values (ASCII only)
Chunk = tuple[str, str, str]


def _values_text(values: Sequence[Any]) -> str:
    text = _ELEMENT.join(map(repr, values))  # what json writes for an int or a float...
    if "n" in text:  # ...except nan and inf ("NaN", "Infinity" there), and numpy scalars
        text = json.dumps(list(values))[1:-1].replace(", ", _ELEMENT)
    return text


def _timestamps_text(timestamps: Sequence[datetime]) -> Callable[[int, int], str]:
    """The text of the times from ``start`` to ``end``: from the microseconds when there
    are (no datetimes made), else from the datetimes."""
    if isinstance(timestamps, Timestamps):
        return lambda start, end: timestamps.iso_text(start, end, _ELEMENT)
    return lambda start, end: '"' + _QUOTED_ELEMENT.join(
        map(datetime.isoformat, timestamps[start:end])) + '"'


def encode_points(steps: Sequence[int], timestamps: Sequence[datetime],
                  values: Sequence[Any]) -> Iterator[tuple[int, Chunk]]:
    """One beat's points of a metric as chunks of text, ``_CHUNK`` points each (with their
    number): the elements of its three lists in Sacred's ``indent=2`` layout, without the
    brackets."""
    stamps = _timestamps_text(timestamps)
    total = len(steps)
    for start in range(0, total, _CHUNK):
        end = min(start + _CHUNK, total)
        yield end - start, (_ELEMENT.join(map(str, steps[start:end])), stamps(start, end),
                            _values_text(values[start:end]))


@dataclass
class MetricText:
    """The JSON text of one metric's points: chunks held in memory, then (once a run's
    metrics outgrow memory) ranges of the file store's journal."""

    chunks: list[Chunk] = field(default_factory=list)
    #: (offset of the steps text, its length, the timestamps', the values') in the journal
    ranges: list[tuple[int, int, int, int]] = field(default_factory=list)
    #: points encoded so far (a journal record's ``start`` is counted from it)
    count: int = 0

    def add(self, steps: list[int], timestamps: Sequence[datetime],
            values: list[float]) -> int:
        """Encode and keep one beat's points; returns the number of characters added."""
        self.count += len(steps)
        added = 0
        for _, chunk in encode_points(steps, timestamps, values):
            self.chunks.append(chunk)
            added += sum(map(len, chunk))
        return added

    def parts(self, key: int, journal: int | None = None) -> list[str | FileRange]:
        """The text of list ``key`` (0 steps, 1 timestamps, 2 values), in order; journal
        ranges as :class:`FileRange` of the open ``journal`` file."""
        parts: list[str | FileRange] = [chunk[key] for chunk in self.chunks if chunk[key]]
        if self.ranges:
            if journal is None:
                raise StoreError("the metrics journal is not open")
            for offset, *lengths in self.ranges:
                if lengths[key]:
                    parts.append(FileRange(journal, offset + sum(lengths[:key]),
                                           lengths[key]))
        return parts

    def pieces(self, name: str, journal: int | None = None) -> Iterator[str | FileRange]:
        """This metric in Sacred's ``indent=2`` layout, assembled from the stored pieces."""
        yield f"  {json.dumps(name)}: {{\n"
        for key, label in enumerate(("steps", "timestamps", "values")):
            yield (",\n" if key else "") + f'    "{label}": ['
            parts = self.parts(key, journal)
            if not parts:
                yield "]"
                continue
            yield "\n      "
            for j, part in enumerate(parts):  # no joined copy of a million points
                if j:
                    yield _ELEMENT
                yield part
            yield "\n    ]"
        yield "\n  }"


def add_metrics(metrics: dict[str, MetricText],
                metrics_by_name: Mapping[str, MetricSeries]) -> int:
    """Encode one beat's points into ``metrics``; returns the number of characters added."""
    added = 0
    for name, metric in metrics_by_name.items():
        text = metrics.get(name)
        if text is None:
            text = metrics[name] = MetricText()
        added += text.add(metric["steps"], metric["timestamps"], metric["values"])
    return added


def metrics_text(metrics: dict[str, MetricText]) -> str:
    """``metrics.json`` of points all held in memory (the object stores keep no journal)."""
    pieces = list(metrics_json(metrics))
    if not all(type(piece) is str for piece in pieces):
        raise StoreError("metrics.json refers to a journal this store does not keep")
    return "".join(cast("list[str]", pieces))


def metrics_json(metrics: dict[str, MetricText],
                 journal: int | None = None) -> Iterator[str | FileRange]:
    """``metrics.json`` in pieces (``{}`` when no metric was logged)."""
    if not metrics:
        yield "{}"
        return
    yield "{\n"
    for i, name in enumerate(sorted(metrics)):
        if i:
            yield ",\n"
        yield from metrics[name].pieces(name, journal)
    yield "\n}"
