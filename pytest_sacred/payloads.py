"""The dicts observers receive, typed: the same keys as Sacred's payloads.

``total=False`` marks the keys that are present only sometimes (see FORMATS.md, section 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypedDict


class Repository(TypedDict):
    url: str
    commit: str
    dirty: bool


class ExperimentInfo(TypedDict):
    name: str
    base_dir: str
    #: ``[relative path, md5]`` pairs
    sources: list[list[str]]
    #: ``"name==version"`` strings, sorted
    dependencies: list[str]
    repositories: list[Repository]
    mainfile: str | None


class _HostInfoRequired(TypedDict):
    hostname: str
    os: list[str]
    python_version: str
    cpu: str | None
    ENV: dict[str, str]


class HostInfo(_HostInfoRequired, total=False):
    python_compiler: str
    #: ``{"gpus": [{"model", "total_memory", "persistence_mode"}], "driver_version"}``
    gpus: dict[str, Any]


class _MetaInfoRequired(TypedDict):
    command: str
    options: dict[str, Any]
    named_configs: list[str]
    config_updates: dict[str, Any]
    pytest: dict[str, Any]


class MetaInfo(_MetaInfoRequired, total=False):
    comment: str
    priority: float
    queue_time: datetime
    #: a run of a group of seeds: ``{"root", "index", "count", "group"}``
    seeds: dict[str, Any]
    #: a resumed run's resumptions, oldest first: ``{"time", "host", "from_status"}``, and
    #: ``"fail_trace"``: the trace of the attempt before, when it failed (off the run's top level)
    resumed: list[dict[str, Any]]


class MetricSeries(TypedDict):
    name: str
    steps: list[int]
    values: list[float]
    #: a list, or :class:`~pytest_sacred.timestamps.Timestamps` (see the hook's docs)
    timestamps: Sequence[datetime]
