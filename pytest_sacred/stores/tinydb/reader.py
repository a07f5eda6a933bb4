"""Reader of Sacred's TinyDbObserver layout (ours and Sacred 0.8.7's own).

``DIR/metadata.json`` is read as TinyDB's JSON, the ``{TinyDate}``, ``{TinyFile}``,
``{TinyText}`` and numpy/pandas tags decoded
(:func:`~pytest_sacred.stores.tinydb.values.decode`); files come from ``DIR/hashfs/``.
Runs Sacred wrote (uuid ``_id``) are named by their TinyDB document id. Nothing is
written, not even a lock file: a read that meets a half-written file tries again.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
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
from .values import decode

_READ_ATTEMPTS = 3


def _check_imports() -> None:
    from ...extras import require

    require("hashfs")  # the content-addressed files; the metadata is plain JSON


class TinyDbReader(Reader):
    """Runs in one TinyDB store directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        _check_imports()
        from hashfs import HashFS

        self.root = Path(root)
        self.path = self.root / "metadata.json"
        self.location = str(self.path)
        if not self.path.is_file():
            raise StoreUnreadable(f"{self.root} has no metadata.json: not a TinyDB store")
        self._fs = HashFS(str(self.root / "hashfs"), depth=3, width=2, algorithm="md5")
        self._cache: tuple[Any, dict[int, dict[str, Any]]] | None = None
        self._docs()  # unreadable stores fail here, not at the first question

    def _docs(self) -> dict[int, dict[str, Any]]:
        """Every run document, by run id; parsed again only when the file has changed."""
        st = os.stat(self.path)
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        if self._cache is None or self._cache[0] != stamp:
            self._cache = (stamp, self._parse())
        return self._cache[1]

    def _parse(self) -> dict[int, dict[str, Any]]:
        for attempt in range(_READ_ATTEMPTS):
            data = self.path.read_bytes()
            try:
                tables = json.loads(data) if data.strip() else {}
                break
            except (ValueError, UnicodeDecodeError) as exc:
                if attempt == _READ_ATTEMPTS - 1:
                    raise StoreUnreadable(f"{self.path} is not valid JSON ({exc}): not a "
                                          "TinyDB store, or damaged") from None
                time.sleep(0.05)  # a writer may be in the middle of a write
        if not isinstance(tables, dict) or not all(isinstance(t, dict) for t in tables.values()):
            raise StoreUnreadable(f"{self.path} is JSON but not a TinyDB database")
        docs: dict[int, dict[str, Any]] = {}
        for key, stored in (tables.get("runs") or {}).items():
            if not isinstance(stored, dict) or not key.isdigit():
                continue  # not a TinyDB document
            doc: dict[str, Any] = decode(stored)
            run_id = doc.get("_id")
            if isinstance(run_id, bool) or not isinstance(run_id, int):
                run_id = int(key)  # Sacred's uuid ids: the TinyDB document id
            docs[run_id] = doc
        return docs

    def _record(self, run_id: int, doc: dict[str, Any]) -> StoredRun:
        experiment = dict(doc.get("experiment") or {})
        experiment["sources"] = [list(s[:2]) for s in experiment.get("sources", [])]
        meta = doc.get("meta") or {}
        metrics = doc.get("metrics") or {}
        return StoredRun(
            id=run_id, experiment=experiment, status=doc.get("status", ""),
            config=doc.get("config") or {}, command=doc.get("command"),
            result=doc.get("result"), start_time=doc.get("start_time"),
            stop_time=doc.get("stop_time"), heartbeat=doc.get("heartbeat"),
            queue_time=meta.get("queue_time") if isinstance(meta, dict) else None,
            host=doc.get("host") or {}, meta=meta, info=doc.get("info") or {},
            captured_out=doc.get("captured_out"), fail_trace=doc.get("fail_trace"),
            artifacts=[a[0] for a in doc.get("artifacts", [])],
            resources=[list(r[:2]) for r in doc.get("resources", [])],
            metric_names=list(metrics.get("names", [])),
            location=f"{self.location}#{run_id}")

    def list_runs(self, where: RunFilter = ALL_RUNS) -> Iterator[StoredRun]:
        docs = self._docs()
        for run_id in sorted(docs):
            doc = docs[run_id]
            if where.ids is not None and run_id not in where.ids:
                continue
            if where.status is not None and doc.get("status") != where.status:
                continue
            if where.experiment is not None and \
                    (doc.get("experiment") or {}).get("name") != where.experiment:
                continue
            run = self._record(run_id, doc)
            run.captured_out = None
            yield run

    def _doc(self, run_id: int) -> dict[str, Any]:
        docs = self._docs()
        if run_id not in docs:
            raise NoSuchRun(f"no run {run_id} in {self.location}")
        return docs[run_id]

    def get_run(self, run_id: int) -> StoredRun:
        return self._record(run_id, self._doc(run_id))

    def _file(self, md5: str, what: str) -> bytes:
        try:
            with open(self._fs.idpath(md5), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise StoreUnreadable(f"{what} (hashfs {md5}) is missing from "
                                  f"{self.root / 'hashfs'}") from None

    def _points(self, run_id: int) -> dict[str, dict[str, Any]]:
        """``{name: {steps, timestamps, values}}`` of a run (``{}`` without metrics)."""
        metrics = self._doc(run_id).get("metrics") or {}
        if not metrics.get("names"):
            return {}
        points: dict[str, dict[str, Any]] = json.loads(
            self._file(metrics["file"], f"the metrics of run {run_id}"))
        return points

    def metric(self, run_id: int, name: str) -> Metric:
        points = self._points(run_id).get(name)
        if points is None:
            raise NoSuchRun(f"run {run_id} in {self.location} has no metric {name!r}")
        return Metric(name, points["steps"], points["values"],
                      [datetime.fromisoformat(t) for t in points["timestamps"]])

    def metric_summaries(self, runs: list[StoredRun]) -> dict[int, dict[str, MetricSummary]]:
        """One read of each run's metrics file, no timestamps parsed."""
        out: dict[int, dict[str, MetricSummary]] = {}
        for run in runs:
            summaries = {}
            for name, points in self._points(run.id).items():
                summary = summarize(points["values"])
                if summary is not None:
                    summaries[name] = summary
            out[run.id] = summaries
        return out

    def artifact(self, run_id: int, name: str) -> bytes:
        for entry in self._doc(run_id).get("artifacts", []):
            if entry[0] == name:
                return self._file(entry[2], f"artifact {name!r} of run {run_id}")
        raise NoSuchRun(f"run {run_id} in {self.location} has no artifact {name!r}")


def open_store(store: str) -> Reader:
    return TinyDbReader(store)
