"""One HTML page of stored runs: a table, their curves side by side, and each run whole.

The page is one document: ``page.html`` with ``page.css``, ``page.js`` and the vendored
charting library (uPlot, ``vendor/``) inlined, and the runs as one JSON document written
through the readers, so it reads any store a reader reads. :func:`write_report` makes the
self-contained file (``pytest-sacred report``, ``--sacred-report``); :mod:`.serve` serves
the same page with the data fetched live (``pytest-sacred serve``).

Curves are thinned for display (the smallest and largest value of each of ``limit / 2``
runs of consecutive points, plus the first and last point), so a thousand runs of long
metrics still make a file a browser opens at once; a curve with no more points than the
limit is kept whole and marked ``full``.
"""

from __future__ import annotations

import base64
import json
import math
import mimetypes
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cli import plain
from ..readers import Reader, RunFilter, StoredRun
from ..readers.base import ALL_RUNS, Metric, MetricSummary, summarize
from ..readers.status import shown_status, utcnow
from ..readers.table import duration, run_rows

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..session import SacredSession

HERE = Path(__file__).parent
#: points of all curves kept in a report file together, shared out among its curves
POINT_BUDGET = 300_000
#: each curve keeps at least this many points, and at most this many when the budget allows
MIN_POINTS, MAX_POINTS = 100, 4000
#: artifacts shown in the page itself: images up to this size, text files up to that
IMAGE_LIMIT, TEXT_LIMIT = 2_000_000, 64_000
#: captured output kept per run (its end, where a failure shows)
OUTPUT_LIMIT = 200_000
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/svg+xml", "image/webp"})
_TEXT_TYPES = frozenset({"application/json", "application/xml", "application/x-yaml",
                         "application/yaml", "application/toml", "application/x-sh"})
_TEXT_SUFFIXES = frozenset({".txt", ".log", ".csv", ".tsv", ".json", ".yaml", ".yml", ".md",
                            ".py", ".toml", ".ini", ".cfg", ".xml", ".out", ".err"})


@dataclass(frozen=True)
class Selection:
    """Which runs of a store: the filters of ``pytest-sacred ls`` and run ids."""

    experiment: str | None = None
    status: str | None = None
    where: str | None = None
    ids: frozenset[int] | None = None


def iso(value: datetime | None) -> str | None:
    """A stored (naive UTC) time as ISO text with its zone, for the browser to show locally."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.isoformat()


class Delegating(Reader):
    """A reader passing every call to ``reader``; subclasses change one of them."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.location = reader.location

    def list_runs(self, where: RunFilter = ALL_RUNS) -> Iterator[StoredRun]:
        return self.reader.list_runs(where)

    def get_run(self, run_id: int) -> StoredRun:
        return self.reader.get_run(run_id)

    def metric(self, run_id: int, name: str) -> Metric:
        return self.reader.metric(run_id, name)

    def artifact(self, run_id: int, name: str) -> bytes:
        return self.reader.artifact(run_id, name)

    def artifact_path(self, run_id: int, name: str) -> str | None:
        return self.reader.artifact_path(run_id, name)

    def metric_summaries(self, runs: list[StoredRun]) -> dict[int, dict[str, MetricSummary]]:
        return self.reader.metric_summaries(runs)

    def close(self) -> None:
        self.reader.close()


class _NoSummaries(Delegating):
    """For choosing runs by filters that name no metric: their metrics are not read."""

    def metric_summaries(self, runs: list[StoredRun]) -> dict[int, dict[str, MetricSummary]]:
        return {}


def selected_ids(reader: Reader, selection: Selection) -> list[int]:
    """The ids ``pytest-sacred ls`` would list for the same filters, ascending."""
    from ..where import compile_where

    condition = compile_where(selection.where) if selection.where else None
    if condition is None or not any(n.startswith("metrics.") for n in condition.names):
        reader = _NoSummaries(reader)  # the report reads every metric whole anyway
    rows = run_rows(reader, experiment=selection.experiment, status=selection.status,
                    where=condition, ids=selection.ids)
    return [row["id"] for row in rows]


def variant(run: StoredRun) -> str:
    """The pytest parameter id the run was a variant of (``C=2-sgd``), or ``""``."""
    nodeid = (run.meta.get("pytest") or {}).get("nodeid") or ""
    match = re.search(r"\[(.*)\]$", str(nodeid))
    return match.group(1) if match else ""


def summary(run: StoredRun, finals: dict[str, Any], now: datetime, key: str,
            role: str = "run") -> dict[str, Any]:
    """What the runs table shows of a run (and what compare labels curves with)."""
    repositories = run.experiment.get("repositories") or []
    return {
        "key": key, "id": run.id, "role": role,
        "experiment": run.experiment.get("name"), "variant": variant(run),
        "status": shown_status(run, now), "stored_status": run.status,
        "result": plain(run.result), "start": iso(run.start_time), "stop": iso(run.stop_time),
        "heartbeat": iso(run.heartbeat), "duration": duration(run),
        "host": run.host.get("hostname"),
        "git": [{"url": r.get("url"), "commit": r.get("commit"), "dirty": r.get("dirty")}
                for r in repositories if isinstance(r, dict)],
        "config": plain(run.config), "updates": plain(run.meta.get("config_updates") or {}),
        "finals": plain(finals), "metric_names": list(run.metric_names),
        "regression": plain(run.info.get("regression")) if isinstance(run.info, dict)
        else None,
    }


def _finite(values: list[Any]) -> bool:
    """Whether every value is a finite number (the usual case, checked in C)."""
    try:
        return math.isfinite(sum(values))
    except TypeError:
        return False


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def thin(metric: Metric, limit: int | None) -> dict[str, Any]:
    """A metric's points for display: all of them when there are at most ``limit`` (or
    ``limit`` is ``None``), else the extremes of each of ``limit // 2`` consecutive runs of
    points, so that no spike is lost; values not finite become ``null``."""
    steps, values = metric.steps, metric.values
    count = len(values)
    fast = _finite(values)
    if limit is None or count <= limit:
        shown = list(values) if fast else [_number(v) for v in values]
        return {"steps": list(steps), "values": shown, "full": True}
    numbers = values if fast else [_number(v) for v in values]
    buckets = max(1, limit // 2)
    keep = {0, count - 1}
    for b in range(buckets):
        lo, hi = b * count // buckets, (b + 1) * count // buckets
        if fast:
            part = values[lo:hi]
            keep.add(lo + part.index(min(part)))
            keep.add(lo + part.index(max(part)))
            continue
        present = [i for i in range(lo, hi) if numbers[i] is not None]
        if present:
            keep.add(min(present, key=numbers.__getitem__))  # type: ignore[arg-type]
            keep.add(max(present, key=numbers.__getitem__))  # type: ignore[arg-type]
    order = sorted(keep)
    return {"steps": [steps[i] for i in order],
            "values": [None if numbers[i] is None else float(f"{numbers[i]:.7g}")
                       for i in order],
            "full": False}


def content_type(name: str) -> str:
    """An artifact's content type, from its name."""
    guessed, _ = mimetypes.guess_type(name)
    if guessed is None and Path(name).suffix.lower() in _TEXT_SUFFIXES:
        return "text/plain"
    return guessed or "application/octet-stream"


def is_text(name: str, kind: str) -> bool:
    """Whether the page shows an artifact as text."""
    return kind.startswith("text/") or kind in _TEXT_TYPES or \
        Path(name).suffix.lower() in _TEXT_SUFFIXES


def artifact_entry(reader: Reader, run_id: int, name: str, embed: bool) -> dict[str, Any]:
    """An artifact's name, size and content type; with ``embed`` a small image as a data
    URL and a small text file's text, for a page that must open offline."""
    kind = content_type(name)
    local = reader.artifact_path(run_id, name)
    data = None
    if local is not None:
        size = os.path.getsize(local)
    else:
        data = reader.artifact(run_id, name)
        size = len(data)
    show = "image" if kind in IMAGE_TYPES and size <= IMAGE_LIMIT else \
        "text" if is_text(name, kind) and size <= TEXT_LIMIT else None
    entry: dict[str, Any] = {"name": name, "size": size, "type": kind, "show": show}
    if not embed or show is None:
        return entry
    if data is None:
        data = reader.artifact(run_id, name)
    if show == "image":
        entry["image"] = f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"
    else:
        entry["text"] = data.decode("utf-8", errors="replace")
    return entry


def detail(reader: Reader, run: StoredRun, limit: int | None,
           embed: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """Everything the page shows of one run beside its table row, and the final value of
    each metric (for the row). ``run`` must come from ``get_run`` (captured output read)."""
    metrics = reader.metrics(run.id, run.metric_names)
    curves, finals = {}, {}
    for name, metric in metrics.items():
        stats = summarize(metric.values)
        curve = thin(metric, limit)
        if stats is not None:
            finals[name] = stats.last
            curve.update(count=stats.count, last=plain(stats.last), min=plain(stats.min),
                         max=plain(stats.max))
        else:
            curve.update(count=0, last=None, min=None, max=None)
        curves[name] = curve
    output = run.captured_out or ""
    experiment = run.experiment
    info = {k: v for k, v in run.info.items() if k != "regression"} \
        if isinstance(run.info, dict) else run.info
    whole = {
        "command": run.command, "meta": plain(run.meta), "info": plain(info),
        "host_info": plain(run.host), "queue_time": iso(run.queue_time),
        "output": output[-OUTPUT_LIMIT:], "output_cut": max(0, len(output) - OUTPUT_LIMIT),
        "fail_trace": "".join(run.fail_trace) if run.fail_trace else None,
        "sources": plain(experiment.get("sources") or []),
        "dependencies": plain(experiment.get("dependencies") or []),
        "resources": plain(run.resources),
        "artifacts": [artifact_entry(reader, run.id, name, embed) for name in run.artifacts],
        "metrics": curves, "location": run.location,
    }
    return whole, finals


def points_per_curve(curves: int, points: int | None) -> int | None:
    """How many points each curve keeps: ``points`` when given (0: all), else the budget
    shared out among ``curves``."""
    if points is not None:
        return None if points == 0 else points
    return max(MIN_POINTS, min(MAX_POINTS, POINT_BUDGET // max(1, curves)))


def runs_document(sources: Iterable[tuple[Reader, dict[int, str]]], points: int | None = None,
                  title: str = "") -> dict[str, Any]:
    """The page's data: the runs of each ``(reader, {id: role})`` whole, curves thinned.

    ``role`` is ``"run"`` or ``"baseline"``. Runs of the first source are keyed by their id;
    those of later sources (baselines read from another store) by ``<source>-<id>``, so ids
    of two stores never collide.
    """
    now = utcnow()
    sources = list(sources)
    stored: list[tuple[int, Reader, StoredRun, str]] = []
    for index, (reader, roles) in enumerate(sources):
        listed = {r.id for r in reader.list_runs(RunFilter(ids=frozenset(roles)))} \
            if roles else set()
        # whole records: a listing may leave the metric names out, and the budget needs them
        stored += [(index, reader, reader.get_run(i), role) for i, role in roles.items()
                   if i in listed]
    limit = points_per_curve(sum(len(r.metric_names) for _, _, r, _ in stored), points)
    entries = []
    for index, reader, run, role in stored:
        whole, finals = detail(reader, run, limit, embed=True)
        key = str(run.id) if index == 0 else f"{index}-{run.id}"
        entries.append({**summary(run, finals, now, key, role), **whole, "detail": True})
    return {"schema": 1, "live": False, "title": title,
            "stores": [reader.location for reader, _ in sources],
            "generated": iso(now), "points": limit, "runs": entries}


def render(document: dict[str, Any]) -> str:
    """The page: the template with its style, scripts and ``document`` inlined."""
    data = json.dumps(document, separators=(",", ":"), allow_nan=False)
    # inside <script>: no "</script>" or "<!--" may appear, so every "<" is escaped
    data = data.replace("<", "\\u003c")
    parts = {
        "uplot.css": (HERE / "vendor" / "uPlot.min.css").read_text(encoding="utf-8"),
        "page.css": (HERE / "page.css").read_text(encoding="utf-8"),
        "uplot.js": (HERE / "vendor" / "uPlot.iife.min.js").read_text(encoding="utf-8"),
        "page.js": (HERE / "page.js").read_text(encoding="utf-8"),
        "data": data,
        "title": _escape_html(document.get("title") or "pytest-sacred runs"),
        "csp": _escape_html(_csp(document["live"])),
    }
    template = (HERE / "page.html").read_text(encoding="utf-8")
    # one pass: nothing inserted is scanned for markers again
    return re.sub(r"/\*@(\S+?)@\*/", lambda m: parts[m.group(1)], template)


def _csp(live: bool) -> str:
    """What the page may load: nothing from anywhere (a file), or its own server (live)."""
    connect = "'self'" if live else "'none'"
    images = "'self' data:" if live else "data:"
    return (f"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
            f"img-src {images} blob:; connect-src {connect}; base-uri 'none'; "
            "form-action 'none'")


def _escape_html(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def write_report(reader: Reader, output: str | os.PathLike[str], selection: Selection,
                 points: int | None = None) -> int:
    """Write the report of ``reader``'s runs chosen by ``selection``; returns how many."""
    ids = selected_ids(reader, selection)
    document = runs_document([(reader, dict.fromkeys(ids, "run"))], points,
                             title=f"pytest-sacred: {reader.location}")
    Path(output).write_text(render(document), encoding="utf-8")
    return len(document["runs"])


def session_report(state: SacredSession, rows: list[dict[str, Any]],
                   write_line: Callable[..., None]) -> None:
    """``--sacred-report FILE``: the page of this session's stored runs and their baselines,
    written at the end of the session (``state`` is the ``SacredSession``); its path, or why
    it was not written, is printed under the runs table."""
    from ..readers import StoreUnreadable, open_reader
    from ..session import short_path
    from ..stores.registry import reader_store

    output = state.options.report
    ids = [r["id"] for r in rows if r.get("id") is not None]
    baselines = [r["vs"]["baseline"] for r in rows
                 if r.get("vs") and r["vs"].get("baseline") is not None]
    readers: list[Reader] = []
    try:
        for observer in state.observers:
            store = reader_store(observer)
            if store is None:
                continue
            try:
                readers.append(open_reader(store))
                break
            except StoreUnreadable:
                continue
        if not readers:
            write_line(f"pytest-sacred: --sacred-report {output}: not written, no store of "
                       "this session can be read", red=True)
            return
        roles = dict.fromkeys(ids, "run")
        sources = [(readers[0], roles)]
        compare_store = state.regression.options.store
        if compare_store is not None and baselines:
            readers.append(open_reader(compare_store))
            sources.append((readers[1], dict.fromkeys(baselines, "baseline")))
        else:
            roles.update({i: "baseline" for i in baselines if i not in roles})
        document = runs_document(sources, title=f"pytest-sacred session: {len(ids)} runs")
        assert output is not None  # called only with --sacred-report
        Path(output).write_text(render(document), encoding="utf-8")
    except (OSError, StoreUnreadable) as exc:
        write_line(f"pytest-sacred: --sacred-report {output}: not written: "
                   f"{type(exc).__name__}: {exc}", red=True)
        return
    finally:
        for reader in readers:
            reader.close()
    write_line(f"report of {len(document['runs'])} runs: {short_path(str(output))}")
