"""TinyDB's ``metadata.json``, written in place: a run costs what its own document costs.

TinyDB (and so Sacred's TinyDbObserver) re-reads and rewrites the whole file on every
write. This writer keeps the file in the format TinyDB reads, ``{"runs": {"1": {...},
"2": {...}}}`` (only ever valid JSON between writes, ASCII, TinyDB's separators), but
changes only the bytes of the document being written:

* a new document is appended before the closing ``}}``;
* the last document is rewritten from its offset (the file shrinks or grows there);
* an earlier document (another process appended after it) is overwritten in place when
  the new text fits its span, padded with spaces (JSON whitespace); otherwise its span is
  blanked together with the comma before it and the document appended at the end;
* when blanked bytes pass half the file, the file is rewritten once (compacted).

Every write happens under a file lock (``filelock``), so any number of processes can
share one store. Beside the file, ``metadata.json.index`` (a cache, rebuilt from the file
when missing, unreadable or out of date) holds what the writers share: the file's size and
mtime after the last write, the next free id, and where each running document is.
A file that another program wrote since (Sacred, TinyDB) is read whole once and rewritten
in this layout, keeping its content.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TABLE = "runs"
INDEX_SUFFIX = ".index"
LOCK_SUFFIX = ".lock"
#: spaces after a running document appended behind others, room for its next versions
SLACK = 256
_COMPACT_BYTES = 1 << 20


class MetadataError(Exception):
    """The file is not a TinyDB database (or the lock could not be had in time)."""


class MetadataLocked(MetadataError):
    """Another process held the file's lock past the lock timeout: a write may succeed
    when tried again later."""


def parse_database(data: bytes, path: Path) -> dict[str, dict[str, Any]]:
    """The tables of a TinyDB file; raises :class:`MetadataError` if it is something else."""
    if not data.strip():
        return {}
    try:
        tables = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MetadataError(f"{path} is not JSON ({exc})") from None
    if not isinstance(tables, dict) or not all(isinstance(t, dict) for t in tables.values()):
        raise MetadataError(f"{path} is JSON but not a TinyDB database (an object of tables)")
    for name, table in tables.items():
        for key, doc in table.items():
            if not key.isdigit() or not isinstance(doc, dict):
                raise MetadataError(f"{path}: table {name!r} holds {key!r}, which is not a "
                                    "TinyDB document (integer id -> object)")
    return tables


def member(doc_id: int, doc_json: str) -> bytes:
    return f'"{doc_id}": {doc_json}'.encode("ascii")


class MetadataFile:
    """One ``metadata.json`` shared by the processes of one or more sessions."""

    def __init__(self, path: Path, lock_timeout: float) -> None:
        import filelock

        self.path = Path(path)
        self.index_path = self.path.with_name(self.path.name + INDEX_SUFFIX)
        self.lock_timeout = lock_timeout
        self._lock = filelock.FileLock(str(self.path) + LOCK_SUFFIX, timeout=lock_timeout)
        self._thread_lock = threading.Lock()
        self._index: dict[str, Any] = {}

    # -- locking and the shared index -------------------------------------------------------

    @contextmanager
    def locked(self) -> Iterator[None]:
        import filelock

        with self._thread_lock:
            try:
                self._lock.acquire()
            except filelock.Timeout:
                raise MetadataLocked(
                    f"{self.path} is locked by another process (lock file {self._lock.lock_file} "
                    f"held for more than {self.lock_timeout:g} s)") from None
            try:
                yield
            finally:
                self._lock.release()

    def _stat(self) -> list[int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return [st.st_ino, st.st_size, st.st_mtime_ns]

    def _read_index(self) -> dict[str, Any] | None:
        try:
            index = json.loads(self.index_path.read_bytes())
        except (OSError, ValueError):
            return None
        if not isinstance(index, dict) or index.get("stat") != self._stat():
            return None
        return index

    def _save_index(self) -> None:
        self._index["stat"] = self._stat()
        data = json.dumps(self._index).encode()
        fd = os.open(self.index_path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:  # a torn index is rebuilt from the file: no need for a rename
            os.pwrite(fd, data, 0)
            os.ftruncate(fd, len(data))
        finally:
            os.close(fd)

    def check(self) -> None:
        """Raise :class:`MetadataError` unless the file is absent, ours, or a TinyDB database.

        Reads nothing but the index when the file is as this writer left it; writes nothing.
        """
        with self.locked():
            if self._stat() is None or self._read_index() is not None:
                return
            parse_database(self.path.read_bytes(), self.path)

    def read_bytes(self) -> bytes:
        """The whole file, never half written (read under the lock)."""
        with self.locked():
            try:
                return self.path.read_bytes()
            except FileNotFoundError:
                return b""

    def _sync(self) -> None:
        """Under the lock: the index matches the file, rebuilding both if it does not."""
        index = self._read_index()
        if index is None:
            self._rebuild(self._index.get("next_id", 1))
        else:
            self._index = index

    def _rebuild(self, next_id: int) -> None:
        """Rewrite the file in our layout (same content); offsets of running documents."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            data = b""
        tables = parse_database(data, self.path)
        runs = tables.pop(TABLE, {})
        head = b"{" + b"".join(json.dumps(name).encode() + b": " + json.dumps(t).encode()
                               + b", " for name, t in tables.items()) + b'"runs": {'
        parts, live, offset = [head], {}, len(head)
        for i, (key, doc) in enumerate(runs.items()):
            if i:
                parts.append(b", ")
                offset += 2
            text = member(int(key), json.dumps(doc))
            if doc.get("status") in ("RUNNING", "QUEUED"):
                live[key] = [offset, len(text), i == 0]
            parts.append(text)
            offset += len(text)
        parts.append(b"}}")
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(b"".join(parts))
        os.replace(tmp, self.path)
        highest = max((int(k) for k in runs), default=0)
        self._index = {"end": offset, "count": len(runs), "waste": 0, "live": live,
                       "next_id": max(next_id, highest + 1)}
        self._save_index()

    # -- ids and documents ------------------------------------------------------------------

    def reserve_id(self) -> int:
        """The next free id, claimed for this process (a gap if it is never written)."""
        with self.locked():
            self._sync()
            doc_id: int = self._index["next_id"]
            self._index["next_id"] = doc_id + 1
            self._save_index()
            return doc_id

    def claim_id(self, doc_id: int) -> bool:
        """Claim ``doc_id`` if no process has reserved it yet (it is past every id handed
        out): the ids after it are then handed out to others."""
        with self.locked():
            self._sync()
            if doc_id < self._index["next_id"]:
                return False
            self._index["next_id"] = doc_id + 1
            self._save_index()
            return True

    def contains(self, doc_id: int) -> bool:
        """Whether the runs table holds ``doc_id``. Free for ids past the highest one (the
        usual case when another store hands out the ids); reads the whole file otherwise."""
        with self.locked():
            self._sync()
            if doc_id >= self._index["next_id"]:
                return False
            data = self.path.read_bytes()
        return str(doc_id) in parse_database(data, self.path).get(TABLE, {})

    def document(self, doc_id: int) -> dict[str, Any] | None:
        """Document ``doc_id`` as stored (its values tagged), ``None`` when there is none."""
        return parse_database(self.read_bytes(), self.path).get(TABLE, {}).get(str(doc_id))

    def compare_and_set(self, doc_id: int,
                        change: Callable[[dict[str, Any] | None], tuple[str | None, Any]]
                        ) -> Any:
        """Read document ``doc_id`` and maybe replace it, under one hold of the lock (no
        other process writes in between): ``change(doc)`` returns the new document's JSON
        (``None``: leave it) and what this call returns."""
        with self.locked():
            try:
                data = self.path.read_bytes()
            except FileNotFoundError:
                data = b""
            doc = parse_database(data, self.path).get(TABLE, {}).get(str(doc_id))
            new, result = change(doc)
            if new is not None:
                self._write_locked(doc_id, new, False)
        return result

    def write(self, doc_id: int, doc_json: str, final: bool = False) -> None:
        """Insert or replace document ``doc_id``; ``final`` when it will not change again."""
        with self.locked():
            self._write_locked(doc_id, doc_json, final)

    def _write_locked(self, doc_id: int, doc_json: str, final: bool) -> None:
        text = member(doc_id, doc_json)
        self._sync()
        index = self._index
        key = str(doc_id)
        fd = os.open(self.path, os.O_RDWR)
        try:
            place = index["live"].get(key)
            if place is None:
                self._append(fd, key, text, final)
            else:
                self._replace(fd, key, text, place, final)
        finally:
            os.close(fd)
        if final:
            index["live"].pop(key, None)
        if key.isdigit() and int(key) >= index["next_id"]:
            index["next_id"] = int(key) + 1
        if index["waste"] > max(_COMPACT_BYTES, index["end"] // 2):
            self._rebuild(index["next_id"])
        else:
            self._save_index()

    def _append(self, fd: int, key: str, text: bytes, final: bool) -> None:
        index = self._index
        first = index["count"] == 0
        start = index["end"] + (0 if first else 2)
        pad = b"" if final else b" " * SLACK
        os.pwrite(fd, (b"" if first else b", ") + text + pad + b"}}", index["end"])
        index["end"] = start + len(text) + len(pad)
        index["count"] += 1
        index["live"][key] = [start, len(text) + len(pad), first]

    def _replace(self, fd: int, key: str, text: bytes, place: list[Any], final: bool) -> None:
        index = self._index
        start, span, first = place
        if start + span == index["end"]:  # the last document: rewrite from its start
            os.pwrite(fd, text + b"}}", start)
            os.ftruncate(fd, start + len(text) + 2)
            index["end"] = start + len(text)
            place[1] = len(text)
        elif len(text) <= span:
            os.pwrite(fd, text + b" " * (span - len(text)), start)
            index["waste"] += span - len(text)
        elif not first:  # blank ", <document>" and put the new version at the end
            os.pwrite(fd, b" " * (span + 2), start - 2)
            index["waste"] += span + 2
            index["count"] -= 1
            del index["live"][key]
            self._append(fd, key, text, final)
        else:  # the table's first document outgrew its span: move what follows it
            tail = os.pread(fd, index["end"] - (start + span), start + span)
            os.pwrite(fd, text + tail + b"}}", start)
            os.ftruncate(fd, start + len(text) + len(tail) + 2)
            shift = len(text) - span
            for other in index["live"].values():
                if other[0] > start:
                    other[0] += shift
            index["end"] += shift
            place[1] = len(text)
