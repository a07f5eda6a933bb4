"""Reading Sacred's FileStorage layout from a bucket (S3, GCS), through the same
:class:`~pytest_sacred.stores.objects.bucket.Bucket` operations the stores write with."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
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
)
from ..base import StoreError
from ..file.read_layout import load_json, matches, metric_from, stored_run, summaries_of
from .bucket import Bucket, BucketURL, parse_bucket_url

#: objects fetched at once when listing runs (each run is two or three small GETs)
_PARALLEL = 8


class ObjectStoreReader(Reader):
    """Runs under ``<scheme>://bucket/prefix``, read-only."""

    def __init__(self, bucket: Bucket, url: BucketURL) -> None:
        self.bucket = bucket
        self.url = url
        self.location = str(url)
        try:
            bucket.open(create=False)
        except StoreError as exc:
            raise StoreUnreadable(str(exc)) from None

    def _get(self, run_id: int, name: str) -> bytes | None:
        return self.bucket.get(self.url.key(str(run_id), name))

    def _json(self, run_id: int, name: str) -> Any:
        return load_json(self._get(run_id, name), f"{self.url}/{run_id}/{name}")

    def _ids(self) -> list[int]:
        return sorted(int(n) for n in self.bucket.list_dirs(self.url.key("")) if n.isdigit())

    def _record(self, run_id: int, where: RunFilter, whole: bool) -> StoredRun | None:
        """A run's record (``whole``: with info, output and metric names), or None when
        ``where`` leaves it out or its ``run.json`` is not written yet (an id just claimed)."""
        run = self._json(run_id, "run.json")
        if run is None or not matches(run, where):
            return None
        config = self._json(run_id, "config.json")
        if not whole:
            return stored_run(run_id, run, config, f"{self.url}/{run_id}")
        raw = self._get(run_id, "cout.txt")
        cout = raw.decode("utf-8", "replace") if raw is not None else ""
        return stored_run(run_id, run, config, f"{self.url}/{run_id}",
                          self._json(run_id, "info.json"), self._metrics(run_id), cout)

    def list_runs(self, where: RunFilter = ALL_RUNS) -> Iterator[StoredRun]:
        ids = [i for i in self._ids() if where.ids is None or i in where.ids]
        with ThreadPoolExecutor(_PARALLEL) as pool:
            for record in pool.map(lambda i: self._record(i, where, False), ids):
                if record is not None:
                    yield record

    def get_run(self, run_id: int) -> StoredRun:
        record = self._record(run_id, RunFilter(), True)
        if record is None:
            raise NoSuchRun(f"{self.url} holds no run {run_id}")
        return record

    def _metrics(self, run_id: int) -> dict[str, Any]:
        metrics = self._json(run_id, "metrics.json")
        if metrics is None and self._get(run_id, "run.json") is None:
            raise NoSuchRun(f"{self.url} holds no run {run_id}")
        return metrics or {}

    def metric(self, run_id: int, name: str) -> Metric:
        return metric_from(self._metrics(run_id), run_id, name, self.location)

    def metrics(self, run_id: int, names: list[str] | None = None) -> dict[str, Metric]:
        raw = self._metrics(run_id)  # one download for all of them
        return {name: metric_from(raw, run_id, name, self.location)
                for name in (sorted(raw) if names is None else names)}

    def metric_summaries(self, runs: list[StoredRun]) -> dict[int, dict[str, MetricSummary]]:
        with ThreadPoolExecutor(_PARALLEL) as pool:
            return dict(zip((r.id for r in runs),
                            pool.map(lambda r: summaries_of(self._metrics(r.id)), runs),
                            strict=False))

    def artifact(self, run_id: int, name: str) -> bytes:
        run = self._json(run_id, "run.json")
        if run is None or name not in (run.get("artifacts") or []):
            raise NoSuchRun(f"run {run_id} in {self.url} has no artifact {name!r}")
        data = self._get(run_id, name)
        if data is None:
            raise NoSuchRun(f"artifact {name!r} of run {run_id} is listed but not in {self.url}")
        return data


def open_bucket_store(store: str, scheme: str, bucket: Callable[[str], Bucket]) -> Reader:
    """The reader of ``store``, ``scheme://bucket/prefix``, through ``bucket(name)``, the
    bucket operations of the store's kind."""
    try:
        url = parse_bucket_url(store, scheme, "store")
    except StoreError as exc:
        raise StoreUnreadable(str(exc)) from None
    return ObjectStoreReader(bucket(url.bucket), url)
