"""A baseline store: the session's completed runs copied into a file store to commit.

``--sacred-save-baseline DIR`` writes each run that completed and passed its checks into
``DIR`` in the file store's layout, through the file store's own writer: config, result,
info, host, metrics, and artifacts only with ``--sacred-baseline-artifacts``. Captured
output, sources and resources are left out (noise in a repository; ``_sources/`` would even
hold test modules pytest collects). A saved run replaces the runs of the same experiment and
config (``seed`` aside) saved by earlier sessions, so ``DIR`` keeps one reference run per
variant; the copy records where it came from in ``meta.baseline_of``.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from .compare import config_key, timestamp
from .payloads import ExperimentInfo, MetaInfo, MetricSeries


class RunRecorder:
    """An observer keeping what the baseline copy needs of the current run of this
    process: with ``keep_points`` every point, and the artifacts."""

    name = "regression-checks"
    priority = -1000  # after the stores

    takes_timestamps = True  # iterates them: see Observer.takes_timestamps

    def __init__(self, keep_points: bool, keep_artifacts: bool) -> None:
        self.keep_points = keep_points
        self.keep_artifacts = keep_artifacts
        self._runs: dict[int | None, dict[str, Any]] = {}

    def pytest_sacred_started_event(self, run_id: int | None) -> None:
        self._runs[run_id] = {"points": {}, "artifacts": []}

    def pytest_sacred_log_metrics(self, run_id: int | None,
                                  metrics_by_name: dict[str, MetricSeries]) -> None:
        record = self._runs.get(run_id)
        if record is None or not self.keep_points:
            return
        for name, metric in metrics_by_name.items():
            points = record["points"].setdefault(
                name, {"name": name, "steps": [], "values": [], "timestamps": []})
            for key in ("steps", "values", "timestamps"):
                points[key].extend(metric[key])

    def pytest_sacred_artifact_event(self, run_id: int | None, name: str, filename: str,
                                     metadata: Any, content_type: Any) -> None:
        record = self._runs.get(run_id)
        if record is not None and self.keep_artifacts:
            record["artifacts"].append((name, filename, metadata, content_type))

    def pop(self, run_id: int | None) -> dict[str, Any]:
        """What was recorded of a run that has ended (forgotten here)."""
        return self._runs.pop(run_id, None) or {"points": {}, "artifacts": []}


class BaselineSaver:
    """Writes runs into the baseline directory, replacing earlier sessions' copies."""

    def __init__(self, directory: str, session_start: datetime) -> None:
        from .stores.file.writer import FileStorageObserver

        self.directory = Path(directory)
        self._session_start = session_start
        self._writer = FileStorageObserver(self.directory)
        self._earlier: dict[tuple[str | None, str], list[int]] | None = None

    def open(self) -> None:
        """Check ``DIR`` can be written; raises ``StoreError`` naming it."""
        self._writer.open()

    def _earlier_runs(self) -> dict[tuple[str | None, str], list[int]]:
        """The runs earlier sessions saved, by experiment and config; read once."""
        if self._earlier is None:
            from .readers import open_reader

            self._earlier = {}
            with open_reader(str(self.directory)) as reader:
                for run in reader.list_runs():
                    if timestamp(run.start_time) < timestamp(self._session_start):
                        key = (run.experiment.get("name"), config_key(run.config))
                        self._earlier.setdefault(key, []).append(run.id)
        return self._earlier

    def save(self, run: Any, record: dict[str, Any], stored_in: list[str]) -> int:
        """Copy a completed run (the ``Run`` object, what the recorder kept of it, and where
        the session stored it); returns its id in ``DIR``."""
        name = run.experiment_info["name"]
        config = dict(run.config)
        for old in self._earlier_runs().pop((name, config_key(config)), []):
            try:
                shutil.rmtree(self.directory / str(old))
            except FileNotFoundError:  # another worker of this session replaced it first
                pass
        writer = self._writer
        run_id = writer.pytest_sacred_allocate_id()
        meta = cast("MetaInfo",
                    {**run.meta_info, "baseline_of": {"id": run._id, "stored_in": stored_in}})
        writer.pytest_sacred_started_event(
            run_id, cast("ExperimentInfo", {**run.experiment_info, "sources": []}),
            run.meta_info["command"],
            run.host_info, run.start_time, config, meta)
        writer.pytest_sacred_log_metrics(run_id, record["points"])
        for artifact, filename, _, _ in record["artifacts"]:
            writer.pytest_sacred_artifact_event(run_id, artifact, filename)
        writer.pytest_sacred_heartbeat_event(run_id, run.info, "", run.stop_time, run.result)
        writer.pytest_sacred_completed_event(run_id, run.stop_time, run.result)
        return run_id
