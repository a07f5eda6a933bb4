"""Runs as table rows (plain dicts): what ``load_runs`` makes a DataFrame of and what
``pytest-sacred ls`` prints. No pandas here, so the command line lists runs without it.

Columns: ``id``, ``experiment``, ``status`` (``DIED?`` for a silent RUNNING run),
``start_time``, ``stop_time``, ``duration`` (seconds), ``host``, ``config.<dotted key>``,
``result`` (``result.<key>`` for a dict), ``metrics.<name>.last``/``.min``/``.max``, and
``check`` for runs stored with a regression verdict (``pass``/``FAIL`` and the baseline).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from ..where import Where, compile_where
from . import open_reader
from .base import MetricSummary, Reader, RunFilter, StoredRun
from .status import DIED, shown_status, utcnow

FIXED_COLUMNS = ("id", "experiment", "status", "start_time", "stop_time", "duration", "host")


def reader_for(store: str | os.PathLike[str] | Reader) -> tuple[Reader, bool]:
    """The reader of ``store`` and whether the caller opened it (and so closes it)."""
    if isinstance(store, Reader):
        return store, False
    return open_reader(store), True


def flatten_into(row: dict[str, Any], prefix: str, value: Any) -> None:
    """Nested dicts as dotted column names: ``config.optimizer.lr``, in key order at every
    level, whatever order the store keeps (the file store's JSON is sorted, MongoDB keeps
    insertion order): ``ls``, ``show``, ``compare``, exports and ``load_runs`` list a run's
    entries alike for every store."""
    if type(value) is not dict or not value:
        row[prefix] = value
        return
    for key, item in sorted(value.items(), key=lambda pair: str(pair[0])):
        if type(item) is dict and item:
            flatten_into(row, f"{prefix}.{key}", item)
        else:
            row[f"{prefix}.{key}"] = item


def duration(run: StoredRun) -> float | None:
    """Seconds from start to stop, or to the last heartbeat of a run still going."""
    end = run.stop_time or run.heartbeat
    if run.start_time is None or end is None:
        return None
    return (end - run.start_time).total_seconds()


def base_row(run: StoredRun, now: datetime) -> dict[str, Any]:
    """The run's row without metric columns."""
    row: dict[str, Any] = {
        "id": run.id, "experiment": run.experiment.get("name"),
        "status": shown_status(run, now), "start_time": run.start_time,
        "stop_time": run.stop_time, "duration": duration(run),
        "host": run.host.get("hostname"),
    }
    flatten_into(row, "config", run.config)
    flatten_into(row, "result", run.result)
    check = check_text(run.info)
    if check is not None:
        row["check"] = check
    return row


def metric_columns(summaries: dict[int, dict[str, MetricSummary]]) -> set[str]:
    """The metric columns of rows with these summaries (``Reader.metric_summaries``)."""
    return {f"metrics.{name}.{field}" for by_name in summaries.values() for name in by_name
            for field in ("last", "min", "max")}


def ids_text(ids: Sequence[int | None]) -> str:
    """Run ids in a few characters, consecutive ones as a range: ``1-10, 14``; a run that
    has no id (unobserved) is ``-``."""
    known = sorted({i for i in ids if i is not None})
    parts: list[str] = []
    first = 0
    for index in range(1, len(known) + 1):
        if index == len(known) or known[index] != known[index - 1] + 1:
            low, high = known[first], known[index - 1]
            parts.append(str(low) if low == high else
                         f"{low}, {high}" if high == low + 1 else f"{low}-{high}")
            first = index
    return ", ".join(parts + ["-"] * sum(1 for i in ids if i is None))


def group_token(meta: Any) -> str | None:
    """The group of seeds a stored run belongs to (``meta.seeds.group``), or ``None``."""
    seeds = meta.get("seeds") if isinstance(meta, dict) else None
    token = seeds.get("group") if isinstance(seeds, dict) else None
    return str(token) if token is not None else None


def group_members(reader: Reader, run: StoredRun) -> list[StoredRun]:
    """The COMPLETED runs of ``run``'s group of seeds (same experiment, same config apart
    from the seed, same session), by ascending id; ``[run]`` for a run of no group."""
    token = group_token(run.meta)
    if token is None:
        return [run]

    def config(r: StoredRun) -> dict[str, Any]:
        return {k: v for k, v in r.config.items() if k != "seed"}

    return [r for r in reader.list_runs(RunFilter(experiment=run.experiment.get("name"),
                                                  status="COMPLETED"))
            if group_token(r.meta) == token and config(r) == config(run)]


def check_text(info: dict[str, Any]) -> str | None:
    """A run's regression verdict (``info.regression``) in a few words: ``pass vs #3``,
    ``FAIL vs #3: result:-5%``, ``no baseline``; ``None`` for a run stored without one."""
    verdict = info.get("regression") if isinstance(info, dict) else None
    if not isinstance(verdict, dict):
        return None
    group = verdict.get("group")
    size = f" ({group.get('size')} runs)" if isinstance(group, dict) else ""
    baseline = verdict.get("baseline")
    if isinstance(baseline, dict):
        ids = baseline.get("ids") or [baseline.get("id")]
        against = " vs #" + ids_text([i if isinstance(i, int) else None for i in ids])
    else:
        against = ""
    if verdict.get("error"):
        return f"FAIL{size}: {verdict['error']}"
    if verdict.get("passed") is False:
        return f"FAIL{size}{against}: {' '.join(map(str, verdict.get('failed') or []))}"
    return f"pass{size}{against}" if against else f"unchecked{size}: no baseline"


def add_metrics(row: dict[str, Any], summaries: dict[str, MetricSummary]) -> None:
    for name in sorted(summaries):
        row[f"metrics.{name}.last"], row[f"metrics.{name}.min"], \
            row[f"metrics.{name}.max"], _ = summaries[name]


def _pushed_status(status: str | None) -> str | None:
    """What the store is asked for: DIED? runs are RUNNING in the store."""
    return "RUNNING" if status == DIED else status


def run_rows(store: str | os.PathLike[str] | Reader, experiment: str | None = None,
             status: str | None = None, where: str | Where | None = None,
             ids: Iterable[int] | None = None, now: datetime | None = None) -> list[dict[str, Any]]:
    """One row per matching run, by ascending id.

    ``experiment``, ``status`` and ``ids`` go to the store; ``where`` is checked on the
    rows, before metrics are read unless it names a metric column.
    """
    condition = compile_where(where) if isinstance(where, str) else where
    reader, owned = reader_for(store)
    now = now or utcnow()
    collecting = gc.isenabled()
    # thousands of parsed documents stay alive here and none is garbage: without this, the
    # collector's full passes over them take more time than reading them
    gc.disable()
    try:
        early = condition is not None and not any(n.startswith("metrics.")
                                                 for n in condition.names)
        runs = list(reader.list_runs(RunFilter(
            experiment=experiment, status=_pushed_status(status),
            ids=None if ids is None else frozenset(ids), where=condition if early else None)))
        pairs = [(run, base_row(run, now)) for run in runs]
        if status is not None:  # RUNNING asked for: not the DIED? ones, and vice versa
            pairs = [(run, row) for run, row in pairs if row["status"] == status]
        if early:
            assert condition is not None  # early only with a condition
            columns = set().union(*(row.keys() for _, row in pairs))
            if not condition.names <= columns:
                # the store may have left out, by the where, the runs that have the column
                everything = list(reader.list_runs(RunFilter(
                    experiment=experiment, status=_pushed_status(status),
                    ids=None if ids is None else frozenset(ids))))
                columns = columns.union(*(base_row(run, now).keys() for run in everything))
                if columns and not condition.names <= columns:  # no runs: nothing to name
                    # a misspelt name: the error lists the metric columns too
                    columns |= metric_columns(reader.metric_summaries(everything))
                    condition.check_columns(columns)
            pairs = [(run, row) for run, row in pairs if condition(row)]
        summaries = reader.metric_summaries([run for run, _ in pairs])
        for run, row in pairs:
            add_metrics(row, summaries.get(run.id, {}))
        rows = [row for _, row in pairs]
        if condition is not None and not early and rows:
            condition.check_columns(set().union(*(row.keys() for row in rows)))
            rows = [row for row in rows if condition(row)]
        return rows
    finally:
        if collecting:
            gc.enable()
        if owned:
            reader.close()


def columns_of(rows: list[dict[str, Any]]) -> list[str]:
    """All columns of ``rows`` in table order: fixed, config, result, metrics."""
    seen: dict[str, None] = dict.fromkeys(FIXED_COLUMNS)
    for row in rows:
        seen.update(dict.fromkeys(row))

    def group(name: str) -> int:
        if name in FIXED_COLUMNS:
            return 0
        for rank, prefix in enumerate(("config", "result", "metrics"), start=1):
            if name == prefix or name.startswith(prefix + "."):
                return rank
        return 4

    return sorted(seen, key=group)  # stable: first-seen order within a group
