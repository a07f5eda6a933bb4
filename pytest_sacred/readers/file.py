"""Reader of Sacred's FileStorage layout (ours and Sacred 0.8.7's own).

``DIR/<id>/run.json`` and ``config.json`` make a run's record; ``metrics.json`` (plus
``metrics.journal.jsonl`` while a run with large metrics is live), ``info.json``,
``cout.txt`` and the artifacts are read only when asked for. Files are opened read-only.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from .base import (Metric, MetricSummary, NoSuchRun, Reader, RunFilter, StoredRun,
                   StoreUnreadable, summarize)

#: written by the file store while a live run's metrics are large (observers/file_storage.py)
JOURNAL = "metrics.journal.jsonl"
#: a run's files are rewritten in place; a read that meets a half-written one tries again
_READ_ATTEMPTS = 3

try:  # several times faster on the large metrics.json files; the standard library otherwise
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - depends on the environment
    from json import loads as _loads

from json import JSONDecodeError as _StdDecodeError

try:
    from orjson import JSONDecodeError as _OrDecodeError
except ImportError:  # pragma: no cover
    _OrDecodeError = _StdDecodeError
_DECODE_ERRORS = (_StdDecodeError, _OrDecodeError, UnicodeDecodeError)


def _time(value: Any) -> datetime | None:
    """A stored time (``isoformat`` text, naive UTC); other forms (a queued run's
    jsonpickled ``queue_time``) are not times the reader can use."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


class FileReader(Reader):
    """Runs in one file-store directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.location = str(self.root)

    # -- files -----------------------------------------------------------------------------

    def _json(self, path: Path, missing: Any = None) -> Any:
        """The JSON in ``path``; ``missing`` when there is no such file."""
        for attempt in range(_READ_ATTEMPTS):
            try:
                with open(path, "rb") as f:
                    return _loads(f.read())
            except FileNotFoundError:
                return missing
            except _DECODE_ERRORS as exc:
                if attempt == _READ_ATTEMPTS - 1:
                    raise StoreUnreadable(f"{path} is not valid JSON ({exc}); it may be "
                                          "damaged, or not written by a file store") from None
                time.sleep(0.05)  # a live run may be rewriting it right now
        return missing  # pragma: no cover - the loop always returns or raises

    def _directory(self, run_id: int) -> Path:
        directory = self.root / str(run_id)
        if not (directory / "run.json").is_file():
            raise NoSuchRun(f"no run {run_id} in {self.location} (ids there: "
                            f"{_id_range(self._ids())})")
        return directory

    def _ids(self, wanted: frozenset[int] | None = None) -> list[int]:
        if wanted is not None:  # pushed down: only these directories are looked at
            return sorted(i for i in wanted if (self.root / str(i) / "run.json").is_file())
        with os.scandir(self.root) as entries:
            return sorted(int(e.name) for e in entries if e.name.isdigit() and e.is_dir())

    # -- runs ------------------------------------------------------------------------------

    def _record(self, run_id: int, entry: dict, config: dict) -> StoredRun:
        experiment = entry.get("experiment") or {}
        return StoredRun(
            id=run_id, experiment=experiment, status=entry.get("status") or "UNKNOWN",
            config=config, command=entry.get("command"), result=entry.get("result"),
            start_time=_time(entry.get("start_time")), stop_time=_time(entry.get("stop_time")),
            heartbeat=_time(entry.get("heartbeat")),
            queue_time=_time((entry.get("meta") or {}).get("queue_time")),
            host=entry.get("host") or {}, meta=entry.get("meta") or {},
            fail_trace=entry.get("fail_trace"), artifacts=list(entry.get("artifacts") or []),
            resources=list(entry.get("resources") or []),
            location=str(self.root / str(run_id)))

    def list_runs(self, where: RunFilter = RunFilter()) -> Iterator[StoredRun]:
        for run_id in self._ids(where.ids):
            directory = self.root / str(run_id)
            entry = self._json(directory / "run.json")
            if entry is None:  # an id claimed by a run that has not written yet
                continue
            if not isinstance(entry, dict):
                warnings.warn(f"{directory / 'run.json'} holds no run (not a JSON object); "
                              "skipped", stacklevel=2)
                continue
            if where.status is not None and entry.get("status") != where.status:
                continue
            if where.experiment is not None and \
                    (entry.get("experiment") or {}).get("name") != where.experiment:
                continue
            yield self._record(run_id, entry, self._json(directory / "config.json", {}))

    def get_run(self, run_id: int) -> StoredRun:
        directory = self._directory(run_id)
        entry = self._json(directory / "run.json")
        run = self._record(run_id, entry, self._json(directory / "config.json", {}))
        run.info = self._json(directory / "info.json", {})
        try:
            run.captured_out = (directory / "cout.txt").read_text(encoding="utf-8",
                                                                  errors="replace")
        except FileNotFoundError:
            run.captured_out = ""
        run.metric_names = sorted(self._raw_metrics(run_id, directory))
        return run

    # -- metrics ---------------------------------------------------------------------------

    def _raw_metrics(self, run_id: int, directory: Path) -> dict[str, dict]:
        """metrics.json with the journal's points appended (those it lacks)."""
        metrics = self._json(directory / "metrics.json", {})
        if not isinstance(metrics, dict):
            raise StoreUnreadable(f"{directory / 'metrics.json'} is not a JSON object of "
                                  "metrics")
        try:
            with open(directory / JOURNAL, "rb") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return metrics
        added: dict[str, dict[str, list]] = {}
        for line in lines:
            try:
                piece = _loads(line)
            except _DECODE_ERRORS:
                continue  # the line a live run is writing right now
            into = added.setdefault(piece["name"], {"steps": [], "values": [], "timestamps": []})
            for key in into:
                into[key].extend(piece[key])
        for name, points in added.items():
            metric = metrics.setdefault(name, {"steps": [], "values": [], "timestamps": []})
            # at the end of a run metrics.json is written whole just before the journal is
            # removed: then it already ends with the journal's points
            n = len(points["timestamps"])
            if metric["timestamps"][-n:] != points["timestamps"]:
                for key in ("steps", "values", "timestamps"):
                    metric[key] = list(metric.get(key, [])) + points[key]
        return metrics

    def metric(self, run_id: int, name: str) -> Metric:
        metrics = self._raw_metrics(run_id, self._directory(run_id))
        if name not in metrics:
            raise NoSuchRun(f"run {run_id} in {self.location} has no metric {name!r} "
                            f"(it has: {', '.join(sorted(metrics)) or 'none'})")
        m = metrics[name]
        return Metric(name, list(m.get("steps", [])), list(m.get("values", [])),
                      [_time(t) for t in m.get("timestamps", [])])

    def metrics(self, run_id: int, names: list[str] | None = None) -> dict[str, Metric]:
        raw = self._raw_metrics(run_id, self._directory(run_id))
        names = sorted(raw) if names is None else names
        return {name: self.metric(run_id, name) for name in names}

    def metric_summaries(self, runs: list[StoredRun]) -> dict[int, dict[str, MetricSummary]]:
        out: dict[int, dict[str, MetricSummary]] = {}
        for run in runs:
            raw = self._raw_metrics(run.id, self.root / str(run.id))
            summaries = {}
            for name, points in raw.items():
                summary = summarize(points.get("values") or [])
                if summary is not None:
                    summaries[name] = summary
            out[run.id] = summaries
        return out

    # -- artifacts -------------------------------------------------------------------------

    def artifact_path(self, run_id: int, name: str) -> str:
        directory = self._directory(run_id)
        names = (self._json(directory / "run.json") or {}).get("artifacts") or []
        if name not in names:
            raise NoSuchRun(f"run {run_id} in {self.location} has no artifact {name!r} "
                            f"(it has: {', '.join(names) or 'none'})")
        path = (directory / name).resolve()
        if not path.is_relative_to(directory.resolve()) or not path.is_file():
            raise NoSuchRun(f"artifact {name!r} of run {run_id} is listed in run.json but "
                            f"its file {directory / name} is missing")
        return str(path)

    def artifact(self, run_id: int, name: str) -> bytes:
        return Path(self.artifact_path(run_id, name)).read_bytes()


def _id_range(ids: list[int]) -> str:
    if not ids:
        return "none"
    return f"{ids[0]}" if len(ids) == 1 else f"{ids[0]}…{ids[-1]}, {len(ids)} runs"


def open_store(store: str) -> FileReader:
    """The reader of directory ``store``; raises :class:`StoreUnreadable` when the
    directory is not a file store (nor empty)."""
    root = Path(store)
    if not root.is_dir():
        raise StoreUnreadable(f"{store!r} is not a directory; give the directory passed to "
                              "--sacred-file-storage (runs/ by default)")
    if (root / "run.json").is_file() and root.name.isdigit():
        raise StoreUnreadable(f"{store!r} is one run's directory; give the store that holds "
                              f"it: {str(root.parent)!r}")
    try:
        with os.scandir(root) as entries:
            names = [e.name for e in entries]
    except OSError as exc:
        raise StoreUnreadable(f"cannot read {store!r}: {exc.strerror or exc}") from None
    if names and not ({"_sources", "_resources"} & set(names)) and not any(
            n.isdigit() and (root / n / "run.json").is_file() for n in names):
        raise StoreUnreadable(f"{store!r} is not a file store: it holds no run directories "
                              "(<id>/run.json); give the directory passed to "
                              "--sacred-file-storage (runs/ by default)")
    return FileReader(root)
