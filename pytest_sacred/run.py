"""The ``Run`` object a test receives as ``sacred_run`` (alias ``_run``)."""

from __future__ import annotations

import os
import threading
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, Callable, Mapping

from .metrics import MetricsBuffer


class Run:
    """One execution of one experiment variant.

    The user-facing part mirrors Sacred's ``_run``: ``_id``, ``config``, ``info``,
    ``log_scalar``, ``add_artifact``, ``open_resource``, ``add_resource``, ``result``,
    ``experiment_info``, ``host_info``, ``meta_info``, ``start_time``, ``status``.
    """

    def __init__(
        self,
        config: dict,
        seed: int,
        experiment_info: dict,
        host_info: dict,
        meta_info: dict,
        emit: Callable[..., None],
    ) -> None:
        self._id: int | None = None
        self.config: Mapping[str, Any] = MappingProxyType(config)
        self.seed = seed
        self.info: dict = {}
        self.result: Any = None
        self.experiment_info = experiment_info
        self.host_info = host_info
        self.meta_info = meta_info
        self.start_time: datetime | None = None
        self.stop_time: datetime | None = None
        self.status: str | None = None
        self.captured_out = ""
        self._metrics = MetricsBuffer()
        # Bound straight to the buffer: one call instead of two on the hottest path.
        self.log_scalar = self._metrics.log
        self._emit = emit
        self._artifact_paths: set[str] = set()
        self._lock = threading.RLock()  # events of a run never interleave
        self._finished = False
        #: observers (by id) that failed to start this run and get none of its events
        self._dropped: set[int] = set()
        #: events raised before the run started, delivered right after started_event
        self._pending: list[tuple[str, dict]] = []
        #: captured output of phases already over (setup), as pytest's report sections
        self._sections: list[tuple[str, str, str]] = []

    def log_scalar(self, name: str, value: float, step: int | None = None) -> None:  # noqa: F811
        """Record a metric value; ``step`` defaults to the previous step of ``name`` + 1.

        Values are delivered to the observers with the next heartbeat.
        """
        self._metrics.log(name, value, step)

    def add_artifact(
        self,
        filename: str | os.PathLike,
        name: str | None = None,
        metadata: dict | None = None,
        content_type: str | None = None,
    ) -> None:
        """Keep a file with the run, under ``name`` (default: its basename)."""
        path = _existing_file(filename, "artifact")
        self._artifact_paths.add(path)
        self._emit("pytest_sacred_artifact_event", name=name or os.path.basename(path),
                   filename=path, metadata=metadata, content_type=content_type)

    def add_resource(self, filename: str | os.PathLike) -> None:
        """Record that the run read ``filename`` (stored once per content)."""
        self._emit("pytest_sacred_resource_event", filename=_existing_file(filename, "resource"))

    def open_resource(self, filename: str | os.PathLike, mode: str = "r") -> IO:
        """Open a file for reading and record it as a resource of the run."""
        self.add_resource(filename)
        return open(filename, mode)

    def __repr__(self) -> str:
        return f"<Run {self._id} {self.experiment_info.get('name')!r} {self.status}>"


def _existing_file(filename: str | os.PathLike, kind: str) -> str:
    path = Path(filename).absolute()
    if not path.is_file():
        what = "a directory" if path.is_dir() else "no such file"
        raise FileNotFoundError(f"{kind} {str(filename)!r} is {what} ({path}); "
                                f"pass the path of an existing file")
    return str(path)
