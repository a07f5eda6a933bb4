"""Sacred's FileStorage files (``run.json``, ``config.json``, ``metrics.json``,
``info.json``) turned into reader records, wherever the bytes come from: a directory
(:mod:`.reader`), an S3 or GCS bucket (:mod:`..objects.reader`)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ...readers.base import (
    Metric,
    MetricSummary,
    NoSuchRun,
    RunFilter,
    StoredRun,
    StoreUnreadable,
    summarize,
)
from .layout import resource_pair


def parse_time(value: Any) -> datetime | None:
    """An ISO time as Sacred writes it (naive UTC), or None."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def load_json(data: bytes | None, what: str) -> Any:
    """Parsed JSON, or :class:`StoreUnreadable` naming the file."""
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError as exc:
        raise StoreUnreadable(f"{what} is not JSON ({exc})") from None


def matches(run: dict[str, Any], where: RunFilter) -> bool:
    """Whether a parsed ``run.json`` passes the experiment and status parts of ``where``."""
    if (where.experiment is not None
            and (run.get("experiment") or {}).get("name") != where.experiment):
        return False
    return where.status is None or run.get("status") == where.status


def stored_run(run_id: int, run: dict[str, Any], config: dict[str, Any] | None, location: str,
               info: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None,
               captured_out: str | None = None) -> StoredRun:
    """One run's record from its parsed files (``info``, ``metrics`` and output optional)."""
    meta = run.get("meta") or {}
    return StoredRun(
        id=run_id,
        experiment=run.get("experiment") or {},
        status=run.get("status") or "UNKNOWN",
        config=config or {},
        command=run.get("command"),
        result=run.get("result"),
        start_time=parse_time(run.get("start_time")),
        stop_time=parse_time(run.get("stop_time")),
        heartbeat=parse_time(run.get("heartbeat")),
        queue_time=parse_time(meta.get("queue_time")),
        host=run.get("host") or {},
        meta=meta,
        info=info or {},
        captured_out=captured_out,
        fail_trace=run.get("fail_trace"),
        artifacts=list(run.get("artifacts") or []),
        resources=[resource_pair(r) for r in run.get("resources") or []],
        metric_names=sorted(metrics or {}),
        location=location,
    )


def metric_from(metrics: dict[str, Any] | None, run_id: int, name: str, location: str) -> Metric:
    """One metric out of a parsed ``metrics.json``; :class:`NoSuchRun` when absent."""
    entry = (metrics or {}).get(name)
    if entry is None:
        raise NoSuchRun(f"run {run_id} in {location} has no metric {name!r} "
                        f"(it has: {', '.join(sorted(metrics or {})) or 'none'})")
    return Metric(name, list(entry.get("steps", [])), list(entry.get("values", [])),
                  [parse_time(t) for t in entry.get("timestamps", [])])


def summaries_of(metrics: dict[str, Any]) -> dict[str, MetricSummary]:
    """Last/min/max of each metric of a parsed ``metrics.json`` that has points."""
    out = {}
    for name, points in metrics.items():
        summary = summarize(points.get("values") or [])
        if summary is not None:
            out[name] = summary
    return out
