"""What every reader gives back, whatever the store: runs, metrics, artifacts.

A reader turns one store into :class:`StoredRun` records. Readers never import the plugin
or the runner, and never write to the store they read.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple


class StoreUnreadable(Exception):
    """The store cannot be read: not a store, unreachable, or of another layout."""


class NoSuchRun(LookupError):
    """The store holds no run with that id (or no such metric or artifact of it)."""


@dataclass(frozen=True)
class RunFilter:
    """What ``list_runs`` keeps; a reader pushes as much of it to the store as it can."""

    experiment: str | None = None
    status: str | None = None
    ids: frozenset[int] | None = None
    #: a compiled ``--where`` (:class:`pytest_sacred.where.Where`) naming no metric column:
    #: a reader may use its ``necessary`` comparisons to read fewer runs, and may ignore it
    #: (the caller checks every row it gets)
    where: Any = None


#: the filter keeping every run (the default of ``list_runs``)
ALL_RUNS = RunFilter()


@dataclass
class Metric:
    """One metric of one run, all its points in step order as stored."""

    name: str
    steps: list[int]
    values: list[float]
    timestamps: list[datetime | None]  # None where a stored time does not parse


class MetricSummary(NamedTuple):
    """What a table shows of a metric: its last point's value, the smallest and largest.

    (A named tuple: one is made per metric of every run listed.)
    """

    last: Any
    min: Any
    max: Any
    count: int  # type: ignore[assignment]  # the field shadows tuple.count, as intended


def summarize(values: list[Any]) -> MetricSummary | None:
    """The summary of a metric's values in stored order; ``None`` when it has no points.

    Values that are not numbers (``None`` from a NaN stored as null, NaN itself) are left
    out of the minimum and maximum; an integer too large for a float is compared exactly.
    """
    if not values:
        return None
    try:  # all numbers, none NaN (the usual case): three passes in C
        total = sum(values)
        if total == total:
            return MetricSummary(values[-1], min(values), max(values), len(values))
    except (TypeError, OverflowError):  # OverflowError: a float plus an int beyond floats
        pass
    numbers = [v for v in values if isinstance(v, (int, float)) and v == v]
    return MetricSummary(values[-1], min(numbers, default=None), max(numbers, default=None),
                         len(values))


@dataclass
class StoredRun:
    """One run as stored, in Sacred's vocabulary (the MongoDB run document's fields).

    ``status`` is what the store says; :func:`pytest_sacred.readers.status.shown_status`
    turns a stale RUNNING into ``DIED?``. Fields a store does not keep are ``None``.
    ``captured_out`` may be ``None`` in records from ``list_runs`` (read lazily).
    """

    id: int
    experiment: dict[str, Any]
    status: str
    config: dict[str, Any]
    command: str | None = None
    result: Any = None
    start_time: datetime | None = None
    stop_time: datetime | None = None
    heartbeat: datetime | None = None
    queue_time: datetime | None = None
    host: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    captured_out: str | None = None
    fail_trace: list[str] | None = None
    #: artifact names, as given to ``add_artifact`` or relative to ``tmp_path``
    artifacts: list[str] = field(default_factory=list)
    #: ``[filename, md5]`` pairs
    resources: list[Any] = field(default_factory=list)
    #: names of the metrics the run logged
    metric_names: list[str] = field(default_factory=list)
    #: where the run is, for messages (a directory, ``mongodb://host/db#id``, …)
    location: str = ""


class Reader(ABC):
    """One store, read-only. ``location`` names it in messages (passwords masked)."""

    location: str

    @abstractmethod
    def list_runs(self, where: RunFilter = ALL_RUNS) -> Iterator[StoredRun]:
        """Runs matching ``where``, by ascending id, without their captured output."""

    @abstractmethod
    def get_run(self, run_id: int) -> StoredRun:
        """One run whole; raises :class:`NoSuchRun`."""

    @abstractmethod
    def metric(self, run_id: int, name: str) -> Metric:
        """Every point of one metric; raises :class:`NoSuchRun` when the run lacks it."""

    @abstractmethod
    def artifact(self, run_id: int, name: str) -> bytes:
        """An artifact's content; raises :class:`NoSuchRun` when the run lacks it."""

    def artifact_path(self, run_id: int, name: str) -> str | None:
        """Where the artifact is as a local file, or ``None`` when the store is not a
        directory (read it with :meth:`artifact`); raises :class:`NoSuchRun`."""
        self.artifact(run_id, name)
        return None

    def metric_summaries(self, runs: list[StoredRun]) -> dict[int, dict[str, MetricSummary]]:
        """Last/min/max of every metric of each of ``runs``, by run id and metric name.

        Readers override this to compute it in the store, or without parsing timestamps.
        """
        out: dict[int, dict[str, MetricSummary]] = {}
        for run in runs:
            summaries = {}
            for name in run.metric_names:
                summary = summarize(self.metric(run.id, name).values)
                if summary is not None:
                    summaries[name] = summary
            out[run.id] = summaries
        return out

    def metrics(self, run_id: int, names: list[str] | None = None) -> dict[str, Metric]:
        """Several metrics of one run (all of them by default)."""
        if names is None:
            names = self.get_run(run_id).metric_names
        return {name: self.metric(run_id, name) for name in names}

    def close(self) -> None:  # noqa: B027 - a no-op unless a reader holds connections
        """Release connections; reading again afterwards is not supported."""

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
