"""Reader of Sacred's FileStorage layout (ours and Sacred 0.8.7's own).

``DIR/<id>/run.json`` and ``config.json`` make a run's record; ``metrics.json`` (plus
``metrics.journal`` while a run with large metrics is live), ``info.json``,
``cout.txt`` and the artifacts are read only when asked for. Files are opened read-only.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterator
from json import JSONDecodeError as _StdDecodeError
from json import loads as _std_loads
from pathlib import Path
from typing import Any

from ...journal import JOURNAL, add_journal
from ...readers.base import (
    ALL_RUNS,
    Metric,
    MetricSummary,
    NoSuchRun,
    Reader,
    RunFilter,
    StoredRun,
    StoreUnreadable,
)
from ...store_dirs import is_run_directory
from .read_layout import matches, metric_from, stored_run, summaries_of

#: a run's files are rewritten in place; a read that meets a half-written one tries again
_READ_ATTEMPTS = 3

try:  # several times faster on the large metrics.json files; the standard library otherwise
    from orjson import JSONDecodeError as _OrDecodeError
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - depends on the environment
    _OrDecodeError = _StdDecodeError  # type: ignore[misc, assignment]
    _fast_loads = _std_loads  # type: ignore[assignment]
_DECODE_ERRORS = (_StdDecodeError, _OrDecodeError, UnicodeDecodeError)
#: orjson reads an integer beyond 64 bits as a float: a float this large may have been one
_HUGE = 2.0**63


def _has_huge_float(value: Any) -> bool:
    """Whether parsed JSON holds a float of magnitude 2**63 or more (iterative)."""
    stack = [value]
    while stack:
        item = stack.pop()
        items = item.values() if type(item) is dict else item if type(item) is list else ()
        for v in items:
            kind = type(v)
            if kind is float:
                if v >= _HUGE or v <= -_HUGE:
                    return True
            elif kind is dict or kind is list:
                stack.append(v)
    return False


def _loads(data: bytes | str) -> Any:
    """The JSON as the writer wrote it: orjson for speed, the standard library where orjson
    reads otherwise (``NaN``/``Infinity``, lone surrogates, integers beyond 64 bits, which
    orjson refuses or turns into floats)."""
    try:
        value = _fast_loads(data)
    except _OrDecodeError:
        return _std_loads(data)
    if _fast_loads is not _std_loads and _has_huge_float(value):
        return _std_loads(data)
    return value


#: statuses of runs that may still have a metrics journal: not ended, or killed
_LIVE = frozenset({"RUNNING", "QUEUED", None})


def _read(path: str | Path) -> bytes:
    """A whole file, with the fewest system calls and objects (no buffered file object)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        data = os.read(fd, size + 1)  # one byte more: a file that grew is read on
        if len(data) <= size:
            return data
        chunks = [data]
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


class FileReader(Reader):
    """Runs in one file-store directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.location = str(self.root)

    # -- files -----------------------------------------------------------------------------

    def _json(self, path: str | Path, missing: Any = None) -> Any:
        """The JSON in ``path``; ``missing`` when there is no such file."""
        for attempt in range(_READ_ATTEMPTS):
            try:
                return _loads(_read(path))
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

    def _record(self, run_id: int, entry: dict[str, Any], config: dict[str, Any]) -> StoredRun:
        return stored_run(run_id, entry, config, f"{self.location}{os.sep}{run_id}")

    def list_runs(self, where: RunFilter = ALL_RUNS) -> Iterator[StoredRun]:
        root = self.location
        for run_id in self._ids(where.ids):
            directory = f"{root}{os.sep}{run_id}"
            entry = self._json(f"{directory}{os.sep}run.json")
            if entry is None:  # an id claimed by a run that has not written yet
                continue
            if not isinstance(entry, dict):
                warnings.warn(f"{directory}/run.json holds no run (not a JSON object); "
                              "skipped", stacklevel=2)
                continue
            if not matches(entry, where):
                continue
            run = self._record(run_id, entry, self._json(f"{directory}{os.sep}config.json", {}))
            # small, and it holds the regression verdict that baselines and ls look at
            run.info = self._json(f"{directory}{os.sep}info.json", {})
            yield run

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
        run.metric_names = sorted(self._raw_metrics(directory, run.status))
        return run

    # -- metrics ---------------------------------------------------------------------------

    def _raw_metrics(self, directory: str | Path, status: str | None) -> dict[str, dict[str, Any]]:
        """metrics.json with the journal's points appended (those it lacks).

        Only a run that has not ended (or a process that was killed) can have a journal:
        at the end metrics.json is written whole and the journal removed before the final
        status is.
        """
        path = f"{directory}{os.sep}metrics.json"
        metrics = self._json(path, {})
        if not isinstance(metrics, dict):
            raise StoreUnreadable(f"{path} is not a JSON object of metrics")
        if status not in _LIVE:
            return metrics
        try:
            text = _read(os.path.join(directory, JOURNAL)).decode("utf-8", "replace")
        except FileNotFoundError:
            return metrics
        try:
            return add_journal(metrics, text, _loads)
        except _DECODE_ERRORS as exc:  # a whole line that is not JSON: not our journal
            raise StoreUnreadable(f"{directory}/{JOURNAL} is not a metrics journal: {exc}") \
                from None

    def _metrics_of(self, run_id: int) -> dict[str, dict[str, Any]]:
        directory = self._directory(run_id)
        status = (self._json(directory / "run.json") or {}).get("status")
        return self._raw_metrics(directory, status)

    def metric(self, run_id: int, name: str) -> Metric:
        return metric_from(self._metrics_of(run_id), run_id, name, self.location)

    def metrics(self, run_id: int, names: list[str] | None = None) -> dict[str, Metric]:
        raw = self._metrics_of(run_id)
        names = sorted(raw) if names is None else names
        return {name: self.metric(run_id, name) for name in names}

    def metric_summaries(self, runs: list[StoredRun]) -> dict[int, dict[str, MetricSummary]]:
        out: dict[int, dict[str, MetricSummary]] = {}
        for run in runs:
            out[run.id] = summaries_of(
                self._raw_metrics(f"{self.location}{os.sep}{run.id}", run.status))
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
    if is_run_directory(root):
        raise StoreUnreadable(f"{store!r} is one run's directory; give the store that holds "
                              f"it: {str(root.parent)!r}")
    try:
        with os.scandir(root) as entries:
            names = [e.name for e in entries]
    except OSError as exc:
        raise StoreUnreadable(f"cannot read {store!r}: {exc.strerror or exc}") from None
    # a numbered directory is a run's, also before its run.json is written (another
    # process has just claimed that id)
    if names and not ({"_sources", "_resources"} & set(names)) and not any(
            n.isdigit() and (root / n).is_dir() for n in names):
        raise StoreUnreadable(f"{store!r} is not a file store: it holds no run directories "
                              "(<id>/run.json); give the directory passed to "
                              "--sacred-file-storage (runs/ by default)")
    return FileReader(root)
