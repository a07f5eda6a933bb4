"""``load_runs`` and ``get_run``: stored runs for notebooks and scripts (pandas).

Exported lazily from :mod:`pytest_sacred`, so importing the plugin never imports pandas.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..extras import require
from .base import Metric, Reader, StoredRun
from .status import shown_status
from .table import columns_of, duration, reader_for, run_rows

if TYPE_CHECKING:
    import pandas

_TIME_COLUMNS = ("start_time", "stop_time")


def _pandas(purpose: str) -> Any:
    return require("pandas", "analysis", purpose)


def load_runs(store: str | os.PathLike[str] | Reader, experiment: str | None = None,
              status: str | None = None, where: str | None = None) -> pandas.DataFrame:
    """One row a run: ``id``, ``experiment``, ``status``, ``start_time``, ``stop_time``,
    ``duration`` (seconds), ``host``, ``config.<key>`` (nested keys dotted), ``result``,
    ``metrics.<name>.last``/``.min``/``.max``.

    ``store`` is a directory, ``mongodb://…`` or ``HOST:PORT:DB`` (or an open reader).
    ``where`` is a filter over those columns (``"config.C > 1 and result > 0.9"``; see
    :mod:`pytest_sacred.where`). Raises ``StoreUnreadable``, ``WhereError``.
    """
    pd = _pandas("load_runs")
    rows = run_rows(store, experiment=experiment, status=status, where=where)
    columns = columns_of(rows)
    frame = pd.DataFrame({name: [row.get(name) for row in rows] for name in columns},
                         columns=columns)
    for name in _TIME_COLUMNS:
        frame[name] = pd.to_datetime(frame[name])
    return frame


class Artifact:
    """One artifact of a stored run: ``read()`` its bytes, or ``path()`` to a file.

    For a directory store the path is the stored file itself (do not change it); for other
    stores a temporary copy, removed when this object is garbage-collected.
    """

    def __init__(self, name: str, open_reader: Callable[[], AbstractContextManager[Reader]],
                 run_id: int) -> None:
        self.name = name
        self._open = open_reader
        self._run_id = run_id
        self._path: Path | None = None

    def read(self) -> bytes:
        with self._open() as reader:
            return reader.artifact(self._run_id, self.name)

    def path(self) -> Path:
        if self._path is None:
            with self._open() as reader:
                local = reader.artifact_path(self._run_id, self.name)
                if local is not None:
                    self._path = Path(local)
                else:
                    directory = tempfile.mkdtemp(prefix=f"pytest-sacred-{self._run_id}-")
                    weakref.finalize(self, shutil.rmtree, directory, True)
                    target = Path(directory, os.path.basename(self.name))
                    target.write_bytes(reader.artifact(self._run_id, self.name))
                    self._path = target
        return self._path

    def __repr__(self) -> str:
        return f"Artifact({self.name!r} of run {self._run_id})"


@dataclass
class Run:
    """One stored run, whole: everything the store keeps, metrics as pandas Series."""

    id: int
    experiment: str | None
    #: as shown: ``DIED?`` for a RUNNING run whose heartbeat stopped over 2 minutes ago
    status: str
    config: dict[str, Any]
    result: Any
    start_time: datetime | None
    stop_time: datetime | None
    heartbeat: datetime | None
    duration: float | None
    host: dict[str, Any]
    meta: dict[str, Any]
    info: dict[str, Any]
    captured_out: str
    fail_trace: list[str] | None
    command: str | None
    #: the git repositories the experiment's sources were in (url, commit, dirty)
    git: list[dict[str, Any]]
    #: metric name -> values as a Series indexed by step (named ``step``)
    metrics: dict[str, pandas.Series]
    #: metric name -> every point with its timestamp, as stored
    metric_points: dict[str, Metric]
    artifacts: dict[str, Artifact]
    #: the record as the reader gave it (Sacred's field names)
    stored: StoredRun = field(repr=False)

    @property
    def location(self) -> str:
        return self.stored.location


def _series(metric: Metric) -> pandas.Series:
    pd = _pandas("get_run")
    return pd.Series(metric.values, index=pd.Index(metric.steps, name="step"),
                     name=metric.name)


def get_run(store: str | os.PathLike[str] | Reader, run_id: int) -> Run:
    """Run ``run_id`` of ``store`` whole; raises ``NoSuchRun`` or ``StoreUnreadable``."""
    _pandas("get_run")
    reader, owned = reader_for(store)

    def open_again() -> AbstractContextManager[Reader]:
        return _Borrowed(reader) if not owned else reader_for(store)[0]

    try:
        stored = reader.get_run(int(run_id))
        points = reader.metrics(stored.id, stored.metric_names)
    finally:
        if owned:
            reader.close()
    return Run(
        id=stored.id, experiment=stored.experiment.get("name"), status=shown_status(stored),
        config=stored.config, result=stored.result, start_time=stored.start_time,
        stop_time=stored.stop_time, heartbeat=stored.heartbeat, duration=duration(stored),
        host=stored.host, meta=stored.meta, info=stored.info,
        captured_out=stored.captured_out or "", fail_trace=stored.fail_trace,
        command=stored.command, git=list(stored.experiment.get("repositories") or []),
        metrics={name: _series(m) for name, m in points.items()}, metric_points=points,
        artifacts={name: Artifact(name, open_again, stored.id) for name in stored.artifacts},
        stored=stored)


class _Borrowed:
    """A reader the caller opened: used in a ``with`` block without closing it."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader

    def __enter__(self) -> Reader:
        return self._reader

    def __exit__(self, *exc: object) -> None:
        pass
